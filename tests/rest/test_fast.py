"""The fast path for instance cache hits answers exactly as the route does."""

import httpx

from tests.support import FAILED, Upstream

URL = "/v1/deployments/{}/instances/{}".format(*FAILED)


def without_cache_status(headers: httpx.Headers) -> dict[str, str]:
    return {
        k: v for k, v in headers.items() if k not in ("x-cache", "cache-control", "x-request-id")
    }


async def test_a_hit_is_the_routes_answer(gateway: httpx.AsyncClient) -> None:
    routed = await gateway.get(URL)
    fast = await gateway.get(URL)
    assert (routed.headers["x-cache"], fast.headers["x-cache"]) == ("MISS", "HIT")
    assert fast.content == routed.content
    assert without_cache_status(fast.headers) == without_cache_status(routed.headers)
    assert fast.headers["cache-control"] == "max-age=60, stale-if-error=300"


async def test_a_hit_answers_if_none_match(gateway: httpx.AsyncClient) -> None:
    etag = (await gateway.get(URL)).headers["etag"]
    fast = await gateway.get(URL, headers={"If-None-Match": etag})
    assert (fast.status_code, fast.content, fast.headers["etag"]) == (304, b"", etag)


async def test_no_cache_goes_to_the_route(gateway: httpx.AsyncClient, upstream: Upstream) -> None:
    await gateway.get(URL)
    refreshed = await gateway.get(URL, headers={"Cache-Control": "no-cache"})
    assert refreshed.headers["x-cache"] == "MISS"
    assert upstream.calls() == 2


async def test_stored_errors_go_to_the_route(gateway: httpx.AsyncClient) -> None:
    await gateway.get("/v1/deployments/d-EXAMPLE01/instances/i-gone")
    cached_404 = await gateway.get("/v1/deployments/d-EXAMPLE01/instances/i-gone")
    assert (cached_404.status_code, cached_404.headers["x-cache"]) == (404, "HIT")
    assert cached_404.headers["content-type"] == "application/problem+json"


async def test_of_a_repeated_header_the_first_counts_on_both_ways(
    gateway: httpx.AsyncClient,
) -> None:
    etag = (await gateway.get(URL)).headers["etag"]  # the route's answer, stored
    repeated = [("If-None-Match", etag), ("If-None-Match", '"other"')]
    fast = await gateway.get(URL, headers=repeated)
    routed = await gateway.get(URL, headers=[*repeated, ("Cache-Control", "no-cache")])
    assert (fast.status_code, routed.status_code) == (304, 304)
    refreshed = await gateway.get(
        URL, headers=[("Cache-Control", "no-cache"), ("Cache-Control", "max-age=60")]
    )
    assert refreshed.headers["x-cache"] == "MISS"
