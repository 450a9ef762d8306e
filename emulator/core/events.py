"""Domain events: what happened inside a vendor's state, before it becomes a webhook or an actor's cue."""

from __future__ import annotations

import asyncio
import json
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


def sse_frame(event: DomainEvent) -> bytes:
    """The event as one server-sent-events frame (`event: <kind>`, `data: <compact JSON>`)."""
    data = json.dumps(event.to_json(), separators=(",", ":"))
    return f"event: {event.kind}\ndata: {data}\n\n".encode()


class TooManyListeners(Exception):
    """The cap on live listeners is reached (the stream answers 503)."""


class Listener:
    """One live reader of the event stream (`/_emulator/events`): the frames of the events it wants, in a
    bounded buffer. A reader that lets the buffer fill has fallen behind: it is dropped (`dropped` is set,
    nothing more is buffered, and `next` answers None so its stream ends), never slowing a request."""

    def __init__(self, size: int, vendor: str | None, tenant: str | None) -> None:
        self.vendor = vendor
        self.tenant = tenant
        self.dropped = False
        self._size = size
        self._frames: deque[bytes] = deque()
        self._ready = asyncio.Event()

    def wants(self, event: DomainEvent) -> bool:
        return (self.vendor is None or event.vendor == self.vendor) and (
            self.tenant is None or event.tenant == self.tenant
        )

    def offer(self, frame: bytes) -> bool:
        """Buffer `frame`; False (and dropped) when the buffer is already full."""
        if len(self._frames) >= self._size:
            self.dropped = True
        else:
            self._frames.append(frame)
        self._ready.set()
        return not self.dropped

    async def next(self) -> bytes | None:
        """The next frame, waiting for one; None once the listener is dropped."""
        while not self._frames or self.dropped:
            if self.dropped:
                return None
            self._ready.clear()
            await self._ready.wait()
        return self._frames.popleft()


class EventBus:
    """Fans committed events out to in-process subscribers and to live listeners (the SSE stream).

    Subscribers are called synchronously in subscription order and must not raise; a failing one is
    logged and skipped. Listeners are capped in number (`listener_limit`; `listen` raises
    `TooManyListeners` past it); each is told only the events it filters for, as a frame encoded once per
    event, into a bounded buffer (`listener_buffer`); one that falls that far behind is dropped.
    """

    def __init__(self, *, history: int = 1000, listener_buffer: int = 1000, listener_limit: int = 64) -> None:
        self._subscribers: list[Subscriber] = []
        self._listeners: set[Listener] = set()
        self._listener_buffer = listener_buffer
        self.listener_limit = listener_limit
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
        if self._listeners:
            self._fan_out(event)

    def _fan_out(self, event: DomainEvent) -> None:
        frame: bytes | None = None
        behind: list[Listener] = []
        for listener in self._listeners:
            if not listener.wants(event):
                continue
            if frame is None:
                try:
                    frame = sse_frame(event)
                except (TypeError, ValueError):  # not JSON: the streams skip it, the request that published goes on
                    LOG.exception("event %s cannot be streamed", event.kind)
                    return
            if not listener.offer(frame):
                behind.append(listener)
        for listener in behind:
            self._listeners.discard(listener)

    @property
    def listener_count(self) -> int:
        return len(self._listeners)

    def listen(self, vendor: str | None = None, tenant: str | None = None) -> Listener:
        """A new listener for the events of `vendor` and `tenant` (None: all); raises `TooManyListeners`."""
        if len(self._listeners) >= self.listener_limit:
            raise TooManyListeners(f"{len(self._listeners)} event streams are open, the most allowed (event_listeners)")
        listener = Listener(self._listener_buffer, vendor, tenant)
        self._listeners.add(listener)
        return listener

    def unlisten(self, listener: Listener) -> None:
        self._listeners.discard(listener)
