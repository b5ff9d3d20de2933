"""HTTP hardening: bounded bodies, security headers, CORS, ids checked before any call."""

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support import FAILED, GatewayFactory, Upstream, graphql

BATCH = "/v1/deployments/d-EXAMPLE01/instances:batchGet"


async def test_every_response_carries_the_security_headers(gateway: httpx.AsyncClient) -> None:
    for path in ("/v1/deployments/{}/instances/{}".format(*FAILED), "/nowhere", "/docs"):
        headers = (await gateway.get(path)).headers
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert "server" not in headers


async def test_api_answers_allow_no_scripts(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/v1/deployments/{}/instances/{}".format(*FAILED))
    assert response.headers["content-security-policy"].startswith("default-src 'none'")


async def test_a_declared_large_body_is_refused_unread(gateway: httpx.AsyncClient) -> None:
    response = await gateway.post(
        BATCH, content=b"x" * 70_000, headers={"Content-Type": "application/json"}
    )
    assert (response.status_code, response.json()["code"]) == (413, "PAYLOAD_TOO_LARGE")
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_streamed_large_body_is_refused(gateway: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x" * 8192

    response = await gateway.post(
        BATCH, content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


async def test_graphql_bodies_are_bounded_too(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    query = '{ deploymentInstance(deploymentId: "d-EXAMPLE01", instanceId: "i-1") { status } }'
    response = await gateway.post("/graphql", json={"query": query + " " * 70_000})
    assert response.status_code == 413
    [error] = response.json()["errors"]  # in GraphQL's shape
    assert error["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert upstream.calls() == 0


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/v1/deployments/d-EXAMPLE01/instances/" + "i" * 257, "BAD_USER_INPUT"),
        ("/v1/deployments/d-EXAMPLE01/instances/i%20with%20space", "BAD_USER_INPUT"),
        ("/v1/deployments/d-EXAM%3CPLE/instances/i-1", "BAD_USER_INPUT"),
        ("/v1/deployments/d-EXAMPLE03/targets/fn%22quote", "BAD_USER_INPUT"),
    ],
)
async def test_malformed_ids_are_400_without_a_call(
    gateway: httpx.AsyncClient, upstream: Upstream, path: str, code: str
) -> None:
    response = await gateway.get(path)
    assert (response.status_code, response.json()["code"]) == (400, code)
    assert upstream.calls() == 0


async def test_malformed_ids_in_graphql_fail_alone(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    body = await graphql(
        gateway,
        '{ deploymentInstances(deploymentId: "d-EXAMPLE01", instanceIds: ["i-0a1b2c3d4e5f60001", "bad id"]) { status } }',
    )
    assert body["data"]["deploymentInstances"][0] == {"status": "SUCCEEDED"}
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert upstream.calls("BatchGetDeploymentInstances") == 1


async def test_cors_allows_only_the_configured_origins(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    async with make_gateway(
        cors_origins="https://status.example.com, https://ops.example.com"
    ) as gateway:
        allowed = await gateway.options(
            "/graphql",
            headers={"Origin": "https://ops.example.com", "Access-Control-Request-Method": "POST"},
        )
        other = await gateway.get("/healthz", headers={"Origin": "https://evil.example.com"})
    assert allowed.headers["access-control-allow-origin"] == "https://ops.example.com"
    assert "access-control-allow-origin" not in other.headers


async def test_no_cors_by_default(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/healthz", headers={"Origin": "https://status.example.com"})
    assert "access-control-allow-origin" not in response.headers
