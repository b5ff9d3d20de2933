"""Request ids and the access log: one structured line per request, nothing secret."""

import io
import json
import logging
import sys
from typing import Any

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from service.app import refusal
from service.edge.access import Access, ClientAddress
from service.logs import AccessLog, JsonFormatter, configure_logging
from service.metrics import Metrics
from tests.identity import API_KEYS
from tests.support import (
    ACCESS_KEY_ID,
    FAILED,
    SECRET_ACCESS_KEY,
    GatewayFactory,
    Upstream,
    fields,
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
    assert fields(record)["request_id"] == "trace-42"
    assert fields(record)["route"] == "/v1/deployments/{deploymentId}/instances/{instanceId}"
    assert (fields(record)["status"], fields(record)["cache"]) == (200, "MISS")
    assert len(fields(record)["upstream_request_ids"]) == 1


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
    assert [fields(r)["cache"] for r in access_records(caplog)] == ["MISS", "HIT"]
    assert fields(access_records(caplog)[1])["upstream_request_ids"] == []


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


async def test_production_logging_writes_the_records_line(
    upstream: Upstream,
    make_gateway: GatewayFactory,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With logging as production sets it up, the access line skips the record: it must
    still be the line the record would have made."""
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stdout", stream)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("info", json_lines=True)
    production = root.handlers[0]
    try:
        assert AccessLog(logging.getLogger("service.access"))._direct() is production
        async with make_gateway() as gateway:
            await gateway.get(URL, headers={"X-Request-ID": "same"})
    finally:
        production.close()
        root.handlers[:] = handlers
        root.setLevel(level)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    [direct] = [line for line in lines if line["logger"] == "service.access"]
    caplog.set_level(logging.INFO, logger="service.access")
    async with make_gateway() as gateway:
        await gateway.get(URL, headers={"X-Request-ID": "same"})
    [record] = access_records(caplog)
    recorded = json.loads(JsonFormatter().format(record))
    varying = {"time", "duration_ms", "upstream_request_ids"}
    assert direct.keys() == recorded.keys()
    assert {k: v for k, v in direct.items() if k not in varying} == {
        k: v for k, v in recorded.items() if k not in varying
    }
    assert direct["request_id"] == "same"


@pytest.mark.parametrize("json_lines", [True, False])
def test_the_access_log_takes_the_records_way_when_anything_else_listens(
    monkeypatch: pytest.MonkeyPatch, json_lines: bool
) -> None:
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("info", json_lines=json_lines)
    production = root.handlers[0]
    access = AccessLog(logging.getLogger("service.access"))
    try:
        assert (access._direct() is production) == json_lines
        access.logger.addFilter(logging.Filter("service.access"))
        assert access._direct() is None
        access.logger.filters.clear()
        logging.getLogger("service").addHandler(logging.NullHandler())
        assert access._direct() is None
        logging.getLogger("service").handlers.clear()
        production.setLevel(logging.WARNING)
        assert access._direct() is None
        production.setLevel(logging.NOTSET)
        root.addHandler(logging.NullHandler())
        assert access._direct() is None
    finally:
        production.close()
        root.handlers[:] = handlers
        root.setLevel(level)


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
    client: str | None = fields(record)["client"]
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


XFF = "x-forwarded-for"


@pytest.mark.parametrize(
    ("header", "headers", "client"),
    [
        (XFF, {"X-Forwarded-For": "203.0.113.9"}, "203.0.113.9"),
        # A client's own claim left of the proxies is not believed past the first untrusted hop.
        (XFF, {"X-Forwarded-For": "198.51.100.1, 203.0.113.9, 127.0.0.7"}, "203.0.113.9"),
        (XFF, {"X-Forwarded-For": "not-an-address, 127.0.0.7"}, "127.0.0.7"),
        # nginx and ALB pass a client's own Forwarded through: not read unless chosen.
        (XFF, {"Forwarded": 'for="[2001:db8:cafe::17]:4711"'}, "127.0.0.1"),
        (XFF, {"Forwarded": "for=192.0.2.60", "X-Forwarded-For": "1.1.1.1"}, "1.1.1.1"),
        ("forwarded", {"Forwarded": 'for="[2001:db8:cafe::17]:4711"'}, "2001:db8:cafe::17"),
        (
            "forwarded",
            {
                "Forwarded": "for=192.0.2.60;proto=https, for=127.0.0.9",
                "X-Forwarded-For": "1.1.1.1",
            },
            "192.0.2.60",
        ),
        ("forwarded", {"X-Forwarded-For": "1.1.1.1"}, "127.0.0.1"),
        ("forwarded", {"Forwarded": "for=unknown"}, "127.0.0.1"),
        (XFF, {}, "127.0.0.1"),
    ],
)
async def test_a_trusted_proxy_names_the_client_in_its_one_header(
    upstream: Upstream,
    make_gateway: GatewayFactory,
    caplog: pytest.LogCaptureFixture,
    header: str,
    headers: dict[str, str],
    client: str,
) -> None:
    trusted = {"trusted_proxies": "127.0.0.0/8, 10.0.0.0/8", "forwarded_header": header}
    assert await client_logged(make_gateway, caplog, headers, **trusted) == client


async def test_a_rotating_forwarded_header_does_not_escape_the_failure_limit(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    """Behind nginx (X-Forwarded-For appended by the proxy), a key guesser rotating its
    own Forwarded header is still one address: its failures are limited."""
    async with make_gateway(
        auth="api-key", api_keys=json.dumps(API_KEYS), trusted_proxies="127.0.0.1"
    ) as gateway:
        statuses = [
            (
                await gateway.get(
                    URL,
                    headers={
                        "X-API-Key": f"wrong-{n}",
                        "Forwarded": f"for=198.51.100.{n}",
                        "X-Forwarded-For": "203.0.113.9",
                    },
                )
            ).status_code
            for n in range(30)
        ]
    assert statuses.count(401) == 10
    assert statuses.count(429) == 20


async def test_behind_a_trusted_proxy_each_client_has_its_own_bucket(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    async with make_gateway(**LIMITED, trusted_proxies="127.0.0.1") as gateway:
        statuses = [
            (await gateway.get(URL, headers={"X-Forwarded-For": f"203.0.113.{n}"})).status_code
            for n in range(2)
        ]
    assert statuses == [200, 200]


@pytest.mark.processes
def test_the_server_itself_believes_no_forwarding_header(tmp_path: Any) -> None:
    env = {"GATEWAY_RATE_LIMIT_PER_SECOND": "1", "GATEWAY_RATE_LIMIT_BURST": "1"}
    with running_gateway(tmp_path / "gateway.log", **env) as url:
        statuses = [
            httpx.get(url + URL, headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code
            for n in range(2)
        ]
    assert statuses == [200, 429]


async def test_a_failure_nothing_answered_is_a_500_problem(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("a gateway bug")

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    access = Access(broken, metrics=Metrics(), client_address=ClientAddress([]), refuse=refusal)
    scope: Scope = {"type": "http", "method": "GET", "path": "/v1/x", "headers": [], "client": None}
    await access(scope, receive, send)
    start, body = sent
    headers = dict(start["headers"])
    assert start["status"] == 500
    assert headers[b"content-type"] == b"application/problem+json"
    assert b"x-request-id" in headers
    assert b"content-security-policy" in headers
    assert json.loads(body["body"])["code"] == "INTERNAL_SERVER_ERROR"
    assert "a gateway bug" not in body["body"].decode()
    assert any(record.exc_info for record in caplog.records)
    sent.clear()
    await access({**scope, "path": "/graphql"}, receive, send)
    assert json.loads(sent[1]["body"])["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"


async def test_a_trailing_slash_redirect_is_relative_whatever_the_host(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    async with make_gateway() as gateway:
        response = await gateway.get("/v1/accounts/", headers={"Host": "evil.example"})
        doubled = await gateway.get("//evil.example/v1/accounts/?x=1")
    assert response.status_code in (307, 308)
    assert response.headers["location"] == "/v1/accounts"
    assert not doubled.headers.get("location", "/").startswith("//")
