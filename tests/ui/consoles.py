"""Helpers for the consoles' browser demos (`test_demo_<vendor>.py`): open a console, press a button and wait for
its answer and the state it shows afterwards, all by selectors (never by time)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.support.procs import ServerProcess
from tests.ui.conftest import UI


def open_console(page: Any, server: ServerProcess, vendor: str, tenant: str) -> None:
    page.goto(f"{server.url}{UI}/act/{vendor}/{tenant}")
    page.wait_for_selector("#console #state")


def press(page: Any, button: str, status: int = 200, **fields: str) -> Any:
    """Fill `fields` (selector -> value), click `button`, wait for the answer `status` and the state refreshed
    after it; returns the answer's text."""
    for selector, value in fields.items():
        page.fill(selector, value)
    before = int(page.get_attribute("#state", "data-refreshed") or "0")
    page.evaluate("document.getElementById('result').removeAttribute('data-status')")
    page.click(button)
    page.wait_for_selector(f"#result[data-status='{status}']")
    page.wait_for_function(f"Number(document.getElementById('state').dataset.refreshed || 0) > {before}")
    return page.inner_text("#result")


def create_tenant(page: Any) -> None:
    """The console's "Create the tenant" button (a tenant that does not exist yet)."""
    press(page, "#provision button", 201)


def save_scenario(page: Any, folder: Path) -> dict[str, Any]:
    """Click "Save as scenario" and read the downloaded file."""
    with page.expect_download() as info:
        page.click("#save-scenario")
    target = folder / info.value.suggested_filename
    info.value.save_as(str(target))
    loaded: dict[str, Any] = yaml.safe_load(target.read_text(encoding="utf-8"))
    return loaded
