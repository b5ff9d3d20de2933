"""The event-stream response on its own: heartbeats in silence, and a client that stops
reading cut off instead of held."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.types import Message

from service.live.stream import HEARTBEAT, EventStream
from service.metrics import Metrics
from service.request import SCOPE_KEY, RequestContext


@asynccontextmanager
async def quiet() -> AsyncIterator[AsyncIterator[bytes]]:
    async def frames() -> AsyncIterator[bytes]:
        yield b"event: first\ndata: {}\n\n"
        await asyncio.Event().wait()  # nothing more, ever
        yield b""  # pragma: no cover

    yield frames()


async def test_a_quiet_stream_sends_heartbeats() -> None:
    sent: list[Message] = []
    heartbeats = asyncio.Event()
    leave = asyncio.Event()

    async def receive() -> Message:
        await leave.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)
        if message.get("body") == HEARTBEAT and sum(m.get("body") == HEARTBEAT for m in sent) == 2:
            heartbeats.set()

    stream = EventStream(quiet(), Metrics(), heartbeat=0.01)
    task = asyncio.create_task(stream({"type": "http"}, receive, send))
    async with asyncio.timeout(10):
        await heartbeats.wait()
    leave.set()
    await task
    bodies = [m["body"] for m in sent if m["type"] == "http.response.body"]
    assert bodies[:3] == [b"event: first\ndata: {}\n\n", HEARTBEAT, HEARTBEAT]
    assert sent[0]["status"] == 200


async def test_a_client_that_stops_reading_is_cut_off() -> None:
    metrics = Metrics()
    aborted: list[bool] = []
    writes = 0

    async def receive() -> Message:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        nonlocal writes
        if message["type"] == "http.response.body":
            writes += 1
            await asyncio.Event().wait()  # the transport's buffer is full and stays full

    scope = {"type": "http", SCOPE_KEY: RequestContext(abort=lambda: aborted.append(True))}
    stream = EventStream(quiet(), metrics, send_timeout=0.01)
    async with asyncio.timeout(10):
        await stream(scope, receive, send)
    assert aborted == [True]
    assert writes == 1
    assert metrics.registry.get_sample_value("gateway_subscribers_dropped_total") == 1


async def test_head_gets_the_headers_and_no_stream() -> None:
    sent: list[Message] = []

    async def receive() -> Message:
        raise AssertionError("not read")

    async def send(message: Message) -> None:
        sent.append(message)

    await EventStream(quiet(), Metrics())(
        {"type": "http", SCOPE_KEY: RequestContext(head=True)}, receive, send
    )
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[1]["body"] == b""
