"""The browser-test harness for the dashboard (`emulator/ui`): a real cxemu server, Debian's chromium driven by
Playwright, pages that fail their test on any console error or page error, and screenshots as artefacts.

| fixture or helper | what it gives |
|---|---|
| `server` | a cxemu child process on a free port, virtual clock (one per test module) |
| `api` | an `httpx.Client` on that server (the app under test's side: vendor requests, control calls) |
| `browser` | chromium, launched once per test module with the flags these machines need |
| `page` | a fresh browser context and page; the test fails on any `console.error` or uncaught page error |
| `shot(page, name)` | a PNG of the page in `ARTEFACTS` (gitignored; `CXEMU_UI_ARTEFACTS` moves it) |
| `UI` | the dashboard's path |

Everything skips, with the reason, when Playwright (PyPI) or chromium (`/usr/bin/chromium`, or
`CXEMU_CHROMIUM`) is absent. Tests wait for selectors and responses with generous timeouts, never for time.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator.app import create_app
from emulator.core.settings import Settings
from tests.support.procs import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
UI = "/_emulator/ui"
ARTEFACTS = Path(os.environ.get("CXEMU_UI_ARTEFACTS", ROOT / "tests" / "ui" / "artefacts"))
CHROMIUM = os.environ.get("CXEMU_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 30_000
"""What a browser step waits for a selector or a response at most (a shared, noisy machine)."""


def _sync_api() -> Any:
    try:
        from playwright import sync_api
    except ImportError:
        pytest.skip("playwright is not installed (pip install playwright; the dev extra has it)")
    return sync_api


def _chromium() -> str:
    found = shutil.which(CHROMIUM) or (CHROMIUM if Path(CHROMIUM).is_file() else None)
    if found is None:
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium, or set CXEMU_CHROMIUM)")
    return found


def serve(folder: Path, *args: str) -> ServerProcess:
    """A cxemu server for browser tests: any free port, the virtual clock unless `args` say otherwise."""
    return ServerProcess("--port", "0", "--clock", "virtual", "--log-level", "warning", *args, log=folder / "stderr")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = serve(tmp_path_factory.mktemp("ui-server"))
    try:
        yield proc
    finally:
        proc.terminate()


@pytest.fixture
def api(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one test module. Playwright's sync API keeps an event loop running in this thread while it is
    started, so it is stopped at the end of the module: a module with browser tests holds no async tests, and
    the async tests of other modules find no loop running."""
    sync_api = _sync_api()
    executable = _chromium()
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A page in a fresh context (no cookies carried over); any console error or page error fails the test."""
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    opened.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    try:
        yield opened
    finally:
        context.close()
    assert not errors, "the page reported errors:\n" + "\n".join(errors)


def shot(page: Any, name: str, path: Path | None = None, *, full_page: bool | None = None) -> Path:
    """A PNG of `page` in `ARTEFACTS/<name>.png` (or at `path`): the full page unless `full_page` says otherwise
    (or a `path` is given). A screenshot is an artefact, not a check: it gets a generous timeout of its own, as
    rendering a page of thousands of rows on a busy machine can take longer than any interaction."""
    target = path or ARTEFACTS / f"{name}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(
        path=str(target), full_page=path is None if full_page is None else full_page, timeout=4 * TIMEOUT_MS
    )
    return target


async def in_process(**settings: Any) -> tuple[Any, httpx.AsyncClient]:
    """A started in-process app (virtual clock, seed 7, `settings` on top) and a client of it (no browser)."""
    app = create_app(Settings.load({}, {"clock": "virtual", "seed": 7, **settings}))
    await app.state.emulator.start()
    return app, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cxemu.test")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app, c = await in_process()
    yield c
    await c.aclose()
    await app.state.emulator.stop()
