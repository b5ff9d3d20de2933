"""Request ids and the access log: one structured line per request, nothing secret."""

import json
import logging
from typing import Any

import httpx
import pytest

from service.logs import JsonFormatter
from tests.conftest import (
    ACCESS_KEY_ID,
    FAILED,
    SECRET_ACCESS_KEY,
    GatewayFactory,
    Upstream,
    running_gateway,
)

URL = "/v1/deployments/{}/instances/{}".format(*FAILED)


def access_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "service.access"]


async def test_a_callers_request_id_is_echoed_and_logged(
    gateway: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="service.access")
    response = await gateway.get(URL, headers={"X-Request-ID": "trace-42"})
    [record] = access_records(caplog)
    assert response.headers["x-request-id"] == "trace-42"
    assert record.__dict__["request_id"] == "trace-42"
    assert record.__dict__["route"] == "/v1/deployments/{deploymentId}/instances/{instanceId}"
    assert (record.__dict__["status"], record.__dict__["cache"]) == (200, "MISS")
    assert len(record.__dict__["upstream_request_ids"]) == 1


@pytest.mark.parametrize("given", [None, "x" * 200, "bad id\twith tab"])
async def test_a_missing_or_odd_request_id_is_replaced(
    gateway: httpx.AsyncClient, given: str | None
) -> None:
    headers = {"X-Request-ID": given} if given else {}
    response = await gateway.get("/healthz", headers=headers)
    assert len(response.headers["x-request-id"]) == 32
    assert response.headers["x-request-id"] != given


async def test_hits_are_logged_too(
    gateway: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="service.access")
    await gateway.get(URL)
    await gateway.get(URL)
    assert [r.__dict__["cache"] for r in access_records(caplog)] == ["MISS", "HIT"]
    assert access_records(caplog)[1].__dict__["upstream_request_ids"] == []


async def test_log_lines_are_json_without_secrets_or_log_tails(
    gateway: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await gateway.get(URL)
    await gateway.post(
        "/graphql",
        json={
            "query": '{ deploymentInstance(deploymentId: "d-EXAMPLE01", instanceId: "i-0a1b2c3d4e5f60002") { lifecycleEvents { diagnostics { logTail } } } }'
        },
    )
    lines = [JsonFormatter().format(record) for record in caplog.records]
    for line in lines:
        entry = json.loads(line)
        assert {"time", "level", "logger", "message"} <= entry.keys()
        assert ACCESS_KEY_ID not in line
        assert SECRET_ACCESS_KEY not in line
        assert "DATABASE_URL" not in line


LIMITED = {"rate_limit_per_second": 1, "rate_limit_burst": 1}


async def client_logged(
    make_gateway: GatewayFactory,
    caplog: pytest.LogCaptureFixture,
    headers: dict[str, str],
    **settings: Any,
) -> str | None:
    caplog.set_level(logging.INFO, logger="service.access")
    caplog.clear()
    async with make_gateway(**settings) as gateway:
        await gateway.get("/healthz", headers=headers)
    [record] = access_records(caplog)
    client: str | None = record.__dict__["client"]
    return client


async def test_forwarding_headers_are_ignored_unless_the_peer_is_a_trusted_proxy(
    upstream: Upstream, make_gateway: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    forged = {"X-Forwarded-For": "203.0.113.9", "Forwarded": "for=203.0.113.9"}
    assert await client_logged(make_gateway, caplog, forged) == "127.0.0.1"
    async with make_gateway(**LIMITED) as gateway:
        # One bucket for the one peer, whatever address each request claims.
        statuses = [
            (await gateway.get(URL, headers={"X-Forwarded-For": f"203.0.113.{n}"})).status_code
            for n in range(2)
        ]
    assert statuses == [200, 429]


@pytest.mark.parametrize(
    ("headers", "client"),
    [
        ({"X-Forwarded-For": "203.0.113.9"}, "203.0.113.9"),
        # A client's own claim left of the proxies is not believed past the first untrusted hop.
        ({"X-Forwarded-For": "198.51.100.1, 203.0.113.9, 127.0.0.7"}, "203.0.113.9"),
        ({"X-Forwarded-For": "not-an-address, 127.0.0.7"}, "127.0.0.7"),
        ({"Forwarded": 'for="[2001:db8:cafe::17]:4711"'}, "2001:db8:cafe::17"),
        (
            {
                "Forwarded": "for=192.0.2.60;proto=https, for=127.0.0.9",
                "X-Forwarded-For": "1.1.1.1",
            },
            "192.0.2.60",
        ),
        ({"Forwarded": "for=unknown"}, "127.0.0.1"),
        ({}, "127.0.0.1"),
    ],
)
async def test_a_trusted_proxy_names_the_client(
    upstream: Upstream,
    make_gateway: GatewayFactory,
    caplog: pytest.LogCaptureFixture,
    headers: dict[str, str],
    client: str,
) -> None:
    trusted = {"trusted_proxies": "127.0.0.0/8, 10.0.0.0/8"}
    assert await client_logged(make_gateway, caplog, headers, **trusted) == client


async def test_behind_a_trusted_proxy_each_client_has_its_own_bucket(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    async with make_gateway(**LIMITED, trusted_proxies="127.0.0.1") as gateway:
        statuses = [
            (await gateway.get(URL, headers={"X-Forwarded-For": f"203.0.113.{n}"})).status_code
            for n in range(2)
        ]
    assert statuses == [200, 200]


def test_the_server_itself_believes_no_forwarding_header(tmp_path: Any) -> None:
    env = {"GATEWAY_RATE_LIMIT_PER_SECOND": "1", "GATEWAY_RATE_LIMIT_BURST": "1"}
    with running_gateway(tmp_path / "gateway.log", **env) as url:
        statuses = [
            httpx.get(url + URL, headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code
            for n in range(2)
        ]
    assert statuses == [200, 429]
