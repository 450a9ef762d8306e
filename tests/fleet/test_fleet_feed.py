"""One feed for the fleet: `GET /_emulator/events` and `GET /_emulator/journal` through any worker show every
worker's entries (requests, events, deliveries, attempts), with fleet-wide ids a stream resumes from; resumed past
the ids of a Redis that restarted empty, a stream says so (a `gap` frame, `restarted`) and goes on from the new ids."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from emulator.core import fleetfeed
from emulator.core.feed import Match
from emulator.scenarios.receiver import WebhookSink
from tests.conftest import AppFactory
from tests.fleet.conftest import Fleet, fleet_on_own_redis
from tests.fleet.test_fleet_serve import CONVERSATION, P8, owner, post

pytestmark = pytest.mark.server

ACME = {"x-echo-tenant": "acme"}

TENANTS = ("north", "south")
STREAM_TIMEOUT = httpx.Timeout(30, read=60)
KINDS = ("delivery", "attempt")
DISPLAY = {"after": 0, "kind": "request", "latest": 2, "interval": 0.05, "limit": 2}
BAD: list[tuple[str, dict[str, str], dict[str, str]]] = [
    ("events", {}, {"last-event-id": "x"}),
    ("events", {"after": "-1"}, {}),
    ("events", {"kind": "nope"}, {}),
    ("journal", {"kind": "event,"}, {}),
    ("journal", {"limit": "0"}, {}),
    ("journal", {"after": "many"}, {}),
    ("journal", {"before": "1", "tenant": "north", "kind": "x"}, {}),
]


def frames(lines: Iterator[str]) -> Iterator[tuple[str, str | None, str]]:
    """(event, id, data) of each server-sent-events frame (comments skipped)."""
    kind, fid, data = "message", None, []
    for line in lines:
        if line == "":
            if data:
                yield kind, fid, "\n".join(data)
            kind, fid, data = "message", None, []
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                kind = value
            elif field == "id":
                fid = value
            elif field == "data":
                data.append(value)


def entries_until(lines: Iterator[str], newest: int) -> list[dict[str, Any]]:
    """The stream's entries up to and including id `newest` (`data` parsed), checking each frame's id and kind."""
    got: list[dict[str, Any]] = []
    for kind, fid, data in frames(lines):
        entry = json.loads(data)
        assert fid == str(entry["id"]), data
        assert kind == entry["kind"], data
        got.append(entry)
        if entry["id"] >= newest:
            return got
    raise AssertionError(f"the stream ended before id {newest}: {[e['id'] for e in got]}")


def within(lines: Iterator[str], seconds: float) -> Iterator[str]:
    """The stream's lines until `seconds` have passed (a stream with a short `heartbeat` sends one every so often)."""
    deadline = time.monotonic() + seconds
    for line in lines:
        assert time.monotonic() < deadline, f"nothing expected came within {seconds:g} s"
        yield line


def journal(base: str, **params: Any) -> dict[str, Any]:
    r = httpx.get(f"{base}/_emulator/journal", params={"limit": 1000, **params}, timeout=60)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_a_stream_through_one_worker_shows_every_workers_entries_and_resumes(
    fleet: Fleet, redis_url: str, webhook_sink: WebhookSink
) -> None:
    _, (a, b) = fleet
    with httpx.stream("GET", f"{a.url}/_emulator/events", timeout=STREAM_TIMEOUT) as live:
        assert live.status_code == 200
        lines = live.iter_lines()
        assert next(lines).startswith(": cxemu event stream")  # the stream's point is set: live from here
        for n, tenant in enumerate(TENANTS):  # north claimed by worker a, south by worker b
            with httpx.Client(base_url=(a, b)[n].url, headers={"x-api-key": tenant}, timeout=60) as http:
                hook = {"name": "f", "uri": webhook_sink.url_for(f"/{tenant}"), "version": "Chat Gateway v1.0"}
                assert http.put(f"{P8}/webhooks/1", json=hook).status_code == 200
                r = http.post(f"{P8}/conversations", json=CONVERSATION)
                assert r.status_code == 202, r.text
                assert post(http, (a, b)[n].url, r.json()["conversationId"], f"hello {tenant}").status_code == 202
        assert [owner(redis_url, t) for t in TENANTS] == [a.id, b.id]
        for tenant in TENANTS:
            webhook_sink.wait_for(path=f"/{tenant}", count=2, timeout=60)
        page = journal(b.url)
        newest = page["newest"]
        assert page["entries"][-1]["id"] == newest
        streamed = entries_until(lines, newest)
    # the stream (through a) and the journal (through b) hold the same entries, every worker's, in one order
    assert streamed == [e for e in page["entries"] if e["id"] >= streamed[0]["id"]]
    assert journal(a.url, before=newest + 1) == page
    ids = [e["id"] for e in streamed]
    assert ids == sorted(set(ids))  # strictly increasing
    by_id = {e["id"]: e for e in page["entries"]}
    for e in page["entries"]:
        if e["cause"] is not None:  # a cause names an earlier entry of the same feed, of the same tenant
            assert e["cause"] < e["id"], e
            assert by_id[e["cause"]]["tenant"] == e["tenant"], e
    for tenant in TENANTS:
        mine = [e for e in streamed if e["tenant"] == tenant]
        assert {"request", "event", "delivery", "attempt"} <= {e["kind"] for e in mine}, tenant
        requests = [e["type"] for e in mine if e["kind"] == "request"]
        assert requests[-2] == f"POST {P8}/conversations"
        assert requests[-1].startswith(f"POST {P8}/conversations/")
        attempts = [e for e in mine if e["kind"] == "attempt"]
        assert all(by_id[x["cause"]]["kind"] == "delivery" for x in attempts)

    # resuming after any id gives what followed it, without a gap or a repeat
    middle = streamed[len(streamed) // 2]["id"]
    rest = [e for e in page["entries"] if e["id"] > middle]
    with httpx.stream(
        "GET", f"{b.url}/_emulator/events", headers={"last-event-id": str(middle)}, timeout=STREAM_TIMEOUT
    ) as again:
        assert entries_until(again.iter_lines(), newest) == rest
    r = httpx.get(f"{a.url}/_emulator/events", params={"after": middle, "limit": 3}, timeout=60)
    assert [json.loads(d) for _, _, d in frames(iter(r.text.split("\n")))] == rest[:3]

    # paging and filters through either worker
    south = journal(a.url, tenant="south", before=newest + 1)["entries"]
    assert south == [e for e in page["entries"] if e["tenant"] == "south"]
    assert journal(b.url, after=middle, limit=2)["entries"] == rest[:2]
    older = journal(a.url, before=middle, limit=2)["entries"]
    assert older == [e for e in page["entries"] if e["id"] < middle][-2:]
    kinds = journal(b.url, kind="delivery,attempt", tenant="north", before=newest + 1)["entries"]
    assert kinds
    assert kinds == [e for e in by_id.values() if e["tenant"] == "north" and e["kind"] in KINDS]

    # bad input is refused as one server refuses it
    for path, params, headers in BAD:
        r = httpx.get(f"{(a, b)[len(params) % 2].url}/_emulator/{path}", params=params, headers=headers, timeout=60)
        assert r.status_code == 400, (path, params, r.text)
        assert set(r.json()) >= {"error", "message"}
    assert journal(a.url, before=newest + 1) == page  # nothing changed

    # display mode (the dashboard's): the newest `latest` matching entries, one skipped frame for the others
    requests = journal(a.url, kind="request")["entries"]
    r = httpx.get(f"{b.url}/_emulator/events", params=DISPLAY, timeout=60)
    skipped = {"after": requests[0]["id"] - 1, "before": requests[-3]["id"] + 1, "count": len(requests) - 2}
    assert list(frames(iter(r.text.split("\n")))) == [
        ("skipped", None, json.dumps(skipped, separators=(",", ":"))),
        *(("request", str(e["id"]), json.dumps(e, separators=(",", ":"))) for e in requests[-2:]),
    ]

    # resuming from below the oldest entry kept: a gap frame says how many are gone
    client = redis.Redis.from_url(redis_url)
    try:
        client.xtrim("cxemu:feed", minid=middle, approximate=False)
    finally:
        client.close()
    r = httpx.get(f"{a.url}/_emulator/events", params={"after": 0, "limit": 1}, timeout=60)
    gap = {"after": 0, "lost": middle - 1, "oldest": middle}
    assert list(frames(iter(r.text.split("\n")))) == [
        ("gap", None, json.dumps(gap, separators=(",", ":"))),
        (by_id[middle]["kind"], str(middle), json.dumps(by_id[middle], separators=(",", ":"))),
    ]


def test_a_fleet_nobody_watches_mirrors_nothing_and_a_reader_then_gets_every_workers_entries_then_live_ones(
    fleet: Fleet, redis_url: str, webhook_sink: WebhookSink
) -> None:
    _, (a, b) = fleet
    conversations = {}
    for n, tenant in enumerate(TENANTS):  # north claimed by worker a, south by worker b; no stream open anywhere
        with httpx.Client(base_url=(a, b)[n].url, headers={"x-api-key": tenant}, timeout=60) as http:
            hook = {"name": "f", "uri": webhook_sink.url_for(f"/{tenant}"), "version": "Chat Gateway v1.0"}
            assert http.put(f"{P8}/webhooks/1", json=hook).status_code == 200
            r = http.post(f"{P8}/conversations", json=CONVERSATION)
            assert r.status_code == 202, r.text
            conversations[tenant] = r.json()["conversationId"]
            assert post(http, (a, b)[n].url, conversations[tenant], f"hello {tenant}").status_code == 202
    assert [owner(redis_url, t) for t in TENANTS] == [a.id, b.id]
    for tenant in TENANTS:
        webhook_sink.wait_for(path=f"/{tenant}", count=2, timeout=60)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        assert client.xlen("cxemu:feed") == 0  # nobody read the feed: no worker mirrored anything
        assert client.get("cxemu:feed:n") is None
        client.config_set("notify-keyspace-events", "Kh$")  # each renewal of the stream's watch key is an event
        renewals = client.pubsub(ignore_subscribe_messages=True)
        renewals.subscribe("__keyspace@0__:cxemu:feed:watch")
        with httpx.stream(
            "GET", f"{b.url}/_emulator/events", params={"after": 0, "heartbeat": 1}, timeout=STREAM_TIMEOUT
        ) as live:  # through b: every worker mirrors what it holds before the first frame
            assert live.status_code == 200
            lines = live.iter_lines()
            page = journal(a.url)  # through a: the same entries, every worker's
            newest = page["newest"]
            streamed = entries_until(lines, newest)
            assert streamed == page["entries"]
            assert [e["id"] for e in streamed] == list(range(1, newest + 1))  # contiguous fleet ids from the first
            by_id = {e["id"]: e for e in streamed}
            for tenant in TENANTS:  # each worker's entries in the order it recorded them, causes resolved
                mine = [e for e in streamed if e["tenant"] == tenant]
                assert {"request", "event", "delivery", "attempt"} <= {e["kind"] for e in mine}, tenant
                requests = [e["type"] for e in mine if e["kind"] == "request"]
                assert requests[-2:] == [
                    f"POST {P8}/conversations",
                    f"POST {P8}/conversations/{conversations[tenant]}/messages",
                ]
                for e in mine:
                    if e["cause"] is not None:
                        assert e["cause"] < e["id"], e
                        assert by_id[e["cause"]]["tenant"] == tenant, e
                attempts = [e for e in mine if e["kind"] == "attempt"]
                assert attempts
                assert all(by_id[x["cause"]]["kind"] == "delivery" for x in attempts)
            # the stream stays open past the watch the fan-out gave each worker (one lease ttl): b renews the key
            # in its beats, and a, reading it in its own, goes on mirroring what it records as it comes
            deadline, seen = time.monotonic() + 60, 0
            while seen < 6:  # six renewals: two ttls at a beat every ttl / 3
                assert time.monotonic() < deadline, f"{seen} renewals of the watch key within 60 s"
                message = renewals.get_message(timeout=deadline - time.monotonic())
                seen += message is not None and message["data"] == "set"
            with httpx.Client(base_url=a.url, headers={"x-api-key": "north"}, timeout=60) as http:
                assert post(http, a.url, conversations["north"], "still there?").status_code == 202
            for kind, _, data in frames(within(lines, 30)):
                entry = json.loads(data)
                if kind == "request" and entry["tenant"] == "north":
                    assert entry["id"] > newest
                    assert entry["data"]["body"]["text"] == "still there?", entry
                    break
        renewals.close()
    finally:
        client.close()


def test_a_stream_resumed_past_the_ids_of_a_redis_that_restarted_empty_says_so_and_goes_on(tmp_path: Path) -> None:
    hook = {"name": "f", "uri": "http://127.0.0.1:9/hook", "version": "Chat Gateway v1.0"}
    with fleet_on_own_redis(tmp_path, "feed-restart") as (own, (a, b)), httpx.Client(timeout=60) as http:
        for _ in range(5):
            r = http.put(f"{a.url}{P8}/webhooks/1", json=hook, headers={"x-api-key": "before"})
            assert r.status_code == 200, r.text
        r = http.get(f"{a.url}/_emulator/events", params={"after": 0, "limit": 5})  # once the five are mirrored
        old = max(int(fid) for _, fid, _ in frames(iter(r.text.split("\n"))) if fid is not None)
        assert old >= 5
        own.stop()  # Redis restarts empty: the feed's ids start again from 1
        for stale in ("appendonlydir", "appendonly.aof"):
            path = own.folder / stale
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        own.start()
        for _ in range(10):  # the first request after the restart may find a connection that broke: a 503
            if http.put(f"{b.url}{P8}/webhooks/1", json=hook, headers={"x-api-key": "after"}).status_code == 200:
                break
        else:
            raise AssertionError("no worker served a request after Redis restarted")
        # resumed with the id it had reached: told that the ids started again, then the new ids from the first
        r = http.get(
            f"{a.url}/_emulator/events", params={"limit": 1, "timeout": 20}, headers={"last-event-id": str(old)}
        )
        got = list(frames(iter(r.text.split("\n"))))
        assert got[0][:2] == ("gap", None), got
        gap = json.loads(got[0][2])
        assert gap["oldest"] in (None, 1)  # None: the new request's entry was not mirrored yet when the stream opened
        assert {**gap, "oldest": 1} == {"after": old, "lost": None, "oldest": 1, "restarted": True}
        assert [(kind, fid) for kind, fid, _ in got[1:]] == [("request", "1")], got
        # display mode (the dashboard's) as well: the frame first, then what the new ids hold
        params = {"after": old, "latest": 1, "interval": 0.05, "limit": 1, "timeout": 20}
        shown = list(frames(iter(http.get(f"{b.url}/_emulator/events", params=params).text.split("\n"))))
        assert shown[0][0] == "gap", shown
        assert json.loads(shown[0][2])["restarted"] is True
        assert shown[-1][0] == "request", shown
        assert int(str(shown[-1][1])) < old


async def test_a_stream_waiting_while_its_redis_is_wiped_says_so_and_goes_on(
    make_app: AppFactory, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fleetfeed, "LOOK", 50)  # how long an idle stream's read blocks before it looks (ms)
    app, client = await make_app(state=redis_url)
    feed = app.state.emulator.fleet_feed
    assert feed is not None
    for text in ("one", "two", "three"):
        assert (await client.post("/echo/v1/items", json={"text": text}, headers=ACME)).status_code == 201
    await feed.mirror(watch=60)  # as `/events` has every worker do first: what it holds, then each entry as it comes
    stream = await feed.stream(Match(), 0, None, 0.0)  # the stream's frames, as `/events` sends them
    seen = 0
    async for chunk in stream:  # the entries mirrored so far, up to the third request's
        seen += chunk.count(b"event: request\n")
        if seen == 3:
            break
    wiped = redis.Redis.from_url(redis_url)
    try:
        wiped.flushall()  # ids start again, while the stream waits past the old ones
    finally:
        wiped.close()
    fresh = {"x-echo-tenant": "fresh"}
    assert (await client.post("/echo/v1/items", json={"text": "new"}, headers=fresh)).status_code == 201
    rest = b""
    async for chunk in stream:
        rest += chunk
        if b'"tenant":"fresh"' in chunk:
            break
    await stream.aclose()  # type: ignore[attr-defined]
    got = list(frames(iter(rest.decode().split("\n"))))
    assert got[0][:2] == ("gap", None), got
    assert json.loads(got[0][2])["restarted"] is True
    assert got[1][1] == "1", got  # then the new ids, from the first


async def test_entries_a_worker_evicted_before_anyone_read_them_are_a_gap_in_the_fleets_stream(
    make_app: AppFactory, redis_url: str
) -> None:
    app, client = await make_app(state=redis_url, feed_size=4)
    feed = app.state.emulator.feed
    assert (await client.post("/echo/v1/items", json={"text": "one"}, headers=ACME)).status_code == 201
    read = (await client.get("/_emulator/journal")).json()  # a read: what the worker holds is mirrored first
    mirrored = read["newest"]
    assert [e["id"] for e in read["entries"]] == list(range(1, mirrored + 1))
    for n in range(6):  # nobody reads: the local feed keeps the last four entries only
        assert (await client.post("/echo/v1/items", json={"text": f"n{n}"}, headers=ACME)).status_code == 201
    last = feed.last_id
    lost = last - mirrored - 4
    assert lost > 0
    r = await client.get("/_emulator/events", params={"after": 0, "limit": mirrored + 4})
    assert r.status_code == 200, r.text
    got = list(frames(iter(r.text.split("\n"))))
    assert [json.loads(d) for _, _, d in got[:mirrored]] == read["entries"]
    gap = {"after": mirrored, "lost": lost, "oldest": mirrored + lost + 1}  # their ids, taken and never written
    assert got[mirrored] == ("gap", None, json.dumps(gap, separators=(",", ":")))
    assert [int(str(fid)) for _, fid, _ in got[mirrored + 1 :]] == list(range(mirrored + lost + 1, last + 1))
    kept = [(e.kind, e.type, e.tenant) for e in feed.entries()]  # what the local feed kept, in its order
    assert [(e["kind"], e["type"], e["tenant"]) for e in map(json.loads, (d for _, _, d in got[-4:]))] == kept
    # display mode (the dashboard's) says the same with one gap frame
    shown = await client.get(
        "/_emulator/events", params={"after": 0, "latest": 100, "interval": 0.05, "limit": 100, "timeout": 0.2}
    )
    said = list(frames(iter(shown.text.split("\n"))))
    assert [k for k, _, _ in said].count("gap") == 1
    assert json.loads(next(d for k, _, d in said if k == "gap"))["lost"] == lost
