"""Retention (core.retention): ended conversations, chats and calls are kept up to a count and an age per tenant,
then evicted; an evicted id answers as one that never existed (the vendor's 404); nothing pending is evicted;
eviction is deterministic; a reset gives the memory back."""

from __future__ import annotations

import base64
import gc
import tracemalloc
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import httpx
import pytest

from emulator.core.errors import ConfigError
from emulator.core.retention import Ended, Limits, Retained, Retainer
from emulator.core.runtime import Emulator
from emulator.core.settings import Settings
from emulator.vendors import VENDORS
from tests.conftest import AppFactory

P8 = "/chat-gateway/v1"
DI = "/cx/api/v1/digital-interactions"
CALL = "/api/public/v1/call"
QUIET = {
    "eightbyeight": {"behaviour": {"auto": False}},
    "sangoma": {"behaviour": {"auto": False}},
    "cmcom": {"behaviour": {"agents_auto": False}},
    "samespace": {"default_callee": {"rings": 1}, "behaviour": {"ring_seconds": 1}},
}
"""Simulated agents off: a conversation ends when the test ends it."""

Cxemu = tuple[Emulator, httpx.AsyncClient]


@pytest.fixture
def cxemu(make_app: AppFactory) -> Callable[..., Awaitable[Cxemu]]:
    async def make(**retention: Any) -> Cxemu:
        app, client = await make_app(vendor_plugins=VENDORS, vendors=QUIET, retention=retention)
        return app.state.emulator, client

    return make


async def idle(client: httpx.AsyncClient) -> None:
    """Every timer and delivery of every tenant has run (virtual clock)."""
    resp = await client.post("/_emulator/clock/run-until-idle", json={})
    assert resp.status_code == 200, resp.text


# -- one ended entity per vendor, and the GET that shows whether it is still there ---------------------------


async def ended_8x8(client: httpx.AsyncClient, tenant: str) -> str:
    key = {"x-api-key": tenant}
    made = await client.post(f"{P8}/conversations", json={"channelId": "1", "user": {"name": "U"}}, headers=key)
    assert made.status_code == 202, made.text
    conv = str(made.json()["conversationId"])
    await idle(client)
    left = await client.patch(f"{P8}/conversations/{conv}/participants/user", json={"removed": True}, headers=key)
    assert left.status_code == 204, left.text
    await idle(client)
    return conv


async def get_8x8(client: httpx.AsyncClient, tenant: str, conv: str) -> httpx.Response:
    return await client.get(f"{P8}/conversations/{conv}", headers={"x-api-key": tenant})


async def sangoma_token(client: httpx.AsyncClient, tenant: str) -> dict[str, str]:
    basic = base64.b64encode(f"{tenant}:secret".encode()).decode()
    resp = await client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"}
    )
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


async def ended_sangoma(client: httpx.AsyncClient, tenant: str) -> str:
    auth, domain = await sangoma_token(client, tenant), f"{tenant}.cx.sangoma.com"
    contact = await client.post(
        f"{DI}/contacts/", json={"tenant_domain": domain, "name": "Ada", "inbox_id": 2}, headers=auth
    )
    assert contact.status_code == 200, contact.text
    body = {"tenant_domain": domain, "contact_id": contact.json()["payload"]["contact"]["id"], "inbox_id": 2}
    conv = await client.post(f"{DI}/conversations/", json=body, headers=auth)
    assert conv.status_code == 200, conv.text
    display = conv.json()["id"]
    done = await client.post(
        f"{DI}/conversations/finish/", json={"tenant_domain": domain, "conversation_id": display}, headers=auth
    )
    assert done.status_code == 200, done.text
    await idle(client)
    return str(display)


async def get_sangoma(client: httpx.AsyncClient, tenant: str, display: str) -> httpx.Response:
    """Sangoma serves no GET of a conversation: posting a message to it is the request that finds it or not."""
    auth, domain = await sangoma_token(client, tenant), f"{tenant}.cx.sangoma.com"
    msg = {"tenant_domain": domain, "conversation_id": int(display), "content": "hi", "message_type": "outgoing"}
    return await client.post(f"{DI}/messages/", json=msg, headers=auth)


CM_TOKEN = "11111111-2222-3333-4444-{n:012d}"
CM_SEQ = iter(range(10_000))


async def ended_cmcom(client: httpx.AsyncClient, tenant: str) -> str:
    number = f"0031612{next(CM_SEQ):06d}"
    msg = {"from": "Acme", "to": [{"number": number}], "body": {"type": "auto", "content": "Hello"}}
    resp = await client.post(
        "/v1.0/message", json={"messages": {"authentication": {"producttoken": tenant}, "msg": [msg]}}
    )
    assert resp.status_code == 200, resp.text
    await idle(client)
    chats = (await client.get(f"/_emulator/vendors/cmcom/tenants/{tenant}/chats")).json()["chats"]
    return str(next(c["chatId"] for c in chats if number.lstrip("0") in str(c)))


async def get_cmcom(client: httpx.AsyncClient, tenant: str, chat: str) -> httpx.Response:
    return await client.get(f"/_emulator/vendors/cmcom/tenants/{tenant}/chats/{chat}")


async def ended_samespace(client: httpx.AsyncClient, tenant: str) -> str:
    flow = [
        {"id": "0", "type": "call", "number": "917507161643", "caller_id": "123456", "next_step": "1"},
        {"id": "1", "type": "play", "text": "hello"},
    ]
    resp = await client.post(f"{CALL}/flow", json={"cloud_id": tenant, "auth_token": "tok", "flow": flow})
    assert resp.status_code == 200, resp.text
    await idle(client)
    return str(resp.json()["call_id"])


async def get_samespace(client: httpx.AsyncClient, tenant: str, call: str) -> httpx.Response:
    return await client.get(f"{CALL}/{call}", params={"cloud_id": tenant, "auth_token": "tok"})


Make = Callable[[httpx.AsyncClient, str], Awaitable[str]]
Get = Callable[[httpx.AsyncClient, str, str], Awaitable[httpx.Response]]
KINDS: dict[str, tuple[str, Make, Get, str]] = {
    "eightbyeight": ("acme", ended_8x8, get_8x8, "AAAAAAAAAAAAAAAAAAAAAA"),
    "sangoma": ("acme", ended_sangoma, get_sangoma, "999999"),
    "cmcom": (CM_TOKEN.format(n=1), ended_cmcom, get_cmcom, "00000000-0000-0000-0000-000000000000"),
    "samespace": ("acme", ended_samespace, get_samespace, "00000000-0000-4000-8000-000000000000"),
}


def never_existed(resp: httpx.Response, evicted: str, unknown: str) -> tuple[int, str]:
    return resp.status_code, resp.text.replace(evicted, unknown)


@pytest.mark.parametrize("vendor", list(KINDS))
async def test_count_keeps_the_newest_ended_and_the_evicted_answer_the_vendors_404(
    cxemu: Callable[..., Awaitable[Cxemu]], vendor: str
) -> None:
    emu, client = await cxemu(count=2)
    tenant, make, get, unknown = KINDS[vendor]
    ids = [await make(client, tenant) for _ in range(4)]
    assert emu.retainer.evicted == 2
    for kept in ids[2:]:
        assert (await get(client, tenant, kept)).status_code == 200
    missing = await get(client, tenant, unknown)
    assert missing.status_code == 404
    for gone in ids[:2]:
        assert never_existed(await get(client, tenant, gone), gone, unknown) == (404, missing.text)


@pytest.mark.parametrize("vendor", list(KINDS))
async def test_age_evicts_what_ended_longer_ago_on_the_tenants_timeline(
    cxemu: Callable[..., Awaitable[Cxemu]], vendor: str
) -> None:
    _, client = await cxemu(age=600)
    tenant, make, get, _ = KINDS[vendor]
    old = await make(client, tenant)
    moved = await client.post("/_emulator/clock/advance", json={"seconds": 601})
    assert moved.status_code == 200
    new = await make(client, tenant)
    assert (await get(client, tenant, old)).status_code == 404
    assert (await get(client, tenant, new)).status_code == 200


async def test_another_tenants_time_evicts_nothing(cxemu: Callable[..., Awaitable[Cxemu]]) -> None:
    _, client = await cxemu(age=600)
    kept = await ended_samespace(client, "acme")
    await client.post("/_emulator/clock/advance", json={"seconds": 601, "tenant": ["other"]})
    await ended_samespace(client, "acme")
    await ended_samespace(client, "other")
    assert (await get_samespace(client, "acme", kept)).status_code == 200


async def test_a_pending_job_keeps_an_ended_conversation(cxemu: Callable[..., Awaitable[Cxemu]]) -> None:
    """The user leaves before the interaction started: the activation job still names the conversation."""
    emu, client = await cxemu(count=0)
    key = {"x-api-key": "acme"}
    made = await client.post(f"{P8}/conversations", json={"channelId": "1", "user": {"name": "U"}}, headers=key)
    conv = made.json()["conversationId"]
    left = await client.patch(f"{P8}/conversations/{conv}/participants/user", json={"removed": True}, headers=key)
    assert left.status_code == 204
    assert any(t.job and t.job["args"].get("conv") == conv for t in emu.scheduler.pending(["acme"]))
    await emu.scheduler.settle()  # its webhooks are out: only the job names it
    assert not emu.dispatcher.deliveries(lambda d: d.status == "pending")
    await client.post(f"{P8}/conversations/{conv}/typing", json={"authorType": "user"}, headers=key)
    assert (await get_8x8(client, "acme", conv)).status_code == 200
    await idle(client)
    await ended_8x8(client, "acme")  # any later unit of work sweeps again
    assert (await get_8x8(client, "acme", conv)).status_code == 404


async def test_a_pending_webhook_keeps_an_ended_call(cxemu: Callable[..., Awaitable[Cxemu]]) -> None:
    emu, client = await cxemu(count=0)
    held = await client.put("/_emulator/chaos", json={"delay": 1.0, "delay_seconds": 3600})
    assert held.status_code == 200, held.text
    flow = [{"id": "0", "type": "call", "number": "917507161643", "caller_id": "1", "next_step": "1"},
            {"id": "1", "type": "play", "text": "hi"}]  # fmt: skip
    body = {"cloud_id": "acme", "auth_token": "tok", "flow": flow, "publish": {"url": "https://hooks.example.com/ss"}}
    first = (await client.post(f"{CALL}/flow", json=body)).json()["call_id"]
    await client.post("/_emulator/clock/advance", json={"seconds": 30})
    assert emu.dispatcher.deliveries(lambda d: d.status == "pending"), [
        (d.url, d.status, d.attempts) for d in emu.dispatcher.deliveries()
    ][:3]
    await ended_samespace(client, "acme")
    assert (await get_samespace(client, "acme", first)).status_code == 200


async def test_what_pins_is_looked_for_only_when_something_is_to_go(cxemu: Callable[..., Awaitable[Cxemu]]) -> None:
    """Refs given as a function (CM's: a pass over every message kept) are looked for only by a sweep that evicts,
    so a sweep that keeps everything costs a pass over the ended entities alone; then they still pin."""
    emu, _ = await cxemu()
    looked: list[int] = []
    evicted: list[int] = []

    def refs(i: int) -> tuple[str, ...]:
        looked.append(i)
        return (f"thing-{i}",)

    def ended(state: Any) -> list[Ended]:
        return [Ended(i, float(i), partial(refs, i)) for i in range(3)]

    retainer = Retainer(emu)
    retainer.hooks["v"] = [Retained("things", Limits(3, None), ended, lambda _s, ids: evicted.extend(ids))]
    assert retainer.sweep("v", "t", Settings(), 10.0) == 0
    assert (looked, evicted) == ([], [])
    retainer.hooks["v"] = [Retained("things", Limits(1, None), ended, lambda _s, ids: evicted.extend(ids))]
    emu.scheduler.register_job("wpath-noop", lambda *_: None)
    emu.scheduler.schedule_job(5.0, "wpath-noop", {"thing": "thing-0"}, vendor="v", tenant="t")
    assert retainer.sweep("v", "t", Settings(), 10.0) == 2
    assert sorted(looked) == [0, 1, 2]
    assert evicted == [1, 2]  # the oldest, 0, is pinned by the job that names it


async def test_eviction_is_deterministic(make_app: AppFactory) -> None:
    bodies = []
    for _ in range(2):
        _, client = await make_app(vendor_plugins=VENDORS, vendors=QUIET, retention={"count": 2})
        ids = [await ended_8x8(client, "acme") for _ in range(5)]
        listing = await client.get(f"{P8}/conversations", headers={"x-api-key": "acme"})
        sink = await client.get("/_emulator/sink", params={"limit": 1000})
        bodies.append((ids, listing.content, sink.content))
    assert bodies[0] == bodies[1]
    assert (
        len(
            (await client.get(f"{P8}/conversations", headers={"x-api-key": "acme"})).json()["_embedded"][
                "conversations"
            ]
        )
        == 2
    )


async def test_retention_off_keeps_everything(cxemu: Callable[..., Awaitable[Cxemu]]) -> None:
    emu, client = await cxemu(enabled=False, count=0)
    ids = [await ended_samespace(client, "acme") for _ in range(3)]
    assert [(await get_samespace(client, "acme", i)).status_code for i in ids] == [200, 200, 200]
    assert emu.retainer.limits("samespace") == {}


async def test_per_vendor_limits_win(cxemu: Callable[..., Awaitable[Cxemu]]) -> None:
    emu, _ = await cxemu(count=5, vendors={"samespace": {"count": 1, "age": 0}})
    assert emu.retainer.limits("samespace")["calls"].count == 1
    assert emu.retainer.limits("samespace")["calls"].age is None
    assert emu.retainer.limits("eightbyeight")["conversations"].count == 5
    assert emu.retainer.limits("sangoma")["calls"].age == 86_400.0


@pytest.mark.parametrize(
    ("retention", "where"),
    [({"count": -1}, "retention.count"), ({"age": "soon"}, "retention.age"), ({"vendors": {"x": {"cont": 1}}}, "cont")],
)
def test_bad_retention_settings_name_the_key(retention: dict[str, Any], where: str) -> None:
    with pytest.raises(ConfigError, match=where.replace(".", r"\.")):
        Settings.load({}, {"retention": retention})


# -- reset gives memory back ------------------------------------------------------------------------------------


async def _fill(client: httpx.AsyncClient, tenant: str, n: int) -> None:
    key = {"x-api-key": tenant}
    for _ in range(n):
        made = await client.post(f"{P8}/conversations", json={"channelId": "1", "user": {"name": "U"}}, headers=key)
        conv = made.json()["conversationId"]
        await client.post(
            f"{P8}/conversations/{conv}/messages", json={"authorType": "user", "text": "x" * 200}, headers=key
        )
    await idle(client)


def _traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


async def test_reset_gives_the_memory_back(cxemu: Callable[..., Awaitable[Cxemu]]) -> None:
    emu, client = await cxemu()
    await _fill(client, "warm", 5)  # code paths, caches and pools made once
    await client.post("/_emulator/reset")
    tracemalloc.start()
    try:
        base = _traced()
        await _fill(client, "a", 150)
        await _fill(client, "b", 150)
        full = _traced()
        assert full - base > 1_000_000, "the fill should hold a measurable amount"
        await client.post("/_emulator/reset", params={"tenant": "a"})
        half = _traced()
        await client.post("/_emulator/reset")
        empty = _traced()
    finally:
        tracemalloc.stop()
    grown = full - base
    assert half - base < 0.7 * grown, (base, full, half)
    assert empty - base < 0.1 * grown, (base, full, empty)
    assert emu.store.tenants() == []
    assert emu.retainer.marks == {}
