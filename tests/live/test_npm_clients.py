"""The subscription through the clients frontends install from npm: graphql-ws over
WebSocket and graphql-sse over server-sent events, run by Node against a gateway on a real
socket. Clients nobody here wrote, checking the protocols as their authors read them."""

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.identity import API_KEY, API_KEYS
from tests.support import FINISHED, NPM, LiveFactory, npm_install

# Exact versions: what the test checked is what it checks next time.
PACKAGES = ["graphql@16.15.0", "graphql-ws@6.4.2", "graphql-sse@2.6.1", "ws@8.23.0"]
SCRIPT = Path(__file__).with_name("npm_clients.mjs")

pytestmark = NPM


@pytest.fixture(scope="session")
def clients(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The script beside its packages, installed from the npm registry (npm's cache makes
    later runs quick)."""
    where = npm_install(tmp_path_factory.mktemp("npm-clients"), *PACKAGES)
    shutil.copy(SCRIPT, where / SCRIPT.name)
    return where / SCRIPT.name


async def subscribe(script: Path, base: str, transport: str, *args: str) -> Any:
    process = await asyncio.create_subprocess_exec(
        "node", str(script), base, transport, *args, stdout=asyncio.subprocess.PIPE
    )
    async with asyncio.timeout(60):
        output, _ = await process.communicate()
    return json.loads(output)


@pytest.mark.parametrize("transport", ["ws", "sse"])
async def test_the_npm_client_follows_a_deployment_to_its_end(
    make_live: LiveFactory, clients: Path, transport: str
) -> None:
    async with make_live() as live:
        results = await subscribe(clients, live.gateway.url, transport, FINISHED)
    events = [result["data"]["deploymentEvents"] for result in results]
    assert events[0] == {
        "__typename": "DeploymentChanged",
        "eventId": events[0]["eventId"],
        "deployment": {"status": "FAILED"},
    }
    assert [event["__typename"] for event in events[1:]] == ["InstanceChanged"] * 6


@pytest.mark.parametrize("transport", ["ws", "sse"])
async def test_the_npm_client_brings_its_credentials(
    make_live: LiveFactory, clients: Path, transport: str
) -> None:
    keyed = {"auth": "api-key", "api_keys": json.dumps(API_KEYS)}
    async with make_live(**keyed) as live:
        results = await subscribe(clients, live.gateway.url, transport, FINISHED, API_KEY)
        refused = await subscribe(clients, live.gateway.url, transport, FINISHED, "not-a-key")
    assert len(results) == 7
    assert "error" in refused
