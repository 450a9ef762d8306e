"""A reader of `/_emulator/events` that resumes across a restart of a server without a state file (memory backend):
the new process gives feed ids from 1 again, so the reader's `Last-Event-ID` (or `after`) is an id it never gave.
The stream says so first (a `gap` frame, `"restarted": true`, `"lost": null`, as a fleet's stream does when its
Redis restarted empty) and goes on from the new ids: what is kept, then live entries. Before, it waited in silence
for ids above the old one, passing over every entry below it. Both modes (lossless and display), and `cxemu tail`'s
client (`Client.follow`), which follows the new ids."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator.client import Client, Frame
from tests.server.test_feed_stream import Stream, add_items, newest
from tests.support.procs import ServerProcess

pytestmark = pytest.mark.server


def serve(tmp_path: Path, name: str) -> ServerProcess:
    return ServerProcess(
        "--port", "0", "--clock", "virtual", "--plugin", "tests.support.echo_vendor:PLUGIN", "--log-level", "warning",
        log=tmp_path / f"{name}.stderr",
    )  # fmt: skip


@pytest.fixture(scope="module")
def restarted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, int]]:
    """A server restarted without a state file (every entry of the new process is tenant `acme`'s): the new
    process, and the newest id the one before gave (above every id of the new one)."""
    tmp = tmp_path_factory.mktemp("restart")
    before = serve(tmp, "before")
    try:
        with httpx.Client(base_url=before.url, timeout=30) as http:
            add_items(http, "acme", 10)  # more than the tests add to the new process
            old = newest(http)
    finally:
        assert before.terminate() == 0, before.stderr()
    after = serve(tmp, "after")
    try:
        with httpx.Client(base_url=after.url, timeout=30) as http:
            add_items(http, "acme", 1)
            new = newest(http)
        assert 0 < new < old
        yield after, old
    finally:
        after.terminate()


def restarted_gap(data: str) -> dict[str, Any]:
    gap: dict[str, Any] = json.loads(data)
    return gap


def current(server: ServerProcess) -> int:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        return newest(http)


@pytest.mark.parametrize("how", ["last-event-id", "after"])
def test_a_stream_resumed_past_the_new_processes_ids_says_it_restarted_and_goes_on_from_the_new_ids(
    restarted: tuple[ServerProcess, int], how: str
) -> None:
    server, old = restarted
    new = current(server)
    if how == "last-event-id":
        stream = Stream(server.url, {"Last-Event-ID": str(old)}, tenant="acme")
    else:
        stream = Stream(server.url, after=old, tenant="acme")
    try:
        gap = stream.frame()
        assert gap["event"] == "gap"
        assert restarted_gap(gap["data"]) == {"after": old, "lost": None, "oldest": 1, "restarted": True}
        kept = [int(stream.frame()["id"]) for _ in range(new)]  # every entry of the new process, then live ones
        assert kept == list(range(1, new + 1))
        with httpx.Client(base_url=server.url, timeout=30) as http:
            add_items(http, "acme", 1)
            latest = newest(http)
        live = [int(stream.frame()["id"]) for _ in range(latest - new)]
        assert live == list(range(new + 1, latest + 1))
    finally:
        stream.close()


def test_a_display_stream_resumed_past_the_new_ids_says_it_restarted_and_sends_the_new_ones(
    restarted: tuple[ServerProcess, int],
) -> None:
    server, old = restarted
    stream = Stream(server.url, {"Last-Event-ID": str(old)}, tenant="acme", latest=1000, interval=0.05)
    try:
        gap = stream.frame()
        assert gap["event"] == "gap"
        assert restarted_gap(gap["data"]) == {"after": old, "lost": None, "oldest": 1, "restarted": True}
        first = stream.frame()
        assert (first["event"], int(first["id"])) == ("request", 1)  # the new process's entries, from its first
    finally:
        stream.close()


def test_cxemu_tails_client_follows_the_new_ids_after_the_restarted_gap(
    restarted: tuple[ServerProcess, int],
) -> None:
    server, old = restarted
    new = current(server)
    got: list[Frame] = []
    with Client(server.url) as client:
        for frame in client.follow({"tenant": "acme"}, after=old):
            got.append(frame)
            if frame.id == new:
                break
    gap, *entries = got
    assert (gap.kind, gap.id, gap.entry) == ("gap", None, {"after": old, "lost": None, "oldest": 1, "restarted": True})
    assert [f.id for f in entries] == list(range(1, new + 1))
