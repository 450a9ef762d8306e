"""Domain event -> outbound webhooks: which receivers get which payload (sangoma.md §2.4 "Who gets which
events"), the same role as `events.py` in every vendor.

The payload itself is built when the event is recorded (`di.py`/`accounts.py` put Chatwoot's exact body, from
`views.py`, in `data["payload"]`), because state can change again inside one unit of work and Chatwoot sends
what it saw at that moment; so this module's work is the targets, each with the same payload:

- account webhooks: the events in their `subscriptions`, nothing else;
- the agent bot attached to the conversation's inbox: `message_created`, `message_updated`,
  `webwidget_triggered`, `conversation_opened`, `conversation_resolved`, with no filter (so it receives its
  own outgoing messages); with `bot_status_events` also `conversation_updated`/`_status_changed` (newer CW);
- an API inbox's `webhook_url`: every conversation, message, typing and widget event, unfiltered (signed with
  the inbox's secret when signing is on).

Deliveries are ordered per contact (the dispatcher's FIFO key is the Outbound `subject`): a contact's
`contact_created` and `webwidget_triggered` reach each receiver before its conversation's `conversation_created`
and first `message_created`, in the order Chatwoot raises them, and one customer's events never overtake each
other; different customers are delivered in parallel. The domain event keeps its own subject (the
conversation), which actors and scenarios use. Headers, signing and retries are `delivery.py`'s.

Voice calls send no webhooks (none are documented, §2.9).
"""

from __future__ import annotations

from typing import Any

from emulator.core.events import DomainEvent
from emulator.core.store import Outbound, Tx
from emulator.vendors.sangoma.constants import AGENT_BOT_EVENTS, NEWER_AGENT_BOT_EVENTS, WEBHOOK_SUBSCRIPTIONS
from emulator.vendors.sangoma.state import EVENT_ID, SangomaState

ACCOUNT_ONLY = ("contact_created", "contact_updated", "inbox_created", "inbox_updated")
ACCOUNT, BOT, API_INBOX = "account", "bot", "api_inbox"
"""The receiver roles (Chatwoot's webhook types), in a delivery's profile: a failure means different things."""


def targets(state: SangomaState, event: DomainEvent, *, bot_status_events: bool) -> list[tuple[str, str, str]]:
    """(url, secret, role) of every receiver of one event, in a stable order: account webhooks, the bot, the
    API inbox."""
    kind = event.kind
    out: list[tuple[str, str, str]] = []
    if kind in WEBHOOK_SUBSCRIPTIONS:
        out += [(h.url, h.secret, ACCOUNT) for h in state.webhooks.values() if kind in h.subscriptions]
    inbox = state.inboxes.get(int(event.data.get("inbox_id", 0)))
    if inbox is None:
        return out
    bot_events = AGENT_BOT_EVENTS + (NEWER_AGENT_BOT_EVENTS if bot_status_events else ())
    bot = state.agent_bots.get(inbox.agent_bot_id) if inbox.agent_bot_id is not None else None
    if bot is not None and kind in bot_events:
        out.append((bot.outgoing_url, bot.secret, BOT))
    api_inbox = inbox.channel_type == "Channel::Api" and inbox.webhook_url
    if api_inbox and kind in WEBHOOK_SUBSCRIPTIONS and kind not in ACCOUNT_ONLY:
        out.append((str(inbox.webhook_url), inbox.secret, API_INBOX))
    return out


def ordering_key(state: SangomaState, subject: str) -> tuple[str, int | None]:
    """(delivery ordering key, conversation display id or None) of a domain event's subject: a conversation's
    events are keyed by its contact, like the contact's own events."""
    kind, _, ident = subject.partition(":")
    if kind == "conversation" and ident.isdigit():
        conv = state.conversations.get(int(ident))
        if conv is not None:
            return f"contact:{conv.contact_id}", conv.display_id
    return subject, None


def outbound(tx: Tx[SangomaState], event: DomainEvent) -> list[Outbound]:
    payload: dict[str, Any] | None = event.data.get("payload")
    if payload is None:
        return []
    key, conversation = ordering_key(tx.state, event.subject)
    out: list[Outbound] = []
    for url, secret, role in targets(tx.state, event, bot_status_events=tx.state.bot_status_events):
        event_id = tx.ids.new("event", EVENT_ID)
        profile = {"secret": secret, "role": role, "conversation": conversation}
        out.append(Outbound(url, payload, event.kind, key, event_id, profile))
    return out
