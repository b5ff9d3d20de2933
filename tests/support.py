"""What tests share besides fixtures: constants, fakes, helpers, subprocess gateways."""

import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.emulator import Emulator

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
    # Stopped at once when the test is done: the 5 s drain before shutdown is for load
    # balancers, and would be most of a module's teardown.
    clean["GATEWAY_DRAIN_SECONDS"] = "0"
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


def deadline(fault: dict[str, float]) -> float:
    """An upstream deadline for a fault test: short only where the deadline is the point,
    so a slow machine does not turn other faults into timeouts."""
    return 0.2 if "latency_seconds" in fault else 5.0


GatewayFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


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
