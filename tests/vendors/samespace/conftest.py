"""Samespace fixtures: an in-process app with only the Samespace plugin on a virtual clock, a helper around
its API and control plane, and the real `webhook_sink` receiver standing in for http-step backends and the
callback URL."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from emulator.core.runtime import Emulator
from emulator.vendors import samespace
from tests.conftest import AppFactory

API = "/api/public/v1"
CONTROL = "/_emulator/vendors/samespace/tenants"
CLOUD = "acme"
TOKEN = "acme-token"


def call_step(next_step: Any = 1, number: str = "917507161643", id: Any = "0") -> dict[str, Any]:
    return {"id": id, "type": "call", "number": number, "caller_id": "123456", "next_step": next_step}


def body(*flow: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"cloud_id": CLOUD, "auth_token": TOKEN, "flow": list(flow), **top}


@dataclass
class Ss:
    http: httpx.AsyncClient
    emu: Emulator

    async def post_flow(self, payload: dict[str, Any] | str) -> httpx.Response:
        if isinstance(payload, str):
            headers = {"content-type": "application/json"}
            return await self.http.post(f"{API}/call/flow", content=payload, headers=headers)
        return await self.http.post(f"{API}/call/flow", json=payload)

    async def start(self, *flow: dict[str, Any], **top: Any) -> str:
        resp = await self.post_flow(body(*flow, **top))
        assert resp.status_code == 200, resp.text
        return str(resp.json()["call_id"])

    async def metadata(self, call_id: str, cloud: str = CLOUD, token: str = TOKEN) -> dict[str, Any]:
        resp = await self.http.get(f"{API}/call/{call_id}", params={"cloud_id": cloud, "auth_token": token})
        assert resp.status_code == 200, resp.text
        data: dict[str, Any] = resp.json()["call"]
        return data

    async def advance(self, seconds: float) -> None:
        await self.emu.scheduler.advance(seconds)

    async def idle(self) -> None:
        await self.emu.scheduler.run_until_idle()

    async def control(self, method: str, path: str, payload: Any = None) -> httpx.Response:
        return await self.http.request(method, f"{CONTROL}/{CLOUD}{path}", json=payload)

    async def press(self, call_id: str, digits: str) -> httpx.Response:
        return await self.control("POST", f"/calls/{call_id}/digits", {"digits": digits})

    def events(self, call_id: str) -> list[str]:
        return [e.kind for e in self.emu.bus.recent if e.subject == call_id]


SILENT = {"dtmf": "none"}
"""A callee that never keys in by itself (the default keys seeded digits): these tests key digits by hand."""


def tenant(**extra: Any) -> dict[str, Any]:
    return {"samespace": {"tenants": {CLOUD: {"auth_token": TOKEN, **extra}}, "default_callee": SILENT}}


SsFactory = Callable[..., Awaitable[Ss]]


@pytest.fixture
async def make_ss(make_app: AppFactory) -> SsFactory:
    """Build started apps with only the Samespace plugin (virtual clock, seed 7; cloud CLOUD unless told)."""

    async def factory(vendors: dict[str, Any] | None = None, **settings: Any) -> Ss:
        app, client = await make_app(vendor_plugins=[samespace.PLUGIN], vendors=vendors or tenant(), **settings)
        return Ss(client, app.state.emulator)

    return factory


@pytest.fixture
async def ss(make_ss: SsFactory) -> Ss:
    return await make_ss()


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
