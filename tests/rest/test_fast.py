"""The fast path for the instance route answers exactly as the route does: hits, misses,
refreshes, conditional requests, errors and stale answers, header for header."""

import re
from collections.abc import Awaitable, Callable

import httpx
import pytest

from service.rest.fastpath import InstanceFastPath
from tests.support import FAILED, FakeClock, GatewayFactory, Upstream

URL = "/v1/deployments/{}/instances/{}".format(*FAILED)
GONE = "/v1/deployments/d-EXAMPLE01/instances/i-gone"
Answer = tuple[int, list[tuple[str, str]], bytes]


def answer(response: httpx.Response) -> Answer:
    """The response, less what differs between any two (request ids, CodeDeploy's too)."""
    headers = [(k, v) for k, v in response.headers.items() if k != "x-request-id"]
    return response.status_code, headers, re.sub(rb'"requestId":"[^"]*"', b"", response.content)


async def story(gateway: httpx.AsyncClient, upstream: Upstream, clock: FakeClock) -> list[Answer]:
    """Every kind of answer the route gives, in an order that fills the cache."""
    first = await gateway.get(URL)  # a miss
    answers = [answer(first), answer(await gateway.get(URL))]  # then a hit
    etag = first.headers["etag"]
    for headers in (
        {"If-None-Match": etag},
        {"If-None-Match": '"other"'},
        {"Cache-Control": "no-cache"},
        {"Cache-Control": "no-cache", "If-None-Match": etag},
    ):
        answers.append(answer(await gateway.get(URL, headers=headers)))
    answers.append(answer(await gateway.head(URL)))
    for path in (
        GONE,  # not found, read
        GONE,  # not found, stored
        "/v1/deployments/d-EXAMPLE01/instances/" + "x" * 300,  # refused unread
        "/v1/deployments/d-EXAMPLE01/instances/i%20space",
        "/v1/deployments/d-NOSUCH001/instances/i-1",
    ):
        answers.append(answer(await gateway.get(path)))
    upstream.emulator.faults.throttle_rate = 1.0
    try:
        clock.advance(61)  # past the terminal instance's lifetime: read again, throttled
        answers.append(answer(await gateway.get(URL)))  # stale, with its age
        answers.append(answer(await gateway.get(URL, headers={"Cache-Control": "max-stale=0"})))
        answers.append(answer(await gateway.get(GONE.replace("gone", "unread"))))  # 429
    finally:
        upstream.emulator.faults.throttle_rate = 0.0
    return answers


async def test_the_fast_path_answers_as_the_route(
    upstream: Upstream,
    make_gateway: GatewayFactory,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with make_gateway(upstream_max_attempts=1) as gateway:
        fast = await story(gateway, upstream, clock)
    calls = upstream.calls()

    async def to_the_route(*_: object) -> bool:
        return False

    answers: Callable[..., Awaitable[bool]] = to_the_route
    monkeypatch.setattr(InstanceFastPath, "_answer", answers)
    clock.advance(-61)
    async with make_gateway(upstream_max_attempts=1) as gateway:
        routed = await story(gateway, upstream, clock)
    assert upstream.calls() == 2 * calls
    statuses = [status for status, _, _ in fast]
    assert statuses == [200, 200, 304, 200, 200, 304, 200, 404, 404, 400, 400, 404, 200, 429, 429]
    assert ("x-cache", "STALE") in fast[12][1]
    for fast_answer, routed_answer in zip(fast, routed, strict=True):
        assert fast_answer == routed_answer


async def test_of_a_repeated_header_the_first_counts(gateway: httpx.AsyncClient) -> None:
    etag = (await gateway.get(URL)).headers["etag"]
    repeated = [("If-None-Match", etag), ("If-None-Match", '"other"')]
    assert (await gateway.get(URL, headers=repeated)).status_code == 304
    refreshed = await gateway.get(
        URL, headers=[("Cache-Control", "no-cache"), ("Cache-Control", "max-age=60")]
    )
    assert refreshed.headers["x-cache"] == "MISS"
