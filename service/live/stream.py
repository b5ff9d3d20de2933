"""Server-sent events as an ASGI response, for the REST event stream and GraphQL over SSE.

What a stream may make the process hold is bounded: frames come from a source that
buffers nothing per viewer (``watch.py``), each at most a chunk (``rest/events.py``), and
uvicorn waits for the client to take what was written before it writes more. A write
still waiting after ``send_timeout`` seconds cuts the client off, rather than the gateway
holding its data.
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from service.metrics import Metrics
from service.request import context_of

logger = logging.getLogger(__name__)

EVENT_STREAM = "text/event-stream"
# A comment this often keeps proxies and load balancers from closing a quiet stream
# (their idle timeouts are commonly 30-60 s), and shows the client the gateway is there.
HEARTBEAT_SECONDS = 15.0
HEARTBEAT = b": heartbeat\n\n"
# A client that has not taken a write this long after the transport filled is not
# reading: it is cut off (its buffer is at the transport's high-water mark then).
SEND_TIMEOUT_SECONDS = 30.0
HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    # nginx (and ingress-nginx) would otherwise hold events back to fill its buffer.
    (b"x-accel-buffering", b"no"),
]

Frames = AbstractAsyncContextManager[AsyncIterator[bytes] | None]
"""Opens the stream's source (raising, before anything is sent, when it cannot), and
yields its frames, each one or more complete events; None when there is nothing to
send (answered 204, which tells EventSource not to reconnect)."""


class EventStream(Response):
    """Answers with ``frames`` as ``text/event-stream``; ends when they do, when the client
    leaves, or when it stops reading. A failure opening the source propagates before the
    response starts, for the caller's error handling to answer."""

    def __init__(
        self,
        frames: Frames,
        metrics: Metrics,
        *,
        heartbeat: float = HEARTBEAT_SECONDS,
        send_timeout: float = SEND_TIMEOUT_SECONDS,
    ) -> None:
        super().__init__(media_type=EVENT_STREAM)
        self.frames = frames
        self.metrics = metrics
        self.heartbeat = heartbeat
        self.send_timeout = send_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with self.frames as frames:
            if frames is None:
                await send({"type": "http.response.start", "status": 204, "headers": []})
                await send({"type": "http.response.body", "body": b""})
                return
            await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
            if context_of(scope).head:
                await send({"type": "http.response.body", "body": b""})
                return
            if await self._pump(frames, receive, send):
                await send({"type": "http.response.body", "body": b""})
                return
        # Cut off: the server is told to drop the connection rather than finish a reply
        # the client is not reading.
        abort = context_of(scope).abort
        if abort is not None:
            abort()
            await asyncio.sleep(0)  # the server sees the connection lost, not a half reply

    async def _pump(self, frames: AsyncIterator[bytes], receive: Receive, send: Send) -> bool:
        """Sends every frame; False when the client stopped reading and must be cut off."""
        left = asyncio.ensure_future(_disconnected(receive))
        upcoming = asyncio.ensure_future(anext(frames))
        try:
            while True:
                done, _ = await asyncio.wait(
                    {left, upcoming}, timeout=self.heartbeat, return_when=asyncio.FIRST_COMPLETED
                )
                if left in done:
                    return True  # gone: nothing left to finish
                if upcoming in done:
                    try:
                        frame = upcoming.result()
                    except StopAsyncIteration:
                        return True
                    upcoming = asyncio.ensure_future(anext(frames))
                else:
                    frame = HEARTBEAT
                try:
                    async with asyncio.timeout(self.send_timeout):
                        await send({"type": "http.response.body", "body": frame, "more_body": True})
                except TimeoutError:
                    self.metrics.subscribers_dropped.inc()
                    logger.info("event stream cut off: the client stopped reading")
                    return False
        finally:
            left.cancel()
            upcoming.cancel()  # closes the source where it waits
            await asyncio.gather(left, upcoming, return_exceptions=True)


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
