"""What one GraphQL WebSocket can make ``python -m service`` hold: a raw-socket client
that sends and never reads, messages past the caller's rate, and frames over the size
limit right after ``connection_init`` (the ``websockets`` client reads the close)."""

import base64
import json
import os
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tests.support import rss_kb, running_process, send_until_closed

pytestmark = pytest.mark.processes

PROTOCOL = Subprotocol("graphql-transport-ws")
QUERY = (
    '{ deployment(id: "d-EXAMPLE04") { deploymentId status '
    "instances(first: 100) { nodes { instanceId status } } } }"
)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int, Path]]:
    log = tmp_path_factory.mktemp("ws") / "gateway.log"
    with running_process(log, GATEWAY_WS_SEND_TIMEOUT_SECONDS="1") as (url, process):
        yield url, process.pid, log


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[str]:
    with running_process(
        tmp_path / "gateway.log",
        GATEWAY_RATE_LIMIT_PER_SECOND="1",
        GATEWAY_RATE_LIMIT_BURST="200",
    ) as (url, _):
        yield url.replace("http://", "ws://") + "/graphql"


def frame(payload: bytes, opcode: int = 1, *, fin: bool = True) -> bytes:
    """One masked client frame (RFC 6455 §5.2)."""
    mask = os.urandom(4)
    size = len(payload)
    first = (0x80 if fin else 0) | opcode
    if size < 126:
        head = struct.pack("!BB", first, 0x80 | size)
    elif size < 65536:
        head = struct.pack("!BBH", first, 0x80 | 126, size)
    else:
        head = struct.pack("!BBQ", first, 0x80 | 127, size)
    return head + mask + bytes(b ^ mask[n % 4] for n, b in enumerate(payload))


def message(**fields: object) -> bytes:
    return frame(json.dumps(fields).encode())


def handshake(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=20)
    # A small window: what the gateway sends fills it at once.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    key = base64.b64encode(os.urandom(16))
    sock.sendall(
        b"GET /graphql HTTP/1.1\r\nHost: gateway\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key + b"\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101 ")
    return sock


async def close_code(ws: ClientConnection) -> int | None:
    """The code of the gateway's close frame, read past whatever came before it."""
    try:
        while True:
            await ws.recv()
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


def test_a_client_that_never_reads_is_dropped_and_costs_no_tasks(
    gateway: tuple[str, int, Path],
) -> None:
    url, pid, log = gateway
    before = rss_kb(pid)
    sock = handshake(url)
    sock.sendall(message(type="connection_init"))
    sent = 0
    try:
        for n in range(100_000):
            payload = {"query": QUERY} if n % 2 else {"query": "{ __typename }"}
            sock.sendall(message(id=str(n), type="subscribe", payload=payload))
            sock.sendall(message(type="ping"))
            sent += 1
    except OSError:  # blocked (the gateway stopped reading), then dropped
        pass
    sock.settimeout(20)  # the gateway drops the connection well before
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    sock.close()
    assert sent < 100_000  # the gateway stopped reading long before
    assert rss_kb(pid) - before < 30 * 1024
    text = log.read_text()
    assert "Task exception was never retrieved" not in text
    assert "Traceback" not in text


async def test_messages_past_the_rate_are_refused_in_turn(limited: str) -> None:
    async with connect(limited, subprotocols=[PROTOCOL]) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        for n in range(250):  # the burst is 200, the handshake took one
            await ws.send(
                json.dumps(
                    {"id": str(n), "type": "subscribe", "payload": {"query": "{ __typename }"}}
                )
            )
        codes: list[str] = []
        while len(codes) < 250:
            answer = json.loads(await ws.recv())
            if answer["type"] == "error":
                codes.append(answer["payload"][0]["extensions"]["code"])
            elif answer["type"] == "complete":
                continue
            else:
                assert answer["type"] == "next"
                codes.append("ok")
        assert codes.count("RATE_LIMITED") >= 40, codes
        # A ping past the rate ends the socket with 1013.
        await ws.send(json.dumps({"type": "ping"}))
        assert await close_code(ws) == 1013


async def test_a_frame_over_the_limit_after_init_closes_with_1009(
    gateway: tuple[str, int, Path],
) -> None:
    url, _, log = gateway
    ws_url = url.replace("http://", "ws://") + "/graphql"
    for _ in range(20):
        async with connect(ws_url, subprotocols=[PROTOCOL], max_size=None) as ws:
            await ws.send(json.dumps({"type": "connection_init"}))
            await ws.send("x" * 70_000)
            assert await close_code(ws) == 1009
    assert "Traceback" not in log.read_text()


def test_pings_from_a_client_that_never_reads_hold_nothing(
    gateway: tuple[str, int, Path],
) -> None:
    """uvicorn writes each pong with no flow control: 4 such sockets held 370 MB. Now a
    client that is not reading gets no pongs."""
    url, pid, _ = gateway
    before = rss_kb(pid)
    sockets = [handshake(url) for _ in range(4)]
    try:
        ping = frame(b"x" * 125, opcode=9) * 512
        for sock in sockets:
            sock.sendall(message(type="connection_init"))
        for _ in range(100):  # 51,200 pings a socket, ~6.7 MB of them
            for sock in sockets:
                sock.sendall(ping)
        assert rss_kb(pid) - before < 30 * 1024
    finally:
        for sock in sockets:
            sock.close()


def test_a_message_in_endless_fragments_is_dropped(gateway: tuple[str, int, Path]) -> None:
    url, _, log = gateway
    sock = handshake(url)
    sock.sendall(frame(b"{", fin=False))
    sent = send_until_closed(sock, frame(b"", opcode=0, fin=False) * 20_000, 50_000_000)
    sock.close()
    assert sent < 50_000_000  # dropped long before
    assert "Traceback" not in log.read_text()
