"""Every row of the CodeDeploy error mapping, through REST and GraphQL alike."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest

from service.emulator.data import InjectedError
from tests.support import (
    ACCESS_KEY_ID,
    FAILED,
    INSTANCE_QUERY,
    SECRET_ACCESS_KEY,
    GatewayFactory,
    Upstream,
    deadline,
    graphql,
)


@dataclass
class Answer:
    status: int
    code: str
    upstream_code: str | None
    detail: str
    request_id: str | None
    raw: str
    headers: httpx.Headers


async def via_rest(client: httpx.AsyncClient, deployment_id: str, instance_id: str) -> Answer:
    response = await client.get(f"/v1/deployments/{deployment_id}/instances/{instance_id}")
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == response.status_code
    assert body["type"].startswith("urn:codedeploy-gateway:problem:")
    assert body["title"]
    return Answer(
        response.status_code,
        body["code"],
        body.get("upstreamCode"),
        body["detail"],
        body.get("requestId"),
        response.text,
        response.headers,
    )


async def via_graphql(client: httpx.AsyncClient, deployment_id: str, instance_id: str) -> Answer:
    body = await graphql(client, INSTANCE_QUERY, d=deployment_id, i=instance_id)
    assert body["data"] == {"deploymentInstance": None}
    [error] = body["errors"]
    assert error["path"] == ["deploymentInstance"]
    extensions = error["extensions"]
    return Answer(
        extensions["status"],
        extensions["code"],
        extensions.get("upstreamCode"),
        error["message"],
        extensions.get("requestId"),
        str(body),
        httpx.Headers(),
    )


Face = Callable[[httpx.AsyncClient, str, str], Awaitable[Answer]]
FACES = [pytest.param(via_rest, id="rest"), pytest.param(via_graphql, id="graphql")]

AWS_MESSAGE = (
    "User: arn:aws:sts::123456789012:assumed-role/gateway-role/i-0abc is not authorized "
    "to perform: codedeploy:GetDeploymentInstance"
)

CALLER_ROWS = [
    ("DeploymentIdRequiredException", "BAD_USER_INPUT", 400),
    ("InstanceIdRequiredException", "BAD_USER_INPUT", 400),
    ("InvalidDeploymentIdException", "BAD_USER_INPUT", 400),
    ("InvalidInstanceNameException", "BAD_USER_INPUT", 400),
    ("DeploymentDoesNotExistException", "DEPLOYMENT_NOT_FOUND", 404),
    ("InstanceDoesNotExistException", "INSTANCE_NOT_FOUND", 404),
    ("InvalidComputePlatformException", "UNSUPPORTED_COMPUTE_PLATFORM", 422),
]


def inject(
    upstream: Upstream, code: str, message: str = "as CodeDeploy said it", status: int = 400
) -> None:
    upstream.emulator.data.errors["/".join(FAILED)] = InjectedError(
        type=code, message=message, status=status
    )


@pytest.mark.parametrize("face", FACES)
@pytest.mark.parametrize(("aws", "code", "status"), CALLER_ROWS)
async def test_caller_errors_keep_codedeploys_message(
    face: Face, aws: str, code: str, status: int, gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    inject(upstream, aws)
    answer = await face(gateway, *FAILED)
    assert (answer.status, answer.code, answer.detail) == (status, code, "as CodeDeploy said it")
    assert answer.upstream_code == aws
    assert answer.request_id


@pytest.mark.parametrize("face", FACES)
@pytest.mark.parametrize(
    ("deployment_id", "instance_id", "status", "code"),
    [
        ("not-a-deployment", "i-1", 400, "BAD_USER_INPUT"),
        ("d-NOTHERE00", "i-1", 404, "DEPLOYMENT_NOT_FOUND"),
        ("d-EXAMPLE01", "i-nothere", 404, "INSTANCE_NOT_FOUND"),
        ("d-EXAMPLE03", "i-1", 422, "UNSUPPORTED_COMPUTE_PLATFORM"),
    ],
)
async def test_emulator_validation_maps_like_codedeploy(
    face: Face,
    deployment_id: str,
    instance_id: str,
    status: int,
    code: str,
    gateway: httpx.AsyncClient,
) -> None:
    answer = await face(gateway, deployment_id, instance_id)
    assert (answer.status, answer.code) == (status, code)


# An empty path segment matches no REST route; GraphQL can send empty ids.
@pytest.mark.parametrize(
    ("deployment_id", "instance_id", "code"),
    [
        ("", "i-1", "BAD_USER_INPUT"),
        ("d-EXAMPLE01", "", "BAD_USER_INPUT"),
    ],
)
async def test_empty_ids_are_400_in_graphql(
    deployment_id: str, instance_id: str, code: str, gateway: httpx.AsyncClient
) -> None:
    answer = await via_graphql(gateway, deployment_id, instance_id)
    assert (answer.status, answer.code) == (400, code)


@pytest.mark.parametrize("face", FACES)
@pytest.mark.parametrize(
    "code",
    ["ThrottlingException", "Throttling", "RequestLimitExceeded", "TooManyRequestsException"],
)
async def test_throttling_after_retries_is_429(
    face: Face, code: str, upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    inject(upstream, code)
    async with make_gateway(upstream_max_attempts=1) as gateway:
        answer = await face(gateway, *FAILED)
    assert (answer.status, answer.code, answer.upstream_code) == (429, "THROTTLED", code)
    if face is via_rest:
        assert answer.headers["retry-after"] == "1"
        assert answer.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("face", FACES)
async def test_deadline_spent_on_throttling_is_429(
    face: Face, upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    upstream.emulator.faults.throttle_rate = 1.0
    async with make_gateway(upstream_max_attempts=10, upstream_timeout_seconds=0.3) as gateway:
        answer = await face(gateway, *FAILED)
    assert answer.status == 429
    assert upstream.calls() >= 1


@pytest.mark.parametrize("face", FACES)
@pytest.mark.parametrize(
    "code",
    [
        "AccessDeniedException",
        "AccessDenied",
        "UnrecognizedClientException",
        "ExpiredTokenException",
        "InvalidSignatureException",
    ],
)
async def test_identity_errors_are_502_without_awss_text(
    face: Face, code: str, gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    inject(upstream, code, message=AWS_MESSAGE)
    answer = await face(gateway, *FAILED)
    assert (answer.status, answer.code, answer.upstream_code) == (
        502,
        "UPSTREAM_ACCESS_DENIED",
        code,
    )
    assert "arn:aws" not in answer.raw
    assert "123456789012" not in answer.raw
    assert "identity" in answer.detail


@pytest.mark.parametrize("face", FACES)
async def test_missing_credentials_are_502(
    face: Face, upstream: Upstream, make_gateway: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    async with make_gateway() as gateway:
        answer = await face(gateway, *FAILED)
    assert (answer.status, answer.code) == (502, "UPSTREAM_ACCESS_DENIED")
    assert upstream.calls() == 0


FAULTS = [
    pytest.param({"error_rate": 1.0}, 502, "UPSTREAM_ERROR", id="5xx"),
    pytest.param({"not_json_rate": 1.0}, 502, "UPSTREAM_INVALID_RESPONSE", id="not-json"),
    pytest.param({"truncated_rate": 1.0}, 502, "UPSTREAM_UNAVAILABLE", id="truncated"),
    pytest.param({"latency_seconds": 0.6}, 504, "UPSTREAM_TIMEOUT", id="deadline"),
    pytest.param({"throttle_rate": 1.0}, 429, "THROTTLED", id="throttled"),
]


def set_faults(upstream: Upstream, fault: dict[str, float]) -> None:
    for name, value in fault.items():
        setattr(upstream.emulator.faults, name, value)


@pytest.mark.parametrize("face", FACES)
@pytest.mark.parametrize(("fault", "status", "code"), FAULTS)
async def test_upstream_faults_map_to_their_status(
    face: Face,
    fault: dict[str, float],
    status: int,
    code: str,
    upstream: Upstream,
    make_gateway: GatewayFactory,
) -> None:
    set_faults(upstream, fault)
    async with make_gateway(
        upstream_max_attempts=1, upstream_timeout_seconds=deadline(fault)
    ) as gateway:
        answer = await face(gateway, *FAILED)
    assert (answer.status, answer.code) == (status, code)


async def test_5xx_is_retried_up_to_the_total_attempts(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    upstream.emulator.faults.error_rate = 1.0
    async with make_gateway(upstream_max_attempts=2) as gateway:
        answer = await via_rest(gateway, *FAILED)
    assert answer.status == 502
    assert upstream.calls() == 2


@pytest.mark.parametrize("face", FACES)
async def test_unreachable_upstream_is_502(
    face: Face, make_gateway: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Port 9 (discard) on loopback: nothing listens, the connection is refused.
    monkeypatch.setenv("AWS_ENDPOINT_URL_CODEDEPLOY", "http://127.0.0.1:9")
    async with make_gateway(upstream_max_attempts=1) as gateway:
        answer = await face(gateway, *FAILED)
    assert (answer.status, answer.code) == (502, "UPSTREAM_UNAVAILABLE")


@pytest.mark.parametrize("face", FACES)
async def test_unknown_error_code_is_502(
    face: Face, gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    inject(upstream, "BrandNewException", message="something new")
    answer = await face(gateway, *FAILED)
    assert (answer.status, answer.code) == (502, "UPSTREAM_ERROR")
    assert answer.upstream_code == "BrandNewException"


async def test_no_credential_or_aws_text_reaches_bodies_or_logs(
    gateway: httpx.AsyncClient, upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="service")
    seen = []
    for code in ("AccessDeniedException", "InstanceDoesNotExistException", "BrandNewException"):
        inject(upstream, code, message=AWS_MESSAGE if "Denied" in code else "plain")
        response = await gateway.get(
            "/v1/deployments/{}/instances/{}".format(*FAILED), headers={"Cache-Control": "no-cache"}
        )
        seen.append(response.text + str(response.headers))
        seen.append(str(await graphql(gateway, INSTANCE_QUERY, d=FAILED[0], i=FAILED[1])))
    seen.append(caplog.text)
    for text in seen:
        assert SECRET_ACCESS_KEY not in text
        assert ACCESS_KEY_ID not in text
        assert "Traceback" not in text
    assert "assumed-role" not in "".join(seen[:-1])
