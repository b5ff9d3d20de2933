"""Page tokens and cursors are the gateway's own: a forged, tampered or oversized one
reaches neither CodeDeploy nor the cache."""

import base64
import json

import pytest

from service.errors import InvalidRequest
from service.tokens import Cursors
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
    # The first page's token points past the one page it read; from a token a page may
    # read two of CodeDeploy's (as charged), here the next two.
    assert upstream.calls("ListDeploymentInstances") == 3


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


MADE_UP = base64.urlsafe_b64encode(json.dumps([None, 5000]).encode()).decode()
DEPLOYMENTS = '{ deploymentGroup(applicationName: "orders-api", deploymentGroupName: "orders-api-prod") { deployments(first: 1) { pageInfo { endCursor } } } }'
APPLICATIONS = """query ($after: String) { applications(first: 1, after: $after) {
  edges { node { applicationName } } totalCount } }"""


async def test_first_pages_cursors_are_sealed_and_a_made_up_one_is_400_on_both_faces(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    async with make_gateway() as gateway:
        body = (await gateway.post("/graphql", json={"query": PAGE})).json()
        first = body["data"]["deployment"]["instances"]["pageInfo"]["endCursor"]
        with pytest.raises((UnicodeDecodeError, json.JSONDecodeError)):
            json.loads(base64.urlsafe_b64decode(first))
        calls = upstream.calls()
        graph = await gateway.post(
            "/graphql", json={"query": PAGE, "variables": {"after": MADE_UP}}
        )
        rest = await gateway.get(LIST, params={"nextToken": MADE_UP})
    [error] = graph.json()["errors"]
    assert error["extensions"]["code"] == rest.json()["code"] == "INVALID_CURSOR"
    assert rest.status_code == error["extensions"]["status"] == 400
    assert upstream.calls() == calls


async def test_a_cursor_is_refused_by_every_other_list(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    upstream.emulator.page_size = 10
    async with make_gateway() as gateway:
        deployments = (await gateway.post("/graphql", json={"query": DEPLOYMENTS})).json()
        cursor = deployments["data"]["deploymentGroup"]["deployments"]["pageInfo"]["endCursor"]
        token = (await gateway.get(LIST, params={"pageSize": 3})).json()["nextToken"]
        refused = [
            await gateway.post(
                "/graphql", json={"query": APPLICATIONS, "variables": {"after": cursor}}
            ),
            await gateway.get("/v1/applications", params={"nextToken": token}),
            await gateway.get(LIST, params={"nextToken": token, "status": "Failed"}),
            await gateway.get("/v1/deployments/d-EXAMPLE01/instances", params={"nextToken": token}),
            await gateway.get(
                f"{LIST.replace('instances', 'targets')}", params={"nextToken": token}
            ),
        ]
        # The same list on the other face: REST's nextToken is GraphQL's cursor.
        same = await gateway.post("/graphql", json={"query": PAGE, "variables": {"after": token}})
    for response in refused[1:]:
        assert (response.status_code, response.json()["code"]) == (400, "INVALID_CURSOR")
    assert refused[0].json()["errors"][0]["extensions"]["code"] == "INVALID_CURSOR"
    edges = same.json()["data"]["deployment"]["instances"]["edges"]
    assert edges[0]["node"]["instanceId"] == "i-0f1e2d3c4b5a00003"


async def test_a_rest_page_size_walks_the_list_without_gaps(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    seen: list[str] = []
    async with make_gateway() as gateway:
        default = (await gateway.get(LIST)).json()
        upstream.emulator.page_size = 10  # CodeDeploy's pages and the caller's do not line up
        token = None
        while True:
            params = {"pageSize": 7, **({"nextToken": token} if token else {})}
            page = (await gateway.get(LIST, params=params)).json()
            seen += page["instancesList"]
            token = page.get("nextToken")
            if token is None:
                break
        too_big = await gateway.get(LIST, params={"pageSize": 101})
    assert seen == [f"i-0f1e2d3c4b5a{n:05d}" for n in range(64)]
    assert len(default["instancesList"]) == 50
    assert (too_big.status_code, too_big.json()["code"]) == (400, "BAD_USER_INPUT")


async def test_every_connection_counts_its_list(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    query = """{
      applications { totalCount edges { cursor } }
      application(applicationName: "orders-api") {
        deploymentGroups { totalCount edges { cursor } } }
      deploymentGroup(applicationName: "orders-api", deploymentGroupName: "orders-api-prod") {
        deployments(first: 1) { totalCount } } }"""
    async with make_gateway() as gateway:
        body = (await gateway.post("/graphql", json={"query": query})).json()
        listed = (
            await gateway.get("/v1/deployments?applicationName=orders-api&deploymentGroupName=orders-api-prod&pageSize=100")
        ).json()  # fmt: skip
    assert "errors" not in body, body
    data = body["data"]
    assert data["applications"]["totalCount"] == len(data["applications"]["edges"]) > 0
    groups = data["application"]["deploymentGroups"]
    assert groups["totalCount"] == len(groups["edges"]) > 0
    assert data["deploymentGroup"]["deployments"]["totalCount"] == len(listed["deployments"])


def test_a_cursor_is_bound_to_its_scope() -> None:
    cursors = Cursors(b"k" * 32)
    sealed = cursors.scoped("prod/us-east-1").seal("list", (None, 3))
    assert cursors.scoped("prod/us-east-1").open("list", sealed) == (None, 3)
    for scope, binding in [("staging/us-east-1", "list"), ("prod/eu-west-1", "list"), ("prod/us-east-1", "other")]:  # fmt: skip
        with pytest.raises(InvalidRequest):
            cursors.scoped(scope).open(binding, sealed)
