"""Log lines leave in batches: nothing is lost at close, and nothing waits on a stalled
or closed output."""

import io
import logging
from pathlib import Path

import httpx
import pytest

from service import logs
from service.logs import BatchingHandler, JsonFormatter
from tests.support import running_gateway


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


@pytest.mark.processes
def test_a_newline_in_a_path_forges_no_plain_log_line(tmp_path: Path) -> None:
    """--local logs plain lines: a %0a in a path is written escaped, on its own line."""
    log = tmp_path / "gateway.log"
    forged = "2026-01-01 00:00:00,000 INFO service.access GET /v1/admin 200"
    with running_gateway(log) as url:
        httpx.get(url + "/v1/deployments/d-EXAMPLE01%0a" + forged.replace(" ", "%20"))
    lines = log.read_text().splitlines()
    assert not any(line.startswith(forged) for line in lines)
    assert any("d-EXAMPLE01\\n2026-01-01" in line for line in lines)
