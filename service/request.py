"""What the gateway learns about one request on its way in, for whatever comes after it:
one typed object under one scope key, set by the layer that knows each part."""

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from service.accounts import NO_ACCOUNT, Grants
from service.guard.ratelimit import FREE, Budget

SCOPE_KEY = "gateway"

Authenticate = Callable[[tuple[str | None, str | None]], Awaitable[None]]
"""Admits a WebSocket's caller by the credentials its ``connection_init`` brings
(Authorization and X-API-Key, checked as the gate checks headers)."""


@dataclass(slots=True)
class RequestContext:
    abort: Callable[[], None] | None = None
    """Drops the connection at once, unanswered (the server's protocol)."""
    body_complete: bool = False
    """The whole body came with the head (the server's protocol): no wait to bound."""
    head: bool = False
    """A HEAD, served as its GET without the body (the access layer)."""
    route: str | None = None
    """The route's template, for a request answered outside FastAPI's routing."""
    admitted: bool = False
    """The guard let the request in as a caller's (``caller`` None: authentication off)."""
    caller: str | None = None
    grants: Grants = NO_ACCOUNT
    """The accounts the caller may read: none for a request the guard did not see, so a
    path that skipped it by mistake reads nothing."""
    budget: Budget = FREE
    """Charges the CodeDeploy calls a request makes beyond the one it paid at the door."""
    authenticate: Authenticate | None = None
    """Set for a WebSocket whose handshake brought no credentials."""


def context_of(scope: MutableMapping[str, Any]) -> RequestContext:
    """The request's context, made by the first layer that asks."""
    context: RequestContext | None = scope.get(SCOPE_KEY)
    if context is None:
        context = scope[SCOPE_KEY] = RequestContext()
    return context


def caller_key(scope: MutableMapping[str, Any]) -> str:
    """Whom a request's subscriptions count against: its caller, else its address."""
    return context_of(scope).caller or address_key(scope)


def address_key(scope: MutableMapping[str, Any]) -> str:
    """Whom an anonymous request counts against: its client's address."""
    client = scope.get("client")
    return f"ip:{client[0] if client else 'unknown'}"
