"""The call-flow engine on the virtual clock: call progress, play timing, digit routing, http branches against
a real local server, connect, loops bounded, and the calls' metadata."""

from __future__ import annotations

from typing import Any

import pytest

from emulator.pytest_plugin import WebhookSink
from tests.vendors.samespace.conftest import API, CLOUD, TOKEN, Ss, SsFactory, body, call_step, tenant
from tests.vendors.samespace.flows import RING, digits, http, play, played, with_numbers
from tests.vendors.samespace.seed import SEED_HTTP_HOST, SEED_SAMPLE

# -- the seed's sample, end to end ------------------------------------------------------------------------


async def test_the_seed_sample_runs_to_completion_against_a_local_server(
    make_ss: SsFactory, webhook_sink: WebhookSink
) -> None:
    webhook_sink.respond_with(404)  # the account is unknown: the sample goes to its `fail` branch (connect 5263)
    vendors = {
        "samespace": {
            "tenants": {"CLOUD_ID": {"auth_token": "your_auth_token"}},
            "http_overrides": {SEED_HTTP_HOST: webhook_sink.url},
            "numbers": {"917507161643": {"rings": 1, "dtmf": ["4321"]}, "5263": {"rings": 2, "talk_seconds": 20}},
        }
    }
    ss = await make_ss(vendors=vendors)
    resp = await ss.post_flow(SEED_SAMPLE)
    assert resp.status_code == 200, resp.text
    call_id = resp.json()["call_id"]
    await ss.idle()
    (hit,) = webhook_sink.wait_for(path="/api/test/4321", timeout=1)
    assert hit.method == "GET"  # the sample's http object has no method: GET
    meta = await ss.metadata(call_id, "CLOUD_ID", "your_auth_token")
    assert meta["status"] == "completed"
    assert meta["end_reason"] == "flow_end"
    assert played(meta) == ["0", "1", "2", "5", "4"]
    assert [s["result"] for s in meta["steps"]] == ["answered", "played", "collected", "fail", "connected"]
    assert meta["variables"] == {"account_id": "4321"}
    (h,) = meta["http"]
    assert h["url"] == "https://subdoomain.domain.com/api/test/4321"
    assert h["sent_to"] == f"{webhook_sink.url}/api/test/4321"
    assert (h["status"], h["outcome"], h["error"]) == (404, "fail", None)
    # timings: 1 ring (3 s); 13 words at 150 wpm (5.2 s); keys after 2 s; connect rings 6 s, talks 20 s
    assert meta["answered_at"] == "2026-01-01T00:00:03.000Z"
    assert meta["steps"][1]["ended_at"] == "2026-01-01T00:00:08.200Z"
    assert meta["steps"][2]["ended_at"] == "2026-01-01T00:00:10.200Z"
    assert meta["ended_at"] == "2026-01-01T00:00:36.200Z"
    assert meta["duration"] == 33.2
    assert meta["recording_url"] is None


async def test_the_seed_sample_success_branch_ends_at_its_dangling_step(
    make_ss: SsFactory, webhook_sink: WebhookSink
) -> None:
    vendors = {
        "samespace": {
            "http_overrides": {SEED_HTTP_HOST: webhook_sink.url},
            "numbers": {"917507161643": {"dtmf": ["1234"]}},
        }
    }
    ss = await make_ss(vendors=vendors)
    call_id = (await ss.post_flow(SEED_SAMPLE)).json()["call_id"]
    await ss.idle()
    webhook_sink.wait_for(path="/api/test/1234", timeout=1)
    meta = await ss.metadata(call_id, "CLOUD_ID", "your_auth_token")
    assert played(meta) == ["0", "1", "2", "5"]
    assert meta["steps"][-1]["next_step"] == "10"
    assert (meta["status"], meta["end_reason"]) == ("completed", "dangling_step")


# -- call progress ------------------------------------------------------------------------------------------


async def test_call_progress_on_the_clock(ss: Ss) -> None:
    call_id = await ss.start(call_step(next_step=1), play(1))
    assert (await ss.metadata(call_id))["status"] == "queued"
    await ss.advance(0)
    assert (await ss.metadata(call_id))["status"] == "ringing"
    await ss.advance(2 * RING - 0.01)
    assert (await ss.metadata(call_id))["status"] == "ringing"
    await ss.advance(0.01)
    meta = await ss.metadata(call_id)
    assert (meta["status"], meta["current_step"]) == ("answered", "1")
    await ss.advance(2.0)  # five words at 150 words per minute
    meta = await ss.metadata(call_id)
    assert (meta["status"], meta["end_reason"], meta["duration"]) == ("completed", "flow_end", 2.0)
    assert ss.events(call_id) == [
        "call.initiated",
        "step.started",
        "call.ringing",
        "call.answered",
        "step.completed",
        "step.started",
        "step.completed",
        "call.completed",
    ]


@pytest.mark.parametrize(
    ("behaviour", "status", "reason", "ended"),
    [
        ({"answer": "busy"}, "busy", "busy", "2026-01-01T00:00:00.000Z"),
        ({"answer": "fail"}, "failed", "failed", "2026-01-01T00:00:00.000Z"),
        ({"answer": "no-answer"}, "no-answer", "no_answer", "2026-01-01T00:00:30.000Z"),
        ({"rings": 10}, "no-answer", "no_answer", "2026-01-01T00:00:30.000Z"),
    ],
    ids=["busy", "failed", "no-answer", "too-many-rings"],
)
async def test_unanswered_calls(
    make_ss: SsFactory, behaviour: dict[str, Any], status: str, reason: str, ended: str
) -> None:
    ss = await with_numbers(make_ss, {"111": behaviour})
    call_id = await ss.start(call_step(number="111"), play(1), record=True)
    await ss.idle()
    meta = await ss.metadata(call_id)
    assert (meta["status"], meta["end_reason"], meta["ended_at"]) == (status, reason, ended)
    assert (meta["answered_at"], meta["duration"], meta["recording_url"]) == (None, 0.0, None)
    assert [(s["id"], s["result"]) for s in meta["steps"]] == [("0", reason)]
    assert ss.events(call_id)[-1] == "call.failed"


async def test_recording_url_when_record_is_true(ss: Ss) -> None:
    call_id = await ss.start(call_step(), play(1), record=True)
    await ss.idle()
    meta = await ss.metadata(call_id)
    assert meta["record"] is True
    assert meta["recording_url"] == f"https://recordings.samespace.invalid/{CLOUD}/{call_id}.mp3"


async def test_play_media_url_lasts_the_media_duration(ss: Ss) -> None:
    call_id = await ss.start(call_step(), {"id": 1, "type": "play", "url": "http://media.example/a.mp3"})
    await ss.idle()
    step = (await ss.metadata(call_id))["steps"][1]
    assert (step["started_at"], step["ended_at"]) == ("2026-01-01T00:00:06.000Z", "2026-01-01T00:00:16.000Z")


async def test_callee_hangs_up_mid_flow(make_ss: SsFactory) -> None:
    ss = await with_numbers(make_ss, {"222": {"hangup_after": 1.5}})
    call_id = await ss.start(call_step(number="222"), play(1, next_step=2), play(2))
    await ss.idle()
    meta = await ss.metadata(call_id)
    assert (meta["status"], meta["end_reason"], meta["duration"]) == ("completed", "callee_hangup", 1.5)
    assert meta["steps"][-1]["result"] == "interrupted"


# -- digits -------------------------------------------------------------------------------------------------

MENU = (
    call_step(next_step="menu"),
    digits("menu", {"1": "apples", "2": "oranges", "*": "other"}),
    play("apples", text="apples"),
    play("oranges", text="oranges"),
    play("other", text="something else"),
)


@pytest.mark.parametrize(
    ("keys", "route"), [("1", "apples"), ("2", "oranges"), ("7", "other")], ids=["digit-1", "digit-2", "star"]
)
async def test_ivr_menu_routes_by_digit_or_star(make_ss: SsFactory, keys: str, route: str) -> None:
    ss = await with_numbers(make_ss, {"917507161643": {"dtmf": [keys]}})
    call_id = await ss.start(*MENU)
    await ss.idle()
    meta = await ss.metadata(call_id)
    assert played(meta) == ["0", "menu", route]
    assert meta["steps"][1]["input"] == keys
    assert meta["variables"] == {"choice": keys}
    assert "digits.collected" in ss.events(call_id)


async def test_input_without_a_route_and_no_star_hangs_up(make_ss: SsFactory) -> None:
    ss = await with_numbers(make_ss, {"917507161643": {"dtmf": ["9"]}})
    call_id = await ss.start(call_step(next_step=1), digits(1, {"1": 2}), play(2))
    await ss.idle()
    meta = await ss.metadata(call_id)
    assert (meta["end_reason"], played(meta)) == ("no_route", ["0", "1"])


async def test_digits_timeout_without_input_hangs_up(ss: Ss) -> None:
    call_id = await ss.start(*MENU)
    await ss.idle()
    meta = await ss.metadata(call_id)
    assert (meta["status"], meta["end_reason"]) == ("completed", "no_input")
    menu = meta["steps"][1]
    assert (menu["result"], menu["input"]) == ("timeout", "")
    assert (menu["started_at"], menu["ended_at"]) == ("2026-01-01T00:00:06.000Z", "2026-01-01T00:00:16.000Z")


async def test_digits_timeout_with_partial_input_routes_what_was_keyed(make_ss: SsFactory) -> None:
    ss = await with_numbers(make_ss, {"917507161643": {"dtmf": ["12"]}})
    call_id = await ss.start(call_step(next_step=1), digits(1, {"*": 2}, count=4, variable="pin"), play(2))
    await ss.idle()
    meta = await ss.metadata(call_id)
    assert (meta["steps"][1]["input"], meta["steps"][1]["ended_at"]) == ("12", "2026-01-01T00:00:16.000Z")
    assert meta["variables"] == {"pin": "12"}
    assert played(meta) == ["0", "1", "2"]


async def test_hash_ends_input_early(make_ss: SsFactory) -> None:
    ss = await with_numbers(make_ss, {"917507161643": {"dtmf": ["12#"]}})
    call_id = await ss.start(call_step(next_step=1), digits(1, {"12": 2}, count=4), play(2))
    await ss.idle()
    meta = await ss.metadata(call_id)
    assert played(meta) == ["0", "1", "2"]
    assert meta["steps"][1]["ended_at"] == "2026-01-01T00:00:08.000Z"


async def test_without_a_terminator_hash_is_a_digit(make_ss: SsFactory) -> None:
    ss = await with_numbers(make_ss, {"917507161643": {"dtmf": ["1#"]}}, behaviour={"terminator": ""})
    call_id = await ss.start(call_step(next_step=1), digits(1, {"1": 3, "1#": 2}, count=2), play(2), play(3))
    await ss.idle()
    meta = await ss.metadata(call_id)
    assert (meta["variables"], played(meta)) == ({"choice": "1#"}, ["0", "1", "2"])
    assert meta["steps"][1]["ended_at"] == "2026-01-01T00:00:08.000Z"  # two keys: complete, no timeout


async def test_multi_digit_input_routes_on_the_whole_input(make_ss: SsFactory) -> None:
    ss = await with_numbers(make_ss, {"917507161643": {"dtmf": ["42"]}})
    call_id = await ss.start(call_step(next_step=1), digits(1, {"4": 3, "42": 2}, count=2), play(2), play(3))
    await ss.idle()
    assert played(await ss.metadata(call_id)) == ["0", "1", "2"]


async def test_pressing_digits_by_hand_on_a_live_call(ss: Ss) -> None:
    call_id = await ss.start(*MENU)
    not_yet = await ss.press(call_id, "2")
    assert (not_yet.status_code, not_yet.json()["detail"]) == (409, {"code": "not_answered"})  # still ringing
    await ss.advance(2 * RING + 1)
    resp = await ss.press(call_id, "2")
    assert resp.status_code == 200, resp.text
    assert resp.json()["current_step"] == "oranges"
    await ss.idle()
    assert played(await ss.metadata(call_id)) == ["0", "menu", "oranges"]
    ended = await ss.press(call_id, "1")
    assert ended.status_code == 409


async def test_hanging_up_by_hand(ss: Ss) -> None:
    call_id = await ss.start(*MENU)
    await ss.advance(7)
    resp = await ss.control("POST", f"/calls/{call_id}/hangup")
    assert resp.json()["status"] == "completed"
    await ss.idle()
    meta = await ss.metadata(call_id)
    assert (meta["end_reason"], meta["steps"][-1]["result"], meta["duration"]) == ("hangup", "interrupted", 1.0)


# -- connect, loops -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "result", "seconds"),
    [
        ({"rings": 1, "talk_seconds": 12}, "connected", 15),
        ({"answer": "busy"}, "busy", 0),
        ({"answer": "no-answer"}, "no_answer", 30),
        ({"answer": "fail"}, "failed", 0),
    ],
    ids=["answered", "busy", "no-answer", "failed"],
)
async def test_connect_rings_a_simulated_target(
    make_ss: SsFactory, target: dict[str, Any], result: str, seconds: float
) -> None:
    ss = await with_numbers(make_ss, {"5263": target})
    flow = (call_step(next_step=1), {"id": 1, "type": "connect", "number": "5263", "next_step": 2}, play(2))
    call_id = await ss.start(*flow)
    await ss.idle()
    meta = await ss.metadata(call_id)
    connect = meta["steps"][1]
    assert connect["result"] == result
    assert played(meta) == ["0", "1", "2"]
    assert meta["duration"] == seconds + 2.0
    assert ("call.connected" in ss.events(call_id)) is (result == "connected")


async def test_a_loop_is_bounded_by_max_steps(make_ss: SsFactory) -> None:
    ss = await make_ss(vendors=tenant(behaviour={"max_steps": 7}))
    call_id = await ss.start(call_step(next_step="a"), play("a", next_step="b"), play("b", next_step="a"))
    await ss.idle()
    meta = await ss.metadata(call_id)
    assert (meta["status"], meta["end_reason"]) == ("completed", "max_steps")
    assert played(meta) == ["0", "a", "b", "a", "b", "a", "b"]


async def test_a_loop_through_the_call_object_is_bounded(make_ss: SsFactory) -> None:
    ss = await make_ss(vendors=tenant(behaviour={"max_steps": 5}))
    call_id = await ss.start(call_step(next_step="a"), play("a", next_step="0"))
    await ss.idle()
    meta = await ss.metadata(call_id)
    assert meta["end_reason"] == "max_steps"
    assert [s["result"] for s in meta["steps"]] == ["answered", "played", "skipped", "played", "skipped"]


async def test_a_long_call_is_bounded_by_max_call_seconds(make_ss: SsFactory) -> None:
    ss = await make_ss(vendors=tenant(behaviour={"max_call_seconds": 60}, numbers={"5263": {"talk_seconds": 600}}))
    call_id = await ss.start(call_step(next_step=1), {"id": 1, "type": "connect", "number": "5263"})
    await ss.idle()
    meta = await ss.metadata(call_id)
    assert (meta["end_reason"], meta["duration"]) == ("max_duration", 60.0)


async def test_an_http_loop_is_bounded(make_ss: SsFactory, webhook_sink: WebhookSink) -> None:
    webhook_sink.respond_with(503)
    ss = await make_ss(vendors=tenant(behaviour={"max_steps": 4}))
    call_id = await ss.start(call_step(next_step="h"), http("h", webhook_sink.url + "/retry", success=None, fail="h"))
    await ss.idle()
    meta = await ss.metadata(call_id)
    assert meta["end_reason"] == "max_steps"
    assert len(meta["http"]) == 3
    assert len(webhook_sink.requests) == 3


async def test_same_seed_same_bytes(make_ss: SsFactory) -> None:
    """Two emulators with the same seed and inputs answer byte for byte the same (ids, timings, metadata)."""
    outs = []
    for _ in range(2):
        ss = await with_numbers(make_ss, {"917507161643": {"dtmf": ["2"]}})
        placed = await ss.post_flow(body(*MENU, record=True))
        await ss.idle()
        params = {"cloud_id": CLOUD, "auth_token": TOKEN}
        meta = await ss.http.get(f"{API}/call/{placed.json()['call_id']}", params=params)
        outs.append((placed.content, meta.content))
    assert outs[0] == outs[1]
    assert b'"recording_url":"https://recordings.samespace.invalid/acme/' in outs[0][1]


async def test_metadata_shows_live_progress(make_ss: SsFactory) -> None:
    ss = await with_numbers(make_ss, {"917507161643": {"dtmf": ["2"]}})
    call_id = await ss.start(*MENU)
    await ss.advance(7)
    meta = await ss.metadata(call_id)
    assert (meta["status"], meta["current_step"], meta["ended_at"]) == ("answered", "menu", None)
    assert (meta["answered_at"], meta["duration"]) == ("2026-01-01T00:00:06.000Z", None)  # final values only
    assert meta["steps"][-1]["ended_at"] is None
    listed = (await ss.control("GET", "/calls")).json()["calls"]
    assert listed == [{"call_id": call_id, "number": "917507161643", "status": "answered", "current_step": "menu"}]
    await ss.idle()
    meta = await ss.metadata(call_id)
    assert (meta["ended_at"], meta["duration"]) == ("2026-01-01T00:00:08.400Z", 2.4)  # "2" at 8 s, "oranges" for 0.4 s
