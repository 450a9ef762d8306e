"""pytest fixtures for testing an integration against cxemu (registered through the `pytest11` entry point).

- `cxemu_server` (session): a real cxemu under uvicorn on a free port, started once per session
  (or the server at `--cxemu-url`). Options: `--cxemu-seed`, `--cxemu-clock` (default `virtual`),
  `--cxemu-auth`, `--cxemu-plugin` (also ini keys `cxemu_seed`, `cxemu_clock`, `cxemu_auth`, `cxemu_plugins`).
- `cxemu` (per test): a fresh tenant named after the test, its credentials per vendor, and handles on the
  control plane (clock, deliveries, journal); the tenant is reset when the test ends.
- `webhook_sink` (per test): a real HTTP receiver on a free port that records every request, answers
  as told (`respond_with`), and `wait_for(match, count=1, timeout=...)`s, listing near misses on failure.

    def test_agent_joins(cxemu, webhook_sink):
        creds = cxemu.credentials("eightbyeight")
        ...  # point your integration at cxemu.url with creds, and webhooks at webhook_sink.url
        cxemu.run_until_idle()
        webhook_sink.wait_for({"eventType": "MEMBERS_CHANGED", "data": {"change": "joined"}})
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

JsonMatch = Mapping[str, Any] | Callable[["ReceivedRequest"], bool]

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


class ServerThread:
    """A real cxemu (uvicorn) on a pre-bound free port in a background thread."""

    def __init__(self, settings_overrides: Mapping[str, Any]) -> None:
        import uvicorn

        from emulator.app import create_app
        from emulator.settings import Settings

        self.settings = Settings.load({}, {"host": "127.0.0.1", "port": 0, **settings_overrides})
        self.app = create_app(self.settings)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="on")
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
        self._credentials: dict[str, dict[str, Any]] = {}

    def _control(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, f"/_emulator{path}", **kwargs)
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
        return dict(self._control("GET", "/clock"))

    def advance(self, seconds: float) -> dict[str, Any]:
        """Move the virtual clock (shared by every test on the server) and run what falls due."""
        return dict(self._control("POST", "/clock/advance", json={"seconds": seconds}))

    def run_until_idle(self) -> dict[str, Any]:
        return dict(self._control("POST", "/clock/run-until-idle", json={}))

    def deliveries(self, **filters: Any) -> list[dict[str, Any]]:
        """This tenant's webhook deliveries (filters: vendor, event, subject, status, event_id)."""
        params = {"tenant": self.tenant, **{k: v for k, v in filters.items() if v is not None}}
        return list(self._control("GET", "/deliveries", params=params)["deliveries"])

    def wait_for_deliveries(self, count: int = 1, timeout: float = 10.0, **filters: Any) -> list[dict[str, Any]]:
        """Long-poll until `count` matching deliveries are settled; fails listing what there is."""
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


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    """Header names in lower case."""
    body: bytes
    at: float = field(default=0.0)

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class _Reply:
    status: int
    body: bytes
    delay: float


def subset_mismatches(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Where `actual` differs from `expected`, read as a subset (dicts by key, lists item by item)."""
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            return [f"{path or '.'}: expected an object, got {actual!r}"]
        out: list[str] = []
        for key, value in expected.items():
            if key not in actual:
                out.append(f"{path}.{key}: missing")
            else:
                out.extend(subset_mismatches(value, actual[key], f"{path}.{key}"))
        return out
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path or '.'}: expected {expected!r}, got {actual!r}"]
        out = []
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            out.extend(subset_mismatches(e, a, f"{path}[{i}]"))
        return out
    return [] if expected == actual else [f"{path or '.'}: expected {expected!r}, got {actual!r}"]


class WebhookSink:
    """A real HTTP receiver on 127.0.0.1 (see the module docstring)."""

    def __init__(self) -> None:
        self.requests: list[ReceivedRequest] = []
        self._cond = threading.Condition()
        self._replies: list[_Reply] = []
        self._default = _Reply(200, b"", 0.0)
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                received = ReceivedRequest(
                    method=self.command,
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                    at=time.time(),
                )
                reply = sink._record(received)
                if reply.delay:
                    time.sleep(reply.delay)  # a deliberately slow receiver
                self.send_response(reply.status)
                self.send_header("content-length", str(len(reply.body)))
                self.end_headers()
                if reply.body:
                    self.wfile.write(reply.body)

            do_POST = do_PUT = do_GET = do_PATCH = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        # a short poll interval: `close()` (every test's teardown) waits up to one interval for the loop to stop
        serve = {"poll_interval": 0.02}
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs=serve, daemon=True)
        self._thread.start()

    def url_for(self, path: str = "/hook") -> str:
        return self.url + path

    def _record(self, received: ReceivedRequest) -> _Reply:
        with self._cond:
            reply = self._replies.pop(0) if self._replies else self._default
            received.headers["x-sink-status"] = str(reply.status)
            self.requests.append(received)
            self._cond.notify_all()
            return reply

    def respond_with(self, status: int, *, times: int | None = None, body: bytes = b"", delay: float = 0.0) -> None:
        """Answer the next `times` requests with `status` (every request from now on when `times` is None)."""
        with self._cond:
            if times is None:
                self._default = _Reply(status, body, delay)
            else:
                self._replies.extend(_Reply(status, body, delay) for _ in range(times))

    def clear(self) -> None:
        with self._cond:
            self.requests.clear()

    @staticmethod
    def _matches(
        req: ReceivedRequest, match: JsonMatch | None, headers: Mapping[str, str] | None, path: str | None
    ) -> list[str]:
        problems: list[str] = []
        if path is not None and req.path != path:
            problems.append(f"path: expected {path!r}, got {req.path!r}")
        if headers:
            for name, value in headers.items():
                got = req.headers.get(name.lower())
                if got != value:
                    problems.append(f"header {name}: expected {value!r}, got {got!r}")
        if match is None:
            return problems
        if callable(match):
            if not match(req):
                problems.append("predicate returned False")
            return problems
        try:
            payload = req.json
        except ValueError:
            return [*problems, "body is not JSON"]
        return problems + subset_mismatches(match, payload)

    def matching(
        self, match: JsonMatch | None = None, *, headers: Mapping[str, str] | None = None, path: str | None = None
    ) -> list[ReceivedRequest]:
        with self._cond:
            return [r for r in self.requests if not self._matches(r, match, headers, path)]

    def wait_for(
        self,
        match: JsonMatch | None = None,
        *,
        count: int = 1,
        timeout: float = 5.0,
        headers: Mapping[str, str] | None = None,
        path: str | None = None,
    ) -> list[ReceivedRequest]:
        """Block until `count` received requests match (a JSON subset, or a predicate); return them.

        On timeout, fail with the closest near misses and why each one did not match.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                hits = [r for r in self.requests if not self._matches(r, match, headers, path)]
                if len(hits) >= count:
                    return hits
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            misses = sorted(
                ((self._matches(r, match, headers, path), r) for r in self.requests if r not in hits),
                key=lambda pair: len(pair[0]),
            )
        lines = [f"expected {count} request(s) matching {match!r}, got {len(hits)} within {timeout:g}s"]
        if not misses:
            lines.append(f"no other requests arrived ({len(self.requests)} in all)")
        for problems, r in misses[:5]:
            lines.append(f"- near miss {r.method} {r.path} {r.body[:300]!r}")
            lines.extend(f"    {p}" for p in problems[:6])
        raise AssertionError("\n".join(lines))

    async def async_wait_for(self, match: JsonMatch | None = None, **kwargs: Any) -> list[ReceivedRequest]:
        """`wait_for` for async tests (runs in a worker thread so the event loop keeps going)."""
        import asyncio

        return await asyncio.to_thread(self.wait_for, match, **kwargs)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def webhook_sink() -> Iterator[WebhookSink]:
    """A real HTTP webhook receiver for one test; `.url`, `.wait_for(...)`, `.respond_with(...)`."""
    sink = WebhookSink()
    try:
        yield sink
    finally:
        sink.close()
