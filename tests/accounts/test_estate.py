"""An organisation's estate through one gateway, as a platform team tries it: three
accounts against the emulator, which answers STS itself. prod is the gateway's own
identity; staging's role is assumed, and read in two regions; sandbox's role refuses."""

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.app import create_app
from service.codedeploy import REFUSAL_HOLD_SECONDS
from service.codedeploy.notifications import Notification
from service.emulator import Emulator, load_data, serve_emulator
from service.guard import hash_key
from service.live import Watchers
from service.settings import Settings
from tests.identity import IdentityProvider
from tests.support import FakeClock, Served, graphql, served

STAGING = "/v1/accounts/staging/regions"
SANDBOX_ROLE = "arn:aws:iam::333333333333:role/codedeploy-gateway-read"
OPS_KEY = "k3y-for-the-platform-team-0123456789abcdefABCDEFGHIJ"
STAGING_KEY = "k3y-for-the-staging-team-0123456789abcdefABCDEFGHIJ"
ACCOUNTS = {
    "default": "prod",
    "accounts": {
        "prod": {"accountId": "123456789012", "regions": ["us-east-1"]},
        "staging": {
            "roleArn": "arn:aws:iam::222222222222:role/codedeploy-gateway-read",
            "regions": ["us-east-1", "eu-west-1"],
        },
        "sandbox": {
            "roleArn": "arn:aws:iam::333333333333:role/codedeploy-gateway-read",
            "regions": ["us-east-1"],
        },
    },
}


@dataclass
class Estate:
    emulator: Emulator
    emulator_url: str
    gateway: Served
    ops: httpx.AsyncClient
    staging_team: httpx.AsyncClient
    clock: FakeClock

    def assumed(self) -> int:
        return self.emulator.calls["AssumeRole"]


@pytest.fixture
def accounts_file(tmp_path: Path) -> Path:
    path = tmp_path / "accounts.json"
    path.write_text(json.dumps(ACCOUNTS))
    return path


@pytest.fixture
async def estate(accounts_file: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Estate]:
    emulator = Emulator(load_data(), seed=0)
    async with serve_emulator(emulator) as url:
        # The standard service-specific variables, STS's included: nothing else points.
        monkeypatch.setenv("AWS_ENDPOINT_URL_CODEDEPLOY", url)
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", url)
        keys = {
            "ops": hash_key(OPS_KEY),
            "staging-team": {"sha256": hash_key(STAGING_KEY), "accounts": ["staging"]},
        }
        settings = Settings(auth="api-key", api_keys=json.dumps(keys), accounts_file=accounts_file)
        clock = FakeClock()
        async with (
            served(create_app(settings, clock=clock)) as gateway,
            httpx.AsyncClient(base_url=gateway.url, headers={"X-API-Key": OPS_KEY}) as ops,
            httpx.AsyncClient(
                base_url=gateway.url, headers={"X-API-Key": STAGING_KEY}
            ) as staging_team,
        ):
            yield Estate(emulator, url, gateway, ops, staging_team, clock)


async def test_each_account_and_region_reads_its_own_data(estate: Estate) -> None:
    prod = await estate.ops.get("/v1/deployments/d-EXAMPLE01")
    staging = await estate.ops.get(f"{STAGING}/us-east-1/deployments/d-STAGING01")
    europe = await estate.ops.get(
        f"{STAGING}/eu-west-1/deployments/d-STAGEEU01/instances/i-0c1d2e3f4a5b60001"
    )
    assert prod.json()["deploymentInfo"]["status"] == "Failed"
    assert staging.json()["deploymentInfo"]["status"] == "Succeeded"
    assert europe.json()["instanceSummary"]["status"] == "InProgress"
    # Each region holds only its own: staging's European deployment is not in us-east-1.
    elsewhere = await estate.ops.get(f"{STAGING}/us-east-1/deployments/d-STAGEEU01")
    assert elsewhere.json()["code"] == "DEPLOYMENT_NOT_FOUND"
    lists = await estate.ops.get(f"{STAGING}/eu-west-1/deployments")
    assert lists.json()["deployments"] == ["d-STAGEEU01"]


async def test_the_existing_routes_read_the_default_account(estate: Estate) -> None:
    default = await estate.ops.get("/v1/applications/orders-api/deployment-groups")
    named = await estate.ops.get(
        "/v1/accounts/prod/regions/us-east-1/applications/orders-api/deployment-groups"
    )
    staging = await estate.ops.get(f"{STAGING}/us-east-1/applications/orders-api/deployment-groups")
    assert default.json() == named.json()
    assert default.json()["deploymentGroups"] == ["orders-api-prod", "orders-api-staging"]
    assert staging.json()["deploymentGroups"] == ["orders-api-staging"]


async def test_one_deployment_id_in_two_accounts_is_two_entries(estate: Estate) -> None:
    async with httpx.AsyncClient(base_url=estate.emulator_url) as emulator:
        for account, status in (("123456789012", "Failed"), ("222222222222", "Succeeded")):
            await emulator.put(
                "/_emulator/deployments/d-SAME00001",
                params={"account": account, "region": "us-east-1"},
                json={"status": status},
            )
    prod = await estate.ops.get("/v1/deployments/d-SAME00001")
    staging = await estate.ops.get(f"{STAGING}/us-east-1/deployments/d-SAME00001")
    again = await estate.ops.get(f"{STAGING}/us-east-1/deployments/d-SAME00001")
    assert prod.json()["deploymentInfo"]["status"] == "Failed"
    assert staging.json()["deploymentInfo"]["status"] == "Succeeded"
    assert again.headers["x-cache"] == "HIT"


async def test_assumed_credentials_are_reused_across_calls(estate: Estate) -> None:
    fresh = {"Cache-Control": "no-cache"}
    for _ in range(5):
        for region, deployment in (("us-east-1", "d-STAGING01"), ("eu-west-1", "d-STAGEEU01")):
            response = await estate.ops.get(
                f"{STAGING}/{region}/deployments/{deployment}", headers=fresh
            )
            assert response.status_code == 200
    assert estate.emulator.calls["GetDeployment"] == 10
    assert estate.assumed() == 2  # one role, once in each region's STS


async def test_concurrent_first_calls_share_one_assume_role(estate: Estate) -> None:
    answers = await asyncio.gather(
        *(
            estate.ops.get(f"{STAGING}/eu-west-1/deployments/d-STAGEEU01/instances/i-{n}")
            for n in range(20)
        )
    )
    assert {answer.status_code for answer in answers} == {404}  # no such instances
    assert estate.assumed() == 1


async def test_an_unknown_account_or_region_is_404_without_a_call(estate: Estate) -> None:
    before = sum(estate.emulator.calls.values())
    account = await estate.ops.get("/v1/accounts/nope/regions/us-east-1/deployments")
    region = await estate.ops.get(f"{STAGING}/ap-south-1/deployments")
    assert (account.status_code, account.json()["code"]) == (404, "ACCOUNT_NOT_FOUND")
    assert (region.status_code, region.json()["code"]) == (404, "REGION_NOT_FOUND")
    assert account.headers["content-type"] == "application/problem+json"
    assert sum(estate.emulator.calls.values()) == before


async def test_sts_refusals_are_502_naming_only_the_alias(estate: Estate) -> None:
    response = await estate.ops.get("/v1/accounts/sandbox/regions/us-east-1/deployments")
    problem = response.json()
    assert response.status_code == 502
    assert (problem["code"], problem["upstreamCode"]) == ("UPSTREAM_ACCESS_DENIED", "AccessDenied")
    assert "'sandbox'" in problem["detail"]
    assert "arn:" not in response.text
    assert "333333333333" not in response.text
    # Kept a moment: asked again and again, a broken role costs STS one call a hold.
    for _ in range(5):
        again = await estate.ops.get("/v1/accounts/sandbox/regions/us-east-1/deployments")
        assert (again.status_code, again.json()["code"]) == (502, "UPSTREAM_ACCESS_DENIED")
    assert estate.assumed() == 1
    # Then STS is asked again, in case the trust policy was fixed.
    estate.clock.advance(REFUSAL_HOLD_SECONDS)
    estate.emulator.data.roles[SANDBOX_ROLE].refuse = None
    fixed = await estate.ops.get("/v1/accounts/sandbox/regions/us-east-1/deployments")
    assert fixed.status_code == 200
    assert estate.assumed() == 2
    registry = estate.gateway.state["metrics"].registry
    for outcome in ("AccessDenied", "ok"):
        where = {"account": "sandbox", "region": "us-east-1", "outcome": outcome}
        assert registry.get_sample_value("gateway_sts_assume_role_total", where) == 1


async def test_one_graphql_query_reads_two_accounts_beside_a_refused_one(estate: Estate) -> None:
    query = """{
      prod: deployment(deploymentId: "d-EXAMPLE01") { account region status }
      europe: deployment(deploymentId: "d-STAGEEU01", account: "staging", region: "eu-west-1") {
        account region status
        instances { edges { node { instanceId status } } }
      }
      staging: applications(account: "staging") { edges { node { applicationName region } } }
      sandbox: applications(account: "sandbox") { edges { node { applicationName } } }
      nowhere: deployment(deploymentId: "d-EXAMPLE01", account: "staging", region: "ap-south-1") {
        status
      }
      batch: deploymentInstances(deploymentId: "d-X", instanceIds: ["i-1"], account: "ghost") {
        status
      }
    }"""
    answer = await graphql(estate.ops, query)
    data = answer["data"]
    assert data["prod"] == {"account": "prod", "region": "us-east-1", "status": "FAILED"}
    assert data["europe"]["account"] == "staging"
    assert data["europe"]["instances"]["edges"][0]["node"]["status"] == "IN_PROGRESS"
    assert data["staging"]["edges"][0]["node"] == {
        "applicationName": "orders-api",
        "region": "us-east-1",
    }
    assert data["sandbox"] is None
    assert data["nowhere"] is None
    assert data["batch"] is None  # a list field fails alone too
    errors = {error["path"][0]: error for error in answer["errors"]}
    assert errors["sandbox"]["extensions"]["code"] == "UPSTREAM_ACCESS_DENIED"
    assert errors["batch"]["extensions"]["code"] == "ACCOUNT_NOT_FOUND"
    assert errors["sandbox"]["extensions"]["status"] == 502
    assert "333333333333" not in json.dumps(answer)
    assert "arn:" not in json.dumps(answer)
    assert errors["nowhere"]["extensions"]["code"] == "REGION_NOT_FOUND"


async def test_a_caller_granted_one_account_is_refused_the_others(
    estate: Estate, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "service.reads.routing")
    granted = await estate.staging_team.get(f"{STAGING}/us-east-1/deployments/d-STAGING01")
    default = await estate.staging_team.get("/v1/deployments/d-EXAMPLE01")
    named = await estate.staging_team.get("/v1/accounts/sandbox/regions/us-east-1/deployments")
    assert granted.status_code == 200
    for refused in (default, named):
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "FORBIDDEN"
    assert "key:staging-team may not read account 'prod'" in caplog.text
    # Not told the default account's alias, which it did not name.
    assert "prod" not in default.json()["detail"]
    assert default.json()["detail"] == "This caller may not read the default account."
    # Refused before anything was read: sandbox's role was never tried.
    assert estate.assumed() == 1


async def test_each_caller_lists_the_accounts_it_may_read(estate: Estate) -> None:
    everything = (await estate.ops.get("/v1/accounts")).json()
    assert everything == {
        "accounts": [
            {"account": "prod", "regions": ["us-east-1"], "default": True},
            {"account": "staging", "regions": ["us-east-1", "eu-west-1"], "default": False},
            {"account": "sandbox", "regions": ["us-east-1"], "default": False},
        ]
    }
    assert (await estate.staging_team.get("/v1/accounts")).json() == {
        "accounts": [
            {"account": "staging", "regions": ["us-east-1", "eu-west-1"], "default": False}
        ]
    }
    listed = await estate.staging_team.get("/v1/accounts")
    assert listed.headers["cache-control"] == "private, max-age=60"
    assert listed.headers["vary"] == "Authorization, X-API-Key"
    answer = await graphql(estate.staging_team, "{ accounts { account regions default } }")
    assert answer["data"]["accounts"] == [
        {"account": "staging", "regions": ["us-east-1", "eu-west-1"], "default": False}
    ]
    assert (await graphql(estate.ops, "{ accounts { account } }"))["data"]["accounts"] == [
        {"account": "prod"}, {"account": "staging"}, {"account": "sandbox"}
    ]  # fmt: skip
    assert estate.emulator.calls == {}  # from the configuration alone
    assert "arn:" not in json.dumps(everything)
    assert "2222" not in json.dumps(everything)


async def test_a_caller_learns_nothing_of_accounts_it_was_not_granted(estate: Estate) -> None:
    """Unknown, ungranted, or ungranted in a region it is not read in: one answer."""
    for path in (
        "/v1/accounts/ghost/regions/us-east-1/deployments",
        "/v1/accounts/prod/regions/us-east-1/deployments",
        "/v1/accounts/prod/regions/eu-west-1/deployments",
        "/v1/accounts/prod/regions/eu-west-1/deployments/d-EXAMPLE01/events",
        "/v1/accounts/prod/regions/us-east-1/deployments/d-EXAMPLE01/instances/i-0a1b2c3d4e5f60002",
    ):
        refused = await estate.staging_team.get(path)
        assert (refused.status_code, refused.json()["code"]) == (403, "FORBIDDEN"), path
    # Who may read every account is told which exist.
    ghost = await estate.ops.get("/v1/accounts/ghost/regions/us-east-1/deployments")
    assert ghost.json()["code"] == "ACCOUNT_NOT_FOUND"


async def test_graphql_refuses_an_ungranted_account_per_field(estate: Estate) -> None:
    query = """{
      mine: deployment(deploymentId: "d-STAGING01", account: "staging") { status }
      theirs: deployment(deploymentId: "d-EXAMPLE01") { status }
    }"""
    answer = await graphql(estate.staging_team, query)
    assert answer["data"] == {"mine": {"status": "SUCCEEDED"}, "theirs": None}
    (error,) = answer["errors"]
    assert error["path"] == ["theirs"]
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert error["extensions"]["status"] == 403
    # The platform team's answer to the same document is not the staging team's.
    full = await graphql(estate.ops, query)
    assert full["data"]["theirs"] == {"status": "FAILED"}


async def test_the_fast_path_keeps_grants(estate: Estate) -> None:
    path = f"{STAGING}/eu-west-1/deployments/d-STAGEEU01/instances/i-0c1d2e3f4a5b60001"
    first = await estate.ops.get(path)
    hit = await estate.ops.get(path)
    assert (first.headers["x-cache"], hit.headers["x-cache"]) == ("MISS", "HIT")
    default = "/v1/deployments/d-EXAMPLE01/instances/i-0a1b2c3d4e5f60002"
    by_account = "/v1/accounts/prod/regions/us-east-1" + default.removeprefix("/v1")
    assert (await estate.ops.get(default)).status_code == 200
    assert (await estate.ops.get(by_account)).headers["x-cache"] == "HIT"  # one entry
    for stored in (default, by_account):  # a stored answer, not this caller's
        assert (await estate.staging_team.get(stored)).status_code == 403


async def test_a_page_token_of_one_account_is_refused_in_another(estate: Estate) -> None:
    estate.emulator.page_size = 1
    estate.emulator.at("222222222222", "us-east-1").page_size = 1
    page = await estate.ops.get("/v1/deployments")
    token = page.json()["nextToken"]
    assert token
    elsewhere = await estate.ops.get(
        f"{STAGING}/us-east-1/deployments", params={"nextToken": token}
    )
    assert elsewhere.status_code == 400
    assert elsewhere.json()["code"] == "INVALID_CURSOR"


async def test_notifications_reach_the_account_and_region_they_came_from(estate: Estate) -> None:
    path = f"{STAGING}/eu-west-1/deployments/d-STAGEEU01"
    await estate.ops.get(path)
    await estate.ops.get("/v1/deployments/d-STAGEEU01")  # prod's 404, stored briefly
    watchers: Watchers = estate.gateway.state["watchers"]
    watchers.on_notification(Notification("d-STAGEEU01", None, "222222222222", "eu-west-1"))
    assert (await estate.ops.get(path)).headers["x-cache"] == "MISS"
    # Another account's event, or one from a region not read, leaves the rest alone.
    watchers.on_notification(Notification("d-STAGEEU01", None, "222222222222", "ap-south-1"))
    watchers.on_notification(Notification("d-STAGEEU01", None, "999999999999", "eu-west-1"))
    assert (await estate.ops.get(path)).headers["x-cache"] == "HIT"


async def test_a_jwt_grants_the_accounts_its_claim_lists(
    accounts_file: Path, idp: IdentityProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = Emulator(load_data(), seed=0)
    async with serve_emulator(emulator) as url:
        monkeypatch.setenv("AWS_ENDPOINT_URL_CODEDEPLOY", url)
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", url)
        settings = Settings(
            **idp.settings(jwt_accounts_claim="codedeploy/accounts"),
            accounts_file=accounts_file,
        )
        async with (
            served(create_app(settings)) as gateway,
            httpx.AsyncClient(base_url=gateway.url) as client,
        ):

            async def status(token: str, path: str) -> Any:
                response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
                return response.status_code

            claim = "codedeploy/accounts"
            listed = idp.token(**{claim: ["staging"]})  # type: ignore[arg-type]
            spaced = idp.token(**{claim: "prod staging"})  # type: ignore[arg-type]
            unlisted = idp.token()
            assert await status(listed, f"{STAGING}/us-east-1/deployments") == 200
            assert await status(listed, "/v1/deployments") == 403
            assert await status(spaced, "/v1/deployments") == 200
            assert await status(unlisted, "/v1/deployments") == 403  # no claim: no account
            # Only names an alias could be: "prod,staging" is no account, nor two; other
            # scopes beside the aliases grant nothing.
            for odd in (["prod,staging"], "prod,staging", "prod\u00a0staging"):
                assert await status(idp.token(**{claim: odd}), "/v1/deployments") == 403  # type: ignore[arg-type]
            scoped = idp.token(**{claim: "read:deployments staging"})  # type: ignore[arg-type]
            assert await status(scoped, f"{STAGING}/us-east-1/deployments") == 200
            assert await status(idp.token(**{claim: ["prod", {"a": 1}]}), "/v1/deployments") == 401  # type: ignore[arg-type]


async def test_live_updates_follow_a_deployment_in_its_account(estate: Estate) -> None:
    path = f"{STAGING}/us-east-1/deployments/d-STAGING01/events"
    async with estate.ops.stream("GET", path) as response:
        body = (await response.aread()).decode()
    assert response.status_code == 200
    assert body.count("event: instance") == 2  # then the end: the deployment finished
    subscription = """subscription($d: ID!) {
      deploymentEvents(deploymentId: $d, account: "staging") {
        __typename ... on DeploymentChanged { deployment { account status } }
      }
    }"""
    streamed = await estate.ops.post(
        "/graphql",
        json={"query": subscription, "variables": {"d": "d-STAGING01"}},
        headers={"Accept": "text/event-stream"},
    )
    first = json.loads(streamed.text.split("data: ", 1)[1].split("\n", 1)[0])
    assert first["data"]["deploymentEvents"]["deployment"] == {
        "account": "staging",
        "status": "SUCCEEDED",
    }
    assert "event: complete" in streamed.text
    refused = await estate.staging_team.post(
        "/graphql",
        json={"query": subscription.replace('"staging"', '"prod"'), "variables": {"d": "x"}},
        headers={"Accept": "text/event-stream"},
    )
    assert "FORBIDDEN" in refused.text


async def test_a_session_codedeploy_no_longer_recognises_is_assumed_again(estate: Estate) -> None:
    """The role's session forgotten upstream (revoked, or STS restarted): the next call
    assumes the role again and answers, rather than 502 until the session would expire."""
    first = await estate.ops.get(f"{STAGING}/us-east-1/deployments/d-STAGING01")
    assumed = estate.assumed()
    estate.emulator.sts._minted.clear()  # every session it issued, gone
    again = await estate.ops.get(
        f"{STAGING}/us-east-1/deployments/d-STAGING01", headers={"Cache-Control": "no-cache"}
    )
    assert first.status_code == 200
    assert again.status_code == 200, again.text
    assert estate.assumed() == assumed + 1
    # Rejected again at once (the role itself now failing): not assumed again in the hold.
    estate.emulator.sts._minted.clear()
    held = await estate.ops.get(
        f"{STAGING}/us-east-1/deployments/d-STAGING01", headers={"Cache-Control": "no-cache"}
    )
    assert held.status_code == 502
    assert held.json()["upstreamCode"] == "UnrecognizedClientException"
    assert estate.assumed() == assumed + 1


# One object of every kind a deployment of each account region holds.
OBJECTS = """query ($account: String, $region: String, $d: ID!) {
  application(applicationName: "orders-api", account: $account, region: $region) {
    id applicationName account region
    deploymentGroups(first: 1) { edges { node { id deploymentGroupName account region } } }
  }
  deployment(deploymentId: $d, account: $account, region: $region) {
    id deploymentId account region
    instances(first: 1) { edges { node { id instanceId account region } } }
    targets(first: 1) { edges { node { ... on Target { id targetId account region } } } }
  }
}"""
TARGETS = """query ($d: ID!) { deployment(deploymentId: $d) {
  targets(first: 1) { edges { node { ... on Target { id targetId account region } } } }
} }"""
READ_AGAIN = """query ($ids: [ID!]!) { nodes(ids: $ids) {
  id
  ... on Application { applicationName account region }
  ... on DeploymentGroup { deploymentGroupName account region }
  ... on Deployment { deploymentId account region }
  ... on InstanceSummary { instanceId account region }
  ... on Target { targetId account region }
} }"""
ROUTES = [  # (account, region, an EC2 deployment there); None: the default
    (None, None, "d-EXAMPLE01"),
    ("prod", "us-east-1", "d-EXAMPLE01"),
    ("staging", None, "d-STAGING01"),
    ("staging", "eu-west-1", "d-STAGEEU01"),
]


def with_ids(data: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(data, dict):
        if "id" in data:
            found.append({key: value for key, value in data.items() if not isinstance(value, dict)})
        for value in data.values():
            found += with_ids(value)
    elif isinstance(data, list):
        for item in data:
            found += with_ids(item)
    return found


async def test_every_object_of_every_account_is_read_again_by_its_id(estate: Estate) -> None:
    listed: dict[tuple[str | None, str | None], list[dict[str, Any]]] = {}
    for account, region, deployment in ROUTES:
        answer = await graphql(estate.ops, OBJECTS, account=account, region=region, d=deployment)
        assert "errors" not in answer, answer
        listed[account, region] = with_ids(answer["data"])
        assert len(listed[account, region]) == 5  # application, group, deployment, fleet
    for deployment in ("d-EXAMPLE03", "d-EXAMPLE05"):  # Lambda's and ECS's targets
        listed[None, None] += with_ids((await graphql(estate.ops, TARGETS, d=deployment))["data"])
    # The default account's objects have the ids they have when it is named.
    assert [each["id"] for each in listed[None, None][:5]] == [
        each["id"] for each in listed["prod", "us-east-1"]
    ]
    originals = [each for objects in listed.values() for each in objects]
    assert len({each["id"] for each in originals}) == len(originals) - 5
    answer = await graphql(estate.ops, READ_AGAIN, ids=[each["id"] for each in originals])
    assert "errors" not in answer, answer
    assert answer["data"]["nodes"] == originals
    # One granted staging alone reads staging's and is refused the others, each alone.
    theirs = await graphql(estate.staging_team, READ_AGAIN, ids=[each["id"] for each in originals])
    for original, read in zip(originals, theirs["data"]["nodes"], strict=True):
        assert read == (original if original["account"] == "staging" else None)
    refused = {error["extensions"]["code"] for error in theirs["errors"]}
    assert refused == {"FORBIDDEN"}
