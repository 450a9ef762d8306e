"""The control plane at `/_emulator`, through the in-process app: every endpoint, its errors and its envelope."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from emulator.app import control_contract
from emulator.core.clock import DEFAULT_VIRTUAL_START
from emulator.core.runtime import Emulator
from emulator.pytest_plugin import WebhookSink
from tests.conftest import AppFactory
from tests.support import echo_vendor
from tests.support.asgi import ResponseStarted

START = DEFAULT_VIRTUAL_START
CHAOS_OFF = {
    "duplicate": 0.0,
    "drop_first": 0.0,
    "delay": 0.0,
    "delay_seconds": 5.0,
    "reorder_window": 0.0,
    "timeout": 0.0,
    "vendor": None,
    "tenant": None,
}


def tenant(name: str) -> dict[str, str]:
    return {"x-echo-tenant": name}


def assert_error(r: httpx.Response, status: int, code: str, message_part: str = "") -> None:
    """The control plane's error envelope: exactly `{"error": code, "message": ...}`."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error", "message"}, body
    assert body["error"] == code, body
    assert isinstance(body["message"], str)
    assert body["message"]
    assert message_part in body["message"], body


def emulator_of(app: Starlette) -> Emulator:
    emu = app.state.emulator
    assert isinstance(emu, Emulator)
    return emu


async def create_item(client: httpx.AsyncClient, name: str, text: str = "hello") -> dict[str, Any]:
    r = await client.post("/echo/v1/items", json={"text": text}, headers=tenant(name))
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def set_webhook(client: httpx.AsyncClient, name: str, url: str) -> None:
    r = await client.put("/echo/v1/webhook", json={"url": url}, headers=tenant(name))
    assert r.status_code == 204, r.text


async def ping(client: httpx.AsyncClient, name: str, item_id: str, delay: float) -> None:
    r = await client.post(f"/echo/v1/items/{item_id}/ping", json={"delay": delay}, headers=tenant(name))
    assert r.status_code == 202, r.text


async def item_status(client: httpx.AsyncClient, name: str, item_id: str = "it-1") -> int:
    return (await client.get(f"/echo/v1/items/{item_id}", headers=tenant(name))).status_code


async def settle(client: httpx.AsyncClient) -> None:
    """Advance by nothing: returns once background work (webhook attempts) has finished."""
    r = await client.post("/_emulator/clock/advance", json={"seconds": 0})
    assert r.status_code == 200, r.text


async def state(client: httpx.AsyncClient) -> dict[str, Any]:
    r = await client.get("/_emulator/state")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


# -- health -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("clock", ["virtual", "system"], ids=["virtual-clock", "system-clock"])
async def test_health_reports_version_clock_and_the_echo_vendor(make_app: AppFactory, clock: str) -> None:
    _, client = await make_app(clock=clock)
    r = await client.get("/_emulator/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["version"] == "0.1.0"
    assert body["clock"] == clock
    assert body["vendors"] == [{"slug": "echo", "title": "Echo (test vendor)", "base_paths": ["/echo/v1"]}]
    if clock == "virtual":
        assert body["now"] == START


# -- reset ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "dropped"),
    [
        ("", ["a", "b"]),
        ("?vendor=echo", ["a", "b"]),
        ("?tenant=a", ["a"]),
        ("?vendor=echo&tenant=b", ["b"]),
        ("?tenant=nobody", []),
    ],
    ids=["everything", "one-vendor", "one-tenant", "vendor-and-tenant", "unknown-tenant"],
)
async def test_reset_drops_only_the_matching_tenants(client: httpx.AsyncClient, query: str, dropped: list[str]) -> None:
    for name in ("a", "b"):
        await create_item(client, name)
    r = await client.post(f"/_emulator/reset{query}")
    assert r.status_code == 200, r.text
    assert r.json() == {"reset": [{"vendor": "echo", "tenant": t} for t in dropped]}
    for name in ("a", "b"):
        assert await item_status(client, name) == (404 if name in dropped else 200)
    # a reset tenant starts its ids over
    assert (await create_item(client, "a"))["id"] == ("it-1" if "a" in dropped else "it-2")


async def test_reset_of_an_unknown_vendor_is_404_and_resets_nothing(client: httpx.AsyncClient) -> None:
    await create_item(client, "a")
    r = await client.post("/_emulator/reset?vendor=nope")
    assert_error(r, 404, "unknown_vendor", "nope")
    assert await item_status(client, "a") == 200


async def test_reset_of_a_tenant_cancels_its_timers_and_forgets_its_journal(client: httpx.AsyncClient) -> None:
    for name in ("a", "b"):
        await create_item(client, name)
        await ping(client, name, "it-1", 10)
    assert (await client.get("/_emulator/clock")).json()["pending_timers"] == 2
    r = await client.post("/_emulator/reset?tenant=a")
    assert r.status_code == 200
    assert (await client.get("/_emulator/clock")).json()["pending_timers"] == 1
    assert (await client.get("/_emulator/requests?tenant=a")).json() == {"requests": []}
    assert len((await client.get("/_emulator/requests?tenant=b")).json()["requests"]) == 2
    r = await client.post("/_emulator/clock/advance", json={"seconds": 10})
    assert r.json()["timers_run"] == 1
    item = (await client.get("/echo/v1/items/it-1", headers=tenant("b"))).json()
    assert item["pings"] == 1


# -- state ------------------------------------------------------------------------------------------------


async def rich_state(client: httpx.AsyncClient, sink: WebhookSink) -> None:
    """Two tenants with items, a pending ping job and a pending webhook retry (the receiver said 500)."""
    await set_webhook(client, "a", sink.url_for("/hook"))
    sink.respond_with(500, times=1)
    await create_item(client, "a", "first")
    await create_item(client, "b", "other")
    await ping(client, "a", "it-1", 30)
    await sink.async_wait_for({"event": "created"}, headers={"x-sink-status": "500"})
    await settle(client)


async def test_state_round_trip_restores_identical_state(client: httpx.AsyncClient, webhook_sink: WebhookSink) -> None:
    await rich_state(client, webhook_sink)
    before = await state(client)
    assert before["version"] == 1
    assert before["seed"] == 7
    assert sorted(before["store"]["echo"]) == ["a", "b"]
    assert [j["kind"] for j in before["jobs"]] == ["echo.ping"]
    [pending] = before["deliveries"]["pending"]
    assert [a["status"] for a in pending["attempts"]] == [500]

    r = await client.post("/_emulator/state", json=before)
    assert r.status_code == 200, r.text
    assert r.json() == {"restored": True, "tenants": 2}
    assert await state(client) == before


async def test_state_restored_into_a_fresh_app_carries_on_where_the_first_stopped(
    make_app: AppFactory, webhook_sink: WebhookSink
) -> None:
    _, first = await make_app()
    await rich_state(first, webhook_sink)
    snapshot = await state(first)

    _, second = await make_app()
    r = await second.post("/_emulator/state", json=snapshot)
    assert r.status_code == 200, r.text
    assert await state(second) == snapshot
    assert (await second.get("/echo/v1/items/it-1", headers=tenant("a"))).json()["text"] == "first"
    assert (await create_item(second, "a"))["id"] == "it-2"  # id counters came along

    r = await second.post("/_emulator/clock/advance", json={"seconds": 30})
    assert r.status_code == 200
    await webhook_sink.async_wait_for({"event": "created", "id": "it-1"}, headers={"x-sink-status": "200"})
    await webhook_sink.async_wait_for({"event": "pinged", "id": "it-1", "pings": 1})


def _without(key: str) -> Callable[[dict[str, Any]], bytes]:
    return lambda s: json.dumps({k: v for k, v in s.items() if k != key}).encode()


def _with(**changes: Any) -> Callable[[dict[str, Any]], bytes]:
    return lambda s: json.dumps({**s, **changes}).encode()


def _bad_slot_and_other_seed(s: dict[str, Any]) -> bytes:
    bad = {"echo": {"a": {"state": {"items": "not a mapping"}, "counters": {}}}}
    return json.dumps({**s, "seed": 99, "store": bad}).encode()


@pytest.mark.parametrize(
    ("body", "code", "message_part"),
    [
        (lambda s: b"{not json", "invalid_request", "not valid JSON"),
        (lambda s: b"", "invalid_request", "JSON body is required"),
        (lambda s: b"[1, 2]", "invalid_request", ""),
        (_with(version=2), "invalid_request", "version"),
        (_without("store"), "invalid_request", "store"),
        (_without("deliveries"), "invalid_request", "deliveries"),
        (_with(jobs="soon"), "invalid_request", "jobs"),
        (_with(seed=-1), "invalid_request", "seed"),
        (_with(surplus=1), "invalid_request", "surplus"),
        (_bad_slot_and_other_seed, "invalid_snapshot", "cannot be restored"),
    ],
    ids=[
        "malformed-json",
        "empty-body",
        "not-an-object",
        "wrong-version",
        "missing-store",
        "missing-deliveries",
        "jobs-not-a-list",
        "negative-seed",
        "unknown-field",
        "invalid-vendor-state",
    ],
)
async def test_a_bad_snapshot_is_400_and_leaves_state_unchanged(
    client: httpx.AsyncClient,
    webhook_sink: WebhookSink,
    body: Callable[[dict[str, Any]], bytes],
    code: str,
    message_part: str,
) -> None:
    await rich_state(client, webhook_sink)
    before = await state(client)
    r = await client.post("/_emulator/state", content=body(before), headers={"content-type": "application/json"})
    assert_error(r, 400, code, message_part)
    assert await state(client) == before
    assert (await client.get("/echo/v1/items/it-1", headers=tenant("a"))).json()["text"] == "first"


# -- clock ------------------------------------------------------------------------------------------------


async def test_clock_reports_mode_time_and_pending_timers(client: httpx.AsyncClient) -> None:
    r = await client.get("/_emulator/clock")
    assert r.status_code == 200
    assert r.json() == {
        "mode": "virtual",
        "tenant": None,
        "now": START,
        "iso": "2026-01-01T00:00:00.000Z",
        "pending_timers": 0,
        "next_due": None,
        "busy": False,
        "timelines": 0,
        "timers": [],
    }
    await create_item(client, "a")
    await ping(client, "a", "it-1", 30)
    clock = (await client.get("/_emulator/clock")).json()
    assert (clock["pending_timers"], clock["next_due"], clock["timelines"]) == (1, START + 30, 1)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"json": {"seconds": 5}}, START + 5),
        ({"json": {"seconds": 0.25}}, START + 0.25),
        ({"params": {"seconds": "2.5"}}, START + 2.5),
        ({"json": {"seconds": 0}}, START),
    ],
    ids=["body-int", "body-fraction", "query", "zero"],
)
async def test_advance_moves_the_virtual_clock(
    client: httpx.AsyncClient, kwargs: dict[str, Any], expected: float
) -> None:
    r = await client.post("/_emulator/clock/advance", **kwargs)
    assert r.status_code == 200, r.text
    assert r.json()["now"] == pytest.approx(expected)
    assert r.json()["timers_run"] == 0
    assert (await client.get("/_emulator/clock")).json()["now"] == pytest.approx(expected)


async def test_advance_runs_the_timers_that_fall_due(client: httpx.AsyncClient) -> None:
    await create_item(client, "a")
    await ping(client, "a", "it-1", 10)
    r = await client.post("/_emulator/clock/advance", json={"seconds": 9.5})
    assert r.json()["timers_run"] == 0
    r = await client.post("/_emulator/clock/advance", json={"seconds": 0.5})
    assert (r.json()["timers_run"], r.json()["iso"]) == (1, "2026-01-01T00:00:10.000Z")
    assert (await client.get("/echo/v1/items/it-1", headers=tenant("a"))).json()["pings"] == 1


@pytest.mark.parametrize(
    ("kwargs", "message_part"),
    [
        ({"json": {"seconds": -1}}, "seconds"),
        ({"json": {"seconds": "5"}}, "seconds"),
        ({"json": {"seconds": True}}, "seconds"),
        ({"json": {"seconds": None}}, "seconds"),
        ({"json": {"seconds": 5, "extra": 1}}, "extra"),
        ({"json": {}}, "seconds"),
        ({"content": b"{"}, "not valid JSON"),
        ({}, "JSON body is required"),
        ({"params": {"seconds": "-1"}}, "seconds"),
        ({"params": {"seconds": "soon"}}, "seconds"),
    ],
    ids=[
        "negative",
        "string",
        "bool",
        "null",
        "extra-field",
        "missing",
        "malformed-json",
        "no-body",
        "query-negative",
        "query-not-a-number",
    ],
)
async def test_bad_advance_is_400_and_the_clock_stays(
    client: httpx.AsyncClient, kwargs: dict[str, Any], message_part: str
) -> None:
    r = await client.post("/_emulator/clock/advance", **kwargs)
    assert_error(r, 400, "invalid_request", message_part)
    assert (await client.get("/_emulator/clock")).json()["now"] == START


@pytest.mark.parametrize(
    ("path", "body"),
    [("/_emulator/clock/advance", {"seconds": 1}), ("/_emulator/clock/run-until-idle", {})],
    ids=["advance", "run-until-idle"],
)
async def test_moving_a_system_clock_is_409(make_app: AppFactory, path: str, body: dict[str, Any]) -> None:
    _, client = await make_app(clock="system")
    r = await client.post(path, json=body)
    assert_error(r, 409, "system_clock", "--clock virtual")


async def test_run_until_idle_jumps_to_each_timer_until_nothing_is_left(client: httpx.AsyncClient) -> None:
    await create_item(client, "a")
    await ping(client, "a", "it-1", 100)
    await ping(client, "a", "it-1", 40)
    r = await client.post("/_emulator/clock/run-until-idle")
    assert r.status_code == 200, r.text
    assert r.json() == {"now": START + 100, "iso": "2026-01-01T00:01:40.000Z", "timers_run": 2, "timelines": {}}
    assert (await client.get("/echo/v1/items/it-1", headers=tenant("a"))).json()["pings"] == 2
    assert (await client.get("/_emulator/clock")).json()["pending_timers"] == 0


@pytest.mark.parametrize(
    "body",
    [{"max_steps": 0}, {"max_steps": "5"}, {"max_steps": 1.5}, {"steps": 5}],
    ids=["zero", "string", "fraction", "unknown-field"],
)
async def test_bad_run_until_idle_is_400(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    r = await client.post("/_emulator/clock/run-until-idle", json=body)
    assert_error(r, 400, "invalid_request")


async def test_run_until_idle_stops_a_self_rescheduling_timer_with_409_runaway(make_app: AppFactory) -> None:
    app, client = await make_app()
    scheduler = emulator_of(app).scheduler
    ticks: list[float] = []

    def tick() -> None:
        ticks.append(scheduler.clock.now())
        scheduler.call_later(1.0, tick)

    scheduler.call_later(1.0, tick)
    r = await client.post("/_emulator/clock/run-until-idle", json={"max_steps": 5})
    assert_error(r, 409, "runaway", "more than 5 timers")
    assert len(ticks) == 5
    assert (await client.get("/_emulator/clock")).json()["pending_timers"] == 1  # not lost, just not run


# -- requests journal -------------------------------------------------------------------------------------


async def journal_traffic(client: httpx.AsyncClient) -> None:
    await create_item(client, "a", "hello")  # POST /echo/v1/items a 201
    assert await item_status(client, "a") == 200  # GET /echo/v1/items/it-1 a 200
    assert await item_status(client, "a", "it-9") == 404  # GET /echo/v1/items/it-9 a 404
    await create_item(client, "b", "bee")  # POST /echo/v1/items b 201
    r = await client.post("/echo/v1/items", json={"text": "who"})  # no tenant header: 401
    assert r.status_code == 401
    await client.get("/_emulator/health")  # the control plane is not journaled


ALL = [
    ("POST", "/echo/v1/items", "a", 201),
    ("GET", "/echo/v1/items/it-1", "a", 200),
    ("GET", "/echo/v1/items/it-9", "a", 404),
    ("POST", "/echo/v1/items", "b", 201),
    ("POST", "/echo/v1/items", None, 401),
]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ALL),
        ({"vendor": "echo"}, ALL),
        ({"vendor": "nope"}, []),
        ({"tenant": "a"}, ALL[:3]),
        ({"method": "get"}, ALL[1:3]),
        ({"path": "/echo/v1/items/"}, ALL[1:3]),
        ({"status": "404"}, ALL[2:3]),
        ({"limit": "2"}, ALL[3:]),
        ({"limit": "0"}, ALL),
        ({"tenant": "a", "method": "POST", "status": "201"}, ALL[:1]),
    ],
    ids=[
        "all",
        "vendor",
        "unknown-vendor",
        "tenant",
        "method",
        "path-prefix",
        "status",
        "limit",
        "limit-0",
        "combined",
    ],
)
async def test_requests_journal_filters(
    client: httpx.AsyncClient, params: dict[str, str], expected: list[tuple[str, str, str | None, int]]
) -> None:
    await journal_traffic(client)
    r = await client.get("/_emulator/requests", params=params)
    assert r.status_code == 200, r.text
    got = [(e["method"], e["path"], e["tenant"], e["status"]) for e in r.json()["requests"]]
    assert got == expected


async def test_the_journal_records_what_a_request_carried(client: httpx.AsyncClient) -> None:
    await journal_traffic(client)
    first, *_ = (await client.get("/_emulator/requests")).json()["requests"]
    assert first["vendor"] == "echo"
    assert (first["method"], first["path"], first["status"], first["tenant"]) == ("POST", "/echo/v1/items", 201, "a")
    assert first["body"] == {"text": "hello"}
    assert first["headers"]["x-echo-tenant"] == "a"
    assert first["at"] == START


@pytest.mark.parametrize(
    "params",
    [{"status": "abc"}, {"status": "99"}, {"limit": "-1"}, {"limit": "many"}],
    ids=["status-not-a-number", "status-out-of-range", "limit-negative", "limit-not-a-number"],
)
async def test_bad_journal_filters_are_400(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    r = await client.get("/_emulator/requests", params=params)
    assert_error(r, 400, "invalid_request", next(iter(params)))


# -- deliveries -------------------------------------------------------------------------------------------


async def three_deliveries(client: httpx.AsyncClient, sink: WebhookSink) -> list[dict[str, Any]]:
    """a: it-1, it-2; b: it-1, all delivered to the sink (waited for with the long-poll)."""
    for name in ("a", "b"):
        await set_webhook(client, name, sink.url_for(f"/{name}"))
    await create_item(client, "a", "one")
    await create_item(client, "a", "two")
    await create_item(client, "b", "three")
    r = await client.get("/_emulator/deliveries", params={"wait": 10, "count": 3})
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["deliveries"]
    assert len(found) == 3
    assert {d["status"] for d in found} == {"delivered"}
    return found


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, [("a", "it-1"), ("a", "it-2"), ("b", "it-1")]),
        ({"vendor": "echo"}, [("a", "it-1"), ("a", "it-2"), ("b", "it-1")]),
        ({"vendor": "nope"}, []),
        ({"tenant": "a"}, [("a", "it-1"), ("a", "it-2")]),
        ({"subject": "it-1"}, [("a", "it-1"), ("b", "it-1")]),
        ({"event": "created", "tenant": "b"}, [("b", "it-1")]),
        ({"event": "pinged"}, []),
        ({"status": "delivered"}, [("a", "it-1"), ("a", "it-2"), ("b", "it-1")]),
        ({"status": "failed"}, []),
        ({"status": "pending"}, []),
    ],
    ids=[
        "all",
        "vendor",
        "unknown-vendor",
        "tenant",
        "subject",
        "event-and-tenant",
        "other-event",
        "delivered",
        "failed",
        "pending",
    ],
)
async def test_deliveries_filters(
    client: httpx.AsyncClient, webhook_sink: WebhookSink, params: dict[str, str], expected: list[tuple[str, str]]
) -> None:
    await three_deliveries(client, webhook_sink)
    r = await client.get("/_emulator/deliveries", params=params)
    assert r.status_code == 200, r.text
    assert [(d["tenant"], d["subject"]) for d in r.json()["deliveries"]] == expected


async def test_a_delivery_shows_its_body_attempts_and_can_be_looked_up(
    client: httpx.AsyncClient, webhook_sink: WebhookSink
) -> None:
    first, *_ = await three_deliveries(client, webhook_sink)
    assert first["body"] == {"event": "created", "id": "it-1", "text": "one", "pings": 0, "at": START}
    assert first["url"] == webhook_sink.url_for("/a")
    [attempt] = first["attempts"]
    assert (attempt["n"], attempt["status"], attempt["error"]) == (0, 200, None)
    assert attempt["headers"]["x-echo-event-id"] == first["event_id"]

    r = await client.get(f"/_emulator/deliveries/{first['id']}")
    assert r.status_code == 200
    assert r.json() == first

    r = await client.get("/_emulator/deliveries", params={"event_id": first["event_id"], "body": "false"})
    [only] = r.json()["deliveries"]
    assert only["id"] == first["id"]
    assert "body" not in only


async def test_the_long_poll_returns_as_soon_as_a_delivery_settles(
    client: httpx.AsyncClient, webhook_sink: WebhookSink
) -> None:
    await set_webhook(client, "a", webhook_sink.url_for())
    await create_item(client, "a")
    await ping(client, "a", "it-1", 30)
    started = time.monotonic()
    poll = asyncio.create_task(client.get("/_emulator/deliveries", params={"event": "pinged", "wait": 30}))
    r = await client.post("/_emulator/clock/advance", json={"seconds": 30})
    assert r.json()["timers_run"] == 1
    response = await asyncio.wait_for(poll, timeout=20)
    assert time.monotonic() - started < 15, "the long-poll waited for its deadline instead of the delivery"
    [pinged] = response.json()["deliveries"]
    assert (pinged["event"], pinged["status"], pinged["body"]["pings"]) == ("pinged", "delivered", 1)
    webhook_sink.wait_for({"event": "pinged"}, timeout=1)


async def test_the_long_poll_waits_for_count_matches(client: httpx.AsyncClient, webhook_sink: WebhookSink) -> None:
    await set_webhook(client, "a", webhook_sink.url_for())
    for text in ("x", "y", "z"):
        await create_item(client, "a", text)
    r = await client.get("/_emulator/deliveries", params={"event": "created", "wait": 10, "count": 3})
    assert [d["body"]["text"] for d in r.json()["deliveries"]] == ["x", "y", "z"]
    assert {d["status"] for d in r.json()["deliveries"]} == {"delivered"}


async def test_the_long_poll_gives_up_at_its_deadline_with_what_it_has(client: httpx.AsyncClient) -> None:
    started = time.monotonic()
    r = await client.get("/_emulator/deliveries", params={"event": "never", "wait": 0.2})
    assert r.status_code == 200
    assert r.json() == {"deliveries": []}
    assert time.monotonic() - started >= 0.2


@pytest.mark.parametrize(
    ("params", "message_part"),
    [
        ({"status": "done"}, "status"),
        ({"wait": "soon"}, "wait"),
        ({"wait": "61"}, "wait"),
        ({"count": "0"}, "count"),
        ({"settled": "maybe"}, "settled"),
        ({"body": "perhaps"}, "body"),
    ],
    ids=["status", "wait-not-a-number", "wait-too-long", "count-zero", "settled", "body"],
)
async def test_bad_delivery_filters_are_400(
    client: httpx.AsyncClient, params: dict[str, str], message_part: str
) -> None:
    r = await client.get("/_emulator/deliveries", params=params)
    assert_error(r, 400, "invalid_request", message_part)


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/_emulator/deliveries/dlv_9999999"), ("POST", "/_emulator/deliveries/dlv_9999999/redeliver")],
    ids=["get", "redeliver"],
)
async def test_an_unknown_delivery_is_404(client: httpx.AsyncClient, method: str, path: str) -> None:
    r = await client.request(method, path)
    assert_error(r, 404, "unknown_delivery", "dlv_9999999")


async def test_redeliver_sends_the_same_body_again(client: httpx.AsyncClient, webhook_sink: WebhookSink) -> None:
    await set_webhook(client, "a", webhook_sink.url_for())
    await create_item(client, "a")
    [original] = (await client.get("/_emulator/deliveries", params={"wait": 10})).json()["deliveries"]
    r = await client.post(f"/_emulator/deliveries/{original['id']}/redeliver")
    assert r.status_code == 202, r.text
    again = r.json()
    assert again["id"] != original["id"]
    assert (again["redelivery_of"], again["event_id"]) == (original["id"], original["event_id"])
    first, second = await webhook_sink.async_wait_for({"event": "created", "id": "it-1"}, count=2)
    assert first.body == second.body
    assert first.headers["x-echo-event-id"] == second.headers["x-echo-event-id"] == original["event_id"]
    settled = await client.get(
        "/_emulator/deliveries", params={"event_id": original["event_id"], "wait": 10, "count": 2}
    )
    assert [d["status"] for d in settled.json()["deliveries"]] == ["delivered", "delivered"]


# -- chaos ------------------------------------------------------------------------------------------------


async def test_chaos_is_off_by_default_and_can_be_set_and_cleared(client: httpx.AsyncClient) -> None:
    assert (await client.get("/_emulator/chaos")).json() == {**CHAOS_OFF, "tenants": {}}
    r = await client.put("/_emulator/chaos", json={"duplicate": 0.5, "drop_first": 1, "tenant": "a"})
    assert r.status_code == 200, r.text
    expected = {**CHAOS_OFF, "duplicate": 0.5, "drop_first": 1.0, "tenant": "a"}
    assert r.json() == expected
    assert (await client.get("/_emulator/chaos")).json() == {**expected, "tenants": {}}
    r = await client.put("/_emulator/chaos", json={})
    assert r.json() == CHAOS_OFF
    assert (await client.get("/_emulator/chaos")).json() == {**CHAOS_OFF, "tenants": {}}


@pytest.mark.parametrize(
    ("content", "message_part"),
    [
        (b'{"duplicate": 2}', "duplicate"),
        (b'{"duplicate": "0.5"}', "duplicate"),
        (b'{"delay_seconds": -1}', "delay_seconds"),
        (b'{"storm": 1}', "storm"),
        (b"[]", ""),
        (b"{", "not valid JSON"),
        (b"", "JSON body is required"),
    ],
    ids=["out-of-range", "string", "negative", "unknown-field", "not-an-object", "malformed-json", "empty"],
)
async def test_bad_chaos_is_400_and_keeps_the_chaos_in_force(
    client: httpx.AsyncClient, content: bytes, message_part: str
) -> None:
    await client.put("/_emulator/chaos", json={"delay": 0.25})
    r = await client.put("/_emulator/chaos", content=content, headers={"content-type": "application/json"})
    assert_error(r, 400, "invalid_request", message_part)
    assert (await client.get("/_emulator/chaos")).json() == {**CHAOS_OFF, "delay": 0.25, "tenants": {}}


# -- tenants ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body", [{"tenant": "acme"}, {"tenant": "acme", "vendors": ["echo"]}], ids=["every-vendor", "named-vendor"]
)
async def test_provisioning_returns_echo_credentials_that_work_under_strict_auth(
    make_app: AppFactory, body: dict[str, Any]
) -> None:
    _, client = await make_app(auth="strict")
    assert (await client.get("/_emulator/tenants")).json() == {"tenants": []}
    r = await client.post("/echo/v1/items", json={"text": "x"}, headers=tenant("acme"))
    assert r.status_code == 401  # not provisioned yet

    r = await client.post("/_emulator/tenants", json=body)
    assert r.status_code == 201, r.text
    creds = r.json()
    assert creds == {"tenant": "acme", "credentials": {"echo": {"header": "x-echo-tenant", "tenant": "acme"}}}
    assert (await client.get("/_emulator/tenants")).json() == {"tenants": [{"vendor": "echo", "tenant": "acme"}]}

    echo = creds["credentials"]["echo"]
    r = await client.post("/echo/v1/items", json={"text": "x"}, headers={echo["header"]: echo["tenant"]})
    assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    "body",
    [
        {"tenant": "bad name"},
        {"tenant": ""},
        {"tenant": "x" * 129},
        {"tenant": 5},
        {},
        {"tenant": "ok", "extra": 1},
        {"tenant": "ok", "vendors": "echo"},
    ],
    ids=["space", "empty", "too-long", "number", "missing", "extra-field", "vendors-not-a-list"],
)
async def test_provisioning_an_invalid_tenant_is_400(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    r = await client.post("/_emulator/tenants", json=body)
    assert_error(r, 400, "invalid_request")
    assert (await client.get("/_emulator/tenants")).json() == {"tenants": []}


async def test_provisioning_in_an_unknown_vendor_is_404_and_creates_nothing(client: httpx.AsyncClient) -> None:
    r = await client.post("/_emulator/tenants", json={"tenant": "acme", "vendors": ["echo", "nope"]})
    assert_error(r, 404, "unknown_vendor", "nope")
    assert (await client.get("/_emulator/tenants")).json() == {"tenants": []}


# -- events -----------------------------------------------------------------------------------------------


def sse_frames(raw: bytes) -> list[tuple[str, Any]]:
    frames = []
    for block in raw.decode().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":"))
        if fields:
            frames.append((fields["event"], json.loads(fields["data"])))
    return frames


async def test_events_stream_the_feed_as_server_sent_events(make_app: AppFactory) -> None:
    app, _ = await make_app()
    watched = ResponseStarted(app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=watched), base_url="http://cxemu.test") as client:

        async def read() -> tuple[int, str, bytes]:
            params = {"limit": 4, "tenant": "a"}
            async with client.stream("GET", "/_emulator/events", params=params) as r:
                return r.status_code, r.headers["content-type"], await r.aread()

        reader = asyncio.create_task(read())
        await asyncio.wait_for(watched.started.wait(), timeout=10)
        await create_item(client, "b", "not for this stream")
        await create_item(client, "a", "one")
        await create_item(client, "a", "two")
        status, content_type, raw = await asyncio.wait_for(reader, timeout=10)

    assert status == 200
    assert content_type.startswith("text/event-stream")
    assert raw.startswith(b": cxemu event stream\n\n")
    assert [line for line in raw.decode().splitlines() if line.startswith("id: ")] == [
        "id: 3",
        "id: 4",
        "id: 5",
        "id: 6",
    ]
    frames = sse_frames(raw)
    assert [kind for kind, _ in frames] == ["request", "event", "request", "event"]
    request, event = frames[0][1], frames[1][1]
    assert {k: v for k, v in request.items() if k != "data"} == {
        "id": 3,
        "kind": "request",
        "type": "POST /echo/v1/items",
        "vendor": "echo",
        "tenant": "a",
        "subject": "it-1",
        "party": "integration",
        "at": START,
        "cause": None,
    }
    assert request["data"]["status"] == 201
    assert request["data"]["body"] == {"text": "one"}
    assert event == {
        "id": 4,
        "kind": "event",
        "type": "item.created",
        "vendor": "echo",
        "tenant": "a",
        "subject": "it-1",
        "party": "cxemu",
        "at": START,
        "cause": 3,
        "data": {"text": "one"},
    }
    assert frames[3][1]["data"] == {"text": "two"}


@pytest.mark.parametrize("params", [{"limit": "0"}, {"timeout": "-1"}], ids=["limit-zero", "negative-timeout"])
async def test_bad_event_stream_parameters_are_400(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    r = await client.get("/_emulator/events", params=params)
    assert_error(r, 400, "invalid_request", next(iter(params)))


async def test_an_idle_event_stream_ends_after_its_timeout(client: httpx.AsyncClient) -> None:
    r = await client.get("/_emulator/events", params={"timeout": "0.05"})
    assert r.status_code == 200
    assert r.content == b": cxemu event stream\n\n"


# -- contracts --------------------------------------------------------------------------------------------


async def test_openapi_json_is_the_control_contract(client: httpx.AsyncClient) -> None:
    r = await client.get("/_emulator/openapi.json")
    assert r.status_code == 200
    assert r.json() == json.loads(json.dumps(control_contract()))


async def test_a_vendor_contract_is_served(client: httpx.AsyncClient) -> None:
    r = await client.get("/_emulator/contracts/echo")
    assert r.status_code == 200
    assert r.json() == json.loads(json.dumps(echo_vendor.contract()))
    assert "/echo/v1/items" in r.json()["paths"]


async def test_an_unknown_vendor_contract_is_404(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/_emulator/contracts/nope"), 404, "unknown_vendor", "nope")


# -- unknown paths and methods ----------------------------------------------------------------------------


async def test_an_unknown_control_path_is_a_json_404(client: httpx.AsyncClient) -> None:
    r = await client.get("/_emulator/nope")
    assert_error(r, 404, "not_found")
    assert r.json()["message"] == "Resource not found"


async def test_a_wrong_method_on_state_is_405_listing_the_allowed_ones(client: httpx.AsyncClient) -> None:
    r = await client.delete("/_emulator/state")
    assert_error(r, 405, "method_not_allowed")
    allowed = {m.strip() for m in r.headers["allow"].split(",")}
    assert {"GET", "POST"} <= allowed
    assert "DELETE" not in allowed


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/echo/v1/nope", 404, "not_found"),
        ("GET", "/echo/v1/items/it-1/nope", 404, "not_found"),
        ("DELETE", "/echo/v1/items", 405, "method_not_allowed"),
    ],
    ids=["unknown-path", "unknown-subpath", "wrong-method"],
)
async def test_unknown_vendor_paths_use_the_vendors_own_error_shape(
    client: httpx.AsyncClient, method: str, path: str, status: int, code: str
) -> None:
    r = await client.request(method, path, headers=tenant("a"))
    assert r.status_code == status
    body = r.json()
    assert set(body) == {"code", "detail"}
    assert body["code"] == code
    if status == 405:
        assert "POST" in r.headers["allow"]
