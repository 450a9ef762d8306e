"""Per-(vendor, tenant) state with unit-of-work access, reset, and snapshot/restore.

Each vendor declares its state as one pydantic model built by a constructor; a tenant's slot holds that
model plus the tenant's id counters. Vendor code reaches state only through a unit of work:

    STORE = store.of("eightbyeight", EightByEightState)      # a typed view: tx.state is an EightByEightState
    async with STORE.tenant(tenant) as tx:
        conversation = st.create_conversation(tx, ...)      # state transitions are module functions
        tx.emit("conversation.created", conversation.id, {...})

Leaving the block commits: the events recorded on `tx` go to the commit hook (event bus, webhook
dispatcher, actors). An exception discards the events and puts the id counters back. State transitions
validate before they mutate, so a rejected request leaves state as it was.

A unit of work reads the time of its tenant's own timeline (`tx.now()`, see `core.clock`), never a shared
clock, so a tenant's bodies do not depend on what other tenants did to time.

A read-only request reads `view(vendor, tenant)`: the tenant's state, or for a tenant that does not exist one
built from its constructor and kept nowhere, so reads never create tenants.

A slot also says whether the tenant was provisioned (`POST /_emulator/tenants`); `strict` auth reads it.
The store's `epoch` is the id epoch every tenant draws in (`core.ids`; a restore after a crash moves it on,
`core.durable`), and `writes` counts units of work, resets and restores (the state file's saver skips a save
while it stands still).

Reset builds a slot again from its constructor; nothing is cleared field by field.

Two backends (`open_store`, setting `state`): this module's memory backend, the default, and the Redis backend
(`core.redisstore`, `--state redis://`), a subclass that keeps the same slots as a cache of what Redis holds and
commits every unit of work there with a version check; see docs/scaling.md. Vendor code cannot tell them apart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Generic, TypeVar, cast

from pydantic import BaseModel

from emulator.core.clock import Clock
from emulator.core.errors import ConfigError, EmulatorError, NotFound
from emulator.core.events import DomainEvent
from emulator.core.ids import TenantIds

S = TypeVar("S", bound=BaseModel)

StateFactory = Callable[[str, TenantIds], BaseModel]
"""Builds a tenant's state; ids drawn from the given `TenantIds` count in the new slot."""


_WATCHERS: list[set[int]] = []
"""Sets told the id of every slot whose `version` moves (`watch`)."""


def watch(moved: set[int]) -> None:
    """From now on, add to `moved` the id of each slot whose `version` moves, until `unwatch(moved)`: a snapshot
    built in slices (`core.bigwork`) learns which tenants changed meanwhile without looking at every one."""
    _WATCHERS.append(moved)


def unwatch(moved: set[int]) -> None:
    _WATCHERS[:] = [w for w in _WATCHERS if w is not moved]


@dataclass
class Slot:
    state: BaseModel
    counters: dict[str, int] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    provisioned: bool = False
    _version: int = field(default=0, repr=False)

    @property
    def version(self) -> int:
        """Moves on when a unit of work on the slot ends, or its flag or (shared backends) its cache changes; the
        sets `watch` was given hear of it (a snapshot built in slices sees which tenants changed)."""
        return self._version

    @version.setter
    def version(self, value: int) -> None:
        self._version = value
        for moved in _WATCHERS:
            moved.add(id(self))


@dataclass
class Outbound:
    """A webhook a unit of work asks to be sent once it commits (see `core.webhooks`)."""

    url: str
    payload: dict[str, Any]
    event_type: str
    subject: str
    event_id: str
    profile: dict[str, Any] = field(default_factory=dict)
    """Vendor data the header/signature hook needs (e.g. 8x8's tenant and customer ids). The delivery keeps this
    dict itself (not a copy): build it for the webhook, never hand over a dict the state or anything else changes."""


class Tx(Generic[S]):
    """One unit of work on one tenant's state."""

    __slots__ = ("clock", "events", "ids", "outbound", "outboxed", "state", "tenant", "vendor")

    def __init__(self, vendor: str, tenant: str, state: S, ids: TenantIds, clock: Clock) -> None:
        self.vendor = vendor
        self.tenant = tenant
        self.state = state
        self.ids = ids
        self.clock = clock
        self.events: list[DomainEvent] = []
        self.outbound: list[Outbound] = []
        self.outboxed: Any = None
        """What `Store.outbox` made of the unit while it committed (the commit hooks reuse it), or None."""

    def now(self) -> float:
        return self.clock.now()

    def emit(self, kind: str, subject: str, data: dict[str, Any] | None = None) -> DomainEvent:
        event = DomainEvent(self.vendor, self.tenant, kind, subject, self.clock.now(), data or {})
        self.events.append(event)
        return event

    def send(self, outbound: Outbound) -> None:
        self.outbound.append(outbound)


CommitHook = Callable[[Tx[Any]], None]


class StateConflict(EmulatorError):
    """A unit of work lost a race: another process committed the tenant's state since this one read it (shared
    backends only). Nothing of the unit was kept; the next unit of work reads the tenant afresh."""

    status_code = 409
    code = "conflict"


class Misrouted(EmulatorError):
    """A tenant this worker does not own was asked for (a fleet of workers, `core.fleet`): raised at the first store
    access, before any effect, so the request can go to the tenant's owner (or be served here once claimed)."""

    status_code = 421
    code = "misdirected"

    def __init__(self, tenant: str) -> None:
        super().__init__(f"tenant {tenant!r} is served by another cxemu worker; try again")
        self.tenant = tenant


def open_store(state: str, seed: int, clock: Clock, *, clock_of: Callable[[str], Clock] | None = None) -> Store:
    """The backend the `state` setting names: `memory`, or a Redis URL (redis-py imported only then)."""
    if state == "memory":
        return Store(seed, clock, clock_of=clock_of)
    try:
        from emulator.core.redisstore import RedisStore
    except ModuleNotFoundError as exc:
        if exc.name != "redis" and not (exc.name or "").startswith("redis."):
            raise
        raise ConfigError("--state redis://: the Redis client is not installed (pip install 'cxemu[redis]')") from None
    return RedisStore(state, seed, clock, clock_of=clock_of)


class Store:
    """Memory backend: every (vendor, tenant) slot in a dict."""

    def __init__(self, seed: int, clock: Clock, *, clock_of: Callable[[str], Clock] | None = None) -> None:
        self.seed = seed
        self.clock = clock
        self.clock_of = clock_of or (lambda tenant: clock)
        """The clock of a tenant's units of work: its own timeline (`Scheduler.clock_of`) in a server."""
        self.epoch = 0
        """The id epoch every tenant draws in (`core.ids`); moved on by restoring an uncleanly stopped state."""
        self._factories: dict[str, StateFactory] = {}
        self._types: dict[str, type[BaseModel]] = {}
        self._slots: dict[tuple[str, str], Slot] = {}
        self._views: dict[tuple[str, type[BaseModel]], VendorStore[Any]] = {}
        self._commit_hooks: list[CommitHook] = []
        self.writes = 0
        """Units of work, resets and restores so far: the state file's saver saves when it moved."""

    unit_type: type[UnitOfWork[Any]]
    """The unit of work this backend hands out (set below the class: the memory backend's `UnitOfWork`)."""
    shared = False
    """Whether the state lives outside this process (then `load` reads it at start and `close` lets go)."""
    outbox: Callable[[Tx[Any]], str | None] | None = None
    """Set by a Redis-backed server (`core.redisruntime`): called while a unit of work with events or webhooks
    commits, before its state is serialised (it may draw ids); the text it returns is appended to the tenant's
    outbox in the same atomic commit as the state."""
    fence: Callable[[str], str | None] | None = None
    """Set by a fleet (`core.fleet`): a tenant name -> the lease this worker holds on it (`<worker>:<token>`), or
    None. A shared backend commits a unit of work only while that lease is still the tenant's owner."""
    fenced: Callable[[str], None] | None = None
    """Set by a fleet: told of a tenant whose commit `fence` refused (another worker holds its lease now)."""
    authoritative: Callable[[str], bool] | None = None
    """Set by a fleet: whether this worker owns the tenant. Then its cache is the tenant's state (no read before a
    unit of work), and access to a tenant it does not own (a unit of work, `peek`, `view`, `provisioned`) raises
    `Misrouted` (a shared backend checks; the memory backend never has a fleet, so its reads pay nothing)."""

    def _owned(self, tenant: str) -> None:
        """`Misrouted` when a fleet is on and another worker owns (or may claim) the tenant."""
        owns = self.authoritative
        if owns is not None and not owns(tenant):
            raise Misrouted(tenant)

    def load(self) -> dict[str, float]:
        """Read what a shared backend already holds, before the server starts (needs no event loop); returns
        where each tenant's timeline stood at its last commit (virtual clock). Nothing to read in memory."""
        return {}

    async def close(self) -> None:
        """Let go of a shared backend's connections (nothing to do in memory)."""

    async def load_tenant(self, tenant: str) -> float | None:
        """Read every vendor's state of a tenant name from a shared backend into this worker, in place of what it
        held (a worker claiming the tenant); returns where the tenant's timeline stood at its last commit, if
        known. Nothing to read in memory."""
        return None

    async def refresh(self) -> None:
        """Catch the reads (`peek`, `view`, `tenants`...) up with what other workers committed, before a vendor
        request runs (a shared backend; in memory every commit is already here)."""

    def register(self, vendor: str, state_type: type[BaseModel], factory: StateFactory) -> None:
        self._types[vendor] = state_type
        self._factories[vendor] = factory

    def on_commit(self, hook: CommitHook) -> None:
        self._commit_hooks.append(hook)

    # -- access ---------------------------------------------------------------------------------------

    def exists(self, vendor: str, tenant: str) -> bool:
        """Whether the tenant has state. In a fleet, for a tenant another worker owns, what this worker's cache
        says (vendors guess a credential's tenant with it; the access that follows is checked)."""
        return (vendor, tenant) in self._slots

    def tenants(self, vendor: str | None = None) -> list[tuple[str, str]]:
        return sorted(k for k in self._slots if vendor is None or k[0] == vendor)

    def known(self, vendor: str) -> list[str]:
        """Every tenant name of `vendor` with state anywhere: `tenants` here; in a fleet also those only other
        workers hold (read from the shared index: for resolving a credential derived from a tenant's name)."""
        return [t for _, t in self.tenants(vendor)]

    def _slot(self, vendor: str, tenant: str, create: bool) -> Slot:
        slot = self._slots.get((vendor, tenant))
        if slot is None:
            if not create:
                raise NotFound(f"no tenant {tenant!r} for vendor {vendor!r}")
            counters: dict[str, int] = {}
            state = self._factories[vendor](tenant, TenantIds(self.seed, vendor, tenant, counters, self.epoch))
            slot = Slot(state=state, counters=counters)
            self._slots[(vendor, tenant)] = slot
        return slot

    def forget(self, tenant: str) -> None:
        """Drop this process's copy of every vendor's state of `tenant`, nothing else (a shared backend keeps it;
        a worker that no longer owns the tenant, `Emulator.drop`)."""
        for key in [k for k in self._slots if k[1] == tenant]:
            del self._slots[key]

    def slot(self, vendor: str, tenant: str) -> Slot | None:
        """A tenant's slot, if it has state (never creates one)."""
        return self._slots.get((vendor, tenant))

    def live(self) -> Mapping[tuple[str, str], Slot]:
        """Every slot by (vendor, tenant), as held now: read-only, and only until the next await (a restore puts
        another mapping in its place). A slot that changed has moved its `version` on or been replaced, which is
        how a snapshot built in slices (`core.bigwork`) finds what changed without looking into the states."""
        return self._slots

    def provisioned(self, vendor: str, tenant: str) -> bool:
        """Whether the tenant was provisioned (`mark_provisioned`); False for a tenant without state."""
        slot = self._slots.get((vendor, tenant))
        return slot is not None and slot.provisioned

    def mark_provisioned(self, vendor: str, tenant: str) -> None:
        """Mark an existing tenant provisioned (the kernel does, in `Emulator.provision`)."""
        slot = self._slot(vendor, tenant, create=False)
        slot.provisioned = True
        slot.version += 1
        self.writes += 1

    def of(self, vendor: str, state_type: type[S]) -> VendorStore[S]:
        """A view of one vendor's tenants whose state mypy knows is a `state_type` (made once, then reused, so
        a vendor may ask for it on every event)."""
        view = self._views.get((vendor, state_type))
        if view is None:
            view = self._views[(vendor, state_type)] = VendorStore(self, vendor, state_type)
        return view

    def peek(self, vendor: str, tenant: str) -> BaseModel | None:
        """Read-only look at a tenant's state (no unit of work, no commit)."""
        slot = self._slots.get((vendor, tenant))
        return slot.state if slot else None

    def view(self, vendor: str, tenant: str) -> BaseModel:
        """A tenant's state for a read-only request: its own when it exists, else what its constructor builds,
        kept nowhere (a read with an unknown credential answers as for a new account and creates no tenant)."""
        slot = self._slots.get((vendor, tenant))
        if slot is not None:
            return slot.state
        return self._factories[vendor](tenant, TenantIds(self.seed, vendor, tenant, {}))

    def tenant(self, vendor: str, tenant: str, *, create: bool = True) -> UnitOfWork[Any]:
        """Unit of work on one tenant (`async with store.tenant(vendor, tenant) as tx`); creates the tenant from
        its constructor unless `create=False`."""
        return self.unit_type(self, vendor, tenant, create)

    # -- reset ----------------------------------------------------------------------------------------

    def reset(self, vendor: str | None = None, tenant: str | None = None) -> list[tuple[str, str]]:
        """Drop the matching slots; the next access builds them again from their constructors."""
        doomed = [k for k in self._slots if (vendor is None or k[0] == vendor) and (tenant is None or k[1] == tenant)]
        for key in doomed:
            del self._slots[key]
        self.writes += 1
        return doomed

    # -- snapshot -------------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        out: dict[str, dict[str, Any]] = {}
        for (vendor, tenant), slot in sorted(self._slots.items()):
            out.setdefault(vendor, {})[tenant] = self.entry(slot)
        return out

    @staticmethod
    def entry(slot: Slot) -> dict[str, Any]:
        """One slot as the snapshot holds it (new containers throughout: nothing shared with the live state)."""
        entry: dict[str, Any] = {
            "state": slot.state.model_dump(mode="json", by_alias=True),
            "counters": dict(sorted(slot.counters.items())),
        }
        if slot.provisioned:
            entry["provisioned"] = True
        return entry

    def restore(self, data: dict[str, Any]) -> None:
        """Replace every slot with the snapshot's (slots of vendors not registered are ignored)."""
        self.replace(self.parse(data))

    def replace(self, slots: dict[tuple[str, str], Slot]) -> None:
        """Put slots from `parse` in place of every slot."""
        self._slots = slots
        self.writes += 1

    def parse(self, data: dict[str, Any]) -> dict[tuple[str, str], Slot]:
        """The slots of a snapshot, each state validated; changes nothing (a state file is checked before the
        server starts, and applied once it has)."""
        slots: dict[tuple[str, str], Slot] = {}
        for vendor, tenants in data.items():
            state_type = self._types.get(vendor)
            if state_type is None:
                continue
            for tenant, entry in tenants.items():
                slots[(vendor, tenant)] = self.parse_entry(state_type, entry)
        return slots

    def state_type(self, vendor: str) -> type[BaseModel] | None:
        return self._types.get(vendor)

    @staticmethod
    def parse_entry(state_type: type[BaseModel], entry: dict[str, Any]) -> Slot:
        """One tenant's slot of a snapshot, its state validated."""
        return Slot(
            state=state_type.model_validate(entry["state"]),
            counters=dict(entry["counters"]),
            # snapshots older than the slot flag kept it in the vendor's state (8x8, Sangoma)
            provisioned=bool(entry.get("provisioned", entry["state"].get("provisioned", False))),
        )


class UnitOfWork(Generic[S]):
    """One tenant's unit of work: its slot locked, a `Tx` on its state; leaving the block commits the `Tx`'s
    events and webhooks (the commit hooks run before the lock is let go), an exception discards them and puts
    the id counters back. A class rather than an `@asynccontextmanager`: every request that changes state
    enters one, and a generator-based manager costs an async generator (registered with the loop) each time."""

    __slots__ = ("_slot", "_tx", "create", "store", "tenant", "vendor")

    def __init__(self, store: Store, vendor: str, tenant: str, create: bool) -> None:
        self.store, self.vendor, self.tenant, self.create = store, vendor, tenant, create
        self._slot: Slot | None = None
        self._tx: Tx[S] | None = None

    async def __aenter__(self) -> Tx[S]:
        store = self.store
        slot = store._slot(self.vendor, self.tenant, self.create)
        await slot.lock.acquire()
        self._slot = slot
        try:
            ids = TenantIds(store.seed, self.vendor, self.tenant, slot.counters, store.epoch)
            self._tx = Tx(self.vendor, self.tenant, cast(S, slot.state), ids, store.clock_of(self.tenant))
        except BaseException:
            slot.lock.release()
            raise
        return self._tx

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        tx, slot = self._tx, self._slot
        assert tx is not None
        assert slot is not None
        try:
            self.store.writes += 1
            if kind is not None:
                tx.ids.rollback()
            elif tx.events or tx.outbound:
                for hook in self.store._commit_hooks:
                    hook(tx)
        finally:
            slot._version += 1  # `slot.version += 1` without the property's calls (the hot path)
            for moved in _WATCHERS:
                moved.add(id(slot))
            slot.lock.release()


Store.unit_type = UnitOfWork


class VendorStore(Generic[S]):
    """One vendor's tenants, typed: `tenant()` yields `Tx[S]` and `peek()` returns `S | None`.

    `store.of(SLUG, MyState)` makes one per vendor and hands out the same one after; it holds no state of
    its own, so reset and restore (which replace slots) are seen at once."""

    __slots__ = ("_unit", "state_type", "store", "vendor")

    def __init__(self, store: Store, vendor: str, state_type: type[S]) -> None:
        self.store = store
        self.vendor = vendor
        self.state_type = state_type
        self._unit = store.unit_type

    def tenant(self, tenant: str, *, create: bool = True) -> UnitOfWork[S]:
        """`Store.tenant` for this vendor, typed."""
        return self._unit(self.store, self.vendor, tenant, create)

    def peek(self, tenant: str) -> S | None:
        state = self.store.peek(self.vendor, tenant)
        return state if isinstance(state, self.state_type) else None

    def exists(self, tenant: str) -> bool:
        return self.store.exists(self.vendor, tenant)

    def view(self, tenant: str) -> S:
        """`Store.view` for this vendor, typed: the tenant's state, or a new one kept nowhere."""
        state = self.store.view(self.vendor, tenant)
        assert isinstance(state, self.state_type)
        return state

    def provisioned(self, tenant: str) -> bool:
        return self.store.provisioned(self.vendor, tenant)
