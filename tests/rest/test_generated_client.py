"""The OpenAPI document as a client generator nobody here wrote sees it:
openapi-python-client generates a package, and that package calls every operation of the
running gateway and parses every answer, documented errors included."""

import importlib
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import FAILED

pytestmark = pytest.mark.processes

GENERATOR = Path(sys.executable).with_name("openapi-python-client")


@pytest.fixture(scope="module")
def generated(local_gateway: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    root = tmp_path_factory.mktemp("generated")
    document = root / "openapi.json"
    document.write_bytes(httpx.get(f"{local_gateway}/openapi.json").content)
    config = root / "config.yaml"
    config.write_text("post_hooks: []\n")  # no formatter run: the code is used, not read
    generation = subprocess.run(
        [GENERATOR, "generate", "--path", document, "--output-path", root / "gateway_client",
         "--meta", "none", "--config", config],
        check=True,
        capture_output=True,
        text=True,
    )  # fmt: skip
    # It says what it could not read well (a union it cannot name, a schema it skips).
    assert "warning" not in (generation.stdout + generation.stderr).lower(), generation.stdout
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module("gateway_client")
    finally:
        sys.path.remove(str(root))
        for name in [name for name in sys.modules if name.startswith("gateway_client")]:
            del sys.modules[name]


def api(generated: Any, module: str) -> Any:
    """One operation's module: named by its operationId, under its tag, as a generator
    names them."""
    for group in ("deployments", "discovery", "accounts", "operations", "by_account_and_region"):
        try:
            return importlib.import_module(f"gateway_client.api.{group}.{module}")
        except ModuleNotFoundError:
            continue
    raise ModuleNotFoundError(module)


def test_every_operation_has_a_clean_name(generated: Any) -> None:
    package = Path(generated.__file__).parent / "api"
    modules = {path.stem for path in package.rglob("*.py") if path.stem != "__init__"}
    default = {
        "get_deployment",
        "list_deployment_instances",
        "list_deployment_instance_summaries",
        "batch_get_deployment_instances",
        "get_deployment_instance",
        "get_deployment_target",
        "list_deployment_targets",
        "list_deployment_target_summaries",
        "batch_get_deployment_targets",
        "stream_deployment_events",
        "stream_deployment_group_events",
        "stream_application_events",
        "list_applications",
        "get_application",
        "list_deployment_groups",
        "list_deployment_group_summaries",
        "get_deployment_group",
        "get_deployment_group_stats",
        "list_deployments",
        "list_deployment_summaries",
    }
    probes = {"healthz", "readyz"}
    mirrored = {f"{name}_in_account" for name in default}
    assert modules == default | mirrored | probes | {"list_accounts"}


def test_the_generated_client_calls_every_operation(generated: Any, local_gateway: str) -> None:
    with generated.Client(base_url=local_gateway) as client:
        calls_every_operation(generated, client)


def calls_every_operation(generated: Any, client: Any) -> None:
    models = importlib.import_module("gateway_client.models")

    instance = api(generated, "get_deployment_instance").sync(
        deployment_id=FAILED[0], instance_id=FAILED[1], client=client
    )
    assert instance.instance_summary.status == "Failed"
    events = instance.instance_summary.lifecycle_events
    assert "ScriptFailed" in [event.diagnostics.error_code for event in events if event.diagnostics]

    page = api(generated, "list_deployment_instances").sync(
        deployment_id="d-EXAMPLE04", client=client, status=[models.InstanceStatus.FAILED]
    )
    assert page.instances_list == ["i-0f1e2d3c4b5a00040"]
    read = api(generated, "list_deployment_instance_summaries").sync(
        deployment_id="d-EXAMPLE04", client=client, status=[models.InstanceStatus.FAILED]
    )
    assert isinstance(read, models.ListDeploymentInstanceSummariesOutput)  # one shape, typed
    assert [summary.status for summary in read.instances_summary] == ["Failed"]

    batch = api(generated, "batch_get_deployment_instances").sync(
        deployment_id=FAILED[0],
        client=client,
        body=models.BatchGetRequest(instance_ids=[FAILED[1], "i-nothere"]),
    )
    assert [summary.instance_id for summary in batch.instances_summary] == [FAILED[1]]
    assert [(error.id, error.code) for error in batch.errors] == [
        ("i-nothere", models.ErrorCode.INSTANCE_NOT_FOUND)
    ]

    deployment = api(generated, "get_deployment").sync(deployment_id="d-EXAMPLE04", client=client)
    assert deployment.deployment_info.status == "InProgress"

    target = api(generated, "get_deployment_target").sync(
        deployment_id="d-EXAMPLE03", target_id="pricing-fn:live", client=client
    )
    assert target.deployment_target.lambda_target.lambda_function_info.target_version == "42"
    targets = api(generated, "list_deployment_targets").sync(
        deployment_id="d-EXAMPLE03", client=client
    )
    assert targets.target_ids == ["pricing-fn:live"]
    read_targets = api(generated, "list_deployment_target_summaries").sync(
        deployment_id="d-EXAMPLE03", client=client
    )
    assert read_targets.deployment_targets[0].lambda_target.target_id == "pricing-fn:live"
    read = api(generated, "batch_get_deployment_targets").sync(
        deployment_id="d-EXAMPLE03",
        client=client,
        body=models.BatchGetTargetsRequest(target_ids=["pricing-fn:live", "nope"]),
    )
    assert [item.lambda_target.target_id for item in read.deployment_targets] == ["pricing-fn:live"]
    assert [error.id for error in read.errors] == ["nope"]

    applications = api(generated, "list_applications").sync(client=client)
    assert "orders-api" in applications.applications
    application = api(generated, "get_application").sync(
        application_name="orders-api", client=client
    )
    assert application.application.compute_platform == "Server"
    groups = api(generated, "list_deployment_groups").sync(
        application_name="orders-api", client=client
    )
    assert groups.deployment_groups == ["orders-api-prod", "orders-api-staging"]
    read_groups = api(generated, "list_deployment_group_summaries").sync(
        application_name="orders-api", client=client
    )
    assert [info.deployment_group_name for info in read_groups.deployment_groups_info] == [
        "orders-api-prod",
        "orders-api-staging",
    ]
    group = api(generated, "get_deployment_group").sync(
        application_name="orders-api", deployment_group_name="orders-api-prod", client=client
    )
    assert group.deployment_group_info.last_attempted_deployment.deployment_id == FAILED[0]
    stats = api(generated, "get_deployment_group_stats").sync(
        application_name="orders-api",
        deployment_group_name="orders-api-prod",
        since=datetime(2026, 11, 1, tzinfo=UTC),
        client=client,
    )
    assert (stats.total, stats.failed, stats.complete) == (6, 2, True)
    history = api(generated, "list_deployments").sync(
        client=client,
        application_name="orders-api",
        deployment_group_name="orders-api-prod",
        status=[models.DeploymentStatus.FAILED],
    )
    assert history.deployments == [FAILED[0], "d-HIST00003"]
    read_history = api(generated, "list_deployment_summaries").sync(
        client=client,
        application_name="orders-api",
        deployment_group_name="orders-api-prod",
        status=[models.DeploymentStatus.FAILED],
    )
    assert [info.deployment_id for info in read_history.deployments_info] == history.deployments

    # A finished deployment's stream is its whole picture, then the end.
    stream = api(generated, "stream_deployment_events").sync_detailed(
        deployment_id=FAILED[0], client=client
    )
    assert stream.status_code == 200
    assert stream.content.startswith(b"id: ")
    # A group's and an application's streams never end: asked of what does not exist.
    group = api(generated, "stream_deployment_group_events").sync_detailed(
        application_name="orders-api", deployment_group_name="nope", client=client
    )
    assert (group.status_code, type(group.parsed).__name__) == (404, "Problem")
    application = api(generated, "stream_application_events").sync_detailed(
        application_name="nope", client=client
    )
    assert (application.status_code, type(application.parsed).__name__) == (404, "Problem")
    assert b"event: instance" in stream.content

    listed = api(generated, "list_accounts").sync(client=client)
    assert [(info.account, info.default) for info in listed.accounts] == [
        ("prod", True),
        ("staging", False),
        ("sandbox", False),
    ]

    assert api(generated, "healthz").sync_detailed(client=client).status_code == 200
    assert api(generated, "readyz").sync_detailed(client=client).status_code == 200
    calls_every_operation_in_an_account(generated, client)


def calls_every_operation_in_an_account(generated: Any, client: Any) -> None:
    """The demo's staging account: its own data in each of its two regions."""
    models = importlib.import_module("gateway_client.models")
    europe = {"account": "staging", "region": "eu-west-1", "client": client}
    us = {"account": "staging", "region": "us-east-1", "client": client}
    deployment, instance = "d-STAGEEU01", "i-0c1d2e3f4a5b60001"

    def call(operation: str, **arguments: Any) -> Any:
        response = api(generated, f"{operation}_in_account").sync_detailed(**arguments)
        assert response.status_code == 200, (operation, response.content)
        return response.parsed

    def call_refused(operation: str, **arguments: Any) -> int:
        response = api(generated, f"{operation}_in_account").sync_detailed(**arguments)
        assert type(response.parsed).__name__ == "Problem", (operation, response.content)
        return int(response.status_code)

    summary = call(
        "get_deployment_instance", deployment_id=deployment, instance_id=instance, **europe
    )
    assert summary.instance_summary.status == "InProgress"
    page = call("list_deployment_instances", deployment_id=deployment, **europe)
    assert page.instances_list == [instance]
    read = call("list_deployment_instance_summaries", deployment_id=deployment, **europe)
    assert [item.instance_id for item in read.instances_summary] == [instance]
    read = call("list_deployment_target_summaries", deployment_id=deployment, **europe)
    assert [item.instance_target.target_id for item in read.deployment_targets] == [instance]
    body = models.BatchGetRequest(instance_ids=[instance])
    batch = call("batch_get_deployment_instances", deployment_id=deployment, body=body, **europe)
    assert [item.instance_id for item in batch.instances_summary] == [instance]
    assert (
        call("get_deployment", deployment_id=deployment, **europe).deployment_info.status
        == "InProgress"
    )
    target = call("get_deployment_target", deployment_id=deployment, target_id=instance, **europe)
    assert target.deployment_target.instance_target.status == "InProgress"
    assert call("list_deployment_targets", deployment_id=deployment, **europe).target_ids == [
        instance
    ]
    body = models.BatchGetTargetsRequest(target_ids=[instance])
    read = call("batch_get_deployment_targets", deployment_id=deployment, body=body, **europe)
    assert [item.instance_target.target_id for item in read.deployment_targets] == [instance]
    assert call("list_applications", **us).applications == ["orders-api"]
    assert (
        call("get_application", application_name="orders-api", **us).application.compute_platform
        == "Server"
    )
    groups = call("list_deployment_groups", application_name="orders-api", **us)
    assert groups.deployment_groups == ["orders-api-staging"]
    read = call("list_deployment_group_summaries", application_name="orders-api", **us)
    assert [info.deployment_group_name for info in read.deployment_groups_info] == [
        "orders-api-staging"
    ]
    group = call(
        "get_deployment_group",
        application_name="orders-api",
        deployment_group_name="orders-api-staging",
        **us,
    )
    assert group.deployment_group_info.deployment_group_name == "orders-api-staging"
    stats = call(
        "get_deployment_group_stats",
        application_name="orders-api",
        deployment_group_name="orders-api-staging",
        since=datetime(2026, 11, 1, tzinfo=UTC),
        **us,
    )
    assert (stats.total, stats.succeeded) == (1, 1)
    assert call("list_deployments", **us).deployments == ["d-STAGING01"]
    read = call("list_deployment_summaries", **us)
    assert [info.deployment_id for info in read.deployments_info] == ["d-STAGING01"]
    stream = api(generated, "stream_deployment_events_in_account").sync_detailed(
        deployment_id="d-STAGING01", **us
    )
    assert b"event: instance" in stream.content
    missing = call_refused(
        "stream_deployment_group_events",
        application_name="orders-api",
        deployment_group_name="nope",
        **us,
    )
    assert missing == 404
    assert call_refused("stream_application_events", application_name="nope", **us) == 404


@pytest.mark.parametrize(
    ("operation", "arguments", "status", "code"),
    [
        ("get_deployment_instance", {"deployment_id": FAILED[0], "instance_id": "i-gone"}, 404, "INSTANCE_NOT_FOUND"),
        ("get_deployment", {"deployment_id": "d-NOTTHERE1"}, 404, "DEPLOYMENT_NOT_FOUND"),
        ("get_deployment", {"deployment_id": "bad id!"}, 400, "BAD_USER_INPUT"),
        ("get_deployment_instance", {"deployment_id": "d-EXAMPLE03", "instance_id": "i-1"}, 422, "UNSUPPORTED_COMPUTE_PLATFORM"),
        ("list_deployment_instances", {"deployment_id": "d-EXAMPLE04", "next_token": "forged"}, 400, "INVALID_CURSOR"),
        ("get_deployment_in_account", {"deployment_id": "d-STAGING01", "account": "nope", "region": "us-east-1"}, 404, "ACCOUNT_NOT_FOUND"),
        ("get_deployment_in_account", {"deployment_id": "d-STAGING01", "account": "staging", "region": "ap-south-1"}, 404, "REGION_NOT_FOUND"),
        ("get_deployment_in_account", {"deployment_id": "d-STAGING01", "account": "sandbox", "region": "us-east-1"}, 502, "UPSTREAM_ACCESS_DENIED"),
    ],
)  # fmt: skip
def test_the_generated_client_parses_documented_errors(
    generated: Any,
    local_gateway: str,
    operation: str,
    arguments: dict[str, Any],
    status: int,
    code: str,
) -> None:
    with generated.Client(base_url=local_gateway) as client:
        response = api(generated, operation).sync_detailed(client=client, **arguments)
    assert response.status_code == status
    assert type(response.parsed).__name__ == "Problem"
    assert response.parsed.status == status
    assert (
        response.parsed.additional_properties.get("code", getattr(response.parsed, "code", None))
        == code
    )
