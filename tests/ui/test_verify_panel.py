"""The "Verify a receiver" panel in a real browser: the form runs the battery against a real receiver and the
scorecard appears, its failure listing the requests that made it; a bad URL is said on the page."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from tests.support.procs import ServerProcess
from tests.ui.conftest import UI
from tests.verify.receivers import Receiver, serve

pytestmark = pytest.mark.server


def test_the_form_runs_the_battery_and_shows_the_scorecard(page: Any, server: ServerProcess) -> None:
    rx = Receiver("eightbyeight", server.url, "panel", flaw="body-hash-dedupe")
    with serve(rx):
        page.goto(f"{server.url}{UI}/verify")
        page.select_option("#verify-form select[name=vendor]", "eightbyeight")
        page.fill("#verify-form input[name=url]", rx.url)
        page.fill("#verify-form input[name=tenant]", "panel")
        page.fill("#verify-form input[name=settle]", "0.3")
        page.click("#verify-form button[type=submit]")
        page.wait_for_selector("#verify-status:text('1 check(s) failed')", timeout=180_000)
    failed = page.inner_text("#verify-results tr[data-check=distinct-events-kept]")
    assert "fail" in failed
    assert "journal" in failed
    assert "pass" in page.inner_text("#verify-results tr[data-check=retry-deduplicated]")
    assert "not-applicable" in page.inner_text("#verify-results tr[data-check=stale-timestamp-rejected]")
    assert "tenant panel, oracle journal" in page.inner_text("#verify-summary")
    requests = page.query_selector_all(".verify-failure[data-check=distinct-events-kept] details")
    assert [r.inner_text().split(" — ")[0] for r in requests] == ["event 1", "event 2: same body, another event id"]
    assert page.inner_text("#verify-runs").count("1 fail") == 1
    assert page.get_attribute("#verify-journal", "href") == f"{UI}/journal?tenant=panel&kind=attempt"


def test_a_receiver_nothing_answers_at_is_said_on_the_page(browser: Any, server: ServerProcess) -> None:
    """(Its own page: the browser logs the 422 answer as a console error, the one error this page expects.)"""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    try:
        page.goto(f"{server.url}{UI}/verify")
        page.fill("#verify-form input[name=url]", f"http://127.0.0.1:{port}/hook")
        page.click("#verify-form button[type=submit]")
        status = page.wait_for_selector("#verify-status.bad", timeout=60_000)
        assert status.inner_text().startswith("HTTP 422: url: nothing answers at 127.0.0.1:")
        assert page.is_hidden("#verify-card")
    finally:
        context.close()
    assert errors == ["Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)"]
