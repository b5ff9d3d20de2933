"""The assembled app: documentation pages, OpenAPI, local mode, problem+json everywhere."""

import base64
import hashlib
import re

import httpx
import pytest
from asgi_lifespan import LifespanManager

from service.app import create_app
from service.health import Health
from service.settings import Settings
from tests.support import Upstream

ASSET = re.compile(r'(?:src|href)="(/static/[^"]+)"(?:\s+integrity="([^"]+)")?')


async def test_swagger_ui_is_served_without_a_cdn(gateway: httpx.AsyncClient) -> None:
    page = await gateway.get("/docs")
    assert page.status_code == 200
    assert "https://" not in re.sub(r"<script>.*?</script>", "", page.text, flags=re.S)
    assets = ASSET.findall(page.text)
    assert {path.rsplit("/", 1)[-1] for path, _ in assets} >= {
        "swagger-ui-bundle.js",
        "swagger-ui.css",
    }
    for path, _ in assets:
        assert (await gateway.get(path)).status_code == 200, path


async def test_graphiql_assets_are_served_and_match_their_sri_hashes(
    gateway: httpx.AsyncClient,
) -> None:
    page = await gateway.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "unpkg.com" not in page.text
    assert 'deploymentId: \\"d-EXAMPLE01\\"' in page.text
    assets = ASSET.findall(page.text)
    assert len(assets) == 7
    for path, integrity in assets:
        asset = await gateway.get(path)
        digest = base64.b64encode(hashlib.sha384(asset.content).digest()).decode()
        assert integrity == f"sha384-{digest}", path


async def test_openapi_documents_every_error_as_problem_json(gateway: httpx.AsyncClient) -> None:
    document = (await gateway.get("/openapi.json")).json()
    default = {
        "/v1/deployments/{deploymentId}",
        "/v1/deployments/{deploymentId}/instances",
        "/v1/deployments/{deploymentId}/instance-summaries",
        "/v1/deployments/{deploymentId}/instances:batchGet",
        "/v1/deployments/{deploymentId}/instances/{instanceId}",
        "/v1/deployments/{deploymentId}/targets/{targetId}",
        "/v1/deployments/{deploymentId}/targets",
        "/v1/deployments/{deploymentId}/target-summaries",
        "/v1/deployments/{deploymentId}/targets:batchGet",
        "/v1/deployments/{deploymentId}/events",
        "/v1/applications/{applicationName}/deployment-groups/{deploymentGroupName}/events",
        "/v1/applications/{applicationName}/events",
        "/v1/applications",
        "/v1/applications/{applicationName}",
        "/v1/applications/{applicationName}/deployment-groups",
        "/v1/applications/{applicationName}/deployment-group-summaries",
        "/v1/applications/{applicationName}/deployment-groups/{deploymentGroupName}",
        "/v1/applications/{applicationName}/deployment-groups/{deploymentGroupName}/stats",
        "/v1/deployments",
        "/v1/deployment-summaries",
    }
    by_account = {"/v1/accounts/{account}/regions/{region}" + p[3:] for p in default}
    assert set(document["paths"]) == default | by_account | {"/v1/accounts", "/healthz", "/readyz"}
    for name, path in document["paths"].items():
        for operation in path.values():
            responses = operation["responses"]
            # These two name nothing; the list of accounts asks nothing of AWS.
            if name.startswith("/v1/") and name not in {"/v1/applications", "/v1/accounts"}:
                assert {"400", "404", "429", "502", "504"} <= set(responses)
            # Every operation, the probes too: the edge's 431 comes before any route.
            assert "431" in responses
            assert operation["description"]
            for status, response in responses.items():
                if status[0] in "45":
                    content = response["content"]
                    assert set(content) == {"application/problem+json"}
                    assert content["application/problem+json"]["example"]["status"] == int(status)
                    assert content["application/problem+json"]["schema"] == {
                        "$ref": "#/components/schemas/Problem"
                    }
    instance = document["paths"]["/v1/deployments/{deploymentId}/instances/{instanceId}"]["get"]
    assert {"200", "304", "422"} <= set(instance["responses"])
    assert instance["responses"]["200"]["content"]["application/json"]["example"]["instanceSummary"]
    parameters = {p["name"]: p for p in instance["parameters"]}
    assert parameters["deploymentId"]["examples"]["in-place"]["value"] == "d-EXAMPLE01"


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/nowhere", 404, "ROUTE_NOT_FOUND"),
        ("DELETE", "/v1/deployments/d-EXAMPLE01/instances/i-1", 405, "METHOD_NOT_ALLOWED"),
    ],
)
async def test_routing_errors_are_problem_json(
    gateway: httpx.AsyncClient, method: str, path: str, status: int, code: str
) -> None:
    response = await gateway.request(method, path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code


async def test_local_mode_serves_the_demo_data_without_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"):
        monkeypatch.delenv(name)
    app = create_app(Settings(local=True))
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://t"
        ) as client,
    ):
        response = await client.get("/v1/deployments/d-EXAMPLE01/instances/i-0a1b2c3d4e5f60002")
    assert response.status_code == 200
    assert response.json()["instanceSummary"]["status"] == "Failed"


async def test_liveness_and_readiness_answer_without_calling_aws(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    live = await gateway.get("/healthz")
    ready = await gateway.get("/readyz")
    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    assert upstream.calls() == 0


async def test_readiness_is_503_while_draining(
    upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    health = Health()
    app = create_app(Settings(auth="none"), health=health)
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://t"
        ) as client,
    ):
        health.draining = True
        draining = await client.get("/readyz")
        still_serving = await client.get(
            "/v1/deployments/d-EXAMPLE01/instances/i-0a1b2c3d4e5f60002"
        )
    assert (draining.status_code, draining.json()["code"]) == (503, "NOT_READY")
    assert draining.headers["content-type"] == "application/problem+json"
    assert still_serving.status_code == 200
    assert not health.started


async def test_operations_have_codedeploy_style_ids_and_the_document_a_server(
    gateway: httpx.AsyncClient,
) -> None:
    document = (await gateway.get("/openapi.json")).json()
    ids = {
        operation["operationId"]
        for path in document["paths"].values()
        for operation in path.values()
    }
    default = {
        "GetDeployment",
        "ListDeploymentInstances",
        "ListDeploymentInstanceSummaries",
        "BatchGetDeploymentInstances",
        "GetDeploymentInstance",
        "GetDeploymentTarget",
        "ListDeploymentTargets",
        "ListDeploymentTargetSummaries",
        "BatchGetDeploymentTargets",
        "StreamDeploymentEvents",
        "StreamDeploymentGroupEvents",
        "StreamApplicationEvents",
        "ListApplications",
        "GetApplication",
        "ListDeploymentGroups",
        "ListDeploymentGroupSummaries",
        "GetDeploymentGroup",
        "GetDeploymentGroupStats",
        "ListDeployments",
        "ListDeploymentSummaries",
    }
    by_account = {f"{name}InAccount" for name in default}
    assert ids == default | by_account | {"ListAccounts", "Healthz", "Readyz"}
    assert document["servers"] == [{"url": "/", "description": "this gateway"}]


async def test_each_route_shows_its_own_errors_and_required_fields(
    gateway: httpx.AsyncClient,
) -> None:
    document = (await gateway.get("/openapi.json")).json()

    def example(path: str, status: str) -> str:
        content = document["paths"][path]["get"]["responses"][status]["content"]
        code: str = content["application/problem+json"]["example"]["code"]
        return code

    assert example("/v1/deployments/{deploymentId}", "404") == "DEPLOYMENT_NOT_FOUND"
    assert example("/v1/deployments/{deploymentId}/instances", "404") == "DEPLOYMENT_NOT_FOUND"
    target = "/v1/deployments/{deploymentId}/targets/{targetId}"
    assert example(target, "404") == "TARGET_NOT_FOUND"
    instance = "/v1/deployments/{deploymentId}/instances/{instanceId}"
    assert example(instance, "404") == "INSTANCE_NOT_FOUND"
    schemas = document["components"]["schemas"]
    assert "lifecycleEvents" in schemas["InstanceSummary"]["required"]
    assert "lifecycleEvents" in schemas["LambdaTarget"]["required"]
