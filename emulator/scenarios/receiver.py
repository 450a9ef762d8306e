"""A real HTTP webhook receiver on 127.0.0.1 (a thread), shared by scenario runs and the pytest plugin.

It records every request, answers as told (`respond_with`; `held=True` keeps those answers back until
`release()`, so a test can act while a request is in flight without racing a delay), and
`wait_for(match, count=1, timeout=...)`s a JSON-subset match, failing with the near misses and why each did
not match.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from emulator.core.clock import wall_monotonic
from emulator.scenarios.match import subset_mismatches

JsonMatch = Mapping[str, Any] | Callable[["ReceivedRequest"], bool]


HOLD_LIMIT = 120.0
"""Seconds a held answer waits for `release()` at most, so a test that forgets it cannot hang."""


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    """Header names in lower case."""
    body: bytes
    at: float = field(default=0.0)
    """Monotonic wall seconds of arrival (for ordering only)."""

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class _Reply:
    status: int
    body: bytes
    delay: float
    held: bool = False


class _Quiet(ThreadingHTTPServer):
    """A sender that drops its connection (a server killed mid-request, a client that gave up) is no error of the
    receiver's: nothing is printed for it; any other error is reported as usual."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class WebhookSink:
    """A real HTTP receiver on 127.0.0.1 (see the module docstring)."""

    def __init__(self) -> None:
        self.requests: list[ReceivedRequest] = []
        self._cond = threading.Condition()
        self._replies: list[_Reply] = []
        self._default = _Reply(200, b"", 0.0)
        self._open = threading.Event()
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
                    at=wall_monotonic(),
                )
                reply = sink._record(received)
                if reply.held:
                    sink._open.wait(HOLD_LIMIT)
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

        self._server = _Quiet(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        # a short poll interval: `close()` (every test's teardown) waits up to one interval for the loop to stop
        serve = {"poll_interval": 0.02}
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs=serve, daemon=True)
        self._thread.start()
        self.closed = False

    def url_for(self, path: str = "/hook") -> str:
        return self.url + path

    def _record(self, received: ReceivedRequest) -> _Reply:
        with self._cond:
            reply = self._replies.pop(0) if self._replies else self._default
            received.headers["x-sink-status"] = str(reply.status)
            self.requests.append(received)
            self._cond.notify_all()
            return reply

    def respond_with(
        self, status: int, *, times: int | None = None, body: bytes = b"", delay: float = 0.0, held: bool = False
    ) -> None:
        """Answer the next `times` requests with `status` (every request from now on when `times` is None).

        `held`: those answers wait until `release()` (the requests are recorded as they arrive)."""
        with self._cond:
            if held:
                self._open.clear()
            if times is None:
                self._default = _Reply(status, body, delay, held)
            else:
                self._replies.extend(_Reply(status, body, delay, held) for _ in range(times))

    def release(self) -> None:
        """Answer the held requests and every later one as `respond_with` says."""
        self._open.set()

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
        timeout: float = 10.0,
        headers: Mapping[str, str] | None = None,
        path: str | None = None,
    ) -> list[ReceivedRequest]:
        """Block until `count` received requests match (a JSON subset, or a predicate); return them.

        On timeout, fail with the closest near misses and why each one did not match.
        """
        deadline = wall_monotonic() + timeout
        with self._cond:
            while True:
                hits = [r for r in self.requests if not self._matches(r, match, headers, path)]
                if len(hits) >= count:
                    return hits
                remaining = deadline - wall_monotonic()
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
        if self.closed:
            return
        self.closed = True
        self._open.set()
        self._server.shutdown()
        self._server.server_close()
