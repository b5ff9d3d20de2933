"""HTTP hardening: request bodies bounded, and headers that keep browsers in line."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import PayloadTooLarge
from service.refusal import path_of, refusal

# The API answers JSON only: no scripts, no frames, nothing loaded.
API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
# Swagger UI and GraphiQL run inline bootstrap scripts and styles, and load everything
# else from the gateway itself (their files are vendored).
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)
DOCS_PATHS = ("/docs", "/graphql", "/static/")

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]


class SecurityHeaders:
    """Adds the security headers to every response, refusals included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = DOCS_POLICY if path_of(scope).startswith(DOCS_PATHS) else API_POLICY

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), *SECURITY_HEADERS]
                if scope.get("gateway.caller") is not None:
                    headers = _private(headers)
                headers.append((b"content-security-policy", policy.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, secured)


CREDENTIAL_HEADERS = b"Authorization, X-API-Key"


def _private(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """An answer given to a caller's credentials is for that caller's cache alone: a shared
    cache (a CDN) keys on the URL, and would serve it to callers without any. A cacheable
    one is marked ``private`` and varies on the credential headers too."""
    if not any(n == b"cache-control" and v.startswith(b"max-age") for n, v in headers):
        return headers
    vary = [value for name, value in headers if name == b"vary"] + [CREDENTIAL_HEADERS]
    kept = [(n, b"private, " + v if n == b"cache-control" else v) for n, v in headers]
    return [*((n, v) for n, v in kept if n != b"vary"), (b"vary", b", ".join(vary))]


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
        await refusal(scope, error)(scope, receive, send)


class HeadAsGet:
    """``HEAD`` is answered as the ``GET`` it stands for — the same status and headers,
    ``Content-Length`` included — without the body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        scope["method"] = "GET"

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        await self.app(scope, receive, headers_only)
