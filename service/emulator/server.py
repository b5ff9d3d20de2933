"""Serve the emulator (or any ASGI app) on a loopback port inside a running event loop."""

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from service.emulator.app import Emulator
from service.emulator.http import create_emulator_app


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its process-level parts: no signal handlers, no start-up banner.

    Those belong to whoever runs the loop (the gateway's own uvicorn, or pytest).
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.stopping = asyncio.Event()

    async def main_loop(self) -> None:
        """uvicorn's loop wakes every 0.1 s to see whether it should stop: a tenth of a
        second for every server a test starts and stops. This one is told at once, and
        still refreshes the Date header every second."""
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 10) % 864000  # on_tick's unit: its own 0.1 s tick
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1):
                    await self.stopping.wait()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's, without its fixed 0.1 s pause after asking connections to close:
        they are watched as they go instead (tests start and stop hundreds of servers)."""
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        while self.server_state.connections or self.server_state.tasks:  # noqa: ASYNC110
            await asyncio.sleep(0.001)  # uvicorn's own wait is this poll, every 0.1 s
        for server in self.servers:
            await server.wait_closed()
        await self.lifespan.shutdown()

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self.config.load()
        self.lifespan = self.config.lifespan_class(self.config)
        await self.startup(sockets=sockets)
        await self.main_loop()
        await self.shutdown(sockets=sockets)


def serve_emulator(
    emulator: Emulator, host: str = "127.0.0.1", port: int = 0
) -> contextlib.AbstractAsyncContextManager[str]:
    """Run ``emulator`` over HTTP for the duration of the block; yields its base URL."""
    return serve(create_emulator_app(emulator), host, port)


@contextlib.asynccontextmanager
async def serve(
    app: ASGIApp, host: str = "127.0.0.1", port: int = 0, **options: Any
) -> AsyncIterator[str]:
    """Run ``app`` over HTTP for the duration of the block; yields its base URL.
    ``options`` go to ``uvicorn.Config`` (``lifespan="on"`` runs the app's lifespan)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    # No log config or level: uvicorn would otherwise reset the host process's loggers.
    config = uvicorn.Config(
        app,
        **{
            "lifespan": "off",
            "log_config": None,
            "log_level": None,
            "access_log": False,
            **options,
        },
    )
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.001)
        bound_host, bound_port = sock.getsockname()[:2]
        yield f"http://{bound_host}:{bound_port}"
    finally:
        server.should_exit = True
        server.stopping.set()
        await task
        sock.close()
