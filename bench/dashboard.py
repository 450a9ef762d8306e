"""`--with-dashboard`: a headless chromium keeps the dashboard's live journal (`/_emulator/ui/journal`) open on
every cxemu server while the rows run, so a run measures what a demo with the dashboard open costs.

The browser is Debian's chromium (`CXEMU_CHROMIUM`, default `/usr/bin/chromium`) driven by Playwright, started
from the harness process and so pinned with it to the load generator's CPU: like a browser on the presenter's
laptop, it takes nothing from the server's CPU but the stream it reads. Each page waits until its stream is live
before the rows start; the browser closes when they end.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

from harness import HOST, NOT_CXEMU, Proc, log

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextlib.contextmanager
def dashboards(servers: dict[str, Proc]) -> Iterator[list[str]]:
    """The live journal open in chromium on every cxemu of `servers`; yields their names."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sys.exit("bench: --with-dashboard needs playwright (pip install playwright; the dev extra has it)")
    chromium = os.environ.get("CXEMU_CHROMIUM", "/usr/bin/chromium")
    if not os.path.exists(chromium):
        sys.exit(f"bench: --with-dashboard needs chromium at {chromium} (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            opened = []
            for name, proc in servers.items():
                if name in NOT_CXEMU:
                    continue
                page = browser.new_page()
                page.goto(f"http://{HOST}:{proc.port}/_emulator/ui/journal")
                page.wait_for_selector("#live-status[data-state=live]", timeout=60_000)
                opened.append(name)
            log(f"bench: the dashboard's live journal is open on {', '.join(opened)}")
            yield opened
        finally:
            browser.close()
