"""Open auth: a tenant open auth created takes the channel and queue ids of its first request [inf]. Its first
unknown `channelId` names its default channel, its first unknown assignment queue id its default queue (both
renamed everywhere); later unknown ids, configured and provisioned tenants, and strict auth keep 8x8's errors."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from emulator.pytest_plugin import WebhookSink
from tests.vendors.eightbyeight.conftest import (
    HOOK_PATH,
    Ebe,
    EbeFactory,
    cu,
    events_of,
    queue_of,
    queued,
    tenant_config,
    vendor_settings,
)
from tests.vendors.eightbyeight.seed import SEED_CREATE_BODY

SEED_CHANNEL = "f5odm43occnifcdcsa"
KEY = "new-client-key"


def seed_body() -> dict[str, Any]:
    """The seed's create body with an address where the captured page has its e-mail placeholder (see
    test_user_fields.py: the placeholder itself is 8x8's 400)."""
    body: dict[str, Any] = json.loads(SEED_CREATE_BODY)
    body["user"]["email"] = "james.jones@example.com"
    return body


def create(channel: str, queue: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"channelId": channel, "user": {"name": "James Jones"}}
    if queue is not None:
        body["assignment"] = {"type": "queue", "id": queue}
    return body


def general_400(code: str, message: str) -> dict[str, Any]:
    return {"message": "Internal error.", "errors": [{"code": code, "message": message}]}


async def post(env: Ebe, body: dict[str, Any], key: str = KEY) -> httpx.Response:
    return await env.api("POST", "/conversations", body, key=key)


async def channels(env: Ebe, key: str = KEY) -> list[dict[str, Any]]:
    resp = await env.api("GET", "/channels", key=key)
    assert resp.status_code == 200, resp.text
    return list(resp.json()["_embedded"]["channels"])


def channel(channel_id: str, queue: str) -> dict[str, Any]:
    routing = {"type": "queue", "id": queue}
    return {"id": channel_id, "name": "default", "type": "ChatAPI", "webHookId": "1", "routingOptions": routing}


async def zero_config(make_ebe: EbeFactory, sink: WebhookSink, **overrides: Any) -> Ebe:
    """No vendor configuration; the webhooks cxemu targets itself go to the test's receiver."""
    env = await make_ebe(webhook_url=sink.url_for(HOOK_PATH), **overrides)
    env.tenant = KEY
    return env


async def test_the_seed_request_binds_the_default_channel_and_queue(
    make_ebe: EbeFactory, webhook_sink: WebhookSink
) -> None:
    env = await zero_config(make_ebe, webhook_sink)
    body = seed_body()
    t0 = env.now_ms()

    resp = await post(env, body)

    assert resp.status_code == 202, resp.text
    conv = resp.json()["conversationId"]
    # the default channel and queue are now known by the seed's ids, in every view
    assert await channels(env) == [channel(SEED_CHANNEL, "123")]
    got = (await env.api("GET", f"/conversations/{conv}", key=KEY)).json()
    assert (got["channelId"], got["assignment"]) == (SEED_CHANNEL, queue_of("123"))
    view = (await env.http.get(f"/_emulator/vendors/eightbyeight/tenants/{KEY}")).json()
    assert [q["id"] for q in view["queues"]] == ["123", "101"]
    # the webhooks go to the default webhook, with the bound queue (its name is the default queue's)
    await env.advance(0.2)
    await env.delivered(3, subject=conv)
    assert events_of(webhook_sink, conv)[:3] == [
        cu(conv, t0, "created", queue_of("123"), body["user"]),
        cu(conv, t0 + 200, "active", queue_of("123"), body["user"]),
        queued(conv, t0 + 200, "123", "Support"),
    ]
    # the default queue's agents serve the bound queue
    await env.advance(3)
    got = (await env.api("GET", f"/conversations/{conv}", key=KEY)).json()
    assert got["assignment"]["type"] == "agent"


async def test_after_binding_unknown_ids_are_8x8s_errors(make_ebe: EbeFactory, webhook_sink: WebhookSink) -> None:
    env = await zero_config(make_ebe, webhook_sink)
    assert (await post(env, seed_body())).status_code == 202

    second_channel = await post(env, create("another-channel"))
    second_queue = await post(env, create(SEED_CHANNEL, " 124"))
    old_channel = await post(env, create("1"))
    old_queue = await post(env, create(SEED_CHANNEL, "100"))

    assert (second_channel.status_code, second_channel.json()) == (
        400,
        general_400("invalid_channel", "Channel ID another-channel is invalid."),
    )
    assert (second_queue.status_code, second_queue.json()) == (
        400,
        general_400("invalid_queue", "Queue ID  124 is invalid."),
    )
    assert old_channel.json() == general_400("invalid_channel", "Channel ID 1 is invalid.")
    assert old_queue.json() == general_400("invalid_queue", "Queue ID 100 is invalid.")
    # the bound ids and the untouched queue keep working
    assert (await post(env, create(SEED_CHANNEL, "101"))).status_code == 202
    assert (await post(env, create(SEED_CHANNEL, "123"))).status_code == 202


async def test_channel_and_queue_bind_each_on_their_first_unknown_id(
    make_ebe: EbeFactory, webhook_sink: WebhookSink
) -> None:
    env = await zero_config(make_ebe, webhook_sink)
    known_channel = await post(env, create("1", "777"))  # the channel is its own: only the queue binds
    assert known_channel.status_code == 202, known_channel.text
    conv = known_channel.json()["conversationId"]
    assert await channels(env) == [channel("1", "777")]

    later = await env.api("PUT", f"/conversations/{conv}", create("chan-9", "777"), key=KEY)  # PUT binds too

    assert later.status_code == 202, later.text
    assert later.json()["channelId"] == "chan-9"
    assert await channels(env) == [channel("chan-9", "777")]
    other = await env.api("PATCH", f"/conversations/{conv}", {"assignment": {"type": "queue", "id": "778"}}, key=KEY)
    assert other.json() == general_400("invalid_queue", "Queue ID 778 is invalid.")


async def test_a_rejected_request_binds_nothing(make_ebe: EbeFactory, webhook_sink: WebhookSink) -> None:
    env = await zero_config(make_ebe, webhook_sink)

    resp = await post(env, create(SEED_CHANNEL, "   "))  # a blank queue id is never bound

    assert resp.json() == general_400("invalid_queue", "Queue ID     is invalid.")
    assert await channels(env) == [channel("1", "100")]
    assert (await post(env, create(SEED_CHANNEL, "123"))).status_code == 202
    assert await channels(env) == [channel(SEED_CHANNEL, "123")]


async def test_two_first_requests_at_once_make_one_binding(make_ebe: EbeFactory, webhook_sink: WebhookSink) -> None:
    env = await zero_config(make_ebe, webhook_sink)
    assert (await channels(env)) == [channel("1", "100")]  # the tenant exists: both requests race on it

    a, b = await asyncio.gather(post(env, create("chan-a", "q-a")), post(env, create("chan-b", "q-b")))

    assert sorted([a.status_code, b.status_code]) == [202, 400]
    winner = "a" if a.status_code == 202 else "b"
    assert await channels(env) == [channel(f"chan-{winner}", f"q-{winner}")]


async def test_a_new_channel_never_takes_a_bound_id(make_ebe: EbeFactory, webhook_sink: WebhookSink) -> None:
    env = await zero_config(make_ebe, webhook_sink)
    assert (await post(env, create("2"))).status_code == 202  # channel 1 is now "2", the next number

    body = {"name": "more", "type": "ChatAPI", "webHookId": "1", "routingOptions": {"type": "queue", "id": "100"}}
    resp = await env.api("POST", "/channels", body, key=KEY)

    assert resp.status_code == 200, resp.text
    assert resp.json()["id"] == "3"
    assert [c["id"] for c in await channels(env)] == ["2", "3"]


async def test_configured_provisioned_and_strict_tenants_never_bind(
    make_ebe: EbeFactory, webhook_sink: WebhookSink
) -> None:
    configured = await make_ebe(vendors=vendor_settings(tenant_config(webhook_sink.url_for(HOOK_PATH))))
    resp = await configured.api("POST", "/conversations", create(SEED_CHANNEL))
    assert resp.json() == general_400("invalid_channel", f"Channel ID {SEED_CHANNEL} is invalid.")
    resp = await configured.api("POST", "/conversations", create("1", "999"))
    assert resp.json() == general_400("invalid_queue", "Queue ID 999 is invalid.")

    for auth in ("open", "strict"):
        env = await zero_config(make_ebe, webhook_sink, auth=auth)
        made = await env.http.post("/_emulator/tenants", json={"tenant": "prov", "vendors": ["eightbyeight"]})
        assert made.status_code in (200, 201), made.text
        key = made.json()["credentials"]["eightbyeight"]["apiKey"]
        resp = await post(env, create(SEED_CHANNEL), key=key)
        assert resp.json() == general_400("invalid_channel", f"Channel ID {SEED_CHANNEL} is invalid."), auth
        resp = await post(env, create("1", "999"), key=key)
        assert resp.json() == general_400("invalid_queue", "Queue ID 999 is invalid."), auth


async def test_snapshot_restore_keeps_the_binding_and_reset_forgets_it(
    make_ebe: EbeFactory, webhook_sink: WebhookSink
) -> None:
    old = await zero_config(make_ebe, webhook_sink)
    assert (await post(old, seed_body())).status_code == 202
    snapshot = (await old.http.get("/_emulator/state")).json()

    new = await zero_config(make_ebe, webhook_sink)
    assert (await new.http.post("/_emulator/state", json=snapshot)).status_code == 200

    assert await channels(new) == [channel(SEED_CHANNEL, "123")]
    resp = await post(new, create("another-channel"))
    assert resp.json() == general_400("invalid_channel", "Channel ID another-channel is invalid.")

    reset = await new.http.post("/_emulator/reset", params={"vendor": "eightbyeight", "tenant": KEY})
    assert reset.status_code == 200, reset.text
    assert await channels(new) == [channel("1", "100")]
    assert (await post(new, create("another-channel", "55"))).status_code == 202
    assert await channels(new) == [channel("another-channel", "55")]
