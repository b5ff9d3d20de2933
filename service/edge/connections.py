"""Bounds on what one connection can make the process hold, below ASGI.

uvicorn's httptools protocol buffers a request's head however large it grows, and waits
for it however slowly it comes (its keep-alive timer stops at the first byte). This
subclass refuses a head over ``max_head_bytes`` with 431 as soon as the bytes received
pass it, and closes a connection whose head is not complete ``head_timeout`` seconds
after it opened or after the request's first byte.
"""

import asyncio
import json
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# After a 431, what the client still sends is read and dropped this long, then closed.
LINGER_SECONDS = 5.0
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
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_timer()

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
        self._head_bytes = 0
        if self._head_timer is None:
            self._start_head_timer()

    def on_headers_complete(self) -> None:
        self._awaiting_head = False
        self._stop_head_timer()
        super().on_headers_complete()

    def _start_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_too_slow)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self._awaiting_head and not self.transport.is_closing():
            self.transport.close()

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


def bounded_protocol(max_head_bytes: int, head_timeout: float) -> type[BoundedHttpProtocol]:
    """The protocol class with these bounds, for ``uvicorn.Config(http=...)``."""
    return type(
        "BoundedHttpProtocol",
        (BoundedHttpProtocol,),
        {"max_head_bytes": max_head_bytes, "head_timeout": head_timeout},
    )
