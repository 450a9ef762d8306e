"""Save as scenario from journal entries (SPEC §1's shape): which entries become steps, the waits between them,
the expected webhooks, and a file that loads and runs. The round trip against a live server is in
`tests/server/test_export_roundtrip.py`."""

from __future__ import annotations

from typing import Any

import pytest

from emulator.app import create_app
from emulator.core.runtime import Emulator
from emulator.core.settings import Settings
from emulator.scenarios.export import build, stable, to_yaml
from emulator.scenarios.report import render
from tests.scenarios.conftest import load, plugins, run_text

V, T = "eightbyeight", "acme"
API = "/chat-gateway/v1"
CONSOLE = f"/_emulator/vendors/{V}/tenants/{T}"


def entry(n: int, kind: str, at: float, **data: Any) -> dict[str, Any]:
    vendor = data.pop("vendor", V)
    tenant = data.pop("tenant", T)
    return {"id": n, "kind": kind, "type": "", "vendor": vendor, "tenant": tenant, "subject": None,
            "party": None, "at": at, "cause": None, "data": data}  # fmt: skip


def request(n: int, at: float, method: str, path: str, body: Any = "", status: int = 200, **kw: Any) -> dict[str, Any]:
    headers = {"x-api-key": T, "content-type": "application/json", "user-agent": "curl/8"}
    return entry(n, "request", at, method=method, path=path, query=kw.pop("query", ""), headers=headers, body=body,
                 status=status, **kw)  # fmt: skip


def control(n: int, at: float, method: str, path: str, body: Any = None, query: str = "", **kw: Any) -> dict[str, Any]:
    return entry(n, "control", at, method=method, path=path, query=query, body=body, status=200, **kw)


def doc_of(entries: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"vendor": V, "tenant": T, "seed": 7, "now": None, "bodies": {}}
    return build(entries, **{**args, **kw})


CONV = {"channelId": "1", "user": {"name": "Ann"}, "assignment": {"type": "queue", "id": "100"}}


def test_requests_and_hand_actions_become_steps_with_the_waits_between_them() -> None:
    entries = [
        request(1, 100.0, "POST", f"{API}/conversations", CONV, 202),
        entry(2, "event", 100.0, kind_="x"),
        control(3, 104.5, "POST", f"{CONSOLE}/conversations/c1/agent", {"action": "join"}),
        control(4, 105.0, "POST", "/_emulator/clock/advance", {"seconds": 3}, query=f"tenant={T}", vendor=None),
        request(5, 108.0, "GET", f"{API}/conversations/c1", query="x=1", status=404),
    ]
    doc = doc_of(entries, now=120.25)
    assert (doc["vendor"], doc["tenant"], doc["seed"]) == (V, T, 7)
    assert doc["steps"] == [
        {"request": {"method": "POST", "path": f"{API}/conversations", "headers": {"content-type": "application/json"},
                     "json": CONV, "expect": {"status": 202}}},
        {"advance": 4.5},
        {"request": {"method": "POST", "path": f"{CONSOLE}/conversations/c1/agent",
                     "json": {"action": "join"}, "expect": {"status": 200}}},
        {"advance": 3.5},
        {"request": {"method": "GET", "path": f"{API}/conversations/c1?x=1",
                     "headers": {"content-type": "application/json"}, "expect": {"status": 404}}},
        {"advance": 12.25},
    ]  # fmt: skip
    assert doc["description"].endswith("Left out: clock move (1).")


def test_the_export_starts_after_the_last_reset_of_the_tenant() -> None:
    entries = [
        request(1, 0.0, "POST", f"{API}/conversations", CONV, 202),
        control(2, 1.0, "POST", "/_emulator/reset", query=f"tenant={T}"),
        request(3, 2.0, "GET", f"{API}/webhooks"),
        control(4, 3.0, "POST", "/_emulator/reset", query="tenant=other"),
        control(5, 3.0, "POST", "/_emulator/reset", query=f"tenant={T}&vendor=cmcom"),
    ]
    steps = doc_of(entries)["steps"]
    assert [s["request"]["path"] for s in steps if "request" in s] == [f"{API}/webhooks"]


def test_other_tenants_vendors_and_control_calls_are_left_out_and_named() -> None:
    entries = [
        request(1, 0.0, "GET", f"{API}/webhooks", tenant="other"),
        request(2, 0.0, "GET", "/v1.0/message", vendor="cmcom"),
        control(3, 0.0, "PUT", "/_emulator/chaos", {"duplicate": 1}),
        control(4, 0.0, "POST", "/_emulator/deliveries/dlv_1/redeliver"),
        control(5, 0.0, "POST", "/_emulator/deliveries/dlv_2/redeliver"),
        control(6, 0.0, "POST", "/_emulator/vendors/cmcom/tenants/acme/chats/x/agent", {"action": "say"}),
        control(7, 0.0, "PUT", f"{CONSOLE}/behaviour", {"auto": False}),
    ]
    doc = doc_of(entries)
    assert [s["request"]["path"] for s in doc["steps"]] == [f"{CONSOLE}/behaviour"]
    assert doc["description"].endswith("Left out: chaos change (1), other control call (1), redelivery (2).")


def test_webhook_targets_and_the_sink_become_the_receiver() -> None:
    hook = {"name": "mine", "uri": "http://127.0.0.1:3000/hook", "version": "Chat Gateway v1.0"}
    sink = {"name": "sink", "uri": "http://localhost:8080/_emulator/sink/eightbyeight/acme"}
    entries = [
        request(1, 0.0, "PUT", f"{API}/webhooks/1", hook),
        request(2, 0.0, "PUT", f"{API}/webhooks/2", sink),
        entry(3, "delivery", 0.0, delivery_id="dlv_1", url="http://127.0.0.1:3000/hook"),
    ]
    steps = doc_of(entries, bodies={"dlv_1": {"eventType": "QUEUED"}})["steps"]
    assert steps[0]["request"]["json"]["uri"] == "{{webhook_url}}"
    assert steps[1]["request"]["json"]["uri"] == "{{webhook_url}}/eightbyeight/acme"
    assert steps[2] == {"expect_webhook": {"match": {"eventType": "QUEUED"}, "within": 0}}


def test_expected_webhooks_leave_out_instants_and_keep_ids_in_order() -> None:
    body = {"eventType": "MESSAGE", "conversationId": "c1", "timestamp": 1767225600000,
            "data": {"createdAt": "2026-01-01T00:00:00Z", "text": "Hi", "sender": {"id": "ag", "type": "agent"},
                     "items": [{"updated_at": 1, "id": 3}], "timeUtc": "x", "format": "f", "chat": "c"}}  # fmt: skip
    assert stable(body) == {
        "eventType": "MESSAGE",
        "conversationId": "c1",
        "data": {"text": "Hi", "sender": {"id": "ag", "type": "agent"}, "items": [{"id": 3}], "format": "f",
                 "chat": "c"},
    }  # fmt: skip
    entries = [
        entry(1, "delivery", 0.0, delivery_id="dlv_2"),
        entry(2, "delivery", 0.0, delivery_id="dlv_1"),
        entry(3, "delivery", 0.0, delivery_id="dlv_gone"),
    ]
    steps = doc_of(entries, bodies={"dlv_1": {"n": 1}, "dlv_2": {"n": 2}})["steps"]
    assert [s["expect_webhook"]["match"] for s in steps] == [{"n": 2}, {"n": 1}]


def test_a_vendor_rewrite_may_drop_or_change_a_request() -> None:
    entries = [request(1, 0.0, "POST", "/oauth/token", "grant_type=client_credentials"), request(2, 1.0, "GET", "/x")]
    doc = doc_of(entries, rewrite=lambda spec: None if spec["path"] == "/oauth/token" else {**spec, "path": "/y"})
    assert doc["steps"] == [{"request": {"method": "GET", "path": "/y", "headers": {"content-type": "application/json"},
                                         "expect": {"status": 200}}}]  # fmt: skip
    assert "vendor request a scenario does itself (1)" in doc["description"]


def test_a_text_body_stays_text() -> None:
    entries = [request(1, 0.0, "POST", "/oauth/token", "grant_type=client_credentials&scope=a")]
    assert doc_of(entries)["steps"][0]["request"]["body"] == "grant_type=client_credentials&scope=a"


async def test_the_exported_file_loads_and_replays() -> None:
    entries = [
        control(1, 10.0, "PUT", f"{CONSOLE}/behaviour", {"auto": False}),
        request(2, 10.0, "POST", f"{API}/conversations", CONV, 202),
        request(3, 12.0, "GET", f"{API}/conversations/nope", status=404),
    ]
    text = to_yaml(doc_of(entries, now=20.0))
    loaded = load(text, "saved.yaml")
    assert loaded.model.tenant == T
    result = await run_text(text, "saved.yaml")
    assert result.status == "passed", render(result)
    assert [s.kind for s in result.steps] == ["request", "request", "advance", "request", "advance"]
    assert result.now - result.started_at == pytest.approx(10.0)


async def test_a_configured_tenant_is_exported_as_its_config_makes_it() -> None:
    queues = [{"id": "7", "name": "Help", "agents": [{"id": "a1", "name": "Jo"}]}]
    tenants = {"acme": {"tenant_id": "T1", "queues": queues, "behaviour": {"join_delay": 5}}}
    settings = Settings.load({}, {"clock": "virtual", "vendors": {"eightbyeight": {"tenants": tenants}}})
    emu: Emulator = create_app(settings).state.emulator
    setup = plugins()["eightbyeight"].scenario.export_setup(emu, "acme")  # type: ignore[union-attr]
    assert setup["tenant_id"] == "T1"
    agents = [{"id": "a1", "name": "Jo", "capacity": 3}]
    assert setup["queues"] == [{"id": "7", "name": "Help", "agents": agents, "out_of_hours": "queue"}]
    assert "schedules" not in setup
    assert setup["behaviour"]["join_delay"] == 5.0
    assert plugins()["eightbyeight"].scenario.export_setup(emu, "open-auth-tenant") == {}  # type: ignore[union-attr]


async def test_a_configured_tenants_schedules_are_exported_and_replay() -> None:
    queues = [{"id": "7", "name": "Help", "agents": [{"id": "a1", "name": "Jo"}], "schedule": "Office"}]
    schedules = [{"name": "Office", "time_zone": "Europe/London"}]
    tenants = {"acme": {"queues": queues, "schedules": schedules}}
    settings = Settings.load({}, {"clock": "virtual", "vendors": {"eightbyeight": {"tenants": tenants}}})
    emu: Emulator = create_app(settings).state.emulator
    setup = plugins()["eightbyeight"].scenario.export_setup(emu, "acme")  # type: ignore[union-attr]
    assert [s["name"] for s in setup["schedules"]] == ["Office"]
    assert setup["schedules"][0]["time_zone"] == "Europe/London"
    assert setup["queues"][0]["schedule"] == "Office"
    doc = {"name": "saved", "vendor": "eightbyeight", "tenant": "acme", "setup": setup, "steps": []}
    result = await run_text(to_yaml(doc), "saved.yaml")
    assert result.status == "passed", render(result)
