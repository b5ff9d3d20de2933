"""API keys: who gets in, what the others are told, and what is never written down."""

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.app import create_app
from service.guard.keys import ApiKeys, hash_key
from service.settings import ConfigurationError, Settings
from tests.identity import API_KEY, API_KEYS, INSTANCE, OTHER_KEY, bearer
from tests.support import GatewayFactory, Upstream, fields

KEYED: dict[str, Any] = {"auth": "api-key", "api_keys": json.dumps(API_KEYS)}


async def test_no_credentials_get_401_with_a_challenge(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    async with make_gateway(**KEYED) as gateway:
        response = await gateway.get(INSTANCE)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == 'Bearer realm="codedeploy-gateway"'
    assert response.headers["cache-control"] == "no-store"
    assert response.json()["code"] == "MISSING_CREDENTIALS"
    assert upstream.calls() == 0


@pytest.mark.parametrize(
    "headers", [bearer(API_KEY), {"X-API-Key": API_KEY}, {"Authorization": f"bearer  {API_KEY} "}]
)
async def test_a_valid_key_gets_data(
    upstream: Upstream, make_gateway: GatewayFactory, headers: dict[str, str]
) -> None:
    async with make_gateway(**KEYED) as gateway:
        response = await gateway.get(INSTANCE, headers=headers)
    assert response.status_code == 200
    assert response.json()["instanceSummary"]["status"] == "Failed"


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        (bearer("not-a-key"), "INVALID_API_KEY"),
        ({"X-API-Key": API_KEY[:-1]}, "INVALID_API_KEY"),
        ({"Authorization": f"Basic {API_KEY}"}, "INVALID_CREDENTIALS"),
        ({"Authorization": "Bearer"}, "INVALID_CREDENTIALS"),
    ],
)
async def test_a_bad_key_gets_401_invalid_token(
    upstream: Upstream, make_gateway: GatewayFactory, headers: dict[str, str], code: str
) -> None:
    async with make_gateway(**KEYED) as gateway:
        response = await gateway.get(INSTANCE, headers=headers)
    assert (response.status_code, response.json()["code"]) == (401, code)
    assert response.headers["www-authenticate"].endswith('error="invalid_token"')
    assert upstream.calls() == 0


async def test_cached_answers_are_guarded_too(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    async with make_gateway(**KEYED) as gateway:
        assert (await gateway.get(INSTANCE, headers=bearer(API_KEY))).status_code == 200
        hit = await gateway.get(INSTANCE, headers=bearer(API_KEY))
        stranger = await gateway.get(INSTANCE)
    assert hit.headers["x-cache"] == "HIT"
    assert stranger.status_code == 401


async def test_graphql_without_credentials_is_http_401(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    query = {"query": "{ __typename }"}
    async with make_gateway(**KEYED) as gateway:
        refused = await gateway.post("/graphql", json=query)
        by_get = await gateway.get("/graphql", params=query)
        allowed = await gateway.post("/graphql", json=query, headers={"X-API-Key": API_KEY})
    for response in (refused, by_get):
        assert response.status_code == 401
        assert "www-authenticate" in response.headers
        [error] = response.json()["errors"]
        assert error["extensions"]["code"] == "MISSING_CREDENTIALS"
        assert error["extensions"]["status"] == 401
    assert allowed.json() == {"data": {"__typename": "Query"}}


async def test_probes_pages_and_schema_stay_open(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    async with make_gateway(**KEYED) as gateway:
        for path in ("/healthz", "/readyz", "/metrics", "/docs", "/openapi.json"):
            assert (await gateway.get(path)).status_code == 200, path
        page = await gateway.get("/graphql", headers={"Accept": "text/html"})
    assert "graphiql" in page.text.lower()


async def test_metrics_can_have_their_own_key(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    async with make_gateway(**KEYED, metrics_api_key="scrape-key-0123456789") as gateway:
        assert (await gateway.get("/metrics")).status_code == 401
        assert (await gateway.get("/metrics", headers=bearer(API_KEY))).status_code == 401
        scraped = await gateway.get("/metrics", headers=bearer("scrape-key-0123456789"))
        assert scraped.status_code == 200
        # The metrics key opens /metrics only.
        denied = await gateway.get(INSTANCE, headers=bearer("scrape-key-0123456789"))
        assert denied.status_code == 401


async def test_docs_off_hides_every_page(upstream: Upstream, make_gateway: GatewayFactory) -> None:
    async with make_gateway(**KEYED, docs=False) as gateway:
        for path in ("/docs", "/openapi.json", "/static/vendor/graphiql/graphiql.min.js"):
            assert (await gateway.get(path)).status_code == 404, path
        # No page: a GET without a query is only a malformed GraphQL request.
        page = await gateway.get("/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 400
        assert page.headers["content-type"] == "application/json"
        # The API itself still answers.
        assert (await gateway.get(INSTANCE, headers=bearer(API_KEY))).status_code == 200


async def test_a_strangers_body_is_not_read(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    async with make_gateway(**KEYED) as gateway:
        response = await gateway.post(
            "/v1/deployments/d-EXAMPLE01/instances:batchGet", content=b"x" * 100_000
        )
    assert response.status_code == 401


async def test_logs_and_metrics_name_the_caller_never_the_key(
    upstream: Upstream, make_gateway: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with make_gateway(**KEYED) as gateway:
        await gateway.get(INSTANCE, headers=bearer(API_KEY))
        await gateway.get(INSTANCE, headers={"X-API-Key": OTHER_KEY})
        metrics = (await gateway.get("/metrics")).text
    callers = [fields(r)["caller"] for r in caplog.records if r.name == "service.access"]
    assert callers[:2] == ["key:billing", "key:status-page"]
    assert 'gateway_caller_requests_total{caller="key:billing",status="200"} 1.0' in metrics
    assert API_KEY not in caplog.text
    assert API_KEY not in metrics


async def test_the_openapi_document_offers_both_schemes(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    async with make_gateway(**KEYED) as gateway:
        document = (await gateway.get("/openapi.json")).json()
    assert document["components"]["securitySchemes"].keys() == {"Bearer", "ApiKey"}
    instance = document["paths"]["/v1/deployments/{deploymentId}/instances/{instanceId}"]["get"]
    assert instance["security"] == [{"Bearer": []}, {"ApiKey": []}]
    assert "401" in instance["responses"]
    assert "security" not in document["paths"]["/healthz"]["get"]


async def test_without_auth_the_schemes_are_published_and_required_by_none(
    gateway: httpx.AsyncClient,
) -> None:
    document = (await gateway.get("/openapi.json")).json()
    schemes = document["components"]["securitySchemes"]
    assert schemes.keys() == {"Bearer", "ApiKey"}
    assert "GATEWAY_AUTH=none" in schemes["ApiKey"]["description"]
    assert document["security"] == [{}, {"Bearer": []}, {"ApiKey": []}]  # none required
    for path in document["paths"].values():
        for operation in path.values():
            assert "security" not in operation
            assert "401" not in operation["responses"]


async def test_keys_may_come_from_a_file(
    tmp_path: Path, upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    path = tmp_path / "api-keys.json"
    path.write_text(json.dumps(API_KEYS))
    async with make_gateway(auth="api-key", api_keys_file=path) as gateway:
        assert (await gateway.get(INSTANCE, headers=bearer(OTHER_KEY))).status_code == 200
        # The hash is not a key.
        assert (await gateway.get(INSTANCE, headers=bearer(hash_key(API_KEY)))).status_code == 401


def test_a_missing_key_file_stops_start_up(tmp_path: Path, make_gateway: GatewayFactory) -> None:
    with pytest.raises(ConfigurationError, match="GATEWAY_API_KEYS_FILE"):
        create_app(Settings(auth="api-key", api_keys_file=tmp_path / "nowhere.json"))


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("{not json", "JSON"),
        ('{"billing": "SECRET-not-a-hash"}', "billing"),
        ('{"bad name!": "' + "0" * 64 + '"}', "bad name!"),
        ("{}", "names no caller"),
        (json.dumps({"a": "0" * 64, "b": "0" * 64}), "share one key"),
        # The last would win: a key granted one account would read every one.
        (
            '{"a": {"sha256": "' + "0" * 64 + '", "accounts": ["x"]}, "a": "' + "1" * 64 + '"}',
            "'a' is named twice",
        ),
        ('{"a": {"sha256": "' + "0" * 64 + '", "accounts": []}}', "a.Entry.accounts"),
    ],
)
def test_bad_key_tables_are_refused_without_echoing_them(text: str, complaint: str) -> None:
    with pytest.raises(ConfigurationError, match="GATEWAY_API_KEYS") as caught:
        ApiKeys.parse(text, "GATEWAY_API_KEYS")
    assert complaint in str(caught.value)
    assert "SECRET" not in str(caught.value)


async def test_websockets_elsewhere_than_graphql_are_refused(upstream: Upstream) -> None:
    app = create_app(Settings(**KEYED))
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": "/v1/deployments", "headers": [], "query_string": b""}
    await app(scope, receive, send)  # type: ignore[arg-type]
    assert sent == [{"type": "websocket.close", "code": 1008}]


async def test_cors_preflights_need_no_credentials(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    origin = "https://status.example.com"
    async with make_gateway(**KEYED, cors_origins=origin) as gateway:
        preflight = await gateway.options(
            INSTANCE,
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization, x-api-key",
            },
        )
        refused = await gateway.get(INSTANCE, headers={"Origin": origin})
    assert preflight.status_code == 200
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    assert refused.status_code == 401
    # A browser may read why, and what to send.
    assert "www-authenticate" in refused.headers["access-control-expose-headers"].lower()
