"""The built-in webhook sink in an in-process app: default targets land there, bodies read back, the user's
own targets stay theirs, the console line per attempt, and the sink's error cases."""

from __future__ import annotations

import json
import logging
import socket
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.routing import Route

from emulator.app import control_contract
from emulator.core import sink
from emulator.core.clock import VirtualClock
from emulator.pytest_plugin import WebhookSink
from emulator.scenarios.receiver import _Quiet
from emulator.vendors import cmcom, eightbyeight
from tests.conftest import AppFactory

KEY = {"x-api-key": "demo"}
CONVERSATION = {"channelId": "1", "user": {"name": "James Jones"}, "assignment": {"type": "queue", "id": "100"}}
TOKEN = "00000000-0000-0000-0000-000000000001"
CM_SEND = {
    "messages": {
        "authentication": {"productToken": TOKEN},
        "msg": [{"from": "MyBrand", "to": [{"number": "0031612345678"}], "body": {"type": "auto", "content": "Hi"}}],
    }
}
SINK_8X8 = "http://127.0.0.1:8080/_emulator/sink/eightbyeight/demo"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def settle(client: httpx.AsyncClient) -> None:
    r = await client.post("/_emulator/clock/run-until-idle", json={})
    assert r.status_code == 200, r.text


async def deliveries(client: httpx.AsyncClient, **query: str) -> list[dict[str, Any]]:
    r = await client.get("/_emulator/deliveries", params=query)
    assert r.status_code == 200
    found: list[dict[str, Any]] = r.json()["deliveries"]
    return found


async def received(client: httpx.AsyncClient, where: str = "/_emulator/sink", **query: str) -> list[dict[str, Any]]:
    r = await client.get(where, params=query)
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["requests"]
    return found


async def test_8x8_webhooks_with_zero_config_land_in_the_sink_and_read_back(
    make_app: AppFactory, webhook_sink: WebhookSink
) -> None:
    # the settings name a port where another receiver listens: in-process, the sink's URL is never dialled
    port = urlsplit(webhook_sink.url_for("/")).port
    _, client = await make_app(vendor_plugins=[eightbyeight.PLUGIN], port=port)
    url = f"http://127.0.0.1:{port}/_emulator/sink/eightbyeight/demo"

    [hook] = (await client.get("/chat-gateway/v1/webhooks", headers=KEY)).json()["_embedded"]["webhooks"]
    assert hook["uri"] == url
    assert (await client.post("/chat-gateway/v1/conversations", json=CONVERSATION, headers=KEY)).status_code == 202
    await settle(client)

    sent = await deliveries(client)
    assert {d["url"] for d in sent} == {url}
    assert {d["status"] for d in sent} == {"delivered"}
    assert {"CONVERSATION_UPDATE", "QUEUED", "MEMBERS_CHANGED", "MESSAGE"} <= {d["event"] for d in sent}
    got = await received(client, limit="1000")
    assert [r["id"] for r in got] == sorted((r["id"] for r in got), reverse=True)  # newest first
    assert [r["body"] for r in reversed(got)] == [d["body"] for d in sent]
    first = got[-1]
    assert (first["method"], first["path"], first["vendor"], first["tenant"]) == (
        "POST",
        "/_emulator/sink/eightbyeight/demo",
        "eightbyeight",
        "demo",
    )
    assert first["headers"]["x-8x8-event-id"] == sent[0]["event_id"]
    assert first["headers"]["x-8x8-signature"]
    one = await client.get(f"/_emulator/sink-requests/{first['id']}")
    assert one.json() == first
    assert webhook_sink.requests == []


async def test_the_same_seed_gives_the_same_sink_url_and_bodies(make_app: AppFactory) -> None:
    runs = []
    for _ in range(2):
        _, client = await make_app(vendor_plugins=[eightbyeight.PLUGIN], seed=5)
        hooks = await client.get("/chat-gateway/v1/webhooks", headers=KEY)
        await client.post("/chat-gateway/v1/conversations", json=CONVERSATION, headers=KEY)
        await settle(client)
        bodies = sorted(json.dumps(r["body"], sort_keys=True) for r in await received(client, limit="1000"))
        runs.append((hooks.content, bodies))
    assert runs[0] == runs[1]
    assert SINK_8X8.encode() in runs[0][0]
    assert len(runs[0][1]) >= 4


async def test_cm_status_reports_go_to_the_sink_and_count_as_delivered(make_app: AppFactory) -> None:
    _, client = await make_app(vendor_plugins=[cmcom.PLUGIN])
    r = await client.post("/v1.0/message", json=CM_SEND)
    assert r.status_code == 200, r.text
    await settle(client)

    sent = await deliveries(client, vendor="cmcom")
    assert len(sent) >= 2  # Accepted, Delivered
    assert {d["status"] for d in sent} == {"delivered"}
    assert {d["url"] for d in sent} == {f"http://127.0.0.1:8080/_emulator/sink/cmcom/{TOKEN}"}
    statuses = [r["body"]["messages"]["msg"]["status"]["code"] for r in await received(client, vendor="cmcom")]
    assert sorted(statuses) == ["0", "2"]
    creds = (await client.post("/_emulator/tenants", json={"tenant": TOKEN})).json()["credentials"]["cmcom"]
    assert creds["webhooks"]["status"] == sent[0]["url"]


async def test_webhook_url_overrides_the_sink(make_app: AppFactory, webhook_sink: WebhookSink) -> None:
    _, client = await make_app(vendor_plugins=[eightbyeight.PLUGIN], webhook_url=webhook_sink.url_for("/mine"))
    await client.post("/chat-gateway/v1/conversations", json=CONVERSATION, headers=KEY)
    await settle(client)

    await webhook_sink.async_wait_for({"eventType": "QUEUED"})
    assert {d["url"] for d in await deliveries(client)} == {webhook_sink.url_for("/mine")}
    assert await received(client) == []


async def test_a_url_set_through_the_vendor_api_is_not_replaced(
    make_app: AppFactory, webhook_sink: WebhookSink
) -> None:
    _, client = await make_app(vendor_plugins=[eightbyeight.PLUGIN])
    mine = {"name": "mine", "uri": webhook_sink.url_for("/hook"), "version": "Chat Gateway v1.0"}
    assert (await client.put("/chat-gateway/v1/webhooks/1", json=mine, headers=KEY)).status_code == 200
    await client.post("/chat-gateway/v1/conversations", json=CONVERSATION, headers=KEY)
    await settle(client)

    await webhook_sink.async_wait_for({"eventType": "QUEUED"})
    assert {d["url"] for d in await deliveries(client)} == {webhook_sink.url_for("/hook")}
    assert await received(client) == []


CONSOLE = "emulator.core.console"


def console_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [line for r in caplog.records if r.name == CONSOLE for line in r.getMessage().splitlines()]


async def first_attempts(app: Any, count: int) -> None:
    found = await app.state.emulator.dispatcher.wait(lambda d: len(d.attempts) >= count, settled=False)
    assert found, "no delivery was attempted"


async def test_each_attempt_gets_a_console_line_with_the_retry(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=CONSOLE)
    target = f"http://127.0.0.1:{closed_port()}/hook"
    app, client = await make_app(vendor_plugins=[eightbyeight.PLUGIN], webhook_url=target)
    await client.post("/chat-gateway/v1/conversations", json=CONVERSATION, headers=KEY)
    await first_attempts(app, 1)
    [created] = await deliveries(client, event="CONVERSATION_UPDATE")
    [line] = console_lines(caplog)
    assert line.startswith("2026-01-01T00:00:00.000Z eightbyeight/demo CONVERSATION_UPDATE ")
    assert f" {created['subject']} -> {target} error: " in line
    assert line.endswith(" ms)")
    assert ", retry in 1 s (" in line
    assert caplog.records[0].levelno == logging.INFO

    caplog.clear()
    await client.post("/_emulator/clock/advance", json={"seconds": 1})
    await first_attempts(app, 2)
    [retry] = [line for line in console_lines(caplog) if "CONVERSATION_UPDATE" in line]
    assert retry.startswith("2026-01-01T00:00:01.000Z ")
    assert ", retry in 10 s (" in retry
    assert retry.endswith(" ms, attempt 2)")


async def test_a_delivered_attempt_shows_its_status(make_app: AppFactory, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=CONSOLE)
    _, client = await make_app(vendor_plugins=[eightbyeight.PLUGIN])
    await client.post("/chat-gateway/v1/conversations", json=CONVERSATION, headers=KEY)
    await settle(client)
    lines = console_lines(caplog)
    assert len(lines) == len(await deliveries(client))
    assert all(f"-> {SINK_8X8} [200] (" in line for line in lines)
    assert any(" QUEUED " in line for line in lines)


async def test_the_console_line_can_be_turned_off(make_app: AppFactory, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=CONSOLE)
    _, client = await make_app(vendor_plugins=[eightbyeight.PLUGIN], webhook_log=False)
    await client.post("/chat-gateway/v1/conversations", json=CONVERSATION, headers=KEY)
    await settle(client)
    assert len(await deliveries(client)) >= 4
    assert console_lines(caplog) == []


# -- the sink's own routes ------------------------------------------------------------------------------


@pytest.fixture
async def sink_client(make_app: AppFactory) -> httpx.AsyncClient:
    _, client = await make_app(vendor_plugins=[eightbyeight.PLUGIN, cmcom.PLUGIN], sink_size=3)
    return client


async def test_requests_are_kept_per_path_newest_first_and_bounded(sink_client: httpx.AsyncClient) -> None:
    for n in range(4):
        r = await sink_client.post(f"/_emulator/sink/cmcom/t{n % 2}/status?n={n}", json={"n": n})
        assert r.status_code == 200
        assert r.json()["received"] == f"snk_{n + 1:07d}"
    await sink_client.put("/_emulator/sink/anything", content=b"not json")

    got = await received(sink_client)
    assert [(r["path"], r["query"], r["body"]) for r in got] == [
        ("/_emulator/sink/anything", "", "not json"),
        ("/_emulator/sink/cmcom/t1/status", "n=3", {"n": 3}),
        ("/_emulator/sink/cmcom/t0/status", "n=2", {"n": 2}),
    ]
    assert (got[0]["method"], got[0]["vendor"], got[0]["tenant"]) == ("PUT", None, None)
    assert [r["query"] for r in await received(sink_client, "/_emulator/sink/cmcom/t1")] == ["n=3"]
    assert [r["query"] for r in await received(sink_client, vendor="cmcom", tenant="t0")] == ["n=2"]
    assert [r["query"] for r in await received(sink_client, path="cmcom", limit="1")] == ["n=3"]
    assert "body" not in (await received(sink_client, body="false"))[0]
    assert (await sink_client.get("/_emulator/sink", params={"method": "put"})).json()["total"] == 1

    assert (await sink_client.delete("/_emulator/sink/cmcom")).json() == {"cleared": 2}
    assert [r["path"] for r in await received(sink_client)] == ["/_emulator/sink/anything"]
    assert (await sink_client.delete("/_emulator/sink")).json() == {"cleared": 1}
    assert await received(sink_client) == []


async def test_an_oversized_body_is_kept_only_in_part(sink_client: httpx.AsyncClient) -> None:
    big = b"x" * (sink.BODY_BYTES + 1000)
    r = await sink_client.post("/_emulator/sink/big", content=big)
    assert r.status_code == 200
    [got] = await received(sink_client)
    assert (got["size"], got["truncated"], len(got["body"])) == (len(big), True, sink.BODY_BYTES)


@pytest.mark.parametrize(
    ("path", "query", "message"),
    [
        ("/_emulator/sink", {"limit": "many"}, "limit: must be an integer"),
        ("/_emulator/sink", {"limit": "4"}, "limit: must be between 1 and 3"),
        ("/_emulator/sink", {"limit": "0"}, "limit: must be between 1 and 3"),
        ("/_emulator/sink", {"vendor": "nope"}, "vendor: no vendor 'nope'"),
        ("/_emulator/sink", {"method": "GET"}, "method: must be one of POST, PUT, PATCH"),
        ("/_emulator/sink", {"body": "maybe"}, "body: must be true or false"),
        ("/_emulator/sink", {"venodr": "cmcom"}, "venodr: unknown filter"),
        ("/_emulator/sink/cmcom", {"path": "/_emulator/sink/eightbyeight"}, "path: '/_emulator/sink/eightbyeight'"),
    ],
    ids=["limit-text", "limit-high", "limit-zero", "vendor", "method", "body", "unknown", "path-outside"],
)
async def test_a_bad_filter_is_a_400(
    sink_client: httpx.AsyncClient, path: str, query: dict[str, str], message: str
) -> None:
    for method in ("GET", "DELETE"):
        r = await sink_client.request(method, path, params=query)
        assert r.status_code == 400
        assert r.json()["error"] == "invalid_request"
        assert r.json()["message"].startswith(message)


async def test_an_unknown_request_id_is_a_404(sink_client: httpx.AsyncClient) -> None:
    r = await sink_client.get("/_emulator/sink-requests/snk_0000099")
    assert r.status_code == 404
    assert r.json() == {"error": "unknown_sink_request", "message": "no sink request 'snk_0000099'"}


async def test_a_tenant_with_a_slash_is_one_path_segment(sink_client: httpx.AsyncClient) -> None:
    url = sink_client._transport.app.state.emulator.sink.url_for("cmcom", "a/b c")  # type: ignore[attr-defined]
    assert url == "http://127.0.0.1:8080/_emulator/sink/cmcom/a%2Fb%20c"
    await sink_client.post(urlsplit(url).path, json={})
    [got] = await received(sink_client)
    assert (got["vendor"], got["tenant"], got["path"]) == ("cmcom", "a/b c", "/_emulator/sink/cmcom/a/b c")


def test_a_wildcard_bind_is_reached_over_loopback() -> None:
    assert sink._loopback("0.0.0.0") == "127.0.0.1"
    assert sink._loopback("::") == "[::1]"
    assert sink._loopback("::1") == "[::1]"
    assert sink._loopback("localhost") == "localhost"


def test_the_sink_routes_are_in_the_control_plane_contract() -> None:
    paths = control_contract()["paths"]
    routes = sink.API.routes(sink.Sink(VirtualClock(0), size=1, base_url="", vendors=()))
    served = {(r.path.replace(":path", ""), m) for r in routes if isinstance(r, Route) for m in r.methods or ()}
    declared = {(p.removeprefix("/_emulator"), m.upper()) for p, ops in paths.items() for m in ops if "sink" in p}
    assert served - {(p, "HEAD") for p, _ in served} == declared
    assert set(paths["/_emulator/sink/{path}"]) == {"get", "delete", "post", "put", "patch"}
    assert paths["/_emulator/sink-requests/{request_id}"]["get"]["tags"] == ["sink"]


async def test_the_method_filter_takes_any_case_and_empty_means_none(sink_client: httpx.AsyncClient) -> None:
    await sink_client.patch("/_emulator/sink/x", json={})
    for method in ("PATCH", "patch", "Patch", ""):
        assert (await sink_client.get("/_emulator/sink", params={"method": method})).json()["total"] == 1
    assert (await sink_client.get("/_emulator/sink", params={"method": "post"})).json()["total"] == 0


# -- reset and the allow-list ---------------------------------------------------------------------------


async def sink_paths(client: httpx.AsyncClient) -> list[str]:
    return sorted(r["path"].removeprefix("/_emulator/sink/") for r in await received(client, limit="100"))


async def test_reset_forgets_what_the_sink_received_for_the_tenants_it_resets(make_app: AppFactory) -> None:
    _, client = await make_app(vendor_plugins=[eightbyeight.PLUGIN, cmcom.PLUGIN])
    for path in ("cmcom/t0/status", "cmcom/t1", "eightbyeight/t0", "eightbyeight/t1", "elsewhere/t0"):
        assert (await client.post(f"/_emulator/sink/{path}", json={})).status_code == 200

    assert (await client.post("/_emulator/reset", params={"vendor": "nope"})).status_code == 404
    assert len(await sink_paths(client)) == 5
    assert (await client.post("/_emulator/reset", params={"vendor": "cmcom", "tenant": "t0"})).status_code == 200
    assert await sink_paths(client) == ["cmcom/t1", "eightbyeight/t0", "eightbyeight/t1", "elsewhere/t0"]
    await client.post("/_emulator/reset", params={"tenant": "t1"})
    assert await sink_paths(client) == ["eightbyeight/t0", "elsewhere/t0"]
    await client.post("/_emulator/reset", params={"vendor": "eightbyeight"})
    assert await sink_paths(client) == ["elsewhere/t0"]
    await client.post("/_emulator/reset")
    assert await sink_paths(client) == []


async def test_the_sink_is_exempt_from_the_allow_list(make_app: AppFactory) -> None:
    _, client = await make_app(vendor_plugins=[eightbyeight.PLUGIN], webhook_allow_hosts=["elsewhere.invalid"])
    await client.post("/chat-gateway/v1/conversations", json=CONVERSATION, headers=KEY)
    await settle(client)
    sent = await deliveries(client)
    assert len(sent) >= 4
    assert {(d["url"], d["status"]) for d in sent} == {(SINK_8X8, "delivered")}
    assert len(await received(client)) == len(sent)


@pytest.mark.parametrize(
    "target", ["http://127.0.0.1:8080/elsewhere", "http://127.0.0.1:9/_emulator/sink/eightbyeight/demo"]
)
async def test_other_targets_stay_behind_the_allow_list(make_app: AppFactory, target: str) -> None:
    # the sink's own host and port with another path, and the sink's path on another port, are not the sink
    app, client = await make_app(
        vendor_plugins=[eightbyeight.PLUGIN], webhook_allow_hosts=["elsewhere.invalid"], webhook_url=target
    )
    await client.post("/chat-gateway/v1/conversations", json=CONVERSATION, headers=KEY)
    await first_attempts(app, 1)
    [created] = await deliveries(client, event="CONVERSATION_UPDATE")
    one = (await client.get(f"/_emulator/deliveries/{created['id']}")).json()
    assert one["attempts"][0]["error"] == "host '127.0.0.1' is not in the webhook allow-list"
    assert await received(client) == []


def test_a_sender_dropping_its_connection_is_not_reported_but_other_errors_are(
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = _Quiet(("127.0.0.1", 0), BaseHTTPRequestHandler)
    try:
        for exc in (ConnectionResetError(104, "Connection reset by peer"), ValueError("a handler bug")):
            try:
                raise exc
            except Exception:
                server.handle_error(None, ("127.0.0.1", 1))
    finally:
        server.server_close()
    err = capsys.readouterr().err
    assert "ConnectionResetError" not in err  # a killed server's dropped connection is no receiver error
    assert "ValueError: a handler bug" in err
