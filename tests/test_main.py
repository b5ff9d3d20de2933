"""``python -m service`` as a user runs it: clear start-up errors, and local mode."""

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from service.accounts import EVERY_ACCOUNT
from service.app import create_app
from service.guard.keys import ApiKeys, hash_key
from service.settings import Settings
from tests.support import free_port, run_service

pytestmark = pytest.mark.processes

PROTOCOL = Subprotocol("graphql-transport-ws")


def test_a_bad_value_stops_start_up_naming_the_variable() -> None:
    result = run_service(GATEWAY_UPSTREAM_MAX_ATTEMPTS="0")
    assert result.returncode == 2
    assert "GATEWAY_UPSTREAM_MAX_ATTEMPTS" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_region_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION")
    result = run_service(GATEWAY_AUTH="none")
    assert result.returncode == 2
    assert "AWS_REGION" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_start_without_gateway_auth_refuses_to_run() -> None:
    result = run_service()
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "configuration error: GATEWAY_AUTH is required outside --local: "
        "none, api-key, jwt or api-key,jwt"
    ]


def test_auth_none_must_be_said_and_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    create_app(Settings(auth="none"))
    assert any(
        record.levelname == "WARNING" and "GATEWAY_AUTH=none" in record.getMessage()
        for record in caplog.records
    )
    caplog.clear()
    create_app(Settings(local=True))  # --local is open without saying so, and quietly
    assert not caplog.records


def test_hash_key_makes_a_key_and_its_entry() -> None:
    result = run_service("hash-key", "--name", "billing")
    assert result.returncode == 0
    key_line, entry_line = result.stdout.splitlines()
    key = key_line.rsplit(" ", 1)[1]
    entry = json.loads(entry_line.split(": ", 1)[1])
    assert ApiKeys.parse(json.dumps(entry), "entry").caller(key) == ("billing", EVERY_ACCOUNT)
    assert len(key) >= 43  # 256 bits


def test_hash_key_hashes_a_key_from_stdin() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "service", "hash-key", "--stdin", "--name", "ci"],
        input="my-existing-key\n", capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "my-existing-key" not in result.stdout
    assert (
        result.stdout.strip()
        == f'GATEWAY_API_KEYS entry: {{"ci": "{hash_key("my-existing-key")}"}}'
    )


def test_an_unreadable_data_file_stops_local_mode(tmp_path: Path) -> None:
    data = tmp_path / "data.json"
    data.write_text('{"deployments": [')
    result = run_service("--local", "--local-data", str(data))
    assert result.returncode == 2
    assert str(data) in result.stderr


async def test_local_mode_prints_urls_that_work_once_serving() -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "service", "--local", "--port", str(port),
        env={**os.environ, "GATEWAY_DRAIN_SECONDS": "0"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert process.stdout is not None
    output: list[str] = []
    try:
        async with asyncio.timeout(30):
            while not output or "Emulator:" not in output[-1]:
                output.append((await process.stdout.readline()).decode())
        printed = "".join(output)
        example = next(line.split("curl ", 1)[1].strip() for line in output if "curl " in line)
        assert f"http://127.0.0.1:{port}/docs" in printed
        assert f"http://127.0.0.1:{port}/graphql" in printed
        emulator = output[-1].split()[1]
        async with httpx.AsyncClient() as client:
            response = await client.get(example)
            docs = await client.get(f"http://127.0.0.1:{port}/docs")
        assert response.status_code == 200
        assert response.json()["instanceSummary"]["status"] == "Failed"
        assert docs.status_code == 200
        assert "server" not in response.headers
        # The emulator the banner names answers CodeDeploy's own API (boto3 here).
        info = await asyncio.to_thread(read_deployment, emulator, "d-EXAMPLE01")
        assert info["status"] == "Failed"
    finally:
        process.terminate()
        await process.wait()


def read_deployment(endpoint: str, deployment_id: str) -> dict[str, Any]:
    client = boto3.client(
        "codedeploy",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    info: dict[str, Any] = client.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    return info


def test_a_port_in_use_prints_no_banner() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "service", "--local", "--port", str(port)],
            env={**os.environ, "GATEWAY_DRAIN_SECONDS": "0"},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode != 0
    assert "address already in use" in result.stdout + result.stderr
    assert "codedeploy-gateway on" not in result.stdout


@asynccontextmanager
async def started(drain_seconds: str) -> AsyncIterator[tuple[asyncio.subprocess.Process, int]]:
    """``python -m service --local`` started and serving; killed at the end if still up."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "service", "--local", "--port", str(port),
        env={**os.environ, "GATEWAY_DRAIN_SECONDS": drain_seconds},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        async with asyncio.timeout(30):
            while b"Application startup complete" not in await process.stdout.readline():
                pass
            yield process, port
    finally:
        if process.returncode is None:
            process.kill()


async def test_sigterm_drains_before_stopping() -> None:
    async with started("1") as (process, port):
        assert process.stdout is not None
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            assert (await client.get("/readyz")).status_code == 200
            process.terminate()
            while b"not ready" not in await process.stdout.readline():
                pass
            ready, live = await client.get("/readyz"), await client.get("/healthz")
        output = (await process.stdout.read()).decode()
        await process.wait()
    assert (ready.status_code, live.status_code) == (503, 200)
    assert "Application shutdown complete" in output


def test_an_unset_cursor_secret_is_warned_about_outside_local_mode(
    caplog: pytest.LogCaptureFixture,
) -> None:
    create_app(Settings(auth="none"))
    assert any("GATEWAY_CURSOR_SECRET" in record.getMessage() for record in caplog.records)
    caplog.clear()
    create_app(Settings(auth="none", cursor_secret="shared"))
    assert not [r for r in caplog.records if "GATEWAY_CURSOR_SECRET" in r.getMessage()]


async def test_sigterm_ends_streams_so_clients_reconnect_elsewhere() -> None:
    query = 'subscription { deploymentEvents(deploymentId: "d-EXAMPLE07") { __typename } }'
    subscribe = {"type": "subscribe", "id": "1", "payload": {"query": query}}
    async with (
        started("0") as (process, port),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client,
        client.stream("GET", "/v1/deployments/d-EXAMPLE07/events") as events,
        connect(f"ws://127.0.0.1:{port}/graphql", subprotocols=[PROTOCOL]) as ws,
    ):
        await ws.send(json.dumps({"type": "connection_init"}))
        await ws.send(json.dumps(subscribe))
        await ws.recv()  # the acknowledgement
        await ws.recv()  # the first event
        lines = events.aiter_lines()
        assert (await anext(lines)).startswith("id: ")
        process.terminate()
        rest = [line async for line in lines]  # ends, and cleanly: no error
        await ws.wait_closed()
        await process.wait()
    assert ws.close_code == 1001
    assert rest
