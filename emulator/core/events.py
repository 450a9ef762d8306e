"""Domain events: what happened inside a vendor's state, before it becomes a webhook or an actor's cue."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

LOG = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """One thing that happened.

    `kind` is the vendor's own vocabulary (e.g. `conversation.queued`), `subject` the entity it is about
    (the ordering key for its webhooks: a conversation, chat or call id), `at` the clock time.
    """

    vendor: str
    tenant: str
    kind: str
    subject: str
    at: float
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


Subscriber = Callable[[DomainEvent], None]


class EventBus:
    """Fans committed events out to in-process subscribers and to live listeners (the SSE stream).

    Subscribers are called synchronously in subscription order and must not raise; a failing one is
    logged and skipped. Listener queues are bounded: a slow reader loses the oldest events, never
    slows a request.
    """

    def __init__(self, *, history: int = 1000, listener_buffer: int = 1000) -> None:
        self._subscribers: list[Subscriber] = []
        self._listeners: set[asyncio.Queue[DomainEvent]] = set()
        self._listener_buffer = listener_buffer
        self.recent: deque[DomainEvent] = deque(maxlen=history)

    def subscribe(self, fn: Subscriber) -> None:
        self._subscribers.append(fn)

    def publish(self, event: DomainEvent) -> None:
        self.recent.append(event)
        for fn in self._subscribers:
            try:
                fn(event)
            except Exception:
                LOG.exception("event subscriber %r failed on %s", fn, event.kind)
        for queue in self._listeners:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)

    def listen(self) -> asyncio.Queue[DomainEvent]:
        queue: asyncio.Queue[DomainEvent] = asyncio.Queue(maxsize=self._listener_buffer)
        self._listeners.add(queue)
        return queue

    def unlisten(self, queue: asyncio.Queue[DomainEvent]) -> None:
        self._listeners.discard(queue)
