"""Webhook payloads built from 8x8 domain events, and where they go (eightbyeight.md §1.5, §1.6, §1.9).

`payloads` is pure: one domain event in, the 8x8 bodies out, for the Chat Gateway v1 profile (default)
or the legacy Chat API v2 profile (flat `AGENT_JOINED`/`AGENT_LEFT`/`TEXT`, selected by a webhook whose
version is "v2.0"). `outbound` finds the target webhooks in the tenant's state: the conversation's
channel webhook, and the post-agent-assignment webhook while one is active.
"""

from __future__ import annotations

from typing import Any

from emulator.core.events import DomainEvent
from emulator.core.store import Outbound, Tx
from emulator.vendors.eightbyeight.constants import LEGACY_NOTIFICATION_VERSION, NOTIFICATION_VERSION
from emulator.vendors.eightbyeight.state import EVENT_ID, EightByEightState, Webhook

Payload = tuple[str, dict[str, Any]]
_LOOK = dict.get
"""`core.tracked.look` without its frame: `dict.get` itself, which a `TrackedDict` does not override."""

_CONVERSATION_UPDATES = ("conversation.created", "conversation.active", "conversation.updated", "conversation.idle")


def _envelope(event_type: str, event: DomainEvent) -> dict[str, Any]:
    return {"eventType": event_type, "conversationId": event.subject, "timestamp": round(event.at * 1000)}


def _with_data(event_type: str, event: DomainEvent, data: Any) -> dict[str, Any]:
    """`_envelope` and its `data`, in one dict (the same keys in the same order: the same bytes)."""
    return {"eventType": event_type, "conversationId": event.subject, "timestamp": round(event.at * 1000), "data": data}


def v1_payloads(event: DomainEvent) -> list[Payload]:
    """Chat Gateway v1 bodies for one domain event (§1.6)."""
    kind, data = event.kind, event.data
    if kind in _CONVERSATION_UPDATES:
        return [("CONVERSATION_UPDATE", _with_data("CONVERSATION_UPDATE", event, data))]
    if kind == "conversation.queued":
        return [("QUEUED", _with_data("QUEUED", event, data))]
    if kind in ("member.joined", "member.left"):
        change = "joined" if kind == "member.joined" else "left"
        body = {"memberType": data["memberType"], "change": change, "id": data["id"]}
        return [("MEMBERS_CHANGED", _with_data("MEMBERS_CHANGED", event, body))]
    if kind == "message.created" and data["deliver"]:
        return [("MESSAGE", _with_data("MESSAGE", event, data["message"]))]
    if kind == "activity":
        return [("ACTIVITY", _with_data("ACTIVITY", event, data))]
    if kind == "conversation.transferred":
        return [("TRANSFER", _envelope("TRANSFER", event))]  # §1.6: TRANSFER has no data
    if kind == "webhook.verify":
        return [("WEB_HOOK_VERIFY", {"notificationVersion": NOTIFICATION_VERSION, "eventType": "WEB_HOOK_VERIFY"})]
    return []


def _flat(event_type: str, message_type: str, event: DomainEvent) -> dict[str, Any]:
    return {
        "eventType": event_type,
        "messageType": message_type,
        "conversationId": event.subject,
        "timestamp": round(event.at * 1000),
    }


def legacy_payloads(event: DomainEvent) -> list[Payload]:
    """Legacy Chat API v2 bodies (§1.9): flat fields with `messageType`; typing stays in the v1 ACTIVITY
    shape, as the seed's workflow shows; API-posted messages are not echoed."""
    kind, data = event.kind, event.data
    if kind == "conversation.queued":
        return [("QUEUED", _flat("QUEUED", "SYSTEM", event) | data)]
    if kind in ("member.joined", "member.left") and data["memberType"] == "agent":
        name = "AGENT_JOINED" if kind == "member.joined" else "AGENT_LEFT"
        return [(name, _flat(name, "SYSTEM", event) | {"agentId": data["id"], "agentName": data["name"]})]
    if kind == "conversation.transferred":
        return [("TRANSFER", _flat("TRANSFER", "SYSTEM", event))]
    if kind == "message.created" and data["message"]["sender"]["type"] == "agent":
        body = {"agentId": data["message"]["sender"]["id"], "agentName": data.get("agentName", "")}
        return [("TEXT", _flat("TEXT", "AGENT", event) | body | {"message": data["message"]["text"]})]
    if kind == "activity":
        return [("ACTIVITY", _with_data("ACTIVITY", event, data))]
    if kind == "webhook.verify":
        return [
            ("WEB_HOOK_VERIFY", {"notificationVersion": LEGACY_NOTIFICATION_VERSION, "eventType": "WEB_HOOK_VERIFY"})
        ]
    return []


def payloads(event: DomainEvent, *, legacy: bool) -> list[Payload]:
    return legacy_payloads(event) if legacy else v1_payloads(event)


def _targets(state: EightByEightState, event: DomainEvent) -> list[Webhook]:
    if event.kind == "webhook.verify":
        return [Webhook(id="verify", name="verify", uri=event.data["uri"], version=event.data["version"])]
    # reads only (`look`, called as what it is: `dict.get` marks nothing, so a Redis commit does not serialise these
    # again; core.tracked)
    # the state's fields from its `__dict__` (where pydantic keeps them), read once: each attribute read of a pydantic
    # model goes through its `__getattr__` hook
    fields = state.__dict__
    conv = _LOOK(fields["conversations"], event.subject)
    if conv is None:
        return []
    hooks: list[Webhook] = []
    webhooks = fields["webhooks"]
    channel = _LOOK(fields["channels"], conv.channelId)
    post = conv.post_agent
    if post is not None and (post.active or post.ended_at == event.at):
        hook = _LOOK(webhooks, post.webhook_id)
        if hook is not None:
            hooks.append(hook)
        if not post.notify_channel:
            return hooks
    if channel is not None:
        hook = _LOOK(webhooks, channel.webHookId)
        if hook is not None and hook not in hooks:
            hooks.append(hook)
    return hooks


def outbound(tx: Tx[EightByEightState], event: DomainEvent) -> list[Outbound]:
    """The webhook requests one committed domain event causes."""
    state = tx.state
    hooks = _targets(state, event)
    if not hooks:  # (no profile read: each read of a pydantic field goes through its `__getattr__` hook)
        return []
    out: list[Outbound] = []
    fields = state.__dict__  # (`_targets`)
    profile = {"tenant_id": fields["tenant_id"], "customer_id": fields["customer_id"]}
    for hook in hooks:
        bodies = legacy_payloads(event) if hook.version == LEGACY_NOTIFICATION_VERSION else v1_payloads(event)
        for event_type, body in bodies:
            event_id = tx.ids.new("event", EVENT_ID)
            out.append(Outbound(hook.uri, body, event_type, event.subject, event_id, profile))
    return out
