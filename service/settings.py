"""All configuration, read once from the environment and validated at start-up."""

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PositiveSeconds = Annotated[float, Field(gt=0, le=3600)]
CacheSeconds = Annotated[float, Field(ge=0, le=86400)]


class Settings(BaseSettings):
    """Every ``GATEWAY_*`` variable, plus the one AWS variable botocore does not read itself.

    A bad value stops the process at start-up with a message naming the variable,
    rather than surfacing as odd behaviour under load.
    """

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    drain_seconds: float = Field(default=5.0, ge=0, le=300)
    """After SIGTERM: /readyz answers 503 this long before the server stops accepting,
    so load balancers have stopped routing here by then."""
    shutdown_timeout_seconds: int = Field(default=20, gt=0, le=600)
    """Then in-flight requests get this long to finish before they are cut."""

    max_body_bytes: int = Field(default=65_536, ge=1024, le=16 * 1024 * 1024)
    """Larger request bodies are refused (413) before they are read."""
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Browser origins allowed to call the API, comma-separated; none by default."""

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    # Local mode: an embedded CodeDeploy emulator instead of AWS.
    local: bool = False
    local_data: Path | None = None

    upstream_api: Literal["instances", "targets"] = "instances"
    """Which CodeDeploy calls answer instance reads: the deprecated instance calls, or targets."""
    upstream_max_attempts: int = Field(default=3, ge=1, le=10)
    """Total attempts per upstream call (botocore's ``standard`` retry mode), not retries."""
    upstream_timeout_seconds: PositiveSeconds = 5.0
    """Deadline for one upstream call, retries and backoff included."""
    upstream_max_connections: int = Field(default=64, ge=1, le=1024)
    """Connection pool size; aiobotocore's default of 10 queues requests under load."""

    cache_ttl_seconds: CacheSeconds = 5.0
    """Instances still changing (Pending, InProgress, Ready, Unknown): short, to stay fresh."""
    cache_terminal_ttl_seconds: CacheSeconds = 60.0
    """Succeeded, Failed and Skipped instances rarely change again."""
    cache_negative_ttl_seconds: CacheSeconds = 5.0
    """404 answers, so a polling client asking for a missing id costs one call per TTL."""
    cache_max_entries: int = Field(default=10_000, ge=1, le=10_000_000)

    # botocore reads only AWS_DEFAULT_REGION; AWS_REGION is the variable every other SDK uses.
    aws_region: str | None = Field(default=None, validation_alias="AWS_REGION")
