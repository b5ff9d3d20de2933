"""One closed set of error codes: declared once, published in the reference and in
OpenAPI, and answered alike by both faces for one condition."""

import ast
import re
from pathlib import Path

import httpx
import pytest

import service.app  # noqa: F401  (every error class)
from service.app import create_app
from service.errors import VOCABULARY, ErrorCode, GatewayError
from service.settings import Settings
from tests.support import graphql

REFERENCE = Path(__file__).parents[1] / "docs" / "reference" / "errors.md"


def test_every_code_has_one_meaning_in_the_reference_and_in_openapi() -> None:
    assert set(VOCABULARY) == set(ErrorCode)
    listed = re.findall(r"^\| `([A-Z_]+)` \| (\d{3}) \|", REFERENCE.read_text(), re.MULTILINE)
    assert {(code, int(status)) for code, status in listed} == {
        (code.value, meaning.status) for code, meaning in VOCABULARY.items()
    }
    schemas = create_app(Settings(local=True)).api.openapi()["components"]["schemas"]
    declared = schemas["Problem"]["properties"]["code"]
    enum = declared.get("enum") or schemas[declared["$ref"].rsplit("/", 1)[-1]]["enum"]
    assert set(enum) == {code.value for code in ErrorCode}
    assert declared["x-extensible-enum"] == enum


REST_AND_GRAPHQL = [
    pytest.param(
        "/v1/deployments/bad%20id!",
        '{ deployment(deploymentId: "bad id!") { status } }',
        id="malformed-id",
    ),
    pytest.param(
        "/v1/deployments/d-NOTHERE00",
        '{ deployment(deploymentId: "d-NOTHERE00") { status } }',
        id="no-deployment",
    ),
    pytest.param(
        "/v1/deployments/d-EXAMPLE01/instances/i-nothere",
        '{ deploymentInstance(deploymentId: "d-EXAMPLE01", instanceId: "i-nothere") { status } }',
        id="no-instance",
    ),
    pytest.param(
        "/v1/deployments/d-EXAMPLE03/instances/i-1",
        '{ deploymentInstance(deploymentId: "d-EXAMPLE03", instanceId: "i-1") { status } }',
        id="lambda-instance",
    ),
    pytest.param(
        "/v1/applications/nope",
        '{ application(applicationName: "nope") { applicationName } }',
        id="no-application",
    ),
    pytest.param(
        "/v1/accounts/nope/regions/us-east-1/deployments/d-EXAMPLE01",
        '{ deployment(deploymentId: "d-EXAMPLE01", account: "nope") { status } }',
        id="no-account",
    ),
]


@pytest.mark.parametrize(("path", "query"), REST_AND_GRAPHQL)
async def test_one_condition_has_one_code_and_status_on_both_faces(
    path: str, query: str, gateway: httpx.AsyncClient
) -> None:
    rest = await gateway.get(path)
    problem = rest.json()
    [error] = (await graphql(gateway, query))["errors"]
    code = ErrorCode(problem["code"])
    assert (error["extensions"]["code"], error["extensions"]["status"]) == (code, rest.status_code)
    assert VOCABULARY[code].status == rest.status_code == problem["status"]


async def test_rest_only_conditions_answer_codes_of_the_set(gateway: httpx.AsyncClient) -> None:
    for method, path, status in [
        ("GET", "/v1/nowhere", 404),
        ("DELETE", "/v1/deployments/d-EXAMPLE01", 405),
        ("POST", "/v1/deployments/d-EXAMPLE01/instances:batchGet", 400),
    ]:
        response = await gateway.request(method, path, content=b"{not json")
        code = ErrorCode(response.json()["code"])
        assert (response.status_code, VOCABULARY[code].status) == (status, status)


def test_every_code_is_raised_with_its_own_status() -> None:
    """Each ``SomeError(..., code=ErrorCode.X)`` and ``request_error(..., ErrorCode.X,
    status)`` in the service answers X's status: read from the source, every one."""
    kinds = {kind.__name__: kind for kind in _error_classes(GatewayError)}
    wrong = [
        f"{path.name}:{node.lineno} {code} as {status}"
        for path in (Path(__file__).parents[1] / "service").rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        for code, status in [_raised(node, node.func.id, kinds)]
        if code is not None and VOCABULARY[code].status != status
    ]
    assert wrong == []
    for kind in kinds.values():
        assert VOCABULARY[kind.default_code].status == kind.status, kind


def _raised(
    call: ast.Call, name: str, kinds: dict[str, type[GatewayError]]
) -> tuple[ErrorCode | None, int]:
    """The code a call names and the status it answers it with (None: not such a call)."""
    named = {keyword.arg: keyword.value for keyword in call.keywords}
    status: int
    if name in kinds:
        code, status = named.get("code"), kinds[name].status
    elif name in {"request_error", "limit_error"}:
        code = call.args[1] if len(call.args) > 1 else named.get("code")
        given = call.args[2] if len(call.args) > 2 else named.get("status")
        status = 400
        if isinstance(given, ast.Constant) and isinstance(given.value, int):
            status = given.value
    else:
        return None, 0
    if (
        isinstance(code, ast.Attribute)
        and isinstance(code.value, ast.Name)
        and code.value.id == "ErrorCode"
    ):
        return ErrorCode[code.attr], int(status)
    return None, 0


def _error_classes(base: type[GatewayError]) -> list[type[GatewayError]]:
    return [base, *(kind for sub in base.__subclasses__() for kind in _error_classes(sub))]
