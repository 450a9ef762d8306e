"""Shared fixtures for CM.com tests: an in-process app with only the CM plugin on a virtual clock, a helper
around its send API, router control API and control plane, and webhooks pointed at the real `webhook_sink`."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from emulator.core.runtime import Emulator
from emulator.core.webhooks import Delivery, DeliveryFilter
from emulator.pytest_plugin import CxemuHandle, WebhookSink
from emulator.vendors import cmcom
from tests.conftest import AppFactory

TENANT = "acme"
TOKEN = "5a1c7b7e-2b2f-4a55-9c1d-1b2c3d4e5f60"
ACCOUNT = "e17acdef-c918-423d-a01b-1000cd084f6a"  # the seed's accountId
BUSINESS = "+3197010254321"
CUSTOMER = "+31612345678"
BOT_PATH, STATUS_PATH, CC_PATH = "/bot", "/status", "/cc"
CONTROL = "/_emulator/vendors/cmcom/tenants"
# DESIGN.md: MD5 of channel|client|host (bare digits), as a .NET Guid (little-endian first three groups).
CHAT = str(uuid.UUID(bytes_le=hashlib.md5(b"WhatsApp|31612345678|3197010254321").digest()))
SESSIONS = f"/conversational/control/v1/accounts/{ACCOUNT}/sessions"
PAGE_ACCOUNT = ACCOUNT


def tenant_config(sink: WebhookSink | None = None, **extra: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "product_tokens": [TOKEN],
        "bot_router_account_id": ACCOUNT,
        "business_number": BUSINESS,
        "teams": [
            {"name": "Sales", "match": {"team": "sales"}, "agents": ["Sam Sales"]},
            {"name": "Support", "match": {"team": "support"}, "agents": ["Sue Support"]},
        ],
    }
    if sink is not None:
        cfg.update(
            bot_webhook=sink.url_for(BOT_PATH),
            status_webhook=sink.url_for(STATUS_PATH),
            customer_contact_webhook=sink.url_for(CC_PATH),
        )
    cfg.update(extra)
    return cfg


def vendor_settings(tenant: dict[str, Any], **section: Any) -> dict[str, Any]:
    return {"cmcom": {"tenants": {TENANT: tenant}, **section}}


def envelope(*msgs: dict[str, Any], token: str | None = TOKEN, casing: str = "producttoken") -> dict[str, Any]:
    auth = {} if token is None else {casing: token}
    return {"messages": {"authentication": auth, "msg": list(msgs)}}


def msg(text: str = "Hello", *to: str, sender: str = "Acme", **extra: Any) -> dict[str, Any]:
    numbers = to or ("0031612345678",)
    return {"from": sender, "to": [{"number": n} for n in numbers], "body": {"type": "auto", "content": text}, **extra}


@dataclass
class Cm:
    """One in-process cxemu with the CM plugin, and what a test does with it."""

    app: Starlette
    http: httpx.AsyncClient
    emu: Emulator
    tenant: str = TENANT

    async def send(self, body: Any, *, path: str = "/v1.0/message") -> httpx.Response:
        return await self.http.post(path, json=body)

    async def bmproxy(self, body: Any, account: str = ACCOUNT) -> httpx.Response:
        return await self.http.post(f"/conversational/bmproxy/v1/accounts/{account}", json=body)

    async def control(self, kind: str, body: Any = None, *, token: str | None = TOKEN) -> httpx.Response:
        headers = {"X-CM-PRODUCTTOKEN": token} if token is not None else {}
        return await self.http.post(f"{SESSIONS}/{kind}", json=body, headers=headers)

    async def customer(self, number: str = CUSTOMER, **message: Any) -> dict[str, Any]:
        resp = await self.http.post(f"{CONTROL}/{self.tenant}/end-users/{number}/messages", json=message)
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    async def agent(self, chat: str, action: str, **fields: Any) -> dict[str, Any]:
        resp = await self.http.post(f"{CONTROL}/{self.tenant}/chats/{chat}/agent", json={"action": action, **fields})
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    async def chat(self, chat: str) -> dict[str, Any]:
        resp = await self.http.get(f"{CONTROL}/{self.tenant}/chats/{chat}")
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    async def advance(self, seconds: float) -> None:
        resp = await self.http.post("/_emulator/clock/advance", json={"seconds": seconds})
        assert resp.status_code == 200, resp.text

    async def delivered(self, count: int, url: str | None = None, **filters: Any) -> None:
        """Wait (wall time) until `count` deliveries of this tenant matching `filters` (and `url`) are settled."""
        base = DeliveryFilter(vendor="cmcom", tenant=self.tenant, **filters)

        def match(d: Delivery) -> bool:
            return base(d) and (url is None or d.url == url)

        await self.emu.scheduler.settle()
        found = await self.emu.dispatcher.wait(match, count=count, timeout=10.0)
        assert len(found) >= count, [(d.event_type, d.status) for d in self.emu.dispatcher.deliveries(match)]

    def now(self) -> float:
        return self.emu.clock.now()


CmFactory = Callable[..., Awaitable[Cm]]


@pytest.fixture
async def make_cm(make_app: AppFactory) -> CmFactory:
    """Build started apps with only the CM plugin (virtual clock, seed 7 unless told); stopped at teardown."""

    async def factory(**overrides: Any) -> Cm:
        app, client = await make_app(vendor_plugins=[cmcom.PLUGIN], **overrides)
        return Cm(app=app, http=client, emu=app.state.emulator)

    return factory


@pytest.fixture
async def cm(make_cm: CmFactory, webhook_sink: WebhookSink) -> Cm:
    """Tenant `acme` (token TOKEN, account ACCOUNT) whose bot, status and Customer Contact webhooks go to the sink."""
    return await make_cm(vendors=vendor_settings(tenant_config(webhook_sink)))


def reply(text: str) -> dict[str, Any]:
    """The partner bot's answer to the customer through BMProxy, from the business number."""
    return envelope(msg(text, "0031612345678", sender="003197010254321", allowedChannels=["WhatsApp"]))


def mutation(*pairs: tuple[str, str], context: dict[str, str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"ChatId": CHAT, "Mutations": [{"$type": t, "ComponentId": comp} for t, comp in pairs]}
    if context is not None:
        body["Context"] = context
    return body


def bodies(sink: WebhookSink, path: str) -> list[dict[str, Any]]:
    return [r.json for r in list(sink.requests) if r.path == path]


def the_bot_hears_on_the_page_account(cxemu: CxemuHandle, sink: WebhookSink) -> dict[str, Any]:
    """After an SDK sent through BMProxy with the page's account id: the tenant's account is that id, and the
    customer's next message reaches the bot's webhook on it. Returns the chat (with its transcript)."""
    base = f"/_emulator/vendors/cmcom/tenants/{cxemu.tenant}"
    assert cxemu.http.get(base).json()["botRouterAccountId"] == PAGE_ACCOUNT
    assert cxemu.http.put(f"{base}/webhooks", json={"bot": sink.url_for("/bot")}).status_code == 200
    resp = cxemu.http.post(f"{base}/end-users/{CUSTOMER}/messages", json={"text": "Hi bot"})
    assert resp.status_code == 200, resp.text
    (got,) = sink.wait_for({"message": {"text": "Hi bot"}}, path="/bot")
    assert got.json["conversationalRouter"] == {"chatId": resp.json()["chatId"], "accountId": PAGE_ACCOUNT}
    return dict(cxemu.http.get(f"{base}/chats/{resp.json()['chatId']}").json())
