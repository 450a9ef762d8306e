"""`GET /_emulator/events` over a real socket to `python -m emulator serve`: a connection cut mid-stream (a reset,
as a dropped network does) and resumed with `Last-Event-ID` gets every entry exactly once; resuming from an
id the bounded feed no longer keeps starts with a gap frame; the heartbeat arrives. Waits are on what the
server sends, never on time."""

from __future__ import annotations

import http.client
import json
import socket
import struct
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import pytest

from tests.support.procs import ServerProcess

pytestmark = pytest.mark.server

FEED_SIZE = 40


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("feed")
    config = tmp / "cxemu.yaml"
    config.write_text(f"feed_size: {FEED_SIZE}\nfeed_heartbeat: 600\n", encoding="utf-8")
    proc = ServerProcess(
        "--port",
        "0",
        "--clock",
        "virtual",
        "--plugin",
        "tests.support.echo_vendor:PLUGIN",
        "--config",
        str(config),
        "--log-level",
        "warning",
        log=tmp / "server.stderr",
    )
    try:
        yield proc
    finally:
        proc.terminate()


class Stream:
    """One `/_emulator/events` response read frame by frame (http.client undoes the chunked encoding)."""

    def __init__(self, url: str, headers: dict[str, str] | None = None, **params: Any) -> None:
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
        self.conn.request("GET", f"/_emulator/events?{urlencode(params)}", headers=headers or {})
        self.response = self.conn.getresponse()
        assert self.response.status == 200, self.response.read()
        self._buffer = b""

    def block(self) -> str:
        """The next frame or comment block (waits for it: the read timeout fails a test that waits in vain)."""
        while b"\n\n" not in self._buffer:
            chunk = self.response.read1(65536)
            assert chunk, f"the stream ended; left: {self._buffer!r}"
            self._buffer += chunk
        block, self._buffer = self._buffer.split(b"\n\n", 1)
        return block.decode()

    def frame(self) -> dict[str, str]:
        """The next frame (comments skipped)."""
        while True:
            fields = dict(line.split(": ", 1) for line in self.block().splitlines() if not line.startswith(":"))
            if fields:
                return fields

    def reset(self) -> None:
        """Cut the connection with a TCP reset, as a dropped network would, with whatever is in flight unread."""
        sock = self.conn.sock
        assert sock is not None
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
        self.conn.close()

    def close(self) -> None:
        self.conn.close()


def add_items(client: httpx.Client, tenant: str, n: int) -> None:
    for i in range(n):
        r = client.post("/echo/v1/items", json={"text": f"t{i}"}, headers={"x-echo-tenant": tenant})
        assert r.status_code == 201, r.text


def newest(client: httpx.Client) -> int:
    value = client.get("/_emulator/journal", params={"limit": 1}).json()["newest"]
    return int(value or 0)


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def test_a_stream_cut_mid_way_and_resumed_with_last_event_id_gets_every_entry_exactly_once(
    server: ServerProcess, client: httpx.Client
) -> None:
    start = newest(client)
    first = Stream(server.url, after=start, tenant="resume")
    add_items(client, "resume", 5)  # 10 entries
    seen = [int(first.frame()["id"]) for _ in range(3)]
    first.reset()  # the rest of what was sent is lost with the connection
    add_items(client, "resume", 5)  # 10 more while nobody listens
    end = newest(client)

    again = Stream(server.url, {"Last-Event-ID": str(seen[-1])}, tenant="resume")
    while seen[-1] < end:
        seen.append(int(again.frame()["id"]))
    again.close()

    assert seen == list(range(start + 1, end + 1))
    assert len(seen) == 20


def test_resuming_from_an_id_the_feed_no_longer_keeps_starts_with_the_gap(
    server: ServerProcess, client: httpx.Client
) -> None:
    start = newest(client)
    add_items(client, "gap", FEED_SIZE)  # twice the feed's size: the first half is gone
    end = newest(client)

    stream = Stream(server.url, {"Last-Event-ID": str(start)})
    gap = stream.frame()
    replay = [stream.frame() for _ in range(FEED_SIZE)]
    stream.close()

    assert gap["event"] == "gap"
    assert json.loads(gap["data"]) == {"after": start, "lost": FEED_SIZE, "oldest": end - FEED_SIZE + 1}
    assert [int(f["id"]) for f in replay] == list(range(end - FEED_SIZE + 1, end + 1))


def test_a_heartbeat_comment_comes_while_nothing_happens(server: ServerProcess) -> None:
    stream = Stream(server.url, heartbeat="0.05", kind="timer")
    blocks = [stream.block() for _ in range(2)]
    stream.close()

    assert blocks == [": cxemu event stream", ": ping"]


def test_filters_hold_on_the_live_stream(server: ServerProcess, client: httpx.Client) -> None:
    stream = Stream(server.url, after=newest(client), tenant="filtered", kind="event")
    add_items(client, "other", 1)
    add_items(client, "filtered", 2)
    got = [stream.frame() for _ in range(2)]
    stream.close()

    assert [(f["event"], json.loads(f["data"])["tenant"]) for f in got] == [("event", "filtered")] * 2
