"""A fleet's cache: replicas share what they read through a real redis-server."""

import asyncio
import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import httpx
import orjson
import pytest

from service.fleet.store import MAC_BYTES
from tests.support import (
    FAILED,
    FLEET,
    WAIT,
    FakeClock,
    GatewayFactory,
    RedisServer,
    Upstream,
    fields,
    until,
)

INSTANCE = f"/v1/deployments/{FAILED[0]}/instances/{FAILED[1]}"
# Three replicas, an emulator and the test share one event loop here: a store call can
# wait behind all of them, which a deployed replica's would not.


@pytest.fixture
async def replicas(
    make_gateway: GatewayFactory, upstream: Upstream, redis: RedisServer
) -> AsyncIterator[list[httpx.AsyncClient]]:
    """Three gateways, each with its own client of the one store, before one emulator."""
    async with AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(make_gateway(redis_url=redis.url, **FLEET))
            for _ in range(3)
        ]


async def test_concurrent_identical_misses_over_the_fleet_make_one_call(
    replicas: list[httpx.AsyncClient], upstream: Upstream
) -> None:
    responses = await asyncio.gather(*(replicas[n % 3].get(INSTANCE) for n in range(30)))

    assert {response.status_code for response in responses} == {200}
    assert len({response.content for response in responses}) == 1
    assert upstream.calls() == 1


async def test_what_one_replica_read_the_others_answer_without_a_call(
    replicas: list[httpx.AsyncClient], upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    first = await replicas[0].get(INSTANCE)
    caplog.set_level(logging.INFO, logger="service.access")

    others = [await replica.get(INSTANCE) for replica in replicas[1:]]

    assert upstream.calls() == 1
    assert [response.headers["x-cache"] for response in others] == ["HIT", "HIT"]
    assert {response.content for response in others} == {first.content}
    assert {response.headers["etag"] for response in others} == {first.headers["etag"]}
    access = [record for record in caplog.records if record.name == "service.access"]
    assert [fields(record)["cache_level"] for record in access] == ["shared", "shared"]
    # Its own cache answers the next time.
    caplog.clear()
    await replicas[1].get(INSTANCE)
    access = [record for record in caplog.records if record.name == "service.access"]
    assert [fields(record)["cache_level"] for record in access] == ["local"]
    metrics = (await replicas[1].get("/metrics")).text
    assert 'gateway_cache_events_total{cache="instances",event="shared_hit"} 1.0' in metrics


async def test_a_replica_keeps_a_shared_value_only_for_the_time_it_has_left(
    replicas: list[httpx.AsyncClient], redis: RedisServer
) -> None:
    await replicas[0].get(INSTANCE)
    (key,) = redis.client().keys("cdgw:3:c:instances:*")
    redis.client().pexpire(key, 2500)

    answer = await replicas[1].get(INSTANCE)

    # A terminal instance is kept 60 s; the store said 2.5 s were left.
    assert answer.headers["cache-control"] in {
        "max-age=2, stale-if-error=300",
        "private, max-age=2, stale-if-error=300",
    }


async def test_not_found_is_shared_for_its_negative_lifetime(
    replicas: list[httpx.AsyncClient], upstream: Upstream
) -> None:
    missing = f"/v1/deployments/{FAILED[0]}/instances/i-missing"
    answers = [await replica.get(missing) for replica in replicas]

    assert [answer.status_code for answer in answers] == [404, 404, 404]
    assert [answer.headers["x-cache"] for answer in answers] == ["MISS", "HIT", "HIT"]
    assert answers[1].json()["code"] == answers[0].json()["code"]
    assert upstream.calls() == 1


async def test_the_store_holds_versioned_json_never_pickles(
    replicas: list[httpx.AsyncClient], redis: RedisServer
) -> None:
    await replicas[0].get(INSTANCE)
    await replicas[0].get(f"/v1/deployments/{FAILED[0]}/instances")
    client = redis.client()
    keys = sorted(key.decode() for key in client.keys("*"))

    assert keys
    assert all(key.startswith("cdgw:3:c:") for key in keys)
    for key in keys:
        stored: bytes = client.get(key)[MAC_BYTES:]  # behind its MAC
        assert stored[:1] == b"v"
        body = stored[2:] if key.startswith("cdgw:3:c:instances") else stored[1:]
        assert isinstance(orjson.loads(body), dict)
        assert 0 < client.pttl(key) <= 60_000


async def test_a_dead_holder_costs_its_lease_not_a_hang(
    replicas: list[httpx.AsyncClient], upstream: Upstream, redis: RedisServer
) -> None:
    """A replica took the lease and died: the others wait out the lease, then one reads."""
    await replicas[0].get(INSTANCE)
    client = redis.client()
    (value,) = client.keys("cdgw:3:c:instances:*")
    client.delete(value)
    lease = value.replace(b":c:", b":l:")
    client.set(lease, b"a replica that died", px=300)

    answers = await asyncio.gather(*(replica.get(INSTANCE) for replica in replicas[1:]))

    assert [answer.status_code for answer in answers] == [200, 200]
    assert upstream.calls() == 2  # the first read, and one after the lease ran out


async def test_a_failure_the_holder_does_not_keep_reaches_its_waiters_uncached(
    replicas: list[httpx.AsyncClient], upstream: Upstream, redis: RedisServer
) -> None:
    upstream.emulator.faults.throttle_rate = 1.0

    answers = await asyncio.gather(*(replicas[n % 3].get(INSTANCE) for n in range(9)))

    assert {answer.status_code for answer in answers} == {429}
    assert upstream.calls() == 1  # every waiter got its holder's answer
    upstream.emulator.faults.throttle_rate = 0.0
    # The store keeps it for the waiters' polls only; no replica's own cache keeps it.
    client = redis.client()
    (key,) = client.keys("cdgw:3:c:instances:*")
    assert 0 < client.pttl(key) <= 500
    client.delete(key)  # as half a second would
    assert [(await replica.get(INSTANCE)).status_code for replica in replicas] == [200] * 3


# A forged answer in the gateway's own format is junk too: it does not carry the MAC.
FORGED = b'v-{"instanceSummary": {"instanceId": "i-forged", "status": "Succeeded"}}'


@pytest.mark.parametrize(
    "junk", [b"ejunk", b"vjunk", b'v-{"not": "closed"', b"\x00\xff", FORGED, b"x" * 16 + FORGED]
)
async def test_a_value_not_the_gateways_is_dropped_and_read_again(
    replicas: list[httpx.AsyncClient], upstream: Upstream, redis: RedisServer, junk: bytes
) -> None:
    first = await replicas[0].get(INSTANCE)
    client = redis.client()
    (key,) = client.keys("cdgw:3:c:instances:*")
    client.set(key, junk, px=60_000)

    answers = [await replica.get(INSTANCE) for replica in replicas[1:]]

    assert [answer.status_code for answer in answers] == [200, 200]
    assert {answer.content for answer in answers} == {first.content}
    assert upstream.calls() == 2  # read once more, then shared again
    assert client.get(key) != junk


async def test_a_value_with_no_lifetime_is_not_served(
    replicas: list[httpx.AsyncClient], upstream: Upstream, redis: RedisServer
) -> None:
    await replicas[0].get(INSTANCE)
    client = redis.client()
    (key,) = client.keys("cdgw:3:c:instances:*")
    client.persist(key)

    answer = await replicas[1].get(INSTANCE)

    assert answer.status_code == 200
    assert upstream.calls() == 2
    assert 0 < client.pttl(key) <= 60_000


async def test_a_batch_with_a_spoilt_value_answers_every_id(
    replicas: list[httpx.AsyncClient], upstream: Upstream, redis: RedisServer
) -> None:
    ids = ["i-0a1b2c3d4e5f60001", "i-0a1b2c3d4e5f60002", "i-0a1b2c3d4e5f60003"]
    batch = f"/v1/deployments/{FAILED[0]}/instances:batchGet"
    await replicas[0].get(INSTANCE)
    client = redis.client()
    (key,) = client.keys("cdgw:3:c:instances:*")
    client.set(key, b"vjunk", px=60_000)

    answer = await replicas[1].post(batch, json={"instanceIds": ids})

    assert answer.status_code == 200
    assert len(answer.json()["instancesSummary"]) == 3
    assert not client.keys("cdgw:3:l:*")  # no lease left behind


async def test_messages_not_the_gateways_are_ignored(
    replicas: list[httpx.AsyncClient], redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = redis.client()
    for junk in [b"junk", b"[1,2]", b'{"k":["a"]}', b'{"k":"live","by":"x"}', b'{"k":"changed"}']:
        client.publish("cdgw:3:events", junk)
    client.publish("cdgw:3:events", b'{"k":"done:instances","by":"x","keys":[1],"errors":[1]}')
    # An account this gateway does not read (another estate's replica): nothing is made for it.
    client.publish(
        "cdgw:3:events",
        b'{"k":"changed","by":"x","a":"elsewhere","r":"us-east-1","d":"d-1","i":null}',
    )

    answer = await replicas[0].get(INSTANCE)  # the listener is still there, and so is sharing
    assert answer.status_code == 200
    assert (await replicas[1].get(INSTANCE)).headers["x-cache"] == "HIT"
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


def sealed(key: str, data: bytes) -> bytes:
    """``data`` as a replica of this fleet seals it (the tests' GATEWAY_CURSOR_SECRET)."""
    name = key.rsplit(":", 1)[1]
    mac = hmac.digest(b"shared by the test replicas", name.encode() + b"\0" + data, "sha256")
    return mac[:MAC_BYTES] + data


async def test_an_error_of_the_wrong_shape_is_dropped_not_a_500(
    replicas: list[httpx.AsyncClient], upstream: Upstream, redis: RedisServer
) -> None:
    """Even sealed with the fleet's secret, an error no replica could have stored is junk."""
    await replicas[0].get(INSTANCE)
    client = redis.client()
    (key,) = client.keys("cdgw:3:c:instances:*")
    confused = b'e{"type": "NotFound", "detail": 5, "code": [], "id": {}}'
    client.set(key, sealed(key.decode(), confused), px=60_000)
    answers = [await replica.get(INSTANCE) for replica in replicas[1:]]
    assert [answer.status_code for answer in answers] == [200, 200]


@pytest.mark.parametrize("kind", ["value", "bucket"])
async def test_keys_of_another_type_are_dropped_not_an_outage(
    make_gateway: GatewayFactory,
    upstream: Upstream,
    redis: RedisServer,
    caplog: pytest.LogCaptureFixture,
    kind: str,
) -> None:
    """A key someone else wrote with another type is deleted where the gateway meets it:
    the store stays up, the fleet's rate limit stays the fleet's."""
    limited = {"rate_limit_per_second": 100, "rate_limit_burst": 100}
    async with make_gateway(redis_url=redis.url, **FLEET, **limited) as replica:
        await replica.get(INSTANCE)
        client = redis.client()
        keys = client.keys({"value": "cdgw:3:c:*", "bucket": "cdgw:3:b:*"}[kind])
        assert keys
        for key in keys:
            client.delete(key)
            client.hset(key, "junk", "1") if kind != "bucket" else client.lpush(key, "junk")
        caplog.set_level(logging.WARNING)
        answers = [
            (await replica.get(INSTANCE, headers={"Cache-Control": "no-cache"})).status_code
            for _ in range(5)
        ]
        metrics = (await replica.get("/metrics")).text
    assert answers == [200] * 5
    assert "working alone" not in caplog.text
    assert "gateway_store_up 1.0" in metrics


async def test_a_hot_key_is_refreshed_once_for_the_fleet_while_every_caller_is_answered(
    make_gateway: GatewayFactory, upstream: Upstream, redis: RedisServer, clock: FakeClock
) -> None:
    settings = {"redis_url": redis.url, "stale_while_revalidate_seconds": 10, **FLEET}
    async with AsyncExitStack() as stack:
        fleet = [await stack.enter_async_context(make_gateway(**settings)) for _ in range(3)]
        for replica in fleet:
            await replica.get(INSTANCE)
        assert upstream.calls() == 1
        clock.advance(61)  # each replica's entry a second past its lifetime...
        redis.client().delete(*redis.client().keys("cdgw:3:c:instances:*"))  # ...the store's too
        hot = await asyncio.gather(*(fleet[n % 3].get(INSTANCE) for n in range(30)))
        await until(lambda: upstream.calls() == 2)
        for replica in fleet:  # each takes the refreshed answer as its refresh completes
            async with asyncio.timeout(WAIT):
                while (await replica.get(INSTANCE)).headers["x-cache"] != "HIT":  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
    assert {(r.status_code, r.headers["x-cache"]) for r in hot} == {(200, "STALE")}
    assert upstream.calls() == 2  # one refresh, for the three replicas
