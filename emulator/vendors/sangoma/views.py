"""Every Chatwoot JSON body, built from state as dicts (pure): webhook payloads (sangoma.md §2.5), which
`di.py`/`accounts.py` build at emit time, and the REST bodies the Sangoma wrapper passes through (§2.3, §2.6)
[inf: Sangoma publishes none], which `routes.py` returns. Their schemas, for the contract, are in `models.py`.

The type quirks are deliberate (§2.5, §5 trap 6): a conversation's `id` is its display id; inside a
conversation timestamps are integer epoch seconds except `updated_at`, a float; a nested message has an
integer `message_type` and epoch `created_at`, while the `message_created` payload has the string
`message_type` and an ISO `created_at`; nil times inside a conversation are `0`. The REST bodies differ where
Chatwoot's jbuilder views do: an API message's `message_type` is an integer, an API conversation's
`first_reply_created_at` an epoch integer, and its `meta` uses the contact and agent model partials.

| what | builders |
|---|---|
| shared small objects | `account`, `inbox_ref`, `contact_*`, `user_*`, `bot_*`, `contact_inbox`, `sender_data` |
| webhook payloads | `message_push`, `conversation_webhook`, `message_webhook`, `webwidget_triggered` |
| REST bodies | `api_*` (messages, conversations, inboxes, agent bots, webhooks, contacts), `toggle` |
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from emulator.core.plugin import Subject
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

BROWSER = {
    "browser_name": "Chrome",
    "browser_version": "124.0.0.0",
    "device_name": "Unknown",
    "platform_name": "macOS",
    "platform_version": "10.15.7",
}


def iso(ts: float) -> str:
    """Rails' JSON time: milliseconds and `Z`."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"


def epoch(ts: float | None) -> int:
    """`.to_i`: nil becomes 0."""
    return int(ts) if ts is not None else 0


def fepoch(ts: float) -> float:
    """`.to_f`: always a JSON float."""
    return float(round(ts, 6))


# -- small objects ------------------------------------------------------------------------------------------------


def account(state: SangomaState) -> dict[str, Any]:
    return {"id": state.account_id, "name": state.account_name}


def inbox_ref(inbox: Inbox) -> dict[str, Any]:
    return {"id": inbox.id, "name": inbox.name}


def contact_webhook(state: SangomaState, contact: Contact) -> dict[str, Any]:
    """Contact#webhook_data: no `type` key (§2.5)."""
    return {
        "account": account(state),
        "additional_attributes": {},
        "avatar": "",
        "custom_attributes": {},
        "email": contact.email,
        "id": contact.id,
        "identifier": contact.identifier,
        "name": contact.name,
        "phone_number": contact.phone_number,
        "thumbnail": "",
        "blocked": False,
    }


def contact_push(contact: Contact) -> dict[str, Any]:
    return {
        "additional_attributes": {},
        "custom_attributes": {},
        "email": contact.email,
        "id": contact.id,
        "identifier": contact.identifier,
        "name": contact.name,
        "phone_number": contact.phone_number,
        "thumbnail": "",
        "blocked": False,
        "type": "contact",
    }


def user_webhook(agent: Agent) -> dict[str, Any]:
    return {"id": agent.id, "name": agent.display_name, "email": agent.email, "type": "user"}


def available_name(agent: Agent) -> str:
    return agent.display_name.split(" ")[0]


def user_push(agent: Agent) -> dict[str, Any]:
    return {
        "id": agent.id,
        "name": agent.display_name,
        "available_name": available_name(agent),
        "avatar_url": "",
        "type": "user",
        "availability_status": "online" if agent.logged_in else "offline",
        "thumbnail": "",
    }


def bot_webhook(bot: AgentBot) -> dict[str, Any]:
    return {"id": bot.id, "name": bot.name, "type": "agent_bot"}


def bot_push(bot: AgentBot) -> dict[str, Any]:
    return {"id": bot.id, "name": bot.name, "avatar_url": "", "type": "agent_bot"}


def contact_inbox(ci: ContactInbox) -> dict[str, Any]:
    return {
        "id": ci.id,
        "contact_id": ci.contact_id,
        "inbox_id": ci.inbox_id,
        "source_id": ci.source_id,
        "created_at": iso(ci.created_at),
        "updated_at": iso(ci.created_at),
        "hmac_verified": False,
        "pubsub_token": ci.pubsub_token,
    }


def sender_data(state: SangomaState, msg: Message, *, push: bool) -> dict[str, Any] | None:
    if msg.sender_type == "Contact" and msg.sender_id in state.contacts:
        contact = state.contacts[msg.sender_id]
        return contact_push(contact) if push else contact_webhook(state, contact)
    if msg.sender_type == "User" and msg.sender_id in state.agents:
        agent = state.agents[msg.sender_id]
        return user_push(agent) if push else user_webhook(agent)
    if msg.sender_type == "AgentBot" and msg.sender_id in state.agent_bots:
        bot = state.agent_bots[msg.sender_id]
        return bot_push(bot) if push else bot_webhook(bot)
    return None


# -- messages and conversations -----------------------------------------------------------------------------------


def message_push(state: SangomaState, conv: Conversation, msg: Message) -> dict[str, Any]:
    """A message inside `conversation.messages[]` (push_event_data): integer type, epoch created_at."""
    source = state.contact_inboxes[conv.contact_inbox_id].source_id
    out: dict[str, Any] = {
        "id": msg.id,
        "content": msg.content,
        "account_id": state.account_id,
        "inbox_id": conv.inbox_id,
        "conversation_id": conv.display_id,
        "message_type": MESSAGE_TYPES.index(msg.message_type),
        "created_at": epoch(msg.created_at),
        "updated_at": iso(msg.created_at),
        "private": msg.private,
        "status": msg.status,
        "source_id": None,
        "content_type": msg.content_type,
        "content_attributes": content_attributes(msg),
        "sender_type": msg.sender_type,
        "sender_id": msg.sender_id,
        "external_source_ids": {},
        "additional_attributes": {},
        "processed_message_content": msg.content,
        "sentiment": {},
        "conversation": {
            "assignee_id": conv.assignee_id,
            "unread_count": conv.unread_count,
            "last_activity_at": epoch(conv.last_activity_at),
            "contact_inbox": {"source_id": source},
        },
    }
    sender = sender_data(state, msg, push=True)
    if sender is not None:
        out["sender"] = sender
    return out


def content_attributes(msg: Message) -> dict[str, Any]:
    return {"external_error": msg.external_error} if msg.external_error is not None else {}


def last_message(conv: Conversation) -> Message | None:
    for msg in reversed(conv.messages):
        if msg.message_type != "activity" and not msg.private:
            return msg
    return None


def widget_attributes(conv: Conversation) -> dict[str, Any]:
    if conv.referer is None:
        return {}
    return {"browser": dict(BROWSER), "referer": conv.referer, "initiated_at": {"timestamp": iso(conv.created_at)}}


def conversation_meta(state: SangomaState, conv: Conversation) -> dict[str, Any]:
    agent = state.agents.get(conv.assignee_id) if conv.assignee_id is not None else None
    return {
        "sender": contact_push(state.contacts[conv.contact_id]),
        "assignee": user_push(agent) if agent else None,
        "assignee_type": "User" if agent else None,
        "team": None,
        "hmac_verified": False,
    }


def conversation_webhook(state: SangomaState, conv: Conversation) -> dict[str, Any]:
    """Conversations::EventDataPresenter#push_data (§2.5)."""
    last = last_message(conv)
    inbox = state.inboxes[conv.inbox_id]
    return {
        "additional_attributes": widget_attributes(conv),
        "can_reply": True,
        "channel": inbox.channel_type,
        "contact_inbox": contact_inbox(state.contact_inboxes[conv.contact_inbox_id]),
        "id": conv.display_id,
        "inbox_id": conv.inbox_id,
        "messages": [message_push(state, conv, last)] if last else [],
        "labels": [],
        "meta": conversation_meta(state, conv),
        "status": str(conv.status),
        "custom_attributes": {},
        "snoozed_until": None,
        "unread_count": conv.unread_count,
        "first_reply_created_at": iso(conv.first_reply_created_at) if conv.first_reply_created_at else None,
        "priority": conv.priority,
        "waiting_since": epoch(conv.waiting_since),
        "agent_last_seen_at": 0,
        "contact_last_seen_at": 0,
        "last_activity_at": epoch(conv.last_activity_at),
        "timestamp": epoch(conv.last_activity_at),
        "created_at": epoch(conv.created_at),
        "updated_at": fepoch(conv.updated_at),
    }


def message_webhook(state: SangomaState, conv: Conversation, msg: Message) -> dict[str, Any]:
    """Message#webhook_data (§2.5): string `message_type`, ISO `created_at`, sender's webhook_data."""
    return {
        "account": account(state),
        "additional_attributes": {},
        "content_attributes": content_attributes(msg),
        "content_type": msg.content_type,
        "content": msg.content,
        "conversation": conversation_webhook(state, conv),
        "created_at": iso(msg.created_at),
        "id": msg.id,
        "inbox": inbox_ref(state.inboxes[conv.inbox_id]),
        "message_type": msg.message_type,
        "private": msg.private,
        "sender": sender_data(state, msg, push=False),
        "source_id": None,
    }


def webwidget_triggered(
    state: SangomaState, ci: ContactInbox, conv: Conversation | None, referer: str
) -> dict[str, Any]:
    return {
        "event": "webwidget_triggered",
        "id": ci.id,
        "source_id": ci.source_id,
        "contact": contact_webhook(state, state.contacts[ci.contact_id]),
        "inbox": inbox_ref(state.inboxes[ci.inbox_id]),
        "account": account(state),
        "current_conversation": conversation_webhook(state, conv) if conv else None,
        "event_info": {
            "initiated_at": {"timestamp": iso(ci.created_at)},
            "referer": referer,
            "widget_language": "en",
            "browser_language": "en",
            "browser": dict(BROWSER),
        },
    }


# -- REST bodies ---------------------------------------------------------------------------------------------------


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


# -- the dashboard's list (`VendorPlugin.subjects`) ----------------------------------------------------------------


def subjects(state: SangomaState) -> list[Subject]:
    """Every Digital Interactions conversation and voice call, newest first."""
    rows = []
    for conv in state.conversations.values():
        contact = state.contacts.get(conv.contact_id)
        inbox = state.inboxes.get(conv.inbox_id)
        facts = {"inbox": inbox.name if inbox else str(conv.inbox_id), "messages": str(len(conv.messages))}
        agent = state.agents.get(conv.assignee_id) if conv.assignee_id is not None else None
        if agent is not None:
            facts["agent"] = agent.display_name
        if conv.widget:
            facts["widget"] = "yes"
        who = contact.name if contact else f"contact {conv.contact_id}"
        subject = f"conversation:{conv.display_id}"
        rows.append(Subject(subject, "conversation", str(conv.status), who, conv.created_at, facts))
    for call in state.calls.values():
        facts = {"kind": call.kind}
        if call.agent:
            facts["agent"] = call.agent
        if call.queue:
            facts["queue"] = call.queue
        rows.append(Subject(f"call:{call.id}", "call", str(call.state), call.destination, call.created_at, facts))
    return sorted(rows, key=lambda s: s.at, reverse=True)
