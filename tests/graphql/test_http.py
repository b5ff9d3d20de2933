"""GraphQL over HTTP: every answer a GraphQL response in JSON, under each media type's
status rules, whatever the client sent."""

import asyncio
import json
import logging
from typing import Any

import httpx
import pytest

from service.graphql.engine import GraphQLEngine
from tests.support import FAILED, INSTANCE_QUERY, Upstream

GRAPHQL_RESPONSE = "application/graphql-response+json"
STATUS_QUERY = 'query ($s: [InstanceStatus!]) { deployment(deploymentId: "d-EXAMPLE01") { instances(status: $s) { totalCount } } }'
FIRST_QUERY = 'query ($f: Int!) { deployment(deploymentId: "d-EXAMPLE01") { instances(first: $f) { totalCount } } }'
OPTIONAL_FIRST = 'query ($f: Int) { deployment(deploymentId: "d-EXAMPLE01") { targets(first: $f) { totalCount } } }'
IDS_QUERY = 'query ($i: [ID!]!) { deploymentInstances(deploymentId: "d-EXAMPLE01", instanceIds: $i) { status } }'

# Requests that are well-formed but fail as a whole: (body, code).
REQUEST_ERRORS = [
    ({"query": STATUS_QUERY, "variables": {"s": ["Failed"]}}, "BAD_USER_INPUT"),
    ({"query": FIRST_QUERY, "variables": {}}, "BAD_USER_INPUT"),
    ({"query": FIRST_QUERY, "variables": {"f": "x"}}, "BAD_USER_INPUT"),
    ({"query": FIRST_QUERY, "variables": {"f": None}}, "BAD_USER_INPUT"),
    ({"query": FIRST_QUERY, "variables": {"f": 1e300}}, "BAD_USER_INPUT"),
    ({"query": IDS_QUERY, "variables": {"i": [True]}}, "BAD_USER_INPUT"),
    ({"query": IDS_QUERY, "variables": {"i": {"a": 1}}}, "BAD_USER_INPUT"),
    ({"query": FIRST_QUERY, "variables": {"f": "\ud800"}}, "BAD_USER_INPUT"),
    ({"query": OPTIONAL_FIRST, "variables": {"f": None}}, "BAD_USER_INPUT"),
    ({"query": OPTIONAL_FIRST.replace("Int)", "Int = null)")}, "BAD_USER_INPUT"),
    ({"query": "{ __typename }", "operationName": "Nope"}, "OPERATION_RESOLUTION_FAILURE"),
    ({"query": "query A { __typename } query B { __typename }"}, "OPERATION_RESOLUTION_FAILURE"),
    ({"query": "{"}, "GRAPHQL_PARSE_FAILED"),
    ({"query": ""}, "GRAPHQL_PARSE_FAILED"),
    ({"query": "{ nope }"}, "GRAPHQL_VALIDATION_FAILED"),
    ({"query": "mutation { deploymentInstance }"}, "GRAPHQL_VALIDATION_FAILED"),
    ({"query": "subscription { deployment }"}, "GRAPHQL_VALIDATION_FAILED"),
]

# Bodies that are not a GraphQL request at all: 400 under any media type.
NOT_REQUESTS = [
    b"null",
    b'"str"',
    b"1e999999",
    b"[" * 2000 + b"]" * 2000,
    b'{"query": ' + b'{"a": ' * 2000 + b"1" + b"}" * 2001,
    b"",
    b"{",
    b"\xff\xfe{}",
    b"[]",
    b'[{"query": "{ __typename }"}]',
    b'{"query": 1}',
    b'{"query": null}',
    b"{}",
    b'{"query": "{ __typename }", "variables": [1]}',
    b'{"query": "{ __typename }", "variables": "{}"}',
    b'{"query": "{ __typename }", "extensions": "x"}',
    b'{"query": "{ __typename }", "operationName": 7}',
    b'{"query": "{ __typename }", "extensions": {"persistedQuery": {"version": 2}}}',
    b'{"query": "{ __typename } #\\ud800"}',
    b'{"query": "{ __typename }", "operationName": "\\ud800"}',
    # Python's reader takes these; JSON has them not (and a replay key would read null).
    b'{"query": "query ($f: Float) { __typename }", "variables": {"f": NaN}}',
    b'{"query": "{ __typename }", "variables": {"f": -Infinity}}',
]


async def post(
    client: httpx.AsyncClient, body: bytes | dict[str, Any], accept: str | None = None
) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"content-type": "application/json"}
    if accept:
        headers["accept"] = accept
    return await client.post("/graphql", content=content, headers=headers)


def error_codes(response: httpx.Response) -> list[str]:
    return [error["extensions"]["code"] for error in response.json()["errors"]]


@pytest.mark.parametrize(("body", "code"), REQUEST_ERRORS)
async def test_a_request_error_is_200_as_json_and_400_as_graphql_response(
    gateway: httpx.AsyncClient,
    upstream: Upstream,
    body: dict[str, Any],
    code: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for accept, status in (("application/json", 200), (GRAPHQL_RESPONSE, 400)):
        response = await post(gateway, body, accept=accept)
        assert response.status_code == status
        assert response.headers["content-type"].split(";")[0] == accept
        assert "data" not in response.json()
        assert set(error_codes(response)) == {code}
        assert {error["extensions"]["status"] for error in response.json()["errors"]} == {400}
    assert upstream.calls() == 0
    assert not [record for record in caplog.records if record.exc_info]


@pytest.mark.parametrize("body", NOT_REQUESTS)
async def test_a_body_that_is_no_graphql_request_is_400_in_graphql_shape(
    gateway: httpx.AsyncClient, upstream: Upstream, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for accept in (None, "application/json", GRAPHQL_RESPONSE):
        response = await post(gateway, body, accept=accept)
        assert response.status_code == 400
        assert error_codes(response) == ["BAD_REQUEST"]
        assert response.json()["errors"][0]["extensions"]["status"] == 400
    assert upstream.calls() == 0
    assert not [record for record in caplog.records if record.exc_info]


async def test_field_errors_answer_200_with_data_under_both_types(
    gateway: httpx.AsyncClient,
) -> None:
    query = (
        '{ deploymentInstance(deploymentId: "d-EXAMPLE01", instanceId: "i-nothere") { status } }'
    )
    for accept in ("application/json", GRAPHQL_RESPONSE):
        response = await post(gateway, {"query": query}, accept=accept)
        assert response.status_code == 200
        assert response.json()["data"] == {"deploymentInstance": None}
        assert error_codes(response) == ["INSTANCE_NOT_FOUND"]


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "application/json"),
        ("*/*", "application/json"),
        ("text/html", "application/json"),
        ("application/json", "application/json"),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, application/json;q=0.9", GRAPHQL_RESPONSE),
        (f"application/json, {GRAPHQL_RESPONSE};q=0.5", "application/json"),
        (f"{GRAPHQL_RESPONSE};q=0", "application/json"),
        (f"{GRAPHQL_RESPONSE};q=nonsense", "application/json"),
    ],
)
async def test_accept_picks_the_media_type(
    gateway: httpx.AsyncClient, accept: str | None, expected: str
) -> None:
    response = await post(gateway, {"query": "{ __typename }"}, accept=accept)
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == expected
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_post_wants_application_json(gateway: httpx.AsyncClient) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = {"content-type": content_type} if content_type else {}
        response = await gateway.post("/graphql", content=b"{}", headers=headers)
        assert response.status_code == 415
        assert error_codes(response) == ["UNSUPPORTED_MEDIA_TYPE"]
    charset = {"content-type": "application/json; charset=utf-8"}
    response = await gateway.post(
        "/graphql", content=b'{"query": "{ __typename }"}', headers=charset
    )
    assert response.status_code == 200


async def test_other_methods_are_405_with_allow(gateway: httpx.AsyncClient) -> None:
    for method in ("PUT", "DELETE", "PATCH"):
        response = await gateway.request(method, "/graphql", content=b"{}")
        assert response.status_code == 405
        assert response.headers["allow"] == "GET, POST"
        assert error_codes(response) == ["METHOD_NOT_ALLOWED"]


async def test_a_query_by_get(gateway: httpx.AsyncClient) -> None:
    params = {
        "query": INSTANCE_QUERY,
        "variables": json.dumps({"d": FAILED[0], "i": FAILED[1]}),
    }
    response = await gateway.get("/graphql", params=params)
    assert response.status_code == 200
    assert response.json()["data"]["deploymentInstance"]["status"] == "FAILED"
    assert response.headers["vary"] == "Accept"


@pytest.mark.parametrize(
    "query_string",
    [
        "query=%7B__typename%7D&query=%7B__typename%7D",
        "query=%7B__typename%7D&variables=%5B1%5D",
        "query=%7B__typename%7D&variables=%7B",
        "query=%7B__typename%7D&extensions=null1",
        "query=%ff%fe",
        "&".join(f"p{n}=1" for n in range(100)),
        "operationName=A",
    ],
)
async def test_malformed_get_parameters_are_400(
    gateway: httpx.AsyncClient, query_string: str
) -> None:
    response = await gateway.get(f"/graphql?{query_string}")
    assert response.status_code == 400
    assert error_codes(response) == ["BAD_REQUEST"]
    assert response.headers["cache-control"] == "no-store"


async def test_graphiql_is_served_to_a_browser_and_a_bare_get_otherwise_is_400(
    gateway: httpx.AsyncClient,
) -> None:
    page = await gateway.get("/graphql", headers={"accept": "text/html,application/xhtml+xml"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    bare = await gateway.get("/graphql", headers={"accept": "application/json"})
    assert bare.status_code == 400
    assert error_codes(bare) == ["BAD_REQUEST"]


async def test_a_gateway_bug_is_a_json_500_with_its_traceback_logged(
    gateway: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(GraphQLEngine, "run", broken)
    response = await post(gateway, {"query": "{ __typename }"})
    assert response.status_code == 500
    assert error_codes(response) == ["INTERNAL_SERVER_ERROR"]
    assert "a bug" not in response.text
    assert [record.exc_info for record in caplog.records if record.exc_info]


LONG_QUERY = "{ __typename }" + " " * 3000  # long enough for the worker thread


async def test_a_document_not_prepared_in_time_is_not_refused_for_good(
    gateway: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("service.graphql.engine.PREPARE_BUDGET_SECONDS", 0)
    impatient = await asyncio.gather(*(post(gateway, {"query": LONG_QUERY}) for _ in range(3)))
    for response in impatient:  # every waiter told, none failed by another's timeout
        assert response.status_code == 200
        assert error_codes(response) == ["VALIDATION_TIMEOUT"]
    monkeypatch.setattr("service.graphql.engine.PREPARE_BUDGET_SECONDS", 60)
    patient = await post(gateway, {"query": LONG_QUERY})
    assert patient.json() == {"data": {"__typename": "Query"}}
    assert not [record for record in caplog.records if record.exc_info]
