"""Bounds on what one connection can make the process hold, below ASGI.

uvicorn's httptools protocol buffers a request's head however large it grows, waits for
it however slowly it comes (its keep-alive timer stops at the first byte), appends a
chunked body's trailers to the request's headers without limit, keeps reading a body
after the answer has been sent, and answers 503 to every new request once
``limit_concurrency`` connections are open, however idle they are. This subclass:

- refuses a head, a trailer section or a chunk's size line over ``max_head_bytes`` with
  431 as soon as the bytes received pass it (trailers are read and dropped, never handed
  to the app);
- closes a connection whose head is not complete ``head_timeout`` seconds after it
  opened or after the request's first byte;
- closes the connection (``Connection: close``) when the answer is sent before the
  request's body arrived: a refusal does not wait for a stranger's body;
- at ``max_connections`` open connections, sheds the oldest one that has not delivered a
  whole request (idle, slow head, slow body) for each new one, so slow clients cannot
  lock fast ones out; requests in flight past the limit are answered 503.

The body's own deadline is ASGI's (``body.py``), so its 408 is logged like any answer.
"""

import asyncio
import json
from typing import Any, ClassVar, cast

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame

from service.errors import ErrorCode
from service.request import context_of

# After a refusal, what the client still sends is read and dropped, this long and this
# much at most, then the connection is closed: closing with its bytes unread would send
# a reset that can overtake the answer; a client still sending past these gets the reset.
LINGER_SECONDS = 5.0
LINGER_BYTES = 262_144
# Requests one connection may have waiting behind the one being answered: uvicorn queues
# every request a read holds (a 256 KiB read of 32-byte requests was 8,000, ~2 KB each).
MAX_PIPELINED = 32
# Chunks one request body may come in: each is a Python callback before any credential
# is looked at (43,000 one-byte chunks fit in one read). Past it, 400 and closed.
MAX_CHUNKS = 4096
# Fragments one WebSocket message may come in: zero-length continuations cost a parse
# each and never reach the size limit.
MAX_FRAGMENTS = 1024
"""Set in a request's scope once its whole body has arrived."""
# Writes held for the loop's next turn, at most; past it they go at once, so the
# transport's flow control sees a large answer as it is written.
HELD_BYTES = 65_536
TOO_LARGE = json.dumps(
    {
        "type": "urn:codedeploy-gateway:problem:request-header-fields-too-large",
        "title": "Request Header Fields Too Large",
        "status": 431,
        "detail": (
            "The request line, headers, trailers or a chunk's size line are larger than "
            "this gateway accepts."
        ),
        "code": ErrorCode.REQUEST_HEADER_FIELDS_TOO_LARGE,
    }
).encode()
TOO_LARGE_RESPONSE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: application/problem+json\r\n"
    b"content-length: " + str(len(TOO_LARGE)).encode() + b"\r\n"
    b"connection: close\r\n\r\n" + TOO_LARGE
)


class BoundedHttpProtocol(HttpToolsProtocol):
    max_head_bytes: ClassVar[int] = 32_768
    head_timeout: ClassVar[float] = 10.0
    max_connections: ClassVar[int | None] = None
    # Connections of this server that have not delivered a whole request, oldest first:
    # the ones shed at the limit. One dict per server (``bounded_protocol`` makes the class).
    undelivered: ClassVar[dict["BoundedHttpProtocol", None]] = {}
    transport: "CoalescedWrites"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The limit is this class's to apply (``on_headers_complete``), not uvicorn's.
        self.limit_concurrency = None
        self._awaiting_head = True
        self._head_started = 0.0
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_pending = False
        self._keep_alive = True
        # While a body is to come, bytes received with neither body data nor a chunk's
        # size line complete among them: a size line's extensions or leading zeros, the
        # trailer section. Counted in whole reads: one read (256 KiB) at most goes free.
        self._progressed = False
        self._framing = 0
        self._chunks = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescedWrites(transport, self.loop))
        self._head_started = self.loop.time()
        self._head_timer = self.loop.call_later(self.head_timeout, self._check_head)
        self.undelivered[self] = None
        if self.max_connections is not None and len(self.connections) > self.max_connections:
            self._shed_one()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        self.undelivered.pop(self, None)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():  # refused: read and dropped, so no reset
            self.transport.drop(len(data))
            return
        if not self._body_pending:
            # A head under way (or the next one), counted up to its end before it is
            # parsed: one that arrives whole in a read is measured too.
            end = data.find(b"\r\n\r\n")
            if self._head_bytes + (len(data) if end < 0 else end + 4) > self.max_head_bytes:
                self._refuse_head()
                return
        self._progressed = False
        super().data_received(data)
        if self.transport.is_closing():
            return
        if self._awaiting_head:
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes:
                self._refuse_head()
        elif self._body_pending:
            self._framing = 0 if self._progressed else self._framing + len(data)
            if self._framing > self.max_head_bytes:
                self._refuse_head()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._chunks = 0
        self._awaiting_head = True
        self._head_started = self.loop.time()
        self._head_bytes = 0
        self._framing = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._awaiting_head:  # a trailer is counted above and never reaches the app
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if len(self.pipeline) >= MAX_PIPELINED:
            # Raised in httptools' callback, it stops this read's parsing: uvicorn answers
            # 400 and closes the connection.
            raise httptools.HttpParserError("too many pipelined requests")
        self._awaiting_head = False
        self._head_bytes = 0  # the next head starts from nothing
        # uvicorn's limit counts idle connections too; here idle ones are shed instead,
        # and only requests in flight past the limit are 503 (uvicorn's own answer).
        limit = self.max_connections
        if limit is not None and (len(self.tasks) >= limit or len(self.connections) > limit):
            self.limit_concurrency = 0
        super().on_headers_complete()
        self.limit_concurrency = None
        cycle = self.cycle
        if cycle is None or cycle.scope is not self.scope:
            return  # a WebSocket upgrade
        # For a long answer (an event stream) whose client stopped reading: dropped at
        # once, where ASGI can only finish the answer or leave it hanging.
        context_of(cast(dict[str, Any], self.scope)).abort = self.transport.abort
        # Until the body has arrived, an answer closes the connection (and lingers): a
        # refusal does not wait for the body, nor leaves the connection to it.
        self._body_pending = True
        self._keep_alive = cycle.keep_alive
        cycle.keep_alive = False
        self.transport.linger_on_close = True

    def handle_websocket_upgrade(self) -> None:
        self._stop_head_timer()
        self.undelivered.pop(self, None)
        super().handle_websocket_upgrade()
        # The socket's protocol built its scope from the head just fed to it: a session
        # whose client stopped reading is dropped with this, as an event stream is.
        socket = self.transport.get_protocol()
        scope = getattr(socket, "scope", None)
        if isinstance(scope, dict):
            context_of(scope).abort = self.transport.abort

    def on_chunk_header(self) -> None:
        self._chunks += 1
        if self._chunks > MAX_CHUNKS:
            raise httptools.HttpParserError("too many chunks")
        self._progressed = True

    def on_body(self, body: bytes) -> None:
        self._progressed = True
        super().on_body(body)

    def on_message_complete(self) -> None:
        # The app may read the body without a deadline: it is all here (the usual POST,
        # in the packet with its head; an asyncio.timeout cost a cache hit ~6 µs).
        context_of(cast(dict[str, Any], self.scope)).body_complete = True
        if self._body_pending:
            self._body_pending = False
            self.transport.linger_on_close = False
            self.undelivered.pop(self, None)
            if not self.cycle.response_started:
                self.cycle.keep_alive = self._keep_alive
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():  # kept alive: idle until the next request
            self.undelivered[self] = None

    def _shed_one(self) -> None:
        """Closes the oldest connection that has not delivered a whole request."""
        for victim in self.undelivered:
            if victim is not self:
                break
        else:
            return  # all busy: this one's request will be 503
        del self.undelivered[victim]
        self.connections.discard(victim)
        if victim._awaiting_head and victim._head_bytes == 0:
            victim.transport.close()  # idle keep-alive: a clean close
        else:
            victim.transport.abort()

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
        """431 and a lingering close; a request under way hears that its client left."""
        self._stop_head_timer()
        cycle = self.cycle
        started = False
        if cycle is not None and not cycle.response_complete:
            started = cycle.response_started
            cycle.disconnected = True
            cycle.message_event.set()
        if not started:
            self.transport.write(TOO_LARGE_RESPONSE)
        self.transport.linger()


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
        self._lingering = False
        self._dropped = 0
        self.linger_on_close = False
        """Set while a request's body is still to come: closing then lingers."""

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._lingering:  # refused: an earlier request's late answer goes nowhere
            return
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
        if self.linger_on_close:
            self.linger()
            return
        self._flush()
        self._transport.close()

    def linger(self) -> None:
        """Sends what is held and half-closes; what the client still sends is dropped
        (the protocol reads nothing while closing) until it closes, or for
        ``LINGER_SECONDS``."""
        if self._lingering:
            return
        self._lingering = True
        self._flush()
        if self._transport.can_write_eof():
            self._transport.write_eof()
        self._loop.call_later(LINGER_SECONDS, self._transport.close)

    def drop(self, size: int) -> None:
        """``size`` bytes received while closing were dropped."""
        self._dropped += size
        if self._dropped > LINGER_BYTES:
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
        return self._lingering or self._transport.is_closing()

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


class BoundedWebSocket(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol, with what a client that sends and never reads can
    make it hold bounded: its pings are answered only while it reads (uvicorn writes the
    pongs with no flow control: 4 such sockets held 370 MB), and a message comes in at
    most ``MAX_FRAGMENTS`` frames, else the connection is dropped."""

    def handle_ping(self) -> None:
        if not self.writable.is_set():
            self.conn.data_to_send()  # the pong, dropped: the client is not reading
            return
        super().handle_ping()

    def handle_cont(self, event: Frame) -> None:
        if len(self.frames) >= MAX_FRAGMENTS:
            self.transport.abort()
            return
        super().handle_cont(event)


def bounded_protocol(
    max_head_bytes: int, head_timeout: float, max_connections: int | None = None
) -> type[BoundedHttpProtocol]:
    """The protocol class with these bounds, for ``uvicorn.Config(http=...)``; give
    uvicorn no ``limit_concurrency`` of its own."""
    return type(
        "BoundedHttpProtocol",
        (BoundedHttpProtocol,),
        {
            "max_head_bytes": max_head_bytes,
            "head_timeout": head_timeout,
            "max_connections": max_connections,
            "undelivered": {},
        },
    )
