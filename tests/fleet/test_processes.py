"""The fleet as an operator runs it: separate gateway processes (``python -m service``),
one redis-server, one CodeDeploy emulator process, and load spread over the replicas."""

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support import ACCESS_KEY_ID, SECRET_ACCESS_KEY, RedisServer, free_port, running_process

pytestmark = pytest.mark.processes

INSTANCE = "/v1/deployments/d-EXAMPLE01/instances/i-0a1b2c3d4e5f6000{}"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m service.emulator``: upstream calls counted at /_emulator/calls."""
    port = free_port()
    log = tmp_path_factory.mktemp("emulator") / "emulator.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "service.emulator", "--port", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):  # another process: asked until it answers, a bounded number of times
            try:
                httpx.get(f"{url}/_emulator/calls", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail(f"the emulator did not start:\n{log.read_text()}")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def calls(emulator: str) -> int:
    return sum(httpx.get(f"{emulator}/_emulator/calls").json().values())


@contextmanager
def replicas(tmp_path: Path, emulator: str, redis: RedisServer, **env: str) -> Iterator[list[str]]:
    """Three gateway processes reading the emulator, sharing the store."""
    settings = {
        "GATEWAY_AUTH": "none",
        "GATEWAY_REDIS_URL": redis.url,
        "GATEWAY_CURSOR_SECRET": "shared by the replicas",
        "AWS_ENDPOINT_URL_CODEDEPLOY": emulator,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "AWS_EC2_METADATA_DISABLED": "true",
        **env,
    }
    with ExitStack() as stack:
        yield [
            stack.enter_context(running_process(tmp_path / f"replica-{n}.log", False, **settings))[
                0
            ]
            for n in range(3)
        ]


async def spread(urls: list[str], path: str, count: int) -> list[httpx.Response]:
    """``count`` requests at once, dealt over the replicas in turn."""
    async with httpx.AsyncClient(timeout=10) as client:
        return await asyncio.gather(*(client.get(urls[n % 3] + path) for n in range(count)))


def test_thirty_concurrent_misses_over_three_processes_make_one_call(
    tmp_path: Path, emulator: str, redis: RedisServer
) -> None:
    with replicas(tmp_path, emulator, redis) as urls:
        before = calls(emulator)
        answers = asyncio.run(spread(urls, INSTANCE.format(3), 30))
        assert {answer.status_code for answer in answers} == {200}
        assert calls(emulator) == before + 1
        # And what one read, the others answer: another instance, through each in turn.
        for url in urls:
            assert httpx.get(url + INSTANCE.format(4)).status_code == 200
        assert calls(emulator) == before + 2


def test_a_callers_limit_holds_across_the_fleet(
    tmp_path: Path, emulator: str, redis: RedisServer
) -> None:
    limit = {"GATEWAY_RATE_LIMIT_PER_SECOND": "1", "GATEWAY_RATE_LIMIT_BURST": "3"}
    with replicas(tmp_path, emulator, redis, **limit) as urls:
        start = time.monotonic()
        answers = asyncio.run(spread(urls, INSTANCE.format(2), 15))
        elapsed = time.monotonic() - start

    answered = [answer for answer in answers if answer.status_code == 200]
    refused = [answer for answer in answers if answer.status_code == 429]
    assert len(answered) + len(refused) == 15
    # The burst, and one more per second the 15 requests took: not 3 per replica.
    assert 3 <= len(answered) <= 3 + int(elapsed) + 1
    assert all(answer.headers["retry-after"] for answer in refused)
