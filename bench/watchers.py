"""The watchers row: many server-sent-event viewers of one deployment in progress, and
many CI waits on it.

A rolling deployment in the emulator changes an instance every couple of seconds. One
viewer, then ``viewers`` of them, follow it through the gateway for ``seconds`` each;
the row compares the upstream calls per minute (one watcher reads for all), gives the
delivery latency of each instance event from the moment the emulator's data changed
(its ``lastUpdatedAt``) to the moment a viewer read it, and the gateway's RSS. Then one,
then ``waits``, blocking reads (``?wait=`` with ``If-None-Match``, one after another, as
``python -m service wait`` makes them) for ``seconds`` each: their upstream calls a minute.
"""

import asyncio
import json
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import httpx

DEPLOYMENT = "d-BENCHLIVE"
# 40 instances at 2 s a lifecycle event: a run of ~9 minutes, longer than the row.
ROLLING = {
    "applicationName": "bench",
    "deploymentGroupName": "bench",
    "instances": [f"i-{n:017x}" for n in range(40)],
    "stepSeconds": 2,
    "restSeconds": 0,
    "failEvery": 0,
}


@dataclass
class WatchersRow:
    viewers: int
    seconds: int
    calls_per_minute_one: float
    calls_per_minute_all: float
    events_delivered: int
    p50_ms: float
    p99_ms: float
    rss_mb_one: float
    rss_mb: float
    dropped: int
    waits: int
    calls_per_minute_one_wait: float
    calls_per_minute_waits: float
    group_viewers: int
    calls_per_minute_one_group_viewer: float
    calls_per_minute_group_viewers: float


STREAM = f"/v1/deployments/{DEPLOYMENT}/events"
GROUP_STREAM = "/v1/applications/bench/deployment-groups/bench/events"


async def _viewer(
    host: str, port: int, key: str, latencies: list[float], stop: asyncio.Event, path: str
) -> bool:
    """Reads the stream until ``stop``; notes each instance event's delivery latency."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\n"
        f"X-API-Key: {key}\r\nAccept: text/event-stream\r\n\r\n".encode()
    )
    await writer.drain()
    snapshot = True  # the whole picture first: those are not changes
    try:
        while not stop.is_set():
            line = await reader.readline()
            if not line:
                return False
            if line.startswith(b": heartbeat"):
                continue
            if line.startswith(b'data: {"instanceSummary"'):
                if not snapshot:
                    summary = json.loads(line[6:])["instanceSummary"]
                    changed = _epoch(summary["lastUpdatedAt"])
                    latencies.append(time.time() - changed)
            elif line.startswith(b'data: {"deploymentInfo"') and snapshot:
                snapshot = False
        return True
    finally:
        writer.close()


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


async def _follow(
    base: str, key: str, viewers: int, seconds: int,
    calls: Callable[[], int], rss: Callable[[], float], path: str = STREAM,
) -> tuple[float, list[float], int, float]:  # fmt: skip
    """Upstream calls a minute, delivery latencies, viewers cut off, and the gateway's
    RSS midway, while ``viewers`` follow the deployment for ``seconds``."""
    host, port = base.removeprefix("http://").split(":")
    latencies: list[float] = []
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(_viewer(host, int(port), key, latencies, stop, path))
        for _ in range(viewers)
    ]
    await asyncio.sleep(3)  # all connected, their snapshots read
    latencies.clear()
    before = await asyncio.to_thread(calls)
    await asyncio.sleep(seconds / 2)
    memory = rss()
    await asyncio.sleep(seconds / 2)
    after = await asyncio.to_thread(calls)
    stop.set()
    for task in tasks:  # a viewer waiting in readline would wait for the next event
        task.cancel()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    dropped = sum(outcome is False for outcome in outcomes)
    return (after - before) * 60 / seconds, latencies, dropped, memory


async def _waiter(base: str, key: str, stop: asyncio.Event) -> None:
    """Blocking reads of the deployment, each until it changes, until ``stop``."""
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": key}, timeout=90) as client:
        tag: dict[str, str] = {}
        while not stop.is_set():
            answer = await client.get(
                f"/v1/deployments/{DEPLOYMENT}", params={"wait": 30}, headers=tag
            )
            if "etag" in answer.headers:
                tag = {"If-None-Match": answer.headers["etag"]}


async def _wait(base: str, key: str, waits: int, seconds: int, calls: Callable[[], int]) -> float:
    """Upstream calls a minute while ``waits`` pipelines wait on the deployment."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(_waiter(base, key, stop)) for _ in range(waits)]
    await asyncio.sleep(3)  # all waiting
    before = await asyncio.to_thread(calls)
    await asyncio.sleep(seconds)
    after = await asyncio.to_thread(calls)
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return (after - before) * 60 / seconds


def measure(
    base: str, key: str, calls: Callable[[], int], rss: Callable[[], float],
    viewers: int, seconds: int, waits: int = 100,
) -> WatchersRow:  # fmt: skip
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, viewers * 2 + 256)), hard))
    one, _, _, memory_one = asyncio.run(_follow(base, key, 1, seconds, calls, rss))
    many, latencies, dropped, memory = asyncio.run(_follow(base, key, viewers, seconds, calls, rss))
    one_wait = asyncio.run(_wait(base, key, 1, seconds, calls))
    all_waits = asyncio.run(_wait(base, key, waits, seconds, calls))
    one_group, *_ = asyncio.run(_follow(base, key, 1, seconds, calls, rss, GROUP_STREAM))
    groups, *_ = asyncio.run(_follow(base, key, waits, seconds, calls, rss, GROUP_STREAM))
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return WatchersRow(
        viewers=viewers,
        seconds=seconds,
        calls_per_minute_one=round(one, 1),
        calls_per_minute_all=round(many, 1),
        events_delivered=len(latencies),
        p50_ms=round(quantiles[49] * 1000),
        p99_ms=round(quantiles[98] * 1000),
        rss_mb_one=round(memory_one, 1),
        rss_mb=round(memory, 1),
        dropped=dropped,
        waits=waits,
        calls_per_minute_one_wait=round(one_wait, 1),
        calls_per_minute_waits=round(all_waits, 1),
        group_viewers=waits,
        calls_per_minute_one_group_viewer=round(one_group, 1),
        calls_per_minute_group_viewers=round(groups, 1),
    )
