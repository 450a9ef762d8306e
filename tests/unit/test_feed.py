"""The feed (`core.feed`): every kind recorded by a real flow with its cause, `GET /_emulator/journal` (filters,
paging, bounds, bad input) and `GET /_emulator/events` in process (resume, gap, filters, bad input). The stream
over a real socket (a forced disconnect, the heartbeat) is in tests/server/test_feed_stream.py."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator.app import load_plugins
from emulator.core.clock import DEFAULT_VIRTUAL_START
from emulator.core.feed import Entry, Feed, Match
from emulator.core.ids import EPOCH_SPAN
from emulator.core.runtime import Emulator
from emulator.core.settings import Settings
from emulator.pytest_plugin import WebhookSink
from tests.conftest import AppFactory
from tests.support import echo_vendor
from tests.support.asgi import ResponseStarted
from tests.unit.test_admin_guard import ADMIN
from tests.unit.test_admin_guard import _world as admin_world
from tests.unit.test_webhooks import app_emulator

START = DEFAULT_VIRTUAL_START
H_A = {"x-echo-tenant": "a"}


async def journal(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    r = await client.get("/_emulator/journal", params=params)
    assert r.status_code == 200, r.text
    entries: list[dict[str, Any]] = r.json()["entries"]
    return entries


def brief(entries: list[dict[str, Any]]) -> list[tuple[int, str, str, int | None]]:
    return [(e["id"], e["kind"], e["type"], e["cause"]) for e in entries]


async def hooked(client: httpx.AsyncClient, sink: WebhookSink, tenant: dict[str, str] = H_A) -> None:
    r = await client.put("/echo/v1/webhook", json={"url": sink.url_for("/hook")}, headers=tenant)
    assert r.status_code == 204, r.text


async def settled(emu: Emulator) -> None:
    await emu.scheduler.settle()


# -- every kind, from a real flow -----------------------------------------------------------------------------


async def test_a_request_causes_its_event_which_causes_the_delivery_which_causes_its_attempt(
    make_app: AppFactory, webhook_sink: WebhookSink
) -> None:
    emu, client = await app_emulator(make_app)
    await hooked(client, webhook_sink)
    r = await client.post("/echo/v1/items", json={"text": "hi"}, headers=H_A)
    assert r.status_code == 201
    await settled(emu)

    entries = await journal(client)
    assert brief(entries) == [
        (1, "request", "PUT /echo/v1/webhook", None),
        (2, "request", "POST /echo/v1/items", None),
        (3, "event", "item.created", 2),
        (4, "delivery", "created", 3),
        (5, "attempt", "created", 4),
    ]
    request, event, delivery, attempt = entries[1:]
    assert [e["party"] for e in entries] == ["integration", "integration", "cxemu", "integration", "integration"]
    assert {e["subject"] for e in entries[1:]} == {"it-1"}  # the request gets the subject of what it caused
    assert entries[0]["subject"] is None
    assert {(e["vendor"], e["tenant"], e["at"]) for e in entries} == {("echo", "a", START)}
    assert request["data"]["method"] == "POST"
    assert request["data"]["body"] == {"text": "hi"}
    assert request["data"]["status"] == 201
    assert request["data"]["headers"]["x-echo-tenant"] == "a"
    assert event["data"] == {"text": "hi"}
    (logged,) = emu.dispatcher.deliveries()
    assert delivery["data"] == {
        "delivery_id": logged.id,
        "event_id": logged.event_id,
        "url": webhook_sink.url_for("/hook"),
        "event": "created",
        "ordering_key": "it-1",
    }
    sent = attempt["data"]
    assert (sent["delivery_id"], sent["n"], sent["status"], sent["outcome"], sent["next_at"]) == (
        logged.id,
        0,
        200,
        "delivered",
        None,
    )
    assert sent["error"] is None
    assert sent["chaos"] is None
    assert sent["latency_ms"] == logged.attempts[0].latency_ms
    signature = sent["headers"]["x-echo-signature"]
    assert echo_vendor.verify(logged.body, signature)
    assert webhook_sink.requests[0].headers["x-echo-signature"] == signature


async def test_a_failed_attempt_says_when_the_retry_is_due_and_the_retry_points_at_the_same_delivery(
    make_app: AppFactory, webhook_sink: WebhookSink
) -> None:
    emu, client = await app_emulator(make_app)
    webhook_sink.respond_with(500, times=1)
    await hooked(client, webhook_sink)
    await client.post("/echo/v1/items", json={"text": "hi"}, headers=H_A)
    await settled(emu)

    r = await client.post("/_emulator/clock/advance", json={"seconds": 1})
    assert r.status_code == 200

    attempts = await journal(client, kind="attempt")
    (delivery,) = await journal(client, kind="delivery")
    assert [(a["data"]["n"], a["data"]["status"], a["data"]["outcome"]) for a in attempts] == [
        (0, 500, "retry"),
        (1, 200, "delivered"),
    ]
    assert attempts[0]["data"]["next_at"] == START + 1
    assert attempts[1]["at"] == START + 1
    assert {a["cause"] for a in attempts} == {delivery["id"]}
    control = (await journal(client, kind="control"))[-1]
    assert (control["type"], control["data"]["body"], control["data"]["status"]) == (
        "POST /_emulator/clock/advance",
        {"seconds": 1},
        200,
    )
    assert control["id"] > attempts[0]["id"]


async def test_a_timer_firing_is_an_entry_and_causes_what_it_does(make_app: AppFactory) -> None:
    _emu, client = await app_emulator(make_app)
    await client.post("/echo/v1/items", json={"text": "hi"}, headers=H_A)
    r = await client.post("/echo/v1/items/it-1/ping", json={"delay": 30}, headers=H_A)
    assert r.status_code == 202, r.text
    assert await journal(client, kind="timer") == []

    await client.post("/_emulator/clock/advance", params={"seconds": 30, "tenant": "a"})

    (timer,) = await journal(client, kind="timer")
    assert (timer["type"], timer["vendor"], timer["tenant"], timer["party"], timer["at"]) == (
        "echo.ping",
        "echo",
        "a",
        "cxemu",
        START + 30,
    )
    assert timer["data"] == {"what": "echo.ping", "args": {"item": "it-1"}, "due": START + 30}
    pinged = [e for e in await journal(client, kind="event") if e["type"] == "item.pinged"]
    assert [e["cause"] for e in pinged] == [timer["id"]]


async def test_mutating_control_calls_are_entries_and_reads_and_the_sinks_receiving_are_not(
    make_app: AppFactory,
) -> None:
    _emu, client = await app_emulator(make_app)
    assert (await client.get("/_emulator/health")).status_code == 200
    assert (await client.get("/_emulator/journal")).status_code == 200
    r = await client.put("/_emulator/chaos", json={"drop_first": 0.5}, params={"note": "x"})
    assert r.status_code == 200, r.text
    assert (await client.put("/_emulator/chaos", content=b"{oops")).status_code == 400
    assert (await client.post("/_emulator/sink/echo/a/hook", json={"x": 1})).status_code == 200
    assert (await client.delete("/_emulator/sink")).status_code == 200
    assert (await client.post("/_emulator/reset", params={"vendor": "echo", "tenant": "a"})).status_code == 200

    entries = await journal(client)
    assert [(e["kind"], e["type"], e["data"]["status"]) for e in entries] == [
        ("control", "PUT /_emulator/chaos", 200),
        ("control", "PUT /_emulator/chaos", 400),
        ("control", "DELETE /_emulator/sink", 200),
        ("control", "POST /_emulator/reset", 200),
    ]
    first, bad = entries[0]["data"], entries[1]["data"]
    assert (first["method"], first["path"], first["query"], first["body"]) == (
        "PUT",
        "/_emulator/chaos",
        "note=x",
        {"drop_first": 0.5},
    )
    assert (bad["body"], bad["size"], bad["truncated"]) == ("{oops", 5, False)
    assert (entries[3]["vendor"], entries[3]["tenant"]) == ("echo", "a")
    assert {e["party"] for e in entries} == {"integration"}


async def test_a_restored_snapshot_is_an_entry_without_its_content(make_app: AppFactory) -> None:
    _emu, client = await app_emulator(make_app)
    snapshot = (await client.get("/_emulator/state")).json()
    assert (await client.post("/_emulator/state", json=snapshot)).status_code == 200

    (entry,) = await journal(client, kind="control")
    assert entry["type"] == "POST /_emulator/state"
    assert entry["data"]["body"] is None
    assert entry["data"]["size"] > 0


async def test_redelivering_by_hand_causes_the_new_delivery(make_app: AppFactory, webhook_sink: WebhookSink) -> None:
    emu, client = await app_emulator(make_app)
    await hooked(client, webhook_sink)
    await client.post("/echo/v1/items", json={"text": "hi"}, headers=H_A)
    await settled(emu)
    (first,) = emu.dispatcher.deliveries()

    r = await client.post(f"/_emulator/deliveries/{first.id}/redeliver")
    assert r.status_code == 202
    await settled(emu)

    entries = await journal(client, after=5)
    assert brief(entries) == [
        (6, "control", f"POST /_emulator/deliveries/{first.id}/redeliver", None),
        (7, "delivery", "created", 6),
        (8, "attempt", "created", 7),
    ]


async def test_with_an_admin_token_request_entries_hide_credentials(make_app: AppFactory) -> None:
    _emu, client = await app_emulator(make_app, admin_token="s3cret-admin-token")
    r = await client.get("/echo/v1/items/none", headers={**H_A, "authorization": "Bearer t0ken"})
    assert r.status_code == 404

    r = await client.get("/_emulator/journal", headers={"authorization": "Bearer s3cret-admin-token"})
    (entry,) = r.json()["entries"]
    assert entry["data"]["headers"]["authorization"] == "[redacted]"
    assert entry["data"]["status"] == 404


# -- GET /_emulator/journal -------------------------------------------------------------------------------


async def items(client: httpx.AsyncClient, tenant: str, n: int) -> None:
    for i in range(n):
        r = await client.post("/echo/v1/items", json={"text": f"t{i}"}, headers={"x-echo-tenant": tenant})
        assert r.status_code == 201


async def test_the_journal_filters_server_side(make_app: AppFactory) -> None:
    _emu, client = await app_emulator(make_app)
    await items(client, "a", 2)
    await items(client, "b", 1)

    assert [e["id"] for e in await journal(client, tenant="b")] == [5, 6]
    assert [e["id"] for e in await journal(client, kind="event", tenant="a")] == [2, 4]
    assert [e["id"] for e in await journal(client, kind=["event", "request"], tenant="a")] == [1, 2, 3, 4]
    assert [e["id"] for e in await journal(client, kind="event,request", subject="it-2")] == [3, 4]
    assert [e["id"] for e in await journal(client, type="POST /echo/v1/items")] == [1, 3, 5]
    assert await journal(client, vendor="cmcom") == []


async def test_the_journal_pages_forward_with_after_and_back_with_before(make_app: AppFactory) -> None:
    _emu, client = await app_emulator(make_app)
    await items(client, "a", 5)  # ids 1..10

    assert [e["id"] for e in await journal(client, limit=3)] == [8, 9, 10]
    assert [e["id"] for e in await journal(client, limit=3, before=8)] == [5, 6, 7]
    assert [e["id"] for e in await journal(client, limit=3, after=2)] == [3, 4, 5]
    assert [e["id"] for e in await journal(client, after=2, before=6)] == [3, 4, 5]
    assert [e["id"] for e in await journal(client, after=10)] == []
    r = await client.get("/_emulator/journal", params={"limit": 1})
    assert (r.json()["oldest"], r.json()["newest"]) == (1, 10)


async def test_the_journal_is_bounded_and_ids_go_on(make_app: AppFactory) -> None:
    _emu, client = await app_emulator(make_app, feed_size=4)
    await items(client, "a", 3)  # ids 1..6

    r = await client.get("/_emulator/journal")
    assert [e["id"] for e in r.json()["entries"]] == [3, 4, 5, 6]
    assert (r.json()["oldest"], r.json()["newest"]) == (3, 6)


async def test_a_reset_drops_the_tenants_entries_and_ids_go_on(make_app: AppFactory) -> None:
    _emu, client = await app_emulator(make_app)
    await items(client, "a", 2)  # ids 1..4
    await items(client, "b", 1)  # ids 5, 6

    assert (await client.post("/_emulator/reset", params={"tenant": "a"})).status_code == 200
    after = await journal(client, limit=1000)
    assert [(e["id"], e["tenant"]) for e in after if e["kind"] != "control"] == [(5, "b"), (6, "b")]
    assert [e["type"] for e in after if e["kind"] == "control"] == ["POST /_emulator/reset"]
    await items(client, "a", 1)
    assert [(e["id"], e["kind"]) for e in await journal(client, tenant="a")] == [
        (7, "control"),
        (8, "request"),
        (9, "event"),
    ]

    assert (await client.post("/_emulator/reset")).status_code == 200
    assert [e["type"] for e in await journal(client, limit=1000)] == ["POST /_emulator/reset"]


async def test_an_empty_journal_says_so(make_app: AppFactory) -> None:
    _emu, client = await app_emulator(make_app)
    r = await client.get("/_emulator/journal")
    assert r.json() == {"entries": [], "oldest": None, "newest": None}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"kind": "nope"}, "kind: 'nope' is not one of request, control"),
        ({"kind": "event,nope"}, "kind: 'nope'"),
        ({"kind": ""}, "kind: '' is not one of"),
        ({"kind": "event,"}, "kind: '' is not one of"),
        ({"after": "-1"}, "after: must be between 0"),
        ({"before": "x"}, "before: must be an integer"),
        ({"limit": "0"}, "limit: must be between 1 and 1000"),
        ({"limit": "1001"}, "limit: must be between 1 and 1000"),
    ],
    ids=[
        "unknown-kind",
        "one-unknown-kind",
        "empty-kind",
        "trailing-comma",
        "negative-after",
        "before-not-a-number",
        "limit-0",
        "limit-over",
    ],
)
async def test_bad_journal_queries_are_400(make_app: AppFactory, params: dict[str, str], message: str) -> None:
    _emu, client = await app_emulator(make_app)
    r = await client.get("/_emulator/journal", params=params)
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_request"
    assert message in r.json()["message"]


# -- GET /_emulator/events in process -------------------------------------------------------------------------


def frames(raw: bytes) -> list[dict[str, str]]:
    out = []
    for block in raw.decode().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":"))
        if fields:
            out.append(fields)
    return out


async def stream(client: httpx.AsyncClient, headers: dict[str, str] | None = None, **params: Any) -> bytes:
    async with client.stream("GET", "/_emulator/events", params=params, headers=headers) as r:
        assert r.status_code == 200
        return await r.aread()


async def test_a_stream_resumed_after_an_id_replays_what_followed_then_goes_on_live(make_app: AppFactory) -> None:
    app, _ = await make_app()
    watched = ResponseStarted(app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=watched), base_url="http://cxemu.test") as client:
        await items(client, "a", 2)  # ids 1..4
        reader = asyncio.create_task(stream(client, {"last-event-id": "2"}, limit=4))
        await asyncio.wait_for(watched.started.wait(), 10)
        await items(client, "a", 1)  # ids 5, 6
        raw = await asyncio.wait_for(reader, 10)

    got = frames(raw)
    assert [(f["id"], f["event"]) for f in got] == [("3", "request"), ("4", "event"), ("5", "request"), ("6", "event")]
    assert [json.loads(f["data"])["id"] for f in got] == [3, 4, 5, 6]


async def test_after_wins_over_last_event_id_and_filters_apply_to_the_replay(make_app: AppFactory) -> None:
    _emu, client = await app_emulator(make_app)
    await items(client, "a", 3)  # ids 1..6

    raw = await stream(client, {"last-event-id": "5"}, after=1, kind="event", limit=2)

    assert [f["id"] for f in frames(raw)] == ["2", "4"]


async def test_resuming_from_an_evicted_id_starts_with_a_gap_frame(make_app: AppFactory) -> None:
    _emu, client = await app_emulator(make_app, feed_size=4)
    await items(client, "a", 4)  # ids 1..8; 5..8 kept

    raw = await stream(client, {"last-event-id": "2"}, limit=4)

    got = frames(raw)
    assert got[0]["event"] == "gap"
    assert "id" not in got[0]  # a reader's last id stays the last entry it got
    assert json.loads(got[0]["data"]) == {"after": 2, "lost": 2, "oldest": 5}
    assert [f["id"] for f in got[1:]] == ["5", "6", "7", "8"]


async def test_a_stream_from_the_newest_id_has_no_gap_and_nothing_to_replay(make_app: AppFactory) -> None:
    _emu, client = await app_emulator(make_app, feed_size=4)
    await items(client, "a", 4)

    raw = await stream(client, after=8, timeout=0.05)

    assert raw == b": cxemu event stream\n\n"


@pytest.mark.parametrize(
    ("params", "headers", "message"),
    [
        ({"kind": "nope"}, {}, "kind: 'nope'"),
        ({"after": "x"}, {}, "after: must be an integer"),
        ({}, {"last-event-id": "abc"}, "Last-Event-ID: must be an entry id"),
        ({}, {"last-event-id": "-3"}, "Last-Event-ID: must be an entry id"),
        ({"heartbeat": "0"}, {}, "heartbeat: must be between"),
        ({"heartbeat": "nan"}, {}, "heartbeat"),
        ({"limit": "0"}, {}, "limit"),
        ({"timeout": "-1"}, {}, "timeout"),
    ],
    ids=["kind", "after", "last-event-id", "negative-id", "heartbeat-0", "heartbeat-nan", "limit", "timeout"],
)
async def test_bad_stream_queries_are_400(
    make_app: AppFactory, params: dict[str, str], headers: dict[str, str], message: str
) -> None:
    emu, client = await app_emulator(make_app)
    r = await client.get("/_emulator/events", params=params, headers=headers)
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_request"
    assert message in r.json()["message"]
    assert emu.feed.listener_count == 0


# -- the Feed itself ------------------------------------------------------------------------------------------


def entry(feed: Feed, n: int, **kw: Any) -> Entry:
    return feed.record("event", f"e{n}", "echo", "a", kw.pop("subject", None), "cxemu", 0.0, {"n": n}, **kw)


def test_what_an_open_call_causes_is_appended_right_after_it_and_points_back() -> None:
    feed = Feed(100)
    entry(feed, 0)  # id 1
    call, token = feed.open("request", "POST /x", "echo", "integration")
    first = entry(feed, 1, subject="c-1")
    second = feed.record("delivery", "d", "echo", "a", "c-1", "integration", 0.0, None, cause=first)
    assert first.id == 0
    assert len(feed) == 1
    feed.close(call, token, "a", 5.0, {"status": 201}, lambda s: s)
    third = entry(feed, 2)  # the call's context has ended: nothing causes this one

    assert [(e.id, e.type, e.cause) for e in feed.entries()] == [
        (1, "e0", None),
        (2, "POST /x", None),
        (3, "e1", 2),
        (4, "d", 3),
        (5, "e2", None),
    ]
    assert (call.subject, call.tenant, call.at, call.data) == ("c-1", "a", 5.0, {"status": 201})
    assert second.cause == 3
    assert third.cause is None


def test_a_call_inside_an_open_call_is_held_by_the_outer_one_with_all_it_caused() -> None:
    feed = Feed(100)
    outer, outer_token = feed.open("control", "POST /_emulator/scenarios", None, "integration")
    inner, inner_token = feed.open("request", "POST /x", "echo", "integration")
    entry(feed, 1)
    feed.close(inner, inner_token, "a", 0.0, None, lambda s: s)
    entry(feed, 2)
    assert len(feed) == 0
    feed.close(outer, outer_token, None, 0.0, None, lambda s: s)

    assert [(e.id, e.type, e.cause) for e in feed.entries()] == [
        (1, "POST /_emulator/scenarios", None),
        (2, "POST /x", 1),
        (3, "e1", 2),
        (4, "e2", 1),
    ]


async def test_what_a_task_started_in_a_call_records_after_the_call_completed_is_appended_at_once() -> None:
    feed = Feed(100)
    call, token = feed.open("request", "POST /x", "echo", "integration")
    go = asyncio.Event()

    async def later() -> Entry:
        await go.wait()
        return entry(feed, 1)

    task = asyncio.create_task(later())  # copies the context: its cause is the call
    feed.close(call, token, "a", 0.0, None, lambda s: s)
    go.set()
    late = await task

    assert (late.id, late.cause) == (2, 1)


def test_entries_build_their_json_once_and_only_when_read() -> None:
    feed = Feed(10)
    built: list[int] = []

    def build(source: int) -> dict[str, int]:
        built.append(source)
        return {"n": source}

    e = feed.record("event", "x", None, None, None, None, 0.0, 7, build)
    assert built == []
    assert e.frame() == e.frame()
    assert e.to_json()["data"] == {"n": 7}
    assert built == [7]


def test_a_query_matches_every_field() -> None:
    feed = Feed(100)
    feed.record("event", "x", "echo", "a", "s1", "cxemu", 0.0)
    feed.record("request", "GET /y", "echo", "b", None, "integration", 0.0)
    feed.record("event", "x", "cmcom", "a", "s1", "cxemu", 0.0)

    assert [e.id for e in feed.query(Match(vendor="echo"))] == [1, 2]
    assert [e.id for e in feed.query(Match(tenant="a", subject="s1"))] == [1, 3]
    assert [e.id for e in feed.query(Match(kinds=["request"]))] == [2]
    assert [e.id for e in feed.query(Match(type_="x"), limit=1)] == [3]
    assert [e.id for e in feed.query(limit=0)] == [1, 2, 3]
    assert [e.id for e in feed.query(tenant="a", kinds="event", after=1)] == [3]


def test_a_skipped_id_range_is_not_counted_as_lost() -> None:
    feed = Feed(2)
    entry(feed, 1)  # 1
    feed.skip(100)  # 2..102 never used
    entry(feed, 2)  # 103
    entry(feed, 3)  # 104 (1 evicted)
    entry(feed, 4)  # 105 (103 evicted)

    assert [e.id for e in feed.entries()] == [104, 105]
    assert feed.lost_after(0) == 2
    assert feed.lost_after(1) == 1
    assert feed.lost_after(103) == 0


# -- across a restart (the state file) ------------------------------------------------------------------------


async def test_after_a_clean_restart_ids_go_on_and_a_reader_from_before_is_told_of_the_gap(
    tmp_path: Path, make_app: AppFactory
) -> None:
    path = tmp_path / "state.json"
    app, client = await make_app(state_file=str(path), state_save_interval=0)
    await items(client, "a", 2)  # ids 1..4
    await app.state.emulator.stop()
    assert json.loads(path.read_text(encoding="utf-8"))["durable"]["feed"] == 4

    _, again = await make_app(state_file=str(path), state_save_interval=0)
    assert await journal(again) == []  # the feed's entries are not kept: the journal and the log are
    await items(again, "a", 1)

    assert [e["id"] for e in await journal(again)] == [5, 6]
    raw = await stream(again, {"last-event-id": "3"}, limit=2)
    got = frames(raw)
    assert json.loads(got[0]["data"]) == {"after": 3, "lost": 1, "oldest": 5}
    assert [f["id"] for f in got[1:]] == ["5", "6"]


async def test_after_an_unclean_stop_ids_skip_to_a_new_epoch(tmp_path: Path, make_app: AppFactory) -> None:
    path = tmp_path / "state.json"
    app, client = await make_app(state_file=str(path), state_save_interval=0)
    await items(client, "a", 1)  # ids 1, 2
    saver = app.state.emulator.saver
    assert saver is not None
    assert await saver.save(running=True) is None  # a periodic save; then the server dies

    _, again = await make_app(state_file=str(path), state_save_interval=0)
    await items(again, "a", 1)

    assert [e["id"] for e in await journal(again)] == [EPOCH_SPAN + 4, EPOCH_SPAN + 5]
    raw = await stream(again, {"last-event-id": "2"}, limit=1)
    assert frames(raw)[0]["id"] == str(EPOCH_SPAN + 4)  # no gap: the skipped ids never existed


# -- behind the admin token -----------------------------------------------------------------------------------


async def test_behind_the_admin_token_a_tenant_reads_only_its_own_entries_and_never_a_credential() -> None:
    app, world = await admin_world()
    try:
        own = world.creds["alpha"]["eightbyeight"]["headers"]
        r = await world.client.get("/_emulator/journal", params={"tenant": "alpha", "limit": 1000}, headers=own)
        assert r.status_code == 200
        entries = r.json()["entries"]
        assert {e["kind"] for e in entries} >= {"request", "event", "delivery", "attempt"}
        assert {(e["vendor"], e["tenant"]) for e in entries} == {("eightbyeight", "alpha")}
        r = await world.client.get("/_emulator/journal", params={"tenant": "beta"}, headers=own)
        assert r.status_code == 403
        raw = await stream(world.client, own, tenant="alpha", after=0, limit=len(entries))
        assert [json.loads(f["data"]) for f in frames(raw)] == entries

        everything = await world.client.get("/_emulator/journal", params={"limit": 1000}, headers=ADMIN)
        assert "POST /_emulator/tenants" in {e["type"] for e in everything.json()["entries"]}
        requests = [e["data"] for e in everything.json()["entries"] if e["kind"] == "request"]
        assert {r["headers"].get("x-api-key") for r in requests if r["path"].startswith("/chat")} == {"[redacted]"}
        assert world.creds["alpha"]["sangoma"]["headers"]["Authorization"].split()[1] not in everything.text
        assert "[redacted]" in everything.text
    finally:
        await world.client.aclose()
        await app.state.emulator.stop()


async def test_a_hand_action_is_a_control_entry_on_the_lane_of_who_acts(make_app: AppFactory) -> None:
    _, client = await make_app(vendor_plugins=load_plugins(Settings()))
    key = {"x-api-key": "acme"}
    r = await client.post("/chat-gateway/v1/conversations", json={"channelId": "1", "user": {"name": "A"}}, headers=key)
    assert r.status_code == 202, r.text
    conv = r.json()["conversationId"]
    hands = f"/_emulator/vendors/eightbyeight/tenants/acme/conversations/{conv}/agent"
    r = await client.post(hands, json={"action": "say", "text": "hello"})
    assert r.status_code == 409, r.text  # nobody has joined: rejected, and still an entry
    assert (await client.post("/_emulator/tenants", json={"tenant": "acme", "vendors": ["sangoma"]})).status_code == 201
    r = await client.post("/_emulator/vendors/sangoma/tenants/acme/customers", json={"name": "Ann", "text": "hi"})
    assert r.status_code == 200, r.text

    said, provisioned, started = await journal(client, kind="control")
    assert provisioned["party"] == "integration"
    assert (said["type"], said["party"], said["vendor"], said["tenant"]) == (
        f"POST {hands}",
        "agent",
        "eightbyeight",
        "acme",
    )
    assert (said["data"]["status"], said["data"]["body"]) == (409, {"action": "say", "text": "hello"})
    assert (started["party"], started["vendor"]) == ("customer", "sangoma")
    caused = [e for e in await journal(client, after=started["id"]) if e["cause"] == started["id"]]
    assert caused
    assert started["subject"] == caused[0]["subject"]


# -- a call's entries appended inline (nobody listening) or one by one (listened to, mirrored): the same feed --------


def _calls(feed: Feed) -> list[dict[str, Any]]:
    """Nested calls, each holding events (one without a subject, one naming the tenant's), past the feed's size."""
    for n in range(7):
        call, token = feed.open("request", f"POST /x/{n}", "echo", "integration")
        feed.record("event", "a.made", "echo", "t", None, "cxemu", float(n))
        event = feed.record("event", "a.sent", "echo", "t", f"s{n}", "cxemu", float(n), {"n": n})
        feed.record("delivery", "hook", "echo", "t", f"s{n}", "integration", float(n), cause=event)
        inner, inner_token = feed.open("control", "POST /inner", None, "integration")
        feed.record("action", "said", "echo", "t", f"s{n}", "agent", float(n))
        feed.close(inner, inner_token, None, float(n), {"inner": n}, lambda d: d)
        feed.close(call, token, "t", float(n) + 0.5, {"n": n}, lambda d: d)
    return [e.to_json() for e in feed.entries()]


def test_a_calls_entries_get_the_same_ids_causes_and_evictions_with_or_without_a_listener() -> None:
    quiet, heard, mirrored = Feed(size=20), Feed(size=20), Feed(size=20)
    listener, _, _ = heard.listen()
    seen: list[int] = []
    plain = mirrored._append

    def mirror(entry: Entry) -> None:  # what `core.fleetfeed` puts in place of `_append`
        plain(entry)
        seen.append(entry.id)

    mirrored._append = mirror  # type: ignore[method-assign]
    expected = _calls(heard)
    assert _calls(quiet) == expected == _calls(mirrored)
    assert [e["id"] for e in expected] == list(range(23, 43))  # 42 appended, the newest 20 kept
    assert (quiet.oldest, quiet.last_id, quiet.lost_after(0)) == (23, 42, 22)
    assert seen == list(range(1, 43))
    request = next(e for e in reversed(expected) if e["kind"] == "request")
    assert request["subject"] == "s6"
    assert request["cause"] is None
    held = [e for e in expected if e["id"] > request["id"]]
    assert {e["cause"] for e in held if e["kind"] == "event"} == {request["id"]}
    assert listener.dropped is False
