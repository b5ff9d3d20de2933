"""Request bodies bounded: what a caller sends is held up to a limit, never past it."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.edge.refusal import error_response
from service.errors import PayloadTooLarge


class BodyLimit:
    """Refuses bodies over ``max_body_bytes`` (413) as soon as the declared length or the
    bytes received pass it, so memory per request stays bounded. It runs after the
    credentials check: a stranger's body is never read."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._refuse(scope, receive, send)
            return
        # Read at most the limit (plus one byte to know it was passed), then replay it.
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body_bytes:
                await self._refuse(scope, receive, send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = PayloadTooLarge(f"Request bodies are limited to {self.max_body_bytes} bytes.")
        await error_response(scope, error)(scope, receive, send)
