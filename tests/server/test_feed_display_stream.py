"""The event stream's display mode over a real socket to `python -m emulator serve`: a display stream cut
mid-way (a TCP reset) and resumed with `Last-Event-ID` never sends an entry twice, and what it sent plus the
ranges its `skipped` frames name (loaded through `/journal`) are every entry of the tenant, each once."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.server.test_feed_stream import Stream, add_items, newest
from tests.support.procs import ServerProcess

pytestmark = pytest.mark.server

TENANT = "display"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("display")
    proc = ServerProcess(
        "--port", "0", "--clock", "virtual", "--plugin", "tests.support.echo_vendor:PLUGIN",
        "--log-level", "warning", log=tmp / "server.stderr",
    )  # fmt: skip
    try:
        yield proc
    finally:
        proc.terminate()


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def read_until(stream: Stream, sent: list[int], skipped: list[dict[str, int]], until: int) -> None:
    """Read frames until an entry with id >= `until` arrives: entries' ids into `sent`, skipped frames' data
    into `skipped` (a read stops on an entry, so every range read lies below the last id read)."""
    while True:
        frame = stream.frame()
        if frame["event"] == "skipped":
            assert "id" not in frame
            skipped.append(json.loads(frame["data"]))
            continue
        sent.append(int(frame["id"]))
        if sent[-1] >= until:
            return


def loaded(client: httpx.Client, ranges: list[dict[str, int]]) -> list[int]:
    out: list[int] = []
    for r in ranges:
        got = client.get("/_emulator/journal", params={"tenant": TENANT, "after": r["after"], "before": r["before"]})
        ids = [e["id"] for e in got.json()["entries"]]
        assert len(ids) == r["count"]
        out += ids
    return out


def test_a_display_stream_cut_and_resumed_sends_no_entry_twice_and_names_every_one_it_passed_over(
    server: ServerProcess, client: httpx.Client
) -> None:
    start = newest(client)
    first = Stream(server.url, after=start, tenant=TENANT, latest=3, interval=0.05)
    add_items(client, TENANT, 10)  # 20 entries
    sent: list[int] = []
    skipped: list[dict[str, int]] = []
    read_until(first, sent, skipped, start + 1)
    first.reset()  # whatever was in flight is lost with the connection
    add_items(client, TENANT, 10)  # 20 more while nobody listens
    end = newest(client)

    again = Stream(server.url, {"Last-Event-ID": str(sent[-1])}, tenant=TENANT, latest=3, interval=0.05)
    read_until(again, sent, skipped, end)
    again.close()

    assert sent == sorted(set(sent))  # in id order, none twice
    passed = loaded(client, skipped)
    assert not set(passed) & set(sent)
    assert sorted(sent + passed) == list(range(start + 1, end + 1))
    assert len(passed) >= 17  # the resumed stream sends the newest 3 of what came meanwhile


def test_the_display_stream_filters_what_it_sends_and_what_it_counts(
    server: ServerProcess, client: httpx.Client
) -> None:
    start = newest(client)
    add_items(client, "other", 5)
    add_items(client, TENANT, 5)
    end = newest(client)

    stream = Stream(server.url, after=start, tenant=TENANT, kind="event", latest=2, interval=0.05)
    sent: list[int] = []
    skipped: list[dict[str, int]] = []
    read_until(stream, sent, skipped, end)
    stream.close()

    events = [
        e["id"] for e in client.get("/_emulator/journal", params={"tenant": TENANT, "kind": "event"}).json()["entries"]
    ]
    mine = [i for i in events if i > start]
    assert sent == mine[-2:]
    assert skipped == [{"after": mine[0] - 1, "before": mine[2] + 1, "count": 3}]
