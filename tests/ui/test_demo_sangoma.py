"""The Sangoma demo, clicked in a real browser: a web-widget customer writes, an agent is assigned by hand and
replies, the customer answers; then a queue call the integration placed is answered on the soft-phone, taken by an
agent and hung up. Every action shows its curl; no console error."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.procs import ServerProcess
from tests.ui.conftest import shot
from tests.ui.consoles import create_tenant, open_console, press

pytestmark = pytest.mark.server

TENANT = "demo-sangoma"


def queue_call(api: httpx.Client) -> str:
    """What an integration does: a token with the queue-call scope, then `POST /queues/call/`."""
    creds = api.post("/_emulator/tenants", json={"tenant": TENANT, "vendors": ["sangoma"]}).json()["credentials"]
    grant = {"grant_type": "client_credentials", "scope": "cx.queue-calls"}
    auth = (creds["sangoma"]["client_id"], creds["sangoma"]["client_secret"])
    token = api.post("/oauth/token", auth=auth, data=grant).json()["access_token"]
    body = {"tenant_domain": creds["sangoma"]["tenant_domain"], "destination": "9001",
            "queue_name": creds["sangoma"]["queues"][0]}  # fmt: skip
    placed = api.post("/cx/api/v1/queues/call/", json=body, headers={"Authorization": f"Bearer {token}"})
    assert placed.status_code == 200, placed.text
    calls = api.get(f"/_emulator/vendors/sangoma/tenants/{TENANT}").json()["calls"]
    return str(calls[-1]["id"])


def test_widget_customer_and_agent_then_a_queue_call(page: Any, server: ServerProcess, api: httpx.Client) -> None:
    open_console(page, server, "sangoma", TENANT)
    create_tenant(page)
    press(page, "#start-widget button", **{"#start-widget input[name=text]": "Hi, is anyone there?"})
    conv = page.inner_text("#pick-subject")
    press(page, "#agent-act button[value=assign]")
    press(page, "#agent-act button[value=say]", **{"#agent-act input[name=text]": "Agent here, how can I help?"})
    press(page, "#customer-act button[value=say]", **{"#customer-act input[name=text]": "My order is late"})
    item = f"#state [data-pick=subject][data-id='{conv}']"
    page.wait_for_selector(f"{item} li[data-party=agent]:has-text('Agent here, how can I help?')")
    page.wait_for_selector(f"{item} li[data-party=customer]:has-text('My order is late')")
    page.wait_for_selector(f"{item} .badge:text-is('open')")
    assert f"/conversations/{conv}/customer" in page.inner_text("#curl")

    call = queue_call(api)
    api.post("/_emulator/clock/advance", params={"tenant": TENANT}, json={"seconds": 1.5})  # ringing
    page.click("#refresh")
    row = f"#state tr[data-pick=call][data-id='{call}']"
    page.wait_for_selector(f"{row}:has-text('ringing')")
    page.click(row)
    press(page, "#call-act button[value=answer]")
    page.wait_for_selector(f"{row}:has-text('in-queue')")
    press(page, "#call-act button[value=agent_answer]")
    page.wait_for_selector(f"{row}:has-text('connected')")
    shot(page, "act-sangoma")
    press(page, "#call-act button[value=hang_up]")
    page.wait_for_selector(f"{row}:has-text('completed')")
