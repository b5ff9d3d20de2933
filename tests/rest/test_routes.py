"""GET /v1/deployments/{deploymentId}/instances/{instanceId} over the real wire."""

import asyncio
import time
from datetime import datetime
from typing import Any

import httpx
import pytest

from service.app import create_app
from service.settings import Settings
from tests.support import (
    FAILED,
    FUTURE_INSTANCE,
    IN_PROGRESS,
    FakeClock,
    GatewayFactory,
    Upstream,
)

URL = "/v1/deployments/{}/instances/{}"


def _epoch(node: Any) -> Any:
    """REST timestamps back to the epoch seconds the upstream sent."""
    if isinstance(node, list):
        return [_epoch(item) for item in node]
    if isinstance(node, dict):
        return {
            key: datetime.fromisoformat(value).timestamp()
            if key in ("lastUpdatedAt", "startTime", "endTime")
            else _epoch(value)
            for key, value in node.items()
        }
    return node


async def test_returns_exactly_what_codedeploy_holds(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    for deployment_id in ("d-EXAMPLE01", "d-EXAMPLE02"):
        for stored in upstream.emulator.data.deployments[deployment_id].instances:
            instance_id = stored["instanceId"].rsplit("/", 1)[-1]
            response = await gateway.get(URL.format(deployment_id, instance_id))
            assert response.status_code == 200
            assert response.headers["content-type"] == "application/json"
            assert _epoch(response.json()) == {"instanceSummary": stored}


async def test_timestamps_are_utc_whatever_the_local_zone(
    gateway: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        body = (await gateway.get(URL.format(*FAILED))).json()
    finally:
        monkeypatch.undo()
        time.tzset()
    stamp = body["instanceSummary"]["lastUpdatedAt"]
    assert stamp.endswith("Z")
    assert datetime.fromisoformat(stamp).utcoffset() is not None


async def test_fields_the_upstream_left_out_are_left_out(gateway: httpx.AsyncClient) -> None:
    summary = (await gateway.get(URL.format("d-EXAMPLE01", "i-0a1b2c3d4e5f60006"))).json()[
        "instanceSummary"
    ]
    assert "instanceType" not in summary
    assert summary["lifecycleEvents"] == []
    pending = (await gateway.get(URL.format("d-EXAMPLE01", "i-0a1b2c3d4e5f60004"))).json()
    assert pending["instanceSummary"]["lifecycleEvents"][0] == {
        "lifecycleEventName": "ApplicationStop",
        "status": "Pending",
    }


async def test_lifecycle_events_are_a_list_even_when_codedeploy_omits_them(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    upstream.emulator.data.deployments["d-EXAMPLE01"].instances.append(
        {"deploymentId": "d-EXAMPLE01", "instanceId": "i-bare", "status": "Pending"}
    )
    body = (await gateway.get(URL.format("d-EXAMPLE01", "i-bare"))).json()
    assert body == {
        "instanceSummary": {
            "deploymentId": "d-EXAMPLE01",
            "instanceId": "i-bare",
            "status": "Pending",
            "lifecycleEvents": [],
        }
    }


async def test_enum_values_aws_adds_later_pass_through_as_sent(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    upstream.emulator.data.deployments["d-EXAMPLE01"].instances.append(FUTURE_INSTANCE)
    summary = (await gateway.get(URL.format("d-EXAMPLE01", "i-future"))).json()["instanceSummary"]
    assert summary == FUTURE_INSTANCE


async def test_second_request_is_a_cache_hit(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    first = await gateway.get(URL.format(*FAILED))
    second = await gateway.get(URL.format(*FAILED))
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
    assert first.content == second.content
    assert upstream.calls() == 1


async def test_cache_control_counts_down_the_entry_lifetime(
    gateway: httpx.AsyncClient, clock: FakeClock
) -> None:
    assert (await gateway.get(URL.format(*FAILED))).headers[
        "cache-control"
    ] == "max-age=60, stale-if-error=300"
    clock.advance(20)
    assert (await gateway.get(URL.format(*FAILED))).headers[
        "cache-control"
    ] == "max-age=40, stale-if-error=300"


async def test_terminal_instances_live_longer_than_changing_ones(
    gateway: httpx.AsyncClient, upstream: Upstream, clock: FakeClock
) -> None:
    await gateway.get(URL.format(*FAILED))
    changing = await gateway.get(URL.format(*IN_PROGRESS))
    assert changing.headers["cache-control"] == "max-age=5, stale-if-error=300"
    clock.advance(6)
    assert (await gateway.get(URL.format(*FAILED))).headers["x-cache"] == "HIT"
    assert (await gateway.get(URL.format(*IN_PROGRESS))).headers["x-cache"] == "MISS"
    clock.advance(55)
    assert (await gateway.get(URL.format(*FAILED))).headers["x-cache"] == "MISS"
    assert upstream.calls() == 4


async def test_ttls_follow_settings(
    upstream: Upstream, make_gateway: GatewayFactory, clock: FakeClock
) -> None:
    async with make_gateway(cache_ttl_seconds=2, cache_terminal_ttl_seconds=0) as gateway:
        assert (await gateway.get(URL.format(*IN_PROGRESS))).headers[
            "cache-control"
        ] == "max-age=2, stale-if-error=300"
        await gateway.get(URL.format(*FAILED))
        assert (await gateway.get(URL.format(*FAILED))).headers["x-cache"] == "MISS"


async def test_not_found_is_cached_briefly(
    gateway: httpx.AsyncClient, upstream: Upstream, clock: FakeClock
) -> None:
    first = await gateway.get(URL.format("d-EXAMPLE01", "i-missing"))
    second = await gateway.get(URL.format("d-EXAMPLE01", "i-missing"))
    assert (first.status_code, second.status_code) == (404, 404)
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
    assert second.headers["cache-control"] == "max-age=5"  # a stored error stands in for nothing
    assert second.json()["requestId"] == first.json()["requestId"]
    clock.advance(5.5)
    assert (await gateway.get(URL.format("d-EXAMPLE01", "i-missing"))).headers["x-cache"] == "MISS"
    assert upstream.calls() == 2


async def test_no_cache_request_bypasses_and_refreshes_the_entry(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    await gateway.get(URL.format(*IN_PROGRESS))
    summary = upstream.emulator.data.deployments["d-EXAMPLE01"].find_instance(IN_PROGRESS[1])
    assert summary is not None
    summary["status"] = "Succeeded"
    cached = await gateway.get(URL.format(*IN_PROGRESS))
    fresh = await gateway.get(URL.format(*IN_PROGRESS), headers={"Cache-Control": "no-cache"})
    after = await gateway.get(URL.format(*IN_PROGRESS))
    assert cached.json()["instanceSummary"]["status"] == "InProgress"
    assert (fresh.headers["x-cache"], fresh.json()["instanceSummary"]["status"]) == (
        "MISS",
        "Succeeded",
    )
    assert (after.headers["x-cache"], after.headers["cache-control"]) == (
        "HIT",
        "max-age=60, stale-if-error=300",
    )
    assert upstream.calls() == 2


async def test_if_none_match_answers_304(gateway: httpx.AsyncClient) -> None:
    first = await gateway.get(URL.format(*FAILED))
    etag = first.headers["etag"]
    again = await gateway.get(URL.format(*FAILED), headers={"If-None-Match": f'"other", {etag}'})
    changed = await gateway.get(URL.format(*FAILED), headers={"If-None-Match": '"other"'})
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
    assert again.headers["x-cache"] == "HIT"
    assert changed.status_code == 200


async def test_etag_changes_when_the_instance_does(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    before = (await gateway.get(URL.format(*IN_PROGRESS))).headers["etag"]
    summary = upstream.emulator.data.deployments["d-EXAMPLE01"].find_instance(IN_PROGRESS[1])
    assert summary is not None
    summary["status"] = "Failed"
    after = await gateway.get(
        URL.format(*IN_PROGRESS), headers={"Cache-Control": "no-cache", "If-None-Match": before}
    )
    assert after.status_code == 200
    assert after.headers["etag"] != before


async def test_concurrent_identical_misses_make_one_upstream_call(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    upstream.emulator.faults.latency_seconds = 0.05
    responses = await asyncio.gather(*(gateway.get(URL.format(*FAILED)) for _ in range(40)))
    assert {response.status_code for response in responses} == {200}
    assert upstream.calls() == 1


async def test_cache_size_is_bounded_by_settings(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    async with make_gateway(cache_max_entries=1) as gateway:
        await gateway.get(URL.format(*FAILED))
        await gateway.get(URL.format(*IN_PROGRESS))
        assert (await gateway.get(URL.format(*FAILED))).headers["x-cache"] == "MISS"
    assert upstream.calls() == 3


async def test_head_answers_as_get_without_a_body(gateway: httpx.AsyncClient) -> None:
    get = await gateway.get(URL.format(*FAILED))
    for _ in range(2):  # the route, then the cache-hit fast path
        head = await gateway.head(URL.format(*FAILED))
        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["content-length"] == get.headers["content-length"]
        assert head.headers["etag"] == get.headers["etag"]
    assert (await gateway.head("/healthz")).status_code == 200
    assert (await gateway.head("/v1/deployments/d-EXAMPLE01/instances/i-gone")).status_code == 404


def test_every_route_stands_again_under_its_account_and_region() -> None:
    paths = create_app(Settings(local=True)).api.openapi()["paths"]
    mirror = "/v1/accounts/{account}/regions/{region}"
    default = {path: item for path, item in paths.items() if path.startswith("/v1/")}
    # All but the list of accounts, which is about them rather than in one.
    own = {path for path in default if not path.startswith(mirror)} - {"/v1/accounts"}
    assert own
    for path in own:
        mirrored = paths[mirror + path.removeprefix("/v1")]
        assert mirrored.keys() == paths[path].keys(), path
        for method, operation in mirrored.items():
            assert operation["operationId"] == paths[path][method]["operationId"] + "InAccount"
            assert {"403", "404"} <= operation["responses"].keys()
            names = {parameter["name"] for parameter in operation["parameters"]}
            assert {"account", "region"} <= names
