"""``subscription { deploymentEvents }`` over both streaming transports, against a
gateway on a real socket: graphql-transport-ws through ``gql`` (a client nobody here
wrote), a raw WebSocket for the protocol's edges, and GraphQL over SSE."""

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import websockets
from gql import Client, GraphQLRequest, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from tests.identity import API_KEY, API_KEYS, bearer
from tests.support import FINISHED, LIVE, WAIT, Live, LiveFactory, fields

EVENTS = """
subscription Events($d: ID!, $after: ID) {
  deploymentEvents(deploymentId: $d, after: $after) {
    __typename
    ... on DeploymentChanged { eventId deployment { status deploymentOverview { succeeded } } }
    ... on InstanceChanged { eventId instance { instanceId status } }
  }
}
"""
PROTOCOL = Subprotocol("graphql-transport-ws")
KEYED: dict[str, Any] = {"auth": "api-key", "api_keys": json.dumps(API_KEYS)}


def ws_url(live: Live) -> str:
    return live.gateway.url.replace("http://", "ws://") + "/graphql"


def summary(event: dict[str, Any]) -> tuple[str, str]:
    kind = event["__typename"]
    if kind == "DeploymentChanged":
        return kind, event["deployment"]["status"]
    return event["instance"]["instanceId"], event["instance"]["status"]


async def test_graphql_ws_streams_the_deployment_until_it_finishes(live: Live) -> None:
    transport = WebsocketsTransport(url=ws_url(live), subprotocols=[PROTOCOL])
    seen: list[tuple[str, str]] = []
    async with Client(transport=transport) as session, asyncio.timeout(WAIT):
        async for result in session.subscribe(GraphQLRequest(EVENTS, variable_values={"d": LIVE})):
            seen.append(summary(result["deploymentEvents"]))
            if len(seen) == 5:
                live.clock.advance(57)  # the run ends
                live.changed()
    # The whole picture, then the end: the subscription completes by itself.
    assert seen[:2] == [
        ("DeploymentChanged", "IN_PROGRESS"),
        ("i-0e1f2a3b4c5d60001", "IN_PROGRESS"),
    ]
    assert seen[5] == ("DeploymentChanged", "SUCCEEDED")
    assert {status for _, status in seen[6:]} == {"SUCCEEDED"}
    assert len(seen) == 10


async def test_graphql_ws_answers_an_unknown_deployment_with_its_error(live: Live) -> None:
    transport = WebsocketsTransport(url=ws_url(live), subprotocols=[PROTOCOL])
    async with Client(transport=transport) as session:
        request = GraphQLRequest(EVENTS, variable_values={"d": "d-NOTHERE00"})
        with pytest.raises(TransportQueryError) as raised:
            await anext(session.subscribe(request))
    assert raised.value.errors is not None
    assert raised.value.errors[0]["extensions"]["code"] == "DEPLOYMENT_NOT_FOUND"


async def test_graphql_ws_runs_queries_too(live: Live) -> None:
    transport = WebsocketsTransport(url=ws_url(live), subprotocols=[PROTOCOL])
    async with Client(transport=transport) as session:
        result = await session.execute(
            gql('{ deployment(deploymentId: "d-EXAMPLE01") { status } }')
        )
    assert result == {"deployment": {"status": "FAILED"}}


@asynccontextmanager
async def socket(live: Live, **headers: str) -> AsyncIterator[ClientConnection]:
    async with connect(ws_url(live), subprotocols=[PROTOCOL], additional_headers=headers) as ws:
        yield ws


async def send(ws: ClientConnection, **message: Any) -> None:
    await ws.send(json.dumps(message))


async def receive(ws: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(WAIT):
        message: dict[str, Any] = json.loads(await ws.recv())
    return message


async def closed_with(ws: ClientConnection) -> int | None:
    async with asyncio.timeout(WAIT):
        await ws.wait_closed()
    return ws.close_code


async def initialised(ws: ClientConnection, **payload: str) -> None:
    await send(ws, type="connection_init", payload=payload)
    assert await receive(ws) == {"type": "connection_ack"}


def subscribe(operation_id: str, deployment_id: str = LIVE) -> dict[str, Any]:
    return {
        "type": "subscribe",
        "id": operation_id,
        "payload": {"query": EVENTS, "variables": {"d": deployment_id}},
    }


@pytest.mark.parametrize(
    ("messages", "code"),
    [
        ([{"type": "connection_init"}, {"type": "connection_init"}], 4429),
        ([subscribe("1")], 4401),
        ([{"type": "connection_init"}, {"type": "launch"}], 4400),
        ([{"type": "connection_init"}, {"type": "subscribe", "id": "1", "payload": 7}], 4400),
        ([{"type": "connection_init"}, subscribe("1"), subscribe("1")], 4409),
    ],
    ids=["second-init", "before-ack", "unknown-type", "no-request", "id-in-use"],
)
async def test_graphql_ws_closes_on_protocol_errors(
    live: Live, messages: list[dict[str, Any]], code: int
) -> None:
    async with socket(live) as ws:
        for message in messages:
            await send(ws, **message)
        assert await closed_with(ws) == code


async def test_graphql_ws_wants_its_subprotocol(live: Live) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with connect(ws_url(live), subprotocols=[Subprotocol("graphql-ws")]):
            pass
    assert refused.value.response.status_code == 403


async def test_graphql_ws_pings_and_completes_on_request(live: Live) -> None:
    async with socket(live) as ws:
        await initialised(ws)
        await send(ws, type="ping")
        assert await receive(ws) == {"type": "pong"}
        await send(ws, **subscribe("a"))
        for _ in range(5):
            assert (await receive(ws))["id"] == "a"
        await send(ws, type="complete", id="a")
        await live.left()  # the subscription's place is given back
        await send(ws, **subscribe("a"))  # and its id may be used again
        assert (await receive(ws))["type"] == "next"


async def test_graphql_ws_refuses_a_subscription_over_the_callers_limit(
    make_live: LiveFactory,
) -> None:
    async with make_live(max_subscriptions_per_caller=1) as live, socket(live) as ws:
        await initialised(ws)
        await send(ws, **subscribe("1"))
        assert (await receive(ws))["type"] == "next"
        await send(ws, **subscribe("2", FINISHED))
        while (message := await receive(ws))["id"] != "2":
            pass
    assert message["type"] == "error"
    assert message["payload"][0]["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"
    assert message["payload"][0]["extensions"]["status"] == 429


async def test_graphql_ws_closes_with_going_away_at_shutdown(live: Live) -> None:
    async with socket(live) as ws:
        await initialised(ws)
        await send(ws, **subscribe("1"))
        await receive(ws)
        await live.watchers.close()
        assert await closed_with(ws) == 1001


# --- credentials ---------------------------------------------------------------------


async def test_graphql_ws_takes_credentials_in_connection_init(make_live: LiveFactory) -> None:
    async with make_live(**KEYED) as live, socket(live) as ws:
        await initialised(ws, **bearer(API_KEY))
        await send(ws, **subscribe("1"))
        assert (await receive(ws))["type"] == "next"


async def test_graphql_ws_closes_4403_for_a_wrong_key(make_live: LiveFactory) -> None:
    async with make_live(**KEYED) as live, socket(live) as ws:
        await send(ws, type="connection_init", payload={"X-API-Key": "not-a-key"})
        assert await closed_with(ws) == 4403


async def test_graphql_ws_without_credentials_gets_no_operation(make_live: LiveFactory) -> None:
    async with make_live(**KEYED) as live, socket(live) as ws:
        await send(ws, type="connection_init")
        assert await closed_with(ws) == 4403


async def test_graphql_ws_takes_credentials_in_the_handshake(make_live: LiveFactory) -> None:
    async with make_live(**KEYED) as live:
        async with socket(live, **bearer(API_KEY)) as ws:
            await initialised(ws)
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with socket(live, Authorization="Bearer not-a-key"):
                pass
    assert refused.value.response.status_code == 403


# --- GraphQL over SSE ------------------------------------------------------------------


async def sse(client: httpx.AsyncClient, query: str, **variables: Any) -> httpx.Response:
    return await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Accept": "text/event-stream"},
    )


def events_of(body: str) -> list[tuple[str, str]]:
    events = []
    for block in body.strip().split("\n\n"):
        fields = {}
        for line in block.split("\n"):
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        events.append((fields["event"], fields.get("data", "")))
    return events


async def test_graphql_sse_streams_a_finished_deployment_then_completes(live: Live) -> None:
    async with live.client() as client:
        response = await sse(client, EVENTS, d=FINISHED)
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    events = events_of(response.text)
    assert [kind for kind, _ in events] == ["next"] * 7 + ["complete"]
    first = json.loads(events[0][1])["data"]["deploymentEvents"]
    assert summary(first) == ("DeploymentChanged", "FAILED")


async def test_graphql_sse_reports_request_errors_as_a_next_event(live: Live) -> None:
    async with live.client() as client:
        response = await sse(client, "subscription { deploymentEvents(deploymentId: 7) { x } }")
    assert response.status_code == 200
    (kind, data), complete = events_of(response.text)
    assert kind == "next"
    assert json.loads(data)["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert complete[0] == "complete"


async def test_graphql_sse_refuses_a_caller_over_its_limit_with_429(make_live: LiveFactory) -> None:
    async with make_live(max_subscriptions_per_caller=1) as live, live.client() as client:
        headers = {"Accept": "text/event-stream"}
        body = {"query": EVENTS, "variables": {"d": LIVE}}
        async with client.stream("POST", "/graphql", json=body, headers=headers) as first:
            assert first.status_code == 200
            refused = await sse(client, EVENTS, d=FINISHED)
    assert refused.status_code == 429
    assert refused.json()["errors"][0]["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"


async def test_a_subscription_over_plain_http_is_refused(live: Live) -> None:
    async with live.client() as client:
        response = await client.post("/graphql", json={"query": EVENTS, "variables": {"d": LIVE}})
    assert response.json()["errors"][0]["extensions"]["code"] == "STREAM_REQUIRED"


async def test_a_websocket_session_is_logged_when_it_closes(
    live: Live, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="service.access")
    async with socket(live) as ws:
        await initialised(ws)
        assert ws.response is not None
        request_id = ws.response.headers["x-request-id"]
    await live.left()

    def logged() -> list[logging.LogRecord]:
        return [record for record in caplog.records if record.name == "service.access"]

    async with asyncio.timeout(WAIT):
        while not logged():  # noqa: ASYNC110  (written once the server saw the close)
            await asyncio.sleep(0.01)
    (record,) = logged()
    assert record.getMessage() == "WEBSOCKET /graphql 101"
    assert fields(record)["request_id"] == request_id


async def test_graphql_sse_ends_without_complete_at_shutdown(live: Live) -> None:
    body = {"query": EVENTS, "variables": {"d": LIVE}}
    headers = {"Accept": "text/event-stream"}
    async with (
        live.client() as client,
        client.stream("POST", "/graphql", json=body, headers=headers) as response,
    ):
        lines = response.aiter_lines()
        assert await anext(lines) == "event: next"
        await live.watchers.close()
        rest = [line async for line in lines]
    assert "event: complete" not in rest


async def test_events_that_would_read_more_are_refused_at_subscribe(live: Live) -> None:
    """An event carries what the watcher read; a selection that reads more for every
    event (here an instance of the deployment) is refused before anything runs."""
    nested = """subscription { deploymentEvents(deploymentId: "d-EXAMPLE07") {
      ... on DeploymentChanged { deployment { status instance(instanceId: "i-0e1f2a3b4c5d60001") { status } } }
    } }"""
    calls = live.upstream.calls()
    async with socket(live) as ws:
        await initialised(ws)
        await send(ws, type="subscribe", id="1", payload={"query": nested})
        refused = await receive(ws)
    assert refused["type"] == "error"
    assert refused["payload"][0]["extensions"]["code"] == "COST_LIMIT_EXCEEDED"
    assert live.upstream.calls() == calls


async def test_graphql_ws_frees_an_id_at_its_complete(live: Live) -> None:
    async with socket(live) as ws:
        await initialised(ws)
        await send(ws, **subscribe("a"))
        await receive(ws)
        await send(ws, type="complete", id=["not", "a", "string"])  # ignored
        await send(ws, type="complete", id="a")
        await send(ws, **subscribe("a"))  # at once: no 4409
        while (message := await receive(ws))["type"] != "next" or message["payload"]["data"][
            "deploymentEvents"
        ]["__typename"] != "DeploymentChanged":
            pass


async def test_graphql_ws_refuses_an_operation_past_its_count(make_live: LiveFactory) -> None:
    async with make_live(max_subscriptions_per_caller=200) as live, socket(live) as ws:
        await initialised(ws)
        for n in range(101):
            await send(ws, **subscribe(str(n)))
        while (message := await receive(ws))["type"] != "error":
            pass
    assert message["id"] == "100"
    assert message["payload"][0]["extensions"]["code"] == "TOO_MANY_OPERATIONS"


FOLLOW = """subscription ($g: String!) { deploymentGroupEvents(applicationName: "orders-api",
  deploymentGroupName: $g) { __typename } }"""


async def test_graphql_refuses_a_group_over_the_followed_limit_in_both_transports(
    make_live: LiveFactory,
) -> None:
    """GATEWAY_MAX_FOLLOWED_GROUPS: 429 over SSE, an error message over WebSocket."""
    async with make_live(max_followed_groups=1) as live, live.client() as client:
        headers = {"Accept": "text/event-stream"}
        body = {"query": FOLLOW, "variables": {"g": "orders-api-staging"}}
        async with client.stream("POST", "/graphql", json=body, headers=headers) as first:
            assert first.status_code == 200
            refused = await sse(client, FOLLOW, g="orders-api-prod")
            async with socket(live) as ws:
                await initialised(ws)
                payload = {"query": FOLLOW, "variables": {"g": "orders-api-prod"}}
                await send(ws, type="subscribe", id="g", payload=payload)
                message = await receive(ws)
    assert refused.status_code == 429
    assert refused.json()["errors"][0]["extensions"]["code"] == "TOO_MANY_FOLLOWED_GROUPS"
    assert message["type"] == "error"
    assert message["payload"][0]["extensions"]["code"] == "TOO_MANY_FOLLOWED_GROUPS"
