"""A misbehaving upstream: every fault gets its documented status, nothing that should
not be cached is, no traceback is logged, and the gateway serves as soon as it clears."""

import asyncio
import logging
from collections import Counter

import httpx
import pytest

from service.emulator import Emulator, Faults, load_data, serve_emulator
from tests.support import FAILED, GatewayFactory, Upstream, deadline, free_port

URL = "/v1/deployments/{}/instances/{}".format(*FAILED)
FLEET = [f"i-0f1e2d3c4b5a{n:05d}" for n in range(64)]


def gateway_tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("service") and r.exc_info]


async def fleet_statuses(gateway: httpx.AsyncClient) -> Counter[int]:
    """One no-cache read of each fleet instance, concurrently: the statuses seen."""
    responses = await asyncio.gather(
        *(
            gateway.get(f"/v1/deployments/d-EXAMPLE04/instances/{instance_id}")
            for instance_id in FLEET
        )
    )
    for response in responses:
        if response.status_code != 200:
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["cache-control"] == "no-store"
    return Counter(response.status_code for response in responses)


@pytest.mark.parametrize(
    ("fault", "failure"),
    [({"throttle_rate": 0.3}, 429), ({"error_rate": 0.2}, 502)],
)
async def test_retries_absorb_most_of_a_flaky_upstream(
    upstream: Upstream,
    make_gateway: GatewayFactory,
    caplog: pytest.LogCaptureFixture,
    fault: dict[str, float],
    failure: int,
) -> None:
    for name, value in fault.items():
        setattr(upstream.emulator.faults, name, value)
    async with make_gateway() as gateway:
        statuses = await fleet_statuses(gateway)
    # Three attempts each: a read fails only when all three do (0.3³ ≈ 3 %, 0.2³ < 1 %).
    assert set(statuses) <= {200, failure}
    assert statuses[200] >= 56
    assert upstream.calls() > len(FLEET)
    assert gateway_tracebacks(caplog) == []


@pytest.mark.parametrize(
    "fault",
    [
        {"throttle_rate": 1.0},
        {"error_rate": 1.0},
        {"not_json_rate": 1.0},
        {"truncated_rate": 1.0},
        {"latency_seconds": 0.6},
    ],
)
async def test_the_gateway_serves_as_soon_as_a_fault_clears(
    upstream: Upstream,
    make_gateway: GatewayFactory,
    caplog: pytest.LogCaptureFixture,
    fault: dict[str, float],
) -> None:
    for name, value in fault.items():
        setattr(upstream.emulator.faults, name, value)
    async with make_gateway(
        upstream_max_attempts=2, upstream_timeout_seconds=deadline(fault)
    ) as gateway:
        during = [await gateway.get(URL) for _ in range(3)]
        upstream.emulator.faults = Faults()
        after = await gateway.get(URL)
    assert {response.status_code for response in during} <= {429, 502, 504}
    for response in during:
        assert response.headers["cache-control"] == "no-store"
        assert "Traceback" not in response.text
    assert (after.status_code, after.headers["x-cache"]) == (200, "MISS")
    assert gateway_tracebacks(caplog) == []


async def test_a_refused_connection_heals_when_the_upstream_returns(
    make_gateway: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("AWS_ENDPOINT_URL_CODEDEPLOY", f"http://127.0.0.1:{port}")
    async with make_gateway(upstream_max_attempts=1) as gateway:
        refused = await gateway.get(URL)
        async with serve_emulator(Emulator(load_data()), port=port):
            healed = await gateway.get(URL)
    assert (refused.status_code, refused.json()["code"]) == (502, "UPSTREAM_UNAVAILABLE")
    assert healed.status_code == 200
