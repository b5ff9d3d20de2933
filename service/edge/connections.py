"""Bounds on what one connection can make the process hold, below ASGI.

uvicorn's httptools protocol buffers a request's head however large it grows, and waits
for it however slowly it comes (its keep-alive timer stops at the first byte). This
subclass refuses a head over ``max_head_bytes`` with 431 as soon as the bytes received
pass it, and closes a connection whose head is not complete ``head_timeout`` seconds
after it opened or after the request's first byte.
"""

import asyncio
import json
from typing import Any, ClassVar, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# After a 431, what the client still sends is read and dropped this long, then closed.
LINGER_SECONDS = 5.0
# Writes held for the loop's next turn, at most; past it they go at once, so the
# transport's flow control sees a large answer as it is written.
HELD_BYTES = 65_536
TOO_LARGE = json.dumps(
    {
        "type": "urn:codedeploy-gateway:problem:request-header-fields-too-large",
        "title": "Request Header Fields Too Large",
        "status": 431,
        "detail": "The request line and headers are larger than this gateway accepts.",
        "code": "RequestHeaderFieldsTooLarge",
    }
).encode()


class BoundedHttpProtocol(HttpToolsProtocol):
    max_head_bytes: ClassVar[int] = 32_768
    head_timeout: ClassVar[float] = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._awaiting_head = True
        self._head_started = 0.0
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescedWrites(transport, self.loop))
        self._head_started = self.loop.time()
        self._head_timer = self.loop.call_later(self.head_timeout, self._check_head)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:  # read and dropped, so the client gets the 431, not a reset
            return
        super().data_received(data)
        if self._awaiting_head and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes:
                self._refuse_head()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._awaiting_head = True
        self._head_started = self.loop.time()
        self._head_bytes = 0

    def on_headers_complete(self) -> None:
        self._awaiting_head = False
        super().on_headers_complete()
        # For a long answer (an event stream) whose client stopped reading: dropped at
        # once, where ASGI can only finish the answer or leave it hanging.
        cast(dict[str, Any], self.scope)["gateway.abort"] = self.transport.abort

    def _check_head(self) -> None:
        """One timer a connection, not one armed and cancelled every request: it closes a
        connection whose head is overdue, else comes back when the head under way would
        be."""
        self._head_timer = None
        if self.transport.is_closing():
            return
        delay = self.head_timeout
        if self._awaiting_head:
            delay -= self.loop.time() - self._head_started
            if delay <= 0:
                self.transport.close()
                return
        self._head_timer = self.loop.call_later(delay, self._check_head)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _refuse_head(self) -> None:
        """431, then a lingering close: closing with the client's bytes still unread would
        send a reset that can overtake the answer."""
        self._stop_head_timer()
        self._refused = True
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/problem+json\r\n"
            b"content-length: " + str(len(TOO_LARGE)).encode() + b"\r\n"
            b"connection: close\r\n\r\n" + TOO_LARGE
        )
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)


class CoalescedWrites(asyncio.Transport):
    """The connection's transport, its writes joined until the loop's next turn.

    uvicorn writes a response's head and its body separately: two system calls for one
    small answer, the costliest step of a cache hit (``make bench``). Held until the task
    that answers yields, they leave together, in one.
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._held = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(bytes(data))
        self._held += len(data)
        if self._held > HELD_BYTES:  # a large answer goes at once, under flow control
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            self._held = 0
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending.clear()
        self._held = 0
        self._transport.abort()

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + self._held

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)


def bounded_protocol(max_head_bytes: int, head_timeout: float) -> type[BoundedHttpProtocol]:
    """The protocol class with these bounds, for ``uvicorn.Config(http=...)``."""
    return type(
        "BoundedHttpProtocol",
        (BoundedHttpProtocol,),
        {"max_head_bytes": max_head_bytes, "head_timeout": head_timeout},
    )
