"""The 8x8 demo, clicked in a real browser: the customer starts a chat and writes, the agent joins from the desk
and replies, the conversation's timeline shows the webhook with its attempt, the delivery is redelivered re-signed,
and the whole session is saved as a scenario. Every action shows its curl; no console error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.procs import ServerProcess
from tests.ui.conftest import UI, shot
from tests.ui.consoles import open_console, press, save_scenario

pytestmark = pytest.mark.server

TENANT = "demo-8x8"


def test_customer_writes_agent_joins_and_replies(page: Any, server: ServerProcess, api: httpx.Client,
                                                 tmp_path: Path) -> None:  # fmt: skip
    open_console(page, server, "eightbyeight", TENANT)
    press(page, "#start-chat button", 202)
    conv = page.inner_text("#pick-subject")
    assert "x-api-key: demo-8x8" in page.inner_text("#curl")
    api.post("/_emulator/clock/advance", params={"tenant": TENANT}, json={"seconds": 1})  # queued
    press(page, "#customer-act button[value=say]", **{"#customer-act input[name=text]": "Where is my parcel?"})
    assert f"/conversations/{conv}/customer" in page.inner_text("#curl")
    press(page, "#agent-act button[value=join]")
    press(page, "#agent-act button[value=say]", **{"#agent-act input[name=text]": "It ships today."})
    page.wait_for_selector(f"#state [data-id='{conv}'] li[data-party=agent]:has-text('It ships today.')")
    page.wait_for_selector(f"#state [data-id='{conv}'] li[data-party=customer]:has-text('Where is my parcel?')")
    shot(page, "act-eightbyeight")

    saved = save_scenario(page, tmp_path)
    assert (saved["vendor"], saved["tenant"]) == ("eightbyeight", TENANT)
    paths = [s["request"]["path"] for s in saved["steps"] if "request" in s]
    assert paths[0] == "/chat-gateway/v1/conversations"
    assert paths[-1].endswith(f"/conversations/{conv}/agent")

    api.post("/_emulator/clock/run-until-idle", params={"tenant": TENANT}, json={})
    page.goto(f"{server.url}{UI}/timeline/eightbyeight/{TENANT}/{conv}")
    page.wait_for_selector("#timeline .entry[data-party=integration]")
    page.wait_for_selector("#timeline .entry[data-party=integration] .kind:text-is('attempt')")
    shot(page, "act-eightbyeight-timeline")

    redeliver_re_signed(page, server, api, conv)


def redeliver_re_signed(page: Any, server: ServerProcess, api: httpx.Client, conv: str) -> None:
    """The agent's reply, redelivered re-signed from its delivery page: a new delivery with an accepted attempt."""
    found = api.get("/_emulator/deliveries", params={"tenant": TENANT, "vendor": "eightbyeight", "subject": conv})
    said = next(d for d in found.json()["deliveries"] if d["body"]["data"].get("text") == "It ships today.")
    if api.get(f"/_emulator/deliveries/{said['id']}/signature").status_code == 404:
        pytest.skip("this server has no GET /deliveries/{id}/signature yet (SPEC §2, helper cli)")
    page.goto(f"{server.url}{UI}/deliveries/{said['id']}")
    page.wait_for_selector("#signature .verified.ok")
    page.click("#redeliver button[data-mode=re_sign]")
    page.wait_for_selector("#redeliver-result a.new-delivery")
    again = page.inner_text("#redeliver-result a.new-delivery")
    api.post("/_emulator/clock/run-until-idle", params={"tenant": TENANT}, json={})
    page.wait_for_selector(f"#redeliveries tr[data-delivery='{again}'] .attempt.ok")
    assert api.get(f"/_emulator/deliveries/{again}").json()["redelivery_of"] == said["id"]
