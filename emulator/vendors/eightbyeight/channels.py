"""The tenant's webhooks and channels (eightbyeight.md §1.3, §1.4): the validate-then-mutate transitions of
`/webhooks` and `/channels`, beside `state.py` (which holds the tenant state they change)."""

from __future__ import annotations

from emulator.core.ids import fmt_sequence
from emulator.vendors.eightbyeight import errors
from emulator.vendors.eightbyeight.state import Channel, EightByEightState, S, Webhook


def get_webhook(state: EightByEightState, webhook_id: str) -> Webhook:
    hook = state.webhooks.get(webhook_id)
    if hook is None:
        raise errors.not_found("WebHook", webhook_id, tenant_id=state.tenant_id, customer_id=state.customer_id)
    return hook


def create_webhook(tx: S, name: str, uri: str, version: str) -> Webhook:
    hook = Webhook(id=tx.ids.new("webhook", fmt_sequence(1)), name=name, uri=uri, version=version)
    tx.state.webhooks[hook.id] = hook
    return hook


def replace_webhook(tx: S, webhook_id: str, name: str, uri: str, version: str) -> Webhook:
    hook = get_webhook(tx.state, webhook_id)
    hook.name, hook.uri, hook.version = name, uri, version
    return hook


def delete_webhook(tx: S, webhook_id: str) -> None:
    get_webhook(tx.state, webhook_id)
    in_use = [c.id for c in tx.state.channels.values() if c.webHookId == webhook_id]
    if in_use:
        text = errors.WEBHOOK_IN_USE.format(webhook_id=webhook_id, channel_id=in_use[0])
        raise errors.validation_error("webHookId", webhook_id, errors.CODE_IN_USE, text)
    del tx.state.webhooks[webhook_id]


def verify_webhook(tx: S, uri: str, version: str) -> None:
    """POST /webhooks/verify: 8x8 sends WEB_HOOK_VERIFY to the uri (eightbyeight.md §1.3, §1.6)."""
    tx.emit("webhook.verify", f"verify:{uri}", {"uri": uri, "version": version})


def get_channel(state: EightByEightState, channel_id: str) -> Channel:
    channel = state.channels.get(channel_id)
    if channel is None:
        raise errors.not_found("Channel", channel_id, tenant_id=state.tenant_id, customer_id=state.customer_id)
    return channel


def _check_channel_refs(state: EightByEightState, webhook_id: str, queue_id: str) -> None:
    if webhook_id not in state.webhooks:
        text = errors.WEBHOOK_MISSING.format(webhook_id=webhook_id)
        raise errors.validation_error("webHookId", webhook_id, errors.CODE_INVALID_WEBHOOK, text)
    if queue_id not in state.queues:
        raise errors.invalid_queue(queue_id)


def create_channel(tx: S, name: str, type_: str, webhook_id: str, queue_id: str) -> Channel:
    if type_ != "ChatAPI":
        raise errors.validation_error("type", type_, errors.CODE_INVALID_TYPE, errors.CHAT_API_ONLY)
    _check_channel_refs(tx.state, webhook_id, queue_id)
    channel_id = tx.ids.new("channel", fmt_sequence(1))
    while channel_id in tx.state.channels:  # a bound channel may already have the next sequence number
        channel_id = tx.ids.new("channel", fmt_sequence(1))
    channel = Channel(id=channel_id, name=name, webHookId=webhook_id, queue_id=queue_id)
    tx.state.channels[channel.id] = channel
    return channel


def replace_channel(tx: S, channel_id: str, name: str, webhook_id: str, queue_id: str) -> Channel:
    channel = get_channel(tx.state, channel_id)
    _check_channel_refs(tx.state, webhook_id, queue_id)
    channel.name, channel.webHookId, channel.queue_id = name, webhook_id, queue_id
    return channel


def delete_channel(tx: S, channel_id: str) -> None:
    get_channel(tx.state, channel_id)
    del tx.state.channels[channel_id]
