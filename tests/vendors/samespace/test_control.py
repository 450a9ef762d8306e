"""Hand actions and settings under /_emulator/vendors/samespace/..., and provisioning."""

from __future__ import annotations

from typing import Any

import pytest

from tests.vendors.samespace.conftest import API, CLOUD, CONTROL, Ss, SsFactory, body, call_step

MENU = (
    call_step(next_step=1),
    {"id": 1, "type": "digits", "count": 1, "variable": "v", "next_step": {"1": 2}},
    {"id": 2, "type": "play", "text": "one"},
)


async def test_tenant_view(ss: Ss) -> None:
    call_id = await ss.start(call_step())
    view = (await ss.control("GET", "")).json()
    assert view["cloud_id"] == CLOUD
    assert view["auth_token"] == "acme-token"
    assert view["calls"] == [call_id]
    assert view["behaviour"]["words_per_minute"] == 150.0


async def test_unknown_tenant_is_404(ss: Ss) -> None:
    resp = await ss.http.get(f"{CONTROL}/nobody")
    assert resp.status_code == 404
    assert resp.json()["error"] == "unknown_tenant"
    resp = await ss.http.post(f"{CONTROL}/nobody/calls/x/hangup")
    assert resp.status_code == 404


async def test_behaviour_changes_apply_to_new_calls(ss: Ss) -> None:
    resp = await ss.control("PUT", "/behaviour", {"ring_seconds": 1, "words_per_minute": 60})
    assert resp.status_code == 200, resp.text
    call_id = await ss.start(call_step(next_step=1), {"id": 1, "type": "play", "text": "two words"})
    await ss.idle()
    meta = await ss.metadata(call_id)
    assert (meta["answered_at"], meta["ended_at"]) == ("2026-01-01T00:00:02.000Z", "2026-01-01T00:00:04.000Z")


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("/behaviour", {"ring_seconds": -1}),
        ("/behaviour", {"nope": 1}),
        ("/behaviour", [1]),
        ("/numbers/5263", {"answer": "maybe"}),
        ("/numbers/5263", {"dtmf": ["12a"]}),
        ("/numbers/5263", {"dtmf": ["1" * 65]}),
        ("/numbers/5263", {"dtmf": ["1"] * 1001}),
        ("/settings", {"callback_url": "ftp://x"}),
        ("/settings", {"callback_url": "http://host:99999/cb"}),
        ("/behaviour", {"type_ahead": 65}),
        ("/behaviour", {"http_fail_fast": -1}),
    ],
    ids=[
        "negative",
        "unknown-field",
        "not-object",
        "bad-answer",
        "bad-dtmf",
        "dtmf-too-long",
        "dtmf-script-too-long",
        "bad-callback",
        "unusable-callback",
        "type-ahead-too-long",
        "negative-fail-fast",
    ],
)
async def test_bad_settings_are_400(ss: Ss, path: str, payload: Any) -> None:
    before = (await ss.control("GET", "")).json()
    resp = await ss.control("PUT", path, payload)
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_request"
    assert (await ss.control("GET", "")).json() == before  # nothing changed


@pytest.mark.parametrize("path", ["/behaviour", "/settings", "/numbers/5263"])
async def test_json_nested_too_deeply_is_400(ss: Ss, path: str) -> None:
    resp = await ss.http.put(f"{CONTROL}/{CLOUD}{path}", content=b"[" * 100_000 + b"]" * 100_000)
    assert resp.status_code == 400
    assert resp.json() == {"error": "invalid_request", "message": "the body is not valid JSON (nested too deeply)"}


async def test_set_a_number_by_hand(ss: Ss) -> None:
    resp = await ss.control("PUT", "/numbers/917507161643", {"answer": "busy"})
    assert resp.status_code == 200
    call_id = await ss.start(call_step())
    await ss.idle()
    assert (await ss.metadata(call_id))["status"] == "busy"


async def test_settings_set_callback_and_overrides(ss: Ss) -> None:
    resp = await ss.control("PUT", "/settings", {"callback_url": "http://127.0.0.1:1/cb", "http_overrides": {"a": "b"}})
    assert resp.status_code == 200
    assert (resp.json()["callback_url"], resp.json()["http_overrides"]) == ("http://127.0.0.1:1/cb", {"a": "b"})


async def test_digits_and_hangup_errors(ss: Ss) -> None:
    call_id = await ss.start(*MENU)
    bad = await ss.control("POST", f"/calls/{call_id}/digits", {"digits": "x"})
    assert bad.status_code == 400
    missing = await ss.control("POST", "/calls/nope/digits", {"digits": "1"})
    assert (missing.status_code, missing.json()["message"]) == (404, "Call not found")
    await ss.advance(7)
    assert (await ss.press(call_id, "1")).status_code == 200
    await ss.idle()
    again = await ss.control("POST", f"/calls/{call_id}/hangup")
    assert again.status_code == 409
    assert "already ended" in again.json()["message"]
    view = await ss.control("GET", f"/calls/{call_id}")
    assert view.json()["status"] == "completed"
    assert (await ss.control("GET", "/calls/nope")).status_code == 404


async def test_provisioning_gives_credentials_that_work(make_ss: SsFactory) -> None:
    ss = await make_ss(vendors={"samespace": {}}, auth="strict")
    resp = await ss.http.post("/_emulator/tenants", json={"tenant": "prov", "vendors": ["samespace"]})
    assert resp.status_code == 201, resp.text
    creds = resp.json()["credentials"]["samespace"]
    assert creds["cloud_id"] == "prov"
    assert len(creds["auth_token"]) == 32
    payload = {**body(call_step()), "cloud_id": "prov", "auth_token": creds["auth_token"]}
    placed = await ss.post_flow(payload)
    assert placed.status_code == 200, placed.text
    url = creds["metadata_url"].format(call_id=placed.json()["call_id"], **creds)
    assert url.startswith(f"{API}/call/")
    assert (await ss.http.get(url)).status_code == 200


async def test_a_person_answers_a_ringing_phone_by_hand(ss: Ss) -> None:
    """A phone that never answers by itself (`no-answer`) is picked up by hand: the flow runs from the call object,
    and the give-up timer of the unanswered call is stale (the call does not end as no-answer)."""
    await ss.control("PUT", "/numbers/917507161643", {"answer": "no-answer", "dtmf": "none"})
    call_id = await ss.start(call_step(next_step=1), {"id": 1, "type": "play", "text": "hello there"})
    early = await ss.control("POST", f"/calls/{call_id}/answer")
    assert (early.status_code, early.json()["detail"]) == (409, {"code": "not_ringing"})
    await ss.advance(5)
    resp = await ss.control("POST", f"/calls/{call_id}/answer")
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "answered"
    await ss.idle()
    meta = await ss.metadata(call_id)
    assert (meta["status"], meta["end_reason"]) == ("completed", "flow_end")
    assert meta["answered_at"] == "2026-01-01T00:00:05.000Z"
    again = await ss.control("POST", f"/calls/{call_id}/answer")
    assert (again.status_code, again.json()["detail"]) == (409, {"code": "call_ended"})
    missing = await ss.control("POST", "/calls/nope/answer")
    assert (missing.status_code, missing.json()["message"]) == (404, "Call not found")
