"""Liveness and readiness, as an orchestrator probes them."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass
class Health:
    """Ready once the lifespan has the CodeDeploy client, and no longer once draining
    starts (SIGTERM), so load balancers stop sending before the server stops serving."""

    started: bool = False
    draining: bool = False
    emulator: str | None = None
    """Where the embedded CodeDeploy emulator answers (local mode), for the banner."""
    on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    """Run when the server stops taking requests, before it waits for those under way:
    streams end there, so their clients reconnect to a replica that stays."""

    @property
    def ready(self) -> bool:
        return self.started and not self.draining

    async def stop(self) -> None:
        for stop in self.on_stop:
            await stop()
