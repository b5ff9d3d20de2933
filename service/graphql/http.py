"""``/graphql`` as the GraphQL-over-HTTP specification has it.

Every answer is a GraphQL response in JSON. POST takes ``application/json``; GET takes
``query``, ``operationName``, ``variables`` and ``extensions`` as parameters, answers
with an ``ETag`` and the freshness of the cache entries behind it, and 304 to a matching
``If-None-Match``. The client's ``Accept`` picks the media type and with it the status
rules: ``application/graphql-response+json`` answers a request that failed as a whole
(parse, validation, variables, limits) with 4xx and no ``data``; ``application/json``
answers every well-formed request 200. Either way a body that is not a GraphQL request
is 400. Batches (a JSON array) are refused: each operation is its own request, so the
limits and the rate apply to each.
"""

import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import aclosing, asynccontextmanager
from functools import lru_cache
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qs

from cachetools import LRUCache
from starlette.types import ASGIApp, Receive, Scope, Send

from service.edge.paths import GRAPHQL, path_of
from service.errors import ErrorCode, GatewayError, NotReady, RateLimited
from service.freshness import not_modified
from service.graphql.context import Live
from service.graphql.engine import GraphQLEngine
from service.graphql.errors import gateway_error, refusal_response, request_error
from service.graphql.ide import graphiql_html
from service.graphql.params import GraphQLRequest, NotGraphQL, request_of
from service.graphql.responses import Answer
from service.graphql.ws import GraphQLWebSocket
from service.live import Watchers
from service.live.stream import EVENT_STREAM, EventStream
from service.request import caller_key, context_of

logger = logging.getLogger(__name__)

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
PARAMETERS = frozenset({"query", "operationName", "variables", "extensions"})
# Requests remembered parsed, by their bytes: at most 1,024 of at most 4 KiB each.
MEMO_REQUESTS = 1024
MEMO_BYTES = 4096
# Accept headers parsed once, the usual ones: browsers' run to ~150 characters.
MEMO_ACCEPT_CHARS = 256


class GraphQLEndpoint:
    """``/graphql``, answered in the middleware stack ahead of FastAPI's routing: it needs
    none of it, and without it a replayed answer costs about what a REST hit does. Every
    other path goes on to ``app``. The engine comes from the lifespan state."""

    def __init__(self, app: ASGIApp, *, graphiql: bool, ws_send_timeout: float) -> None:
        self.app = app
        self.graphiql = graphiql
        self.ws_send_timeout = ws_send_timeout
        self._requests: LRUCache[tuple[str, bytes], GraphQLRequest] = LRUCache(MEMO_REQUESTS)

    def _read(self, raw: bytes, parse: Callable[[bytes], GraphQLRequest]) -> GraphQLRequest:
        """``raw`` (a query string, a body) parsed, or as it was parsed last time: a client
        polling one query sends the same bytes again and again."""
        if len(raw) > MEMO_BYTES:
            return parse(raw)
        key = (parse.__name__, raw)
        request = self._requests.get(key)
        if request is None:
            request = self._requests[key] = parse(raw)
        return request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and path_of(scope) == GRAPHQL:
            context_of(scope).route = GRAPHQL
            await GraphQLWebSocket(scope, receive, send, self.ws_send_timeout).run()
            return
        if scope["type"] != "http" or path_of(scope) != GRAPHQL:
            await self.app(scope, receive, send)
            return
        context_of(scope).route = GRAPHQL  # for the access log and metrics
        headers = _headers(scope)
        media = _media_type(headers.get("accept"))
        try:
            await self._answer(scope, receive, send, headers, media)
        except Exception:  # a gateway bug: logged whole, answered in GraphQL's shape
            logger.exception("%s /graphql failed", scope["method"])
            error = request_error(
                "The gateway failed unexpectedly.", ErrorCode.INTERNAL_SERVER_ERROR, 500
            )
            await _send(send, 500, _errors(error), _typed(media, cache="no-store"))

    async def _answer(
        self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str], media: str
    ) -> None:
        method = scope["method"]
        try:
            if method == "GET":
                if not scope["query_string"] and self.graphiql and _wants_html(headers):
                    page = graphiql_html(scope.get("root_path", "")).encode()
                    await _send(send, 200, page, {"content-type": "text/html; charset=utf-8"})
                    return
                request = self._read(scope["query_string"], _from_parameters)
            elif method == "POST":
                content_type = headers.get("content-type")
                _check_content_type(content_type)
                request = self._read(await _body(receive), _from_body)
            else:
                raise NotGraphQL(
                    f"{method} is not supported: send a query by GET or POST.",
                    405,
                    ErrorCode.METHOD_NOT_ALLOWED,
                )
        except NotGraphQL as refused:
            error = request_error(refused.message, refused.code, refused.status)
            extra = {"allow": "GET, POST"} if refused.status == 405 else {}
            await _send(
                send, refused.status, _errors(error), _typed(media, **extra, cache="no-store")
            )
            return
        engine: GraphQLEngine = scope["state"]["graphql"]
        if _wants_events(headers):
            await _stream(scope, receive, send, engine, request)
            return
        context = context_of(scope)
        try:
            answer = await engine.run(
                request, grants=context.grants, caller=caller_key(scope), budget=context.budget
            )
        except GatewayError as error:  # over the caller's rate: refused as the guard would
            await refusal_response(error)(scope, receive, send)
            return
        await _respond(send, answer, media, method, headers.get("if-none-match"))


async def _respond(
    send: Send, answer: Answer, media: str, method: str, if_none_match: str | None
) -> None:
    status = answer.status if media == GRAPHQL_RESPONSE else 200
    headers = _typed(media, **{"x-cache": "HIT" if answer.hit else "MISS"})
    if method == "GET":
        headers["vary"] = "Accept"
        if answer.stored is None or status != 200:
            headers["cache-control"] = "no-store"
        else:
            headers["etag"] = answer.stored.etag
            headers["cache-control"] = f"max-age={answer.max_age}"
            if not_modified(if_none_match, answer.stored.etag):
                await _send(send, 304, b"", headers)
                return
    await _send(send, status, answer.body, headers)


async def _stream(
    scope: Scope, receive: Receive, send: Send, engine: GraphQLEngine, request: GraphQLRequest
) -> None:
    """GraphQL over SSE, distinct connections mode: each result a ``next`` event, then
    ``complete``. What fails before the operation runs is a ``next`` event with the errors
    (as the protocol has it); a caller over a limit, or a gateway shutting down, is
    refused in the HTTP response's status instead (429, 503), before the stream starts.
    At shutdown the stream ends without ``complete``, so the client reconnects."""
    watchers: Watchers = scope["state"]["watchers"]
    live = Live(watchers, scope["state"]["follows"], caller_key(scope), context_of(scope).budget)

    @asynccontextmanager
    async def frames() -> AsyncIterator[AsyncIterator[bytes]]:
        outcome = await engine.stream(
            request, grants=context_of(scope).grants, budget=context_of(scope).budget, live=live
        )
        if isinstance(outcome, Answer):
            yield _ended(_next(outcome.body))
            return
        try:
            first = await anext(outcome)
        except (RateLimited, NotReady):
            raise
        except GatewayError as error:  # the subscription's first read: an unknown deployment
            yield _ended(_next(_errors(gateway_error(error))))
            return
        except StopAsyncIteration:
            yield _ended()
            return

        async def results() -> AsyncIterator[bytes]:
            yield _next(first)
            async for body in outcome:
                yield _next(body)
            if not watchers.closing.is_set():
                yield COMPLETE

        async with aclosing(outcome):
            yield results()

    try:
        await EventStream(frames(), engine.metrics)(scope, receive, send)
    except (RateLimited, NotReady) as error:
        await refusal_response(error)(scope, receive, send)


COMPLETE = b"event: complete\ndata:\n\n"


def _next(body: bytes) -> bytes:
    return b"event: next\ndata: " + body + b"\n\n"


async def _ended(*frames: bytes) -> AsyncIterator[bytes]:
    """A stream with nothing to wait for: its frames, then ``complete``."""
    for frame in frames:
        yield frame
    yield COMPLETE


def _from_parameters(query_string: bytes) -> GraphQLRequest:
    try:
        parameters = parse_qs(
            query_string.decode("latin-1"),
            keep_blank_values=True,
            strict_parsing=False,
            encoding="utf-8",
            errors="strict",
            max_num_fields=len(PARAMETERS) + 4,
        )
    except ValueError as exc:  # undecodable, or too many parameters
        raise NotGraphQL("The query string is not GraphQL request parameters.") from exc
    fields: dict[str, Any] = {}
    for name, values in parameters.items():
        if len(values) != 1:
            raise NotGraphQL(f"`{name}` is given {len(values)} times.")
        fields[name] = values[0]
    for name in ("variables", "extensions"):
        if name in fields:
            fields[name] = _json_value(fields[name], f"`{name}`")
    return request_of(fields)


def _check_content_type(content_type: str | None) -> None:
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind != JSON:
        raise NotGraphQL(
            f"POST a GraphQL request as {JSON}, not {kind or 'no Content-Type'}.",
            415,
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
        )


def _from_body(body: bytes) -> GraphQLRequest:
    fields = _json_value(body, "The body")
    if isinstance(fields, list):
        raise NotGraphQL("Batched operations are not supported: send one request per operation.")
    return request_of(fields)


def _json_value(text: str | bytes, what: str) -> Any:
    try:
        return json.loads(text, parse_constant=_not_json)
    except (ValueError, RecursionError) as exc:  # not JSON, not UTF-8, or nested too deep
        raise NotGraphQL(f"{what} is not JSON.") from exc


def _not_json(constant: str) -> Any:
    """``NaN`` and ``Infinity``, which Python's reader takes and JSON has not."""
    raise ValueError(f"{constant} is not a JSON value")


def _media_type(accept: str | None) -> str:
    """application/graphql-response+json when the client prefers it, else application/json
    (no Accept, or one naming neither, gets the type every client reads)."""
    weights = _weights(accept)
    graphql, plain = weights.get(GRAPHQL_RESPONSE, 0.0), weights.get(JSON, 0.0)
    return GRAPHQL_RESPONSE if graphql > 0 and graphql >= plain else JSON


def _weights(accept: str | None) -> Mapping[str, float]:
    """The media types ``Accept`` names (its first 32), each with its ``q``; a client
    sends the same one every time, so the usual ones are parsed once."""
    if not accept:
        return {}
    return _accept(accept) if len(accept) <= MEMO_ACCEPT_CHARS else _parse_accept(accept)


@lru_cache(maxsize=64)
def _accept(accept: str) -> Mapping[str, float]:
    return MappingProxyType(_parse_accept(accept))


def _parse_accept(accept: str) -> dict[str, float]:
    weights: dict[str, float] = {}
    for part in accept.split(",")[:32]:
        kind, *params = (piece.strip() for piece in part.split(";"))
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        weights.setdefault(kind.lower(), weight)
    return weights


def _wants_events(headers: dict[str, str]) -> bool:
    """Whether ``Accept`` names text/event-stream with a weight above 0."""
    return _weights(headers.get("accept")).get(EVENT_STREAM, 0.0) > 0


def _wants_html(headers: dict[str, str]) -> bool:
    return "text/html" in headers.get("accept", "")


def _typed(media: str, cache: str | None = None, **headers: str) -> dict[str, str]:
    typed = {"content-type": media if media == JSON else f"{media}; charset=utf-8", **headers}
    if cache is not None:
        typed["cache-control"] = cache
    return typed


def _headers(scope: Scope) -> dict[str, str]:
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}


def _errors(error: dict[str, Any]) -> bytes:
    return json.dumps({"errors": [error]}, separators=(",", ":")).encode()


async def _body(receive: Receive) -> bytes:
    # The body limit ahead of this app has already refused anything too large.
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send(send: Send, status: int, body: bytes, headers: dict[str, str]) -> None:
    raw = [(name.encode(), value.encode()) for name, value in headers.items()]
    if status != 304:
        raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
