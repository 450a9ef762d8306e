"""The real server over real HTTP: the pytest plugin's fixtures as a user writes tests with them, and
`python -m emulator serve` as a process that keeps its state across a SIGTERM and a restart."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator.pytest_plugin import CxemuHandle, WebhookSink
from tests.support import echo_vendor
from tests.support.procs import ServerProcess

pytestmark = pytest.mark.server


@pytest.fixture
def echo(cxemu: CxemuHandle) -> Iterator[httpx.Client]:
    """An HTTP client of the echo API, authenticated as the test's tenant with the credentials cxemu hands out."""
    creds = cxemu.credentials("echo")
    with httpx.Client(base_url=cxemu.url, headers={creds["header"]: creds["tenant"]}, timeout=60) as client:
        yield client


def create(echo: httpx.Client, text: str) -> dict[str, Any]:
    r = echo.post("/echo/v1/items", json={"text": text})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def hook(echo: httpx.Client, sink: WebhookSink) -> None:
    r = echo.put("/echo/v1/webhook", json={"url": sink.url_for("/hook")})
    assert r.status_code == 204, r.text


# -- (a) the plugin's fixtures ----------------------------------------------------------------------------


def test_an_item_created_over_http_arrives_signed_at_the_sink(
    cxemu: CxemuHandle, echo: httpx.Client, webhook_sink: WebhookSink
) -> None:
    assert cxemu.credentials("echo") == {"header": "x-echo-tenant", "tenant": cxemu.tenant}
    hook(echo, webhook_sink)
    assert create(echo, "hello")["id"] == "it-1"

    [received] = webhook_sink.wait_for({"event": "created", "id": "it-1", "text": "hello"})
    assert received.method == "POST"
    assert received.path == "/hook"
    assert echo_vendor.verify(received.body, received.headers["x-echo-signature"])
    assert received.headers["x-echo-attempt"] == "0"

    [delivery] = cxemu.wait_for_deliveries(event="created")
    assert (delivery["status"], delivery["tenant"], delivery["subject"]) == ("delivered", cxemu.tenant, "it-1")
    assert delivery["event_id"] == received.headers["x-echo-event-id"]
    assert delivery["body"] == json.loads(received.body)
    assert cxemu.deliveries() == [delivery]
    assert cxemu.deliveries(event="pinged") == []

    journal = cxemu.requests()
    assert [(r["method"], r["path"], r["status"], r["tenant"]) for r in journal] == [
        ("PUT", "/echo/v1/webhook", 204, cxemu.tenant),
        ("POST", "/echo/v1/items", 201, cxemu.tenant),
    ]
    assert journal[1]["body"] == {"text": "hello"}
    assert cxemu.requests(method="PUT") == journal[:1]


def test_a_ping_is_delivered_when_the_test_advances_the_clock(
    cxemu: CxemuHandle, echo: httpx.Client, webhook_sink: WebhookSink
) -> None:
    hook(echo, webhook_sink)
    create(echo, "hello")
    r = echo.post("/echo/v1/items/it-1/ping", json={"delay": 45})
    assert r.status_code == 202
    webhook_sink.wait_for({"event": "created"})
    start = cxemu.clock()["now"]

    step = cxemu.advance(44)
    assert step["now"] == pytest.approx(start + 44)
    assert webhook_sink.matching({"event": "pinged"}) == []
    cxemu.advance(1)

    [pinged] = webhook_sink.wait_for({"event": "pinged", "id": "it-1", "pings": 1})
    assert json.loads(pinged.body)["at"] == pytest.approx(start + 45)
    assert float(pinged.headers["x-echo-sent-at"]) == pytest.approx(start + 45)
    assert [d["status"] for d in cxemu.deliveries(event="pinged")] == ["delivered"]
    assert echo.get("/echo/v1/items/it-1").json()["pings"] == 1


def test_wait_for_lists_the_near_misses_when_nothing_matches(
    cxemu: CxemuHandle, echo: httpx.Client, webhook_sink: WebhookSink
) -> None:
    hook(echo, webhook_sink)
    create(echo, "hello")
    webhook_sink.wait_for({"event": "created"})
    with pytest.raises(AssertionError) as info:
        webhook_sink.wait_for({"event": "created", "id": "it-2"}, timeout=0.2)
    message = str(info.value)
    assert "got 0 within 0.2s" in message
    assert "near miss POST /hook" in message
    assert ".id: expected 'it-2', got 'it-1'" in message
    assert ".event" not in message  # the field that matched is not reported


def test_a_receiver_failing_twice_gets_the_event_on_the_third_attempt(
    cxemu: CxemuHandle, echo: httpx.Client, webhook_sink: WebhookSink
) -> None:
    hook(echo, webhook_sink)
    webhook_sink.respond_with(500, times=2)
    create(echo, "hello")
    webhook_sink.wait_for({"event": "created"}, headers={"x-sink-status": "500"})
    start = cxemu.clock()["now"]

    cxemu.advance(1)  # the echo ladder: 1 s, then 10 s
    webhook_sink.wait_for({"event": "created"}, headers={"x-sink-status": "500"}, count=2)
    assert webhook_sink.matching(headers={"x-sink-status": "200"}) == []
    cxemu.advance(10)

    received = webhook_sink.wait_for({"event": "created", "id": "it-1"}, count=3)
    assert [r.headers["x-sink-status"] for r in received] == ["500", "500", "200"]
    assert [r.headers["x-echo-attempt"] for r in received] == ["0", "1", "2"]
    assert len({r.headers["x-echo-event-id"] for r in received}) == 1
    assert len({r.body for r in received}) == 1

    [delivery] = cxemu.wait_for_deliveries(event="created")
    assert delivery["status"] == "delivered"
    assert [(a["status"], a["at"] - start) for a in delivery["attempts"]] == [
        (500, pytest.approx(0, abs=1e-6)),
        (500, pytest.approx(1)),
        (200, pytest.approx(11)),
    ]


class TestTheTenantIsResetAfterEachTest:
    """Two tests in a row: each starts from a clean tenant, and the first one leaves nothing behind."""

    first: dict[str, str] = {}

    def test_first(self, cxemu: CxemuHandle, echo: httpx.Client) -> None:
        assert create(echo, "one")["id"] == "it-1"
        assert echo.post("/echo/v1/items/it-1/ping", json={"delay": 3600}).status_code == 202
        type(self).first["tenant"] = cxemu.tenant

    def test_second(self, cxemu: CxemuHandle, echo: httpx.Client) -> None:
        assert create(echo, "two")["id"] == "it-1"
        gone = type(self).first.get("tenant")
        if gone is None:
            pytest.skip("runs after test_first")
        assert gone != cxemu.tenant
        http = cxemu.http
        tenants = http.get("/_emulator/tenants").json()["tenants"]
        assert {"vendor": "echo", "tenant": gone} not in tenants
        assert http.get("/_emulator/requests", params={"tenant": gone}).json() == {"requests": []}
        jobs = http.get("/_emulator/state").json()["jobs"]
        assert [j for j in jobs if j["tenant"] == gone] == []
        r = http.get("/echo/v1/items/it-1", headers={"x-echo-tenant": gone})
        assert r.status_code == 404


# -- (b) a server process across a restart ----------------------------------------------------------------


def serve(tmp_path: Path, state_file: Path, name: str) -> ServerProcess:
    return ServerProcess(
        "--port",
        "0",
        "--clock",
        "virtual",
        "--plugin",
        "tests.support.echo_vendor:PLUGIN",
        "--state-file",
        str(state_file),
        "--log-level",
        "warning",
        log=tmp_path / f"{name}.stderr",
    )


def persisted(snapshot: dict[str, Any]) -> tuple[Any, Any, list[str]]:
    return snapshot["store"], snapshot["jobs"], [d["id"] for d in snapshot["deliveries"]["pending"]]


def test_a_server_keeps_items_jobs_and_pending_webhooks_across_sigterm_and_restart(
    tmp_path: Path, webhook_sink: WebhookSink
) -> None:
    state_file = tmp_path / "state.json"
    acme = {"x-echo-tenant": "acme"}
    webhook_sink.respond_with(500)  # the receiver is down until further notice

    first = serve(tmp_path, state_file, "first")
    try:
        assert first.banner.startswith("cxemu 0.1.0 on http://127.0.0.1:")
        with httpx.Client(base_url=first.url, timeout=60) as http:
            assert http.get("/_emulator/health").status_code == 200
            assert http.put("/echo/v1/webhook", json={"url": webhook_sink.url_for()}, headers=acme).status_code == 204
            for text in ("one", "two"):
                assert http.post("/echo/v1/items", json={"text": text}, headers=acme).status_code == 201
            assert http.post("/echo/v1/items/it-1/ping", json={"delay": 60}, headers=acme).status_code == 202
            failed = webhook_sink.wait_for({"event": "created"}, headers={"x-sink-status": "500"}, count=2)
            assert http.post("/_emulator/clock/advance", json={"seconds": 0}).status_code == 200  # settle
            saved = http.get("/_emulator/state").json()
        store, jobs, pending = persisted(saved)
        assert sorted(store["echo"]["acme"]["state"]["items"]) == ["it-1", "it-2"]
        assert [(j["kind"], j["args"]) for j in jobs] == [("echo.ping", {"item": "it-1"})]
        assert len(pending) == 2

        assert first.terminate() == 0, first.stderr()
        assert "Traceback" not in first.stderr()
    finally:
        first.kill()
    assert state_file.exists()
    assert persisted(json.loads(state_file.read_text(encoding="utf-8"))) == (store, jobs, pending)

    webhook_sink.clear()
    second = serve(tmp_path, state_file, "second")
    try:
        with httpx.Client(base_url=second.url, timeout=60) as http:
            restored = http.get("/_emulator/state").json()
            assert persisted(restored) == (store, jobs, pending)
            assert restored["clock"] == saved["clock"]
            assert http.get("/echo/v1/items/it-2", headers=acme).json()["text"] == "two"
            assert webhook_sink.requests == []  # nothing is retried before its time

            webhook_sink.respond_with(200)  # the receiver is back
            assert http.post("/_emulator/clock/advance", json={"seconds": 60}).status_code == 200
            retried = webhook_sink.wait_for({"event": "created"}, count=2)
            [pinged] = webhook_sink.wait_for({"event": "pinged", "id": "it-1", "pings": 1})
            assert sorted(r.headers["x-echo-event-id"] for r in retried) == sorted(
                r.headers["x-echo-event-id"] for r in failed
            )
            assert {r.headers["x-echo-attempt"] for r in retried} == {"1"}
            assert pinged.headers["x-echo-attempt"] == "0"

            left = http.get("/_emulator/deliveries", params={"status": "pending"}).json()["deliveries"]
            assert left == []
            delivered = http.get("/_emulator/deliveries", params={"status": "delivered"}).json()["deliveries"]
            assert sorted((d["event"], d["subject"]) for d in delivered) == [
                ("created", "it-1"),
                ("created", "it-2"),
                ("pinged", "it-1"),
            ]
            assert http.post("/echo/v1/items", json={"text": "three"}, headers=acme).json()["id"] == "it-3"
        assert second.terminate(signal.SIGINT) == 0, second.stderr()  # Ctrl-C: as clean as SIGTERM
        assert "Traceback" not in second.stderr()
    finally:
        second.kill()
