"""Discovery over REST against the emulator: applications, groups, deployment lists."""

from datetime import UTC, datetime

import httpx
import pytest

from service.rest.deprecations import Deprecated
from tests.support import Upstream


async def test_applications_page_and_read(gateway: httpx.AsyncClient, upstream: Upstream) -> None:
    names = (await gateway.get("/v1/applications")).json()
    one = await gateway.get("/v1/applications/orders-api")
    again = await gateway.get("/v1/applications/orders-api")
    assert "orders-api" in names["applications"]
    assert one.json()["application"]["computePlatform"] == "Server"
    assert again.headers["x-cache"] == "HIT"
    assert upstream.calls("GetApplication") == 1


async def test_groups_list_and_their_summaries(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    names = (await gateway.get("/v1/applications/orders-api/deployment-groups")).json()
    summary = (await gateway.get("/v1/applications/orders-api/deployment-group-summaries")).json()
    assert names == {
        "applicationName": "orders-api",
        "deploymentGroups": ["orders-api-prod", "orders-api-staging"],
    }
    groups = {g["deploymentGroupName"]: g for g in summary["deploymentGroupsInfo"]}
    assert groups["orders-api-prod"]["lastAttemptedDeployment"]["deploymentId"] == "d-EXAMPLE01"
    assert upstream.calls("BatchGetDeploymentGroups") == 1


async def test_a_group_names_its_last_deployments(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/v1/applications/orders-api/deployment-groups/orders-api-prod")
    group = response.json()["deploymentGroupInfo"]
    assert group["lastSuccessfulDeployment"] == {
        "deploymentId": "d-HIST00005",
        "status": "Succeeded",
        "endTime": "2026-11-21T22:31:55Z",
        "createTime": "2026-11-21T22:26:40Z",
    }


async def test_deployments_newest_first_filtered(gateway: httpx.AsyncClient) -> None:
    group = "applicationName=orders-api&deploymentGroupName=orders-api-prod"
    every = (await gateway.get(f"/v1/deployments?{group}")).json()
    failed = (await gateway.get(f"/v1/deployments?{group}&status=Failed&status=Stopped")).json()
    window = "createdAfter=2026-11-19T00:00:00Z&createdBefore=2026-11-21T00:00:00Z"
    windowed = (await gateway.get(f"/v1/deployments?{group}&{window}")).json()
    assert every["deployments"][:2] == ["d-EXAMPLE01", "d-HIST00005"]
    assert failed["deployments"] == ["d-EXAMPLE01", "d-HIST00004", "d-HIST00003"]
    assert windowed["deployments"] == ["d-HIST00004", "d-HIST00003"]


async def test_filters_in_any_order_share_one_call(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    await gateway.get("/v1/deployments?status=Failed&status=Stopped")
    await gateway.get("/v1/deployments?status=Stopped&status=Failed&status=Stopped")
    assert upstream.calls("ListDeployments") == 1


async def test_summaries_fill_the_deployment_entries(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    page = (
        await gateway.get(
            "/v1/deployment-summaries?applicationName=orders-api&deploymentGroupName=orders-api-prod"
        )
    ).json()
    one = await gateway.get("/v1/deployments/d-HIST00003")
    assert [d["deploymentId"] for d in page["deploymentsInfo"]][:2] == [
        "d-EXAMPLE01",
        "d-HIST00005",
    ]
    assert one.headers["x-cache"] == "HIT"
    assert upstream.calls("GetDeployment") == 0
    assert upstream.calls("BatchGetDeployments") == 1  # six ids: one call of up to 25


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/v1/applications/nope", 404, "APPLICATION_NOT_FOUND"),
        ("/v1/applications/nope/deployment-groups", 404, "APPLICATION_NOT_FOUND"),
        (
            "/v1/applications/orders-api/deployment-groups/nope",
            404,
            "DEPLOYMENT_GROUP_NOT_FOUND",
        ),
        ("/v1/deployments?applicationName=orders-api", 400, "BAD_USER_INPUT"),
        ("/v1/deployments?status=Sleeping", 400, "BAD_USER_INPUT"),
        ("/v1/applications/%7Bbad%7D", 400, "BAD_USER_INPUT"),
        ("/v1/deployments?applicationName=", 400, "BAD_USER_INPUT"),
        (
            "/v1/deployments?applicationName=orders-api&deploymentGroupName=%7Bbad%7D",
            400,
            "BAD_USER_INPUT",
        ),
        ("/v1/deployments?createdAfter=yesterday", 400, "BAD_USER_INPUT"),
        ("/v1/deployments?createdAfter=0.0", 400, "BAD_USER_INPUT"),
        (
            "/v1/deployments?createdAfter=0001-01-01T00:00:00%2B14:00",
            400,
            "BAD_USER_INPUT",
        ),
    ],
)
async def test_errors_are_codedeploys_codes(
    gateway: httpx.AsyncClient, path: str, status: int, code: str
) -> None:
    response = await gateway.get(path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code


async def test_stats_count_a_groups_window(gateway: httpx.AsyncClient, upstream: Upstream) -> None:
    path = "/v1/applications/orders-api/deployment-groups/orders-api-prod/stats"
    whole = (await gateway.get(f"{path}?createdAfter=2026-11-01T00:00:00Z")).json()
    recent = (await gateway.get(f"{path}?createdAfter=2026-11-21T00:00:00Z")).json()
    assert whole == {
        "applicationName": "orders-api",
        "deploymentGroupName": "orders-api-prod",
        "createdAfter": "2026-11-01T00:00:00Z",
        "since": "2026-11-01T00:00:00Z",
        "total": 6,
        "succeeded": 3,
        "failed": 2,
        "stopped": 1,
        "inProgress": 0,
        "medianDurationSeconds": 196.5,
        "changeFailureRate": 2 / 6,
        "complete": True,
    }
    assert (recent["total"], recent["failed"], recent["changeFailureRate"]) == (2, 1, 0.5)
    # The second window's deployments were read by the first: its only call is the list.
    assert upstream.calls("BatchGetDeployments") == 1


async def test_stats_want_a_created_after(gateway: httpx.AsyncClient) -> None:
    path = "/v1/applications/orders-api/deployment-groups/orders-api-prod/stats"
    missing = await gateway.get(path)
    dated = await gateway.get(f"{path}?createdAfter=2026-11-01")
    # A malformed `since` is refused even beside a good createdAfter (schemathesis found it).
    both = await gateway.get(f"{path}?createdAfter=2026-11-01T00:00:00Z&since=yesterday")
    assert missing.status_code == dated.status_code == both.status_code == 400
    assert missing.json()["code"] == dated.json()["code"] == "BAD_USER_INPUT"


async def test_the_deprecated_since_still_counts_and_says_it_is_deprecated(
    gateway: httpx.AsyncClient,
) -> None:
    path = "/v1/applications/orders-api/deployment-groups/orders-api-prod/stats"
    old = await gateway.get(f"{path}?since=2026-11-01T00:00:00Z")
    new = await gateway.get(f"{path}?createdAfter=2026-11-01T00:00:00Z")
    assert old.json() == new.json()
    assert old.headers["deprecation"] == "@1796515200"  # RFC 9745: 2026-12-06, 1.0.0
    assert old.headers["link"] == '</docs>; rel="deprecation"; type="text/html"'
    assert "sunset" not in old.headers  # no removal date set yet
    assert "deprecation" not in new.headers


def test_a_dated_deprecation_says_its_sunset() -> None:
    dated = Deprecated(
        since=datetime(2026, 12, 6, tzinfo=UTC), sunset=datetime(2027, 6, 6, tzinfo=UTC)
    )
    assert dated.headers()["Sunset"] == "Sun, 06 Jun 2027 00:00:00 GMT"  # RFC 8594: HTTP-date
    assert "Sunset" in dated.documented("`x`")
