"""Shared fixtures for 8x8 end-to-end tests: an in-process app with only the 8x8 plugin on a virtual clock,
a typed helper around its API and control plane, and webhooks pointed at the real `webhook_sink` receiver."""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from joserfc import jws
from joserfc.jwk import RSAKey
from starlette.applications import Starlette

from emulator.core.runtime import Emulator
from emulator.core.webhooks import DeliveryFilter
from emulator.pytest_plugin import ReceivedRequest, WebhookSink
from emulator.vendors import eightbyeight
from tests.conftest import AppFactory

API = "/chat-gateway/v1"
CONTROL = "/_emulator/vendors/eightbyeight/tenants"
TENANT = "acme"
API_KEY = "acme-key"
AGENT = {"id": "ag-jane", "name": "Jane Doe"}
AGENT2 = {"id": "ag-bob", "name": "Bob Stone"}
SALES_AGENT = {"id": "ag-sam", "name": "Sam Sales"}
HOOK_PATH = "/hook"


def tenant_config(uri: str | None = None, **extra: Any) -> dict[str, Any]:
    """The tenant `acme`: queue 123 (the seed's, one agent), queue 101 Sales (one agent)."""
    cfg: dict[str, Any] = {
        "api_keys": [API_KEY],
        "tenant_id": "acme-tid",
        "customer_id": "acme-cid",
        "queues": [
            {"id": "123", "name": "Support", "agents": [AGENT]},
            {"id": "101", "name": "Sales", "agents": [SALES_AGENT]},
        ],
    }
    if uri is not None:
        cfg["webhook_uri"] = uri
    cfg.update(extra)
    return cfg


def vendor_settings(tenant: dict[str, Any] | None = None, **section: Any) -> dict[str, Any]:
    return {"eightbyeight": {"tenants": {TENANT: tenant or tenant_config()}, **section}}


@dataclass
class Ebe:
    """One in-process cxemu with the 8x8 plugin, and what a test does with it."""

    app: Starlette
    http: httpx.AsyncClient
    emu: Emulator
    api_key: str = API_KEY
    tenant: str = TENANT

    # -- the vendor API -----------------------------------------------------------------------------

    async def api(self, method: str, path: str, body: Any = None, *, key: str | None = None) -> httpx.Response:
        headers = {"x-api-key": key or self.api_key, "accept": "application/hal+json"}
        return await self.http.request(method, f"{API}{path}", json=body, headers=headers)

    async def create(self, body: dict[str, Any]) -> str:
        resp = await self.api("POST", "/conversations", body)
        assert resp.status_code == 202, resp.text
        return str(resp.json()["conversationId"])

    async def say(self, conv: str, text: str, author: str = "user") -> None:
        resp = await self.api("POST", f"/conversations/{conv}/messages", {"authorType": author, "text": text})
        assert resp.status_code == 202, resp.text

    # -- the control plane --------------------------------------------------------------------------

    async def advance(self, seconds: float) -> dict[str, Any]:
        resp = await self.http.post("/_emulator/clock/advance", json={"seconds": seconds})
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    async def run_until_idle(self) -> dict[str, Any]:
        resp = await self.http.post("/_emulator/clock/run-until-idle", json={})
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    async def behaviour(self, **changes: Any) -> None:
        resp = await self.http.put(f"{CONTROL}/{self.tenant}/behaviour", json=changes)
        assert resp.status_code == 200, resp.text

    async def hand(self, conv: str, action: str, **fields: Any) -> dict[str, Any]:
        """One hand-driven agent action (join, typing, stop_typing, say, transfer, leave)."""
        resp = await self.http.post(
            f"{CONTROL}/{self.tenant}/conversations/{conv}/agent", json={"action": action, **fields}
        )
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    async def delivered(self, count: int, **filters: Any) -> None:
        """Wait (wall time) until `count` deliveries of this tenant matching `filters` are settled."""
        match = DeliveryFilter(vendor="eightbyeight", tenant=self.tenant, **filters)
        await self.emu.scheduler.settle()
        found = await self.emu.dispatcher.wait(match, count=count, timeout=10.0)
        assert len(found) >= count, [(d.event_type, d.status) for d in self.emu.dispatcher.deliveries(match)]

    def now_ms(self) -> int:
        return round(self.emu.clock.now() * 1000)

    @property
    def state(self) -> Any:
        return self.emu.store.peek("eightbyeight", self.tenant)


EbeFactory = Callable[..., Awaitable[Ebe]]


@pytest.fixture
async def make_ebe(make_app: AppFactory) -> EbeFactory:
    """Build started apps with only the 8x8 plugin (virtual clock, seed 7 unless told); stopped at teardown."""

    async def factory(**overrides: Any) -> Ebe:
        app, client = await make_app(vendor_plugins=[eightbyeight.PLUGIN], **overrides)
        return Ebe(app=app, http=client, emu=app.state.emulator)

    return factory


@pytest.fixture
async def ebe(make_ebe: EbeFactory, webhook_sink: WebhookSink) -> Ebe:
    """Tenant `acme` (queues 123 Support / 101 Sales) whose default webhook `1` posts to the sink."""
    env = await make_ebe(vendors=vendor_settings(tenant_config(webhook_sink.url_for(HOOK_PATH))))
    # A configured tenant only exists for the control plane once the API has been used (see
    # test_control_plane_knows_a_configured_tenant): an integration's first call, as in real setups.
    assert (await env.api("GET", "/webhooks")).status_code == 200
    return env


async def hook_to_sink(env: Ebe, sink: WebhookSink, path: str = HOOK_PATH, webhook_id: str = "1") -> None:
    """Point a tenant's webhook (default: the default webhook `1`) at the sink, through the API."""
    body = {"name": "sink", "uri": sink.url_for(path), "version": "Chat Gateway v1.0"}
    resp = await env.api("PUT", f"/webhooks/{webhook_id}", body)
    assert resp.status_code == 200, resp.text


async def create_hook_and_channel(
    env: Ebe, sink: WebhookSink, path: str, *, version: str = "Chat Gateway v1.0", queue: str = "123"
) -> tuple[str, str]:
    """Create a webhook to the sink and a ChatAPI channel on it routing to `queue`; returns their ids."""
    resp = await env.api("POST", "/webhooks", {"name": f"hook {path}", "uri": sink.url_for(path), "version": version})
    assert resp.status_code == 200, resp.text
    hook_id = str(resp.json()["id"])
    body = {
        "name": f"chan {path}",
        "type": "ChatAPI",
        "webHookId": hook_id,
        "routingOptions": {"type": "queue", "id": queue},
    }
    resp = await env.api("POST", "/channels", body)
    assert resp.status_code == 200, resp.text
    return hook_id, str(resp.json()["id"])


# -- reading what the sink got ------------------------------------------------------------------------------


def bodies(sink: WebhookSink, path: str | None = HOOK_PATH, *, verify: bool = False) -> list[dict[str, Any]]:
    """JSON bodies received at `path`, in arrival order (WEB_HOOK_VERIFY left out unless `verify`)."""
    out = []
    for r in list(sink.requests):
        if path is not None and r.path != path:
            continue
        body = r.json
        if not verify and body.get("eventType") == "WEB_HOOK_VERIFY":
            continue
        out.append(body)
    return out


def events_of(sink: WebhookSink, conv: str, path: str | None = HOOK_PATH) -> list[dict[str, Any]]:
    return [b for b in bodies(sink, path) if b.get("conversationId") == conv]


def shape(body: dict[str, Any]) -> str:
    """A short label of a webhook body, for readable order assertions."""
    kind, data = body["eventType"], body.get("data") or {}
    if kind == "CONVERSATION_UPDATE":
        return f"CU({data['state']},{data['assignment']['type']})"
    if kind == "MEMBERS_CHANGED":
        return f"MC({data['memberType']} {data['change']})"
    if kind == "QUEUED":
        return f"QUEUED({data.get('queueId', body.get('queueId'))})"
    if kind == "ACTIVITY":
        return f"TYPING({len(data['value']['users'])})"
    if kind == "MESSAGE":
        return f"MSG({data['sender']['type']},{'echo' if data['isEcho'] else 'live'})"
    return str(kind)


# -- verifying signatures independently --------------------------------------------------------------------


def protected_header(compact: str) -> dict[str, Any]:
    head = compact.split(".")[0]
    return dict(json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))))


def signed_payload(req: ReceivedRequest, body: bytes | None = None) -> bytes:
    """The detached JWS payload as a receiver rebuilds it from the headers and the raw body (§1.5)."""
    h = req.headers
    payload = {
        "checksum": zlib.crc32(req.body if body is None else body),
        "cid": h["x-8x8-customer-id"],
        "eid": h["x-8x8-event-id"],
        "retry": int(h["x-8x8-retry"]),
        "tid": h["x-8x8-tenant-id"],
        "tt": int(h["x-8x8-transmission-time"]),
    }
    return json.dumps(payload, separators=(",", ":")).encode()


async def fetch_jwk(env: Ebe, kid: str) -> dict[str, Any]:
    resp = await env.http.get(f"{API}/jwk/{kid}/public")  # no x-api-key: the endpoint is public
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def joserfc_verify(jwk: dict[str, Any], req: ReceivedRequest, body: bytes | None = None) -> bytes:
    """Verify `x-8x8-signature` with joserfc (RFC 7797, unencoded detached payload); raises on mismatch."""
    key = RSAKey.import_key(dict(jwk))
    obj = jws.deserialize_compact(
        req.headers["x-8x8-signature"], key, algorithms=["RS256"], payload=signed_payload(req, body)
    )
    return bytes(obj.payload)


# -- expected webhook bodies (Chat Gateway v1, eightbyeight.md §1.6) -----------------------------------------


def cu(conv: str, ts: int, state: str, assignment: dict[str, str], user: dict[str, Any]) -> dict[str, Any]:
    data = {"state": state, "assignment": assignment, "user": user, "channel": "ChatAPI"}
    return {"eventType": "CONVERSATION_UPDATE", "conversationId": conv, "timestamp": ts, "data": data}


def queued(conv: str, ts: int, queue_id: str, queue_name: str) -> dict[str, Any]:
    data = {"queueId": queue_id, "queueName": queue_name}
    return {"eventType": "QUEUED", "conversationId": conv, "timestamp": ts, "data": data}


def members(conv: str, ts: int, member_type: str, change: str, member_id: str) -> dict[str, Any]:
    data = {"memberType": member_type, "change": change, "id": member_id}
    return {"eventType": "MEMBERS_CHANGED", "conversationId": conv, "timestamp": ts, "data": data}


def typing(conv: str, ts: int, agent_id: str | None) -> dict[str, Any]:
    users = [{"type": "agent", "id": agent_id}] if agent_id else []
    data = {"name": "typing", "value": {"users": users}}
    return {"eventType": "ACTIVITY", "conversationId": conv, "timestamp": ts, "data": data}


def message(conv: str, ts: int, *, echo: bool, sender: str, sender_type: str, text: str) -> dict[str, Any]:
    data = {
        "isEcho": echo,
        "sender": {"id": sender, "type": sender_type},
        "text": text,
        "attachments": [],
        "cards": [],
    }
    return {"eventType": "MESSAGE", "conversationId": conv, "timestamp": ts, "data": data}


def transfer(conv: str, ts: int) -> dict[str, Any]:
    return {"eventType": "TRANSFER", "conversationId": conv, "timestamp": ts}


def queue_of(queue_id: str) -> dict[str, str]:
    return {"type": "queue", "id": queue_id}


def agent_of(agent_id: str) -> dict[str, str]:
    return {"type": "agent", "id": agent_id}


async def user_participant(env: Ebe, conv: str) -> str:
    resp = await env.api("GET", f"/conversations/{conv}/participants")
    assert resp.status_code == 200, resp.text
    return next(p["id"] for p in resp.json()["_embedded"]["participants"] if p["type"] == "user")
