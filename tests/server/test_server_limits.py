"""The HTTP server's limits over raw sockets against `python -m emulator serve` (issue 18 §1 and §2): a body
over the limit answered 413 while the client is still sending it, 431 for too many or too large headers, and
idle, slow-head and slow-body connections closed by the server (`core/httpguard.py`).

Every wait here is for the server to answer or close the socket, bounded generously (`BOUND`); nothing
asserts how fast it happened."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from emulator.core.contracts import SERVER_REPLIES
from emulator.pytest_plugin import ServerThread
from tests.support.procs import ServerProcess

pytestmark = pytest.mark.server

BOUND = 60.0
"""Seconds a test waits at most for the server to answer or close (the timeouts it tests are 1 s)."""
CONV = "/chat-gateway/v1/conversations"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("limits")
    config = folder / "cxemu.yaml"
    config.write_text("request_timeout: 1\nidle_timeout: 1\nmax_headers: 50\n", encoding="utf-8")
    proc = ServerProcess("--port", "0", "--clock", "virtual", "--config", str(config), log=folder / "stderr.log")
    try:
        yield proc
    finally:
        proc.terminate()
    assert "Traceback" not in proc.stderr()  # a client timed out or refused is not a server error


def connect(server: ServerProcess | ServerThread) -> socket.socket:
    parts = urlsplit(server.url)
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=BOUND)
    return sock


def head(path: str, *lines: str, method: str = "POST") -> bytes:
    return "\r\n".join([f"{method} {path} HTTP/1.1", "host: cxemu", "x-api-key: acme-key", *lines, "", ""]).encode()


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a reset ends it too)."""
    got = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return got
        if not chunk:
            return got
        got += chunk


def exchange(server: ServerProcess | ServerThread, request: bytes) -> bytes:
    """Send `request` from a thread (stopping quietly if the server closes first) and read the answer."""
    with connect(server) as sock:

        def send() -> None:
            with contextlib.suppress(OSError):
                sock.sendall(request)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        answer = read_all(sock)
        sender.join(BOUND)
    return answer


def test_a_100_mb_body_is_refused_before_the_client_has_sent_it(server: ServerProcess) -> None:
    length = 100 * 1024 * 1024
    with connect(server) as sock:
        sock.sendall(head(CONV, "content-type: application/json", f"content-length: {length}"))
        sock.sendall(b"[" + b" " * 65535)  # 64 KiB of the 100 MB
        answer = read_all(sock)  # the server answers and closes without waiting for the rest
    status, _, rest = answer.partition(b"\r\n")
    assert status == b"HTTP/1.1 413 Request Entity Too Large", answer[:300]
    assert b"connection: close" in rest.lower()
    assert b'"errors"' in rest  # 8x8's envelope


def as_declared(answer: bytes, status: int) -> None:
    """`answer` is the server's own `status` exactly as every contract declares it (`contracts.SERVER_REPLIES`):
    the status, the media type, `Connection: close` and the body."""
    _, reply = SERVER_REPLIES[status]
    head_part, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head_part.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    assert status_line.split(" ")[1] == str(status), answer[:300]
    [media_type] = reply["content"]
    assert headers["content-type"].split(";")[0] == media_type
    assert headers["connection"] == reply["headers"]["Connection"]["schema"]["const"]
    assert body.decode() == reply["content"][media_type]["schema"]["const"]


def test_ten_thousand_headers_are_a_431(server: ServerProcess) -> None:
    many = [f"x-h{i}: v" for i in range(10_000)]
    answer = exchange(server, head(CONV, *many, "content-length: 0"))
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:300]
    as_declared(answer, 431)


def test_more_headers_than_max_headers_are_a_431_even_when_small(server: ServerProcess) -> None:
    answer = exchange(server, head("/_emulator/health", *(f"x-{i}: 1" for i in range(60)), method="GET"))
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:300]
    fine = exchange(server, head("/_emulator/health", *(f"x-{i}: 1" for i in range(40)), "connection: close"))
    assert fine.startswith(b"HTTP/1.1 405 "), fine[:300]  # under the cap: routed (POST /health is a 405)


def test_a_one_megabyte_header_is_a_431(server: ServerProcess) -> None:
    answer = exchange(server, head(CONV, "x-big: " + "a" * 1024 * 1024, "content-length: 0"))
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:300]


def test_a_connection_that_sends_nothing_is_closed(server: ServerProcess) -> None:
    with connect(server) as sock:
        assert read_all(sock) == b""


def test_a_body_that_stops_arriving_is_a_408(server: ServerProcess) -> None:
    with connect(server) as sock:
        sock.sendall(head(CONV, "content-type: application/json", "content-length: 100") + b'{"channelId"')
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:300]
    as_declared(answer, 408)


def test_slow_loris_connections_are_all_closed(server: ServerProcess) -> None:
    """200 connections each trickling a request head a byte at a time: the server closes every one."""
    request = head(CONV, "content-length: 0") * 4
    open_: dict[socket.socket, int] = {}
    try:
        for _ in range(200):
            open_[connect(server)] = 0
        deadline = time.monotonic() + BOUND
        while open_ and time.monotonic() < deadline:
            for sock, sent in list(open_.items()):
                try:
                    sock.send(request[sent : sent + 1])
                    open_[sock] = sent + 1
                except OSError:
                    sock.close()
                    del open_[sock]
            readable, _, _ = select.select(list(open_), [], [], 0.1)  # the client's pace: a byte per 0.1 s
            for sock in readable:
                answer = read_all(sock)
                assert answer in (b"",) or answer.startswith(b"HTTP/1.1 408 "), answer[:200]
                sock.close()
                del open_[sock]
        assert not open_, f"{len(open_)} slow connections still open after {BOUND:g}s"
    finally:
        for sock in open_:
            sock.close()
    assert httpx.get(f"{server.url}/_emulator/health", timeout=BOUND).status_code == 200


def test_requests_under_the_limits_keep_their_connection(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=BOUND, headers={"x-api-key": "acme-key"}) as client:
        for _ in range(3):
            got = client.post(CONV, json={"channelId": "1", "user": {"name": "Ada"}})
            assert got.status_code == 202, got.text
        assert client.get("/_emulator/health").status_code == 200


def test_the_pytest_plugins_server_has_the_same_limits() -> None:
    """The server the pytest plugin starts in-process runs the protocol `cxemu serve` runs, with its settings."""
    server = ServerThread({"clock": "virtual", "idle_timeout": 1, "max_headers": 50})
    server.start()
    try:
        answer = exchange(server, head(CONV, "x-big: " + "a" * 1024 * 1024, "content-length: 0"))
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:300]
        answer = exchange(server, head("/_emulator/health", *(f"x-{i}: 1" for i in range(60)), method="GET"))
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:300]
        with connect(server) as sock:
            assert read_all(sock) == b""  # idle: closed by the server after `idle_timeout`
    finally:
        server.stop()
