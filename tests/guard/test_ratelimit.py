"""Per-caller token buckets: a caller over its limit gets 429, nobody else notices."""

import json

import httpx
from asgi_lifespan import LifespanManager

from service.app import create_app
from service.guard import TokenBuckets
from service.settings import Settings
from tests.identity import API_KEY, API_KEYS, INSTANCE, OTHER_KEY, bearer
from tests.support import FakeClock, GatewayFactory, Upstream

KEYED = {"auth": "api-key", "api_keys": json.dumps(API_KEYS)}
LIMITED = {
    **KEYED,
    "rate_limit_per_second": 1,
    "rate_limit_burst": 2,
}


def test_a_bucket_allows_its_burst_then_refills_at_the_rate(clock: FakeClock) -> None:
    buckets = TokenBuckets(rate=2, burst=3, clock=clock)
    assert [buckets.take("a") for _ in range(4)] == [0, 0, 0, 1]
    clock.advance(0.5)  # one token back
    assert [buckets.take("a"), buckets.take("a")] == [0, 1]
    clock.advance(60)  # never more than the burst
    assert [buckets.take("a") for _ in range(4)] == [0, 0, 0, 1]


def test_a_slow_rate_asks_for_a_longer_wait(clock: FakeClock) -> None:
    buckets = TokenBuckets(rate=0.1, burst=1, clock=clock)
    assert [buckets.take("a"), buckets.take("a")] == [0, 10]


async def test_a_caller_over_its_limit_gets_429_and_others_do_not(
    upstream: Upstream, make_gateway: GatewayFactory, clock: FakeClock
) -> None:
    async with make_gateway(**LIMITED) as gateway:
        first = [(await gateway.get(INSTANCE, headers=bearer(API_KEY))) for _ in range(3)]
        other = await gateway.get(INSTANCE, headers=bearer(OTHER_KEY))
        probes = [(await gateway.get("/healthz")).status_code for _ in range(5)]
        clock.advance(1)
        again = await gateway.get(INSTANCE, headers=bearer(API_KEY))
        metrics = (await gateway.get("/metrics")).text
    assert [response.status_code for response in first] == [200, 200, 429]
    limited = first[2]
    assert limited.headers["retry-after"] == "1"
    assert limited.headers["content-type"] == "application/problem+json"
    assert limited.json()["code"] == "RATE_LIMITED"
    assert other.status_code == 200
    assert probes == [200] * 5
    assert again.status_code == 200
    assert 'gateway_refusals_total{code="RATE_LIMITED"} 1.0' in metrics


async def test_graphql_is_limited_in_its_own_shape(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    query = {"query": "{ __typename }"}
    async with make_gateway(**LIMITED) as gateway:
        responses = [
            await gateway.post("/graphql", json=query, headers=bearer(API_KEY)) for _ in range(3)
        ]
    assert [response.status_code for response in responses] == [200, 200, 429]
    [error] = responses[2].json()["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert responses[2].headers["retry-after"] == "1"


async def test_without_auth_each_client_address_has_its_own_bucket(
    upstream: Upstream, clock: FakeClock
) -> None:
    settings = Settings(auth="none", rate_limit_per_second=1, rate_limit_burst=1)
    async with LifespanManager(create_app(settings, clock=clock)) as manager:
        statuses = []
        for address in ("192.0.2.1", "192.0.2.1", "192.0.2.2"):
            transport = httpx.ASGITransport(app=manager.app, client=(address, 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
                statuses.append((await client.get(INSTANCE)).status_code)
    assert statuses == [200, 429, 200]


async def test_a_key_guessing_loop_is_throttled_per_address(
    upstream: Upstream, make_gateway: GatewayFactory, clock: FakeClock
) -> None:
    async with make_gateway(**KEYED) as gateway:  # no rate limit configured
        guesses = [
            (await gateway.get(INSTANCE, headers=bearer(f"guess-{n}"))).status_code
            for n in range(12)
        ]
        locked = await gateway.get(INSTANCE, headers=bearer("guess-more"))
        clock.advance(1)
        again = await gateway.get(INSTANCE, headers=bearer("guess-again"))
    assert guesses == [401] * 10 + [429] * 2
    assert locked.status_code == 429
    assert locked.headers["retry-after"] == "1"
    assert locked.json()["code"] == "AUTHENTICATION_RATE_LIMITED"
    assert again.status_code == 401  # a token back: one more failure is told as such


async def test_a_valid_key_passes_however_many_failed_from_its_address(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    """Behind one ingress everyone shares an address: 60 bad keys lock out no one."""
    async with make_gateway(**KEYED) as gateway:
        for n in range(60):
            await gateway.get(INSTANCE, headers=bearer(f"guess-{n}"))
        valid = await gateway.get(INSTANCE, headers=bearer(API_KEY))
        still = await gateway.get(INSTANCE, headers=bearer("guess-60"))
    assert valid.status_code == 200
    assert still.status_code == 429


async def test_failed_authentications_use_the_configured_rate(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    async with make_gateway(**LIMITED) as gateway:
        missing = [(await gateway.get(INSTANCE)).status_code for _ in range(3)]
        graphql = await gateway.post("/graphql", json={"query": "{ __typename }"})
    assert missing == [401, 401, 429]
    assert graphql.status_code == 429
    assert graphql.json()["errors"][0]["extensions"]["code"] == "AUTHENTICATION_RATE_LIMITED"
