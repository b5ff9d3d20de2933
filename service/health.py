"""Liveness and readiness, as an orchestrator probes them."""

from dataclasses import dataclass


@dataclass
class Health:
    """Ready once the lifespan has the CodeDeploy client, and no longer once draining
    starts (SIGTERM), so load balancers stop sending before the server stops serving."""

    started: bool = False
    draining: bool = False

    @property
    def ready(self) -> bool:
        return self.started and not self.draining
