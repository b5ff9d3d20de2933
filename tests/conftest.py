"""Shared fixtures: a real emulator on a loopback port and gateways pointed at it.

The gateway reaches the emulator through the standard ``AWS_ENDPOINT_URL_CODEDEPLOY``
variable, over real HTTP, with the real aioboto3 client: nothing in botocore is mocked.
"""

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvloop
from asgi_lifespan import LifespanManager

from service.app import create_app
from service.emulator import Emulator, load_data, serve_emulator
from service.settings import Settings
from tests.support import (
    ACCESS_KEY_ID,
    SECRET_ACCESS_KEY,
    FakeClock,
    GatewayFactory,
    Live,
    LiveFactory,
    RedisServer,
    Upstream,
    redis_server,
    running_gateway,
    served,
)

# The identity provider's fixtures (signing keys, tokens, a JWKS on loopback).
pytest_plugins = ["tests.identity"]


# Fixtures that start a process (a gateway, redis-server): a test using one is marked
# ``processes`` too, so `make test-inprocess` leaves it out without being told.
PROCESS_FIXTURES = frozenset({"local_gateway", "shared_redis", "redis"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if PROCESS_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.processes)


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """uvloop, the loop uvicorn runs the gateway on. Under the plain asyncio loop every
    loopback round trip to the emulator here took ~40 ms longer, hiding real costs."""
    return {"uvloop": uvloop.new_event_loop}


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """A clean, offline AWS chain: test credentials, no host config, no metadata service."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "GATEWAY_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
async def upstream(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Upstream]:
    emulator = Emulator(load_data(), seed=0)
    async with serve_emulator(emulator) as url:
        monkeypatch.setenv("AWS_ENDPOINT_URL_CODEDEPLOY", url)
        yield Upstream(emulator, url)


@pytest.fixture
async def make_live(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[LiveFactory]:
    clock = FakeClock()
    emulator = Emulator(load_data(), seed=0, clock=clock)
    async with serve_emulator(emulator) as url:
        monkeypatch.setenv("AWS_ENDPOINT_URL_CODEDEPLOY", url)

        @asynccontextmanager
        async def make(**overrides: Any) -> AsyncIterator[Live]:
            # Reads come from the tests' nudges: an interval no test waits for.
            settings = Settings(**{"auth": "none", "watch_interval_seconds": 300, **overrides})
            async with served(create_app(settings)) as gateway:
                yield Live(Upstream(emulator, url), clock, gateway)

        yield make


@pytest.fixture
async def live(make_live: LiveFactory) -> AsyncIterator[Live]:
    async with make_live() as made:
        yield made


@pytest.fixture(scope="session")
def local_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_gateway(tmp_path_factory.mktemp("local-gateway") / "gateway.log") as url:
        yield url


@pytest.fixture(scope="session")
def shared_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def redis(shared_redis: RedisServer) -> RedisServer:
    """The session's redis-server, emptied for this test."""
    shared_redis.client().flushall()
    return shared_redis


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_gateway(clock: FakeClock) -> GatewayFactory:
    """Builds a gateway from the environment plus ``overrides``, lifespan and all;
    open (``GATEWAY_AUTH=none``) unless a test says otherwise."""

    @asynccontextmanager
    async def make(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        defaults = {"auth": "none", "cursor_secret": "shared by the test replicas"}
        app = create_app(Settings(**{**defaults, **overrides}), clock=clock)
        async with (
            LifespanManager(app) as manager,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=manager.app), base_url="http://gateway"
            ) as client,
        ):
            yield client

    return make


@pytest.fixture
async def gateway(
    upstream: Upstream, make_gateway: GatewayFactory
) -> AsyncIterator[httpx.AsyncClient]:
    async with make_gateway() as client:
        yield client
