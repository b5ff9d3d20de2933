"""Request ids and the access log: one structured line per request, nothing secret."""

import json
import logging

import httpx
import pytest

from service.logs import JsonFormatter
from tests.conftest import ACCESS_KEY_ID, FAILED, SECRET_ACCESS_KEY

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
