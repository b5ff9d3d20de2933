"""Receivers on real sockets, and the webhooks files that point at them."""

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

SECRET = "whsec_" + base64.b64encode(b"a test secret, 32 bytes long!!!!").decode()


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """An HTTP endpoint that records every POST and answers each with the next of
    ``answers`` (then 204)."""

    url: str
    received: list[Delivery] = field(default_factory=list)
    answers: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def deliveries(self) -> list[Delivery]:
        with self.lock:
            return list(self.received)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as made:
        yield made


@contextmanager
def receiving(port: int = 0) -> Iterator[Receiver]:
    """A receiver on ``port`` (any free one by default), until the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", port), BaseHTTPRequestHandler)
    made = Receiver(f"http://127.0.0.1:{server.server_address[1]}/hook")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with made.lock:
                made.received.append(Delivery(self.path, dict(self.headers.items()), body))
                status, headers = made.answers.pop(0) if made.answers else (204, {})
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:  # what a followed redirect would send
            with made.lock:
                made.received.append(Delivery(self.path, dict(self.headers.items()), b""))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server.RequestHandlerClass = Handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield made
    finally:
        server.shutdown()
        server.server_close()


def hooks_file(directory: Path, *hooks: dict[str, Any], **top: Any) -> Path:
    """A webhooks file; each hook's secret in a file of its own, loopback allowed."""
    secret = directory / "secret"
    secret.write_text(SECRET + "\n")
    document = {
        "allowedHosts": ["127.0.0.1"],
        "privateHosts": ["127.0.0.1"],
        **top,
        "webhooks": [{"secretFile": str(secret), **hook} for hook in hooks],
    }
    path = directory / "webhooks.json"
    path.write_text(json.dumps(document))
    return path
