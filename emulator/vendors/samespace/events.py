"""Callback payloads built from Samespace domain events, and where they go (samespace.md §4.3 [inf]).

An earlier revision of the doc let a request say `publish: {url, method}` to "publish real-time events to a
url"; nothing public shows the payload, so the shape here is the fact file's proposal: one JSON request per
call transition, `{event, call_id, cloud_id, step_id?, timestamp, data}`. The target is the request's
`publish.url`, else the cloud's `callback_url`, else none. Deliveries go through the kernel's dispatcher
(ordered per call, retried, logged). `publish.method: PUT` is accepted but events are always POSTed.
"""

from __future__ import annotations

from typing import Any

from emulator.core.clock import iso
from emulator.core.events import DomainEvent
from emulator.core.runtime import Emulator
from emulator.core.store import Outbound, Tx
from emulator.core.webhooks import WebhookPolicy
from emulator.vendors.samespace.state import EVENT_ID, SamespaceState

#: Retries of a failed callback [inf]: 1, 10 and 30 seconds, then the delivery fails.
RETRY_LADDER = (1.0, 10.0, 30.0)


def payload(event: DomainEvent) -> dict[str, Any]:
    """The callback body of one domain event (pure)."""
    data = dict(event.data)
    step_id = data.pop("step_id", None)
    return {
        "event": event.kind,
        "call_id": event.subject,
        "cloud_id": event.tenant,
        "step_id": step_id,
        "timestamp": iso(event.at, millis=True),
        "data": data,
    }


def target(state: SamespaceState, call_id: str) -> str | None:
    call = state.calls.get(call_id)
    if call is None:
        return None
    return call.publish_url or state.callback_url


def outbound(tx: Tx[SamespaceState], event: DomainEvent) -> list[Outbound]:
    url = target(tx.state, event.subject)
    if url is None:
        return []
    return [Outbound(url, payload(event), event.kind, event.subject, tx.ids.new("event", EVENT_ID))]


def policy(emu: Emulator) -> WebhookPolicy:
    return WebhookPolicy(retry_ladder=RETRY_LADDER)
