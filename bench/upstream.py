"""A miss's time apart: the upstream's bytes alone, botocore's call, the gateway's own.

One process, one connection, an emulator answering at once (latency 0, so the
differences are not lost in its sleep): the same GetDeploymentInstance as raw HTTP
(aiohttp, the bytes an SDK sends), through the gateway's CodeDeploy client (aiobotocore:
serialising, signing, hooks, parsing), and as a REST miss through the whole ASGI app
(access log, API key, cache, rendering; no HTTP server). The three take turns in rounds,
so a noisy machine slows each alike; each figure is the median of its calls.
"""

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import redirect_stdout
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp
from asgi_lifespan import LifespanManager

from service.app import create_app, load_accounts
from service.codedeploy import UpstreamConfig, Upstreams
from service.logs import configure_logging, flush_logs
from service.metrics import Metrics
from service.settings import Settings

DEPLOYMENT, INSTANCE = "d-BENCH0001", f"i-{0:017x}"
ROUNDS, CALLS = 8, 250


@dataclass
class UpstreamApart:
    raw_us: float
    client_us: float
    miss_us: float

    @property
    def botocore_us(self) -> float:
        return self.client_us - self.raw_us

    @property
    def gateway_us(self) -> float:
        return self.miss_us - self.client_us


def main() -> None:
    """``python -m bench.upstream EMULATOR``, in the gateway's environment (caching off;
    ``BENCH_API_KEY`` its key): one JSON line. A process of its own, so that environment
    and the logging it configures stay out of the bench's."""
    emulator = sys.argv[1]
    with open(os.devnull, "w") as nowhere, redirect_stdout(nowhere):
        configure_logging(os.environ["GATEWAY_LOG_LEVEL"], json_lines=True)
        try:
            apart = asyncio.run(_measure(emulator))
        finally:
            flush_logs()
    print(json.dumps(asdict(apart)))


def measure(emulator: str, env: dict[str, str]) -> UpstreamApart:
    """The figures for ``emulator`` (answering at once) with the gateway's ``env``."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.upstream", emulator],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return UpstreamApart(**json.loads(out.strip().splitlines()[-1]))


async def _measure(emulator: str) -> UpstreamApart:
    settings = Settings()
    app = create_app(settings)
    config = UpstreamConfig(
        max_attempts=settings.upstream_max_attempts,
        timeout_seconds=settings.upstream_timeout_seconds,
        max_connections=settings.upstream_max_connections,
        max_concurrency=settings.upstream_max_concurrency,
    )
    body = json.dumps({"deploymentId": DEPLOYMENT, "instanceId": INSTANCE}).encode()
    headers = {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "CodeDeploy_20141006.GetDeploymentInstance",
    }
    async with (
        aiohttp.ClientSession() as session,
        Upstreams(config, load_accounts(settings), Metrics()) as upstreams,
        LifespanManager(app) as manager,
    ):
        client = await upstreams.get(upstreams.accounts.default).calls._connected()
        api_key = os.environ["BENCH_API_KEY"].encode()

        async def raw() -> None:
            async with session.post(emulator, data=body, headers=headers) as answer:
                await answer.read()

        async def call() -> None:
            await client.get_deployment_instance(deploymentId=DEPLOYMENT, instanceId=INSTANCE)

        async def miss() -> None:
            await _get(manager.app, f"/v1/deployments/{DEPLOYMENT}/instances/{INSTANCE}", api_key)

        times = await _rounds({"raw": raw, "client": call, "miss": miss})
    return UpstreamApart(times["raw"], times["client"], times["miss"])


async def _rounds(runs: dict[str, Callable[[], Awaitable[None]]]) -> dict[str, float]:
    """Median µs of each, the runs taking turns; the first round warms up."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for round_ in range(ROUNDS + 1):
        for name, run in runs.items():
            for _ in range(CALLS):
                start = time.perf_counter()
                await run()
                if round_:
                    times[name].append(time.perf_counter() - start)
    return {name: round(statistics.median(each) * 1e6) for name, each in times.items()}


async def _get(app: Any, path: str, api_key: bytes) -> None:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench"), (b"x-api-key", api_key)],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    if status != 200:
        raise SystemExit(f"bench/upstream: the miss answered {status}")


if __name__ == "__main__":
    main()
