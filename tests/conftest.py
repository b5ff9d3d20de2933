"""Shared fixtures: a real emulator on a loopback port and gateways pointed at it.

The gateway reaches the emulator through the standard ``AWS_ENDPOINT_URL_CODEDEPLOY``
variable, over real HTTP, with the real aioboto3 client: nothing in botocore is mocked.
"""

import asyncio
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvloop
from asgi_lifespan import LifespanManager

from service.app import create_app
from service.emulator import Emulator, load_data, serve_emulator
from service.settings import Settings

# The identity provider's fixtures (signing keys, tokens, a JWKS on loopback).
pytest_plugins = ["tests.identity"]

ACCESS_KEY_ID = "AKIATESTGATEWAY00001"
SECRET_ACCESS_KEY = "test-secret-never-shown-0123456789abcdef"
FAILED = ("d-EXAMPLE01", "i-0a1b2c3d4e5f60002")
# An instance with enum values AWS may add one day.
FUTURE_INSTANCE = {
    "instanceId": "i-future",
    "status": "Paused",
    "instanceType": "Purple",
    "lifecycleEvents": [{"status": "Waiting", "diagnostics": {"errorCode": "ScriptExploded"}}],
}
IN_PROGRESS = ("d-EXAMPLE01", "i-0a1b2c3d4e5f60003")


class FakeClock:
    """Time that moves only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Upstream:
    emulator: Emulator
    url: str

    def calls(self, operation: str | None = None) -> int:
        """Calls the emulator answered, of one operation or of all."""
        if operation is None:
            return sum(self.emulator.calls.values())
        return self.emulator.calls[operation]


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """uvloop, the loop uvicorn runs the gateway on. Under the plain asyncio loop every
    loopback round trip to the emulator here took ~40 ms longer, hiding real costs."""
    return {"uvloop": uvloop.new_event_loop}


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """A clean, offline AWS chain: test credentials, no host config, no metadata service."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "GATEWAY_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
async def upstream(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Upstream]:
    emulator = Emulator(load_data(), seed=0)
    async with serve_emulator(emulator) as url:
        monkeypatch.setenv("AWS_ENDPOINT_URL_CODEDEPLOY", url)
        yield Upstream(emulator, url)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_gateway(log: Path, **env: str) -> Iterator[str]:
    """``python -m service --local`` on a loopback port, as `make run` starts it, with
    ``env`` (GATEWAY_* variables) on top of a clean environment."""
    with running_process(log, **env) as (url, _):
        yield url


@contextmanager
def running_process(log: Path, **env: str) -> Iterator[tuple[str, "subprocess.Popen[bytes]"]]:
    """``running_gateway``, with its process."""
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GATEWAY_"))}
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "service", "--local", "--port", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**clean, **env},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        # A separate process: the only way to know it serves is to ask, a bounded number of times.
        for _ in range(300):
            if process.poll() is not None:
                pytest.fail(f"the gateway exited at start-up:\n{log.read_text()}")
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail(f"the gateway did not start:\n{log.read_text()}")
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def local_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_gateway(tmp_path_factory.mktemp("local-gateway") / "gateway.log") as url:
        yield url


def deadline(fault: dict[str, float]) -> float:
    """An upstream deadline for a fault test: short only where the deadline is the point,
    so a slow machine does not turn other faults into timeouts."""
    return 0.2 if "latency_seconds" in fault else 5.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


GatewayFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def make_gateway(clock: FakeClock) -> GatewayFactory:
    """Builds a gateway from the environment plus ``overrides``, lifespan and all;
    open (``GATEWAY_AUTH=none``) unless a test says otherwise."""

    @asynccontextmanager
    async def make(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        defaults = {"auth": "none", "cursor_secret": "shared by the test replicas"}
        app = create_app(Settings(**{**defaults, **overrides}), clock=clock)
        async with (
            LifespanManager(app) as manager,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=manager.app), base_url="http://gateway"
            ) as client,
        ):
            yield client

    return make


@pytest.fixture
async def gateway(
    upstream: Upstream, make_gateway: GatewayFactory
) -> AsyncIterator[httpx.AsyncClient]:
    async with make_gateway() as client:
        yield client


def fields(record: logging.LogRecord) -> dict[str, Any]:
    """What the access log gave its record (``extra={"fields": ...}``)."""
    given: dict[str, Any] = record.__dict__["fields"]
    return given


async def graphql(client: httpx.AsyncClient, query: str, **variables: Any) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


INSTANCE_QUERY = """
query ($d: ID!, $i: ID!) {
  deploymentInstance(deploymentId: $d, instanceId: $i) {
    deploymentId instanceId status lastUpdatedAt instanceType
    lifecycleEvents {
      lifecycleEventName status startTime endTime
      diagnostics { errorCode scriptName message logTail }
    }
  }
}
"""
