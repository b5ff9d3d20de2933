"""graphql-transport-ws (the ``graphql-ws`` library's protocol) at ``/graphql``.

One socket carries any number of operations, each under the client's id: subscriptions
stream ``next`` messages until ``complete``; queries answer one. The socket's close
codes are the protocol's: 4400 a message it does not define, 4401 an operation before
the acknowledgement, 4403 credentials refused, 4408 no ``connection_init`` in time,
4409 an id already running, 4429 a second ``connection_init``; 1001 when the gateway
shuts down, so the client reconnects to a replica that stays.

What a socket costs is bounded by the socket: every task it starts is its own, ended
with it; each ``subscribe`` and ``ping`` is charged to the caller's rate as a request
is; a refusal is answered in turn, never by a task of its own; and a send the client
does not read for ``send_timeout`` seconds ends the socket (1013, or dropped when not
even the close frame can be written), as event streams drop a consumer that stopped.
"""

import asyncio
import json
import logging
from contextlib import aclosing
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from service.errors import ErrorCode, GatewayError, RateLimited
from service.graphql.context import Live
from service.graphql.engine import GraphQLEngine
from service.graphql.errors import gateway_error, request_error
from service.graphql.params import GraphQLRequest, NotGraphQL, request_of
from service.graphql.responses import Answer
from service.guard.ratelimit import Budget
from service.live import Watchers
from service.live.follow import Follows
from service.request import caller_key, context_of

logger = logging.getLogger(__name__)

PROTOCOL = "graphql-transport-ws"
# graphql-ws's own default for the wait between the handshake and connection_init.
INIT_TIMEOUT_SECONDS = 3.0
# Operations one socket may run at once; subscriptions count against the caller's
# limit as well.
MAX_OPERATIONS = 100


class Close(Exception):
    """Ends the socket with the protocol's ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        # A close frame carries at most 123 bytes of reason: cut by bytes, not characters.
        self.code = code
        self.reason = reason.encode()[:123].decode(errors="ignore")


class Gone(Exception):
    """The client left, or stopped reading for ``send_timeout``: the socket ends."""


class GraphQLWebSocket:
    """One socket's session, from the handshake to the close."""

    def __init__(self, scope: Scope, receive: Receive, send: Send, send_timeout: float) -> None:
        self.scope, self.receive, self._send = scope, receive, send
        self.send_timeout = send_timeout
        # Set by an operation whose send failed: the session ends with this code.
        self.ended: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()
        state = scope["state"]
        self.engine: GraphQLEngine = state["graphql"]
        self.watchers: Watchers = state["watchers"]
        self.follows: Follows = state["follows"]
        self.authenticate = context_of(scope).authenticate
        self.acknowledged = False
        self.initialised = False
        self.operations: dict[str, asyncio.Task[None]] = {}

    async def run(self) -> None:
        if (await self.receive())["type"] != "websocket.connect":
            return
        if PROTOCOL not in self.scope.get("subprotocols", ()):
            # Refused at the handshake (HTTP 403): the legacy subscriptions-transport-ws
            # protocol, or none, is not spoken here.
            await self._send({"type": "websocket.close", "code": 4406})
            return
        await self._send({"type": "websocket.accept", "subprotocol": PROTOCOL})
        session = asyncio.ensure_future(self._session())
        closing = asyncio.ensure_future(self.watchers.closing.wait())
        try:
            waited: set[asyncio.Future[Any]] = {session, closing, self.ended}
            done, _ = await asyncio.wait(waited, return_when=asyncio.FIRST_COMPLETED)
            if self.ended.done():
                code, reason = self.ended.result()
            elif session in done:
                code, reason = session.result()
            else:
                code, reason = 1001, "Going away"
            await self._close(code, reason)
        finally:
            for task in (session, closing, *self.operations.values()):
                task.cancel()
            await asyncio.gather(
                session, closing, *self.operations.values(), return_exceptions=True
            )

    @property
    def budget(self) -> Budget:
        """The caller's, once the guard or ``connection_init`` has admitted it."""
        return context_of(self.scope).budget

    async def _close(self, code: int, reason: str) -> None:
        """The close frame if it can be written now, else the connection dropped: a
        client that does not read would hold it for ever."""
        try:
            # Zero: a send that would wait for the client to read is not made at all.
            async with asyncio.timeout(0):
                await self._send({"type": "websocket.close", "code": code, "reason": reason})
            return
        except TimeoutError:
            pass
        except Exception:
            return
        if (abort := context_of(self.scope).abort) is not None:
            abort()

    async def _session(self) -> tuple[int, str]:
        """Reads messages until the client leaves or breaks the protocol: the close code."""
        try:
            try:
                async with asyncio.timeout(INIT_TIMEOUT_SECONDS):
                    while not self.initialised:
                        if not await self._handle(await self.receive()):
                            return 1000, ""
            except TimeoutError:
                return 4408, "Connection initialisation timeout"
            while await self._handle(await self.receive()):
                pass
            return 1000, ""
        except Close as close:
            return close.code, close.reason
        except Gone as gone:
            return 1013, str(gone)
        except Exception:  # a gateway bug: logged whole, the socket closed as failed
            logger.exception("graphql websocket failed")
            return 1011, "Internal error"

    async def _handle(self, message: Message) -> bool:
        """Acts on one ASGI message; False once the client disconnected."""
        if message["type"] == "websocket.disconnect":
            return False
        try:
            parsed = json.loads(message.get("text") or "")
        except (ValueError, RecursionError):
            parsed = None
        if not isinstance(parsed, dict) or not isinstance(parsed.get("type"), str):
            raise Close(4400, "Invalid message received")
        kind = parsed["type"]
        if kind == "connection_init":
            await self._init(parsed.get("payload"))
        elif kind == "ping":
            try:
                await self.budget.request()
            except RateLimited as error:
                raise Close(1013, error.detail) from error
            await self._message({"type": "pong"})
        elif kind == "pong":
            pass
        elif kind == "subscribe":
            await self._subscribe(parsed.get("id"), parsed.get("payload"))
        elif kind == "complete":
            operation_id = parsed.get("id")
            if isinstance(operation_id, str) and operation_id in self.operations:
                # Its id is free again at once, whenever the task gets to end.
                self.operations.pop(operation_id).cancel()
        else:
            raise Close(4400, f"Unexpected message of type {kind[:64]}")
        return True

    async def _init(self, payload: object) -> None:
        if self.initialised:
            raise Close(4429, "Too many initialisation requests")
        self.initialised = True
        if self.authenticate is not None:
            try:
                await self.authenticate(_credentials(payload))
            except GatewayError as error:  # refused, or over the failure rate
                raise Close(4403, error.detail[:120]) from error
        self.acknowledged = True
        await self._message({"type": "connection_ack"})

    async def _subscribe(self, operation_id: object, payload: object) -> None:
        if not self.acknowledged:
            raise Close(4401, "Unauthorized")
        if not isinstance(operation_id, str) or not operation_id or len(operation_id) > 128:
            raise Close(4400, "Invalid message received")
        request = _request(payload)
        if request is None:
            raise Close(4400, "Invalid message received")
        if operation_id in self.operations:
            raise Close(4409, f"Subscriber for {operation_id} already exists")
        try:
            await self.budget.request()  # refused or not, a message is charged
            if len(self.operations) >= MAX_OPERATIONS:
                raise RateLimited(
                    f"More than {MAX_OPERATIONS} operations at once on one socket.",
                    retry_after_seconds=1,
                    code=ErrorCode.TOO_MANY_OPERATIONS,
                )
        except RateLimited as refused:
            # In turn: a client that sends faster than it reads waits for this send.
            await self._refuse(operation_id, refused)
            return
        task = asyncio.ensure_future(self._operation(operation_id, request))
        self.operations[operation_id] = task

        def ended(_: "asyncio.Task[None]") -> None:
            if self.operations.get(operation_id) is task:
                del self.operations[operation_id]

        task.add_done_callback(ended)

    async def _operation(self, operation_id: str, request: GraphQLRequest) -> None:
        try:
            await self._run(operation_id, request)
        except Gone as gone:
            if not self.ended.done():
                self.ended.set_result((1013, str(gone)))

    async def _run(self, operation_id: str, request: GraphQLRequest) -> None:
        ident = json.dumps(operation_id)
        try:
            live = Live(self.watchers, self.follows, caller_key(self.scope), self.budget)
            outcome = await self.engine.stream(
                request, grants=context_of(self.scope).grants, budget=self.budget, live=live
            )
            if isinstance(outcome, Answer):
                errors = json.loads(outcome.body)["errors"]
                await self._message({"id": operation_id, "type": "error", "payload": errors})
                return
            async with aclosing(outcome):
                async for body in outcome:
                    await self._raw(f'{{"id":{ident},"type":"next","payload":{body.decode()}}}')
        except GatewayError as error:
            await self._refuse(operation_id, error)
            return
        except Gone:
            raise
        except Exception:  # a gateway bug: logged whole, the operation answered as failed
            logger.exception("graphql websocket operation failed")
            failed = request_error(
                "The gateway failed unexpectedly.", ErrorCode.INTERNAL_SERVER_ERROR, 500
            )
            await self._message({"id": operation_id, "type": "error", "payload": [failed]})
            return
        if not self.watchers.closing.is_set():  # else the socket closes with 1001
            await self._message({"id": operation_id, "type": "complete"})

    async def _refuse(self, operation_id: str, error: GatewayError) -> None:
        payload = [gateway_error(error)]
        await self._message({"id": operation_id, "type": "error", "payload": payload})

    async def _message(self, message: dict[str, Any]) -> None:
        await self._raw(json.dumps(message, separators=(",", ":")))

    async def _raw(self, text: str) -> None:
        try:
            async with asyncio.timeout(self.send_timeout):
                await self._send({"type": "websocket.send", "text": text})
        except TimeoutError:
            raise Gone(f"Not read for {self.send_timeout:g} s") from None
        except Exception as exc:  # uvicorn's: disconnected, or already closing
            raise Gone("Gone") from exc


def _credentials(payload: object) -> tuple[str | None, str | None]:
    """Authorization and X-API-Key from ``connection_init``'s payload (any case; at the
    top, or under ``headers`` as some clients nest them)."""
    if not isinstance(payload, dict):
        return None, None
    nested = payload.get("headers")
    found: dict[str, str] = {}
    for source in (nested if isinstance(nested, dict) else {}, payload):
        for name, value in source.items():
            if isinstance(name, str) and isinstance(value, str):
                found.setdefault(name.lower(), value)
    return found.get("authorization"), found.get("x-api-key")


def _request(payload: object) -> GraphQLRequest | None:
    try:
        return request_of(payload)
    except NotGraphQL:
        return None
