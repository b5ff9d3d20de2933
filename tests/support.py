"""What tests share besides fixtures: constants, fakes, helpers, subprocess gateways."""

import asyncio
import json
import logging
import os
import shutil
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
from graphql import get_operation_ast, parse
from graphql.execution.values import VariableValues, get_variable_values
from starlette.types import ASGIApp, Receive, Scope, Send

from service.accounts import Accounts
from service.codedeploy import UpstreamConfig, Upstreams
from service.edge.connections import BoundedWebSocket, bounded_protocol
from service.emulator import Emulator
from service.emulator.server import serve
from service.graphql.cost import ALONE, upstream_calls
from service.graphql.schema import schema
from service.live import Watched, Watchers
from service.metrics import Metrics
from service.reads import Resolver, Resolvers, make_caches
from service.settings import Settings, UpstreamApi
from service.tokens import Cursors

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
# Settings for replicas sharing a store: a generous store timeout on a loaded machine, and
# one upstream attempt, so an emulator's fault is seen as it is.
FLEET = {"redis_timeout_seconds": 2, "upstream_max_attempts": 1}


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
def running_process(
    log: Path, local: bool = True, /, **env: str
) -> Iterator[tuple[str, "subprocess.Popen[bytes]"]]:
    """``running_gateway``, with its process; ``local=False`` reads the CodeDeploy the
    environment names."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GATEWAY_"))}
    # Stopped at once when the test is done: the 5 s drain before shutdown is for load
    # balancers, and would be most of a module's teardown.
    clean["GATEWAY_DRAIN_SECONDS"] = "0"
    # A free port can be taken by another test's process before this one binds it: the
    # gateway then exits, and starts again on another.
    for _ in range(3):
        port = free_port()
        with log.open("w") as output:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "service",
                    *(["--local"] if local else []),
                    "--port",
                    str(port),
                ],
                stdout=output,
                stderr=subprocess.STDOUT,
                env={**clean, **env},
            )
        url = f"http://127.0.0.1:{port}"
        if _serving(process, url, log):
            break
    else:
        pytest.fail(f"the gateway found no free port:\n{log.read_text()}")
    try:
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=10)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def read_all(sock: socket.socket) -> bytes:
    """Everything until the gateway closes the connection (the socket's timeout bounds it)."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def send_until_closed(sock: socket.socket, data: bytes, most: int) -> int:
    """Sends ``data`` again and again until the gateway stops taking it or ``most`` bytes
    went; how many went."""
    sent = 0
    try:
        while sent < most:
            sock.sendall(data)
            sent += len(data)
    except OSError:  # reset or closed by the gateway
        pass
    return sent


def _serving(process: "subprocess.Popen[bytes]", url: str, log: Path) -> bool:
    """Whether the gateway came up (False: its port was taken); fails the test otherwise."""
    # A separate process: the only way to know it serves is to ask, a bounded number of times.
    for _ in range(300):
        if process.poll() is not None:
            if "address already in use" in log.read_text():
                return False
            pytest.fail(f"the gateway exited at start-up:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return True
        except httpx.TransportError:
            time.sleep(0.1)
    process.terminate()
    pytest.fail(f"the gateway did not start:\n{log.read_text()}")


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


SCHEMA = schema._schema

# Tests of the tools others install from npm: run where Node is (make test installs it).
NPM = [
    pytest.mark.npm,
    pytest.mark.processes,
    pytest.mark.skipif(
        shutil.which("npm") is None,
        reason="Node and npm are not installed (make test installs them when run as root)",
    ),
]


def npm_tool(test: Callable[..., Any]) -> Callable[..., Any]:
    """Marks one test as ``NPM`` marks a module."""
    for mark in NPM:
        test = mark(test)
    return test


def npm_install(where: Path, *packages: str) -> Path:
    """``packages``, exact versions, installed from the npm registry into ``where`` (npm's
    cache makes later runs quick): what a test checked is what it checks next time."""
    install = ["npm", "install", "--no-audit", "--no-fund", "--silent", "--prefix", str(where)]
    subprocess.run([*install, *packages], check=True, timeout=300)
    return where


def codes(body: dict[str, Any]) -> list[str]:
    """A GraphQL answer's error codes, in order."""
    return [error["extensions"]["code"] for error in body.get("errors", [])]


def estimate(
    query: str,
    operation_name: str | None = None,
    *,
    alone: frozenset[str] = ALONE,
    **variables: Any,
) -> int:
    """The CodeDeploy calls the gateway's estimate gives ``query`` with ``variables``
    (``alone``: as ``costs.read_alone`` says for the upstream API read)."""
    node = parse(query)
    operation = get_operation_ast(node, operation_name)
    assert operation is not None
    coerced = get_variable_values(SCHEMA, operation.variable_definitions or (), variables)
    assert isinstance(coerced, VariableValues), coerced
    return upstream_calls(SCHEMA, node, operation, coerced, alone)


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


@dataclass
class Served:
    """A gateway serving on a loopback port, in this process: its URL, and the state its
    lifespan made (the watchers, the metrics), for a test to reach in."""

    url: str
    state: dict[str, Any]


@asynccontextmanager
async def served(app: ASGIApp) -> AsyncIterator[Served]:
    """``app`` under uvicorn on a real socket, lifespan and connection bounds as deployed:
    for what an in-memory transport cannot show (streams, WebSockets, cut connections)."""
    state: dict[str, Any] = {}

    async def capture(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            state["lifespan"] = scope["state"]
        await app(scope, receive, send)

    http = bounded_protocol(32_768, 10.0)
    async with serve(capture, lifespan="on", http=http, ws=BoundedWebSocket) as url:
        yield Served(url, state["lifespan"])


LIVE = "d-EXAMPLE07"  # four instances, one at a time, 2 s a lifecycle event
FINISHED = "d-EXAMPLE01"
# What a test waits for an event at most: a bound on a hang, not a measurement.
WAIT = 10.0


async def until(condition: Callable[[], bool]) -> None:
    """Until ``condition()`` holds, for work a test started behind the caller (no event
    says it is done): a bound on a hang, not a measurement."""
    async with asyncio.timeout(WAIT):
        while not condition():  # noqa: ASYNC110  # background tasks, on this loop
            await asyncio.sleep(0.01)


@dataclass
class Event:
    id: str
    event: str
    data: dict[str, Any]


@dataclass
class Live:
    upstream: Upstream
    clock: FakeClock
    """The emulator's: where the rolling deployment is in its run."""
    gateway: Served

    @property
    def watchers(self) -> Watchers:
        watchers: Watchers = self.gateway.state["watchers"]
        return watchers

    def changed(self, deployment_id: str = LIVE) -> None:
        """CodeDeploy changed (in the default account): the watcher reads again now."""
        resolvers: Resolvers = self.gateway.state["resolvers"]
        assert self.watchers.changed(Watched(resolvers.accounts.default, deployment_id))

    async def left(self) -> None:
        """Until the gateway has seen every viewer go (a closed connection reaches the
        server a few loop turns after the client closed it)."""
        async with asyncio.timeout(WAIT):
            await self.watchers.unwatched.wait()

    def client(self, **headers: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.gateway.url, headers=headers, timeout=WAIT)


class Stream:
    """An open event stream, read event by event."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.aiter_lines()
        self.comments: list[str] = []

    async def next(self) -> Event:
        fields: dict[str, str] = {}
        async with asyncio.timeout(WAIT):
            async for line in self.lines:
                if line.startswith(":"):
                    self.comments.append(line)
                elif line:
                    name, _, value = line.partition(": ")
                    fields[name] = value
                elif fields:
                    return Event(fields["id"], fields["event"], json.loads(fields["data"]))
        raise EOFError("the stream ended")

    async def take(self, count: int) -> list[Event]:
        return [await self.next() for _ in range(count)]

    async def ended(self) -> bool:
        try:
            await self.next()
        except EOFError:
            return True
        return False


@asynccontextmanager
async def stream(
    client: httpx.AsyncClient, deployment_id: str = LIVE, **headers: str
) -> AsyncIterator[Stream]:
    async with client.stream(
        "GET", f"/v1/deployments/{deployment_id}/events", headers=headers
    ) as response:
        assert response.status_code == 200, await response.aread()
        yield Stream(response)


async def put_deployment(upstream: Upstream, deployment_id: str, data: dict[str, Any]) -> None:
    """Replaces what the emulator holds of ``deployment_id`` (its data file's shape), as a
    test changes CodeDeploy from outside; asked without blocking the loop it serves in."""
    async with httpx.AsyncClient() as client:
        response = await client.put(
            f"{upstream.url}/_emulator/deployments/{deployment_id}", content=json.dumps(data)
        )
    assert response.status_code == 204


LiveFactory = Callable[..., AbstractAsyncContextManager[Live]]


@dataclass
class RedisServer:
    """A real redis-server on a loopback port, as a fleet's store."""

    process: "subprocess.Popen[bytes]"
    port: int
    password: str | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> Any:
        import redis

        return redis.Redis(port=self.port, password=self.password)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@contextmanager
def redis_server(directory: Path, *args: str, password: str | None = None) -> Iterator[RedisServer]:
    """Debian's redis-server (``make test`` installs it as root), nothing persisted."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (make test installs it when run as root)")
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir"]
    command += [str(directory), "--appendonly", "no", *args]
    if password is not None:
        command += ["--requirepass", password]
    server = RedisServer(
        subprocess.Popen(command, stdout=subprocess.DEVNULL), port, password=password
    )
    try:
        # Another process: the only way to know it serves is to ask, a bounded number of times.
        for _ in range(100):
            try:
                server.client().ping()
                break
            except Exception:
                time.sleep(0.05)
        else:
            pytest.fail("redis-server did not start")
        yield server
    finally:
        server.stop()


def run_service(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m service`` with ``args``, to its end (a start-up check's exit)."""
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@asynccontextmanager
async def standalone_resolver(api: UpstreamApi = "instances") -> AsyncIterator[Resolver]:
    """The default account's resolver, its caches and client its own."""
    settings = Settings(auth="none", upstream_api=api)
    config = UpstreamConfig(
        max_attempts=1,
        timeout_seconds=5.0,
        max_connections=4,
        max_concurrency=settings.upstream_max_concurrency,
        api=api,
    )
    accounts = Accounts.alone("us-east-1")
    metrics = Metrics()
    async with Upstreams(config, accounts, metrics) as upstreams:
        caches = make_caches(settings, metrics)
        yield Resolver(upstreams.get(accounts.default), caches, Cursors(b"k" * 32))
