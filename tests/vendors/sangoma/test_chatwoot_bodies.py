"""REST bodies as Chatwoot 4.10's jbuilder views render them, and the two webhook facts of Chatwoot's commit
order (sangoma.md §2.5, §2.6; issue 11 §3): a conversation's `meta.sender` is the contact model partial,
`assignee`/`assignee_type` appear only when set (the agent model partial), a contact leaves out
`last_activity_at` until it is active, `conversation_updated` carries `updated_at` in `changed_attributes` as
`previous_changes` does, and `conversation_created` carries the initial message it was created with."""

from __future__ import annotations

from typing import Any

from emulator.pytest_plugin import WebhookSink
from emulator.vendors.sangoma import views
from tests.vendors.sangoma.conftest import DI, Sng, SngFactory, received, vendor_settings
from tests.vendors.sangoma.support import response_problems, webhook_problems

CONTACT_MODEL = [
    "additional_attributes",
    "availability_status",
    "email",
    "id",
    "name",
    "phone_number",
    "blocked",
    "identifier",
    "thumbnail",
    "custom_attributes",
    "created_at",
]
ACTIVE_CONTACT_MODEL = [*CONTACT_MODEL[:-1], "last_activity_at", "created_at"]
AGENT_MODEL = [
    "id",
    "account_id",
    "availability_status",
    "auto_offline",
    "confirmed",
    "email",
    "provider",
    "available_name",
    "name",
    "role",
    "thumbnail",
]
CONVERSATION_WEBHOOK = [
    "additional_attributes",
    "can_reply",
    "channel",
    "contact_inbox",
    "id",
    "inbox_id",
    "messages",
    "labels",
    "meta",
    "status",
    "custom_attributes",
    "snoozed_until",
    "unread_count",
    "first_reply_created_at",
    "priority",
    "waiting_since",
    "agent_last_seen_at",
    "contact_last_seen_at",
    "last_activity_at",
    "timestamp",
    "created_at",
    "updated_at",
]
T0 = "2026-01-01T00:00:00.000Z"  # the virtual clock's start


async def _contact(env: Sng, name: str = "Ada", inbox_id: int = 2) -> dict[str, Any]:
    out = await env.ok(f"{DI}/contacts/", {"name": name, "inbox_id": inbox_id})
    assert response_problems(f"{DI}/contacts/", "POST", 200, out) == []
    return dict(out["payload"]["contact"])


async def _conversation(env: Sng, contact_id: int, inbox_id: int = 2, **extra: Any) -> dict[str, Any]:
    out = await env.ok(f"{DI}/conversations/", {"contact_id": contact_id, "inbox_id": inbox_id, **extra})
    assert response_problems(f"{DI}/conversations/", "POST", 200, out) == []
    return dict(out)


async def test_a_new_contact_leaves_out_last_activity_at(sng: Sng) -> None:
    contact = await _contact(sng)
    assert list(contact) == [*CONTACT_MODEL, "contact_inboxes"]
    assert (contact["availability_status"], contact["blocked"]) == ("offline", False)


async def test_a_conversation_sender_is_the_contact_partial_and_unset_keys_are_left_out(sng: Sng) -> None:
    contact = await _contact(sng)
    quiet = await _conversation(sng, contact["id"])
    assert list(quiet["meta"]) == ["sender", "channel", "hmac_verified"]
    assert list(quiet["meta"]["sender"]) == CONTACT_MODEL  # no `type`, and not active yet
    assert (quiet["meta"]["sender"]["id"], quiet["meta"]["channel"]) == (contact["id"], "Channel::Api")
    await sng.advance(5)
    spoken = await _conversation(sng, contact["id"], initial_message="Hello world")
    sender = spoken["meta"]["sender"]
    assert list(sender) == ACTIVE_CONTACT_MODEL
    assert sender["last_activity_at"] == sender["created_at"] + 5


async def test_an_assigned_conversation_meta_carries_the_agent_partial(make_sng: SngFactory) -> None:
    env = await make_sng(vendors=vendor_settings(behaviour={"greeting": None}))
    contact = await _contact(env, inbox_id=1)
    conv = await _conversation(env, contact["id"], inbox_id=1)
    await env.advance(10)  # auto-assignment
    state = env.state
    agent = state.agents[state.conversations[conv["id"]].assignee_id]
    body = views.api_conversation(state, state.conversations[conv["id"]])
    assert list(body["meta"]) == ["sender", "channel", "assignee", "assignee_type", "hmac_verified"]
    assignee = body["meta"]["assignee"]
    assert list(assignee) == AGENT_MODEL
    assert (assignee["id"], assignee["email"], body["meta"]["assignee_type"]) == (agent.id, agent.email, "User")
    assert (assignee["availability_status"], assignee["role"]) == ("online", "agent")
    assert response_problems(f"{DI}/conversations/", "POST", 200, body) == []


async def test_conversation_created_carries_the_initial_message(sng: Sng, webhook_sink: WebhookSink) -> None:
    hooked = ["conversation_created", "message_created"]
    await sng.ok(f"{DI}/webhooks/", {"url": webhook_sink.url_for("/hook"), "subscriptions": hooked})
    contact = await _contact(sng)
    with_message = await _conversation(sng, contact["id"], initial_message="Hello world")
    without = await _conversation(sng, contact["id"])
    await sng.settle()
    hook = received(webhook_sink, "/hook")
    conversation_ids = [b.get("conversation", b)["id"] for b in hook]
    assert [b["event"] for b in hook] == ["conversation_created", "message_created", "conversation_created"]
    assert conversation_ids == [with_message["id"], with_message["id"], without["id"]]
    created, message, empty = hook
    assert list(created) == ["event", *CONVERSATION_WEBHOOK]
    (first,) = created["messages"]
    assert (first["id"], first["content"], first["message_type"]) == (message["id"], "Hello world", 0)
    assert first == message["conversation"]["messages"][0]
    assert created["unread_count"] == 1  # counted at commit, with the message in
    assert (empty["messages"], empty["unread_count"]) == ([], 0)
    for body in hook:
        assert webhook_problems(body) == []


async def test_conversation_updated_carries_updated_at_and_status_changed_does_not(
    make_sng: SngFactory, webhook_sink: WebhookSink
) -> None:
    sng = await make_sng(vendors=vendor_settings(behaviour={"auto": False}))
    hooked = ["conversation_status_changed", "conversation_updated"]
    await sng.ok(f"{DI}/webhooks/", {"url": webhook_sink.url_for("/hook"), "subscriptions": hooked})
    contact = await _contact(sng)
    conv = await _conversation(sng, contact["id"])
    await sng.advance(7)
    await sng.ok(f"{DI}/conversations/finish/", {"conversation_id": conv["id"]})
    await sng.settle()
    status, updated = received(webhook_sink, "/hook")
    moved = [
        {"status": {"previous_value": "open", "current_value": "resolved"}},
        {"waiting_since": {"previous_value": conv["waiting_since"], "current_value": None}},
    ]
    assert (status["event"], status["changed_attributes"]) == ("conversation_status_changed", moved)
    stamp = {"updated_at": {"previous_value": T0, "current_value": "2026-01-01T00:00:07.000Z"}}
    assert (updated["event"], updated["changed_attributes"]) == ("conversation_updated", [*moved, stamp])
    assert list(updated) == ["event", *CONVERSATION_WEBHOOK, "changed_attributes"]
    for body in (status, updated):
        assert webhook_problems(body) == []
