"""Apollo Client (from npm, run by Node) normalises what the gateway answers with no
configuration of its own: every object has an id, so a subscription's event updates the
instance a cached query shows, in place."""

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.support import LIVE, NPM, WAIT, Live, npm_install

PACKAGES = [
    "@apollo/client@4.3.8",
    "graphql@16.15.0",
    "graphql-ws@6.4.2",
    "rxjs@7.8.2",
    "ws@8.23.0",
]
SCRIPT = Path(__file__).with_name("apollo_cache.mjs")

pytestmark = NPM


@pytest.fixture(scope="module")
def apollo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = npm_install(tmp_path_factory.mktemp("apollo"), *PACKAGES)
    shutil.copy(SCRIPT, where / SCRIPT.name)
    return where / SCRIPT.name


async def said(process: asyncio.subprocess.Process) -> Any:
    assert process.stdout is not None
    async with asyncio.timeout(6 * WAIT):  # Node's start and Apollo's import included
        line = await process.stdout.readline()
    message = json.loads(line)
    assert "error" not in message, message
    return message


async def test_a_subscription_event_updates_the_cached_query_in_place(
    live: Live, apollo: Path
) -> None:
    process = await asyncio.create_subprocess_exec(
        "node",
        str(apollo),
        live.gateway.url,
        LIVE,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdin is not None
    try:
        assert await said(process) == {"subscribed": 5}  # the deployment and its 4 instances
        live.clock.advance(17)  # the first instance done, the second started
        live.changed()
        process.stdin.write(b"changed\n")
        result = (await said(process))["result"]
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
    first = "i-0e1f2a3b4c5d60001"
    assert result["before"][first] == "IN_PROGRESS"
    assert result["event"]["instanceId"] == first
    assert result["event"]["status"] == "SUCCEEDED"
    cached = {node["instanceId"]: node["status"] for node in result["cached"]}
    assert cached[first] == "SUCCEEDED"  # read from the cache: the query was not sent again
    assert result["fetches"] == 1
    # One entry per object, each under its id; the roots hold references to them.
    keys = sorted(result["keys"])
    assert keys[-2:] == ["ROOT_QUERY", "ROOT_SUBSCRIPTION"]
    assert [key.split(":")[0] for key in keys[:-2]] == ["Deployment"] + ["InstanceSummary"] * 4
    assert f"InstanceSummary:{result['event']['id']}" in keys
