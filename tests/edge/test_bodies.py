"""What a request's body and trailers can make the process hold before anyone has
authenticated, tried with raw sockets against ``python -m service`` as it runs with API
keys: huge trailers, answers sent before the body, bodies that never finish, and a burst
of slow connections at the connection limit."""

import contextlib
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.identity import API_KEY, API_KEYS
from tests.support import read_all, rss_kb, running_process, send_until_closed

pytestmark = pytest.mark.processes

MAX_CONNECTIONS = 60
QUERY = json.dumps({"query": "{ __typename }"}).encode()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int, int]]:
    log = tmp_path_factory.mktemp("bodies") / "gateway.log"
    with running_process(
        log,
        GATEWAY_AUTH="api-key",
        GATEWAY_API_KEYS=json.dumps(API_KEYS),
        GATEWAY_BODY_TIMEOUT_SECONDS="1",
        GATEWAY_MAX_CONNECTIONS=str(MAX_CONNECTIONS),
        # The header timeout is not what closes a slow body here.
        GATEWAY_HEADER_TIMEOUT_SECONDS="60",
        GATEWAY_KEEPALIVE_TIMEOUT_SECONDS="60",
        GATEWAY_MAX_SUBSCRIPTIONS_PER_CALLER="1000",
    ) as (url, process):
        host, port = url.removeprefix("http://").split(":")
        yield host, int(port), process.pid


def connect(gateway: tuple[str, int, int]) -> socket.socket:
    return socket.create_connection(gateway[:2], timeout=20)


def post_head(length: str | None, *, key: str | None = None) -> bytes:
    head = b"POST /graphql HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
    head += (
        b"Transfer-Encoding: chunked\r\n"
        if length is None
        else b"Content-Length: " + length.encode() + b"\r\n"
    )
    if key is not None:
        head += b"Authorization: Bearer " + key.encode() + b"\r\n"
    return head + b"\r\n"


TRAILER_LINE = b"X-T: " + b"a" * 1000 + b"\r\n"


@pytest.mark.parametrize("key", [None, API_KEY], ids=["stranger", "caller"])
def test_huge_trailers_are_refused_and_leave_memory_flat(
    gateway: tuple[str, int, int], key: str | None
) -> None:
    before = rss_kb(gateway[2])
    for _ in range(2):
        with connect(gateway) as sock:
            sock.sendall(post_head(None, key=key) + b"0\r\n")
            sent = send_until_closed(sock, TRAILER_LINE * 64, 64 * 1024 * 1024)
            answer = read_all(sock)
        # A stranger is refused before the body; a caller's trailers pass the limit.
        assert answer.startswith(b"HTTP/1.1 401 " if key is None else b"HTTP/1.1 431 ")
        assert b"connection: close" in answer.lower()
        assert sent < 64 * 1024 * 1024  # the gateway stopped taking them
    assert rss_kb(gateway[2]) - before < 20 * 1024


def test_trailers_within_the_limit_are_dropped_not_refused(gateway: tuple[str, int, int]) -> None:
    body = b"%x\r\n%s\r\n0\r\nX-Trailer: small\r\n\r\n" % (len(QUERY), QUERY)
    with connect(gateway) as sock:
        sock.sendall(post_head(None, key=API_KEY) + body)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert b'"__typename":"Query"' in answer


@pytest.mark.parametrize(
    ("key", "status"), [(None, b"401"), (API_KEY, b"413")], ids=["stranger", "too large"]
)
def test_a_refusal_before_the_body_closes_the_connection(
    gateway: tuple[str, int, int], key: str | None, status: bytes
) -> None:
    with connect(gateway) as sock:
        sock.sendall(post_head("1000000", key=key) + b"{")
        answer = read_all(sock)  # the gateway closes; the socket's timeout would fail
    assert answer.startswith(b"HTTP/1.1 " + status + b" ")
    assert b"connection: close" in answer.lower()


def test_a_body_not_complete_in_time_is_408_and_closed(gateway: tuple[str, int, int]) -> None:
    with connect(gateway) as sock:
        sock.sendall(post_head("100", key=API_KEY) + b'{"query": ')
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"connection: close" in answer.lower()
    assert b'"code":"REQUEST_TIMEOUT"' in answer


def test_a_whole_body_keeps_the_connection_alive(gateway: tuple[str, int, int]) -> None:
    with connect(gateway) as sock:
        for _ in range(2):
            sock.sendall(post_head(str(len(QUERY)), key=API_KEY) + QUERY)
            answer = sock.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200 ")
            assert b"connection: close" not in answer.lower()


def test_slow_connections_at_the_limit_do_not_lock_callers_out(
    gateway: tuple[str, int, int],
) -> None:
    """Twice the limit in slow clients (idle, slow heads, slow bodies), opened before and
    kept open during the callers' requests: each caller's connection sheds one of them."""
    slow: list[socket.socket] = []
    try:
        for n in range(2 * MAX_CONNECTIONS):
            sock = connect(gateway)
            if n % 3 == 1:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # a slow head
            elif n % 3 == 2:
                sock.sendall(post_head("1000000", key=API_KEY) + b"{")  # a slow body
            slow.append(sock)
        statuses = []
        with httpx.Client(
            base_url=f"http://{gateway[0]}:{gateway[1]}",
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=20,
        ) as client:
            for _ in range(20):
                response = client.get(
                    "/v1/deployments/d-EXAMPLE01", headers={"Connection": "close"}
                )
                statuses.append(response.status_code)
                for sock in slow[-5:]:  # the slow ones keep trickling
                    with contextlib.suppress(OSError):
                        sock.send(b" ")
        assert statuses.count(200) >= 19, statuses
    finally:
        for sock in slow:
            sock.close()


def test_requests_in_flight_past_the_limit_are_503(gateway: tuple[str, int, int]) -> None:
    """Connections that sent whole requests are not shed: past the limit, uvicorn's 503."""
    busy: list[socket.socket] = []
    try:
        for _ in range(MAX_CONNECTIONS + 5):
            sock = connect(gateway)
            # A request the gateway is answering: an event stream stays in flight.
            sock.sendall(
                b"GET /v1/deployments/d-EXAMPLE02/events HTTP/1.1\r\nHost: x\r\n"
                b"Authorization: Bearer " + API_KEY.encode() + b"\r\n\r\n"
            )
            busy.append(sock)
        answers = [sock.recv(65536) for sock in busy[-5:]]
        assert any(answer.startswith(b"HTTP/1.1 503 ") for answer in answers), answers
    finally:
        for sock in busy:
            sock.close()


def test_pipelined_requests_past_the_bound_close_the_connection(
    gateway: tuple[str, int, int],
) -> None:
    """Thousands of tiny requests in one read were each queued (2 KB apiece): now at most
    32 wait, and the connection is closed with a 400."""
    before = rss_kb(gateway[2])
    request = b"GET /v1/xxxxxxxxxxx HTTP/1.1\r\n\r\n"  # 32 bytes, no credentials
    for _ in range(20):
        with connect(gateway) as sock:
            send_until_closed(sock, request * 1024, 256 * 1024)
            try:  # closed with what it sent unread: the close may come as a reset
                answer = read_all(sock)
            except ConnectionResetError:
                answer = b""
        assert answer.count(b"HTTP/1.1 ") <= 34
    assert rss_kb(gateway[2]) - before < 20 * 1024


def test_a_body_in_thousands_of_tiny_chunks_is_refused(gateway: tuple[str, int, int]) -> None:
    with connect(gateway) as sock:
        send_until_closed(sock, post_head(None) + b"1\r\na\r\n" * 43_000, 1)
        answer = read_all(sock)
    assert answer.startswith((b"HTTP/1.1 400 ", b"HTTP/1.1 401 "))


def test_a_huge_head_behind_pipelined_requests_logs_no_traceback(
    tmp_path: Path,
) -> None:
    log = tmp_path / "gateway.log"
    with running_process(log, GATEWAY_AUTH="api-key", GATEWAY_API_KEYS=json.dumps(API_KEYS)) as (
        url,
        _,
    ):
        host, port = url.removeprefix("http://").split(":")
        for _ in range(5):
            with socket.create_connection((host, int(port)), timeout=20) as sock:
                sock.sendall(
                    b"GET /v1/x HTTP/1.1\r\nHost: x\r\n\r\n" * 2
                    + b"GET /v1/x HTTP/1.1\r\nX: "
                    + b"a" * 40_000
                )
                assert read_all(sock)
    text = log.read_text()
    assert "Traceback" not in text
    assert "Exception in callback" not in text


@pytest.mark.parametrize("framing", [b"1;a=", b"", b'1;a="'], ids=["extension", "zeros", "quoted"])
def test_a_chunk_size_line_that_never_ends_is_refused(
    gateway: tuple[str, int, int], framing: bytes
) -> None:
    """Size lines are neither head nor body: an endless extension or run of leading zeros
    was read for the whole body timeout (6 GB in 10 s)."""
    filler = b"0" if framing == b"" else b"b"
    with connect(gateway) as sock:
        sock.sendall(post_head(None, key=API_KEY) + framing)
        sent = send_until_closed(sock, filler * 65_536, 64 * 1024 * 1024)
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert sent < 64 * 1024 * 1024
