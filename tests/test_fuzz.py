"""Schemathesis against the running gateway (local mode): the OpenAPI document and the
GraphQL schema, with valid and invalid inputs. No 500s; every answer as documented."""

import json
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    positive_data_acceptance,
    response_schema_conformance,
)

from service.app import create_app
from service.errors import GatewayError
from service.settings import Settings

pytestmark = [pytest.mark.fuzz, pytest.mark.processes]

# Enough cases to reach every parameter's edge cases, few enough for `make test`.
FUZZ = settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)
# The OpenAPI examples' deployments: the blue/green one waits for its traffic to shift.
RUNNING, FINISHED = "d-EXAMPLE02", "d-EXAMPLE01"
Check = Callable[[Any, Any, Any], bool | None]


def _endless(path: str) -> bool:
    return path.endswith("/events") and "/applications/" in path


# (method, path, mode): invalid inputs only where an operation takes any. A group's or an
# application's stream never ends, and the fuzz reads whole answers (an input it means as
# invalid may still open one): left to tests/live/test_follow.py; their parameters are the
# discovery routes' own, fuzzed there.
OPERATIONS = [
    (method.upper(), path, mode)
    for path, methods in create_app(Settings(local=True)).api.openapi()["paths"].items()
    for method, operation in methods.items()
    for mode in GenerationMode
    if not (mode is GenerationMode.POSITIVE and _endless(path))
    and (
        mode is GenerationMode.POSITIVE or operation.get("parameters") or "requestBody" in operation
    )
]


@pytest.fixture(scope="session")
def openapi_schema(local_gateway: str) -> Any:
    return schemathesis.openapi.from_url(f"{local_gateway}/openapi.json")


@pytest.fixture(scope="session")
def graphql_schema(local_gateway: str) -> Any:
    return schemathesis.graphql.from_url(f"{local_gateway}/graphql")


@pytest.mark.parametrize(("method", "path", "mode"), OPERATIONS)
def test_rest_answers_as_documented(
    openapi_schema: Any, method: str, path: str, mode: GenerationMode
) -> None:
    operation = openapi_schema[path][method]

    @FUZZ
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: schemathesis.Case[Any]) -> None:
        # A made-up nextToken is a valid string that CodeDeploy rightly refuses (400); so
        # are a group's application without its group, or the reverse, and a time window
        # (OpenAPI cannot say that two parameters go together, or in which order), and
        # statistics without createdAfter or its deprecated name since (one of the two).
        query = case.query or {}
        forged_token = "nextToken" in query
        half_a_group = ("applicationName" in query) != ("deploymentGroupName" in query)
        window = "createdAfter" in query and "createdBefore" in query
        undated = path.endswith("/stats") and not {"createdAfter", "since"} & set(query)
        # A wait holds the request as long as it says: the fuzz waits for nothing (waits
        # are tested in tests/live/test_wait.py); one past GATEWAY_MAX_WAIT_SECONDS (300)
        # is refused, a bound OpenAPI cannot state (it is a setting).
        too_long = _number(query.get("wait")) > 300
        if "wait" in query and not too_long and mode is GenerationMode.POSITIVE:
            query["wait"] = 0
        refused = forged_token or half_a_group or window or undated or too_long
        if path.endswith("/events") and case.path_parameters == {"deploymentId": RUNNING}:
            # The stream of a deployment still running stays open, and the fuzz reads whole
            # answers: it asks the finished example (streams are tested in tests/live/).
            case.path_parameters = {"deploymentId": FINISHED}
        excluded: list[Check] = [positive_data_acceptance] if refused else []
        if path.endswith("/events"):
            # The stream's body is a string in OAS 3.1, its events described by x-itemSchema,
            # which Schemathesis does not read: tests/live/ check every event's shape.
            excluded.append(response_schema_conformance)
        case.call_and_validate(excluded_checks=excluded)

    check()


def test_graphql_answers_every_error_with_a_code(graphql_schema: Any) -> None:
    strategies = [result.ok().as_strategy() for result in graphql_schema.get_all_operations()]

    @FUZZ
    @given(case=st.one_of(strategies))
    def check(case: schemathesis.Case[Any]) -> None:
        # Expected failures (an unknown deployment, a malformed id) are errors at their
        # path by design, so schemathesis' "any error is a server error" check is not ours.
        response = case.call()
        assert response.status_code == 200, response.text
        assert response.headers["content-type"][0].startswith("application/json")
        for error in json.loads(response.text).get("errors", []):
            extensions = error["extensions"]
            assert 400 <= extensions["status"] < 500, error
            assert extensions["code"] != GatewayError.default_code

    check()


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0
