"""The live journal under load, in a real browser: its stream is in display mode (the newest entries, twice a
second), so a burst reaches the page as its newest entries and a marked range of the ones passed over; "load
them" fetches those, and the page ends with every entry once, newest first, without a console error."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.server.test_feed_stream import add_items
from tests.support.procs import ServerProcess
from tests.ui.conftest import UI, serve, shot

pytestmark = pytest.mark.server

TENANT = "burst"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = serve(tmp_path_factory.mktemp("ui-load"), "--plugin", "tests.support.echo_vendor:PLUGIN")
    try:
        yield proc
    finally:
        proc.terminate()


def journal_ids(api: httpx.Client, after: int) -> list[int]:
    """Every id of the tenant's entries after `after`, oldest first (paged as a client must)."""
    out: list[int] = []
    while True:
        r = api.get("/_emulator/journal", params={"tenant": TENANT, "after": after, "limit": 1000})
        assert r.status_code == 200, r.text
        page = [int(e["id"]) for e in r.json()["entries"]]
        out += page
        if len(page) < 1000:
            return out
        after = page[-1]


def shown_ids(page: Any) -> list[int]:
    ids: list[int] = page.eval_on_selector_all("#journal tr.entry-row", "rows => rows.map(r => Number(r.dataset.id))")
    return ids


def test_a_burst_reaches_the_live_journal_as_its_newest_entries_and_a_range_to_load(
    page: Any, server: ServerProcess, api: httpx.Client
) -> None:
    page.goto(f"{server.url}{UI}/journal?tenant={TENANT}")
    page.wait_for_selector("#live-status[data-state=live]")
    add_items(api, TENANT, 50)  # while the page is live
    newest = journal_ids(api, 0)[-1]
    page.wait_for_selector(f"#journal tr.entry-row[data-id='{newest}']")

    page.click("#journal-pause")  # the presenter pauses to read; the load goes on
    page.wait_for_selector("#live-status[data-state=paused]")
    add_items(api, TENANT, 1000)  # 2,000 entries
    end = journal_ids(api, newest)[-1]
    page.click("#journal-pause")  # resumes after the last entry it has: the newest, and what it passed over
    page.wait_for_selector(f"#journal tr.entry-row[data-id='{end}']")

    marker = page.locator("#journal tr.skipped").last
    after, before = int(marker.get_attribute("data-after")), int(marker.get_attribute("data-before"))
    count = int(marker.get_attribute("data-count"))
    assert count >= 1900, count  # the stream sends at most 100 a write
    assert len([i for i in journal_ids(api, after) if i < before]) == count
    assert f"{count} entries skipped" in marker.inner_text()
    shot(page, "journal-skipped")

    while page.locator("#journal tr.skipped").count():
        first = page.locator("#journal tr.skipped").first.get_attribute("data-after")
        page.click("#journal tr.skipped button.load-skipped >> nth=0")
        page.wait_for_function(
            "a => { const t = document.querySelector('#journal tr.skipped'); return !t || t.dataset.after !== a; }",
            arg=first,
        )

    ids = shown_ids(page)
    assert ids == sorted(set(ids), reverse=True)  # newest first, each once
    assert ids[0] == end
    assert sorted(ids) == journal_ids(api, min(ids) - 1)  # no hole from the oldest shown to the newest
    assert len(ids) >= 2000
    assert not page.inner_text("#journal-note")
    shot(page, "journal-loaded", full_page=False)  # the top of 2,000 rows
