"""Whole responses replayed while their cache entries live; persisted and trusted
documents; GET with ETag and 304."""

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import parse

from service.app import create_app
from service.cache import Recording, ResultCache
from service.errors import CacheInfo
from service.graphql.documents import Document, Documents
from service.graphql.responses import ENTRY_OVERHEAD_BYTES, Responses
from service.settings import ConfigurationError, Settings
from tests.identity import API_KEY, API_KEYS, bearer
from tests.support import IN_PROGRESS, INSTANCE_QUERY, FakeClock, GatewayFactory, Upstream

GRAPHQL_RESPONSE = "application/graphql-response+json"
STATUS = "query Status($d: ID!, $i: ID!) { deploymentInstance(deploymentId: $d, instanceId: $i) { status } }"
STATUS_HASH = hashlib.sha256(STATUS.encode()).hexdigest()
VARIABLES = {"d": IN_PROGRESS[0], "i": IN_PROGRESS[1]}
REST_URL = "/v1/deployments/{}/instances/{}".format(*IN_PROGRESS)


def persisted(digest: str = STATUS_HASH) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


async def status(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    response = await client.post("/graphql", json={"query": STATUS, "variables": VARIABLES, **body})
    assert response.status_code == 200, response.text
    return response


def instance_status(response: httpx.Response) -> str:
    value: str = response.json()["data"]["deploymentInstance"]["status"]
    return value


async def test_a_repeated_query_is_replayed_without_running(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    first = await status(gateway)
    again = await gateway.post(
        "/graphql",
        content=json.dumps(
            {"variables": {"i": VARIABLES["i"], "d": VARIABLES["d"]}, "query": STATUS}
        ),
        headers={"content-type": "application/json"},
    )
    assert (first.headers["x-cache"], again.headers["x-cache"]) == ("MISS", "HIT")
    assert again.content == first.content
    assert upstream.calls() == 1


async def test_a_replay_is_never_staler_than_rest(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    assert instance_status(await status(gateway)) == "IN_PROGRESS"
    summary = upstream.emulator.data.deployments[IN_PROGRESS[0]].find_instance(IN_PROGRESS[1])
    assert summary is not None
    summary["status"] = "Succeeded"
    # REST still serves its cached answer, and so does GraphQL.
    assert instance_status(await status(gateway)) == "IN_PROGRESS"
    refreshed = await gateway.get(REST_URL, headers={"Cache-Control": "no-cache"})
    assert refreshed.json()["instanceSummary"]["status"] == "Succeeded"
    after = await status(gateway)
    assert after.headers["x-cache"] == "MISS"
    assert instance_status(after) == "SUCCEEDED"


async def test_a_replay_ends_when_an_entry_expires(
    gateway: httpx.AsyncClient, upstream: Upstream, clock: FakeClock
) -> None:
    await status(gateway)
    clock.advance(5)  # the in-progress instance's lifetime
    assert (await status(gateway)).headers["x-cache"] == "MISS"
    assert upstream.calls() == 2


async def test_a_fault_is_never_replayed(gateway: httpx.AsyncClient, upstream: Upstream) -> None:
    upstream.emulator.faults.error_rate = 1.0
    failed = await status(gateway)
    assert failed.json()["errors"][0]["extensions"]["status"] == 502
    upstream.emulator.faults.error_rate = 0.0
    healed = await status(gateway)
    assert healed.headers["x-cache"] == "MISS"
    assert instance_status(healed) == "IN_PROGRESS"


async def test_a_stored_not_found_is_replayed_like_rest(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    missing = {"d": IN_PROGRESS[0], "i": "i-nothere"}
    for _ in range(2):
        response = await gateway.post("/graphql", json={"query": STATUS, "variables": missing})
    assert response.headers["x-cache"] == "HIT"
    assert response.json()["errors"][0]["extensions"]["code"] == "INSTANCE_NOT_FOUND"
    assert upstream.calls() == 1


def test_responses_are_bounded_in_bytes_and_entries(clock: FakeClock) -> None:
    cache: ResultCache[int] = ResultCache(
        max_entries=10, value_ttl=lambda _: 60, error_ttl=lambda _: 0, clock=clock
    )
    reads = Recording()
    responses = Responses(max_entries=3, max_bytes=3 * (ENTRY_OVERHEAD_BYTES + 100), clock=clock)
    for n in range(5):
        assert responses.put(b"key%d" % n, b"x" * 100, reads) is not None
    assert len(responses) == 3
    assert responses.get(b"key0") is None
    assert responses.put(b"big", b"x" * 10_000, reads) is None  # larger than the whole cache
    half = Responses(max_entries=100, max_bytes=2 * (ENTRY_OVERHEAD_BYTES + 100), clock=clock)
    for n in range(5):
        half.put(b"key%d" % n, b"x" * 100, reads)
    assert len(half) == 2
    incomplete = Recording()
    incomplete.note(cache, "k", CacheInfo(hit=False, max_age=0))
    assert responses.put(b"fault", b"{}", incomplete) is None


def test_documents_are_bounded_in_bytes() -> None:
    documents = Documents(max_bytes=1_000_000)
    tree = parse("{ __typename }")
    for n in range(100):
        documents.put(str(n), Document("x" * 999, tree))  # a syntax tree's 100 B a character
    assert len(documents) == 10
    assert documents.get("0") is None
    assert documents.get("99") is not None
    refusals = Documents(max_bytes=1_000_000)
    for n in range(100):
        refusals.put(str(n), Document("x" * 999, None, [{"message": "no"}]))  # text and errors
    assert len(refusals) == 100


async def test_automatic_persisted_queries_over_post(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    unknown = await gateway.post(
        "/graphql", json={"variables": VARIABLES, "extensions": persisted()}
    )
    assert unknown.status_code == 200
    assert unknown.json() == {
        "errors": [
            {
                "message": "PersistedQueryNotFound",
                "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND", "status": 404},
            }
        ]
    }
    strict = await gateway.post(
        "/graphql",
        json={"variables": VARIABLES, "extensions": persisted()},
        headers={"accept": GRAPHQL_RESPONSE},
    )
    assert strict.status_code == 404
    registered = await status(gateway, extensions=persisted())
    assert instance_status(registered) == "IN_PROGRESS"
    by_hash = await gateway.post(
        "/graphql", json={"variables": VARIABLES, "extensions": persisted()}
    )
    assert instance_status(by_hash) == "IN_PROGRESS"
    assert upstream.calls() == 1


async def test_a_hash_that_is_not_the_documents_is_refused(gateway: httpx.AsyncClient) -> None:
    wrong = await status(gateway, extensions=persisted("0" * 64))
    assert wrong.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_HASH_MISMATCH"
    malformed = await status(gateway, extensions=persisted("not-a-hash"))
    assert malformed.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_persisted_queries_can_be_turned_off(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    async with make_gateway(graphql_persisted_queries=False) as gateway:
        response = await status(gateway, extensions=persisted())
    assert response.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_SUPPORTED"


async def test_apq_over_get_with_etag_and_304(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    await status(gateway, extensions=persisted())
    params = {
        "operationName": "Status",
        "variables": json.dumps(VARIABLES),
        "extensions": json.dumps(persisted()),
    }
    response = await gateway.get("/graphql", params=params)
    assert response.status_code == 200
    assert instance_status(response) == "IN_PROGRESS"
    assert response.headers["cache-control"] == "max-age=5"
    etag = response.headers["etag"]
    again = await gateway.get("/graphql", params=params, headers={"if-none-match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert upstream.calls() == 1


async def test_a_get_answer_that_cannot_be_replayed_is_no_store(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    upstream.emulator.faults.error_rate = 1.0
    response = await gateway.get(
        "/graphql", params={"query": STATUS, "variables": json.dumps(VARIABLES)}
    )
    assert response.headers["cache-control"] == "no-store"
    assert "etag" not in response.headers


async def test_a_query_by_hash_is_guarded_and_its_answer_private(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    keyed = {"auth": "api-key", "api_keys": json.dumps(API_KEYS)}
    params = {"variables": json.dumps(VARIABLES), "extensions": json.dumps(persisted())}
    async with make_gateway(**keyed) as gateway:
        assert (await gateway.get("/graphql", params=params)).status_code == 401
        page = await gateway.get("/graphql", headers={"accept": "text/html"})
        assert page.status_code == 200  # GraphiQL itself
        keyed_answer = await gateway.get("/graphql", params=params, headers=bearer(API_KEY))
        assert keyed_answer.json()["errors"][0]["message"] == "PersistedQueryNotFound"
        await gateway.post(
            "/graphql",
            json={"query": STATUS, "variables": VARIABLES, "extensions": persisted()},
            headers=bearer(API_KEY),
        )
        # An answer to credentials is for the caller's own cache only, on both faces.
        by_hash = await gateway.get("/graphql", params=params, headers=bearer(API_KEY))
        assert by_hash.headers["cache-control"] == "private, max-age=5"
        assert by_hash.headers["vary"] == "Accept, Authorization, X-API-Key"
        for _ in range(2):  # the route, then the cache-hit fast path: the same headers
            rest = await gateway.get(REST_URL, headers=bearer(API_KEY))
            assert rest.headers["cache-control"] == "private, max-age=5, stale-if-error=300"
            assert rest.headers["vary"] == "Authorization, X-API-Key"
        assert rest.headers["x-cache"] == "HIT"


def _trusted_file(tmp_path: Path, documents: dict[str, str] | None = None) -> Path:
    path = tmp_path / "persisted-documents.json"
    documents = documents or {STATUS_HASH: STATUS}
    path.write_text(json.dumps(documents))
    return path


async def test_trusted_documents_only(
    upstream: Upstream, make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    async with make_gateway(graphql_trusted_documents=_trusted_file(tmp_path)) as gateway:
        by_hash = await gateway.post(
            "/graphql", json={"variables": VARIABLES, "extensions": persisted()}
        )
        assert instance_status(by_hash) == "IN_PROGRESS"
        by_text = await status(gateway)
        assert instance_status(by_text) == "IN_PROGRESS"
        other = await gateway.post(
            "/graphql", json={"query": INSTANCE_QUERY, "variables": VARIABLES}
        )
        assert other.json()["errors"][0]["extensions"]["code"] == "DOCUMENT_NOT_TRUSTED"
        other_hash = await gateway.post(
            "/graphql", json={"variables": VARIABLES, "extensions": persisted("1" * 64)}
        )
        assert other_hash.json()["errors"][0]["message"] == "PersistedQueryNotFound"
    assert upstream.calls() == 1


async def test_trusted_documents_read_apollos_manifest(
    upstream: Upstream, make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "format": "apollo-persisted-query-manifest",
                "version": 1,
                "operations": [
                    {"id": STATUS_HASH, "name": "Status", "type": "query", "body": STATUS}
                ],
            }
        )
    )
    async with make_gateway(graphql_trusted_documents=manifest) as gateway:
        response = await gateway.post(
            "/graphql", json={"variables": VARIABLES, "extensions": persisted()}
        )
    assert instance_status(response) == "IN_PROGRESS"


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "[1, 2]",
        json.dumps({"0" * 64: STATUS}),
        json.dumps({STATUS_HASH: 7}),
    ],
)
def test_a_bad_trusted_documents_file_stops_the_start(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ConfigurationError, match="GATEWAY_GRAPHQL_TRUSTED_DOCUMENTS"):
        create_app(Settings(auth="none", graphql_trusted_documents=path))


async def test_variables_the_operation_does_not_declare_do_not_escape_replay(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    first = await status(gateway)
    again = [await status(gateway, variables={**VARIABLES, f"junk{n}": n}) for n in range(3)]
    assert first.headers["x-cache"] == "MISS"
    assert [answer.headers["x-cache"] for answer in again] == ["HIT"] * 3
    assert all(answer.content == first.content for answer in again)
