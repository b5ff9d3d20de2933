"""`make soak`: mixed load with faults on, for SOAK_SECONDS (default 300).

REST and GraphQL, hits and misses, lists and batches, unknown ids, against an emulator
that throttles, fails, answers HTML and cuts replies off now and then. Reports every
status seen and the gateway's RSS over time; fails on any status the API does not
document for these faults, or on memory that keeps growing after the warm-up.
"""

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from bench.run import (
    BENCH_AUTH,
    FLEET,
    INSTANCE_QUERY,
    KEYED,
    PAGE_QUERY,
    fleet,
    free_port,
    memory_mb,
    serve,
)

EXPECTED = {200, 304, 404, 429, 502, 504}
# After the warm-up the cache is full and every path has been taken; what is still
# growing past this margin is a leak.
GROWTH_ALLOWED_MB = 15.0


Request = tuple[str, str, dict[str, Any] | None]


def request(fleet_size: int) -> Request:
    """One request of the mix, weighted like a status page: mostly reads of instances."""
    instance = f"i-{random.randrange(fleet_size):017x}"
    choices: list[Request] = [
        ("GET", "/v1/deployments/d-EXAMPLE01/instances/i-0a1b2c3d4e5f60002", None),
        ("GET", f"/v1/deployments/{FLEET}/instances/{instance}", None),
        ("GET", f"/v1/deployments/{FLEET}/instances/i-missing{random.randrange(100)}", None),
        ("GET", f"/v1/deployments/{FLEET}/instances?include=summary", None),
        ("GET", f"/v1/deployments/{FLEET}", None),
        ("POST", f"/v1/deployments/{FLEET}/instances:batchGet",
         {"instanceIds": [f"i-{random.randrange(fleet_size):017x}" for _ in range(30)]}),
        ("POST", "/graphql", {"query": INSTANCE_QUERY}),
        ("POST", "/graphql", {"query": PAGE_QUERY}),
    ]  # fmt: skip
    return random.choices(choices, weights=[30, 25, 5, 5, 5, 5, 15, 10])[0]


async def worker(
    client: httpx.AsyncClient,
    until: float,
    statuses: Counter[int],
    graphql_errors: Counter[str],
    fleet_size: int,
) -> None:
    while time.monotonic() < until:
        method, path, body = request(fleet_size)
        response = await client.request(method, path, json=body)
        statuses[response.status_code] += 1
        if path == "/graphql" and response.status_code == 200:
            for error in response.json().get("errors", []):
                graphql_errors[str(error["extensions"]["status"])] += 1


async def drive(
    base: str, seconds: float, pid: int, fleet_size: int
) -> tuple[Counter[int], Counter[str], list[tuple[float, float]]]:
    statuses: Counter[int] = Counter()
    graphql_errors: Counter[str] = Counter()
    samples: list[tuple[float, float]] = []
    start = time.monotonic()
    until = start + seconds
    async with httpx.AsyncClient(base_url=base, timeout=30, headers=KEYED) as client:
        workers = [
            asyncio.create_task(worker(client, until, statuses, graphql_errors, fleet_size))
            for _ in range(32)
        ]
        while time.monotonic() < until:
            samples.append((round(time.monotonic() - start), memory_mb(pid, "VmRSS")))
            print(
                f"  {samples[-1][0]:>5} s  RSS {samples[-1][1]:6.1f} MB  {dict(statuses)}",
                flush=True,
            )
            await asyncio.sleep(min(10.0, max(until - time.monotonic(), 0.1)))
        await asyncio.gather(*workers)
    samples.append((round(time.monotonic() - start), memory_mb(pid, "VmRSS")))
    return statuses, graphql_errors, samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--fleet", type=int, default=20_000)
    args = parser.parse_args()
    python = sys.executable
    emulator_port, gateway_port = free_port(), free_port()
    emulator, gateway = f"http://127.0.0.1:{emulator_port}", f"http://127.0.0.1:{gateway_port}"
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        data = Path(tmp) / "data.json"
        data.write_text(json.dumps(fleet(args.fleet)))
        stack.enter_context(
            serve(
                [python, "-m", "service.emulator", "--port", str(emulator_port),
                 "--data", str(data), "--latency-ms", "30", "--throttle-rate", "0.05",
                 "--error-rate", "0.03", "--not-json-rate", "0.01", "--truncated-rate", "0.01"],
                {},
                f"{emulator}/_emulator/calls",
                log=Path(tmp) / "emulator.log",
            )
        )  # fmt: skip
        process = stack.enter_context(
            serve(
                [python, "-m", "service", "--port", str(gateway_port)],
                {
                    "AWS_ENDPOINT_URL_CODEDEPLOY": emulator,
                    "AWS_REGION": "us-east-1",
                    "AWS_ACCESS_KEY_ID": "soak",
                    "AWS_SECRET_ACCESS_KEY": "soak",
                    "GATEWAY_LOG_LEVEL": "warning",
                    **BENCH_AUTH,
                },
                f"{gateway}/openapi.json",
            )
        )
        print(f"soak: {args.seconds:g} s of mixed load with faults on")
        statuses, graphql_errors, samples = asyncio.run(
            drive(gateway, args.seconds, process.pid, args.fleet)
        )
    warm = [rss for t, rss in samples if t >= args.seconds * 0.3]
    growth = max(warm) - warm[0] if warm else 0.0
    unexpected = {status: n for status, n in statuses.items() if status not in EXPECTED}
    print(f"\nstatuses: {dict(sorted(statuses.items()))}")
    print(f"GraphQL errors by status: {dict(graphql_errors)}")
    print(f"RSS after warm-up: {warm[0]:.1f} → {warm[-1]:.1f} MB (max growth {growth:.1f} MB)")
    failures = []
    if unexpected:
        failures.append(f"unexpected statuses: {unexpected}")
    if any(int(status) >= 500 and int(status) not in (502, 504) for status in graphql_errors):
        failures.append(f"unexpected GraphQL error statuses: {dict(graphql_errors)}")
    if growth > GROWTH_ALLOWED_MB:
        failures.append(f"memory grew {growth:.1f} MB after warm-up")
    if failures:
        raise SystemExit("soak FAILED: " + "; ".join(failures))
    print("soak passed: no unexpected status, memory flat after warm-up")


if __name__ == "__main__":
    main()
