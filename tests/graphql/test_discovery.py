"""Discovery in GraphQL against the emulator: from applications to groups to deployments
to instances, in one operation, with the upstream calls batched."""

from typing import Any

import httpx
import pytest

from service.graphql.ide import EXAMPLE_QUERY
from tests.support import Upstream, graphql

GROUP = 'deploymentGroup(applicationName: "orders-api", deploymentGroupName: "orders-api-prod")'


async def test_the_status_board_walks_every_application_down_to_failed_instances(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    body = await gateway.post(
        "/graphql", json={"query": EXAMPLE_QUERY, "operationName": "StatusBoard"}
    )
    data = body.json()["data"]
    boards = {
        (app["node"]["applicationName"], group["node"]["deploymentGroupName"]): group["node"]
        for app in data["applications"]["edges"]
        for group in app["node"]["deploymentGroups"]["edges"]
    }
    orders = boards["orders-api", "orders-api-prod"]["lastAttemptedDeployment"]
    failed = [edge["node"]["instanceId"] for edge in orders["instances"]["edges"]]
    assert len(boards) == 7
    assert orders["deploymentId"] == "d-EXAMPLE01"
    assert orders["status"] == "FAILED"
    assert failed == ["i-0a1b2c3d4e5f60002"]
    # The groups' last deployments came in batch reads (one per wave of groups the
    # loader saw together), not one call each.
    assert upstream.calls("GetDeployment") == 0
    assert upstream.calls("BatchGetDeployments") < len(boards)


async def test_a_groups_deployments_page_newest_first(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    query = f"""query ($after: String) {{ {GROUP} {{
      deployments(first: 2, status: [FAILED, STOPPED, SUCCEEDED], after: $after) {{
        edges {{ node {{ deploymentId status deploymentGroup {{ deploymentGroupName }} }} }}
        pageInfo {{ hasNextPage endCursor }}
      }} }} }}"""
    first = (await graphql(gateway, query))["data"]["deploymentGroup"]["deployments"]
    after = first["pageInfo"]["endCursor"]
    second = (await graphql(gateway, query, after=after))["data"]["deploymentGroup"]["deployments"]
    ids = [edge["node"]["deploymentId"] for page in (first, second) for edge in page["edges"]]
    assert ids == ["d-EXAMPLE01", "d-HIST00005", "d-HIST00004", "d-HIST00003"]
    assert first["edges"][0]["node"]["deploymentGroup"] == {
        "deploymentGroupName": "orders-api-prod"
    }
    assert first["pageInfo"]["hasNextPage"]
    assert upstream.calls("BatchGetDeployments") == 2  # one per page of two


async def test_a_time_window(gateway: httpx.AsyncClient) -> None:
    query = f"""{{ {GROUP} {{ deployments(createdAfter: "2026-11-19T00:00:00Z",
      createdBefore: "2026-11-21T00:00:00Z") {{ edges {{ node {{ deploymentId }} }} }} }} }}"""
    edges = (await graphql(gateway, query))["data"]["deploymentGroup"]["deployments"]["edges"]
    assert [edge["node"]["deploymentId"] for edge in edges] == ["d-HIST00004", "d-HIST00003"]


async def test_stats_count_the_window(gateway: httpx.AsyncClient) -> None:
    fields = "total succeeded failed stopped inProgress medianDurationSeconds changeFailureRate"
    query = (
        f'{{ {GROUP} {{ stats(createdAfter: "2026-11-01T00:00:00Z") {{ {fields} complete }} }} }}'
    )
    stats = (await graphql(gateway, query))["data"]["deploymentGroup"]["stats"]
    old = query.replace("createdAfter:", "since:")  # the deprecated name, still answered
    assert (await graphql(gateway, old))["data"]["deploymentGroup"]["stats"] == stats
    assert stats == {
        "total": 6,
        "succeeded": 3,
        "failed": 2,
        "stopped": 1,
        "inProgress": 0,
        "medianDurationSeconds": 196.5,
        "changeFailureRate": 2 / 6,
        "complete": True,
    }


async def test_unknown_names_are_null_with_codedeploys_codes(gateway: httpx.AsyncClient) -> None:
    query = """{
      a: application(applicationName: "nope") { applicationName }
      g: deploymentGroup(applicationName: "orders-api", deploymentGroupName: "nope") {
        deploymentGroupName }
      ok: application(applicationName: "orders-api") { computePlatform }
    }"""
    body: dict[str, Any] = await graphql(gateway, query)
    codes = {error["path"][0]: error["extensions"]["code"] for error in body["errors"]}
    assert body["data"] == {"a": None, "g": None, "ok": {"computePlatform": "Server"}}
    assert codes == {
        "a": "APPLICATION_NOT_FOUND",
        "g": "DEPLOYMENT_GROUP_NOT_FOUND",
    }


@pytest.mark.parametrize("moment", ["2026-11-01T00:00:00", "2026-11-01", "1795514400"])
async def test_a_time_without_its_offset_is_refused_as_rest_refuses_it(
    upstream: Upstream, gateway: httpx.AsyncClient, moment: str
) -> None:
    query = """query($t: DateTime!) { application(applicationName: "orders-api") {
      deploymentGroups(first: 1) { edges { node { deployments(createdAfter: $t) {
        edges { node { deploymentId } } } } } } } }"""
    body = (
        await gateway.post("/graphql", json={"query": query, "variables": {"t": moment}})
    ).json()
    rest = await gateway.get(
        "/v1/deployments",
        params={
            "applicationName": "orders-api",
            "deploymentGroupName": "orders-api-staging",
            "createdAfter": moment,
        },
    )
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "offset" in body["errors"][0]["message"]
    assert rest.status_code == 400
    inline = query.replace("$t: DateTime!", "").replace("$t", f'"{moment}"').replace("()", "")
    assert "errors" in (await gateway.post("/graphql", json={"query": inline})).json()


async def test_a_time_with_its_offset_is_taken(
    upstream: Upstream, gateway: httpx.AsyncClient
) -> None:
    query = """{ application(applicationName: "orders-api") { deploymentGroups(first: 1) {
      edges { node { deployments(createdAfter: "2020-01-01T00:00:00+02:00") {
        edges { node { deploymentId } } } } } } } }"""
    body = (await gateway.post("/graphql", json={"query": query})).json()
    assert "errors" not in body
