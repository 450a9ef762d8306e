"""The feed: one bounded journal of everything that happened, numbered, each entry pointing at its cause.

`GET /_emulator/journal` lists it and `GET /_emulator/events` streams it (`core.control`); the request
journal and the delivery log stay the detailed views of two of its kinds.

| kind | recorded by | `party` | its `cause` |
|---|---|---|---|
| `request` | `plugin.vendor_endpoint`: a vendor API request, as it completes | `integration` | a scenario |
| `control` | `control.ControlEntries`: a mutating `/_emulator` call (not the sink receiving) | `integration` | - |
| `event` | `Emulator._commit`: a domain event | `cxemu` | the request, timer, action |
| `delivery` | the dispatcher's `delivery_listeners`: a webhook queued | `integration` | its event, or a call |
| `attempt` | the dispatcher's `attempt_listeners`: one attempt, its outcome known | `integration` | its delivery |
| `timer` | the scheduler's `firing` hook: a persistent job firing | `cxemu` | - |
| `action` | `Feed.action`/`act`: a simulated party acting (a scenario's, a vendor's agent) | its party | what made it |

Ids and causes. Ids are given in append order and never reused (`skip` leaves a range out: a new id epoch,
`core.durable`; `restart_after` continues after a restore). Without a state file a restarted server gives ids from
1 again: a reader resuming past them is told so (`restarted`, `restarted_gap`) and goes on from the new ones. What
a request or a control call causes is held, unnumbered, until the call completes (`open`/`close`): the call's own
entry is then appended, and what it held right after it, so a `cause` always names a smaller id and the stream
never has to go back. The cause of what is recorded is the context's (`_CAUSE`, a context variable: tasks spawned
while it is set, such as a delivery's pump, copy it) unless the caller names one.

Cost. An entry keeps what it was made from (the journal entry, the event, the delivery) and builds its
JSON (`to_json`) and its server-sent-events frame (`frame`) on the first read, once for every reader.

Streams (`listen`): a `FeedListener` is told the entries its filter wants as they are appended, into a
bounded buffer; one that falls a buffer behind is dropped (its stream ends), never slowing a request. That
costs every entry a filter test, a JSON encoding and a write per reader: right for `cxemu tail` and tests,
which want every entry, not for a page. A display stream (`open_display`, `latest`; the dashboard's) is not
told of entries at all: every so often it reads the newest kept entries after the last id it looked at (one
filter test each, a binary search without a filter), encodes only those it sends, and counts the ones it passes
over so a page can fetch them by id range; with no display stream or listener open, recording costs the same.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import json
import operator
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple

if TYPE_CHECKING:
    from emulator.core.clock import Timer
    from emulator.core.delivery import Attempt, Delivery
    from emulator.core.events import DomainEvent

KINDS: Final[tuple[str, ...]] = ("request", "control", "event", "delivery", "attempt", "timer", "action")
KINDS_PATTERN: Final[str] = f"^({'|'.join(KINDS)})(,({'|'.join(KINDS)}))*$"
"""One `kind` query value: kinds, comma-separated (the contract's pattern, which `parse_kinds` enforces)."""


def parse_kinds(values: Iterable[str]) -> set[str]:
    """The kinds named by `kind` query values (each one kind or several, comma-separated); ValueError for an
    unknown or empty one, so `kind=` and `kind=event,` are bad input rather than no filter."""
    kinds = {k for value in values for k in value.split(",")}
    unknown = sorted(kinds - set(KINDS))
    if unknown:
        raise ValueError(f"kind: {unknown[0]!r} is not one of {', '.join(KINDS)}")
    return kinds


Builder = Callable[[Any], Any]
"""Builds an entry's `data` from what it was made from (called at most once, on the first read)."""


def _same(source: Any) -> Any:
    return source


class Entry:
    """One thing that happened; `to_json()` is the shape of the journal and the stream (docs: SPEC §1).

    `id` is 0 while the entry is held by an open call (or is that open call)."""

    __slots__ = (
        "_build",
        "_cause_ref",
        "_frame",
        "_held",
        "_holder",
        "_json",
        "_source",
        "at",
        "cause",
        "id",
        "kind",
        "party",
        "subject",
        "tenant",
        "type",
        "vendor",
    )

    def __init__(
        self,
        kind: str,
        type_: str,
        vendor: str | None,
        tenant: str | None,
        subject: str | None,
        party: str | None,
        at: float,
        source: Any = None,
        build: Builder = _same,
    ) -> None:
        self.id = 0
        self.kind = kind
        self.type = type_
        self.vendor = vendor
        self.tenant = tenant
        self.subject = subject
        self.party = party
        self.at = at
        self.cause: int | None = None
        self._source = source
        self._build = build
        self._json: dict[str, Any] | None = None
        self._frame: bytes | None = None
        self._cause_ref: Entry | None = None
        self._holder: Entry | None = None
        self._held: list[Entry] | None = None

    @property
    def data(self) -> Any:
        return self.to_json()["data"]

    def to_json(self) -> dict[str, Any]:
        """The entry as JSON (built once; do not change the dict)."""
        out = self._json
        if out is None:
            out = self._json = {
                "id": self.id,
                "kind": self.kind,
                "type": self.type,
                "vendor": self.vendor,
                "tenant": self.tenant,
                "subject": self.subject,
                "party": self.party,
                "at": self.at,
                "cause": self.cause,
                "data": self._build(self._source),
            }
            self._source = None
        return out

    def frame(self) -> bytes:
        """The entry as one server-sent-events frame (`id:`, `event: <kind>`, `data:`), encoded once."""
        frame = self._frame
        if frame is None:
            data = _ENCODE(self.to_json())
            frame = self._frame = f"id: {self.id}\nevent: {self.kind}\ndata: {data}\n\n".encode()
        return frame


def _text(value: Any) -> Any:
    """JSON for what `json` does not know (bytes in an event's data): text, so no entry breaks a stream."""
    if isinstance(value, bytes | bytearray):
        return value.decode(errors="replace")
    return str(value)


_ENCODE: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_text).encode
"""`json.dumps` with these arguments, without building an encoder per entry (a fifth of a frame's cost)."""

_CAUSE: ContextVar[Entry | None] = ContextVar("cxemu_feed_cause", default=None)


def _open_holder(cause: Entry | None) -> Entry | None:
    """The open call that must hold an entry caused by `cause` (None: it may be appended now)."""
    while cause is not None and cause.id == 0:
        if cause._held is not None:
            return cause
        cause = cause._holder
    return None


class TooManyStreams(Exception):
    """The cap on live streams is reached (the stream answers 503)."""


class Match:
    """A filter over entries: each field None (or empty) matches everything. Called on an entry, or `compiled`
    (the same test, once per stream): both are the test `_compile` builds once, with the filter."""

    __slots__ = ("_test", "kinds", "subject", "tenant", "type", "vendor")

    def __init__(
        self,
        vendor: str | None = None,
        tenant: str | None = None,
        subject: str | None = None,
        kinds: str | Collection[str] | None = None,
        type_: str | None = None,
    ) -> None:
        self.vendor = vendor
        self.tenant = tenant
        self.subject = subject
        self.kinds = frozenset([kinds] if isinstance(kinds, str) else kinds) if kinds else None
        self.type = type_
        self._test = self._compile()

    def __call__(self, e: Entry) -> bool:
        test = self._test
        return test is None or test(e)

    def compiled(self) -> Callable[[Entry], bool] | None:
        """The filter as the cheapest test of an entry: None when it matches everything, a test of the one
        field it names, or of each it names (built once per stream, run once per entry a stream looks at)."""
        return self._test

    def _compile(self) -> Callable[[Entry], bool] | None:
        tests: list[Callable[[Entry], bool]] = []
        for name in ("subject", "tenant", "vendor", "type"):  # the most selective first
            want = getattr(self, name)
            if want is not None:
                tests.append(_field_is(name, want))
        if self.kinds is not None and self.kinds != _ALL_KINDS:
            kinds = self.kinds
            tests.append(lambda e: e.kind in kinds)
        if not tests:
            return None
        if len(tests) == 1:
            return tests[0]
        return lambda e: all(t(e) for t in tests)


_ALL_KINDS: Final = frozenset(KINDS)


_ID: Final = operator.attrgetter("id")


def _field_is(name: str, want: str) -> Callable[[Entry], bool]:
    get = operator.attrgetter(name)
    return lambda e: get(e) == want


class FeedListener:
    """One live reader: the frames of the entries it wants, in a bounded buffer. One that lets the buffer fill
    has fallen behind: it is dropped (`dropped` is set, `next` answers None so its stream ends)."""

    def __init__(self, size: int, match: Match) -> None:
        self.match = match
        self.test = match.compiled()
        self.dropped = False
        self._size = size
        self._entries: deque[Entry] = deque()
        self._ready = asyncio.Event()

    def offer(self, entry: Entry) -> bool:
        """Buffer `entry`; False (and dropped) when the buffer is already full."""
        if len(self._entries) >= self._size:
            self.dropped = True
        else:
            self._entries.append(entry)
        self._ready.set()
        return not self.dropped

    async def next(self) -> Entry | None:
        """The next entry, waiting for one; None once the listener is dropped."""
        batch = await self.batch(1)
        return batch[0] if batch else None

    async def batch(self, most: int) -> list[Entry] | None:
        """The entries buffered (at most `most`), waiting for one; None once the listener is dropped. A stream
        sends them in one write: under load a reader costs a write per turn of the loop, not one per entry."""
        while not self._entries or self.dropped:
            if self.dropped:
                return None
            self._ready.clear()
            await self._ready.wait()
        entries = self._entries
        return [entries.popleft() for _ in range(min(most, len(entries)))]


class Latest(NamedTuple):
    """What a display stream sends next (`Feed.latest`)."""

    entries: list[Entry]
    """The newest matching entries after the stream's point, oldest first."""
    skipped: tuple[int, int, int] | None
    """The matching entries passed over: (after, before, count), the bounds exclusive; None when none were."""
    lost: int
    """How many entries after the stream's point are no longer kept (evicted, lost in a restart)."""
    through: int
    """The newest id looked at: the stream's next point."""


class Feed:
    """The bounded journal of entries; see the module docstring."""

    def __init__(self, size: int = 10_000, *, listener_buffer: int = 1000, listener_limit: int = 64) -> None:
        self.size = size
        self._entries: deque[Entry] = deque(maxlen=size or None)
        self._ids = itertools.count(1)
        self._last = 0
        self._gone = 0
        """The newest id no longer kept (evicted, or lost in a restart), 0 when none."""
        self._skipped: list[tuple[int, int]] = []
        """Id ranges (first, last) that were never used (id epochs): not lost, never there."""
        self._listeners: set[FeedListener] = set()
        self._displays = 0
        """Display streams open (`open_display`): counted against `listener_limit`, not told of entries."""
        self.listener_buffer = listener_buffer
        self.listener_limit = listener_limit

    # -- recording ------------------------------------------------------------------------------------

    def record(
        self,
        kind: str,
        type_: str,
        vendor: str | None,
        tenant: str | None,
        subject: str | None,
        party: str | None,
        at: float,
        source: Any = None,
        build: Builder = _same,
        *,
        cause: Entry | Literal[False] | None = False,
    ) -> Entry:
        """Record one entry caused by `cause` (default: the context's); appended now, or held by the open call
        it belongs to until that call completes."""
        ref = _CAUSE.get() if cause is False else cause
        entry = Entry(kind, type_, vendor, tenant, subject, party, at, source, build)
        entry._cause_ref = ref
        holder = ref  # `_open_holder(ref)`, inline: an event's cause is its request, a delivery's its event
        while holder is not None and not holder.id and holder._held is None:
            holder = holder._holder
        if holder is None or holder.id:
            self._append(entry)
        else:
            entry._holder = holder
            holder._held.append(entry)  # type: ignore[union-attr]  # an open holder has a list
        return entry

    def open(self, kind: str, type_: str, vendor: str | None, party: str | None) -> tuple[Entry, Token[Entry | None]]:
        """Start a call (a request, a control call): what it causes is held until `close`; the entry is the
        context's cause meanwhile. `close` must follow, in the same context."""
        entry = Entry(kind, type_, vendor, None, None, party, 0.0)
        entry._cause_ref = _CAUSE.get()
        entry._held = []
        return entry, _CAUSE.set(entry)

    def close(
        self, entry: Entry, token: Token[Entry | None], tenant: str | None, at: float, source: Any, build: Builder
    ) -> None:
        """Complete a call opened by `open`: append it and what it held (or hand both to the call holding it)."""
        _CAUSE.reset(token)
        held = entry._held or []
        entry._held = None
        entry.tenant, entry.at, entry._source, entry._build = tenant, at, source, build
        if entry.subject is None:
            for e in held:
                if e.subject is not None and e.tenant == tenant:
                    entry.subject = e.subject
                    break
        ref = entry._cause_ref  # a vendor request's is None (it has no cause), a scenario step's its step
        holder = None if ref is None else _open_holder(ref)
        if holder is not None:
            entry._holder = holder
            holder._held.append(entry)  # type: ignore[union-attr]  # an open holder has a list
            holder._held.extend(held)  # type: ignore[union-attr]
            return
        self._append(entry)
        for e in held:
            self._append(e)

    @contextlib.contextmanager
    def caused_by(self, entry: Entry | None) -> Iterator[None]:
        """What is recorded inside (and in tasks started inside) is caused by `entry`."""
        token = _CAUSE.set(entry)
        try:
            yield
        finally:
            _CAUSE.reset(token)

    def action(
        self,
        party: str | None,
        verb: str,
        vendor: str | None,
        tenant: str | None,
        subject: str | None,
        at: float,
        **data: Any,
    ) -> Entry:
        """Record a simulated party acting (`data`: `party`, `verb` and what it did, e.g. `text`), caused by the
        context's cause (the event or timer that prompted it)."""
        return self.record("action", verb, vendor, tenant, subject, party, at, {"party": party, "verb": verb, **data})

    def act(
        self,
        party: str | None,
        verb: str,
        vendor: str | None,
        tenant: str | None,
        subject: str | None,
        at: float,
        **data: Any,
    ) -> Entry:
        """`action`, and the entry becomes the context's cause from here on: what the party's acting commits is
        caused by it. For a vendor's job (its task, or its timer's `firing`, ends the context's change)."""
        entry = self.action(party, verb, vendor, tenant, subject, at, **data)
        _CAUSE.set(entry)
        return entry

    def _append(self, entry: Entry) -> None:
        entry.id = self._last = next(self._ids)
        ref = entry._cause_ref
        if ref is not None:
            entry.cause = ref.id or None
            entry._cause_ref = None
        entry._holder = None
        entries = self._entries
        if self.size and len(entries) == self.size:
            self._gone = entries[0].id
        if self.size:
            entries.append(entry)
        if self._listeners:
            self._fan_out(entry)

    def _fan_out(self, entry: Entry) -> None:
        behind = [ls for ls in self._listeners if (ls.test is None or ls.test(entry)) and not ls.offer(entry)]
        for listener in behind:
            self._listeners.discard(listener)

    # -- reading --------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def oldest(self) -> int | None:
        return self._entries[0].id if self._entries else None

    @property
    def newest(self) -> int | None:
        return self._entries[-1].id if self._entries else None

    @property
    def last_id(self) -> int:
        """The newest id given (0 before the first)."""
        return self._last

    def entries(self) -> list[Entry]:
        """Every entry kept, oldest first."""
        return list(self._entries)

    def query(
        self,
        match: Match | None = None,
        *,
        after: int | None = None,
        before: int | None = None,
        limit: int = 100,
        **filters: Any,
    ) -> list[Entry]:
        """Matching entries, oldest first: with `after`, the first `limit` after it; otherwise the newest
        `limit` (before `before`, when given). Both bounds are exclusive; `limit` 0 means all. The filter is
        `match`, or `Match(**filters)` (`feed.query(tenant="acme", kinds="event", after=41)`)."""
        match = match or Match(**filters)
        if after is not None:
            hits = [e for e in self._since(after) if (before is None or e.id < before) and match(e)]
            return hits[:limit] if limit else hits
        out: list[Entry] = []
        for e in reversed(self._entries):
            if before is not None and e.id >= before:
                continue
            if match(e):
                out.append(e)
                if limit and len(out) >= limit:
                    break
        out.reverse()
        return out

    def _since(self, after: int) -> list[Entry]:
        """The entries with an id above `after`, oldest first (read from the newest end: resuming readers ask
        for few)."""
        out: list[Entry] = []
        for e in reversed(self._entries):
            if e.id <= after:
                break
            out.append(e)
        out.reverse()
        return out

    def lost_after(self, after: int) -> int:
        """How many entries with an id above `after` are no longer kept (evicted or lost in a restart)."""
        if after >= self._gone:
            return 0
        lost = self._gone - after
        for first, last in self._skipped:
            lost -= max(0, min(last, self._gone) - max(first, after + 1) + 1)
        return max(0, lost)

    # -- streams --------------------------------------------------------------------------------------

    @property
    def listener_count(self) -> int:
        """Streams open: lossless listeners and display streams."""
        return len(self._listeners) + self._displays

    def listen(self, match: Match | None = None, after: int | None = None) -> tuple[FeedListener, list[Entry], int]:
        """A new live reader of the entries `match` wants (raises `TooManyStreams` past the cap), with, when
        `after` is given, the kept entries after it that it wants (sent first: nothing between them and the
        live ones is missed or repeated) and how many after it are no longer kept."""
        self.room()
        match = match or Match()
        listener = FeedListener(self.listener_buffer, match)
        self._listeners.add(listener)
        if after is None:
            return listener, [], 0
        return listener, [e for e in self._since(after) if match(e)], self.lost_after(after)

    def unlisten(self, listener: FeedListener) -> None:
        self._listeners.discard(listener)

    # -- display streams ------------------------------------------------------------------------------

    def room(self) -> None:
        """Raise `TooManyStreams` when no other stream may open (the cap, `listener_limit`)."""
        if self.listener_count >= self.listener_limit:
            raise TooManyStreams(f"{self.listener_count} event streams are open, the most allowed (event_listeners)")

    def open_display(self) -> None:
        """Count a display stream in (`room` says whether one may open; `close_display` counts it out). It is
        read with `latest`, never told of an entry as it is appended, so it costs the recording path nothing."""
        self._displays += 1

    def close_display(self) -> None:
        self._displays -= 1

    def latest(self, test: Callable[[Entry], bool] | None, after: int, keep: int) -> Latest:
        """What a display stream that has looked at the entries up to `after` sends next: the newest `keep`
        kept entries after it that `test` (a compiled `Match`, None for all) wants, oldest first, and the
        ones it passes over (all older than those): their count and the exclusive id bounds that enclose
        exactly them, for `query(after=, before=)`. Costs the entries after `after` one test each (none
        without a filter: a binary search), and nothing more for those it passes over."""
        through = self._last
        lost = self.lost_after(after) if after < self._gone else 0
        entries = self._entries
        if test is None:
            lo = bisect.bisect_right(entries, after, key=_ID)  # the first kept entry above `after` (ids increase)
            start = max(lo, len(entries) - keep)
            sent = list(itertools.islice(reversed(entries), len(entries) - start))  # from the newest end
            sent.reverse()
            count = start - lo
            if count:
                return Latest(sent, (entries[lo].id - 1, entries[start].id, count), lost, through)
            return Latest(sent, None, lost, through)
        sent = []
        count = first = last = 0
        for e in reversed(entries):
            i = e.id
            if i <= after:
                break
            if test(e):
                if len(sent) < keep:
                    sent.append(e)
                else:
                    if not count:
                        last = i
                    count += 1
                    first = i
        sent.reverse()
        return Latest(sent, (first - 1, last + 1, count) if count else None, lost, through)

    def forget(self, vendor: str | None = None, tenant: str | None = None) -> None:
        """Drop the entries of a reset (None matches all; with both None, every entry), so their memory goes
        with the tenant. Ids are not reused; a reader resuming across them gets no gap frame for them: the
        reset's own `control` entry, appended once the reset is done, says what happened."""
        if vendor is None and tenant is None:
            self._entries.clear()
            return
        kept = [
            e
            for e in self._entries
            if (vendor is not None and e.vendor != vendor) or (tenant is not None and e.tenant != tenant)
        ]
        if len(kept) != len(self._entries):
            self._entries.clear()
            self._entries.extend(kept)

    # -- restarts -------------------------------------------------------------------------------------

    def skip(self, count: int) -> None:
        """Leave `count` ids unused (a new id epoch; `core.durable`)."""
        first = next(self._ids)
        self._skipped.append((first, first + count))
        self._ids = itertools.count(first + count + 1)
        self._last = first + count

    def restart_after(self, last_id: int) -> None:
        """After a restart from the state file: the entries before are gone (the file keeps the journal and the
        delivery log, not the feed), ids go on after `last_id`; a reader resuming from before is told of a gap."""
        self._entries.clear()
        self._ids = itertools.count(last_id + 1)
        self._last = self._gone = last_id

    def restarted(self, after: int) -> bool:
        """Whether a reader resuming after `after` holds an id this feed never gave: one of an earlier process (a
        server restarted without a state file gives ids from 1 again). It is told so (`restarted_gap`) and goes
        on from the new ids, as a fleet's reader is when its Redis restarted empty (`core.fleetfeed`): waiting
        for ids above its point would silently pass over every entry below it."""
        return after > self._last


def restarted_gap(after: int, oldest: int | None) -> bytes:
    """The `gap` frame of a stream resumed past every id the feed has given (`Feed.restarted`): what came before
    the restart is gone and how much is unknown (`lost` null); `restarted` says the stream goes on from the new,
    lower ids (a reader that skips ids at or below its last must start afresh: `live.js`, `Client.follow`)."""
    gap = json.dumps({"after": after, "lost": None, "oldest": oldest, "restarted": True}, separators=(",", ":"))
    return f"event: gap\ndata: {gap}\n\n".encode()


CAUSE = _CAUSE
"""The context's cause, for the kernel's hot path (`Emulator._commit`: `CAUSE.set(entry)`, `CAUSE.reset(token)`,
the cheap form of `Feed.caused_by`)."""


# -- the kernel's entries ---------------------------------------------------------------------------------


def event_data(event: DomainEvent) -> Any:
    """An `event` entry's `data`: the domain event's."""
    return event.data


def _delivery_data(d: Delivery) -> dict[str, Any]:
    return {"delivery_id": d.id, "event_id": d.event_id, "url": d.url, "event": d.event_type, "ordering_key": d.subject}


def _attempt_data(source: tuple[Delivery, Attempt, str, float | None]) -> dict[str, Any]:
    d, a, outcome, next_at = source
    return {
        "delivery_id": d.id,
        "event_id": d.event_id,
        "n": a.n,
        "url": a.url,
        "status": a.status,
        "latency_ms": a.latency_ms,
        "error": a.error,
        "chaos": a.chaos,
        "headers": dict(a.headers),
        "outcome": outcome,
        "next_at": next_at,
    }


Redactor = Callable[[str, dict[str, Any]], dict[str, Any]]
"""Masks the credentials of a `delivery` or `attempt` entry's data (url, headers) of a vendor's delivery."""


class DeliveryEntries:
    """The dispatcher's delivery and attempt listeners: a `delivery` entry per new delivery (caused by what is
    the context's cause: its event, or the call that redelivered it) and an `attempt` entry per attempt,
    caused by its delivery's entry (remembered while the delivery is pending)."""

    def __init__(self, feed: Feed, kept: int = 100_000, *, redact: Redactor | None = None) -> None:
        self.feed = feed
        self._kept = kept
        self._by_id: dict[str, Entry] = {}
        self._delivery_data: Callable[[Delivery], dict[str, Any]] = _delivery_data
        self._attempt_data: Callable[[tuple[Delivery, Attempt, str, float | None]], dict[str, Any]] = _attempt_data
        if redact is not None:  # an admin token: the entries' credentials masked, as `/requests` masks them
            self._delivery_data = lambda d: redact(d.vendor, _delivery_data(d))
            self._attempt_data = lambda source: redact(source[0].vendor, _attempt_data(source))

    def delivery(self, d: Delivery) -> None:
        entry = self.feed.record(
            "delivery", d.event_type, d.vendor, d.tenant, d.subject, "integration", d.created_at, d, self._delivery_data
        )
        by_id = self._by_id
        if len(by_id) >= self._kept:  # deliveries forgotten while pending (a reset): the oldest go
            for key in list(itertools.islice(by_id, len(by_id) // 2)):
                del by_id[key]
        by_id[d.id] = entry

    def attempt(self, d: Delivery, a: Attempt) -> None:
        last = a is d.attempts[-1]
        # told once the pump's step is decided: a step that delivers sends only successful requests
        outcome = "delivered" if d.status == "delivered" else "failed" if d.status == "failed" and last else "retry"
        next_at = d.not_before if d.status == "pending" and last else None
        cause = self._by_id.get(d.id)
        if d.status != "pending" and last:
            self._by_id.pop(d.id, None)
        self.feed.record(
            "attempt",
            d.event_type,
            d.vendor,
            d.tenant,
            d.subject,
            "integration",
            a.at,
            (d, a, outcome, next_at),
            self._attempt_data,
            cause=cause,
        )


def timer_entries(feed: Feed) -> Callable[[Timer], contextlib.AbstractContextManager[None]]:
    """The scheduler's `firing` hook: a `timer` entry for each persistent job that fires (what it does, its
    arguments, when it was due), the cause of what it does."""

    def firing(timer: Timer) -> contextlib.AbstractContextManager[None]:
        job = timer.job
        if job is None:
            return _NOT_A_JOB
        what = str(job["kind"])
        args = job["args"]
        data = {"what": what, "args": args, "due": timer.when}
        subject = None  # the first argument naming the subject (a loop: no generator per firing)
        for k, v in args.items():
            if k in SUBJECT_ARGS and isinstance(v, str):
                subject = v
                break
        entry = feed.record("timer", what, timer.vendor, timer.tenant, subject, "cxemu", timer.when, data, cause=None)
        return _Caused(entry)

    return firing


class _Caused:
    """`with _Caused(entry):` what is recorded inside (and in tasks started inside) is caused by `entry` (a class,
    not a generator-based manager: a job fires it on every CM status report and 8x8 agent step)."""

    __slots__ = ("entry", "token")

    def __init__(self, entry: Entry) -> None:
        self.entry = entry
        self.token: Token[Entry | None] | None = None

    def __enter__(self) -> None:
        self.token = _CAUSE.set(self.entry)

    def __exit__(self, *exc: object) -> None:
        assert self.token is not None
        _CAUSE.reset(self.token)


_NOT_A_JOB = contextlib.nullcontext()


SUBJECT_ARGS = frozenset({"conv", "conversation", "chat", "call", "subject", "conversation_id", "chat_id", "call_id"})
"""Job arguments that name the conversation, chat or call a timer is about (its entry's `subject`)."""
