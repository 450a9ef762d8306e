"""Voice calls on the clock (sangoma.md §2.2): agent calls and queue callbacks, callee behaviour per number,
hand actions, and the call's life in the control plane's state and event stream [inf]."""

from __future__ import annotations

from typing import Any

from tests.vendors.sangoma.conftest import API, CONTROL, DOMAIN, Sng, SngFactory, vendor_settings

AGENT_CALL = {"agent_name": "agent.test", "destination": "9001", "tenant_domain": DOMAIN}
QUEUE_CALL = {"queue_name": "queue_test", "destination": "9001", "tenant_domain": DOMAIN}


async def _place(sng: Sng, path: str, body: dict[str, Any]) -> str:
    resp = await sng.call("POST", f"{API}{path}", body)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {}
    return resp.headers["x-cxemu-call-id"]


async def _call(sng: Sng, call_id: str) -> dict[str, Any]:
    return next(c for c in (await sng.world())["calls"] if c["id"] == call_id)


async def test_an_agent_call_rings_is_answered_and_ends(sng: Sng) -> None:
    call_id = await _place(sng, "/agents/call/", AGENT_CALL)
    assert (await _call(sng, call_id))["state"] == "dialing"
    await sng.advance(1)
    assert (await _call(sng, call_id))["state"] == "ringing"
    await sng.advance(3)
    call = await _call(sng, call_id)
    assert (call["state"], call["agent"]) == ("connected", "agent.test")
    agent = next(a for a in (await sng.world())["agents"] if a["name"] == "agent.test")
    assert agent["call"] == call_id
    await sng.advance(60)
    call = await _call(sng, call_id)
    assert [h["state"] for h in call["history"]] == ["dialing", "ringing", "answered", "connected", "completed"]
    assert [h["at"] - call["created_at"] for h in call["history"]] == [0, 1, 4, 4, 64]
    assert sng.events("call.") == ["call.dialing", "call.ringing", "call.answered", "call.connected", "call.completed"]


async def test_callee_behaviour_per_number(make_sng: SngFactory) -> None:
    callees = {"555": {"outcome": "busy"}, "666": {"outcome": "no-answer", "ring_timeout": 20}}
    env = await make_sng(vendors=vendor_settings(callees=callees))
    busy = await _place(env, "/agents/call/", {**AGENT_CALL, "destination": "555"})
    silent = await _place(env, "/queues/call/", {**QUEUE_CALL, "destination": "666"})
    await env.advance(5)
    assert (await _call(env, busy))["state"] == "busy"
    assert (await _call(env, silent))["state"] == "ringing"
    await env.advance(20)
    assert (await _call(env, silent))["state"] == "no-answer"
    assert [a["call"] for a in (await env.world())["agents"]] == [None, None, None]


async def test_a_queue_callback_waits_in_the_queue_until_an_agent_answers(make_sng: SngFactory) -> None:
    env = await make_sng(vendors=vendor_settings(behaviour={"queue_answer_delay": 10}))
    call_id = await _place(env, "/queues/call/", QUEUE_CALL)
    await env.advance(4)
    world = await env.world()
    assert (await _call(env, call_id))["state"] == "in-queue"
    assert world["queues"][0]["waiting"] == [call_id]
    await env.advance(10)
    call = await _call(env, call_id)
    assert (call["state"], call["agent"]) == ("connected", "agent.test")
    assert (await env.world())["queues"][0]["waiting"] == []


async def test_queued_calls_wait_while_every_agent_is_busy(make_sng: SngFactory) -> None:
    env = await make_sng(
        vendors=vendor_settings(
            agents=[{"name": "solo"}], queues=[{"name": "q", "agents": ["solo"]}], callees={"1": {"talk_seconds": 30}}
        )
    )
    first = await _place(env, "/queues/call/", {**QUEUE_CALL, "queue_name": "q", "destination": "1"})
    second = await _place(env, "/queues/call/", {**QUEUE_CALL, "queue_name": "q", "destination": "1"})
    await env.advance(10)
    assert [(await _call(env, c))["state"] for c in (first, second)] == ["connected", "in-queue"]
    await env.advance(30)  # the first ends, solo is free: the waiting call is answered
    await env.advance(5)
    assert [(await _call(env, c))["state"] for c in (first, second)] == ["completed", "connected"]


async def test_by_hand_the_callee_and_the_agent_act(make_sng: SngFactory) -> None:
    env = await make_sng(vendors=vendor_settings(behaviour={"auto": False}, callees={"9001": {"ring_after": 100}}))
    call_id = await _place(env, "/queues/call/", QUEUE_CALL)
    early = await env.http.post(f"{CONTROL}/acme/calls/{call_id}", json={"action": "agent_answer"})
    assert (early.status_code, early.json()["detail"]) == (
        409,
        {"detail": f"Call {call_id} is dialing, not waiting in a queue."},
    )
    out = await env.http.post(f"{CONTROL}/acme/calls/{call_id}", json={"action": "answer"})
    assert out.json()["state"] == "in-queue"
    out = await env.http.post(f"{CONTROL}/acme/calls/{call_id}", json={"action": "agent_answer", "agent": "agent.test"})
    assert (out.json()["state"], out.json()["agent"]) == ("connected", "agent.test")
    out = await env.http.post(f"{CONTROL}/acme/calls/{call_id}", json={"action": "hang_up"})
    assert out.json()["state"] == "completed"
    again = await env.http.post(f"{CONTROL}/acme/calls/{call_id}", json={"action": "hang_up"})
    assert again.status_code == 409
    late = await env.http.post(f"{CONTROL}/acme/calls/{call_id}", json={"action": "answer"})
    assert late.status_code == 409
    assert (await _call(env, call_id))["state"] == "completed"  # refused actions change nothing
    bad = await env.http.post(f"{CONTROL}/acme/calls/{call_id}", json={"action": "transfer"})
    assert bad.status_code == 400
    missing = await env.http.post(f"{CONTROL}/acme/calls/nope", json={"action": "answer"})
    assert missing.status_code == 404


async def test_callee_behaviour_can_change_at_run_time(sng: Sng) -> None:
    resp = await sng.http.put(f"{CONTROL}/acme/callees/777", json={"outcome": "busy", "busy_after": 2})
    assert resp.status_code == 200
    assert resp.json()["outcome"] == "busy"
    call_id = await _place(sng, "/agents/call/", {**AGENT_CALL, "destination": "777"})
    await sng.advance(3)
    assert (await _call(sng, call_id))["state"] == "busy"


async def test_calls_are_part_of_the_emulator_state(sng: Sng) -> None:
    call_id = await _place(sng, "/agents/call/", AGENT_CALL)
    await sng.advance(1)
    resp = await sng.http.get("/_emulator/state")
    assert resp.status_code == 200
    calls = resp.json()["store"]["sangoma"]["acme"]["state"]["calls"]
    assert calls[call_id]["state"] == "ringing"
