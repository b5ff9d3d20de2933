"""Logging: one JSON object per line in production, readable lines in local mode.

A line per request is most of what a cache hit costs beyond answering it, so lines are
written a batch at a time, at most ``FLUSH_SECONDS`` after they were logged (nginx's
``access_log … buffer= flush=`` trade), and the access log skips the logging module's
machinery when logging is as production configures it (``AccessLog``).
"""

import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

FLUSH_SECONDS = 0.1
# Past this many characters waiting (the output cannot keep up), the logging call writes
# them itself: a stalled pipe slows requests rather than filling the memory.
MAX_WAITING_CHARACTERS = 1 << 20


class JsonFormatter(logging.Formatter):
    """A record's time, level, logger and message, then the ``fields`` it was given
    (``logger.info(..., extra={"fields": {...}})``), as one JSON object. Other ``extra``
    keys are not written: structured fields go in ``fields``."""

    def __init__(self) -> None:
        super().__init__()
        self._second: tuple[int, str] = (-1, "")  # one object: threads swap it whole

    def _time(self, created: float) -> str:
        """ISO 8601 in UTC to the millisecond; the part up to the second is made once a
        second, not once a line."""
        second = int(created)
        made, stamp = self._second
        if second != made:
            stamp = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second = (second, stamp)
        return f"{stamp}.{int((created - second) * 1000):03d}+00:00"

    def format(self, record: logging.LogRecord) -> str:
        exception = self.formatException(record.exc_info) if record.exc_info else None
        return self.line(
            record.created,
            record.levelname.lower(),
            record.name,
            record.getMessage(),
            record.__dict__.get("fields"),
            exception,
        )

    def line(
        self,
        created: float,
        level: str,
        logger: str,
        message: str,
        fields: Mapping[str, Any] | None = None,
        exception: str | None = None,
    ) -> str:
        entry: dict[str, Any] = {
            "time": self._time(created),
            "level": level,
            "logger": logger,
            "message": message,
        }
        if fields:
            entry.update(fields)
        if exception:
            entry["exception"] = exception
        # orjson: a line per request, at a fraction of json.dumps's time.
        return orjson.dumps(entry, default=str).decode()


class BatchingHandler(logging.Handler):
    """Formats each record as it comes and writes the lines a batch at a time.

    With ``PYTHONUNBUFFERED`` (as in the image) a line written as it comes is a system
    call per request; the lines wait at most ``flush_seconds`` (warnings and errors not
    at all) for a writer thread, which writes them with one call.
    """

    def __init__(self, stream: TextIO, flush_seconds: float = FLUSH_SECONDS) -> None:
        super().__init__()
        self.stream = stream
        self.flush_seconds = flush_seconds
        self._lines: deque[str] = deque()
        self._waiting = 0  # characters; counted without a lock, so roughly
        self._wake = threading.Event()
        self._urgent = threading.Event()
        self._write_lock = threading.Lock()
        self._closed = False
        self._writer: threading.Thread | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self.put(line, urgent=record.levelno >= logging.WARNING)

    def put(self, line: str, *, urgent: bool = False) -> None:
        """Queues a formatted line; ``urgent`` ones are written at once."""
        self._lines.append(line)
        self._waiting += len(line)
        if self._writer is None:
            self._start()
        if self._waiting > MAX_WAITING_CHARACTERS or self._closed:
            # The output cannot keep up (the caller waits, the memory does not grow), or
            # the writer is gone (closed, as logging.shutdown and dictConfig do).
            self.flush()
        elif urgent:
            self._urgent.set()
            self._wake.set()
        elif not self._wake.is_set():
            self._wake.set()

    def _start(self) -> None:
        with self._write_lock:
            if self._writer is None and not self._closed:
                self._writer = threading.Thread(target=self._run, name="log-writer", daemon=True)
                self._writer.start()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait()
            self._urgent.wait(self.flush_seconds)  # a batch gathers; a warning cuts it short
            self._urgent.clear()
            self._wake.clear()
            self.flush()

    def flush(self) -> None:
        with self._write_lock:  # one writer at a time, each taking the oldest lines first
            self._waiting = 0
            lines = []
            while self._lines:
                lines.append(self._lines.popleft())
            if lines:
                lines.append("")
                try:
                    self.stream.write("\n".join(lines))
                    self.stream.flush()
                except Exception:
                    self.handleError(logging.makeLogRecord({"msg": "log write failed"}))

    def close(self) -> None:
        self._closed = True
        self._urgent.set()
        self._wake.set()
        if self._writer is not None and self._writer is not threading.current_thread():
            self._writer.join(timeout=1)
        self.flush()
        super().close()


class AccessLog:
    """The line each request leaves on ``logger``, at INFO.

    It goes through the logging module, unless logging is as ``configure_logging`` sets
    it up in production — the root's one ``BatchingHandler`` with a ``JsonFormatter``,
    nothing else on the way: then the line goes into that handler's batch directly.
    The same JSON the record would have become, without the record, the handler chain
    and the formatter's plumbing (measured by ``make bench``).
    """

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger

    def _direct(self) -> BatchingHandler | None:
        """The production handler, when nothing else would see the record: no filter on
        the logger, no handler on its way to the root, and one there."""
        root = logging.root
        if self.logger.filters or len(root.handlers) != 1:
            return None
        handler = root.handlers[0]
        if not isinstance(handler, BatchingHandler) or handler.filters:
            return None
        if handler.level > logging.INFO:
            return None
        if not isinstance(handler.formatter, JsonFormatter):
            return None
        current: logging.Logger | None = self.logger
        while current is not None and current is not root:
            if current.handlers or not current.propagate:
                return None
            current = current.parent
        return handler

    def __call__(self, message: str, fields: dict[str, Any]) -> None:
        logger = self.logger
        if not logger.isEnabledFor(logging.INFO):
            return
        handler = self._direct()
        if handler is not None:
            assert isinstance(handler.formatter, JsonFormatter)
            handler.put(handler.formatter.line(time.time(), "info", logger.name, message, fields))
            return
        record = logging.LogRecord(logger.name, logging.INFO, "", 0, message, None, None)
        record.__dict__["fields"] = fields
        logger.handle(record)


def flush_logs() -> None:
    """Writes what is waiting, for an exit that skips ``atexit`` (a re-raised signal)."""
    for handler in logging.getLogger().handlers:
        handler.flush()


class PlainFormatter(logging.Formatter):
    """One line a record, for people running ``--local``: control characters a client
    put in a path or header (``%0a``) are escaped, so no line can be forged."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        """The line itself; a traceback, added after it, keeps its own lines."""
        return super().formatMessage(record).translate(CONTROL)


# C0 controls and DEL as their escapes: \n, \r, \x1b (terminal escapes too).
CONTROL = {code: f"\\x{code:02x}" for code in [*range(0x20), 0x7F] if code not in (0x09,)} | {
    0x0A: "\\n",
    0x0D: "\\r",
}


def configure_logging(level: str, *, json_lines: bool) -> None:
    handler = BatchingHandler(sys.stdout)
    handler.setFormatter(JsonFormatter() if json_lines else PlainFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # No record needs the caller's source line, thread or process: looking them up was a
    # third of each access-log call (the logging HOWTO's "Optimization" switches).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # uvicorn's loggers go through the root handler; its access log is replaced by ours.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    # botocore's debug output carries request headers, session tokens included.
    logging.getLogger("botocore").setLevel(logging.WARNING)
    logging.getLogger("aiobotocore").setLevel(logging.WARNING)
    # A failed credentials refresh: logged once by the gateway where STS answered, where
    # aiobotocore would add a traceback for every request that met it (held refusals too).
    logging.getLogger("aiobotocore.credentials").setLevel(logging.ERROR)
