"""The `http` object can never hang a call or the clock: a URL httpx cannot even send routes `fail`; a
target that times out or refuses the connection fails fast for `http_fail_fast` seconds afterwards, so a
dead backend holds the virtual clock once, not once per call or loop iteration."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from emulator.pytest_plugin import WebhookSink
from tests.vendors.samespace.conftest import Ss, SsFactory, call_step, tenant
from tests.vendors.samespace.flows import http, play, played
from tests.vendors.samespace.seed import SEED_HTTP_HOST, SEED_SAMPLE

ENDS = (play("ok", text="found"), play("ko", text="not found"))


async def lookup(ss: Ss, url: str, **extra: Any) -> dict[str, Any]:
    call_id = await ss.start(call_step(next_step="h"), http("h", url, **extra), *ENDS)
    await ss.idle()
    return await ss.metadata(call_id)


@pytest.mark.parametrize(
    ("url", "extra", "error"),
    [
        ("http://[::1/x", {}, "not a valid URL: 'http://[::1/x'"),
        ("http://127.0.0.1:99999/x", {}, "not a valid URL: 'http://127.0.0.1:99999/x'"),
        ("{sink}/a\u0000b", {}, "InvalidURL: "),
        ("{sink}/x", {"headers": {"bad\nname": "x"}}, "LocalProtocolError: "),
        ("{sink}/x", {"headers": {"x-name": "Zoë"}}, "UnicodeEncodeError: "),
    ],
    ids=["unclosed-ipv6", "port-out-of-range", "nul-in-path", "newline-in-header-name", "non-ascii-header"],
)
async def test_a_request_that_cannot_be_sent_routes_fail(
    ss: Ss, webhook_sink: WebhookSink, url: str, extra: dict[str, Any], error: str
) -> None:
    meta = await lookup(ss, url.replace("{sink}", webhook_sink.url), **extra)
    assert (meta["status"], played(meta)) == ("completed", ["0", "h", "ko"])
    (h,) = meta["http"]
    assert (h["outcome"], h["status"]) == ("fail", None)
    assert h["error"].startswith(error)
    assert webhook_sink.requests == []
    assert (await ss.control("GET", "")).json()["unreachable"] == {}  # the target itself is not to blame


async def test_an_unresolvable_host_fails_fast_and_routes_fail(make_ss: SsFactory) -> None:
    """The seed's sample with its http host pointed at a name that cannot resolve (RFC 6761 `.invalid`)."""
    vendors = {"samespace": {"http_overrides": {SEED_HTTP_HOST: "https://subdoomain.domain.invalid"}}}
    vendors["samespace"]["numbers"] = {"917507161643": {"dtmf": ["1234"]}}  # type: ignore[index]
    ss = await make_ss(vendors=vendors)
    first = (await ss.post_flow(SEED_SAMPLE)).json()["call_id"]
    await ss.advance(5)
    second = (await ss.post_flow(SEED_SAMPLE)).json()["call_id"]  # reaches its http object 5 s after the first
    await ss.idle()
    metas = [await ss.metadata(c, "CLOUD_ID", "your_auth_token") for c in (first, second)]
    for meta in metas:
        assert played(meta) == ["0", "1", "2", "5", "4"]  # the sample's fail branch: connect 5263
        assert meta["http"][0]["sent_to"] == "https://subdoomain.domain.invalid/api/test/1234"
    assert metas[0]["http"][0]["error"].startswith("ConnectError: ")
    target = "https://subdoomain.domain.invalid:443"
    assert metas[1]["http"][0]["error"] == f"not retried: {target} failed 5s earlier ({metas[0]['http'][0]['error']})"


async def test_a_dead_backend_holds_the_clock_once_for_many_calls(
    make_ss: SsFactory, webhook_sink: WebhookSink
) -> None:
    webhook_sink.respond_with(200, held=True)  # accepts, and answers only after the http step gave up
    ss = await make_ss(vendors=tenant(behaviour={"http_timeout": 0.2, "ring_seconds": 0.5}))
    url = webhook_sink.url_for("/slow")
    calls = []
    for _ in range(10):  # one call a second: each reaches the http object at its own instant
        calls.append(await ss.start(call_step(next_step="h"), http("h", url), *ENDS))
        await ss.advance(1)
    await ss.idle()
    webhook_sink.release()
    # one real attempt, not ten (on a loaded machine it may time out before the sink even reads it)
    assert len(webhook_sink.requests) <= 1
    errors = [(await ss.metadata(c))["http"][0]["error"] for c in calls]
    assert errors[0] == "timed out after 0.2s"
    target = url.split("/slow")[0]
    assert errors[1:] == [f"not retried: {target} failed {n}s earlier (timed out after 0.2s)" for n in range(1, 10)]
    view = (await ss.control("GET", "")).json()["unreachable"]
    assert view == {target: {"at": 1767225601.0, "until": 1767225631.0, "error": "timed out after 0.2s"}}


async def test_calls_reaching_http_at_the_same_instant_send_together(
    make_ss: SsFactory, webhook_sink: WebhookSink
) -> None:
    webhook_sink.respond_with(200, held=True)  # nothing is answered until the first four are in
    ss = await make_ss(vendors=tenant(behaviour={"http_parallel": 4, "http_timeout": 25}))
    calls = [
        await ss.start(call_step(next_step="h"), http("h", webhook_sink.url_for("/lookup")), *ENDS) for _ in range(8)
    ]
    idle = asyncio.ensure_future(ss.idle())
    await webhook_sink.async_wait_for(path="/lookup", count=4, timeout=20)
    assert len(webhook_sink.requests) == 4  # four at once, and the fifth waits for one of them to be answered
    webhook_sink.release()
    await idle
    assert len(webhook_sink.requests) == 8
    for call_id in calls:
        meta = await ss.metadata(call_id)
        assert (played(meta)[-1], meta["http"][0]["status"], meta["http"][0]["latency_ms"]) == ("ok", 200, 0.0)


async def test_a_failing_target_is_tried_again_after_the_window(ss: Ss, webhook_sink: WebhookSink) -> None:
    down = await lookup(ss, "http://127.0.0.1:9/a")  # at 6 s (answered after two rings); ends at 6.8 s
    assert down["http"][0]["error"].startswith("ConnectError: ")
    await ss.advance(20)
    later = (await lookup(ss, "http://127.0.0.1:9/b"))["http"][0]  # at 32.8 s: within the 30 s window
    assert later["error"].startswith("not retried: http://127.0.0.1:9 failed 26.8s earlier (ConnectError: ")
    assert (await lookup(ss, webhook_sink.url_for("/up")))["http"][0]["outcome"] == "success"  # another target
    await ss.advance(30)
    again = await lookup(ss, "http://127.0.0.1:9/c")
    assert again["http"][0]["error"].startswith("ConnectError: ")  # tried again: the window is over


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class LateServer:
    """A backend whose port is bound but not listening (connections are refused) until `start()`."""

    def __init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok, bind_and_activate=False)
        self._server.server_bind()
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._server.server_activate()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02})
        self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()


@pytest.fixture
def late_server() -> Iterator[LateServer]:
    server = LateServer()
    try:
        yield server
    finally:
        server.close()


async def test_an_answer_clears_the_memo(ss: Ss, late_server: LateServer) -> None:
    url = late_server.origin + "/x"
    await ss.control("PUT", "/behaviour", {"http_timeout": 25, "http_fail_fast": 5})
    assert (await lookup(ss, url))["http"][0]["error"].startswith("ConnectError: ")  # refused: marked unreachable
    assert list((await ss.control("GET", "")).json()["unreachable"]) == [late_server.origin]
    late_server.start()  # the backend comes up on the same port
    await ss.advance(5)
    assert (await lookup(ss, url))["http"][0]["status"] == 200
    assert (await ss.control("GET", "")).json()["unreachable"] == {}


async def test_fail_fast_can_be_turned_off(make_ss: SsFactory) -> None:
    ss = await make_ss(vendors=tenant(behaviour={"http_fail_fast": 0, "max_steps": 4}))
    call_id = await ss.start(call_step(next_step="h"), http("h", "http://127.0.0.1:9/retry", success=None, fail="h"))
    await ss.idle()
    errors = [h["error"] for h in (await ss.metadata(call_id))["http"]]
    assert len(errors) == 3
    assert all(e.startswith("ConnectError: ") for e in errors)


async def test_a_loop_against_a_dead_backend_tries_it_once(ss: Ss) -> None:
    await ss.control("PUT", "/behaviour", {"max_steps": 6})
    call_id = await ss.start(call_step(next_step="h"), http("h", "http://127.0.0.1:9/retry", success=None, fail="h"))
    await ss.idle()
    meta = await ss.metadata(call_id)
    errors = [h["error"] for h in meta["http"]]
    assert meta["end_reason"] == "max_steps"
    assert errors[0].startswith("ConnectError: ")
    assert [e.startswith("not retried: http://127.0.0.1:9 failed 0s earlier") for e in errors[1:]] == [True] * 4


async def test_changing_behaviour_or_overrides_forgets_failing_targets(ss: Ss) -> None:
    await lookup(ss, "http://127.0.0.1:9/a")
    assert list((await ss.control("GET", "")).json()["unreachable"]) == ["http://127.0.0.1:9"]
    assert (await ss.control("PUT", "/behaviour", {"http_timeout": 1})).status_code == 200
    assert (await ss.control("GET", "")).json()["unreachable"] == {}
    await lookup(ss, "http://127.0.0.1:9/b")
    assert (await ss.control("PUT", "/settings", {"http_overrides": {}})).status_code == 200
    assert (await ss.control("GET", "")).json()["unreachable"] == {}
    again = await lookup(ss, "http://127.0.0.1:9/c")
    assert again["http"][0]["error"].startswith("ConnectError: ")  # tried for real, not failed fast
