"""Who receives each Digital Interactions event (sangoma.md §2.4 "Who gets which events").

Domain events carry the exact Chatwoot payload (`data["payload"]`, built by `di.py`); this module only picks
the targets:

- account webhooks: the events in their `subscriptions`, nothing else;
- the agent bot attached to the conversation's inbox: `message_created`, `message_updated`,
  `webwidget_triggered`, `conversation_opened`, `conversation_resolved`, with no filter (so it receives its
  own outgoing messages); with `bot_status_events` also `conversation_updated`/`_status_changed` (newer CW);
- an API inbox's `webhook_url`: every conversation, message, typing and widget event, unfiltered.

Voice calls send no webhooks (none are documented, §2.9).
"""

from __future__ import annotations

from typing import Any

from emulator.core.events import DomainEvent
from emulator.core.store import Outbound, Tx
from emulator.vendors.sangoma.constants import AGENT_BOT_EVENTS, NEWER_AGENT_BOT_EVENTS, WEBHOOK_SUBSCRIPTIONS
from emulator.vendors.sangoma.state import EVENT_ID, SangomaState

BOT_ONLY = ("conversation_opened", "conversation_resolved")
ACCOUNT_ONLY = ("contact_created", "contact_updated", "inbox_created", "inbox_updated")


def targets(state: SangomaState, event: DomainEvent, *, bot_status_events: bool) -> list[tuple[str, str, bool]]:
    """(url, secret, is the agent bot) of every receiver of one event, in a stable order: account webhooks,
    the bot, the API inbox."""
    kind = event.kind
    out: list[tuple[str, str, bool]] = []
    if kind in WEBHOOK_SUBSCRIPTIONS:
        out += [(h.url, h.secret, False) for h in state.webhooks.values() if kind in h.subscriptions]
    inbox = state.inboxes.get(int(event.data.get("inbox_id", 0)))
    if inbox is None:
        return out
    bot_events = AGENT_BOT_EVENTS + (NEWER_AGENT_BOT_EVENTS if bot_status_events else ())
    bot = state.agent_bots.get(inbox.agent_bot_id) if inbox.agent_bot_id is not None else None
    if bot is not None and kind in bot_events:
        out.append((bot.outgoing_url, bot.secret, True))
    api_inbox = inbox.channel_type == "Channel::Api" and inbox.webhook_url
    if api_inbox and kind in WEBHOOK_SUBSCRIPTIONS and kind not in ACCOUNT_ONLY:
        out.append((str(inbox.webhook_url), "", False))
    return out


def outbound(tx: Tx[SangomaState], event: DomainEvent) -> list[Outbound]:
    payload: dict[str, Any] | None = event.data.get("payload")
    if payload is None:
        return []
    out: list[Outbound] = []
    for url, secret, bot in targets(tx.state, event, bot_status_events=tx.state.bot_status_events):
        event_id = tx.ids.new("event", EVENT_ID)
        out.append(Outbound(url, payload, event.kind, event.subject, event_id, {"secret": secret, "bot": bot}))
    return out
