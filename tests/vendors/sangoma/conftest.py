"""Sangoma fixtures: an in-process app with only the Sangoma plugin on a virtual clock, the configured tenant
`acme` (`acme.cx.sangoma.com`, client `acme-client`/`s3cret`), and a typed helper around the API, the
control plane and the real `webhook_sink` receiver."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from emulator.core.runtime import Emulator
from emulator.pytest_plugin import WebhookSink
from emulator.vendors import sangoma
from tests.conftest import AppFactory

TOKEN = "/oauth/token"
API = "/cx/api/v1"
DI = f"{API}/digital-interactions"
CONTROL = "/_emulator/vendors/sangoma/tenants"
TENANT = "acme"
DOMAIN = "acme.cx.sangoma.com"
CLIENT, SECRET = "acme-client", "s3cret"
ALL_SCOPES = "cx.agent-calls cx.queue-calls cx.digital-interactions"


def basic(client: str = CLIENT, secret: str = SECRET) -> str:
    return "Basic " + base64.b64encode(f"{client}:{secret}".encode()).decode()


def vendor_settings(**tenant: Any) -> dict[str, Any]:
    return {"sangoma": {"tenants": {TENANT: {"client_id": CLIENT, "client_secret": SECRET, **tenant}}}}


@dataclass
class Sng:
    """One in-process cxemu with the Sangoma plugin, and what a test does with it."""

    http: httpx.AsyncClient
    emu: Emulator
    token: str = ""
    tenant: str = TENANT

    async def get_token(self, scope: str = ALL_SCOPES, auth: str | None = None) -> str:
        resp = await self.http.post(
            TOKEN, data={"grant_type": "client_credentials", "scope": scope}, headers={"Authorization": auth or basic()}
        )
        assert resp.status_code == 200, resp.text
        return str(resp.json()["access_token"])

    async def call(self, method: str, path: str, body: Any = None, *, token: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.token}", "Accept": "application/json"}
        return await self.http.request(method, path, json=body, headers=headers)

    async def ok(self, path: str, body: dict[str, Any]) -> Any:
        resp = await self.call("POST", path, {"tenant_domain": DOMAIN, **body})
        assert resp.status_code == 200, resp.text
        return resp.json() if resp.content else None

    async def hand(self, path: str, body: dict[str, Any], status: int = 200) -> Any:
        resp = await self.http.post(f"{CONTROL}/{self.tenant}{path}", json=body)
        assert resp.status_code == status, resp.text
        return resp.json()

    async def world(self) -> dict[str, Any]:
        resp = await self.http.get(f"{CONTROL}/{self.tenant}")
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    async def advance(self, seconds: float) -> None:
        resp = await self.http.post("/_emulator/clock/advance", json={"seconds": seconds})
        assert resp.status_code == 200, resp.text

    async def settle(self) -> None:
        """Every webhook submitted so far has been attempted (wall time; nothing moves the clock)."""
        await self.emu.scheduler.settle()
        sent = self.emu.dispatcher.deliveries()
        await self.emu.dispatcher.wait(lambda d: d.status != "pending", count=len(sent), timeout=10.0)

    def events(self, prefix: str = "") -> list[str]:
        return [e.kind for e in self.emu.bus.recent if e.tenant == self.tenant and e.kind.startswith(prefix)]

    @property
    def state(self) -> Any:
        return self.emu.store.peek("sangoma", self.tenant)


SngFactory = Callable[..., Awaitable[Sng]]


@pytest.fixture
async def make_sng(make_app: AppFactory) -> SngFactory:
    """Build started apps with only the Sangoma plugin (virtual clock, seed 7; tenant `acme` unless told)."""

    async def factory(*, token: bool = True, **overrides: Any) -> Sng:
        overrides.setdefault("vendors", vendor_settings())
        app, client = await make_app(vendor_plugins=[sangoma.PLUGIN], **overrides)
        env = Sng(http=client, emu=app.state.emulator)
        if token:
            env.token = await env.get_token()
        return env

    return factory


@pytest.fixture
async def sng(make_sng: SngFactory) -> Sng:
    return await make_sng()


async def bot_inbox(env: Sng, sink: WebhookSink, *, hook_events: list[str] | None = None) -> dict[str, Any]:
    """An agent bot posting to the sink's `/bot`, attached to the web widget inbox 1; with `hook_events`, an
    account webhook to `/hook` too."""
    bot = await env.ok(f"{DI}/agent-bot/", {"outgoing_url": sink.url_for("/bot"), "name": "My first bot"})
    await env.ok(f"{DI}/assign-agent-bot/", {"inbox_id": 1, "agent_bot_id": bot["id"]})
    if hook_events:
        await env.ok(f"{DI}/webhooks/", {"url": sink.url_for("/hook"), "subscriptions": hook_events})
    return dict(bot)


def received(sink: WebhookSink, path: str) -> list[dict[str, Any]]:
    return [r.json for r in list(sink.requests) if r.path == path]


def names(sink: WebhookSink, path: str) -> list[str]:
    return [str(b.get("event")) for b in received(sink, path)]
