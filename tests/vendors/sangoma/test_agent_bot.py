"""An agent bot end to end, every payload checked against the facts (sangoma.md §2.4-§2.7): a widget customer
writes, the bot is told and answers through `messages`, delivers to an agent, the agent replies, the bot
finishes. Chatwoot's type quirks are asserted where a client meets them."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from emulator.pytest_plugin import WebhookSink
from emulator.vendors.sangoma.models_webhooks import WEBHOOKS
from tests.vendors.sangoma.conftest import DI, Sng, SngFactory, bot_inbox, names, received, vendor_settings
from tests.vendors.sangoma.support import response_problems, webhook_problems

EVERYTHING = [
    "conversation_created",
    "conversation_status_changed",
    "conversation_updated",
    "message_created",
    "contact_created",
    "webwidget_triggered",
    "conversation_typing_on",
    "conversation_typing_off",
]
START = 1_767_225_600  # the virtual clock's start, 2026-01-01T00:00:00Z


def _quiet_agents() -> dict[str, Any]:
    return {"greeting": "Hi {customer}, I'm {agent}.", "rules": [], "default_reply": "Happy to help."}


async def _play(env: Sng, sink: WebhookSink) -> dict[str, Any]:
    """The whole flow; returns what the test checks."""
    bot = await bot_inbox(env, sink, hook_events=EVERYTHING)
    started = await env.hand("/customers", {"name": "Ada Lovelace", "email": "ada@example.com", "text": "Hi there"})
    conv_id = started["conversation_id"]
    (incoming,) = await sink.async_wait_for({"event": "message_created", "message_type": "incoming"}, path="/bot")
    assert incoming.json["conversation"]["status"] == "pending"
    reply = await env.ok(f"{DI}/messages/", {"content": "I am a bot. Want a human?", "conversation_id": conv_id})
    await env.hand(f"/conversations/{conv_id}/customer", {"action": "say", "text": "yes please"})
    handoff = await env.ok(f"{DI}/conversations/deliver-to-agent/", {"conversation_id": conv_id})
    await env.advance(10)  # assigned after 2 s, greeting after 2 s + 1 s typing
    await env.hand(f"/conversations/{conv_id}/customer", {"action": "say", "text": "my order is late"})
    await env.advance(10)  # the agent answers after 3 s + 1 s typing
    finished = await env.ok(f"{DI}/conversations/finish/", {"conversation_id": conv_id})
    await env.settle()
    return {"bot": bot, "conv": conv_id, "reply": reply, "handoff": handoff, "finished": finished}


async def test_the_bot_conversation_end_to_end(make_sng: SngFactory, webhook_sink: WebhookSink) -> None:
    env = await make_sng(vendors=vendor_settings(behaviour=_quiet_agents()))
    out = await _play(env, webhook_sink)
    conv_id = out["conv"]
    agent = env.state.agents[env.state.conversations[conv_id].assignee_id]

    # the bot: no filter, so it gets its own outgoing message and the agent's, but no status_changed/updated;
    # one customer's events arrive in the order Chatwoot raises them, the widget opening first
    assert names(webhook_sink, "/bot") == [
        "webwidget_triggered",
        "message_created",  # customer: Hi there
        "message_created",  # the bot's own reply
        "message_created",  # customer: yes please
        "conversation_opened",
        "message_created",  # agent greeting
        "message_created",  # customer: my order is late
        "message_created",  # agent reply
        "conversation_resolved",
    ]
    bot_bodies = received(webhook_sink, "/bot")
    messages = [(b["message_type"], b["sender"].get("type"), b["content"]) for b in bot_bodies if "content" in b]
    assert messages == [
        ("incoming", None, "Hi there"),  # contact webhook_data has no `type`
        ("outgoing", "agent_bot", "I am a bot. Want a human?"),
        ("incoming", None, "yes please"),
        ("outgoing", "user", f"Hi Ada, I'm {agent.display_name.split()[0]}."),
        ("incoming", None, "my order is late"),
        ("outgoing", "user", "Happy to help."),
    ]
    assert [b["status"] for b in bot_bodies if b["event"].startswith("conversation_")] == ["open", "resolved"]
    contact_id = env.state.conversations[conv_id].contact_id
    assert {d.subject for d in env.emu.dispatcher.deliveries()} == {f"contact:{contact_id}"}  # one FIFO per receiver
    widget = bot_bodies[0]
    assert (widget["contact"]["name"], widget["current_conversation"]) == ("Ada Lovelace", None)
    assert widget["source_id"] == bot_bodies[1]["conversation"]["contact_inbox"]["source_id"]

    # account webhook: only what it subscribed to, status changes twice over with changed_attributes
    everything = received(webhook_sink, "/hook")
    hook = everything[2:]
    assert [b["event"] for b in everything] == [
        "contact_created",
        "webwidget_triggered",
        "conversation_created",
        "message_created",
        "message_created",
        "message_created",
        "conversation_status_changed",
        "conversation_updated",
        "conversation_updated",  # assignee
        "conversation_typing_on",
        "conversation_typing_off",
        "message_created",
        "conversation_updated",  # first_reply_created_at, waiting_since cleared
        "message_created",
        "conversation_updated",  # waiting_since set again
        "conversation_typing_on",
        "conversation_typing_off",
        "message_created",
        "conversation_updated",  # waiting_since cleared
        "conversation_status_changed",
        "conversation_updated",
    ]
    created = hook[0]
    assert (created["status"], created["id"], created["messages"]) == ("pending", conv_id, [])
    status_changes = [b["changed_attributes"] for b in hook if b["event"] == "conversation_status_changed"]
    assert status_changes[0] == [{"status": {"previous_value": "pending", "current_value": "open"}}]
    assert status_changes[1][0] == {"status": {"previous_value": "open", "current_value": "resolved"}}
    assignment = hook[6]["changed_attributes"]
    assert assignment == [
        {"assignee_id": {"previous_value": None, "current_value": agent.id}},
        {"updated_at": {"previous_value": "2026-01-01T00:00:00.000Z", "current_value": "2026-01-01T00:00:02.000Z"}},
    ]
    assert hook[6]["meta"]["assignee"]["type"] == "user"
    assert hook[6]["meta"]["assignee_type"] == "User"
    for body in bot_bodies + everything:
        assert webhook_problems(body) == [], body["event"]
    # every documented event was seen (message_updated only follows a failed API-inbox delivery: test_lifecycle)
    assert {b["event"] for b in bot_bodies + everything} == set(WEBHOOKS) - {"message_updated"}

    # REST bodies
    assert out["handoff"]["payload"]["current_status"] == "open"
    assert out["finished"] == {
        "meta": {},
        "payload": {"success": True, "conversation_id": conv_id, "current_status": "resolved", "snoozed_until": None},
    }
    assert response_problems(f"{DI}/messages/", "POST", 200, out["reply"]) == []


async def test_chatwoot_type_quirks(make_sng: SngFactory, webhook_sink: WebhookSink) -> None:
    """Display id vs database id; `message_type` string in webhooks, integer nested and in REST; ISO vs epoch
    `created_at`; a float `updated_at`; nil times as 0 (sangoma.md §2.5, §5 trap 6)."""
    env = await make_sng(vendors=vendor_settings(behaviour=_quiet_agents()))
    out = await _play(env, webhook_sink)
    conv = env.state.conversations[out["conv"]]
    raw = next(r for r in webhook_sink.requests if r.path == "/bot" and r.json.get("message_type") == "incoming")
    body = raw.json
    assert body["conversation"]["id"] == conv.display_id == 1
    assert conv.id != conv.display_id  # the database id never shows in webhooks' `id`
    assert body["conversation"]["contact_inbox"]["id"] != conv.display_id
    assert body["message_type"] == "incoming"
    assert body["created_at"] == "2026-01-01T00:00:00.000Z"
    nested = body["conversation"]["messages"][0]
    assert nested["message_type"] == 0
    assert nested["created_at"] == START
    assert nested["updated_at"] == "2026-01-01T00:00:00.000Z"
    assert isinstance(body["conversation"]["updated_at"], float)
    assert b'"updated_at":1767225600.0' in raw.body  # a JSON float, as Ruby's `to_f` writes it
    assert body["conversation"]["created_at"] == START
    assert isinstance(body["conversation"]["timestamp"], int)
    assert body["conversation"]["agent_last_seen_at"] == 0
    assert body["conversation"]["first_reply_created_at"] is None
    assert out["reply"]["message_type"] == 1
    assert out["reply"]["conversation_id"] == 1
    assert isinstance(out["reply"]["created_at"], int)


async def test_the_bot_is_told_of_private_notes_but_never_of_activity(
    make_sng: SngFactory, webhook_sink: WebhookSink
) -> None:
    env = await make_sng(vendors=vendor_settings(behaviour={"auto": False}))
    await bot_inbox(env, webhook_sink)
    started = await env.hand("/customers", {"text": "hello"})
    conv = started["conversation_id"]
    await env.hand(f"/conversations/{conv}/agent", {"action": "note", "text": "VIP customer"})
    await env.ok(f"{DI}/conversations/finish/", {"conversation_id": conv})
    await env.settle()
    bodies = received(webhook_sink, "/bot")
    notes = [b for b in bodies if b.get("private")]
    assert [(b["event"], b["content"]) for b in notes] == [("message_created", "VIP customer")]
    kinds = [m.message_type for m in env.state.conversations[conv].messages]
    assert "activity" in kinds  # "Assigned to ..." and "marked resolved" exist ...
    assert all(b.get("message_type") != "activity" for b in bodies)  # ... and are never sent


async def test_newer_chatwoot_also_sends_status_events_to_bots(make_sng: SngFactory, webhook_sink: WebhookSink) -> None:
    env = await make_sng(vendors={"sangoma": {**vendor_settings()["sangoma"], "bot_status_events": True}})
    await bot_inbox(env, webhook_sink)
    started = await env.hand("/customers", {"text": "hello"})
    await env.ok(f"{DI}/conversations/deliver-to-agent/", {"conversation_id": started["conversation_id"]})
    await env.settle()
    assert names(webhook_sink, "/bot")[-3:] == [
        "conversation_status_changed",
        "conversation_updated",
        "conversation_opened",
    ]


def _verify(req: Any, secret: str) -> None:
    """Chatwoot's signature as a receiver checks it, with the standard library only."""
    ts = req.headers["x-chatwoot-timestamp"]
    mac = hmac.new(secret.encode(), ts.encode() + b"." + req.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(req.headers["x-chatwoot-signature"], f"sha256={mac}")
    assert int(ts) == START
    assert len(req.headers["x-chatwoot-delivery"]) == 36
    assert req.headers["content-type"] == "application/json"
    assert req.headers["accept"] == "application/json"
    json.loads(req.body)


async def test_signed_webhooks_verify_with_the_secret(make_sng: SngFactory, webhook_sink: WebhookSink) -> None:
    """With signing on (Chatwoot v4.11+): `X-Chatwoot-Signature: sha256=HMAC(secret, "{ts}.{body}")`, each
    receiver with its own secret."""
    env = await make_sng(vendors={"sangoma": {**vendor_settings()["sangoma"], "signing": True}})
    bot = await bot_inbox(env, webhook_sink, hook_events=["message_created"])
    hook_secret = env.state.webhooks[1].secret
    assert bot["secret"]
    assert bot["secret"] != hook_secret
    world = await env.world()
    assert (world["agent_bots"][0]["secret"], world["webhooks"][0]["secret"]) == (bot["secret"], hook_secret)
    await env.hand("/customers", {"text": "sign this"})
    await env.settle()
    signed = [(r, bot["secret"] if r.path == "/bot" else hook_secret) for r in webhook_sink.requests]
    assert sorted(r.path for r, _ in signed) == ["/bot", "/bot", "/hook"]
    for req, secret in signed:
        _verify(req, secret)
    delivery_ids = {r.headers["x-chatwoot-delivery"] for r, _ in signed}
    assert len(delivery_ids) == 3  # one per delivery
    forged = webhook_sink.requests[0]
    mac = hmac.new(b"wrong", forged.headers["x-chatwoot-timestamp"].encode() + b"." + forged.body, hashlib.sha256)
    assert forged.headers["x-chatwoot-signature"] != f"sha256={mac.hexdigest()}"


async def test_an_api_inbox_webhook_is_signed_with_the_inbox_secret(
    make_sng: SngFactory, webhook_sink: WebhookSink
) -> None:
    """Chatwoot v4.13+ signs API-channel webhooks too (sangoma.md §2.4); the secret is configurable and shown in
    the control plane."""
    inbox = {"name": "API", "channel_type": "Channel::Api", "webhook_url": webhook_sink.url_for("/api-inbox")}
    config = vendor_settings(inboxes=[inbox | {"secret": "inbox-key"}], behaviour={"auto": False})["sangoma"]
    env = await make_sng(vendors={"sangoma": {**config, "signing": True}})
    assert (await env.world())["inboxes"][0]["secret"] == "inbox-key"
    contact = (await env.ok(f"{DI}/contacts/", {"name": "Ada", "inbox_id": 1}))["payload"]["contact"]
    await env.ok(f"{DI}/conversations/", {"contact_id": contact["id"], "inbox_id": 1, "initial_message": "x"})
    await env.settle()
    assert names(webhook_sink, "/api-inbox") == ["conversation_created", "message_created"]  # no contact_created
    for req in webhook_sink.requests:
        _verify(req, "inbox-key")


async def test_unsigned_by_default(sng: Sng, webhook_sink: WebhookSink) -> None:
    bot = await bot_inbox(sng, webhook_sink)
    assert "secret" not in bot
    await sng.hand("/customers", {"text": "hi"})
    (hit,) = await webhook_sink.async_wait_for({"event": "message_created"}, path="/bot")
    assert "x-chatwoot-signature" not in hit.headers


async def test_same_seed_same_bytes(make_sng: SngFactory, webhook_sink: WebhookSink) -> None:
    """The same seed and inputs give the same token, REST bodies and webhook bytes, receiver by receiver."""
    runs = []
    for _ in range(2):
        webhook_sink.clear()
        env = await make_sng(vendors=vendor_settings(behaviour=_quiet_agents()))
        rest = await _play(env, webhook_sink)
        # each receiver's sequence is fixed (one customer's events are FIFO); only the interleaving of the two
        # receivers varies
        hooks = {path: [r.body for r in webhook_sink.requests if r.path == path] for path in ("/bot", "/hook")}
        runs.append((env.token, json.dumps(rest), hooks))
    assert runs[0] == runs[1]
    assert (len(runs[0][2]["/bot"]), len(runs[0][2]["/hook"])) == (9, 21)


async def test_no_retries_by_default_and_a_configured_ladder_keeps_the_delivery_id(
    make_sng: SngFactory, webhook_sink: WebhookSink
) -> None:
    """Chatwoot v4.10 does not retry (sangoma.md §2.4); with a ladder, a retry carries the same delivery id."""
    env = await make_sng(vendors=vendor_settings(behaviour={"auto": False}))
    await env.ok(f"{DI}/webhooks/", {"url": webhook_sink.url_for("/hook"), "subscriptions": ["contact_created"]})
    webhook_sink.respond_with(500, times=1)
    await env.ok(f"{DI}/contacts/", {"name": "Ada", "inbox_id": 1})
    await env.settle()
    await env.advance(600)
    assert [d.status for d in env.emu.dispatcher.deliveries()] == ["failed"]
    assert len(webhook_sink.requests) == 1

    webhook_sink.clear()
    config = {**vendor_settings(behaviour={"auto": False})["sangoma"], "signing": True, "retry_ladder": [5]}
    env = await make_sng(vendors={"sangoma": config})
    await env.ok(f"{DI}/webhooks/", {"url": webhook_sink.url_for("/hook"), "subscriptions": ["contact_created"]})
    webhook_sink.respond_with(500, times=1)
    await env.ok(f"{DI}/contacts/", {"name": "Ada", "inbox_id": 1})
    retry_due = await env.emu.dispatcher.wait(lambda d: d.not_before > d.created_at, settled=False)
    assert len(retry_due) == 1
    await env.advance(5)
    await webhook_sink.async_wait_for({"event": "contact_created"}, count=2, path="/hook")
    first, second = webhook_sink.requests
    assert first.headers["x-chatwoot-delivery"] == second.headers["x-chatwoot-delivery"]
    assert int(second.headers["x-chatwoot-timestamp"]) == int(first.headers["x-chatwoot-timestamp"]) + 5
