"""Headers: what every answer carries to keep browsers and shared caches in line, and
the few a layer reads from the request."""

from urllib.parse import urlsplit

from starlette.types import Scope

from service.edge.paths import BOARD, PAGES, path_of

# The API answers JSON only: no scripts, no frames, nothing loaded.
API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
# Swagger UI and GraphiQL run inline bootstrap scripts and styles, and load everything
# else from the gateway itself (their files are vendored).
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]
API_HEADERS = [*SECURITY_HEADERS, (b"content-security-policy", API_POLICY.encode())]
PAGE_HEADERS = [*SECURITY_HEADERS, (b"content-security-policy", DOCS_POLICY.encode())]
# The status board runs its own files only: no inline script or style at all.
BOARD_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
BOARD_HEADERS = [*SECURITY_HEADERS, (b"content-security-policy", BOARD_POLICY.encode())]


def answer_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    """The headers every answer for this request carries, refusals included."""
    path = path_of(scope)
    if path == BOARD:
        return BOARD_HEADERS
    return PAGE_HEADERS if path.startswith(PAGES) else API_HEADERS


CREDENTIAL_HEADERS = b"Authorization, X-API-Key"


def private(headers: list[tuple[bytes, bytes]]) -> None:
    """An answer given to a caller's credentials is for that caller's cache alone: a shared
    cache (a CDN) keys on the URL, and would serve it to callers without any. A cacheable
    one is marked ``private`` and varies on the credential headers too (in place)."""
    for index, (name, value) in enumerate(headers):
        if name == b"cache-control" and value.startswith(b"max-age"):
            headers[index] = (name, b"private, " + value)
            break
    else:
        return
    vary = [value for name, value in headers if name == b"vary"]
    if vary:
        headers[:] = [(name, value) for name, value in headers if name != b"vary"]
    headers.append((b"vary", b", ".join([*vary, CREDENTIAL_HEADERS])))


def relative_location(headers: list[tuple[bytes, bytes]]) -> None:
    """A redirect's ``Location`` as a path: Starlette builds it from the request's
    ``Host``, which a client (or a proxy's) sets, so the answer could send a caller's
    next request, credentials and all, to any host."""
    for index, (name, value) in enumerate(headers):
        if name == b"location":
            parts = urlsplit(value.decode("latin-1"))
            path = "/" + parts.path.lstrip("/") + (f"?{parts.query}" if parts.query else "")
            headers[index] = (name, path.encode("latin-1"))


def request_headers(scope: Scope, *names: bytes) -> list[str | None]:
    """The request's values of ``names`` (lowercase), None for each one not sent; of a
    repeated header the first, as FastAPI's ``Header()`` reads it for the routes."""
    found: list[str | None] = [None] * len(names)
    for name, value in scope["headers"]:
        if name in names and found[index := names.index(name)] is None:
            found[index] = value.decode("latin-1")
    return found
