"""What a document may cost: limits checked before validation, the upstream-cost estimate
before execution, and the caller's rate charged in CodeDeploy calls."""

import json
from collections.abc import Callable
from itertools import combinations, permutations
from typing import Any

import httpx
import pytest

from service.graphql.ide import EXAMPLE_QUERY
from service.reads import costs
from tests.identity import API_KEY, API_KEYS, bearer
from tests.support import GatewayFactory, Upstream, codes, estimate

INSTANCE = 'deploymentInstance(deploymentId: "d-EXAMPLE01", instanceId: "i-1") { status }'
README_QUERY = """{ deployment(deploymentId: "d-EXAMPLE04") { status deploymentOverview {
  succeeded failed inProgress pending } instances(first: 3, status: [FAILED, IN_PROGRESS]) {
  totalCount edges { cursor node { instanceId status lifecycleEvents { lifecycleEventName
  status diagnostics { errorCode logTail } } } } pageInfo { hasNextPage endCursor } } } }"""
README_TARGETS = """{ deployment(deploymentId: "d-EXAMPLE05") { targets { edges { node {
    __typename
    ... on EcsTarget { targetId status taskSetsInfo { identifier trafficWeight taskSetLabel } }
    ... on LambdaTarget { targetId lambdaFunctionInfo { currentVersion targetVersion } }
    ... on InstanceTarget { targetId status instanceLabel }
    ... on CloudFormationTarget { targetId resourceType }
} } } } }"""
STATUSES = ["FAILED", "IN_PROGRESS", "SUCCEEDED", "PENDING"]
ALL_STATUSES = [*STATUSES, "SKIPPED", "UNKNOWN", "READY"]
SUBSETS = [subset for size in range(1, 8) for subset in combinations(ALL_STATUSES, size)]


async def ask(client: httpx.AsyncClient, query: str, **variables: Any) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize(
    ("operation", "calls"),
    # The instance read; the subscription's first read (its watcher's later ones are shared).
    [("FailedInstance", 1), ("LiveDeployment", 1), ("StatusBoard", 39)],
)
def test_graphiqls_examples_cost_one_call(operation: str, calls: int) -> None:
    assert estimate(EXAMPLE_QUERY, operation) == calls


def test_discovery_counts_each_node_and_shares_batches() -> None:
    group = 'deploymentGroup(applicationName: "a", deploymentGroupName: "b")'
    # BatchGetDeploymentGroups; a list page and one batch read of 20 deployments.
    assert (
        estimate(f"{{ {group} {{ deployments(first: 20) {{ edges {{ node {{ status }} }} }} }} }}")
        == 3
    )
    # The group, then its window: 5 list pages and 20 batch reads at most.
    assert estimate(f'{{ {group} {{ stats(since: "2026-01-01T00:00:00Z") {{ total }} }} }}') == 26
    # 30 groups' last deployments: two batch reads of 25, not 30 calls; their 30 lists.
    query = """{ application(applicationName: "a") { deploymentGroups(first: 30) { edges { node {
      lastAttemptedDeployment { instances(first: 1) { edges { node { status } } } } } } } } }"""
    assert estimate(query) == 1 + (1 + 1) + 2 + 30 * 2


def test_a_subscription_counts_what_its_events_select() -> None:
    query = """subscription { deploymentEvents(deploymentId: "d-1") {
      ... on DeploymentChanged { deployment { instances(first: 50) { edges { node { status } } } } }
    } }"""
    assert estimate(query) == 1 + 1 + 2  # the first read, a list page, two batch reads


@pytest.mark.parametrize(
    ("query", "calls"),
    [
        (README_QUERY, 1 + 10 + 1),  # GetDeployment, the pages totalCount walks, one batch
        (README_TARGETS, 1 + 1 + 2),  # GetDeployment, one list page, 50 nodes in 2 batches
        ("{ __typename }", 0),
        (f"{{ a: {INSTANCE} b: {INSTANCE} }}", 1),
        (
            '{ deploymentInstances(deploymentId: "d-EXAMPLE01", instanceIds: ['
            + ", ".join(f'"i-{n}"' for n in range(26))
            + "]) { status } }",
            2,
        ),
        (
            '{ deployment(deploymentId: "d-1") { instances(first: 0) { pageInfo { hasNextPage } } } }',
            2,
        ),
        (
            '{ deployment(deploymentId: "d-1") { instances(first: 100, after: "x") { edges { node { status } } } } }',
            1 + 2 + 4,
        ),
        ('{ deployment(deploymentId: "d-1") { targets { totalCount } } }', 1 + 10),
        (
            '{ deployment(deploymentId: "d-1") { a: instances(first: 100) { edges { node { status } } } '
            "b: instances(first: 0) { edges { node { status } } } } }",
            1 + 1 + 4,  # one list window; the larger alias's nodes
        ),
        (
            'query { ...F ...F } fragment F on Query { deployment(deploymentId: "d-1") { status } }',
            1,
        ),
    ],
)
def test_the_estimate(query: str, calls: int) -> None:
    assert estimate(query) == calls


def test_the_estimate_applies_variables() -> None:
    query = 'query ($i: [ID!]!, $f: Int!) { deploymentInstances(deploymentId: "d", instanceIds: $i) { status } deployment(deploymentId: "d") { instances(first: $f) { edges { node { status } } } } }'
    assert estimate(query, i=[f"i-{n}" for n in range(100)], f=100) == 4 + 1 + 1 + 4
    assert estimate(query, i=["i-1"], f=1) == 1 + 1 + 1 + 1


def test_every_order_of_one_filter_is_one_read() -> None:
    aliases = " ".join(
        f"a{n}: instances(status: [{', '.join(order)}]) {{ totalCount }}"
        for n, order in enumerate(permutations(STATUSES))
    )
    assert estimate(f'{{ deployment(deploymentId: "d-1") {{ {aliases} }} }}') == 1 + 10


async def test_24_orders_of_a_filter_share_one_cache_entry(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    aliases = " ".join(
        f"a{n}: instances(status: [{', '.join(order)}]) {{ totalCount }}"
        for n, order in enumerate(permutations(STATUSES))
    )
    body = await ask(gateway, f'{{ deployment(deploymentId: "d-EXAMPLE04") {{ {aliases} }} }}')
    counts = {connection["totalCount"] for connection in body["data"]["deployment"].values()}
    assert counts == {64}
    assert upstream.calls("ListDeploymentInstances") == 1
    rest = await gateway.get(
        "/v1/deployments/d-EXAMPLE04/instances",
        params=[("status", s) for s in ("Pending", "Failed", "Succeeded", "InProgress", "Failed")],
    )
    assert rest.headers["x-cache"] == "HIT"
    assert upstream.calls("ListDeploymentInstances") == 1


def _distinct_deployments(field: str, count: int = 100) -> str:
    return (
        "{ "
        + " ".join(
            f'a{n}: deployment(deploymentId: "d-{n:09d}") {{ {field} }}' for n in range(count)
        )
        + " }"
    )


FAN_OUT = {
    "instance lists": _distinct_deployments("instances(first: 1) { pageInfo { hasNextPage } }"),
    "counts": '{ deployment(deploymentId: "d-EXAMPLE04") { '
    + " ".join(
        f"a{n}: instances(status: [{', '.join(statuses)}]) {{ totalCount }}"
        for n, statuses in enumerate(SUBSETS[:100])
    )
    + " } }",
}


@pytest.mark.parametrize("query", FAN_OUT.values(), ids=FAN_OUT.keys())
async def test_a_fan_out_is_refused_before_any_call(
    gateway: httpx.AsyncClient, upstream: Upstream, query: str
) -> None:
    body = await ask(gateway, query)
    assert codes(body) == ["COST_LIMIT_EXCEEDED"]
    assert "the limit is 50" in body["errors"][0]["message"]
    assert upstream.calls() == 0


async def test_batches_of_many_deployments_are_refused_with_their_variables(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    ids = [f"i-{n}" for n in range(50)]
    fields = " ".join(
        f'a{n}: deploymentInstances(deploymentId: "d-{n:09d}", instanceIds: $i) {{ status }}'
        for n in range(100)
    )
    body = await ask(gateway, f"query ($i: [ID!]!) {{ {fields} }}", i=ids)
    assert codes(body) == ["COST_LIMIT_EXCEEDED"]
    assert "may cost 200 CodeDeploy calls" in body["errors"][0]["message"]
    assert upstream.calls() == 0


REPEATED = "{ " + " ".join([INSTANCE] * 400) + " }"


@pytest.mark.parametrize(
    ("query", "code", "settings"),
    [
        (REPEATED, "FIELD_REPEAT_LIMIT_EXCEEDED", {}),
        ("{ " + " ".join([INSTANCE] * 11) + " }", "FIELD_REPEAT_LIMIT_EXCEEDED", {}),
        (
            "{ ...A ...A } fragment A on Query { ...B ...B ...B ...B ...B ...B } "
            f"fragment B on Query {{ {INSTANCE} }}",
            "FIELD_REPEAT_LIMIT_EXCEEDED",
            {},
        ),
        (
            f"{{ {INSTANCE} }}",
            "FIELD_LIMIT_EXCEEDED",
            {"graphql_max_fields": 1},
        ),
        (
            "{ a: __typename b: __typename c: __typename }",
            "ROOT_FIELD_LIMIT_EXCEEDED",
            {"graphql_max_root_fields": 2},
        ),
        (
            "query { ...A } "
            + " ".join(
                f"fragment {chr(65 + n)} on Query {{ ...{chr(66 + n)} ...{chr(66 + n)} }}"
                for n in range(20)
            )
            + f" fragment {chr(85)} on Query {{ __typename }}",
            "FIELD_REPEAT_LIMIT_EXCEEDED",
            {"graphql_max_tokens": 100_000},
        ),
    ],
)
async def test_costly_documents_are_refused_by_name_before_validation(
    make_gateway: GatewayFactory,
    upstream: Upstream,
    query: str,
    code: str,
    settings: dict[str, Any],
) -> None:
    async with make_gateway(**settings) as gateway:
        body = await ask(gateway, query)
    assert code in codes(body)
    assert "the limit is" in body["errors"][0]["message"]
    assert upstream.calls() == 0


async def test_a_document_of_a_billion_fields_is_measured_not_expanded(
    make_gateway: GatewayFactory, upstream: Upstream
) -> None:
    fragments = " ".join(
        f"fragment F{n} on Deployment {{ a: deploymentOverview {{ ...F{n + 1} }} "
        f"b: deploymentOverview {{ ...F{n + 1} }} }}"
        for n in range(40)
    )
    query = f'{{ deployment(deploymentId: "d-1") {{ ...F0 }} }} {fragments} fragment F40 on Deployment {{ status }}'
    async with make_gateway(graphql_max_depth=100, graphql_max_aliases=10_000) as gateway:
        body = await ask(gateway, query.replace("deploymentOverview", "deploymentStyle"))
    assert "FIELD_LIMIT_EXCEEDED" in codes(body)
    assert "more than a billion" in " ".join(error["message"] for error in body["errors"])


LIMITED = {
    "auth": "api-key",
    "api_keys": json.dumps(API_KEYS),
    "rate_limit_per_second": 1,
    "rate_limit_burst": 10,
}
PAGE = 'query ($f: Int!) { deployment(deploymentId: "d-EXAMPLE04") { instances(first: $f) { edges { node { status } } } } }'


async def test_a_callers_rate_is_charged_in_codedeploy_calls(
    make_gateway: GatewayFactory, upstream: Upstream
) -> None:
    async with make_gateway(**LIMITED) as gateway:
        statuses = []
        # 4 calls each by the estimate, cache or not, from a burst of 10; each page is a
        # new response (an answer replayed whole costs one token, as a REST hit does).
        for first in (50, 49, 48):
            response = await gateway.post(
                "/graphql",
                json={"query": PAGE, "variables": {"f": first}},
                headers=bearer(API_KEY),
            )
            statuses.append(response.status_code)
        assert statuses == [200, 200, 429]
        assert response.headers["retry-after"] == "2"
        assert response.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"


async def test_a_rest_batch_is_charged_per_upstream_batch(
    make_gateway: GatewayFactory, upstream: Upstream, clock: Any
) -> None:
    ids = {"instanceIds": [f"i-{n}" for n in range(100)]}
    path = "/v1/deployments/d-EXAMPLE04/instances:batchGet"
    async with make_gateway(**LIMITED) as gateway:
        first = await gateway.post(path, json=ids, headers=bearer(API_KEY))
        second = await gateway.post(path, json=ids, headers=bearer(API_KEY))
        third = await gateway.post(path, json=ids, headers=bearer(API_KEY))
        clock.advance(4)
        fourth = await gateway.post(path, json=ids, headers=bearer(API_KEY))
    assert [r.status_code for r in (first, second, third, fourth)] == [200, 200, 429, 200]
    assert third.headers["content-type"] == "application/problem+json"


async def test_a_rest_batch_of_targets_is_charged_for_each_id_it_may_read_alone(
    make_gateway: GatewayFactory, upstream: Upstream
) -> None:
    """BatchGetDeploymentTargets fails whole for one unknown id, and each is then read
    alone: 20 ids may cost 21 calls, over a burst of 10."""
    ids = {"targetIds": [f"i-{n}" for n in range(20)]}
    path = "/v1/deployments/d-EXAMPLE01/targets:batchGet"
    async with make_gateway(**LIMITED) as gateway:
        refused = await gateway.post(path, json=ids, headers=bearer(API_KEY))
    assert refused.status_code == 429
    assert upstream.calls() == 0


def test_in_targets_mode_instance_ids_a_caller_chose_may_each_be_read_alone() -> None:
    query = 'query ($i: [ID!]!) { deploymentInstances(deploymentId: "d-1", instanceIds: $i) { status } }'
    ids = [f"i-{n}" for n in range(30)]
    assert estimate(query, i=ids) == 2
    assert estimate(query, alone=costs.read_alone("targets"), i=ids) == 2 + 30


def test_each_account_and_region_pays_for_its_own_reads() -> None:
    """Single-flight shares reads within one account and region only: the same ids under
    three of them are three sets of batch reads."""
    ids = [f"i-{n}" for n in range(100)]  # 4 batch reads
    field = 'deploymentInstances(deploymentId: "d-1", instanceIds: $ids{}) {{ status }}'
    where = ["", ', account: "staging"', ', account: "staging", region: "eu-west-1"']
    query = (
        "query($ids: [String!]!) { "
        + " ".join(f"a{n}: " + field.format(place) for n, place in enumerate(where * 2))
        + " }"
    )
    assert estimate(query, ids=ids) == 3 * 4
    board = "applications(first: 25{}) {{ edges {{ node {{ applicationName }} }} }}"
    alone = estimate("{ " + board.format("") + " }")
    assert (
        estimate("{ a: " + board.format("") + " b: " + board.format(', account: "staging"') + " }")
        == 2 * alone
    )


def test_deployments_a_group_names_read_their_own_instances() -> None:
    """40 groups, each group's last deployment with a page of 100 instances: one
    BatchGetDeploymentGroups per application, 2 BatchGetDeployments, then for each
    deployment 1 ListDeploymentInstances and 4 batch reads — what the emulator counted for
    this document over 40 applications (it was estimated at 8)."""
    field = (
        'g{n}: deploymentGroup(applicationName: "{app}", deploymentGroupName: "grp{n}") '
        "{{ lastSuccessfulDeployment {{ instances(first: 100) {{ edges {{ node {{ instanceId }} }} }} }} }}"
    )

    def groups(application: Callable[[int], str]) -> str:
        return "{ " + " ".join(field.format(n=n, app=application(n)) for n in range(40)) + " }"

    assert estimate(groups(lambda n: f"app{n}")) == 40 + 2 + 40 * (1 + 4)
    assert estimate(groups(lambda n: "one")) == 1 + 2 + 40 * (1 + 4)


async def test_small_upstream_pages_never_cost_more_than_the_estimate(
    upstream: Upstream, gateway: httpx.AsyncClient
) -> None:
    """CodeDeploy may answer with pages of any size: a window reads at most the pages
    the estimate counted, and says there is more."""
    upstream.emulator.page_size = 2
    query = """{ deployment(deploymentId: "d-EXAMPLE04") { instances(first: 100) {
      edges { node { status } } pageInfo { hasNextPage endCursor } } } }"""
    body = await ask(gateway, query)
    connection = body["data"]["deployment"]["instances"]
    assert upstream.calls() <= estimate(query)
    assert len(connection["edges"]) == 2  # one page of two: the estimate's one list page
    assert connection["pageInfo"]["hasNextPage"] is True
    after = connection["pageInfo"]["endCursor"]
    more = await ask(gateway, query.replace("first: 100", f'first: 100, after: "{after}"'))
    assert more["data"]["deployment"]["instances"]["edges"]
