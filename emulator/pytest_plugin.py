"""pytest fixtures for testing an integration against cxemu (registered through the `pytest11` entry point).

- `cxemu_server` (session): a real cxemu under uvicorn on a free port, started once per session
  (or the server at `--cxemu-url`). Options: `--cxemu-seed`, `--cxemu-clock` (default `virtual`),
  `--cxemu-auth`, `--cxemu-plugin` (also ini keys `cxemu_seed`, `cxemu_clock`, `cxemu_auth`, `cxemu_plugins`).
- Against a server with an admin token (`--admin-token`), set `CXEMU_ADMIN_TOKEN`: every control-plane call
  of these fixtures sends it as `Authorization: Bearer <token>`.
- `cxemu` (per test): a fresh tenant named after the test (`.tenant`), its credentials per vendor, the server's
  `.url` and an `httpx.Client` on it (`.http`), and handles on the control plane (clock, deliveries, journal);
  the tenant is reset when the test ends. `cxemu.verify_receiver(url, vendor=...)` scores a webhook receiver
  (`emulator.verify`) on that tenant and returns its `Scorecard`.
- `webhook_sink` (per test): a real HTTP receiver on a free port that records every request, answers
  as told (`respond_with`; `held=True` until `release()`), and `wait_for(match, count=1, timeout=...)`s,
  listing near misses on failure.
- Each test's tenant has its own timeline on the server (`core.clock`): `advance`, `run_until_idle` and
  `clock` act on it only, and it starts at the virtual start (the tenant is reset before and after the
  test), so a test sees the same times and bodies whatever ran before it or alongside it. Under
  pytest-xdist each worker is a session with its own server, or every worker shares one with `--cxemu-url`.
- scenario files: with `--cxemu-scenarios` (or ini `cxemu_scenarios = true`) every `scenarios/**/*.yaml`
  under the rootdir is one test, run self-contained (virtual clock, built-in receiver); a failure shows the
  scenario's step-by-step report.

    def test_agent_joins(cxemu, webhook_sink):
        creds = cxemu.credentials("eightbyeight")
        ...  # point your integration at cxemu.url with creds, and webhooks at webhook_sink.url
        cxemu.run_until_idle()
        webhook_sink.wait_for({"eventType": "MEMBERS_CHANGED", "data": {"change": "joined"}})
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator.scenarios.match import subset_mismatches
from emulator.scenarios.receiver import JsonMatch, ReceivedRequest, WebhookSink
from emulator.verify.client import score
from emulator.verify.scorecard import Scorecard

__all__ = [
    "CxemuHandle",
    "CxemuServer",
    "JsonMatch",
    "ReceivedRequest",
    "ScenarioItem",
    "Scorecard",
    "WebhookSink",
    "subset_mismatches",
]

# -- the server -------------------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cxemu", "cxemu contact-center emulator")
    group.addoption("--cxemu-url", default=None, help="use a running cxemu instead of starting one")
    group.addoption("--cxemu-seed", default=None, help="seed of the server the session starts")
    group.addoption("--cxemu-clock", default=None, help="virtual (default) or system")
    group.addoption("--cxemu-auth", default=None, help="open (default) or strict")
    group.addoption("--cxemu-plugin", action="append", default=None, help="extra vendor plugin module:attribute")
    parser.addini("cxemu_seed", "seed of the server the session starts", default="0")
    parser.addini("cxemu_clock", "virtual (default) or system", default="virtual")
    parser.addini("cxemu_auth", "open (default) or strict", default="open")
    parser.addini("cxemu_plugins", "extra vendor plugins (module:attribute)", type="linelist", default=[])
    group.addoption(
        "--cxemu-scenarios", action="store_true", default=False, help="collect scenarios/**/*.yaml as tests"
    )
    parser.addini("cxemu_scenarios", "collect scenarios/**/*.yaml as tests", type="bool", default=False)


class ServerThread:
    """A real cxemu (uvicorn) on a pre-bound free port in a background thread."""

    def __init__(self, settings_overrides: Mapping[str, Any]) -> None:
        import uvicorn

        from emulator.app import create_app
        from emulator.core import sink
        from emulator.core.httpguard import protocol_for
        from emulator.core.settings import Settings

        self.settings = Settings.load({}, {"host": "127.0.0.1", "port": 0, **settings_overrides})
        self.app = create_app(self.settings)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)
        self.url = sink.listening(self.app.state.emulator, "127.0.0.1", self.sock.getsockname()[1])
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            http=protocol_for(self.settings),  # the limits `cxemu serve` has (431, 408, idle connections closed)
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    @property
    def emulator(self) -> Any:
        return self.app.state.emulator

    def start(self, timeout: float = 20.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("cxemu did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()


@dataclass
class CxemuServer:
    url: str
    thread: ServerThread | None = None

    @property
    def emulator(self) -> Any:
        """The in-process Emulator (None when the server is external)."""
        return self.thread.emulator if self.thread else None


def _opt(config: pytest.Config, name: str) -> Any:
    value = config.getoption(f"--cxemu-{name}")
    return value if value is not None else config.getini(f"cxemu_{name}")


@pytest.fixture(scope="session")
def cxemu_server(pytestconfig: pytest.Config) -> Iterator[CxemuServer]:
    """A cxemu server for the whole session: `.url`, and `.emulator` when it runs in-process."""
    external = pytestconfig.getoption("--cxemu-url")
    if external:
        yield CxemuServer(url=external.rstrip("/"))
        return
    plugins = list(pytestconfig.getini("cxemu_plugins")) + list(pytestconfig.getoption("--cxemu-plugin") or [])
    overrides = {
        "seed": _opt(pytestconfig, "seed"),
        "clock": _opt(pytestconfig, "clock"),
        "auth": _opt(pytestconfig, "auth"),
        "plugins": tuple(plugins),
    }
    server = ServerThread(overrides)
    server.start()
    try:
        yield CxemuServer(url=server.url, thread=server)
    finally:
        server.stop()


# -- per-test handle --------------------------------------------------------------------------------------


class CxemuHandle:
    """A fresh tenant on the session's server and the control plane, for one test."""

    def __init__(self, server: CxemuServer, tenant: str) -> None:
        self.server = server
        self.url = server.url
        self.tenant = tenant
        self.http = httpx.Client(base_url=server.url, timeout=70.0)
        token = os.environ.get("CXEMU_ADMIN_TOKEN")
        self._admin = {"Authorization": f"Bearer {token}"} if token else {}
        self._credentials: dict[str, dict[str, Any]] = {}

    def _control(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, f"/_emulator{path}", headers=self._admin, **kwargs)
        if response.status_code >= 400:
            raise AssertionError(f"control plane {method} {path} -> {response.status_code}: {response.text}")
        return response.json() if response.content else None

    def credentials(self, vendor: str) -> dict[str, Any]:
        """Provision this test's tenant in `vendor` and return what a client authenticates with."""
        if vendor not in self._credentials:
            out = self._control("POST", "/tenants", json={"tenant": self.tenant, "vendors": [vendor]})
            self._credentials[vendor] = out["credentials"][vendor]
        return self._credentials[vendor]

    def clock(self) -> dict[str, Any]:
        """This test's timeline: its time and pending timers (what each will do)."""
        return dict(self._control("GET", "/clock", params={"tenant": self.tenant}))

    def advance(self, seconds: float) -> dict[str, Any]:
        """Move this test's timeline (no other test's) and run what falls due on it."""
        return dict(self._control("POST", "/clock/advance", params={"tenant": self.tenant}, json={"seconds": seconds}))

    def run_until_idle(self) -> dict[str, Any]:
        """Run this test's timers (and only them) until none is left and its webhooks have been attempted."""
        return dict(self._control("POST", "/clock/run-until-idle", params={"tenant": self.tenant}, json={}))

    def deliveries(self, **filters: Any) -> list[dict[str, Any]]:
        """This tenant's webhook deliveries (filters: vendor, event, subject, status, event_id)."""
        params = {"tenant": self.tenant, **{k: v for k, v in filters.items() if v is not None}}
        return list(self._control("GET", "/deliveries", params=params)["deliveries"])

    def wait_for_deliveries(self, count: int = 1, timeout: float = 10.0, **filters: Any) -> list[dict[str, Any]]:
        """Long-poll until `count` matching deliveries of this tenant are settled (in wall time: the timeline
        does not move; `advance` first for a retry that is due later); fails listing what there is."""
        params = {"tenant": self.tenant, "wait": timeout, "count": count, **filters}
        found = list(self._control("GET", "/deliveries", params=params)["deliveries"])
        if len(found) < count:
            everything = self.deliveries()
            seen = [(d["event"], d["status"], d["url"]) for d in everything]
            raise AssertionError(
                f"expected {count} deliveries matching {filters}, got {len(found)}; this tenant has {seen}"
            )
        return found

    def requests(self, **filters: Any) -> list[dict[str, Any]]:
        params = {"tenant": self.tenant, "limit": 0, **{k: v for k, v in filters.items() if v is not None}}
        return list(self._control("GET", "/requests", params=params)["requests"])

    def reset(self) -> None:
        self._control("POST", "/reset", params={"tenant": self.tenant})

    def verify_receiver(
        self, url: str, *, vendor: str, probe: str | None = None, checks: list[str] | None = None,
        settle: float | None = None,
    ) -> Scorecard:  # fmt: skip
        """Score the webhook receiver at `url` the way `vendor` treats it (`cxemu verify-receiver`), on this test's
        tenant (the receiver calls back into `self.url` with `credentials(vendor)`). Returns the `Scorecard`:
        `card.failed` is the set of failed check ids, `card.result(id)` one check's status, evidence and detail."""
        token = self._admin.get("Authorization", "").removeprefix("Bearer ") or None
        return score(url, vendor, server=self.url, tenant=self.tenant, probe=probe, checks=checks, settle=settle,
                     admin_token=token)  # fmt: skip

    def close(self) -> None:
        self.http.close()


def tenant_for(nodeid: str) -> str:
    return "t-" + hashlib.blake2b(nodeid.encode(), digest_size=6).hexdigest()


@pytest.fixture
def cxemu(cxemu_server: CxemuServer, request: pytest.FixtureRequest) -> Iterator[CxemuHandle]:
    """A fresh tenant (named after the test) on the session's cxemu; reset when the test ends."""
    handle = CxemuHandle(cxemu_server, tenant_for(request.node.nodeid))
    handle.reset()
    try:
        yield handle
    finally:
        try:
            handle.reset()
        finally:
            handle.close()


# -- the webhook sink -------------------------------------------------------------------------------------
# (the receiver lives in `emulator.scenarios.receiver`, shared with scenario runs; re-exported here)


@pytest.fixture
def webhook_sink() -> Iterator[WebhookSink]:
    """A real HTTP webhook receiver for one test; `.url`, `.wait_for(...)`, `.respond_with(...)`."""
    sink = WebhookSink()
    try:
        yield sink
    finally:
        sink.close()


# -- scenario files as tests ------------------------------------------------------------------------------


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix not in (".yaml", ".yml"):
        return None
    config = parent.config
    if not (config.getoption("--cxemu-scenarios") or config.getini("cxemu_scenarios")):
        return None
    try:
        rel = file_path.relative_to(config.rootpath)
    except ValueError:
        return None
    if not rel.parts or rel.parts[0] != "scenarios":
        return None
    file: ScenarioFile = ScenarioFile.from_parent(parent, path=file_path)
    return file


class ScenarioFailed(Exception):
    """A scenario did not pass; the message is its report."""


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        yield ScenarioItem.from_parent(self, name=self.path.stem)


class ScenarioItem(pytest.Item):
    """One scenario file, run self-contained: in-process app, virtual clock, built-in webhook receiver."""

    def runtest(self) -> None:
        from emulator.app import load_plugins
        from emulator.core.settings import Settings
        from emulator.scenarios.report import render
        from emulator.scenarios.standalone import run_path

        extra = tuple(self.config.getini("cxemu_plugins")) + tuple(self.config.getoption("--cxemu-plugin") or ())
        plugins = load_plugins(Settings.load({}, {"plugins": extra}))
        result = asyncio.run(run_path(self.path, plugins=plugins))
        report = render(result)
        self.add_report_section("call", "scenario", report)
        if not result.passed:
            raise ScenarioFailed(report)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ScenarioFailed):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"scenario {self.path.name}"
