"""Webhooks built from CM domain events, and where they go (cmcom.md §3.2, §3.3, §3.5).

| domain event | webhook (event type in the delivery log) | to |
|---|---|---|
| `mo.received` | the router MO (`MO`) | the partner bot's webhook while its component is enabled |
| `mo.received` | the same body (`MO.CustomerContact`) | Customer Contact's webhook (when configured) |
| `mo.plain` | a plain Business Messaging MO (`MO.plain`) | the account's MO webhook (router off) |
| `status.report` | a status report (`StatusReport`) | the account's status report webhook |
| `router.mutation` / `router.reset` | `mutationNotification` / `resetNotification` | the other components |

`payloads` is pure: one domain event in, the (event type, body) pairs out, whatever the targets (the bodies are
built by `views.py`).
"""

from __future__ import annotations

from typing import Any

from emulator.core.events import DomainEvent
from emulator.core.store import Outbound, Tx
from emulator.vendors.cmcom import constants as c
from emulator.vendors.cmcom.state import EVENT_ID, CmComState
from emulator.vendors.cmcom.views import status_report

MO = "MO"
MO_CC = "MO.CustomerContact"
MO_PLAIN = "MO.plain"
STATUS_REPORT = "StatusReport"
WEBHOOK_EVENTS = (MO, MO_CC, MO_PLAIN, STATUS_REPORT, c.NOTIFICATION_TYPE, c.RESET_NOTIFICATION_TYPE)
_SENT_BY = frozenset(("mo.received", "mo.plain", "status.report", "router.mutation", "router.reset"))
"""The event kinds `_targets` finds webhooks for: every other kind has none."""


def payloads(event: DomainEvent) -> list[tuple[str, dict[str, Any]]]:
    kind = event.kind
    if kind == "mo.received":
        return [(MO, event.data["body"])]
    if kind == "mo.plain":
        return [(MO_PLAIN, event.data["body"])]
    if kind == "status.report":
        return [(STATUS_REPORT, status_report(event.data))]
    if kind in ("router.mutation", "router.reset"):
        body = event.data["body"]
        return [(str(body["$type"]), body)]
    return []


def _targets(state: CmComState, event: DomainEvent) -> list[tuple[str, str]]:
    """(url, event type) pairs for one event."""
    kind, data = event.kind, event.data
    out: list[tuple[str, str]] = []
    cc_url = state.customer_contact_webhook
    if kind == "mo.received":
        if state.partner in data["components"] and state.bot_webhook:
            out.append((state.bot_webhook, MO))
        if cc_url:
            out.append((cc_url, MO_CC))
    elif kind == "mo.plain" and state.mo_webhook:
        out.append((state.mo_webhook, MO_PLAIN))
    elif kind == "status.report" and state.status_webhook:
        out.append((state.status_webhook, STATUS_REPORT))
    elif kind in ("router.mutation", "router.reset"):
        name = str(data["body"]["$type"])
        partner_url = state.notification_webhook or state.bot_webhook
        partner_listens = state.partner in data["components"] or state.partner in data["named"]
        if data["source"] != state.partner and partner_listens and partner_url:
            out.append((partner_url, name))
        if data["source"] != c.Component.CUSTOMER_CONTACT and cc_url:
            out.append((cc_url, name))
    return out


def outbound(tx: Tx[CmComState], event: DomainEvent) -> list[Outbound]:
    """The webhook requests one committed domain event causes."""
    if event.kind == "status.report":  # (two per sent message: what `_targets` and `payloads` make of one, directly)
        url = tx.state.status_webhook
        if not url:
            return []
        body = status_report(event.data)
        return [Outbound(url, body, STATUS_REPORT, event.subject, tx.ids.new("event", EVENT_ID))]
    if event.kind not in _SENT_BY:  # (a sent message, a chat created: no webhook, no read of the state)
        return []
    targets = _targets(tx.state, event)
    if not targets:
        return []
    bodies = dict(payloads(event))
    out: list[Outbound] = []
    for url, event_type in targets:
        body = bodies[MO] if event_type == MO_CC else bodies[event_type]
        out.append(Outbound(url, body, event_type, event.subject, tx.ids.new("event", EVENT_ID)))
    return out
