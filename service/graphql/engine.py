"""One GraphQL request, from its document to the bytes of its response.

In order, each step cheaper than the next: the document's hash (by text, by Apollo's
persisted-query hash, or from the trusted list); a stored response still as fresh as
its cache entries; the prepared document (parsed, measured against the limits,
validated: once per document, off the event loop when it is long); the operation and
its variables; the CodeDeploy calls it may make, refused over the limit and charged to
the caller's rate; then graphql-core runs it over the shared resolver layer.
"""

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import AsyncGenerator, Awaitable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing, contextmanager
from dataclasses import dataclass
from typing import Any, cast

import orjson
from graphql import (
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    execute,
    get_operation_ast,
    parse,
    subscribe,
    validate,
)
from graphql.execution.values import get_variable_values
from graphql.validation import ASTValidationRule, specified_rules

from service import tracing
from service.accounts import Grants
from service.cache import recording
from service.errors import ErrorCode, RateLimited
from service.graphql.context import Context, Live
from service.graphql.cost import ALONE, result_nodes, upstream_cost
from service.graphql.documents import SHA256_HEX, Document, Documents, sha256
from service.graphql.errors import GraphQLErrorDict, formatted, request_error
from service.graphql.ids import stale_objects
from service.graphql.limits import GRAPHQL_CORE_LIMITS, Limits, NoIntrospection, check_document
from service.graphql.pacing import PacedExecutor, PacedSubscriptionExecutor
from service.graphql.params import GraphQLRequest
from service.graphql.responses import Answer, Responses, answer_with, to_json
from service.guard.ratelimit import Budget
from service.metrics import Metrics
from service.reads import Resolvers

logger = logging.getLogger(__name__)

# Documents this short are prepared on the event loop: a few milliseconds at most.
# Longer ones go to one worker thread, so a costly document delays its sender only.
INLINE_CHARACTERS = 2_000
# A request waits this long for its document to be prepared (queue included); the work
# goes on, and the next request for the document gets its outcome.
PREPARE_BUDGET_SECONDS = 1.0
# Long documents waiting for the worker at once; past that, new ones are refused (429).
MAX_PREPARING = 16
# graphql-core's default: enough to show a document's problems, not to flood the answer.
MAX_ERRORS = 100
# Errors of one operation's answer logged one by one; the rest are counted in one line.
LOGGED_ERRORS = 10


class GraphQLEngine:
    def __init__(
        self,
        schema: GraphQLSchema,
        limits: Limits,
        *,
        resolvers: Resolvers,
        documents: Documents,
        responses: Responses,
        metrics: Metrics,
        persisted_queries: bool,
        trusted: dict[str, str] | None,
        alone: frozenset[str] = ALONE,
    ) -> None:
        self.schema = schema
        self._alone = alone
        self.limits = limits
        self.resolvers = resolvers
        self.documents = documents
        self.responses = responses
        self.metrics = metrics
        self.persisted_queries = persisted_queries
        self.trusted = trusted
        self._hide_suggestions = not limits.introspection
        self._rules: list[type[ASTValidationRule]] = list(specified_rules)
        if not limits.introspection:
            self._rules.append(NoIntrospection)
        # The list sizes the configuration decides, for the response's estimate.
        targets = list(resolvers.accounts)
        regions = Counter(target.account for target in targets)
        self._sizes = {"accounts": len(regions), "regions": max(regions.values())}
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="graphql-prepare")
        self._preparing: dict[str, asyncio.Future[Document]] = {}

    def close(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)

    async def run(
        self, request: GraphQLRequest, *, grants: Grants, caller: str, budget: Budget
    ) -> Answer:
        """The answer to ``request``; raises ``RateLimited`` when the caller cannot pay.

        Responses are shared only among callers granted the same accounts. Counted by
        operation (``gateway_graphql_requests``, its duration too).
        """
        start = time.perf_counter()
        seen = _Seen(request.operation_name)
        outcome = "refused"
        try:
            answer = await self._run(request, grants, caller, budget, seen)
            if answer.status < 400:
                outcome = "error" if answer.errors else "ok"
            return answer
        finally:
            seconds = time.perf_counter() - start
            self.metrics.graphql_request(
                seen.name, seen.kind, outcome, seconds, trusted=seen.trusted
            )

    async def _run(
        self, request: GraphQLRequest, grants: Grants, caller: str, budget: Budget, seen: "_Seen"
    ) -> Answer:
        found = self._text(request)
        if isinstance(found, Answer):
            return found
        digest, text = found
        document = self.documents.get(digest)
        known = None
        if document is not None and document.node is not None:
            known = get_operation_ast(document.node, request.operation_name)
        key = self._response_key(digest, request, grants.audience, known)
        stored = self.responses.get(key) if key is not None else None
        if stored is not None:
            assert known is not None  # the key names it
            seen.operation(known, trusted=self.trusted is not None)
            self.metrics.cache_event("responses", "hit")
            return Answer(
                stored.body, stored=stored, max_age=self.responses.max_age(stored), hit=True
            )
        self.metrics.cache_event("responses", "miss")
        prepared = await self._operation(digest, text, request, budget)
        if isinstance(prepared, Answer):
            return prepared
        seen.operation(prepared.operation, trusted=self.trusted is not None)
        if prepared.operation.operation is OperationType.SUBSCRIPTION:
            message = (
                "A subscription needs a stream: graphql-transport-ws (WebSocket at /graphql) "
                "or GraphQL over SSE (POST with Accept: text/event-stream)."
            )
            return answer_with([request_error(message, ErrorCode.STREAM_REQUIRED)])
        context = Context(self.resolvers, grants, caller)
        if key is None:  # the document was prepared just now
            key = self._response_key(digest, request, grants.audience, prepared.operation)
        if not tracing.on():
            return await self._execute(prepared.document, request, key, context)
        attributes = {"graphql.operation.type": seen.kind}
        if seen.name:
            attributes["graphql.operation.name"] = seen.name
        with tracing.span(f"{seen.kind} {seen.name or ''}".rstrip(), attributes=attributes):
            return await self._execute(prepared.document, request, key, context)

    async def stream(
        self, request: GraphQLRequest, *, grants: Grants, budget: Budget, live: Live
    ) -> Answer | AsyncGenerator[bytes, None]:
        """``request`` over a streaming transport: a refusal, or its results one by one
        (a subscription's, or a query's one). A subscription's first read fails before
        the first result: a ``GatewayError`` (an unknown deployment, a limit) is raised
        from ``anext`` for the transport to answer in its own shape."""
        seen = _Seen(request.operation_name)
        outcome = "refused"
        try:
            streamed = await self._stream(request, grants, budget, live, seen)
            if not isinstance(streamed, Answer) or streamed.status < 400:
                outcome = "ok"
            return streamed
        finally:
            self.metrics.graphql_request(seen.name, seen.kind, outcome, None, trusted=seen.trusted)

    async def _stream(
        self, request: GraphQLRequest, grants: Grants, budget: Budget, live: Live, seen: "_Seen"
    ) -> Answer | AsyncGenerator[bytes, None]:
        found = self._text(request)
        if isinstance(found, Answer):
            return found
        digest, text = found
        prepared = await self._operation(digest, text, request, budget)
        if isinstance(prepared, Answer):
            return prepared
        seen.operation(prepared.operation, trusted=self.trusted is not None)
        if prepared.operation.operation is not OperationType.SUBSCRIPTION:
            key = self._response_key(digest, request, grants.audience, prepared.operation)
            context = Context(self.resolvers, grants, live.caller)
            return _once((await self._execute(prepared.document, request, key, context)).body)
        assert prepared.document.node is not None
        results = subscribe(
            self.schema,
            prepared.document.node,
            context_value=Context(self.resolvers, grants, live.caller, live),
            variable_values=request.variables,
            operation_name=request.operation_name,
            executor_class=PacedSubscriptionExecutor,
        )
        if isinstance(results, Awaitable):
            results = await results
        if isinstance(results, ExecutionResult):  # no source stream: errors only
            return answer_with(self._errors(results))
        # graphql-core types the stream as an iterator; it is its own async generator.
        return self._results(cast(AsyncGenerator[ExecutionResult, None], results))

    async def _results(
        self, results: AsyncGenerator[ExecutionResult, None]
    ) -> AsyncGenerator[bytes, None]:
        async with aclosing(results):
            async for result in results:
                payload: dict[str, Any] = {"data": result.data}
                if result.errors:
                    payload["errors"] = self._errors(result)
                yield to_json(payload)

    async def _operation(
        self, digest: str, text: str | None, request: GraphQLRequest, budget: Budget
    ) -> "Prepared | Answer":
        """The document prepared, its operation found, its variables coerced, its cost
        within the limit and charged to ``budget``: or the answer refusing it."""
        if text is None:
            return _persisted_query_not_found()
        document = self.documents.get(digest)
        prepared = document is None
        if document is None:
            document = await self._prepare(digest, text)
        if document.node is None:
            return answer_with(document.errors)
        operation = get_operation_ast(document.node, request.operation_name)
        if operation is None:
            message = (
                f"Unknown operation named '{request.operation_name}'."
                if request.operation_name is not None
                else "Must provide operation name if query contains multiple operations."
            )
            return answer_with([request_error(message, ErrorCode.OPERATION_RESOLUTION_FAILURE)])
        variables = get_variable_values(
            self.schema,
            operation.variable_definitions or (),
            request.variables,
            max_errors=MAX_ERRORS,
            hide_suggestions=self._hide_suggestions,
        )
        if isinstance(variables, list):
            return answer_with([formatted(error, ErrorCode.BAD_USER_INPUT) for error in variables])
        try:
            cost = upstream_cost(self.schema, document.node, operation, variables, self._alone)
        except GraphQLError as error:  # an argument the variables make invalid (null for `first`)
            return answer_with([formatted(error, ErrorCode.BAD_USER_INPUT)])
        calls = cost.calls
        if cost.per_event:
            message = (
                f"Each event of this subscription would make {cost.per_event} more CodeDeploy "
                "calls: an event carries the deployment and the item that changed, select "
                "only their fields (query the rest once, or on the events you care about)."
            )
            return answer_with([request_error(message, ErrorCode.COST_LIMIT_EXCEEDED)])
        if calls > self.limits.max_upstream_calls:
            message = (
                f"The operation may cost {calls} CodeDeploy calls; the limit is "
                f"{self.limits.max_upstream_calls}."
            )
            return answer_with([request_error(message, ErrorCode.COST_LIMIT_EXCEEDED)])
        nodes = result_nodes(self.schema, document.node, operation, variables, self._sizes)
        if nodes > self.limits.max_result_nodes:
            message = (
                f"The operation's response may hold {nodes} values; the limit is "
                f"{self.limits.max_result_nodes}. Ask for fewer items (first) or fields."
            )
            return answer_with([request_error(message, ErrorCode.COST_LIMIT_EXCEEDED)])
        await budget.spend(calls)
        if prepared:
            # Kept once it runs: a stream of new costly documents, refused here, would
            # otherwise fill the store with syntax trees for the collector to walk.
            self.documents.put(digest, document)
        self.metrics.graphql_operation(operation.name.value if operation.name else None)
        return Prepared(document, operation)

    def _text(self, request: GraphQLRequest) -> tuple[str, str | None] | Answer:
        """The document's hash and its text (None: a hash nobody registered yet)."""
        digest = request.persisted_hash
        if digest is not None:
            if self.trusted is None and not self.persisted_queries:
                error = request_error(
                    "PersistedQueryNotSupported", ErrorCode.PERSISTED_QUERY_NOT_SUPPORTED
                )
                return answer_with([error])
            if not SHA256_HEX.fullmatch(digest):
                message = "persistedQuery.sha256Hash must be 64 lowercase hex digits."
                return answer_with([request_error(message, ErrorCode.BAD_REQUEST)])
        if request.query is None:
            assert digest is not None  # the transport requires one or the other
            if self.trusted is not None:
                return digest, self.trusted.get(digest)
            document = self.documents.get(digest)
            return digest, document.text if document else None
        text_digest = sha256(request.query)
        if digest is not None and digest != text_digest:
            error = request_error(
                "provided sha does not match query", ErrorCode.PERSISTED_QUERY_HASH_MISMATCH
            )
            return answer_with([error])
        if self.trusted is not None and text_digest not in self.trusted:
            message = "Only trusted documents run here: this one is not on the list."
            return answer_with([request_error(message, ErrorCode.DOCUMENT_NOT_TRUSTED)])
        return text_digest, request.query

    def _response_key(
        self,
        digest: str,
        request: GraphQLRequest,
        audience: str,
        operation: OperationDefinitionNode | None,
    ) -> bytes | None:
        """What a stored response is found by: the document, the operation, the values of
        the variables it declares (others change nothing, so they must not make a new
        key: a client adding one each time would never be replayed) and who may read it.
        None without the document's ``operation`` (not prepared yet, or no such
        operation): nothing can be stored under it."""
        if operation is None:
            return None
        declared = {
            definition.variable.name.value for definition in operation.variable_definitions or ()
        }
        variables = {name: value for name, value in request.variables.items() if name in declared}
        material = [digest, request.operation_name, variables, audience]
        try:
            # orjson: on every replayed hit, at a fraction of json.dumps's time.
            encoded = orjson.dumps(material, option=orjson.OPT_SORT_KEYS).decode()
        except TypeError:  # an integer past 64 bits (orjson refuses it), deep nesting
            try:
                encoded = json.dumps(material, sort_keys=True, separators=(",", ":"))
            except (RecursionError, ValueError):  # nested past what can be keyed
                return None
        return sha256(encoded).encode()

    async def _prepare(self, digest: str, text: str) -> Document:
        """The document parsed, measured and validated; a refusal is kept at once."""
        if len(text) <= INLINE_CHARACTERS:
            return self._keep_refusal(digest, self._prepare_now(text))
        future = self._preparing.get(digest)
        if future is None:
            if len(self._preparing) >= MAX_PREPARING:
                raise RateLimited(
                    "Too many long GraphQL documents are waiting to be validated; retry.",
                    retry_after_seconds=1,
                    code=ErrorCode.VALIDATION_BACKLOG,
                )
            future = asyncio.get_running_loop().run_in_executor(
                self._worker, self._prepare_now, text
            )
            self._preparing[digest] = future

            def done(_: "asyncio.Future[Document]") -> None:
                del self._preparing[digest]
                if not future.cancelled() and future.exception() is None:
                    self._keep_refusal(digest, future.result())

            future.add_done_callback(done)
        try:
            # The work goes on for whoever sends the document next; this request stops
            # waiting, and is told so without the document being judged by it.
            return await asyncio.wait_for(asyncio.shield(future), PREPARE_BUDGET_SECONDS)
        except TimeoutError:
            message = f"The document was not validated within {PREPARE_BUDGET_SECONDS:g} s; retry."
            return Document(text, None, [request_error(message, ErrorCode.VALIDATION_TIMEOUT)])

    def _keep_refusal(self, digest: str, document: Document) -> Document:
        if document.node is None:
            self.documents.put(digest, document)
        return document

    def _prepare_now(self, text: str) -> Document:
        try:
            node = parse(text, max_tokens=self.limits.max_tokens)
        except GraphQLError as error:
            return Document(
                text, None, [formatted(error, _code(error, ErrorCode.GRAPHQL_PARSE_FAILED))]
            )
        errors = check_document(node, self.limits) or validate(
            self.schema,
            node,
            self._rules,
            max_errors=MAX_ERRORS,
            hide_suggestions=self._hide_suggestions,
        )
        if errors:
            return Document(
                text,
                None,
                [
                    formatted(error, _code(error, ErrorCode.GRAPHQL_VALIDATION_FAILED))
                    for error in errors
                ],
            )
        return Document(text, node)

    async def _execute(
        self, document: Document, request: GraphQLRequest, key: bytes | None, context: Context
    ) -> Answer:
        assert document.node is not None
        with recording() as reads, _forgotten(context):
            outcome = execute(
                self.schema,
                document.node,
                context_value=context,
                variable_values=request.variables,
                operation_name=request.operation_name,
                hide_suggestions=self._hide_suggestions,
                executor_class=PacedExecutor,
            )
            if isinstance(outcome, Awaitable):
                outcome = await outcome
        payload: dict[str, Any] = {"data": outcome.data}
        if reads.stale:
            payload["extensions"] = {"stale": stale_objects(reads, self.resolvers.caches)}
        if outcome.errors:
            errors = payload["errors"] = self._errors(outcome)
            if any(error["extensions"]["status"] >= 500 for error in errors):
                reads.complete = False
        body = to_json(payload)
        if len(body) > self.limits.max_response_bytes:
            message = (
                f"The response is {len(body)} bytes; the limit is "
                f"{self.limits.max_response_bytes}. Ask for fewer items (first) or fields."
            )
            return answer_with([request_error(message, ErrorCode.RESPONSE_TOO_LARGE)])
        stored = self.responses.put(key, body, reads) if key is not None else None
        if stored is None:
            return Answer(body, errors=bool(outcome.errors))
        max_age = self.responses.max_age(stored)
        return Answer(body, stored=stored, max_age=max_age, errors=bool(outcome.errors))

    @staticmethod
    def _errors(result: ExecutionResult) -> list[GraphQLErrorDict]:
        errors = [formatted(error, ErrorCode.BAD_USER_INPUT) for error in result.errors or ()]
        # A few lines an operation: a list of bad ids must not write a line for each.
        for error in errors[:LOGGED_ERRORS]:
            logger.info("graphql error at %s: %s", error.get("path"), error["message"])
        if len(errors) > LOGGED_ERRORS:
            logger.info("graphql errors: %d more not logged", len(errors) - LOGGED_ERRORS)
        return errors


@dataclass(slots=True)
class _Seen:
    """What a request turned out to be, as far as it got: its metrics' labels."""

    name: str | None
    kind: str = "unknown"
    trusted: bool = False

    def operation(self, operation: OperationDefinitionNode, *, trusted: bool) -> None:
        """The operation that runs: named by its document, which is ``trusted`` when on
        the trusted list (whose names the list bounds)."""
        self.name = operation.name.value if operation.name else None
        self.kind = operation.operation.value
        self.trusted = trusted


@dataclass(frozen=True, slots=True)
class Prepared:
    """An operation that may run: its document, and which of its operations."""

    document: Document
    operation: OperationDefinitionNode


@contextmanager
def _forgotten(context: Context) -> Iterator[None]:
    """The operation's DataLoaders emptied when it ends: their futures and caches refer
    to each other, so what they hold (every model the response was built from) would
    otherwise wait for a full collection of the garbage collector, a pause of tens of
    milliseconds for every request in flight."""
    try:
        yield
    finally:
        context.forget()


async def _once(body: bytes) -> AsyncGenerator[bytes, None]:
    yield body


def _code(error: GraphQLError, default: ErrorCode) -> ErrorCode:
    for prefix, code in GRAPHQL_CORE_LIMITS.items():
        if prefix in error.message:
            return code
    return default


def _persisted_query_not_found() -> Answer:
    # Apollo's clients look for this message, then send the document with its hash.
    # Not a request error under application/json, so they retry instead of giving up.
    error = request_error("PersistedQueryNotFound", ErrorCode.PERSISTED_QUERY_NOT_FOUND, 404)
    return answer_with([error], 404)
