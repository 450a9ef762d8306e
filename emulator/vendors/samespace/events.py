"""Callback payloads built from Samespace domain events, and where they go (samespace.md §4.3 [inf]).

An earlier revision of the doc let a request say `publish: {url, method}` to "publish real-time events to a
url"; nothing public shows the payload, so the shape here is the fact file's proposal: one JSON request per
call transition, `{event, call_id, cloud_id, step_id?, timestamp, data}` (`views.callback`). The target is
the request's `publish.url`, else the cloud's `callback_url`, else none. Deliveries go through the kernel's
dispatcher (ordered per call, retried as `delivery.py` says, logged). `publish.method: PUT` is accepted but
events are always POSTed.
"""

from __future__ import annotations

from emulator.core.events import DomainEvent
from emulator.core.store import Outbound, Tx
from emulator.vendors.samespace.state import EVENT_ID, SamespaceState
from emulator.vendors.samespace.views import callback


def target(state: SamespaceState, call_id: str) -> str | None:
    call = state.calls.get(call_id)
    if call is None:
        return None
    return call.publish_url or state.callback_url


def outbound(tx: Tx[SamespaceState], event: DomainEvent) -> list[Outbound]:
    url = target(tx.state, event.subject)
    if url is None:
        return []
    return [Outbound(url, callback(event), event.kind, event.subject, tx.ids.new("event", EVENT_ID))]
