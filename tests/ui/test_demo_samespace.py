"""The Samespace demo, clicked in a real browser: the phone is set to ring until answered by hand, a menu call is
placed as the integration places it, the person answers, presses 1 and the flow plays its branch to the end.
Every action shows its curl; no console error."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.procs import ServerProcess
from tests.ui.conftest import shot
from tests.ui.consoles import create_tenant, open_console, press

pytestmark = pytest.mark.server

TENANT = "demo-samespace"


def test_the_phone_rings_is_answered_and_keys_in_a_choice(page: Any, server: ServerProcess, api: httpx.Client) -> None:
    open_console(page, server, "samespace", TENANT)
    create_tenant(page)
    page.reload()  # the place-call form now carries the cloud's token
    page.wait_for_selector("#console #state")
    press(page, "#ring-by-hand button:text('Ring until I answer')")
    press(page, "#place-call button")
    assert "/api/public/v1/call/flow" in page.inner_text("#curl")
    call = page.inner_text("#pick-subject")
    row = f"#state tr[data-pick=subject][data-id='{call}']"
    api.post("/_emulator/clock/advance", params={"tenant": TENANT}, json={"seconds": 4})
    page.click("#refresh")
    page.wait_for_selector(f"{row}:has-text('ringing')")
    press(page, "#answer button")
    page.wait_for_selector(f"{row}:has-text('answered')")
    press(page, "#keypad button", **{"#keypad input[name=digits]": "1"})
    shot(page, "act-samespace")
    api.post("/_emulator/clock/run-until-idle", params={"tenant": TENANT}, json={})
    page.click("#refresh")
    page.wait_for_selector(f"{row}:has-text('completed')")
    page.wait_for_selector(f"{row}:has-text('flow_end')")
    metadata = api.get(f"/api/public/v1/call/{call}", params={"cloud_id": TENANT, "auth_token": _token(api)})
    assert metadata.json()["call"]["variables"] == {"choice": "1"}


def _token(api: httpx.Client) -> str:
    return str(api.get(f"/_emulator/vendors/samespace/tenants/{TENANT}").json()["auth_token"])
