"""The watchers row: many server-sent-event viewers of one deployment in progress.

A rolling deployment in the emulator changes an instance every couple of seconds. One
viewer, then ``viewers`` of them, follow it through the gateway for ``seconds`` each;
the row compares the upstream calls per minute (one watcher reads for all), gives the
delivery latency of each instance event from the moment the emulator's data changed
(its ``lastUpdatedAt``) to the moment a viewer read it, and the gateway's RSS.
"""

import asyncio
import json
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

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


async def _viewer(
    host: str, port: int, key: str, latencies: list[float], stop: asyncio.Event
) -> bool:
    """Reads the stream until ``stop``; notes each instance event's delivery latency."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        f"GET /v1/deployments/{DEPLOYMENT}/events HTTP/1.1\r\nHost: {host}\r\n"
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
    calls: Callable[[], int], rss: Callable[[], float],
) -> tuple[float, list[float], int, float]:  # fmt: skip
    """Upstream calls a minute, delivery latencies, viewers cut off, and the gateway's
    RSS midway, while ``viewers`` follow the deployment for ``seconds``."""
    host, port = base.removeprefix("http://").split(":")
    latencies: list[float] = []
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(_viewer(host, int(port), key, latencies, stop)) for _ in range(viewers)
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


def measure(
    base: str, key: str, calls: Callable[[], int], rss: Callable[[], float],
    viewers: int, seconds: int,
) -> WatchersRow:  # fmt: skip
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, viewers * 2 + 256)), hard))
    one, _, _, memory_one = asyncio.run(_follow(base, key, 1, seconds, calls, rss))
    many, latencies, dropped, memory = asyncio.run(_follow(base, key, viewers, seconds, calls, rss))
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
    )
