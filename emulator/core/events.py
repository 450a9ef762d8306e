"""Domain events: what happened inside a vendor's state, before it becomes a webhook or an actor's cue."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
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

    def __init__(
        self, vendor: str, tenant: str, kind: str, subject: str, at: float, data: dict[str, Any] | None = None
    ) -> None:
        """The generated `__init__` of a frozen dataclass, by the slots' own setters: it sets each field through
        `object.__setattr__`, a third of this one's cost again (every unit of work emits its events here)."""
        _SET_VENDOR(self, vendor)
        _SET_TENANT(self, tenant)
        _SET_KIND(self, kind)
        _SET_SUBJECT(self, subject)
        _SET_AT(self, at)
        _SET_DATA(self, {} if data is None else data)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


_SET_VENDOR, _SET_TENANT, _SET_KIND, _SET_SUBJECT, _SET_AT, _SET_DATA = (
    DomainEvent.__dict__[f.name].__set__ for f in fields(DomainEvent)
)
"""The slots' setters (what a frozen dataclass's `__init__` reaches through `object.__setattr__`)."""


Subscriber = Callable[[DomainEvent], None]


class EventBus:
    """Fans committed events out to in-process subscribers (vendors' reactions, the feed's `event` entries are
    recorded by `Emulator._commit`) and keeps the most recent ones (`recent`, for tests).

    Subscribers are called synchronously in subscription order and must not raise; a failing one is
    logged and skipped. The live stream of everything (`/_emulator/events`) is the feed's (`core.feed`).
    """

    def __init__(self, *, history: int = 1000) -> None:
        self._subscribers: list[Subscriber] = []
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
