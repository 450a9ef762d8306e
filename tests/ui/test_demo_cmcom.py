"""The CM.com demo, clicked in a real browser: an end user writes on WhatsApp, a Customer Contact agent takes the
chat over and replies, the end user answers with a button and sends a photo, the agent hands the chat back to the
bot. Every action shows its curl; no console error."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.procs import ServerProcess
from tests.ui.conftest import shot
from tests.ui.consoles import create_tenant, open_console, press

pytestmark = pytest.mark.server

TENANT = "demo-cmcom"


def test_end_user_and_agent_talk_then_hand_back(page: Any, server: ServerProcess) -> None:
    open_console(page, server, "cmcom", TENANT)
    create_tenant(page)
    press(page, "#end-user-send button[data-fields='channel,name,text']",
          **{"#end-user-send input[name=text]": "Hi, I need help"})  # fmt: skip
    assert "/end-users/%2B31612345678/messages" in page.inner_text("#curl")
    chat = page.inner_text("#pick-subject")
    item = f"#state [data-pick=subject][data-id='{chat}']"
    page.wait_for_selector(f"{item} li[data-party=customer]:has-text('Hi, I need help')")
    press(page, "#agent-act button[value=take_over]")
    press(page, "#agent-act button[value=say]", **{"#agent-act input[name=text]": "Support here, what happened?"})
    page.wait_for_selector(f"{item} li[data-party=agent]:has-text('Support here, what happened?')")
    press(page, "#end-user-send button[data-fields='channel,name,button.id,button.title']")
    page.wait_for_selector(f"{item} li[data-party=customer] .kind:has-text('button')")
    press(page, "#end-user-send button[data-fields='channel,name,text,media.mediaUri,media.contentType']",
          **{"#end-user-send input[name=text]": "the parcel"})  # fmt: skip
    page.wait_for_selector(f"{item} li[data-party=customer]:has-text('the parcel')")
    shot(page, "act-cmcom")
    press(page, "#agent-act button[value=hand_back]")
    page.wait_for_selector(f"{item} .badge:text-is('CmBot')")
