"""Log lines leave in batches: nothing is lost at close, and nothing waits on a stalled
or closed output."""

import io
import logging

import pytest

from service import logs
from service.logs import BatchingHandler, JsonFormatter


def handler(stream: io.StringIO) -> BatchingHandler:
    # A writer thread that never wakes on its own within a test: what is written, the
    # test wrote by flushing or closing.
    made = BatchingHandler(stream, flush_seconds=3600)
    made.setFormatter(JsonFormatter())
    return made


def record(message: str, level: int = logging.INFO) -> logging.LogRecord:
    return logging.LogRecord("test", level, "", 0, message, None, None)


def test_lines_wait_for_the_batch_and_leave_in_order() -> None:
    stream = io.StringIO()
    batching = handler(stream)
    try:
        for n in range(3):
            batching.handle(record(f"line {n}"))
        batching.flush()
        assert [line.split('"message":')[1] for line in stream.getvalue().splitlines()] == [
            '"line 0"}',
            '"line 1"}',
            '"line 2"}',
        ]
    finally:
        batching.close()


def test_close_writes_what_waits_and_later_lines_go_out_at_once() -> None:
    stream = io.StringIO()
    batching = handler(stream)
    batching.handle(record("before"))
    batching.close()
    assert "before" in stream.getvalue()
    batching.handle(record("after"))  # closed (logging.shutdown, dictConfig): no writer left
    assert "after" in stream.getvalue()


def test_a_backlog_past_the_bound_is_written_by_the_caller(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(logs, "MAX_WAITING_CHARACTERS", 1000)
    stream = io.StringIO()
    batching = handler(stream)
    try:
        batching.handle(record("x" * 400))
        assert stream.getvalue() == ""
        batching.handle(record("y" * 700))
        assert "x" * 400 in stream.getvalue()
        assert "y" * 700 in stream.getvalue()
    finally:
        batching.close()
