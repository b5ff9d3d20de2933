"""graphql-core's executor, giving the event loop back while it builds a large response.

graphql-core completes a list of plain values (a cached page of instances and their
lifecycle events) in one synchronous pass, and every value a DataLoader batch resolves
is completed in the same turn of the loop as all the others: a large response held the
loop for a second and more, and every other request waited. Here completing a list's
item, or a value that was awaited, first checks how long the loop has been held: past
``SLICE_SECONDS``, it waits for the loop's next turn, so the loop polls its sockets
between slices of one response's work, whichever operations it belongs to.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Iterable, Sequence
from typing import Any

from graphql import GraphQLOutputType, GraphQLResolveInfo
from graphql.execution.executor import Executor
from graphql.execution.executor_throwing_on_incremental import ExecutorThrowingOnIncremental
from graphql.execution.incremental import IncrementalExecutor
from graphql.pyutils import AwaitableOrValue, Path

# The longest the loop is held for responses at a time: make bench's /healthz beside
# three senders of the largest document the defaults allow stays well under 100 ms.
SLICE_SECONDS = 0.002
# Lists this short are completed at once: lifecycle events, task sets.
PACE_ITEMS = 20


class _Slices:
    """The loop's current slice: when it began, and whether the next is already due to
    begin at the loop's next turn. Every operation's work shares it."""

    loop: asyncio.AbstractEventLoop | None = None
    started = 0.0
    due = False
    used = True
    """Whether a piece of work has run in it: the first always may, so each slice
    makes progress however short."""

    @classmethod
    def begin(cls) -> None:
        cls.started = time.perf_counter()
        cls.due = False
        cls.used = False


async def pace() -> None:
    """Returns at once within the slice under way; past it, waits for the next, which
    begins at the loop's next turn, after it has polled its sockets. Each waiting piece
    of work checks again then, so a turn holds one slice's work, not all that waited."""
    loop = asyncio.get_running_loop()
    if _Slices.loop is not loop:  # a new loop (tests make one each): a fresh start
        _Slices.loop, _Slices.due, _Slices.used = loop, False, True
    while _Slices.used and time.perf_counter() - _Slices.started >= SLICE_SECONDS:
        if not _Slices.due:
            _Slices.due = True
            loop.call_soon(_Slices.begin)
        await asyncio.sleep(0)
    _Slices.used = True


class _Paced(Executor[Any]):
    def complete_iterable_value(
        self,
        item_type: GraphQLOutputType,
        field_details_list: Any,
        info: GraphQLResolveInfo[Any],
        path: Path,
        items: Iterable[Any],
        position_context: Any,
    ) -> AwaitableOrValue[list[Any]]:
        if isinstance(items, Sequence) and len(items) > PACE_ITEMS:
            return self.complete_async_iterator_value(
                item_type, field_details_list, info, path, _paced(items), position_context
            )
        return super().complete_iterable_value(
            item_type, field_details_list, info, path, items, position_context
        )

    async def complete_awaitable_value(
        self,
        return_type: GraphQLOutputType,
        field_details_list: Any,
        info: GraphQLResolveInfo[Any],
        path: Path,
        result: Any,
        position_context: Any,
    ) -> Any:
        return await super().complete_awaitable_value(
            return_type, field_details_list, info, path, _then_pace(result), position_context
        )


class PacedExecutor(_Paced, IncrementalExecutor):
    """For queries (``execute``)."""


class PacedSubscriptionExecutor(_Paced, ExecutorThrowingOnIncremental):
    """For each event of a subscription (``subscribe``)."""


async def _paced(items: Sequence[Any]) -> AsyncIterator[Any]:
    for item in items:
        await pace()
        yield item


async def _then_pace(result: Awaitable[Any]) -> Any:
    value = await result
    await pace()
    return value
