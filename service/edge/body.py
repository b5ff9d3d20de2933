"""Request bodies bounded: what a caller sends is held up to a limit and a deadline,
never past them."""

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.edge.refusal import Refuse
from service.errors import GatewayError, PayloadTooLarge, RequestTimeout
from service.request import context_of


class BodyLimit:
    """Refuses bodies over ``max_body_bytes`` (413) as soon as the declared length or the
    bytes received pass it, so memory per request stays bounded, and bodies not complete
    ``timeout`` seconds after reading began (408). It runs after the credentials check:
    a stranger's body is never read. Either refusal closes the connection
    (``connections.py``), the rest of the body unread."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, timeout: float, refuse: Refuse) -> None:
        self.app = app
        self.refuse = refuse
        self.max_body_bytes = max_body_bytes
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        body: bytes | GatewayError | None
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            body = self._too_large()  # refused before a byte of it is read
        else:
            try:
                if context_of(scope).body_complete:  # all here already: nothing to wait for
                    body = await self._read(receive)
                else:
                    async with asyncio.timeout(self.timeout):
                        body = await self._read(receive)
            except TimeoutError:
                body = RequestTimeout(
                    f"The request body was not complete within {self.timeout:g} s."
                )
        if body is None:
            return  # the client went away
        if isinstance(body, GatewayError):
            await self.refuse(scope, body)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _read(self, receive: Receive) -> bytes | GatewayError | None:
        """At most the limit (plus one byte to know it was passed)."""
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return None
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body_bytes:
                return self._too_large()
        return bytes(body)

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"Request bodies are limited to {self.max_body_bytes} bytes.")
