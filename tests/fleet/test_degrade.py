"""A store that stops answering, dies or refuses us: every replica goes on alone, says
so once, and shares again once the store is back."""

import asyncio
import logging
import os
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest

from service.app import create_app
from service.settings import ConfigurationError, Settings
from tests.support import FLEET, WAIT, GatewayFactory, RedisServer, Upstream, redis_server

pytestmark = pytest.mark.processes

INSTANCE = "/v1/deployments/d-EXAMPLE01/instances/i-0a1b2c3d4e5f6000{}"
# Short enough that a test waiting on a frozen store waits little, long enough that a
# store that answers is not taken for a dead one on a loaded test machine.
TIMEOUT = 0.5


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, to freeze or kill."""
    with redis_server(tmp_path) as server:
        yield server


@pytest.fixture
async def pair(
    make_gateway: GatewayFactory, upstream: Upstream, own_redis: RedisServer
) -> AsyncIterator[list[httpx.AsyncClient]]:
    async with AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(
                make_gateway(redis_url=own_redis.url, redis_timeout_seconds=TIMEOUT)
            )
            for _ in range(2)
        ]


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} is not exported")


async def store_state(replica: httpx.AsyncClient) -> tuple[float, float]:
    text = (await replica.get("/metrics")).text
    return metric(text, "gateway_store_up"), metric(text, "gateway_store_failures_total")


async def test_a_frozen_store_costs_one_timeout_then_nothing_until_it_is_back(
    pair: list[httpx.AsyncClient],
    upstream: Upstream,
    own_redis: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="service.fleet.store")
    assert (await pair[0].get(INSTANCE.format(2))).status_code == 200
    os.kill(own_redis.process.pid, signal.SIGSTOP)  # accepts, never answers
    try:
        answers = [await pair[1].get(INSTANCE.format(n)) for n in (2, 3, 4, 5, 6)]
        up, failures = await store_state(pair[1])
        ready = (await pair[1].get("/readyz")).status_code
    finally:
        os.kill(own_redis.process.pid, signal.SIGCONT)

    assert [answer.status_code for answer in answers] == [200] * 5
    # Three calls running out of time in a row (one may be a busy loop's lag): the first
    # three requests waited the timeout once each; the fourth went on alone at once.
    assert (up, failures) == (0, 3)
    assert ready == 200  # readiness never waits on the store
    warnings = [r.getMessage() for r in caplog.records if "working alone" in r.getMessage()]
    assert len(warnings) == 1
    assert "127.0.0.1" in warnings[0]

    # Back: the probe finds it, and the fleet shares again.
    async with asyncio.timeout(WAIT):
        while (await store_state(pair[1]))[0] != 1:  # noqa: ASYNC110 - seen only by /metrics
            await asyncio.sleep(0.05)
    await pair[1].get(INSTANCE.format(1))
    before = upstream.calls()
    shared = await pair[0].get(INSTANCE.format(1))
    assert shared.headers["x-cache"] == "HIT"
    assert upstream.calls() == before
    assert any("answers again" in r.getMessage() for r in caplog.records)


async def test_a_dead_store_leaves_every_replica_answering(
    pair: list[httpx.AsyncClient], own_redis: RedisServer
) -> None:
    own_redis.stop()

    answers = await asyncio.gather(
        *(pair[n % 2].get(INSTANCE.format(n % 4 + 2)) for n in range(20))
    )

    assert {answer.status_code for answer in answers} == {200}
    assert [(await store_state(replica))[0] for replica in pair] == [0, 0]


async def test_a_dead_store_leaves_each_replica_its_own_rate_limit(
    make_gateway: GatewayFactory, upstream: Upstream, own_redis: RedisServer
) -> None:
    own_redis.stop()
    limit = {"rate_limit_per_second": 1, "rate_limit_burst": 2}
    async with make_gateway(redis_url=own_redis.url, redis_timeout_seconds=TIMEOUT, **limit) as g:
        statuses = [(await g.get(INSTANCE.format(2))).status_code for _ in range(4)]
    assert statuses == [200, 200, 429, 429]


async def test_the_password_comes_from_its_file(
    tmp_path: Path, make_gateway: GatewayFactory, upstream: Upstream
) -> None:
    secret = tmp_path / "password"
    secret.write_text("correct horse battery staple\n")
    with redis_server(tmp_path, password="correct horse battery staple") as server:
        async with (
            make_gateway(redis_url=server.url, redis_password_file=secret, **FLEET) as first,
            make_gateway(redis_url=server.url, redis_password_file=secret, **FLEET) as second,
        ):
            await first.get(INSTANCE.format(2))
            answer = await second.get(INSTANCE.format(2))
            up, failures = await store_state(second)
    assert answer.headers["x-cache"] == "HIT"
    assert upstream.calls() == 1
    assert (up, failures) == (1, 0)


async def test_a_refused_password_is_working_alone_and_never_logged(
    tmp_path: Path,
    make_gateway: GatewayFactory,
    upstream: Upstream,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with redis_server(tmp_path, password="the right one") as server:
        url = f"redis://:a-wrong-password@127.0.0.1:{server.port}/0"
        async with make_gateway(redis_url=url) as gateway:
            answer = await gateway.get(INSTANCE.format(2))
            up, _ = await store_state(gateway)
    assert answer.status_code == 200
    assert up == 0
    assert "a-wrong-password" not in caplog.text


def test_an_unreadable_password_file_stops_the_start(tmp_path: Path) -> None:
    settings = Settings(
        auth="none", redis_url="redis://127.0.0.1:1/0", redis_password_file=tmp_path / "none"
    )
    with pytest.raises(ConfigurationError, match="GATEWAY_REDIS_PASSWORD_FILE"):
        create_app(settings)


async def test_calls_cut_off_by_the_timeout_give_their_connections_back(
    make_gateway: GatewayFactory, upstream: Upstream, own_redis: RedisServer
) -> None:
    """A frozen store, again and again, with a pool of three: calls cancelled by the
    timeout must return their connections, or the replica could never share again."""
    settings = {"redis_url": own_redis.url, "redis_timeout_seconds": 0.3}
    async with make_gateway(redis_max_connections=3, **settings) as gateway:
        for round_ in range(3):
            os.kill(own_redis.process.pid, signal.SIGSTOP)
            try:
                paths = [f"/v1/deployments/d-ROUND{round_}{n}/instances" for n in range(6)]
                await asyncio.gather(*(gateway.get(path) for path in paths))
            finally:
                os.kill(own_redis.process.pid, signal.SIGCONT)
            async with asyncio.timeout(WAIT):
                while (await store_state(gateway))[0] != 1:  # noqa: ASYNC110 - /metrics only
                    await asyncio.sleep(0.05)
        async with make_gateway(**settings) as other:
            await other.get(INSTANCE.format(2))
            answer = await gateway.get(INSTANCE.format(2))
    assert answer.headers["x-cache"] == "HIT"
    assert upstream.calls("GetDeploymentInstance") == 1
