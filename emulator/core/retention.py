"""Retention: ended conversations, chats and calls are kept per tenant up to a count and an age, then evicted.

A long-running sandbox would otherwise keep every chat it ever saw (issue 19: a Samespace server held 150,000
ended calls in 515 MiB). Each vendor says what *ended* means for its entities with a `Retained` hook per kind
(the vendor's `state.py`); this module decides what goes, the same way for every vendor:

- a kind keeps at most `count` ended entities per tenant, and none that ended more than `age` seconds ago on
  the tenant's own timeline (`tx.now()`); the oldest ended go first (ties by id), so the same seed and inputs
  evict the same ids;
- nothing pending goes: an entity is *pinned* while a persistent job of its vendor and tenant names it in its
  arguments (an agent about to join, a status report still due) or a webhook of its subject is still pending
  in the delivery log; it is looked at again at a later sweep;
- an evicted id answers as an id that never existed: the vendor's own 404.

Sweeps run after a unit of work commits (a store commit hook, while the tenant's lock is held), when that tenant
has committed a quarter of the smallest count of units of work since its last sweep, or its timeline moved past
an eighth of the smallest age: a sweep costs one pass over the tenant's entities of each kind and over the
delivery log, so between two sweeps a kind holds at most a quarter more than its count, and the cost per request
stays the same however long the sandbox runs. A tenant that does nothing keeps what it has.

| name | what it is |
|---|---|
| `Limits(count, age)` | one kind's bounds (a vendor's default; the `retention` settings override it) |
| `Retained(kind, limits, ended, evict)` | a vendor's hook for a kind: `ended(state)` lists, `evict(state, ids)` drops |
| `Ended(id, at, refs)` | an ended entity: its id, when it ended (tenant time), what pins it (or a function for it) |
| `Retainer(emu)` | the sweeps: `register`, `after(tx)` (commit hook), `sweep(vendor, tenant, state, now)`, `reset` |
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from pydantic import BaseModel

from emulator.core.store import Tx
from emulator.core.webhooks import Delivery

if TYPE_CHECKING:  # the emulator owns its retainer
    from emulator.core.runtime import Emulator


@dataclass(frozen=True)
class Limits:
    count: int
    """Ended entities of the kind kept per tenant (0: none once nothing pins them)."""
    age: float | None
    """Seconds an ended entity is kept on its tenant's timeline (None: no age limit)."""


class Ended(NamedTuple):
    id: Any
    at: float
    refs: tuple[str, ...] | Callable[[], Iterable[str]]
    """What pins it; a function for refs that cost a pass over other state to find (CM's messages of a chat): it is
    called only by a sweep that has something to evict, so a sweep that keeps everything costs a pass over the
    kind's entities alone."""


@dataclass(frozen=True)
class Retained:
    """One vendor's hook for one kind of entity (see the module docstring)."""

    kind: str
    limits: Limits
    ended: Callable[[Any], Iterable[Ended]]
    evict: Callable[[Any, list[Any]], None]


@dataclass
class _Mark:
    writes: int = 0
    swept_at: float | None = None


@dataclass
class Retainer:
    """The sweeps of one emulator (`Emulator.retainer`)."""

    emu: Emulator
    hooks: dict[str, list[Retained]] = field(default_factory=dict)
    marks: dict[tuple[str, str], _Mark] = field(default_factory=dict)
    """When each tenant was last swept (forgotten by reset and restore: a mark only says when to look again)."""
    evicted: int = 0
    """Entities evicted so far (all vendors)."""
    _due: dict[str, tuple[int, float | None]] = field(default_factory=dict)
    """Per vendor, worked out once at `register`: units of work between sweeps, and the time between them."""

    def register(self, vendor: str, hooks: Iterable[Retained]) -> None:
        """A vendor's hooks, each with its limits replaced by the `retention` settings' where they say so."""
        settings = self.emu.settings.retention
        if not settings.enabled:
            return
        own = settings.vendors.get(vendor)
        chosen = []
        for hook in hooks:
            count = _first(own.count if own else None, settings.count, hook.limits.count)
            age = _first(own.age if own else None, settings.age, hook.limits.age)
            chosen.append(Retained(hook.kind, Limits(int(count), age or None), hook.ended, hook.evict))
        self.hooks[vendor] = chosen
        ages = [h.limits.age for h in chosen if h.limits.age is not None]
        if chosen:
            self._due[vendor] = (max(1, min(h.limits.count for h in chosen) // 4), min(ages) / 8 if ages else None)

    def limits(self, vendor: str) -> dict[str, Limits]:
        """The limits in force for each kind of a vendor (empty when retention is off)."""
        return {h.kind: h.limits for h in self.hooks.get(vendor, [])}

    def after(self, tx: Tx[Any]) -> None:
        """The store commit hook: sweep the tenant when it is due."""
        due = self._due.get(tx.vendor)
        if due is None:
            return
        every, gap = due
        key = (tx.vendor, tx.tenant)
        now = tx.clock.now()  # `tx.now()`, one call less (every unit of work)
        mark = self.marks.get(key)
        if mark is None:
            mark = self.marks[key] = _Mark(swept_at=now)
        writes = mark.writes = mark.writes + 1
        if writes >= every or (gap is not None and mark.swept_at is not None and now - mark.swept_at >= gap):
            mark.writes, mark.swept_at = 0, now
            self.sweep(tx.vendor, tx.tenant, tx.state, now)

    def sweep(self, vendor: str, tenant: str, state: BaseModel, now: float) -> int:
        """Evict what each kind no longer keeps (call it with the tenant's lock held); returns how many went."""
        pinned: set[str] | None = None
        gone = 0
        for hook in self.hooks.get(vendor, []):
            ended = sorted(hook.ended(state), key=lambda e: (e.at, str(e.id)))
            limits = hook.limits
            over = max(0, len(ended) - limits.count)
            if limits.age is not None:
                over = max(over, sum(1 for e in ended if now - e.at >= limits.age))
            if not over:
                continue
            if pinned is None:
                pinned = self._pinned(vendor, tenant)
            doomed = [e.id for e in ended if not pinned.intersection(_refs(e))][:over]
            if doomed:
                hook.evict(state, doomed)
                gone += len(doomed)
        self.evicted += gone
        return gone

    def _pinned(self, vendor: str, tenant: str) -> set[str]:
        """What pending work of the tenant names: its vendor's persistent jobs' arguments, its pending webhooks'
        subjects."""
        refs: set[str] = set()
        for timer in self.emu.scheduler.pending([tenant]):
            if timer.job is not None and timer.vendor == vendor:
                refs.update(_strings(timer.job.get("args", {})))
        refs.update(d.subject for d in self.emu.dispatcher.deliveries(_pending(vendor, tenant)))
        return refs

    def reset(self, vendor: str | None = None, tenant: str | None = None) -> None:
        """Forget the marks of the matching tenants (a reset hook; None matches every one)."""
        for key in [k for k in self.marks if (vendor is None or k[0] == vendor) and (tenant is None or k[1] == tenant)]:
            del self.marks[key]


def _refs(e: Ended) -> Iterable[str]:
    refs = e.refs
    return refs() if callable(refs) else refs


def _pending(vendor: str, tenant: str) -> Callable[[Delivery], bool]:
    def match(d: Delivery) -> bool:
        return d.status == "pending" and d.tenant == tenant and d.vendor == vendor

    return match


def _first(*values: Any) -> Any:
    return next(v for v in values if v is not None) if any(v is not None for v in values) else None


def _strings(args: Mapping[str, Any]) -> Iterable[str]:
    for value in args.values():
        if isinstance(value, str | int) and not isinstance(value, bool):
            yield str(value)
