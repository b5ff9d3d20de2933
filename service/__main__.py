"""``python -m service``: run the gateway with uvicorn."""

import argparse
import json
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from types import FrameType

import uvicorn
from pydantic import ValidationError
from pydantic_settings import SettingsError

from service import ci, tracing
from service.app import create_app
from service.edge.connections import BoundedWebSocket, bounded_protocol
from service.emulator import DataError, load_data
from service.guard import hash_key, new_key
from service.health import Health
from service.logs import configure_logging, flush_logs
from service.settings import ConfigurationError, Settings
from service.version import __version__

SWITCH_INTERVAL_SECONDS = 0.001
URLS_WITH_PASSWORDS = frozenset({"redis_url"})


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m service",
        description="CodeDeploy deployment-instance status over REST and GraphQL.",
    )
    parser.add_argument("--host", help="bind address (default: GATEWAY_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: GATEWAY_PORT or 8000)")
    parser.add_argument(
        "--local", action="store_true", help="serve from the embedded CodeDeploy emulator"
    )
    parser.add_argument("--local-data", type=Path, help="emulator data file for --local")
    return parser.parse_args(argv)


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {
        name: value
        for name, value in (
            ("host", args.host),
            ("port", args.port),
            ("local", args.local or None),
            ("local_data", args.local_data),
        )
        if value is not None
    }
    return Settings(**overrides)


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors(include_url=False):
        message = item["msg"].removeprefix("Value error, ")
        if not item["loc"]:  # a rule across variables; the message names them
            lines.append(f"configuration error: {message}")
            continue
        field = str(item["loc"][0])
        variable = "AWS_REGION" if field == "AWS_REGION" else f"GATEWAY_{field.upper()}"
        # Secret values are SecretStr, which no value fails: an echoed input is never one,
        # but a URL's password would be.
        given = "not shown" if field in URLS_WITH_PASSWORDS else repr(item.get("input"))
        lines.append(f"configuration error: {variable}: {message} (got {given})")
    return "\n".join(lines)


def hash_key_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m service hash-key",
        description=(
            "Make a new API key and its GATEWAY_API_KEYS entry; with --stdin, hash a key "
            "you already have."
        ),
    )
    parser.add_argument("--name", default="my-service", help="the caller's name in the entry")
    parser.add_argument("--stdin", action="store_true", help="read the key from standard input")
    args = parser.parse_args(argv)
    key = sys.stdin.readline().strip() if args.stdin else new_key()
    if not key:
        print("no key on standard input", file=sys.stderr)
        return 2
    if not args.stdin:
        print(f"key (give it to the caller; the gateway keeps only its hash): {key}")
    print(f"GATEWAY_API_KEYS entry: {json.dumps({args.name: hash_key(key)})}")
    return 0


def wait_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m service wait",
        description=(
            "Wait for a deployment through a gateway, printing each change. Exits 0 when it "
            "succeeds, 1 when it fails or is stopped (printing each failed instance's or "
            "target's lifecycle event, script and log tail), 2 on timeout, 3 when the "
            f"gateway refuses or cannot be reached. The key or token is read from "
            f"{ci.KEY_VARIABLE}."
        ),
    )
    parser.add_argument("deployment_id", metavar="DEPLOYMENT_ID")
    parser.add_argument("--gateway", required=True, help="the gateway's URL")
    parser.add_argument(
        "--timeout", type=ci.duration, default="30m", help="90s, 45m, 2h (default 30m)"
    )
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # a usage error is not "timed out" (2): it is refused
        return ci.REFUSED if exit_.code else ci.SUCCEEDED
    gateway = ci.Gateway(args.gateway, os.environ.get(ci.KEY_VARIABLE) or None)
    return ci.Waiter(gateway, args.deployment_id).run(args.timeout)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["hash-key"]:
        return hash_key_command(argv[1:])
    if argv[:1] == ["wait"]:
        return wait_command(argv[1:])
    args = _parse(argv)
    try:
        settings = _settings(args)
        local_data = load_data(settings.local_data) if settings.local else None
        # JSON lines for log pipelines; people running --local read plain lines.
        configure_logging(settings.log_level, json_lines=not settings.local)
        tracing.configure(__version__)  # by the OTEL_* variables, as a process's logging
        health = Health()
        app = create_app(settings, local_data=local_data, health=health)
    except ValidationError as exc:
        print(_describe(exc), file=sys.stderr)
        return 2
    except SettingsError as exc:
        # pydantic-settings could not decode a value; it names the field, not the value.
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except (ConfigurationError, DataError) as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2

    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=None,
        # service.edge.access logs every request, with more than uvicorn's line carries.
        access_log=False,
        # uvicorn believes X-Forwarded-For from loopback; the gateway decides itself, from
        # GATEWAY_TRUSTED_PROXIES only (service.edge.access.ClientAddress).
        proxy_headers=False,
        # The connection limit is the protocol's: it sheds idle and slow connections first.
        http=bounded_protocol(
            settings.max_header_bytes, settings.header_timeout_seconds, settings.max_connections
        ),
        timeout_keep_alive=settings.keepalive_timeout_seconds,
        server_header=False,
        timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
        # A graphql-transport-ws message is a GraphQL request: the body limit holds.
        ws=BoundedWebSocket,
        ws_max_size=settings.max_body_bytes,
    )
    # The event loop waits at most 1 ms, not CPython's 5, for the interpreter lock while
    # the worker thread prepares a long GraphQL document: /healthz under 4 senders of
    # costly documents went from 3-12 ms p50 to 0.5 ms (make bench).
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    try:
        DrainingServer(config, health, settings.drain_seconds, partial(banner, settings)).run()
    finally:
        tracing.shutdown()  # what is left of the batch goes out
    return 0


def banner(settings: Settings, health: Health) -> str:
    """What to open and try, once the port is bound."""
    base = f"http://{settings.host}:{settings.port}"
    lines = [f"codedeploy-gateway on {base}{' (local mode, demo data)' if settings.local else ''}"]
    lines.append(f"  Board:      {base}/board")
    if settings.docs:
        lines += [f"  Swagger UI: {base}/docs", f"  GraphiQL:   {base}/graphql"]
    if settings.local:
        group = "/v1/applications/orders-api/deployment-groups/orders-api-staging"
        lines += [
            f"  Try:        curl {base}/v1/deployments/d-EXAMPLE01/instances/i-0a1b2c3d4e5f60002",
            f"  Live:       curl -N {base}{group}/events",
            "              (the demo group: its deployment rolling, then each next run)",
            f"  Wait:       python -m service wait d-EXAMPLE07 --gateway {base}",
            f"  Accounts:   curl {base}/v1/accounts/staging/regions/eu-west-1/deployments",
        ]
        if health.emulator:  # CodeDeploy's own API, for the AWS CLI or an SDK
            lines.append(f"  Emulator:   {health.emulator} (aws codedeploy --endpoint-url ...)")
    return "\n".join(lines)


class DrainingServer(uvicorn.Server):
    """On SIGTERM, readiness goes 503 first; the server stops ``drain_seconds`` later,
    then waits for in-flight requests. Ctrl-C, or a second SIGTERM, stops at once."""

    def __init__(
        self,
        config: uvicorn.Config,
        health: Health,
        drain_seconds: float,
        banner: Callable[[Health], str],
    ) -> None:
        super().__init__(config)
        self.health = health
        self.drain_seconds = drain_seconds
        self.banner = banner

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """The banner once the port is bound: a port in use stops start-up before it."""
        await super().startup(sockets)
        if self.started:
            print(self.banner(self.health), flush=True)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig != signal.SIGTERM or self.health.draining or self.drain_seconds <= 0:
            super().handle_exit(sig, frame)
            return
        self.health.draining = True
        logging.getLogger(__name__).info("SIGTERM: not ready; stopping in %g s", self.drain_seconds)
        timer = threading.Timer(self.drain_seconds, super().handle_exit, (sig, frame))
        timer.daemon = True
        timer.start()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Streams end first (WebSocket: 1001 Going Away) so their clients reconnect to a
        replica that stays; then uvicorn closes connections and waits for requests."""
        await self.health.stop()
        await super().shutdown(sockets)

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        """uvicorn re-raises the signal that stopped it, which ends the process without
        ``atexit``: the log lines still waiting for their batch are written first."""
        with super().capture_signals():
            try:
                yield
            finally:
                flush_logs()


if __name__ == "__main__":
    sys.exit(main())
