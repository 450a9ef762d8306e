"""A tenant's webhook bodies are byte-identical whatever other tenants did before it or alongside it.

One tenant's day (an 8x8 chat played out to its end, a CM message with its status reports, a Samespace call
flow) runs in a fresh server alone; then in another server after noisy tenants moved their own time by days,
while they keep moving it in parallel, and once more after its own reset. Every webhook the tenant was sent
(body bytes, signing headers, the instant of each attempt) is the same each time.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from emulator.core.runtime import Emulator
from emulator.core.webhooks import DeliveryFilter
from emulator.vendors import VENDORS
from tests.conftest import AppFactory

TENANT = "isolated"
NOISE = ("noise-1", "noise-2", "noise-3")
NUMBER = "917507161643"

Trace = list[tuple[str, bytes, tuple[tuple[float, tuple[tuple[str, str], ...]], ...]]]


async def credentials(client: httpx.AsyncClient, tenant: str) -> dict[str, Any]:
    r = await client.post("/_emulator/tenants", json={"tenant": tenant})
    assert r.status_code == 201, r.text
    creds: dict[str, Any] = r.json()["credentials"]
    return creds


async def move(client: httpx.AsyncClient, tenant: str, seconds: float | None = None) -> None:
    """Advance the tenant's own timeline by `seconds`, or run it until idle."""
    if seconds is None:
        r = await client.post("/_emulator/clock/run-until-idle", params={"tenant": tenant})
    else:
        r = await client.post("/_emulator/clock/advance", params={"tenant": tenant}, json={"seconds": seconds})
    assert r.status_code == 200, r.text


async def day(client: httpx.AsyncClient, tenant: str) -> None:
    """One tenant's traffic in every timed vendor, each step followed by a move of its own time."""
    creds = await credentials(client, tenant)
    eight = {"x-api-key": creds["eightbyeight"]["apiKey"]}
    conversation = {"channelId": "1", "user": {"name": "Ann"}, "assignment": {"type": "queue", "id": "100"}}
    r = await client.post("/chat-gateway/v1/conversations", json=conversation, headers=eight)
    assert r.status_code == 202, r.text
    conv = r.json()["conversationId"]
    await move(client, tenant, 4)
    message = {"authorType": "user", "text": "What is my balance?"}
    r = await client.post(f"/chat-gateway/v1/conversations/{conv}/messages", json=message, headers=eight)
    assert r.status_code == 202, r.text

    cm = creds["cmcom"]
    sms = {"from": "MyBrand", "to": [{"number": "0031612345678"}], "body": {"type": "auto", "content": "Hi"}}
    body = {"messages": {"authentication": {"productToken": cm["productToken"]}, "msg": [sms]}}
    assert (await client.post(cm["gateway"], json=body)).status_code == 200
    await move(client, tenant, 1.5)

    ss = creds["samespace"]
    flow = [
        {"id": "0", "type": "call", "number": NUMBER, "caller_id": "123456", "next_step": "menu"},
        {"id": "menu", "type": "digits", "count": 1, "variable": "choice", "next_step": {"*": "bye"}},
        {"id": "bye", "type": "play", "text": "thank you goodbye"},
    ]
    sink = cm["webhooks"]["status"].rsplit("/cmcom/", 1)[0]  # the built-in sink, as the CM tenant's hooks use
    publish = {"url": f"{sink}/samespace/{tenant}"}
    auth = {"cloud_id": ss["cloud_id"], "auth_token": ss["auth_token"]}
    r = await client.post(ss["flow_url"], json={**auth, "flow": flow, "publish": publish})
    assert r.status_code == 200, r.text
    await move(client, tenant)


def trace(emu: Emulator, tenant: str) -> Trace:
    """Every webhook of the tenant: event, body bytes, and each attempt's instant and headers."""
    return [
        (d.event_type, d.body, tuple((a.at, tuple(sorted(a.headers.items()))) for a in d.attempts))
        for d in emu.dispatcher.deliveries(DeliveryFilter(tenant=tenant))
    ]


async def server(make_app: AppFactory) -> tuple[Emulator, httpx.AsyncClient]:
    app, client = await make_app(vendor_plugins=VENDORS, seed=11)
    emu = app.state.emulator
    assert isinstance(emu, Emulator)
    return emu, client


async def test_a_tenants_webhooks_do_not_depend_on_other_tenants(make_app: AppFactory) -> None:
    alone_emu, alone = await server(make_app)
    await day(alone, TENANT)
    expected = trace(alone_emu, TENANT)
    assert len(expected) >= 12
    assert {event for event, _, _ in expected} >= {"MEMBERS_CHANGED", "MESSAGE", "StatusReport"}

    emu, client = await server(make_app)
    for name in NOISE:  # before: other tenants move their own time a long way
        await day(client, name)
        await move(client, name, 86_400)

    async def noisy(name: str) -> None:
        for seconds in (0.1, 3, 17, 600):
            await move(client, name, seconds)
        await day(client, name)

    await asyncio.gather(day(client, TENANT), *(noisy(name) for name in NOISE))  # and alongside
    assert trace(emu, TENANT) == expected

    assert (await client.post("/_emulator/reset", params={"tenant": TENANT})).status_code == 200
    await move(client, NOISE[0], 5)
    await day(client, TENANT)  # the same name again, after a reset: its time starts again
    assert trace(emu, TENANT) == expected


@pytest.mark.parametrize("order", ["tenant-first", "noise-first"])
async def test_the_same_day_in_any_order_gives_the_same_bodies(make_app: AppFactory, order: str) -> None:
    reference_emu, reference = await server(make_app)
    await day(reference, TENANT)
    emu, client = await server(make_app)
    names = [TENANT, *NOISE] if order == "tenant-first" else [*NOISE, TENANT]
    for name in names:
        await day(client, name)
    await client.post("/_emulator/clock/advance", json={"seconds": 30})  # every timeline, after
    assert trace(emu, TENANT)[: len(trace(reference_emu, TENANT))] == trace(reference_emu, TENANT)
