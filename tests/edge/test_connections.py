"""What a connection can make the process hold, tried with raw sockets against
``python -m service`` as it runs: huge headers, headers that never end, slow headers."""

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import pytest

from service.edge.connections import HELD_BYTES, CoalescedWrites
from tests.support import read_all, rss_kb, running_process, send_until_closed

pytestmark = pytest.mark.processes

HEAD = b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int, int]]:
    log = tmp_path_factory.mktemp("edge") / "gateway.log"
    with running_process(log, GATEWAY_HEADER_TIMEOUT_SECONDS="1") as (url, process):
        host, port = url.removeprefix("http://").split(":")
        yield host, int(port), process.pid


def connect(gateway: tuple[str, int, int]) -> socket.socket:
    return socket.create_connection(gateway[:2], timeout=10)


def test_a_1_mb_header_is_refused_with_431(gateway: tuple[str, int, int]) -> None:
    with connect(gateway) as sock:
        sock.sendall(HEAD + b"X-Big: " + b"a" * 1024 * 1024 + b"\r\n\r\n")
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert b"application/problem+json" in answer
    assert b'"code": "REQUEST_HEADER_FIELDS_TOO_LARGE"' in answer


def test_a_head_over_the_limit_in_one_read_is_refused_and_heads_under_it_pass(
    gateway: tuple[str, int, int],
) -> None:
    """40 KB of headers (the default limit is 32 KB) sent at once, arriving in one read
    with the end of the head; then keep-alive requests whose heads together pass it."""
    with connect(gateway) as sock:
        sock.sendall(HEAD + b"X-Big: " + b"a" * 40 * 1024 + b"\r\n\r\n")
        assert read_all(sock).startswith(b"HTTP/1.1 431 ")
    with connect(gateway) as sock:
        for _ in range(3):  # 20 KB heads, 60 KB on one connection
            sock.sendall(HEAD + b"X-Big: " + b"a" * 20 * 1024 + b"\r\n\r\n")
            answer = b""
            while not answer.endswith(b'{"status":"ok"}'):
                answer += sock.recv(65536) or pytest.fail(f"closed after {answer!r}")
            assert answer.startswith(b"HTTP/1.1 200 ")


def test_unfinished_huge_headers_leave_memory_flat(gateway: tuple[str, int, int]) -> None:
    before = rss_kb(gateway[2])
    for _ in range(12):
        with connect(gateway) as sock:
            # Never finished: refused, and past what is read after the answer, reset.
            send_until_closed(sock, HEAD + b"X-Big: " + b"a" * 4 * 1024 * 1024, 4 * 1024 * 1024)
            with contextlib.suppress(ConnectionResetError):
                assert read_all(sock).startswith(b"HTTP/1.1 431 ")
    assert rss_kb(gateway[2]) - before < 20 * 1024


def test_slow_headers_are_closed_after_the_timeout(gateway: tuple[str, int, int]) -> None:
    socks = [connect(gateway) for _ in range(40)]
    try:
        for sock in socks:
            sock.sendall(HEAD[:20])  # a head that never completes
        for sock in socks:
            assert read_all(sock) == b""  # closed by the gateway, not by the socket timeout
    finally:
        for sock in socks:
            sock.close()


def test_an_idle_connection_is_closed_too(gateway: tuple[str, int, int]) -> None:
    with connect(gateway) as sock:
        assert read_all(sock) == b""


def read_response(sock: socket.socket) -> bytes:
    """One whole response: its head, then as many body bytes as it declares."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, body = data.split(b"\r\n\r\n", 1)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def test_a_normal_request_and_keep_alive_still_work(gateway: tuple[str, int, int]) -> None:
    with connect(gateway) as sock:
        for _ in range(2):  # the same connection twice
            sock.sendall(HEAD + b"\r\n")
            answer = read_response(sock)
            assert answer.startswith(b"HTTP/1.1 200 ")
            assert answer.endswith(b'{"status":"ok"}')


def test_pipelined_requests_and_head_get_whole_answers(gateway: tuple[str, int, int]) -> None:
    """Writes are joined until the loop's next turn: a HEAD (no body write) and two
    pipelined requests still leave, whole and in order."""
    with connect(gateway) as sock:
        sock.sendall(HEAD.replace(b"GET", b"HEAD") + b"\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head, rest = data.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200 ")
        assert rest == b""
        assert b"content-length: 15" in head.lower()
        sock.sendall(HEAD + b"\r\n" + b"GET /readyz HTTP/1.1\r\nHost: gateway\r\n\r\n")
        data = b""
        while data.count(b"HTTP/1.1 200 ") < 2 or not data.endswith(b"}"):
            data += sock.recv(65536)
        first, second = data.split(b"HTTP/1.1 200 ")[1:]
        assert first.endswith(b'{"status":"ok"}')
        assert second.endswith(b'{"status":"ready"}')


class Recorded(asyncio.Transport):
    """A transport that keeps what it is asked to write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return False


async def test_small_writes_leave_together_and_a_large_one_at_once() -> None:
    loop = asyncio.get_running_loop()
    recorded = Recorded()
    joined = CoalescedWrites(recorded, loop)
    joined.write(b"head ")
    joined.write(b"body")
    assert recorded.writes == []
    await asyncio.sleep(0)  # the loop's next turn
    assert recorded.writes == [b"head body"]
    joined.write(b"x" * (HELD_BYTES + 1))
    assert recorded.writes[-1] == b"x" * (HELD_BYTES + 1)  # under flow control at once
