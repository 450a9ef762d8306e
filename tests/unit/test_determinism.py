"""Same seed, same requests: the same bytes, in the API's answers, in every webhook and in the state."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from emulator.pytest_plugin import WebhookSink
from tests.conftest import AppFactory

SIGNED = ("x-echo-event-id", "x-echo-attempt", "x-echo-signature", "x-echo-sent-at", "content-type")


@dataclass
class Run:
    responses: list[tuple[int, bytes]]
    webhooks: list[tuple[bytes, tuple[str, ...]]]
    """(body, signed headers), ordered by event id: items are independent subjects, delivered in parallel."""
    state: bytes


async def scenario(make_app: AppFactory, sink: WebhookSink, seed: int) -> Run:
    """A fresh emulator: provision, webhook, two items, a ping one minute out, the clock moved past it."""
    sink.clear()
    _, client = await make_app(seed=seed)
    acme = {"x-echo-tenant": "acme"}
    responses: list[httpx.Response] = [
        await client.post("/_emulator/tenants", json={"tenant": "acme"}),
        await client.put("/echo/v1/webhook", json={"url": sink.url_for("/hook")}, headers=acme),
        await client.post("/echo/v1/items", json={"text": "first"}, headers=acme),
        await client.post("/echo/v1/items", json={"text": "second"}, headers=acme),
        await client.post("/echo/v1/items/it-1/ping", json={"delay": 60}, headers=acme),
        await client.get("/echo/v1/items/it-1", headers=acme),
        await client.post("/_emulator/clock/advance", json={"seconds": 61}),
        await client.get("/echo/v1/items/it-1", headers=acme),
        await client.get("/echo/v1/items/it-3", headers=acme),
        await client.get("/_emulator/clock"),
    ]
    received = await sink.async_wait_for(count=3)
    state = await client.get("/_emulator/state")
    assert state.status_code == 200
    assert [r.status_code for r in responses] == [201, 204, 201, 201, 202, 200, 200, 200, 404, 200]
    webhooks = sorted(((r.body, tuple(r.headers[h] for h in SIGNED)) for r in received), key=lambda w: w[1][0])
    return Run([(r.status_code, r.content) for r in responses], webhooks, state.content)


async def test_the_same_seed_gives_byte_identical_responses_webhooks_and_state(
    make_app: AppFactory, webhook_sink: WebhookSink
) -> None:
    first = await scenario(make_app, webhook_sink, seed=11)
    second = await scenario(make_app, webhook_sink, seed=11)

    assert second.responses == first.responses
    assert second.webhooks == first.webhooks
    assert second.state == first.state
    assert len(first.webhooks) == 3
    bodies = b"".join(body for body, _ in first.webhooks)
    assert bodies.count(b'"event":"created"') == 2
    assert bodies.count(b'"event":"pinged"') == 1


async def test_another_seed_changes_the_event_ids_but_not_the_item_ids(
    make_app: AppFactory, webhook_sink: WebhookSink
) -> None:
    first = await scenario(make_app, webhook_sink, seed=11)
    other = await scenario(make_app, webhook_sink, seed=12)

    ids = {headers[0] for _, headers in first.webhooks}
    other_ids = {headers[0] for _, headers in other.webhooks}
    assert len(ids) == len(other_ids) == 3
    assert ids.isdisjoint(other_ids)
    assert all(len(i) == 22 for i in ids | other_ids)  # seeded base64url ids
    # item ids are sequences, so the API's answers do not depend on the seed
    assert other.responses == first.responses
