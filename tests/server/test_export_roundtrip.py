"""Save as scenario, round trip, for each vendor: things are done by hand against a live server (vendor requests
as a client makes them, hand actions through the control plane, clock moves), the tenant is exported with
`GET /_emulator/scenarios/export`, and the file replays self-contained with `cxemu scenario run`:

- it passes (every replayed request gets the status it got live, and every webhook the live run delivered is
  delivered again: the file's own `expect_webhook` steps, one per live delivery, in order);
- the webhooks the replay produced are the live ones: the same event types in the same order and the same
  bodies, ids included, with the instants left out (`export.stable`: keys such as `timestamp`, `created_at`,
  `createdAt`, whose values depend on where a timeline starts). Headers (signatures, delivery ids, retry
  counters) and target URLs are not compared: the replay signs for its own run and posts to its own receiver.

The live server runs on the virtual clock with seed 42, so the times between actions are exact.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from emulator.scenarios.export import stable
from emulator.scenarios.standalone import run_path
from tests.support.procs import ROOT, ServerProcess

pytestmark = pytest.mark.server

CM_TOKEN = "11111111-2222-3333-4444-555555555555"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("roundtrip")
    proc = ServerProcess("--port", "0", "--clock", "virtual", "--seed", "42", "--log-level", "warning",
                         log=folder / "stderr")  # fmt: skip
    try:
        yield proc
    finally:
        proc.terminate()


@pytest.fixture
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def ok(resp: httpx.Response, status: int = 200) -> Any:
    assert resp.status_code == status, (resp.request.method, resp.request.url.path, resp.text)
    return resp.json() if resp.content else None


def advance(http: httpx.Client, tenant: str, seconds: float) -> None:
    ok(http.post("/_emulator/clock/advance", params={"tenant": tenant}, json={"seconds": seconds}))


def eightbyeight(http: httpx.Client, tenant: str) -> None:
    """A chat: the simulated agent joins and greets; the customer and the agent (by hand) talk; the agent ends it."""
    key = {"x-api-key": tenant}
    body = {"channelId": "1", "user": {"name": "James Jones"}, "assignment": {"type": "queue", "id": "100"}}
    conv = ok(http.post("/chat-gateway/v1/conversations", json=body, headers=key), 202)["conversationId"]
    advance(http, tenant, 10)
    hands = f"/_emulator/vendors/eightbyeight/tenants/{tenant}/conversations/{conv}"
    ok(http.post(f"{hands}/customer", json={"action": "say", "text": "Where is my parcel?"}))
    advance(http, tenant, 6)
    ok(http.post(f"{hands}/agent", json={"action": "say", "text": "It ships today."}))
    ok(http.get(f"/chat-gateway/v1/conversations/{conv}", headers=key))
    ok(http.post("/chat-gateway/v1/conversations/nope/messages", json={"authorType": "user", "text": "x"},
                 headers=key), 404)  # fmt: skip
    advance(http, tenant, 2.5)
    ok(http.post(f"{hands}/agent", json={"action": "leave"}))
    advance(http, tenant, 1)


def sangoma(http: httpx.Client, tenant: str) -> None:
    """A web-widget customer (by hand) is delivered to an agent; the agent and the customer talk by hand."""
    grant = {"grant_type": "client_credentials", "scope": "cx.digital-interactions"}
    token = ok(http.post("/oauth/token", auth=(tenant, "secret"), data=grant))["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    domain = f"{tenant}.cx.sangoma.com"
    di = "/cx/api/v1/digital-interactions"
    hook = {"tenant_domain": domain, "url": f"{str(http.base_url).rstrip('/')}/_emulator/sink/sangoma/{tenant}",
            "subscriptions": ["conversation_status_changed", "message_created", "conversation_updated"]}  # fmt: skip
    ok(http.post(f"{di}/webhooks/", json=hook, headers=bearer))
    hands = f"/_emulator/vendors/sangoma/tenants/{tenant}"
    ok(http.post(f"{hands}/customers", json={"name": "Ada Lovelace", "email": "ada@example.com", "text": "Hello?"}))
    conv = max(ok(http.get(hands))["conversations"], key=lambda c: c["id"])["id"]
    advance(http, tenant, 1)
    deliver = {"tenant_domain": domain, "conversation_id": conv}
    ok(http.post(f"{di}/conversations/deliver-to-agent/", json=deliver, headers=bearer))
    advance(http, tenant, 8)
    ok(http.post(f"{hands}/conversations/{conv}/customer", json={"action": "say", "text": "My order is late"}))
    advance(http, tenant, 1)
    ok(http.post(f"{hands}/conversations/{conv}/agent", json={"action": "say", "text": "Checking now"}))
    advance(http, tenant, 10)


def cmcom(http: httpx.Client, tenant: str) -> None:
    """A message sent through the API; an end user writes (by hand); an agent takes over and replies by hand."""
    msg = {"from": "MyBrand", "to": [{"number": "0031612345678"}], "body": {"type": "auto", "content": "Hello"}}
    ok(http.post("/v1.0/message", json={"messages": {"authentication": {"productToken": tenant}, "msg": [msg]}}))
    advance(http, tenant, 3)
    hands = f"/_emulator/vendors/cmcom/tenants/{tenant}"
    chat = ok(http.post(f"{hands}/end-users/+31612345678/messages", json={"channel": "WhatsApp", "text": "Help!"}))
    advance(http, tenant, 2)
    ok(http.post(f"{hands}/chats/{chat['chatId']}/agent", json={"action": "take_over"}))
    ok(http.post(f"{hands}/chats/{chat['chatId']}/agent", json={"action": "say", "text": "An agent here"}))
    ok(http.post(f"{hands}/end-users/+31612345678/messages", json={"channel": "WhatsApp", "button": {"id": "y",
                 "title": "Yes"}}))  # fmt: skip
    advance(http, tenant, 30)


def samespace(http: httpx.Client, tenant: str) -> None:
    """A phone that rings until answered by hand, a menu answered by a key pressed by hand."""
    token = ok(http.post("/_emulator/tenants", json={"tenant": tenant, "vendors": ["samespace"]}), 201)
    ok(http.put(f"/_emulator/vendors/samespace/tenants/{tenant}/numbers/5551234",
                json={"answer": "no-answer", "dtmf": "none"}))  # fmt: skip
    flow = [
        {"id": 1, "type": "call", "number": "5551234", "caller_id": "100", "next_step": 2},
        {"id": 2, "type": "digits", "count": 1, "variable": "choice", "next_step": {"1": 3, "*": 4}},
        {"id": 3, "type": "play", "text": "You pressed one"},
        {"id": 4, "type": "play", "text": "Goodbye"},
    ]
    sink = f"{str(http.base_url).rstrip('/')}/_emulator/sink/samespace/{tenant}"
    auth = {"cloud_id": tenant, "auth_token": token["credentials"]["samespace"]["auth_token"]}
    body = {**auth, "publish": {"url": sink}, "flow": flow}
    call = ok(http.post("/api/public/v1/call/flow", json=body))["call_id"]
    advance(http, tenant, 4)
    hands = f"/_emulator/vendors/samespace/tenants/{tenant}/calls/{call}"
    ok(http.post(f"{hands}/answer"))
    advance(http, tenant, 1.5)
    ok(http.post(f"{hands}/digits", json={"digits": "1"}))
    advance(http, tenant, 20)


SESSIONS: dict[str, tuple[str, Callable[[httpx.Client, str], None]]] = {
    "eightbyeight": ("rt-8x8", eightbyeight),
    "sangoma": ("rt-sangoma", sangoma),
    "cmcom": (CM_TOKEN, cmcom),
    "samespace": ("rt-samespace", samespace),
}


def live_bodies(http: httpx.Client, vendor: str, tenant: str) -> list[Any]:
    found = ok(http.get("/_emulator/deliveries", params={"vendor": vendor, "tenant": tenant}))["deliveries"]
    return [d["body"] for d in sorted(found, key=lambda d: d["id"])]


@pytest.mark.parametrize("vendor", list(SESSIONS))
def test_what_was_done_by_hand_replays_with_the_same_webhooks(http: httpx.Client, tmp_path: Path, vendor: str) -> None:
    tenant, session = SESSIONS[vendor]
    ok(http.post("/_emulator/reset", params={"tenant": tenant}))
    session(http, tenant)
    live = live_bodies(http, vendor, tenant)
    assert len(live) >= 4, live

    exported = http.get("/_emulator/scenarios/export", params={"vendor": vendor, "tenant": tenant})
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"].startswith("application/yaml")
    assert exported.headers["content-disposition"] == f'attachment; filename="{vendor}-{tenant}.yaml"'
    doc = yaml.safe_load(exported.text)
    assert (doc["vendor"], doc["tenant"], doc["seed"]) == (vendor, tenant, 42)
    assert sum("expect_webhook" in step for step in doc["steps"]) == len(live)
    saved = tmp_path / f"{vendor}.yaml"
    saved.write_text(exported.text, encoding="utf-8")

    run = subprocess.run([sys.executable, "-m", "emulator", "scenario", "run", str(saved)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr

    result = asyncio.run(run_path(saved))
    replayed = [json.loads(body) for body in result.webhook_bodies]
    assert [stable(b) for b in replayed] == [stable(b) for b in live]


def test_export_errors(http: httpx.Client) -> None:
    def get(**params: str) -> httpx.Response:
        return http.get("/_emulator/scenarios/export", params=params)

    missing = get(vendor="eightbyeight", tenant="nobody-here")
    assert (missing.status_code, missing.json()) == (
        404,
        {"error": "unknown_tenant", "message": "no 8x8 tenant 'nobody-here'"},
    )
    vendorless = get(vendor="nope", tenant="x")
    assert (vendorless.status_code, vendorless.json()["error"]) == (404, "unknown_vendor")
    for bad in ({"tenant": "x"}, {"vendor": "cmcom"}, {"vendor": "cmcom", "tenant": "x", "after": "-1"},
                {"vendor": "cmcom", "tenant": "x", "after": "soon"}):  # fmt: skip
        resp = get(**bad)
        assert (resp.status_code, resp.json()["error"]) == (400, "invalid_request"), (bad, resp.text)
