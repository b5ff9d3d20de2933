"""How every read is shaped: a reply parsed into its model, and the one way to read a batch.

Every BatchGet* goes through ``read_batch``: ids in concurrent chunks of what one call
takes, an outcome for each id (an id the answer leaves out is ``NotFound``), and, where
CodeDeploy fails a whole batch for one unknown id, that chunk asked one id at a time.
"""

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from service.codedeploy.calls import Calls, request_id
from service.errors import ErrorCode, GatewayError, NotFound, UpstreamError

if TYPE_CHECKING:
    from types_aiobotocore_codedeploy import CodeDeployClient

# CodeDeploy's BatchGet* calls on deployments, instances and targets take 25 ids each.
BATCH_LIMIT = 25
# BatchGetApplications and BatchGetDeploymentGroups take up to 100 names each.
NAMES_BATCH_LIMIT = 100
# Ids a List* page holds; the gateway's cost estimate assumes full pages of this size.
LIST_PAGE_SIZE = 100

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], reply: dict[str, Any]) -> M:
    try:
        return model.model_validate(reply)
    except ValidationError as exc:
        raise UpstreamError(
            "CodeDeploy's reply did not have the documented shape.",
            code=ErrorCode.UPSTREAM_INVALID_RESPONSE,
            request_id=request_id(reply),
        ) from exc


@dataclass(frozen=True, slots=True)
class Batch(Generic[M, T]):
    """One BatchGet* operation, as ``read_batch`` makes it."""

    operation: str
    call: Callable[["CodeDeployClient", list[str]], Awaitable[Any]]
    output: type[M]
    found: Callable[[M], Iterable[tuple[str | None, T]]]
    """Each item of the answer under the id it was asked by."""
    missing: Callable[[str], str]
    """The detail for an id the answer leaves out."""
    missing_code: ErrorCode
    size: int = BATCH_LIMIT
    one_by_one: bool = False
    """One unknown id fails the whole call (``missing_code``): ask one by one instead."""
    cites_reply: bool = True
    """A left-out id's error names the reply's request id (BatchGetApplications' did not)."""


async def chunked(
    ids: Sequence[str],
    fetch: Callable[[list[str]], Awaitable[dict[str, T | GatewayError]]],
    size: int = BATCH_LIMIT,
) -> dict[str, T | GatewayError]:
    """Runs ``fetch`` on chunks of ``ids`` concurrently; a failed chunk fails its ids only."""

    async def one(chunk: list[str]) -> dict[str, T | GatewayError]:
        try:
            return await fetch(chunk)
        except GatewayError as error:
            return dict.fromkeys(chunk, error)

    unique = list(dict.fromkeys(ids))
    parts = await asyncio.gather(*(one(unique[i : i + size]) for i in range(0, len(unique), size)))
    return {key: outcome for part in parts for key, outcome in part.items()}


async def read_batch(
    calls: Calls, batch: Batch[M, T], ids: Sequence[str]
) -> dict[str, T | GatewayError]:
    """Any number of ids, in concurrent calls of at most ``batch.size``; an outcome for
    each id."""

    async def fetch(chunk: list[str]) -> dict[str, T | GatewayError]:
        try:
            reply = await calls(batch.operation, lambda client: batch.call(client, chunk))
        except NotFound as error:
            if not batch.one_by_one or error.code != batch.missing_code or len(chunk) == 1:
                raise
            return await chunked(chunk, fetch, size=1)
        found = dict(batch.found(parse(batch.output, reply)))
        cited = request_id(reply) if batch.cites_reply else None
        return {
            id_: found.get(id_)
            or NotFound(batch.missing(id_), code=batch.missing_code, request_id=cited)
            for id_ in chunk
        }

    return await chunked(ids, fetch, size=batch.size)
