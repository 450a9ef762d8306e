"""The dashboard in a real browser (issue 14 §2): Debian's chromium driven by Playwright against a real cxemu
server (`conftest.py`). Each test drives one view the way a demo audience would and checks what they would
see, without a reload where the page is meant to be live; any console error fails the test."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.procs import ServerProcess
from tests.ui.conftest import ROOT, UI, serve, shot

pytestmark = pytest.mark.server

EBE = "/chat-gateway/v1"
SCREENSHOT = ROOT / "docs" / "dashboard.png"
"""The README's screenshot: rewritten by `test_timeline_shows_the_conversation_live` when
`CXEMU_UPDATE_SCREENSHOT=1`."""


def provision(api: httpx.Client, tenant: str) -> dict[str, Any]:
    r = api.post("/_emulator/tenants", json={"tenant": tenant})
    assert r.status_code == 201, r.text
    creds: dict[str, Any] = r.json()["credentials"]
    return creds


def conversation(api: httpx.Client, creds: dict[str, Any], name: str = "James Jones") -> str:
    """An 8x8 chat a customer opens on the tenant's channel, queued."""
    ebe = creds["eightbyeight"]
    r = api.post(
        f"{EBE}/conversations",
        json={
            "channelId": ebe["channelId"],
            "user": {"name": name},
            "assignment": {"type": "queue", "id": ebe["queues"][0]},
        },
        headers={"x-api-key": ebe["apiKey"]},
    )
    assert r.status_code == 202, r.text
    cid: str = r.json()["conversationId"]
    return cid


def test_clock_advances_from_the_page(page: Any, server: ServerProcess, api: httpx.Client) -> None:
    provision(api, "clocky")
    page.goto(f"{server.url}{UI}/clock?tenant=clocky")
    before = api.get("/_emulator/clock", params={"tenant": "clocky"}).json()
    page.wait_for_selector(f"section[data-tenant=clocky] .now:text('{before['iso']}')")
    page.fill("input[name=seconds]", "90")
    page.click("#clock-controls button[type=submit]")
    after = None
    page.wait_for_selector("#clock-result:text('timers run')")
    after = api.get("/_emulator/clock", params={"tenant": "clocky"}).json()
    assert after["now"] == pytest.approx(before["now"] + 90)
    page.wait_for_selector(f"section[data-tenant=clocky] .now:text('{after['iso']}')")
    assert "advance" in page.inner_text("#curl")


def test_chaos_switch_from_the_page(page: Any, server: ServerProcess, api: httpx.Client) -> None:
    provision(api, "chaotic")
    page.goto(f"{server.url}{UI}/chaos")
    page.wait_for_selector("#chaos-now table")
    page.fill("#chaos-form input[name=tenant]", "chaotic")
    page.fill("#chaos-form input[name=expires_in]", "60")
    page.fill("#chaos-form input[name=drop_first]", "1")
    page.click("#chaos-form button[type=submit]")
    page.wait_for_selector("#chaos-result:text('set for chaotic')")
    own = api.get("/_emulator/chaos").json()["tenants"]["chaotic"]
    assert own["drop_first"] == 1
    now = api.get("/_emulator/clock", params={"tenant": "chaotic"}).json()["now"]
    assert own["expires_at"] == pytest.approx(now + 60)
    row = page.wait_for_selector("#chaos-tenants tr[data-tenant=chaotic]")
    assert row.inner_text().count("drop_first") == 1
    page.click("#chaos-tenants tr[data-tenant=chaotic] button")
    page.wait_for_selector("#chaos-result:text('cleared for chaotic')")
    page.wait_for_selector("#chaos-tenants tr[data-tenant=chaotic]", state="detached")
    assert "chaotic" not in api.get("/_emulator/chaos").json()["tenants"]


def test_a_pasted_scenario_runs_to_its_report(page: Any, server: ServerProcess) -> None:
    text = (ROOT / "scenarios" / "eightbyeight" / "01_queue_agent_chat_end.yaml").read_text(encoding="utf-8")
    page.goto(f"{server.url}{UI}/scenarios")
    page.fill("#scenario-text", text)
    page.fill("#scenario-form input[name=tenant]", "pasted")
    page.click("#scenario-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/_emulator/ui/scenarios/[^/]+$"))
    page.wait_for_selector("#scenario-status:text-is('passed')", timeout=90_000)
    report = page.inner_text("#scenario-report")
    assert "Queue to agent to chat to end" in report
    assert page.locator("tr.step[data-status=passed]").count() == page.locator("tr.step").count()
    shot(page, "scenario-report")


def test_the_admin_cookie_flow(page: Any, tmp_path: Path) -> None:
    token = "dashboard-admin-token-0123456789"
    proc = serve(tmp_path, "--admin-token", token)
    try:
        page.goto(f"{proc.url}{UI}/?token={token}")
        assert page.url == f"{proc.url}{UI}/", "the token leaves the address bar"
        page.wait_for_selector("h1:text('Tenants')")
        page.fill("#provision input[name=tenant]", "cookie-co")
        page.click("#provision button[type=submit]")
        page.wait_for_selector("tr.tenant[data-tenant=cookie-co]")
        with httpx.Client(base_url=proc.url) as api:
            tenants = api.get("/_emulator/tenants", headers={"Authorization": f"Bearer {token}"}).json()["tenants"]
            assert {"vendor": "eightbyeight", "tenant": "cookie-co"} in tenants
            assert api.get(f"{UI}/").status_code == 401
    finally:
        page.goto("about:blank")  # close the page's event stream before its server goes
        proc.terminate()


def run_until_idle(api: httpx.Client, tenant: str) -> None:
    r = api.post("/_emulator/clock/run-until-idle", params={"tenant": tenant}, json={})
    assert r.status_code == 200, r.text


def test_a_request_appears_live_in_the_journal_and_the_timeline(
    page: Any, server: ServerProcess, api: httpx.Client
) -> None:
    creds = provision(api, "live")
    page.goto(f"{server.url}{UI}/journal?tenant=live")
    page.wait_for_selector("#live-status[data-state=live]")
    cid = conversation(api, creds)
    page.wait_for_selector(f"#journal tr.entry-row[data-kind=request]:has-text('POST {EBE}/conversations')")

    page.goto(f"{server.url}{UI}/subjects?tenant=live")
    page.click(f"tr.subject[data-subject='{cid}'] a")
    page.wait_for_selector("#timeline .entry[data-party=integration]")
    page.wait_for_selector("#live-status[data-state=live]")
    shown = page.locator("#timeline .entry").count()
    run_until_idle(api, "live")  # it is queued, a simulated agent joins and greets, every webhook is sent
    page.wait_for_function(f"document.querySelectorAll('#timeline .entry').length > {shown}")
    page.wait_for_selector("#timeline .entry[data-party=integration]:has-text('MEMBERS_CHANGED → 200')")
    page.wait_for_selector("#rows .state:not(:text-is('created'))")  # the header follows the conversation
    page.click("#timeline .entry:has(.kind:text-is('attempt')) summary")
    page.wait_for_selector("#timeline .entry[open] pre")
    page.wait_for_selector("#timeline svg.arrows path[marker-end]")
    shot(page, "timeline")
    if os.environ.get("CXEMU_UPDATE_SCREENSHOT") == "1":
        page.click("#timeline .entry[open] summary")
        page.set_viewport_size({"width": 1280, "height": 900})
        shot(page, "dashboard", SCREENSHOT)


def test_a_delivery_redelivered_re_signed_shows_a_new_attempt(
    page: Any, server: ServerProcess, api: httpx.Client
) -> None:
    creds = provision(api, "redo")
    conversation(api, creds)
    run_until_idle(api, "redo")
    first = api.get("/_emulator/deliveries", params={"tenant": "redo", "vendor": "eightbyeight"}).json()
    delivery = first["deliveries"][0]
    page.goto(f"{server.url}{UI}/deliveries/{delivery['id']}")
    page.wait_for_selector("#signature .verified.ok")
    page.wait_for_selector("#live-status[data-state=live]")
    page.click("#redeliver button[data-mode=re_sign]")
    page.wait_for_selector("#redeliver-result a.new-delivery")
    again = page.inner_text("#redeliver-result a.new-delivery")
    run_until_idle(api, "redo")
    page.wait_for_selector(f"#redeliveries tr[data-delivery='{again}'] .attempt.ok")
    found = api.get(f"/_emulator/deliveries/{again}").json()
    assert found["redelivery_of"] == delivery["id"]
    assert found["attempts"][0]["status"] == 200
    assert "redeliver" in page.inner_text("#curl")
