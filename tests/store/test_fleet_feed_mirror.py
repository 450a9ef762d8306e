"""The fleet feed's mirror (`core.fleetfeed`) on a real `redis-server`: what one worker's feed appends reaches the
fleet's stream once each, in order, with contiguous fleet ids and its causes named by fleet id, and reads back as
the entry the local feed holds; a Redis that forgot the script, or stopped for a while, loses nothing the local feed
still keeps; nothing is mirrored while nobody watches, and a catch-up hands over what the local feed kept (a hole
of fleet ids for what it evicted meanwhile)."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest
import redis

from emulator.core.feed import _ENCODE, Entry, Feed
from emulator.core.fleetfeed import STREAM, FleetFeed
from tests.support.redis_server import RedisServer


def stored(url: str) -> list[dict[str, Any]]:
    """The fleet stream's entries, oldest first, each its JSON parsed, its stream id and fields checked."""
    with redis.Redis.from_url(url, decode_responses=True) as r:
        rows = r.xrange(STREAM)
    out = []
    for sid, fields in rows:
        entry = json.loads(fields["j"])
        assert sid == f"{entry['id']}-0"
        assert (fields["k"], fields["t"], fields["y"]) == (entry["kind"], entry["tenant"] or "", entry["type"] or "")
        out.append(entry)
    return out


def same(local: Entry, mirrored: dict[str, Any], fleet_id: int, cause: int | None) -> None:
    """The mirrored entry is the local one (as one server's journal writes it), under its fleet id and its cause's."""
    assert mirrored == {**json.loads(_ENCODE(local.to_json())), "id": fleet_id, "cause": cause}


async def test_entries_reach_the_stream_once_each_in_order_with_fleet_ids_and_causes(redis_url: str) -> None:
    feed = Feed(100)
    mirror = FleetFeed(feed, redis_url)
    mirror.install()
    mirror.watch(60)  # as while a stream is open: every entry mirrored as it is appended
    try:
        data = {"text": "héllo ✓", "big": 2**70, "n": 1.5, "nested": [{"a": None}], "raw": b"\xff"}
        first = feed.record("event", "MESSAGE", "eightbyeight", "acme", "c1", "cxemu", 1.0, data)
        second = feed.record("delivery", "MESSAGE", "eightbyeight", "acme", "c1", "x", 1.0, {"d": 1}, cause=first)
        await mirror.flushed()  # the two went in one script call
        third = feed.record("attempt", "MESSAGE", "eightbyeight", "acme", "c1", "x", 2.0, {"n": 1}, cause=second)
        await mirror.flushed()  # a later call names its cause by the fleet id the first call gave
        with redis.Redis.from_url(redis_url) as r:
            r.incrby("cxemu:feed:n", 10)  # another worker took ids 4-13 meanwhile
        fourth = feed.record("action", "say", "eightbyeight", "acme", "c1", "agent", 3.0, {"v": "hi"}, cause=first)
        await mirror.flushed()
        got = stored(redis_url)
        assert [e["id"] for e in got] == [1, 2, 3, 14]
        same(first, got[0], 1, None)
        same(second, got[1], 2, 1)
        same(third, got[2], 3, 2)
        same(fourth, got[3], 14, 1)
        assert got[0]["data"]["big"] == 2**70  # past 64 bits: `json` wrote it
        assert got[0]["data"]["raw"] == "\ufffd"  # bytes as text, as the local feed writes them
    finally:
        await mirror.close()


async def test_a_redis_that_forgot_the_script_still_gets_each_entry_once(redis_url: str) -> None:
    feed = Feed(100)
    mirror = FleetFeed(feed, redis_url)
    mirror.install()
    mirror.watch(60)  # as while a stream is open: every entry mirrored as it is appended
    try:
        feed.record("event", "A", "v", "t", None, "cxemu", 1.0, {"n": 1})
        await mirror.flushed()
        with redis.Redis.from_url(redis_url) as r:
            r.script_flush()  # as a restarted Redis: the next EVALSHA answers NOSCRIPT, runs nothing
        feed.record("event", "B", "v", "t", None, "cxemu", 2.0, {"n": 2})
        feed.record("event", "C", "v", "t", None, "cxemu", 3.0, {"n": 3})
        await mirror.flushed()
        assert [(e["id"], e["type"]) for e in stored(redis_url)] == [(1, "A"), (2, "B"), (3, "C")]
    finally:
        await mirror.close()


@pytest.mark.usefixtures("redis_server")  # skips where redis-server is absent
async def test_entries_appended_while_redis_is_down_are_mirrored_in_order_once_it_is_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    own = RedisServer(tmp_path, aof=True)
    feed = Feed(100)
    mirror = FleetFeed(feed, own.url)
    mirror.install()
    mirror.watch(60)
    try:
        feed.record("event", "before", "v", "t", None, "cxemu", 1.0, {})
        await mirror.flushed()
        own.stop()
        with caplog.at_level(logging.WARNING, logger="emulator.core.fleetfeed"):
            feed.record("event", "down", "v", "t", None, "cxemu", 2.0, {})
            await mirror.flushed()
        assert "1 entries not mirrored" in caplog.text
        assert not mirror.live  # the mirror stopped at the failed batch (its watermark before it)
        own.start()
        feed.record("event", "after", "v", "t", None, "cxemu", 3.0, {})
        mirror.beat(5000)  # a beat that sees a stream open: what the local feed kept since goes first
        await mirror.flushed()
        assert [(e["id"], e["type"]) for e in stored(own.url)] == [(1, "before"), (2, "down"), (3, "after")]
        assert [e.type for e in feed.entries()] == ["before", "down", "after"]
    finally:
        await mirror.close()
        own.stop()


async def test_nothing_is_mirrored_unwatched_and_a_catch_up_hands_over_what_is_kept_after_a_hole(
    redis_url: str,
) -> None:
    feed = Feed(3)
    mirror = FleetFeed(feed, redis_url)
    mirror.install()
    try:
        first = feed.record("event", "e1", "v", "t", None, "cxemu", 1.0, {})
        assert mirror.catch_up() == 1
        await mirror.flushed()
        for n in range(2, 7):  # nobody watches: five entries, of which the local feed keeps the last three
            feed.record("event", f"e{n}", "v", "t", None, "cxemu", float(n), {}, cause=first)
        await asyncio.sleep(0)  # (a turn of the loop: a send would have been scheduled by now)
        assert [e["type"] for e in stored(redis_url)] == ["e1"]
        assert mirror.catch_up() == 3
        await mirror.flushed()
        got = stored(redis_url)
        # e2 and e3 were evicted before anyone read them: their two ids are taken and left unwritten (a hole)
        assert [(e["id"], e["type"], e["cause"]) for e in got] == [
            (1, "e1", None),
            *((n, f"e{n}", 1) for n in (4, 5, 6)),
        ]
        with redis.Redis.from_url(redis_url) as r:
            assert int(r.get("cxemu:feed:n") or 0) == 6
        assert mirror.catch_up() == 0  # nothing new

        mirror.beat(1000)  # a stream is open somewhere: mirrored as they come
        assert mirror.live
        feed.record("event", "e7", "v", "t", None, "cxemu", 7.0, {})
        await mirror.flushed()
        assert stored(redis_url)[-1]["type"] == "e7"
        mirror.beat(-2)  # no stream any more, and this worker's watch (1 s) is not over: still mirrored
        assert mirror.live
        mirror.unwatch()
        feed.record("event", "e8", "v", "t", None, "cxemu", 8.0, {})
        await asyncio.sleep(0)
        assert stored(redis_url)[-1]["type"] == "e7"
        assert mirror.catch_up() == 1
        await mirror.flushed()
        assert [e["id"] for e in stored(redis_url)][-2:] == [7, 8]
    finally:
        await mirror.close()


async def test_closing_mirrors_what_is_pending_first(redis_url: str) -> None:
    feed = Feed(100)
    mirror = FleetFeed(feed, redis_url)
    mirror.install()
    mirror.watch(60)  # as while a stream is open: every entry mirrored as it is appended
    for n in range(3):
        feed.record("event", f"e{n}", "v", "t", None, "cxemu", float(n), {})
    await mirror.close()  # before the end of this turn of the loop: nothing was sent yet
    assert [e["type"] for e in stored(redis_url)] == ["e0", "e1", "e2"]
    await asyncio.sleep(0)  # the send scheduled for the turn finds nothing left
    assert len(stored(redis_url)) == 3
