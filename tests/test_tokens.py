"""Page tokens and cursors are the gateway's own: a forged, tampered or oversized one
reaches neither CodeDeploy nor the cache."""

import base64
import json

import pytest

from tests.support import GatewayFactory, Upstream

FLEET = "d-EXAMPLE04"
LIST = f"/v1/deployments/{FLEET}/instances"
PAGE = """query ($after: String) { deployment(deploymentId: "d-EXAMPLE04") {
  instances(first: 5, after: $after) { edges { node { instanceId } } pageInfo { endCursor } }
} }"""


async def test_a_rest_page_token_round_trips(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    upstream.emulator.page_size = 10
    async with make_gateway() as gateway:
        first = (await gateway.get(LIST)).json()
        second = await gateway.get(LIST, params={"nextToken": first["nextToken"]})
    assert second.status_code == 200
    assert second.json()["instancesList"][0] == "i-0f1e2d3c4b5a00010"
    assert upstream.calls("ListDeploymentInstances") == 2


@pytest.mark.parametrize(
    "token",
    [
        "made-up",
        base64.urlsafe_b64encode(b"\0" * 16 + b"1").decode(),  # a token with a wrong seal
        "A" * 38_000,
        "%%%",
    ],
)
async def test_a_forged_rest_page_token_is_400_with_no_upstream_call(
    upstream: Upstream, make_gateway: GatewayFactory, token: str
) -> None:
    async with make_gateway() as gateway:
        response = await gateway.get(LIST, params={"nextToken": token})
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_CURSOR"
    assert upstream.calls() == 0


async def test_another_secrets_token_is_refused_and_the_same_secrets_accepted(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    upstream.emulator.page_size = 10
    async with make_gateway(cursor_secret="one") as gateway:
        token = (await gateway.get(LIST)).json()["nextToken"]
    async with make_gateway(cursor_secret="two") as other:
        assert (await other.get(LIST, params={"nextToken": token})).status_code == 400
    async with make_gateway(cursor_secret="one") as replica:
        assert (await replica.get(LIST, params={"nextToken": token})).status_code == 200


async def test_a_forged_graphql_cursor_reaches_nobody(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    upstream.emulator.page_size = 10
    async with make_gateway() as gateway:
        real = await gateway.post("/graphql", json={"query": PAGE})
        cursor = real.json()["data"]["deployment"]["instances"]["pageInfo"]["endCursor"]
        calls = upstream.calls()
        forged = base64.urlsafe_b64encode(json.dumps(["x" * 1000, 0]).encode()).decode()
        for after in (forged, "A" * 10_000):
            body = (
                await gateway.post("/graphql", json={"query": PAGE, "variables": {"after": after}})
            ).json()
            assert body["data"]["deployment"]["instances"] is None
            assert body["errors"][0]["extensions"]["status"] == 400
        assert upstream.calls() == calls
        following = await gateway.post(
            "/graphql", json={"query": PAGE, "variables": {"after": cursor}}
        )
    assert "errors" not in following.json()
