"""Timing assertions that hold on a server shared by parallel tests: each test's tenant has its own timeline.

Every test here runs on the pytest plugin's per-test tenant, moves only its own timeline (`cxemu.advance`)
and asserts exact instants: no agent before `join_delay`, a webhook retry at exactly 1 s then 10 s, a CM
status report at its configured delay, a Samespace digits step timing out. Each test starts by checking that
its timeline stands at the virtual start, whatever ran before it. The module runs in-process in `make test`
(the plugin's own server) and, from `test_shared_server.py`, under `pytest -n 4` and `-n 8` against one
`cxemu serve --clock virtual` (`--cxemu-url`), where the tests of every worker move time at once: with one
clock for the whole server they would see each other's time.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from emulator.core.clock import DEFAULT_VIRTUAL_START as START
from emulator.core.clock import iso
from emulator.pytest_plugin import CxemuHandle, WebhookSink

pytestmark = pytest.mark.server

CONVERSATION = {"channelId": "1", "user": {"name": "Ann"}, "assignment": {"type": "queue", "id": "100"}}
NUMBER = "917507161643"


def fresh(cxemu: CxemuHandle, vendor: str) -> dict[str, Any]:
    """The test's tenant in `vendor`; its timeline has not moved yet."""
    creds = cxemu.credentials(vendor)
    clock = cxemu.clock()
    assert (clock["tenant"], clock["now"], clock["pending_timers"]) == (cxemu.tenant, START, 0)
    return creds


def behaviour(cxemu: CxemuHandle, vendor: str, **changes: Any) -> None:
    r = cxemu.http.put(f"/_emulator/vendors/{vendor}/tenants/{cxemu.tenant}/behaviour", json=changes)
    assert r.status_code == 200, r.text


def ms(seconds: float) -> int:
    """An 8x8 body timestamp `seconds` after the start."""
    return round(START * 1000) + round(seconds * 1000)


def eight(cxemu: CxemuHandle) -> httpx.Client:
    key = fresh(cxemu, "eightbyeight")["apiKey"]
    return httpx.Client(base_url=cxemu.url, headers={"x-api-key": key}, timeout=30)


def start_conversation(http: httpx.Client) -> str:
    r = http.post("/chat-gateway/v1/conversations", json=CONVERSATION)
    assert r.status_code == 202, r.text
    return str(r.json()["conversationId"])


def joins(cxemu: CxemuHandle) -> list[dict[str, Any]]:
    found = cxemu.deliveries(event="MEMBERS_CHANGED")
    return [d["body"] for d in found if d["body"]["data"]["change"] == "joined"]


# -- 8x8: no agent before join_delay ----------------------------------------------------------------------


@pytest.mark.parametrize("join_delay", [0.5, 1, 2, 3, 5, 8, 13, 21])
def test_no_agent_joins_before_join_delay(cxemu: CxemuHandle, join_delay: float) -> None:
    with eight(cxemu) as http:
        behaviour(cxemu, "eightbyeight", join_delay=join_delay)
        conv = start_conversation(http)
    queued_at = 0.2  # interaction_delay: created -> active + QUEUED

    cxemu.advance(queued_at + join_delay - 0.001)
    assert joins(cxemu) == []
    assert [d["body"]["timestamp"] for d in cxemu.deliveries(event="QUEUED")] == [ms(queued_at)]

    step = cxemu.advance(0.001)
    assert step["now"] == pytest.approx(START + queued_at + join_delay)
    [joined] = joins(cxemu)
    assert (joined["conversationId"], joined["timestamp"]) == (conv, ms(queued_at + join_delay))


# -- 8x8: a failed webhook is retried exactly 1 s, then 10 s later -------------------------------------------


@pytest.mark.parametrize("offset", [0, 0.5, 1, 7, 60, 600, 3600, 86400])
def test_a_failed_webhook_is_retried_after_exactly_1s_then_10s(
    cxemu: CxemuHandle, webhook_sink: WebhookSink, offset: float
) -> None:
    webhook_sink.respond_with(503, times=2)
    with eight(cxemu) as http:
        hook = {"name": "t", "uri": webhook_sink.url_for("/hook"), "version": "Chat Gateway v1.0"}
        assert http.put("/chat-gateway/v1/webhooks/1", json=hook).status_code == 200
        cxemu.advance(offset)
        conv = start_conversation(http)
    t0 = START + offset

    def attempts() -> list[tuple[int, float]]:
        [created] = [d for d in cxemu.deliveries(subject=conv) if d["body"]["data"].get("state") == "created"]
        return [(a["status"], a["at"]) for a in created["attempts"]]

    cxemu.advance(0.999)
    assert attempts() == [(503, t0)]
    cxemu.advance(0.001)
    assert attempts() == [(503, t0), (503, pytest.approx(t0 + 1))]
    cxemu.advance(9.999)
    assert len(attempts()) == 2
    cxemu.advance(0.001)
    assert attempts() == [(503, t0), (503, pytest.approx(t0 + 1)), (200, pytest.approx(t0 + 11))]
    created = [r for r in webhook_sink.requests if b'"created"' in r.body]
    assert [r.headers["x-8x8-retry"] for r in created] == ["0", "1", "2"]
    assert len({r.body for r in created}) == 1


# -- CM.com: a status report at its configured delay -------------------------------------------------------


@pytest.mark.parametrize("delivered_after", [1, 2, 3.5, 6, 10, 30, 120, 900])
def test_a_status_report_comes_at_its_configured_delay(cxemu: CxemuHandle, delivered_after: float) -> None:
    creds = fresh(cxemu, "cmcom")
    behaviour(cxemu, "cmcom", accepted_after=0.5, delivered_after=delivered_after, read_after=None)
    message = {"from": "MyBrand", "to": [{"number": "0031612345678"}], "body": {"type": "auto", "content": "Hi"}}
    body = {"messages": {"authentication": {"productToken": creds["productToken"]}, "msg": [message]}}
    sent = cxemu.http.post(creds["gateway"], json=body)
    assert (sent.status_code, sent.json()["errorCode"]) == (200, 0)

    def reports() -> list[tuple[str, float]]:
        found = cxemu.deliveries(vendor="cmcom", event="StatusReport")
        return [(d["body"]["messages"]["msg"]["status"]["code"], d["attempts"][0]["at"]) for d in found]

    cxemu.advance(delivered_after - 0.25)
    assert reports() == [("0", START + 0.5)]  # accepted
    cxemu.advance(0.25)
    assert reports() == [("0", START + 0.5), ("2", pytest.approx(START + delivered_after))]  # delivered


# -- Samespace: a digits step times out ----------------------------------------------------------------------


@pytest.mark.parametrize("digit_timeout", [1, 2, 4, 5, 10, 15, 30, 60])
def test_a_digits_step_without_input_times_out(cxemu: CxemuHandle, digit_timeout: float) -> None:
    creds = fresh(cxemu, "samespace")
    numbers = f"/_emulator/vendors/samespace/tenants/{cxemu.tenant}/numbers/{NUMBER}"
    assert cxemu.http.put(numbers, json={"dtmf": "none"}).status_code == 200
    behaviour(cxemu, "samespace", digit_timeout=digit_timeout)
    flow = [
        {"id": "0", "type": "call", "number": NUMBER, "caller_id": "123456", "next_step": "menu"},
        {"id": "menu", "type": "digits", "count": 1, "variable": "choice", "next_step": {"1": "yes"}},
        {"id": "yes", "type": "play", "text": "one two"},
    ]
    auth = {"cloud_id": creds["cloud_id"], "auth_token": creds["auth_token"]}
    r = cxemu.http.post(creds["flow_url"], json={**auth, "flow": flow})
    assert r.status_code == 200, r.text
    call_id = r.json()["call_id"]
    answered = 6.0  # two rings of 3 s

    def call() -> dict[str, Any]:
        got = cxemu.http.get(f"/api/public/v1/call/{call_id}", params=auth)
        assert got.status_code == 200, got.text
        data: dict[str, Any] = got.json()["call"]
        return data

    cxemu.advance(answered + digit_timeout - 0.01)
    waiting = call()
    assert (waiting["status"], waiting["current_step"], waiting["steps"][1]["ended_at"]) == ("answered", "menu", None)
    cxemu.advance(0.01)
    done = call()
    assert (done["status"], done["end_reason"]) == ("completed", "no_input")
    menu = done["steps"][1]
    assert (menu["result"], menu["input"]) == ("timeout", "")
    assert (menu["started_at"], menu["ended_at"]) == (
        iso(START + answered, millis=True),
        iso(START + answered + digit_timeout, millis=True),
    )
