"""The store's messages between replicas, on a real redis-server: each replica hears the
others' and never its own, whatever the message carries."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import pytest

from service.accounts import AccountRegion
from service.codedeploy.budget import LocalBudget
from service.fleet.budget import StoreBudget
from service.fleet.store import Store
from service.metrics import Metrics
from tests.support import WAIT, FakeClock, RedisServer


@pytest.fixture
async def replicas(redis: RedisServer) -> AsyncIterator[list[Store]]:
    async with AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(
                Store(redis.url, password=None, timeout=1, max_connections=4, metrics=Metrics())
            )
            for _ in range(2)
        ]


async def test_a_replica_hears_the_others_messages_and_not_its_own(
    replicas: list[Store], redis: RedisServer
) -> None:
    heard: list[list[dict[str, Any]]] = [[], []]
    for store, inbox in zip(replicas, heard, strict=True):
        store.on("changed", inbox.append)
    async with asyncio.timeout(WAIT):
        while redis.client().pubsub_numsub("cdgw:3:events")[0][1] < 2:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        # A region rides in the payload as "r": it must not pass for the sender.
        await replicas[0].publish("changed", a="staging", r="eu-west-1", d="d-1", i=None)
        while not heard[1]:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        # The channel keeps its order: once the sender hears this answer, it has had
        # (and passed over) its own message before it.
        await replicas[1].publish("changed", a="prod", r="us-east-1", d="d-2", i=None)
        while not heard[0]:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    assert heard[1] == [
        {"k": "changed", "by": replicas[0].replica, "a": "staging", "r": "eu-west-1", "d": "d-1",
         "i": None}
    ]  # fmt: skip
    assert [message["d"] for message in heard[0]] == ["d-2"]


def test_a_payload_cannot_pose_as_the_kind_or_the_sender(replicas: list[Store]) -> None:
    for field in ("k", "by"):
        with pytest.raises(ValueError, match="may not use"):
            replicas[0].message("changed", **{field: "x"})


async def test_the_budget_toward_codedeploy_holds_for_the_fleet(redis: RedisServer) -> None:
    """Three replicas' budgets over one store, a call every 100 s (a bucket of two): two of
    them call now, the third is told when; while the store is away each keeps its own."""
    where = AccountRegion("prod", "us-east-1")
    async with AsyncExitStack() as stack:
        stores = [
            await stack.enter_async_context(
                Store(redis.url, password=None, timeout=2, max_connections=4, metrics=Metrics())
            )
            for _ in range(3)
        ]
        budgets = [StoreBudget(store, LocalBudget(0.01, FakeClock())) for store in stores]
        waits = [await budget.take(where, background=False) for budget in budgets]
        assert waits[:2] == [0, 0]
        assert waits[2] > 90
        elsewhere = await budgets[1].take(AccountRegion("prod", "eu-west-1"), background=False)
        assert elsewhere == 0
        stores[2].up = False  # as the store's failures mark it
        # Alone: each replica's own bucket, at the same rate.
        alone = [await budgets[2].take(where, background=False) for _ in range(3)]
        assert alone[:2] == [0, 0]
        assert alone[2] > 90
