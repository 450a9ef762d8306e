"""Chatwoot REST bodies the Sangoma wrapper passes through (sangoma.md §2.3, §2.6) [inf: Sangoma publishes none].

Same type quirks as the webhooks (`views.py`), except that an API message's `message_type` is an integer and
an API conversation's `first_reply_created_at` is an epoch integer.
"""

from __future__ import annotations

from typing import Any

from emulator.vendors.sangoma.constants import MESSAGE_TYPES
from emulator.vendors.sangoma.state import (
    Agent,
    AgentBot,
    Contact,
    ContactInbox,
    Conversation,
    Inbox,
    Message,
    SangomaState,
    Webhook,
)
from emulator.vendors.sangoma.views import (
    available_name,
    content_attributes,
    epoch,
    fepoch,
    last_message,
    message_push,
    sender_data,
    widget_attributes,
)


def api_message(state: SangomaState, conv: Conversation, msg: Message) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": msg.id,
        "content": msg.content,
        "inbox_id": conv.inbox_id,
        "conversation_id": conv.display_id,
        "message_type": MESSAGE_TYPES.index(msg.message_type),
        "content_type": msg.content_type,
        "status": msg.status,
        "content_attributes": content_attributes(msg),
        "created_at": epoch(msg.created_at),
        "private": msg.private,
        "source_id": None,
    }
    sender = sender_data(state, msg, push=True)
    if sender is not None:
        out["sender"] = sender
    out["attachments"] = []
    return out


def api_contact_model(contact: Contact) -> dict[str, Any]:
    """Chatwoot's contact model partial (`api/v1/models/_contact`): `availability_status`, no `type`;
    `last_activity_at` only once the contact was active."""
    out: dict[str, Any] = {
        "additional_attributes": {},
        "availability_status": "offline",
        "email": contact.email,
        "id": contact.id,
        "name": contact.name,
        "phone_number": contact.phone_number,
        "blocked": False,
        "identifier": contact.identifier,
        "thumbnail": "",
        "custom_attributes": {},
    }
    if contact.last_activity_at is not None:
        out["last_activity_at"] = epoch(contact.last_activity_at)
    out["created_at"] = epoch(contact.created_at)
    return out


def api_agent(state: SangomaState, agent: Agent) -> dict[str, Any]:
    """Chatwoot's agent model partial (`api/v1/models/_agent`), community edition (no `custom_role_id`) [inf]."""
    return {
        "id": agent.id,
        "account_id": state.account_id,
        "availability_status": "online" if agent.logged_in else "offline",
        "auto_offline": True,
        "confirmed": True,
        "email": agent.email,
        "provider": "email",
        "available_name": available_name(agent),
        "name": agent.display_name,
        "role": "agent",
        "thumbnail": "",
    }


def api_conversation_meta(state: SangomaState, conv: Conversation) -> dict[str, Any]:
    """The conversation partial's `meta`: `assignee`, `assignee_type` (and `team`) only when set."""
    meta: dict[str, Any] = {
        "sender": api_contact_model(state.contacts[conv.contact_id]),
        "channel": state.inboxes[conv.inbox_id].channel_type,
    }
    agent = state.agents.get(conv.assignee_id) if conv.assignee_id is not None else None
    if agent is not None:
        meta["assignee"] = api_agent(state, agent)
        meta["assignee_type"] = "User"
    meta["hmac_verified"] = False
    return meta


def api_conversation(state: SangomaState, conv: Conversation) -> dict[str, Any]:
    last = last_message(conv)
    return {
        "meta": api_conversation_meta(state, conv),
        "id": conv.display_id,
        "messages": [message_push(state, conv, last)] if last else [],
        "account_id": state.account_id,
        "uuid": conv.uuid,
        "additional_attributes": widget_attributes(conv),
        "agent_last_seen_at": 0,
        "assignee_last_seen_at": 0,
        "can_reply": True,
        "contact_last_seen_at": 0,
        "custom_attributes": {},
        "inbox_id": conv.inbox_id,
        "labels": [],
        "muted": False,
        "snoozed_until": None,
        "status": str(conv.status),
        "created_at": epoch(conv.created_at),
        "updated_at": fepoch(conv.updated_at),
        "timestamp": epoch(conv.last_activity_at),
        "first_reply_created_at": epoch(conv.first_reply_created_at),
        "unread_count": conv.unread_count,
        "last_non_activity_message": message_push(state, conv, last) if last else None,
        "last_activity_at": epoch(conv.last_activity_at),
        "priority": conv.priority,
        "waiting_since": epoch(conv.waiting_since),
        "sla_policy_id": None,
    }


def api_inbox(inbox: Inbox) -> dict[str, Any]:
    widget = inbox.channel_type == "Channel::WebWidget"
    return {
        "id": inbox.id,
        "avatar_url": "",
        "channel_id": inbox.channel_id,
        "name": inbox.name,
        "channel_type": inbox.channel_type,
        "greeting_enabled": False,
        "greeting_message": None,
        "working_hours_enabled": False,
        "enable_email_collect": True,
        "csat_survey_enabled": False,
        "enable_auto_assignment": inbox.enable_auto_assignment,
        "out_of_office_message": None,
        "timezone": "UTC",
        "lock_to_single_conversation": False,
        "allow_messages_after_resolved": True,
        "website_url": inbox.website_url if widget else None,
        "widget_color": "#1f93ff" if widget else None,
        "webhook_url": inbox.webhook_url if not widget else None,
    }


def api_agent_bot(state: SangomaState, bot: AgentBot, *, secret: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": bot.id,
        "name": bot.name,
        "description": bot.description,
        "thumbnail": "",
        "outgoing_url": bot.outgoing_url,
        "bot_type": "webhook",
        "bot_config": {},
        "account_id": state.account_id,
        "access_token": bot.access_token,
        "system_bot": False,
    }
    if secret:
        out["secret"] = bot.secret
    return out


def api_webhook(state: SangomaState, hook: Webhook, *, secret: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": hook.id,
        "name": hook.name,
        "url": hook.url,
        "account_id": state.account_id,
        "subscriptions": list(hook.subscriptions),
    }
    if secret:
        body["secret"] = hook.secret
    return {"payload": {"webhook": body}}


def api_contact(state: SangomaState, contact: Contact, ci: ContactInbox) -> dict[str, Any]:
    inbox = api_inbox(state.inboxes[ci.inbox_id])
    inboxes = [
        {"source_id": x.source_id, "inbox": api_inbox(state.inboxes[x.inbox_id])}
        for x in state.contact_inboxes.values()
        if x.contact_id == contact.id
    ]
    body = {**api_contact_model(contact), "contact_inboxes": inboxes}
    return {"payload": {"contact": body, "contact_inbox": {"inbox": inbox, "source_id": ci.source_id}}}


def toggle(conv: Conversation) -> dict[str, Any]:
    return {
        "meta": {},
        "payload": {
            "success": True,
            "conversation_id": conv.display_id,
            "current_status": str(conv.status),
            "snoozed_until": None,
        },
    }
