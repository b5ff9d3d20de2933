"""Deliveries to real receivers over real sockets: signed, retried with the same id,
disabled by 410, kept as dead letters and sent again; redirects never followed, metadata
and private addresses never called."""

import asyncio
import json
import socket
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook as Verifier

from service.app import create_app
from service.live.changes import Watched
from service.settings import ConfigurationError, Settings
from service.webhooks import Webhooking
from service.webhooks.config import Webhook
from service.webhooks.delivery import Sender
from service.webhooks.messages import Message
from service.webhooks.outbox import Pending
from tests.identity import API_KEY, API_KEYS, OTHER_KEY
from tests.support import (
    LIVE,
    WAIT,
    GatewayFactory,
    Live,
    LiveFactory,
    RedisServer,
    Upstream,
    free_port,
    put_deployment,
    running_process,
    until,
)
from tests.webhooks.conftest import SECRET, Receiver, hooks_file, receiving

APPLICATION, GROUP = "orders-api", "orders-api-staging"


def hook(receiver: Receiver, **extra: Any) -> dict[str, Any]:
    return {"name": "tracker", "url": receiver.url, "applications": [APPLICATION],
            "deploymentGroups": [GROUP], "events": ["deployment"], **extra}  # fmt: skip


def settings(tmp_path: Path, *hooks: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {
        "webhooks_file": hooks_file(tmp_path, *hooks, **top),
        "webhooks_db": tmp_path / "webhooks.db",
        "webhooks_retry_base_seconds": 0.05,
    }


def changed(live: Live) -> None:
    """CodeDeploy changed: the group's feed and the deployment's watcher read now."""
    where = live.gateway.state["resolvers"].accounts.default
    live.gateway.state["follows"].changed(where, APPLICATION, GROUP)
    live.watchers.changed(Watched(where, LIVE))


def types(receiver: Receiver) -> list[str]:
    return [d.json["type"] for d in receiver.deliveries() if d.path == "/hook"]


async def test_a_signed_delivery_follows_a_change_in_codedeploy(
    make_live: LiveFactory, receiver: Receiver, tmp_path: Path
) -> None:
    async with make_live(**settings(tmp_path, hook(receiver))) as live:
        await until(lambda: types(receiver) == ["deployment.inprogress"])
        live.clock.advance(57)  # the rolling run is over
        changed(live)
        await until(lambda: "deployment.succeeded" in types(receiver))
    first, last = receiver.deliveries()[0], receiver.deliveries()[-1]
    verified = Verifier(SECRET).verify(last.body, last.headers)
    assert verified["data"]["deploymentInfo"]["deploymentId"] == LIVE
    assert verified["data"]["deploymentInfo"]["status"] == "Succeeded"
    assert (verified["applicationName"], verified["deploymentGroupName"]) == (APPLICATION, GROUP)
    assert first.headers["webhook-id"] != last.headers["webhook-id"]
    assert last.headers["Content-Type"] == "application/json"
    assert last.headers["User-Agent"].startswith("codedeploy-gateway/")


async def test_a_failing_receiver_gets_the_same_event_on_its_fourth_try(
    make_live: LiveFactory, receiver: Receiver, tmp_path: Path
) -> None:
    receiver.answers = [(500, {})] * 3
    async with make_live(**settings(tmp_path, hook(receiver))) as live:
        await until(lambda: len(receiver.deliveries()) == 4)
        async with live.client() as client:
            metrics = (await client.get("/metrics")).text
            state = (await client.get("/operations/webhooks")).json()
    ids = {delivery.headers["webhook-id"] for delivery in receiver.deliveries()}
    assert len(ids) == 1
    for delivery in receiver.deliveries():  # each try signed anew, each verifies
        Verifier(SECRET).verify(delivery.body, delivery.headers)
    assert 'gateway_webhook_deliveries_total{outcome="retry",webhook="tracker"} 3.0' in metrics
    assert 'gateway_webhook_deliveries_total{outcome="delivered",webhook="tracker"} 1.0' in metrics
    assert state["webhooks"][0] | {"waiting": 0} == {
        "name": "tracker", "host": "127.0.0.1", "format": "standard", "events": ["deployment"],
        "enabled": True, "disabledBecause": None, "waiting": 0, "deadLetters": 0,
    }  # fmt: skip


async def test_410_disables_the_webhook_and_an_operator_sends_again(
    make_live: LiveFactory, receiver: Receiver, tmp_path: Path
) -> None:
    receiver.answers = [(410, {})]
    async with make_live(**settings(tmp_path, hook(receiver))) as live, live.client() as client:
        await until(lambda: len(receiver.deliveries()) == 1)
        webhooking: Webhooking = live.gateway.state["webhooks"]
        async with asyncio.timeout(WAIT):
            while "tracker" not in await webhooking.outbox.disabled():  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        listed = (await client.get("/operations/webhooks")).json()["webhooks"][0]
        letters = (await client.get("/operations/webhooks/dead-letters")).json()["deadLetters"]
        assert (listed["enabled"], listed["disabledBecause"]) == (False, "410 Gone")
        assert len(letters) == 1
        assert letters[0]["lastError"] == "410"
        assert letters[0]["webhookId"] == receiver.deliveries()[0].headers["webhook-id"]
        missing = await client.post("/operations/webhooks/dead-letters/404/resend")
        assert (missing.status_code, missing.json()["code"]) == (404, "DEAD_LETTER_NOT_FOUND")
        resent = await client.post(f"/operations/webhooks/dead-letters/{letters[0]['ref']}/resend")
        assert resent.status_code == 202
        enabled = await client.post("/operations/webhooks/tracker/enable")
        assert enabled.status_code == 200
        await until(lambda: len(receiver.deliveries()) == 2)
        again = (await client.get("/operations/webhooks/dead-letters")).json()["deadLetters"]
    first, second = receiver.deliveries()
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert again == []


async def test_a_redirect_is_not_followed(
    make_live: LiveFactory, receiver: Receiver, tmp_path: Path
) -> None:
    followed = receiver.url.replace("/hook", "/followed")
    receiver.answers = [(307, {"Location": followed})] * 2
    async with make_live(**settings(tmp_path, hook(receiver))):
        await until(lambda: len(receiver.deliveries()) == 3)  # two redirects, then a 204
    assert [delivery.path for delivery in receiver.deliveries()] == ["/hook"] * 3


async def test_metadata_private_and_unlisted_receivers_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"169\.254\.169\.254 is a cloud metadata address"):
        create_app(Settings(auth="none", **settings(
            tmp_path, {"name": "x", "url": "http://169.254.169.254/latest/meta-data/"},
            allowedHosts=["169.254.169.254"], privateHosts=["169.254.169.254"],
        )))  # fmt: skip
    with pytest.raises(ConfigurationError, match=r"host 'evil\.example' is not in allowedHosts"):
        create_app(
            Settings(
                auth="none", **settings(tmp_path, {"name": "x", "url": "https://evil.example/"})
            )
        )
    # A name that resolves to loopback, its host not in privateHosts: refused after DNS,
    # before any connection.
    refused = Webhook("x", "http://localhost:9/hook", "localhost", b"k" * 32, None, None, None,
                      frozenset({"all"}), "standard", private=False)  # fmt: skip
    sender = Sender()
    pending = Pending(Message("x", "k", "msg_1", b"{}", 0.0), 0, "1")
    try:
        outcome = await sender.send(refused, pending)
    finally:
        await sender.close()
    assert outcome.error is not None
    assert outcome.error.startswith("refused: localhost: 127.0.0.1 is private, loopback")


async def test_without_webhooks_the_operator_routes_say_so(
    make_live: LiveFactory,
) -> None:
    async with make_live() as live, live.client() as client:
        answer = await client.get("/operations/webhooks")
    assert (answer.status_code, answer.json()["code"]) == (404, "WEBHOOK_NOT_FOUND")


async def test_three_replicas_over_one_store_deliver_each_event_once(
    make_live: LiveFactory, receiver: Receiver, redis: RedisServer, tmp_path: Path
) -> None:
    fleet = settings(tmp_path, hook(receiver)) | {"redis_url": redis.url, "webhooks_db": None}
    async with make_live(**fleet) as one, make_live(**fleet) as two, make_live(**fleet) as three:
        await until(lambda: types(receiver) == ["deployment.inprogress"])
        one.clock.advance(57)  # the emulator's, shared: the rolling run is over
        for replica in (one, two, three):
            changed(replica)
        await until(lambda: "deployment.succeeded" in types(receiver))
        store = redis.client()
        await until(lambda: not store.keys("cdgw:*wh:q:*"))  # every queue settled
    ids = [delivery.headers["webhook-id"] for delivery in receiver.deliveries()]
    assert types(receiver) == ["deployment.inprogress", "deployment.succeeded"]
    assert len(set(ids)) == 2


@pytest.mark.processes
def test_killed_with_deliveries_waiting_a_restart_delivers_them(tmp_path: Path) -> None:
    """``kill -9`` while the receiver is down and deliveries wait; started again with the
    receiver up, everything that waited arrives, under the ids it had."""
    port = free_port()  # nothing listens there yet: every try fails
    path = hooks_file(tmp_path, {"name": "tracker", "url": f"http://127.0.0.1:{port}/hook",
                                 "applications": [APPLICATION]})  # fmt: skip
    database = tmp_path / "webhooks.db"
    env = {"GATEWAY_WEBHOOKS_FILE": str(path), "GATEWAY_WEBHOOKS_DB": str(database),
           "GATEWAY_WEBHOOKS_RETRY_BASE_SECONDS": "0.05"}  # fmt: skip

    def waiting() -> set[str]:
        with sqlite3.connect(database) as db:
            rows = db.execute("SELECT id FROM messages WHERE state = 'waiting' AND attempts > 0")
            return {id_ for (id_,) in rows}

    with running_process(tmp_path / "first.log", **env) as (_, process):
        _until(lambda: len(waiting()) >= 3)  # tried, failed, waiting for the next try
        process.kill()
        process.wait()
    queued = waiting()
    with receiving(port) as receiver, running_process(tmp_path / "second.log", **env):
        _until(lambda: queued <= {d.headers["webhook-id"] for d in receiver.deliveries()})
    for delivery in receiver.deliveries():
        Verifier(SECRET).verify(delivery.body, delivery.headers)


def _until(condition: Callable[[], bool]) -> None:
    """A bound on a hang (processes, not this loop's tasks), not a measurement."""
    deadline = time.monotonic() + 3 * WAIT
    while not condition():
        assert time.monotonic() < deadline, "waited too long"
        time.sleep(0.05)


async def test_the_operator_routes_want_the_metrics_key_or_every_account(
    make_gateway: GatewayFactory, upstream: Upstream, receiver: Receiver, tmp_path: Path
) -> None:
    accounts = tmp_path / "accounts.json"
    other = {"roleArn": "arn:aws:iam::222222222222:role/read", "regions": ["us-east-1"]}
    accounts.write_text(json.dumps({"default": "default", "accounts": {
        "default": {"regions": ["us-east-1"]}, "other": other}}))  # fmt: skip
    keys = {
        "billing": {"sha256": API_KEYS["billing"], "accounts": ["other"]},
        "status-page": API_KEYS["status-page"],  # every account
    }
    config = settings(tmp_path, hook(receiver))
    async with make_gateway(auth="api-key", api_keys=json.dumps(keys), accounts_file=accounts,
                            **config) as client:  # fmt: skip
        narrow = await client.get("/operations/webhooks", headers={"X-API-Key": API_KEY})
        wide = await client.get("/operations/webhooks", headers={"X-API-Key": OTHER_KEY})
        anonymous = await client.get("/operations/webhooks")
        resend = await client.post(
            "/operations/webhooks/dead-letters/1/resend", headers={"X-API-Key": API_KEY}
        )
    assert (narrow.status_code, narrow.json()["code"]) == (403, "FORBIDDEN")
    assert (resend.status_code, resend.json()["code"]) == (403, "FORBIDDEN")
    assert wide.status_code == 200
    assert anonymous.status_code == 401
    async with make_gateway(metrics_api_key="m" * 32, **config) as client:
        keyed = await client.get("/operations/webhooks", headers={"X-API-Key": "m" * 32})
        unkeyed = await client.get("/operations/webhooks")
    assert (keyed.status_code, unkeyed.status_code) == (200, 401)


async def test_a_bad_outbox_file_stops_start_up_in_one_line(tmp_path: Path) -> None:
    not_sqlite = tmp_path / "text.db"
    not_sqlite.write_text("not a database, " * 100)
    for database, reason in ((tmp_path / "no" / "such.db", "unable to open database file"),
                             (not_sqlite, "file is not a database")):  # fmt: skip
        config = settings(tmp_path, {"name": "x", "url": "http://127.0.0.1:9/"})
        with pytest.raises(ConfigurationError) as error:
            create_app(Settings(auth="none", **(config | {"webhooks_db": database})))
        assert str(error.value) == f"GATEWAY_WEBHOOKS_DB ({database}): {reason}"


@pytest.mark.parametrize(
    "answer", [b"HTTP/1.1 abc\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"]
)
async def test_a_malformed_answer_is_an_error_that_names_no_url(answer: bytes) -> None:
    """A Slack URL's path is its secret: no error text may carry it."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        secret_path = "/services/T0SECRET/B0SECRET/xoxSECRET"

        def answer_once() -> None:
            connection, _ = server.accept()
            with connection:
                connection.recv(65536)
                connection.sendall(answer)

        answering = asyncio.create_task(asyncio.to_thread(answer_once))
        slack = Webhook("slack", f"http://127.0.0.1:{port}{secret_path}", "127.0.0.1",
                        b"k" * 32, None, None, None, frozenset({"all"}), "slack", private=True)  # fmt: skip
        sender = Sender()
        try:
            outcome = await sender.send(
                slack, Pending(Message("slack", "k", "m", b"{}", 0), 0, "1")
            )
        finally:
            await sender.close()
            await answering
    assert outcome.error is not None
    assert "SECRET" not in outcome.error


SLACKED = "d-SLACK0001"


def slack_deployment(status: str) -> dict[str, Any]:
    """A prod deployment of three instances, two of which fail at ApplicationStart."""
    failing = {"lifecycleEventName": "ApplicationStart", "status": "Failed", "diagnostics": {
        "errorCode": "ScriptFailed", "scriptName": "scripts/start_server.sh",
        "message": "Script failed with exit code 1", "logTail": "booting\nport 8080 in use\n"}}  # fmt: skip
    return {
        "computePlatform": "Server",
        "status": status,
        "applicationName": APPLICATION,
        "deploymentGroupName": "orders-api-prod",
        "instances": [
            {
                "deploymentId": SLACKED,
                "instanceId": f"i-{number}",
                "status": "Failed" if status == "Failed" and number < 2 else "InProgress",
                "lastUpdatedAt": 1795518061.0 + number,
                "lifecycleEvents": [failing] if status == "Failed" and number < 2 else [],
            }
            for number in range(3)
        ],
    }


async def test_slack_hears_a_failed_deployment_with_its_failures(
    make_live: LiveFactory, receiver: Receiver, tmp_path: Path
) -> None:
    chat = {"name": "deploys", "url": receiver.url, "applications": [APPLICATION],
            "deploymentGroups": ["orders-api-prod"], "events": ["deployment"], "format": "slack"}  # fmt: skip
    config = settings(tmp_path, chat, boardUrl="https://deploys.example.com/board")
    async with make_live(**config) as live:
        await put_deployment(live.upstream, SLACKED, slack_deployment("InProgress"))
        where = live.gateway.state["resolvers"].accounts.default
        live.gateway.state["follows"].changed(where, APPLICATION, "orders-api-prod")
        await until(lambda: len(receiver.deliveries()) == 1)
        await put_deployment(live.upstream, SLACKED, slack_deployment("Failed"))
        live.changed(SLACKED)
        await until(lambda: len(receiver.deliveries()) == 2)
    started, failed = (delivery.json for delivery in receiver.deliveries())
    assert started["blocks"][0]["text"]["text"] == f"Deployment {SLACKED} inprogress"
    assert failed["blocks"][0]["text"]["text"] == f"Deployment {SLACKED} failed"
    sections = [block["text"]["text"] for block in failed["blocks"] if block["type"] == "section"]
    failures = [text for text in sections if "failed at *ApplicationStart*" in text]
    assert len(failures) == 2
    assert "(`scripts/start_server.sh`)" in failures[0]
    assert "port 8080 in use" in failures[0]
    assert "<https://deploys.example.com/board|Open the board>" in json.dumps(failed)
