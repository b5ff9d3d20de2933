"""`make bench`: the gateway against a bare baseline and a naive peer, same machine, same run.

Starts the emulator (30 ms a call by default, like a regional AWS endpoint), the gateway
twice (caching as configured by default, and with every TTL at 0 for misses), a bare ASGI
app answering the gateway's bytes, and a sync-boto3 FastAPI peer; drives each with wrk and
writes docs/bench/{results.json,results.md,bench.png}, which the Performance page shows.
"""

import argparse
import asyncio
import hashlib
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from bench import upstream, watchers
from service.emulator import DEMO_ACCOUNTS, DEMO_DATA
from service.guard import hash_key
from service.models import TERMINAL_STATUSES
from service.settings import Settings

HERE = Path(__file__).parent
RESULTS = HERE.parent / "docs" / "bench"
FLEET = "d-BENCH0001"
FAILED = "/v1/deployments/d-EXAMPLE01/instances/i-0a1b2c3d4e5f60002"
# The same read in a member account, through the role the gateway assumes there.
MEMBER = (
    "/v1/accounts/staging/regions/eu-west-1/deployments/d-STAGEEU01/instances/i-0c1d2e3f4a5b60001"
)
BENCH_KEY = "bench-key-0123456789abcdefghijklmnopqrstuv"
BENCH_AUTH = {
    "GATEWAY_AUTH": "api-key",
    "GATEWAY_API_KEYS": json.dumps({"bench": hash_key(BENCH_KEY)}),
}
KEYED = {"X-API-Key": BENCH_KEY}
# The watchers row's gateway: every viewer holds a connection, all under the bench's key.
LIVE_LIMITS = {"GATEWAY_MAX_SUBSCRIPTIONS_PER_CALLER": "5000", "GATEWAY_MAX_CONNECTIONS": "5000"}
INSTANCE_QUERY = (
    '{ deploymentInstance(deploymentId: "d-EXAMPLE01", instanceId: "i-0a1b2c3d4e5f60002") '
    "{ instanceId status lastUpdatedAt lifecycleEvents { lifecycleEventName status startTime "
    "endTime diagnostics { errorCode scriptName message logTail } } } }"
)
# The README's first GraphQL query: two instances and one that does not exist.
README_QUERY = (
    '{ blue: deploymentInstance(deploymentId: "d-EXAMPLE02", instanceId: "i-0b1c2d3e4f5a60001") '
    '{ status instanceType } green: deploymentInstance(deploymentId: "d-EXAMPLE02", '
    'instanceId: "i-0c1d2e3f4a5b60002") { status instanceType lastUpdatedAt } '
    'missing: deploymentInstance(deploymentId: "d-EXAMPLE01", instanceId: "i-gone") { status } }'
)
README_HASH = hashlib.sha256(README_QUERY.encode()).hexdigest()
PERSISTED = {"persistedQuery": {"version": 1, "sha256Hash": README_HASH}}
APQ_GET = "/graphql?" + urlencode({"extensions": json.dumps(PERSISTED)})
# The largest document the default limits allow: three pages of 49 instances, each with
# every lifecycle event and its diagnostics (19,716 values by the estimate, of 20,000).
# "#UNIQUE#" makes every request a new document, past the response replay.
LARGEST_QUERY = (
    "#UNIQUE#\n{ "
    + " ".join(
        f'p{n}: deployment(deploymentId: "{FLEET}") {{ instances(first: 49{after}) {{ edges {{ '
        "node { instanceId status lifecycleEvents { lifecycleEventName status startTime endTime "
        "diagnostics { errorCode scriptName message logTail } } } } } }"
        for n, after in enumerate(["", ", status: [SUCCEEDED]", ", status: [SUCCEEDED, FAILED]"])
    )
    + " }"
)
STATUSES = ["FAILED", "IN_PROGRESS", "SUCCEEDED", "PENDING", "SKIPPED", "UNKNOWN", "READY"]
FILTERS = [list(subset) for size in range(1, 8) for subset in combinations(STATUSES, size)]


def _fields(template: str, count: int = 100) -> str:
    return " ".join(template.format(n=n) for n in range(count))


# Documents the gateway refuses before any upstream call, each made new per request
# ("#UNIQUE#" becomes a counter in a comment) so no cache spares the work.
COSTLY = {
    "400 repeats of one field": "{ "
    + _fields('deploymentInstance(deploymentId: "d-EXAMPLE01", instanceId: "i-1") '
              "{{ status }}", 400)
    + " } #UNIQUE#",
    "100 aliases x 50 ids": "query ($i: [ID!]!) { "
    + _fields('a{n}: deploymentInstances(deploymentId: "d-{n:09d}", instanceIds: $i) {{ status }}')
    + " } #UNIQUE#",
    "100 aliases x a list": "{ "
    + _fields('a{n}: deployment(deploymentId: "d-{n:09d}") '
              "{{ instances(first: 1) {{ totalCount }} }}")
    + " } #UNIQUE#",
    "totalCount x 100 filters": '{ deployment(deploymentId: "d-EXAMPLE04") { '
    + " ".join(
        f"a{n}: instances(status: [{', '.join(statuses)}]) {{ totalCount }}"
        for n, statuses in enumerate(FILTERS[:100])
    )
    + " } } #UNIQUE#",
}  # fmt: skip
COSTLY_VARIABLES = {"i": [f"i-{n}" for n in range(50)]}
PAGE_QUERY = (
    f'{{ deployment(deploymentId: "{FLEET}") {{ instances(first: 50) {{ edges {{ node {{ '
    "instanceId status lastUpdatedAt lifecycleEvents { lifecycleEventName status } } } } } }"
)


@dataclass
class Row:
    name: str
    connections: int
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    rss_peak_mb: float
    upstream_per_request: float
    failures: int


def fleet(size: int) -> dict[str, Any]:
    """The demo data plus one deployment of ``size`` EC2 instances, seven events each."""
    data: dict[str, Any] = json.loads(DEMO_DATA.read_text())
    events = data["deployments"]["d-EXAMPLE01"]["instances"][0]["lifecycleEvents"]
    data["deployments"][FLEET] = {
        "computePlatform": "Server",
        "status": "Succeeded",
        "instances": [
            {
                "deploymentId": FLEET,
                "instanceId": f"i-{n:017x}",
                "status": "Succeeded",
                "lastUpdatedAt": 1795514400.0 + n,
                "lifecycleEvents": events,
            }
            for n in range(size)
        ],
    }
    data.setdefault("rolling", {})[watchers.DEPLOYMENT] = watchers.ROLLING
    # The rolling deployment's group, so its stream can be followed.
    data["applications"]["bench"] = {
        "computePlatform": "Server",
        "deploymentGroups": {"bench": {"deploymentConfigName": "CodeDeployDefault.OneAtATime"}},
    }
    return data


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve(
    argv: list[str], env: dict[str, str], probe: str, log: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A server process, ready once ``probe`` answers; stopped on exit. Its output goes
    to ``log`` when given (an emulator told to cut replies off says so on every one)."""
    output = log.open("wb") if log else subprocess.DEVNULL
    process = subprocess.Popen(
        argv, env={**os.environ, **env}, stdout=output, stderr=output if log else None
    )
    try:
        for _ in range(600):
            try:
                httpx.get(probe, timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None:
                    raise SystemExit(f"{argv} exited at start-up") from None
                time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)
        if log:
            output.close()  # type: ignore[union-attr]


def memory_mb(pid: int, field: str) -> float:
    """VmHWM (peak) or VmRSS (now) of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def upstream_calls(emulator: str) -> int:
    return sum(httpx.get(f"{emulator}/_emulator/calls").json().values())


def settled_calls(emulator: str) -> int:
    """The upstream call count once the previous scenario's stragglers (a peer still
    working through requests wrk gave up on) have stopped adding to it."""
    calls = upstream_calls(emulator)
    for _ in range(50):
        time.sleep(0.2)
        now = upstream_calls(emulator)
        if now == calls:
            break
        calls = now
    return calls


def wrk(url: str | list[str], connections: int, seconds: int, **env: str) -> dict[str, int]:
    """One wrk run; given several URLs, one run each at once, counts added up and the
    slowest run's duration and latencies kept."""
    if isinstance(url, list):
        with ThreadPoolExecutor(len(url)) as pool:
            runs = list(pool.map(lambda one: wrk(one, connections, seconds, **env), url))
        return {
            key: (max if key.endswith("_us") else sum)(run[key] for run in runs) for key in runs[0]
        }
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(HERE / "wrk.lua"), url],
        env={**os.environ, "BENCH_API_KEY": BENCH_KEY, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result: dict[str, int] = json.loads(out.strip().splitlines()[-1])
    return result


def measure(
    name: str,
    server: subprocess.Popen[bytes],
    base: str | list[str],
    emulator: str,
    *,
    connections: int,
    seconds: int,
    **request: str,
) -> Row:
    before = settled_calls(emulator)
    result = wrk(base, connections, seconds, **request)
    calls = upstream_calls(emulator) - before
    requests = max(result["requests"], 1)
    row = Row(
        name=name,
        connections=connections * (1 if isinstance(base, str) else len(base)),
        requests=result["requests"],
        rps=round(result["requests"] / (result["duration_us"] / 1e6), 1),
        p50_ms=round(result["p50_us"] / 1000, 2),
        p99_ms=round(result["p99_us"] / 1000, 2),
        rss_peak_mb=round(memory_mb(server.pid, "VmHWM"), 1),
        upstream_per_request=round(calls / requests, 3),
        failures=result["errors"] + result["non2xx"],
    )
    print(f"  {name}: {row.rps} req/s, p50 {row.p50_ms} ms, p99 {row.p99_ms} ms", flush=True)
    return row


@dataclass
class Scenario:
    name: str
    server: subprocess.Popen[bytes]
    url: str
    request: dict[str, str] = field(default_factory=dict)
    connections: int = 64


def interleaved(
    scenarios: list[Scenario], emulator: str, seconds: int, rounds: int = 5
) -> list[Row]:
    """``scenarios`` in turns, ``rounds`` slices of ``seconds`` each: a row per scenario,
    its rate over all its slices, its p50 the slices' median, its p99 their worst."""
    runs: dict[str, list[dict[str, int]]] = {scenario.name: [] for scenario in scenarios}
    before = settled_calls(emulator)
    for _ in range(rounds):
        for scenario in scenarios:
            runs[scenario.name].append(
                wrk(scenario.url, scenario.connections, max(1, seconds // rounds),
                    **scenario.request)
            )  # fmt: skip
    calls = upstream_calls(emulator) - before
    total = sum(run["requests"] for each in runs.values() for run in each)
    rows = []
    for scenario in scenarios:
        each = runs[scenario.name]
        requests = sum(run["requests"] for run in each)
        row = Row(
            name=scenario.name,
            connections=scenario.connections,
            requests=requests,
            rps=round(requests / (sum(run["duration_us"] for run in each) / 1e6), 1),
            p50_ms=round(statistics.median(run["p50_us"] for run in each) / 1000, 2),
            p99_ms=round(max(run["p99_us"] for run in each) / 1000, 2),
            rss_peak_mb=round(memory_mb(scenario.server.pid, "VmHWM"), 1),
            upstream_per_request=round(calls / max(total, 1), 3),
            failures=sum(run["errors"] + run["non2xx"] for run in each),
        )
        print(f"  {row.name}: {row.rps} req/s, p50 {row.p50_ms} ms, p99 {row.p99_ms} ms")
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10, help="per scenario")
    parser.add_argument("--latency-ms", type=float, default=30.0, help="upstream latency")
    parser.add_argument("--fleet", type=int, default=20_000, help="instances for misses")
    parser.add_argument("--viewers", type=int, default=1000, help="SSE viewers of one deployment")
    parser.add_argument("--watch-seconds", type=int, default=30, help="per watchers phase")
    parser.add_argument(
        "--only",
        choices=["fleet", "largest"],
        help="this row alone, printed; docs/bench is left as it is",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    RESULTS.mkdir(exist_ok=True)
    python = sys.executable
    names = ("emulator", "instant", "hit", "miss", "traced", "baseline", "naive", "live")
    ports: dict[str, int] = {}
    while len(set(ports.values())) < len(names):  # the kernel may hand a port out twice
        ports = {name: free_port() for name in names}
    url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    aws = {
        "AWS_ENDPOINT_URL_CODEDEPLOY": url["emulator"],
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        # Measured as production runs it: an access-log line per request (to a file here),
        # every request proving an API key, and an organisation's accounts, two of them
        # read through roles the gateway assumes from the emulator's STS.
        "GATEWAY_LOG_LEVEL": "info",
        "GATEWAY_ACCOUNTS_FILE": str(DEMO_ACCOUNTS),
        "AWS_ENDPOINT_URL_STS": url["emulator"],
        **BENCH_AUTH,
    }
    no_cache = {
        "GATEWAY_CACHE_TTL_SECONDS": "0",
        "GATEWAY_CACHE_TERMINAL_TTL_SECONDS": "0",
        "GATEWAY_CACHE_NEGATIVE_TTL_SECONDS": "0",
    }
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        data = Path(tmp) / "data.json"
        data.write_text(json.dumps(fleet(args.fleet)))
        ids = Path(tmp) / "ids.txt"
        ids.write_text("\n".join(f"i-{n:017x}" for n in range(args.fleet)))
        print(f"starting: emulator ({args.fleet} instances, {args.latency_ms:g} ms a call)")
        emulator_process = stack.enter_context(
            serve(
                [python, "-m", "service.emulator", "--port", str(ports["emulator"]),
                 "--data", str(data), "--latency-ms", str(args.latency_ms)],
                {},
                f"{url['emulator']}/_emulator/calls",
            )
        )  # fmt: skip
        instant = url["instant"]
        stack.enter_context(
            serve(
                [python, "-m", "service.emulator", "--port", str(ports["instant"]),
                 "--data", str(data), "--latency-ms", "0"],
                {},
                f"{instant}/_emulator/calls",
            )
        )  # fmt: skip
        if args.only == "fleet":
            _, fleet_summary = fleet_rows(aws, url["emulator"], Path(tmp), args.seconds,
                                                   args.fleet)  # fmt: skip
            print("\n" + "\n".join(fleet_lines(fleet_summary, args.seconds)))
            return
        gateway = [python, "-m", "service", "--port"]
        logs = Path(tmp)
        if args.only == "largest":
            alone = stack.enter_context(
                serve([*gateway, str(ports["hit"])], aws, f"{url['hit']}/readyz", logs / "l.log")
            )
            under_largest(alone, url["hit"], url["emulator"], args.seconds)
            return
        hit = stack.enter_context(
            serve(
                [*gateway, str(ports["hit"])], aws, f"{url['hit']}/openapi.json", logs / "hit.log"
            )
        )
        miss = stack.enter_context(
            serve([*gateway, str(ports["miss"])], aws | no_cache, f"{url['miss']}/openapi.json",
                  logs / "miss.log")
        )  # fmt: skip
        body = Path(tmp) / "body.json"
        body.write_bytes(httpx.get(url["hit"] + FAILED, headers=KEYED).content)
        baseline = stack.enter_context(
            serve(
                [python, "-m", "uvicorn", "bench.baseline:app", "--port", str(ports["baseline"]),
                 "--log-level", "warning", "--no-access-log"],
                {"BENCH_BODY_FILE": str(body)},
                url["baseline"],
            )
        )  # fmt: skip
        # Tracing as a deployment samples it, to a collector that takes everything (the
        # bare app answers 200 to any request).
        traced = stack.enter_context(
            serve([*gateway, str(ports["traced"])], aws | traced_to(url["baseline"]),
                  f"{url['traced']}/openapi.json", logs / "traced.log")
        )  # fmt: skip
        naive = stack.enter_context(
            serve(
                [python, "-m", "uvicorn", "bench.naive:app", "--port", str(ports["naive"]),
                 "--log-level", "warning", "--no-access-log"],
                {"BENCH_UPSTREAM": url["emulator"]},
                f"{url['naive']}/docs",
            )
        )  # fmt: skip
        httpx.get(url["traced"] + FAILED, headers=KEYED).raise_for_status()
        httpx.post(url["hit"] + "/graphql", json={"query": INSTANCE_QUERY}, headers=KEYED)
        httpx.get(url["hit"] + MEMBER, headers=KEYED).raise_for_status()
        # Registers the README query's hash, as a client's first APQ round trip does.
        httpx.post(
            url["hit"] + "/graphql",
            json={"query": README_QUERY, "extensions": PERSISTED},
            headers=KEYED,
        )
        seconds = args.seconds
        random_instance = {
            "BENCH_PATH": f"/v1/deployments/{FLEET}/instances/%s",
            "BENCH_IDS": str(ids),
        }
        print("measuring:")
        emulator = url["emulator"]
        rows: list[Row] = []
        # The rows whose ratios are targets take turns, so a load that drifts during
        # the run (a shared machine) weighs on each alike.
        rows += interleaved(
            [
                Scenario("baseline (bare ASGI, same bytes)", baseline, url["baseline"] + FAILED),
                Scenario("REST cache hit", hit, url["hit"] + FAILED),
                Scenario("REST cache hit, tracing on (10 % sampled)", traced,
                         url["traced"] + FAILED),
                Scenario("REST cache hit, member account (assumed role)", hit,
                         url["hit"] + MEMBER),
                Scenario("GraphQL cache hit (POST, README query)", hit, url["hit"] + "/graphql",
                         {"BENCH_METHOD": "POST",
                          "BENCH_BODY": json.dumps({"query": README_QUERY})}),
                Scenario("GraphQL cache hit (APQ GET)", hit, url["hit"] + APQ_GET),
            ],
            emulator,
            seconds,
        )  # fmt: skip
        rows += [
            measure("REST cache miss", miss, url["miss"], emulator,
                    connections=64, seconds=seconds, **random_instance),
        ]  # fmt: skip
        rows += interleaved(
            [
                Scenario("upstream alone (the emulator), 1 connection", emulator_process,
                         emulator, {"BENCH_METHOD": "POST",
                                    "BENCH_AMZ_TARGET": "CodeDeploy_20141006.GetDeploymentInstance",
                                    "BENCH_BODY": json.dumps({"deploymentId": FLEET,
                                                              "instanceId": f"i-{0:017x}"})},
                         connections=1),
                Scenario("REST cache miss, 1 connection", miss, url["miss"], random_instance,
                         connections=1),
            ],
            emulator,
            seconds,
        )  # fmt: skip
        rows += [
            measure("GraphQL page of 50, cold", miss, url["miss"] + "/graphql", emulator,
                    connections=16, seconds=seconds, BENCH_METHOD="POST",
                    BENCH_BODY=json.dumps({"query": PAGE_QUERY})),
            measure("naive peer (sync boto3), miss", naive, url["naive"], emulator,
                    connections=64, seconds=seconds, **random_instance),
        ]  # fmt: skip
        print("  a miss's time apart (bench/upstream.py)")
        apart = upstream.measure(
            instant,
            aws | no_cache | {"AWS_ENDPOINT_URL_CODEDEPLOY": instant, "BENCH_API_KEY": BENCH_KEY},
        )
        # Before the attacks, whose parsing leaves the heap larger than the cache does.
        full = fill_cache(url["hit"], args.fleet, hit.pid)
        rows += [
            *(
                measure(f"refused: {name}", hit, url["hit"] + "/graphql", emulator,
                        connections=1, seconds=seconds, BENCH_METHOD="POST", BENCH_UNIQUE="1",
                        BENCH_BODY=json.dumps({"query": query, "variables": COSTLY_VARIABLES}))
                for name, query in COSTLY.items()
            ),
            measure("/healthz, alone", hit, url["hit"] + "/healthz", emulator,
                    connections=1, seconds=seconds),
            under_attack(hit, url["hit"], emulator, seconds),
            under_largest(hit, url["hit"], emulator, seconds),
        ]  # fmt: skip
        print("  fleet: 3 replicas with a redis-server, then 3 without")
        fleet_measured, fleet_summary = fleet_rows(aws, emulator, Path(tmp), seconds, args.fleet)
        rows += fleet_measured
        print(f"  watchers: 1 viewer, then {args.viewers}, {args.watch_seconds} s each")
        live = stack.enter_context(
            serve([*gateway, str(ports["live"])], aws | LIVE_LIMITS, f"{url['live']}/readyz",
                  logs / "live.log")
        )  # fmt: skip
        watched = watchers.measure(
            url["live"], BENCH_KEY, lambda: upstream_calls(emulator),
            lambda: memory_mb(live.pid, "VmRSS"), args.viewers, args.watch_seconds,
        )  # fmt: skip
    write(rows, full, args, watched, fleet_summary, apart)


def traced_to(collector: str) -> dict[str, str]:
    """The OTEL_* variables of a gateway sending a tenth of its traces to ``collector``."""
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector,
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.1",
        "OTEL_SERVICE_NAME": "codedeploy-gateway-bench",
    }


def under_attack(server: subprocess.Popen[bytes], base: str, emulator: str, seconds: int) -> Row:
    """/healthz from one client while four others send new costly documents nonstop."""
    body = json.dumps({"query": COSTLY["400 repeats of one field"]})
    return _healthz_beside("/healthz while 4 clients send 400-repeat documents", 4, body,
                           server, base, emulator, seconds)  # fmt: skip


def under_largest(server: subprocess.Popen[bytes], base: str, emulator: str, seconds: int) -> Row:
    """/healthz from one client while three others send the largest document the
    defaults allow, each one new (its instances cached, its response built every time)."""
    body = json.dumps({"query": LARGEST_QUERY})
    check = httpx.post(
        base + "/graphql",
        content=body.replace("#UNIQUE#", "#check"),
        headers={**KEYED, "Content-Type": "application/json"},
        timeout=60,
    )
    if "errors" in check.json():
        raise SystemExit(f"the largest document is refused: {check.text[:300]}")
    return _healthz_beside("/healthz while 3 clients send the largest allowed document", 3, body,
                           server, base, emulator, seconds)  # fmt: skip


def _healthz_beside(
    name: str,
    senders: int,
    body: str,
    server: subprocess.Popen[bytes],
    base: str,
    emulator: str,
    seconds: int,
) -> Row:
    """/healthz from one client while ``senders`` others POST ``body`` to /graphql
    nonstop, each request a new document ("#UNIQUE#" replaced)."""
    attack = subprocess.Popen(
        ["wrk", "-t1", f"-c{senders}", f"-d{seconds + 2}s", "-s", str(HERE / "wrk.lua"),
         base + "/graphql"],
        env={**os.environ, "BENCH_API_KEY": BENCH_KEY, "BENCH_METHOD": "POST",
             "BENCH_BODY": body, "BENCH_UNIQUE": "1"},
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(1)  # the attack under way first
        return measure(name, server, base + "/healthz", emulator, connections=1, seconds=seconds)
    finally:
        attack.wait(timeout=seconds + 30)


def fill_cache(base: str, fleet_size: int, pid: int) -> float:
    """RSS of the caching gateway once it holds 10,000 instances (its default bound)."""
    ids = [f"i-{n:017x}" for n in range(min(fleet_size, 10_000))]
    random.shuffle(ids)
    with httpx.Client(base_url=base, timeout=30, headers=KEYED) as client:
        for start in range(0, len(ids), 100):
            client.post(
                f"/v1/deployments/{FLEET}/instances:batchGet",
                json={"instanceIds": ids[start : start + 100]},
            ).raise_for_status()
    return round(memory_mb(pid, "VmRSS"), 1)


@dataclass
class FleetRow:
    """Three gateway processes sharing one redis-server, and the same three with no store."""

    keys: int
    cold_calls_per_key: float
    cold_calls_per_key_alone: float
    warm_keys: int
    ttl_seconds: float
    warm_rps: float
    warm_rps_alone: float
    warm_calls_per_key_per_ttl: float
    warm_calls_per_key_per_ttl_alone: float
    local_hit_rps: float
    shared_hit_rps: float
    # Of the shared-level run's requests, those the access log says the store answered.
    shared_answered: float
    # Times a replica with the store gave up on it (its timeout) and worked alone a while.
    store_timeouts: int


@contextmanager
def redis_store(directory: Path) -> Iterator[str]:
    """A redis-server on a loopback port, nothing persisted; its URL."""
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(directory)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


def replicas(
    stack: ExitStack, env: dict[str, str], logs: Path, name: str, count: int = 3
) -> list[tuple[str, subprocess.Popen[bytes]]]:
    started = []
    for n in range(count):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        argv = [sys.executable, "-m", "service", "--port", str(port)]
        process = stack.enter_context(serve(argv, env, f"{url}/readyz", logs / f"{name}-{n}.log"))
        started.append((url, process))
    return started


def cold_calls_per_key(urls: list[str], paths: list[str], emulator: str) -> float:
    """Upstream calls per key when every replica is asked for every key at once."""

    async def ask() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=None)
        async with httpx.AsyncClient(timeout=30, headers=KEYED, limits=limits) as client:
            return await asyncio.gather(*(client.get(url + path) for path in paths for url in urls))

    before = settled_calls(emulator)
    statuses = {answer.status_code for answer in asyncio.run(ask())}
    if statuses != {200}:
        raise SystemExit(f"fleet: cold requests answered {statuses}")
    return round((settled_calls(emulator) - before) / len(paths), 2)


def fleet_rows(
    aws: dict[str, str], emulator: str, tmp: Path, seconds: int, fleet_size: int
) -> tuple[list[Row], FleetRow]:
    """Cold misses and warm hits over three replicas with the store and without it; then
    hits a replica answers from its own cache against hits only the store can answer."""
    demo = json.loads(DEMO_DATA.read_text())["deployments"]
    instances = [(d, i) for d, deployment in demo.items() for i in deployment.get("instances", [])]
    paths = [f"/v1/deployments/{d}/instances/{i['instanceId']}" for d, i in instances]
    # The warm runs read the instances a short TTL keeps: terminal ones (60 s) would not
    # expire within a run of a few seconds, and their refreshes would read as none.
    changing = [f"{d}/instances/{i['instanceId']}" for d, i in instances
                if i["status"] not in TERMINAL_STATUSES]  # fmt: skip
    ttl: float = Settings.model_fields["cache_ttl_seconds"].default
    (tmp / "changing.txt").write_text("\n".join(changing))
    warm = {"BENCH_PATH": "/v1/deployments/%s", "BENCH_IDS": str(tmp / "changing.txt")}
    # The hit runs read the bench deployment's instances, all terminal: none expires.
    filled = [f"i-{n:017x}" for n in range(min(fleet_size, 1000))]
    (tmp / "filled.txt").write_text("\n".join(filled))
    hits = {"BENCH_PATH": f"/v1/deployments/{FLEET}/instances/%s",
            "BENCH_IDS": str(tmp / "filled.txt")}  # fmt: skip
    # Draining is for a load balancer to notice; there is none, and replicas stop in turn.
    env = aws | {"GATEWAY_CURSOR_SECRET": "shared by the replicas", "GATEWAY_DRAIN_SECONDS": "0"}
    figures: dict[str, float] = {}
    rows: list[Row] = []
    with ExitStack() as stack:
        shared = env | {"GATEWAY_REDIS_URL": stack.enter_context(redis_store(tmp))}
        fleets = {}
        for label, fleet_env in (("store", shared), ("alone", env)):
            fleets[label] = started = replicas(stack, fleet_env, tmp, f"fleet-{label}")
            urls = [url for url, _ in started]
            figures[f"cold {label}"] = cold_calls_per_key(urls, paths, emulator)
            before = settled_calls(emulator)
            name = "fleet: REST hit, 3 replicas" + (", no store" if label == "alone" else "")
            row = measure(name, started[0][1], urls, emulator,
                          connections=64, seconds=seconds, **warm)  # fmt: skip
            ttls = row.requests / row.rps / ttl  # the TTLs the run lasted
            calls = upstream_calls(emulator) - before
            figures[f"warm {label}"] = round(calls / (len(changing) * ttls), 2)
            rows.append(row)
        local_url, local = fleets["store"][0]
        with httpx.Client(base_url=local_url, timeout=30, headers=KEYED) as client:
            for start in range(0, len(filled), 100):
                client.post(
                    f"/v1/deployments/{FLEET}/instances:batchGet",
                    json={"instanceIds": filled[start : start + 100]},
                ).raise_for_status()
        one_entry = shared | {"GATEWAY_CACHE_MAX_ENTRIES": "1"}
        shared_url, shared_process = replicas(stack, one_entry, tmp, "fleet-one-entry", 1)[0]
        rows += [
            measure("fleet: REST hit, the replica's own cache", local, local_url, emulator,
                    connections=64, seconds=seconds, **hits),
            measure("fleet: REST hit, the store (own cache of 1 entry)", shared_process,
                    shared_url, emulator, connections=64, seconds=seconds, **hits),
        ]  # fmt: skip
    # Read once the replica has stopped, its log lines all written.
    log = (tmp / "fleet-one-entry-0.log").read_text().splitlines()
    entries = [json.loads(line) for line in log if line.startswith("{")]
    levels = [entry.get("cache_level") for entry in entries if entry.get("cache")]
    timeouts = sum(path.read_text().count("working alone") for path in tmp.glob("fleet-*.log"))
    return rows, FleetRow(
        keys=len(paths),
        cold_calls_per_key=figures["cold store"],
        cold_calls_per_key_alone=figures["cold alone"],
        warm_keys=len(changing),
        ttl_seconds=ttl,
        warm_rps=rows[0].rps,
        warm_rps_alone=rows[1].rps,
        warm_calls_per_key_per_ttl=figures["warm store"],
        warm_calls_per_key_per_ttl_alone=figures["warm alone"],
        local_hit_rps=rows[2].rps,
        shared_hit_rps=rows[3].rps,
        shared_answered=round(levels.count("shared") / max(len(levels), 1), 3),
        store_timeouts=timeouts,
    )


def fleet_lines(fleet: FleetRow, seconds: int) -> list[str]:
    return [
        f"Fleet: three gateway processes over one emulator, sharing a redis-server (and the "
        f"same three with none), access log and API keys on; {seconds} s a wrk run.",
        "",
        "| | with the store | no store |",
        "|---|---|---|",
        f"| upstream calls per key, {fleet.keys} keys asked of all three at once | "
        f"{fleet.cold_calls_per_key} | {fleet.cold_calls_per_key_alone} |",
        f"| hits over all three (3 wrk), req/s | {fleet.warm_rps:,.0f} | "
        f"{fleet.warm_rps_alone:,.0f} |",
        f"| upstream calls per key per TTL meanwhile ({fleet.warm_keys} keys, "
        f"{fleet.ttl_seconds:g} s TTL) | "
        f"{fleet.warm_calls_per_key_per_ttl} | {fleet.warm_calls_per_key_per_ttl_alone} |",
        "",
        f"One replica's hits, 64 connections: from its own cache {fleet.local_hit_rps:,.0f} "
        f"req/s; from the store {fleet.shared_hit_rps:,.0f} req/s (its own cache holds one "
        f"entry; {fleet.shared_answered:.0%} logged cache_level shared), "
        f"{fleet.shared_hit_rps / fleet.local_hit_rps:.2f} of the local rate. Replicas "
        f"gave up on the store (its timeout) and worked alone {fleet.store_timeouts} times.",
    ]


def write(
    rows: list[Row],
    full_cache_rss: float,
    args: argparse.Namespace,
    watched: watchers.WatchersRow,
    fleet: FleetRow,
    apart: upstream.UpstreamApart,
) -> None:
    by = {row.name: row for row in rows}
    traced = by["REST cache hit, tracing on (10 % sampled)"]
    baseline, hit = by["baseline (bare ASGI, same bytes)"], by["REST cache hit"]
    graphql_hit, miss = by["GraphQL cache hit (POST, README query)"], by["REST cache miss"]
    apq_hit = by["GraphQL cache hit (APQ GET)"]
    member_hit = by["REST cache hit, member account (assumed role)"]
    refusals = [row for row in rows if row.name.startswith("refused: ")]
    attacked = by["/healthz while 4 clients send 400-repeat documents"]
    largest = by["/healthz while 3 clients send the largest allowed document"]
    single, naive = by["REST cache miss, 1 connection"], by["naive peer (sync boto3), miss"]
    alone = by["upstream alone (the emulator), 1 connection"]
    # (target, measured, bound, whether the bound is a ceiling rather than a floor)
    targets = [
        ("REST cache hit ≥ 70 % of the baseline", hit.rps / baseline.rps, 0.70, False),
        ("tracing on, 10 % sampled: hits ≥ 90 % of the rate with it off",
         traced.rps / hit.rps, 0.90, False),
        ("a member account's hit ≥ 90 % of the default account's", member_hit.rps / hit.rps,
         0.90, False),
        ("GraphQL cache hit (POST) ≥ 90 % of REST cache hit", graphql_hit.rps / hit.rps, 0.90,
         False),
        ("GraphQL APQ GET hit ≥ 70 % of REST cache hit", apq_hit.rps / hit.rps, 0.70, False),
        ("costly documents refused with 0 upstream calls",
         max(row.upstream_per_request for row in refusals), 0, True),
        ("a costly document refused in < 50 ms p50, each new", max(row.p50_ms for row in refusals),
         50, True),
        ("/healthz p99 < 100 ms while 4 clients send them", attacked.p99_ms, 100, True),
        ("/healthz p99 < 100 ms while 3 clients send the largest allowed document",
         largest.p99_ms, 100, True),
        ("miss adds ≤ 1 ms p50 over the upstream alone (1 connection)",
         single.p50_ms - alone.p50_ms, 1.0, True),
        ("≥ 10x the naive peer's throughput on misses (64 connections)", miss.rps / naive.rps, 10,
         False),
        ("RSS < 150 MB with 10,000 cached instances", full_cache_rss, 150, True),
        (f"{watched.viewers} viewers cost the upstream what 1 does (calls/min ratio)",
         watched.calls_per_minute_all / max(watched.calls_per_minute_one, 1), 1.1, True),
        (f"{watched.waits} CI waits (?wait=) cost the upstream what 1 does (calls/min ratio)",
         watched.calls_per_minute_waits / max(watched.calls_per_minute_one_wait, 1), 1.1, True),
        (f"{watched.group_viewers} viewers of a group cost the upstream what 1 does "
         "(calls/min ratio)",
         watched.calls_per_minute_group_viewers
         / max(watched.calls_per_minute_one_group_viewer, 1), 1.1, True),
        ("a fleet's cold miss: ≤ 1.1 upstream calls per key over 3 replicas",
         fleet.cold_calls_per_key, 1.1, True),
        ("a fleet's hits: ≤ 1.1 upstream calls per key per TTL over 3 replicas",
         fleet.warm_calls_per_key_per_ttl, 1.1, True),
    ]  # fmt: skip
    lines = [
        f"Run {time.strftime('%Y-%m-%d %H:%M')} on {os.cpu_count()} cores; upstream latency "
        f"{args.latency_ms:g} ms; {args.seconds} s a scenario; wrk, 1 thread.",
        "",
        "| scenario | conns | req/s | p50 ms | p99 ms | peak RSS MB | upstream calls/req | "
        "vs baseline | vs naive | failed |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.name} | {row.connections} | {row.rps:,.0f} | {row.p50_ms} | {row.p99_ms} | "
            f"{row.rss_peak_mb} | {row.upstream_per_request} | {row.rps / baseline.rps:.2f} | "
            f"{row.rps / naive.rps:.1f}x | {row.failures} |"
        )
    lines += [
        "",
        f"Watchers: viewers of one in-progress deployment over server-sent events, "
        f"{watched.seconds} s each phase, the gateway as deployed (interval 5 s).",
        "",
        "| viewers | upstream calls/min, 1 viewer | upstream calls/min, all | events read | "
        "delivery p50 ms | delivery p99 ms | RSS MB, 1 viewer | RSS MB, all | cut off |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {watched.viewers} | {watched.calls_per_minute_one} | {watched.calls_per_minute_all} "
        f"| {watched.events_delivered:,} | {watched.p50_ms} | {watched.p99_ms} | "
        f"{watched.rss_mb_one} | {watched.rss_mb} | {watched.dropped} |",
        "",
        f"CI waits on the same deployment (`?wait=` with `If-None-Match`, one after another), "
        f"{watched.seconds} s each phase: upstream calls/min with 1 waiting, "
        f"{watched.calls_per_minute_one_wait}; with {watched.waits}, "
        f"{watched.calls_per_minute_waits}. Viewers of the deployment's group "
        f"(`…/deployment-groups/bench/events`): upstream calls/min with 1, "
        f"{watched.calls_per_minute_one_group_viewer}; with {watched.group_viewers}, "
        f"{watched.calls_per_minute_group_viewers}.",
        "",
        f"A miss's time apart (bench/upstream.py: one connection, an emulator answering at "
        f"once, medians of {upstream.ROUNDS * upstream.CALLS:,} calls each): the request's "
        f"bytes alone (aiohttp) {apart.raw_us:,.0f} µs; through the gateway's CodeDeploy "
        f"client (aiobotocore) {apart.client_us:,.0f} µs, so botocore's own work is "
        f"{apart.botocore_us:,.0f} µs; a REST miss through the whole app (no HTTP server) "
        f"{apart.miss_us:,.0f} µs, so the gateway's own is {apart.gateway_us:,.0f} µs.",
        "",
        *fleet_lines(fleet, args.seconds),
    ]
    lines += ["", "| target | measured | met |", "|---|---|---|"]
    for name, value, bound, ceiling in targets:
        met = value <= bound if ceiling else value >= bound
        lines.append(f"| {name} | {value:.2f} | {'yes' if met else 'no'} |")
    table = "\n".join(lines) + "\n"
    (RESULTS / "results.md").write_text(table)
    (RESULTS / "results.json").write_text(
        json.dumps(
            {
                "rows": [asdict(r) for r in rows],
                "full_cache_rss_mb": full_cache_rss,
                "watchers": asdict(watched),
                "fleet": asdict(fleet),
                "upstream_apart": asdict(apart),
            },
            indent=2,
        )
    )
    chart(rows)
    print("\n" + table)


def chart(rows: list[Row]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (rps, latency) = plt.subplots(1, 2, figsize=(13, 4.8))
    names = [row.name for row in rows]
    rps.barh(names, [row.rps for row in rows], color="#3b7dd8")
    rps.set_xscale("log")
    rps.set_xlabel("requests per second (log scale; higher is better)")
    rps.invert_yaxis()
    for y, row in enumerate(rows):
        rps.text(row.rps, y, f" {row.rps:,.0f}", va="center", fontsize=8)
    latency.barh(names, [row.p99_ms for row in rows], color="#e8a33d", label="p99")
    latency.barh(names, [row.p50_ms for row in rows], color="#3b7dd8", label="p50")
    latency.set_xscale("log")
    latency.set_xlabel("latency, ms (log scale; lower is better)")
    latency.invert_yaxis()
    latency.set_yticklabels([])
    latency.legend(loc="upper right")
    fig.suptitle("codedeploy-gateway vs bare baseline and naive peer")
    fig.tight_layout()
    fig.savefig(RESULTS / "bench.png", dpi=110)


if __name__ == "__main__":
    main()
