"""The built-in webhook sink under real uvicorn: `cxemu serve` with zero config delivers the 8x8 quick start's
webhooks to its own sink over loopback HTTP, reads them back, and prints a console line per attempt."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from emulator.pytest_plugin import CxemuHandle, ServerThread
from tests.support.procs import ServerProcess

pytestmark = pytest.mark.server

KEY = {"x-api-key": "demo"}
CONVERSATION = {"channelId": "1", "user": {"name": "James Jones"}, "assignment": {"type": "queue", "id": "100"}}


def quick_start(url: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The README's 8x8 curl, the clock run until the agent has greeted; (deliveries, sink requests)."""
    with httpx.Client(base_url=url, timeout=30) as http:
        r = http.post("/chat-gateway/v1/conversations", json=CONVERSATION, headers=KEY)
        assert r.status_code == 202, r.text
        assert http.post("/_emulator/clock/run-until-idle", json={}).status_code == 200
        made = len(http.get("/_emulator/deliveries", params={"body": "false"}).json()["deliveries"])
        sent = http.get("/_emulator/deliveries", params={"wait": 20, "count": made}).json()["deliveries"]
        assert len(sent) == made
        got = http.get("/_emulator/sink/eightbyeight/demo", params={"limit": 100}).json()["requests"]
    return sent, got


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    # a wildcard bind: the sink is reached at 127.0.0.1, over the network (no in-process route matches it)
    proc = ServerProcess("--host", "0.0.0.0", "--port", "0", "--clock", "virtual", log=tmp_path / "stderr.log")
    try:
        yield proc
    finally:
        assert proc.terminate() == 0


def test_zero_config_8x8_webhooks_reach_the_sink_over_http(server: ServerProcess) -> None:
    port = server.url.rsplit(":", 1)[1]
    sink = f"http://127.0.0.1:{port}/_emulator/sink/eightbyeight/demo"

    sent, got = quick_start(server.url)

    assert len(sent) >= 6
    assert {(d["url"], d["status"]) for d in sent} == {(sink, "delivered")}
    assert {"CONVERSATION_UPDATE", "QUEUED", "MEMBERS_CHANGED", "ACTIVITY", "MESSAGE"} <= {d["event"] for d in sent}
    assert sorted(r["headers"]["x-8x8-event-id"] for r in got) == sorted(d["event_id"] for d in sent)
    bodies = {d["event_id"]: d["body"] for d in sent}
    assert all(r["body"] == bodies[r["headers"]["x-8x8-event-id"]] for r in got)
    assert {r["headers"]["host"] for r in got} == {f"127.0.0.1:{port}"}

    console = [line for line in server.stderr().splitlines() if f" -> {sink} " in line]
    assert len(console) == len(sent)
    assert all(" eightbyeight/demo " in line and f"-> {sink} [200] (" in line for line in console)
    assert "INFO emulator.core.console: " in server.stderr()


def test_no_webhook_log_silences_the_console_line(tmp_path: Path) -> None:
    proc = ServerProcess("--port", "0", "--clock", "virtual", "--no-webhook-log", log=tmp_path / "stderr.log")
    try:
        sent, got = quick_start(proc.url)
        assert len(got) == len(sent) >= 6
        assert "emulator.core.console" not in proc.stderr()
    finally:
        assert proc.terminate() == 0


def test_the_pytest_plugin_server_has_its_sink_at_its_own_url(cxemu: CxemuHandle) -> None:
    key = cxemu.credentials("eightbyeight")["apiKey"]
    with httpx.Client(base_url=cxemu.url, headers={"x-api-key": key}, timeout=60) as http:
        [hook] = http.get("/chat-gateway/v1/webhooks").json()["_embedded"]["webhooks"]
        assert hook["uri"] == f"{cxemu.url}/_emulator/sink/eightbyeight/{quote(cxemu.tenant, safe='')}"
        assert http.post("/chat-gateway/v1/conversations", json=CONVERSATION).status_code == 202
    [created] = cxemu.wait_for_deliveries(event="CONVERSATION_UPDATE")
    assert (created["status"], created["url"]) == ("delivered", hook["uri"])


def test_the_sink_over_http_is_exempt_from_the_allow_list() -> None:
    # real uvicorn on a bound port: the sink's URL is that port's, and deliveries to it go over loopback
    server = ServerThread({"clock": "virtual", "webhook_allow_hosts": ["elsewhere.invalid"]})
    server.start()
    try:
        sent, got = quick_start(server.url)
        assert len(got) == len(sent) >= 6
        assert {(d["url"], d["status"]) for d in sent} == {
            (f"{server.url}/_emulator/sink/eightbyeight/demo", "delivered")
        }
    finally:
        server.stop()
