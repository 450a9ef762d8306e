"""The Store's Redis backend (`--state redis://host:port/db`; Valkey speaks the same protocol).

Each (vendor, tenant) is one Redis hash, `cxemu:{<tenant>}:v:<vendor>` (names percent-encoded; the braces are the
hash tag, one per tenant name, so a Redis Cluster keeps all of a tenant in one slot: `core.rediskeys`), with the
fields

    v  the tenant's version: moves on with every commit, flag and reset, and never goes back
    s  its state, the vendor's pydantic model as JSON (the snapshot's form; absent: no tenant)
    c  its id counters (JSON)
    p  "1" when provisioned
    n  where its timeline stood at the last commit (virtual clock; a restart starts it there)

and the set `cxemu:tenants` names every tenant (members `<vendor>:<tenant>`, as in the tag). Phase 1 runs one
worker per database (`--workers 1`); what more needs is in docs/scaling.md.

The slots of the memory backend stay, as this worker's cache of what Redis holds. A unit of work takes the
tenant's local lock, then asks Redis in one round trip (a Lua script) whether the tenant's version is still the
one cached, receiving the state only when it is not; it runs on the cached model as in memory, and on leaving
commits the state, counters and flag in one script that first checks the version is still the one read. A unit
that changed nothing (the same JSON) skips the commit. A version that moved in between means another process
committed the tenant meanwhile: the unit raises `StateConflict` (409), nothing of it is kept, and the next unit
of work reads the tenant afresh. It is not retried here: the body of an `async with` cannot run twice, and
within one worker units of the same tenant never race (the lock); docs/scaling.md says what phase 2 adds.

Reads (`peek`, `view`, `exists`, `tenants`, `snapshot`) stay synchronous and answer from the cache, which `load`
fills with every tenant at start. Every commit (and reset, restore, flag) also appends the tenant's tag to the
capped stream `cxemu:changes`; before each vendor request `refresh` reads that stream past the last entry this
worker saw (one round trip when nothing changed) and re-reads the tenants other workers changed, so a request
sees every commit that completed before it began, whichever worker made it. (The control plane reads the cache
as it stands.) Reset, restore and the provisioned flag are rare and synchronous: a blocking client does their
round trips.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, cast

import redis
import redis.asyncio as aioredis
from pydantic import BaseModel
from redis.exceptions import RedisError

from emulator.core.clock import Clock
from emulator.core.errors import ConfigError, EmulatorError, NotFound
from emulator.core.ids import TenantIds
from emulator.core.rediskeys import INDEX, PREFIX, member, tenant_key, unmember, vendor_key
from emulator.core.settings import shown_state
from emulator.core.store import Slot, StateConflict, Store, Tx, UnitOfWork

CHANGES = f"{PREFIX}:changes"
"""A capped stream naming each tenant as it changes (field `t`: its tag), for the other workers' caches."""
CHANGES_KEPT = 100_000
"""Entries `CHANGES` keeps (about: trimmed with `~`). A worker further behind than that misses changes in its reads
until the tenants' next units of work (which check versions, so no update is ever lost); see docs/scaling.md."""
CHUNK = 500
"""Tenants per pipeline when loading, resetting or restoring many."""

UNAVAILABLE = "the state store (Redis) did not answer; nothing was changed"
CONFLICT = "another cxemu process changed this tenant's state meanwhile; nothing was changed, try again"
FENCED = "this cxemu worker no longer owns the tenant (another took it over); nothing was changed, try again"

# KEYS[1] the tenant's hash, ARGV[1] the version cached here. Returns {v, ''} when there is no tenant, {v} when
# the cache is current, else {v, state, counters, provisioned}.
_LOAD = """
local got = redis.call('HMGET', KEYS[1], 'v', 's', 'c', 'p')
local v = got[1] or '0'
if not got[2] then return {v, ''} end
if v == ARGV[1] then return {v} end
return {v, got[2], got[3], got[4] or '0'}
"""

# ARGV: the version read, state, counters, provisioned, timeline, the fence ('' for none) checked against KEYS[2],
# the tenant's owner lease (core.fleet), and (with KEYS[3], the tenant's outbox) the unit's outbox entry. Returns
# the new version, -1 if it moved, -2 if the lease did.
_COMMIT = """
if ARGV[6] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[6] then return -2 end
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if v ~= tonumber(ARGV[1]) then return -1 end
v = v + 1
redis.call('HSET', KEYS[1], 'v', v, 's', ARGV[2], 'c', ARGV[3], 'p', ARGV[4], 'n', ARGV[5])
if KEYS[3] then redis.call('RPUSH', KEYS[3], ARGV[7]) end
return v
"""

# ARGV: state, counters, provisioned, timeline, whatever was there (restore). Returns the new version.
_PUT = """
local v = redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('HSET', KEYS[1], 's', ARGV[1], 'c', ARGV[2], 'p', ARGV[3], 'n', ARGV[4])
return v
"""

# The tenant goes, its version stays (and moves on), so no cache anywhere takes a later tenant for the old one.
_DROP = """
if redis.call('HEXISTS', KEYS[1], 's') == 0 then return 0 end
redis.call('HDEL', KEYS[1], 's', 'c', 'p', 'n')
return redis.call('HINCRBY', KEYS[1], 'v', 1)
"""

_FLAG = """
if redis.call('HEXISTS', KEYS[1], 's') == 0 then return -1 end
redis.call('HSET', KEYS[1], 'p', '1')
return redis.call('HINCRBY', KEYS[1], 'v', 1)
"""


class StateUnavailable(EmulatorError):
    """Redis could not be reached during a unit of work: nothing of the unit was kept."""

    status_code = 503
    code = "unavailable"


@dataclass(eq=False)
class RedisSlot(Slot):
    """A slot as this worker caches it: what it read or committed last, at which Redis version."""

    remote: int = 0
    """The tenant's version in Redis that the cache holds (-1: unknown, read it again before use)."""
    saved: tuple[str, str, bool] | None = None
    """State JSON, counters JSON and flag as committed last (None: not in Redis yet)."""


class RedisStore(Store):
    """The Store with Redis behind it; see the module docstring."""

    shared = True

    def __init__(self, url: str, seed: int, clock: Clock, *, clock_of: Callable[[str], Clock] | None = None) -> None:
        super().__init__(seed, clock, clock_of=clock_of)
        self.url = url
        self._sync = redis.Redis.from_url(url, decode_responses=True)
        self._async: aioredis.Redis | None = None
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._loaded = False
        self._put = self._sync.register_script(_PUT)
        self._drop = self._sync.register_script(_DROP)
        self._flag = self._sync.register_script(_FLAG)
        self._load_script: Any = None
        self._commit_script: Any = None
        self._seen = "0-0"
        """The last entry of `CHANGES` this worker has caught up with."""
        self._own: set[str] = set()
        """Entries of `CHANGES` this worker wrote and has not read back yet (its cache already has them)."""
        self._pending: set[tuple[str, str]] = set()
        """Tenants changed elsewhere that a refresh left alone (a unit of work held them): the next one reads them."""

    # -- connections ------------------------------------------------------------------------------

    def _client(self) -> aioredis.Redis:
        """The asyncio client, made on first use inside the event loop it then belongs to."""
        client = self._async
        if client is None:
            client = self._async = aioredis.Redis.from_url(self.url, decode_responses=True)
            self._load_script = client.register_script(_LOAD)
            self._commit_script = client.register_script(_COMMIT)
        return client

    def _failed(self, exc: RedisError) -> ConfigError:
        return ConfigError(f"state {shown_state(self.url)}: Redis did not answer ({exc})")

    async def close(self) -> None:
        if self._async is not None:
            await self._async.aclose()
            self._async = None
        self._sync.close()

    def _lock(self, key: tuple[str, str]) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    # -- start ------------------------------------------------------------------------------------

    def load(self) -> dict[str, float]:
        """Fill the cache with every tenant Redis holds (once); a `ConfigError` of one line when Redis cannot be
        reached or holds a tenant's state this version of its vendor cannot read."""
        if self._loaded:
            return {}
        try:
            self._sync.ping()
            last = cast(list[Any], self._sync.xrevrange(CHANGES, count=1))  # first, so no change read later is missed
            members = sorted(cast(Iterable[str], self._sync.smembers(INDEX)))
        except RedisError as exc:
            raise self._failed(exc) from None
        self._seen = last[0][0] if last else "0-0"
        nows: dict[str, float] = {}
        for start in range(0, len(members), CHUNK):
            chunk = [unmember(m) for m in members[start : start + CHUNK]]
            pipe = self._sync.pipeline(transaction=False)
            for vendor, tenant in chunk:
                pipe.hmget(vendor_key(vendor, tenant), "v", "s", "c", "p", "n")
            try:
                rows = pipe.execute()
            except RedisError as exc:
                raise self._failed(exc) from None
            for (vendor, tenant), (v, s, c, p, n) in zip(chunk, rows, strict=True):
                if s is None or vendor not in self._types:
                    continue  # reset while being listed, or a vendor this server does not serve
                try:
                    self._slots[(vendor, tenant)] = self._parse((vendor, tenant), v, s, c, p)
                except ValueError as exc:
                    problem = f"{vendor} tenant {tenant!r} cannot be read: {exc}"
                    raise ConfigError(f"state {shown_state(self.url)}: {problem}") from None
                if n:
                    nows[tenant] = max(nows.get(tenant, 0.0), float(n))
        self._loaded = True
        self.writes += 1
        return nows

    def _parse(self, key: tuple[str, str], v: str, s: str, c: str, p: str) -> RedisSlot:
        state = self._types[key[0]].model_validate(json.loads(s))
        flag = p == "1"
        return RedisSlot(
            state=state,
            counters=json.loads(c),
            lock=self._lock(key),
            provisioned=flag,
            remote=int(v),
            saved=(s, c, flag),
        )

    # -- reads ------------------------------------------------------------------------------------

    async def refresh(self) -> None:
        """Catch the cache up with what other workers committed (one round trip when nothing changed): read the
        change stream past the last entry seen, and re-read each tenant named there whose version moved."""
        client = self._client()
        changed, self._pending = self._pending, set()
        try:
            while True:
                got: Any = await client.xread({CHANGES: self._seen}, count=CHUNK)
                if not got:
                    break
                entries: list[tuple[str, dict[str, str]]] = got[0][1]
                for entry, fields in entries:
                    if entry in self._own:
                        self._own.discard(entry)
                    else:
                        changed.add(unmember(fields["t"]))
                self._seen = entries[-1][0]
                if len(entries) < CHUNK:
                    break
            if changed:
                await self._reread(client, sorted(changed))
        except RedisError as exc:
            raise StateUnavailable(UNAVAILABLE) from exc

    async def _reread(self, client: aioredis.Redis, keys: list[tuple[str, str]]) -> None:
        """Re-read the named tenants whose version moved (their state comes back only then)."""
        keys = [k for k in keys if k[0] in self._types]
        pipe = client.pipeline(transaction=False)
        for key in keys:
            slot = cast(RedisSlot | None, self._slots.get(key))
            known = slot.remote if slot is not None else -1
            await self._load_script(keys=[vendor_key(*key)], args=[known], client=pipe)
        for key, got in zip(keys, await pipe.execute(), strict=True):
            slot = cast(RedisSlot | None, self._slots.get(key))
            if len(got) == 1:
                continue
            if self._lock(key).locked():  # a unit of work holds the state: never swapped under it
                self._pending.add(key)
                continue
            if slot is not None and slot.remote >= int(got[0]):
                continue  # a unit of work of this worker committed something newer meanwhile
            if got[1] == "":
                self._slots.pop(key, None)
                continue
            self._take(key, got)

    def _take(self, key: tuple[str, str], got: list[str]) -> RedisSlot:
        """Put what Redis answered for a tenant in its cached slot (the same slot object, whose lock units hold)."""
        read = self._parse(key, *got[:4])
        slot = cast(RedisSlot | None, self._slots.get(key))
        if slot is None:
            self._slots[key] = read
            return read
        slot.state, slot.counters, slot.provisioned = read.state, read.counters, read.provisioned
        slot.remote, slot.saved = read.remote, read.saved
        slot.version += 1
        return slot

    # -- units of work ----------------------------------------------------------------------------

    async def _fresh(self, vendor: str, tenant: str, create: bool) -> RedisSlot:
        """The tenant's slot as Redis has it now: the cached one when its version is current (one round trip)."""
        key = (vendor, tenant)
        slot = cast(RedisSlot | None, self._slots.get(key))
        if self.authoritative is not None:  # a fleet: the owner's cache is the tenant's state (core.fleet)
            self._owned(tenant)
            if slot is not None and slot.remote >= 0:
                return slot
        self._client()
        try:
            known = slot.remote if slot is not None else -1
            got = await self._load_script(keys=[vendor_key(vendor, tenant)], args=[known])
        except RedisError as exc:
            raise StateUnavailable(UNAVAILABLE) from exc
        version = int(got[0])
        if len(got) == 1:
            assert slot is not None
            return slot
        if got[1] == "":  # no tenant (another process may have reset it)
            if slot is not None:
                del self._slots[key]
            if not create:
                raise NotFound(f"no tenant {tenant!r} for vendor {vendor!r}")
            counters: dict[str, int] = {}
            state = self._factories[vendor](tenant, TenantIds(self.seed, vendor, tenant, counters, self.epoch))
            made = RedisSlot(state=state, counters=counters, lock=self._lock(key), remote=version)
            self._slots[key] = made
            return made
        return self._take(key, got)

    async def _persist(self, slot: RedisSlot, tx: Tx[Any], *, sends: bool = True) -> None:
        """Commit the slot if it differs from what Redis has; `StateConflict` if Redis moved on meanwhile. With
        `sends` (the unit succeeded), the unit's outbox entry is committed with it."""
        sending = sends and self.outbox is not None and (tx.events or tx.outbound)
        entry = self.outbox(tx) if sending and self.outbox is not None else None  # may draw ids
        s = slot.state.model_dump_json(by_alias=True)
        c = json.dumps(slot.counters, sort_keys=True)
        if slot.saved == (s, c, slot.provisioned):
            return
        name = vendor_key(tx.vendor, tx.tenant)
        args = [slot.remote, s, c, "1" if slot.provisioned else "0", repr(tx.clock.now()) if self.clock.virtual else ""]
        named = member(tx.vendor, tx.tenant)
        try:
            pipe = self._client().pipeline(transaction=False)
            if slot.saved is None:  # a new tenant: named in the index first, so a listing never misses a stored one
                pipe.sadd(INDEX, named)
            fenced = self.fence  # a fleet: the lease held here must still be the owner's ("-": none, refused)
            args.append("" if fenced is None else (fenced(tx.tenant) or "-"))
            keys = [name, tenant_key(tx.tenant, "owner")]
            if entry is not None:
                keys.append(tenant_key(tx.tenant, "outbox"))
                args.append(entry)
            await self._commit_script(keys=keys, args=args, client=pipe)
            pipe.xadd(CHANGES, {"t": named}, maxlen=CHANGES_KEPT, approximate=True)
            try:
                done = await pipe.execute()
            except BaseException:
                slot.remote = -1  # cancelled or failed: the commit may or may not have landed; read it again next time
                raise
            version, entry = int(done[-2]), done[-1]
            if len(self._own) >= CHANGES_KEPT:  # no request has read them back (only timers ran): start over
                self._own.clear()
            self._own.add(entry)
        except RedisError as exc:
            slot.remote = -1  # the commit may or may not have landed: read the tenant again next time
            raise StateUnavailable(UNAVAILABLE) from exc
        if version < 0:
            slot.remote = -1
            raise StateConflict(CONFLICT if version == -1 else FENCED)
        slot.remote, slot.saved = version, (s, c, slot.provisioned)

    def mark_provisioned(self, vendor: str, tenant: str) -> None:
        slot = cast(RedisSlot | None, self._slots.get((vendor, tenant)))
        if slot is None:
            raise NotFound(f"no tenant {tenant!r} for vendor {vendor!r}")
        if slot.lock.locked():  # inside a unit of work (a scenario's setup): its commit writes the flag with the state
            slot.provisioned = True
            slot.version += 1
            self.writes += 1
            return
        try:
            pipe = self._sync.pipeline(transaction=False)
            self._flag(keys=[vendor_key(vendor, tenant)], client=pipe)
            pipe.xadd(CHANGES, {"t": member(vendor, tenant)}, maxlen=CHANGES_KEPT, approximate=True)
            flagged, entry = pipe.execute()
            version = int(flagged)
            self._own.add(entry)
        except RedisError as exc:
            raise StateUnavailable(UNAVAILABLE) from exc
        if version < 0:
            raise NotFound(f"no tenant {tenant!r} for vendor {vendor!r}")
        slot.provisioned = True
        if slot.remote == version - 1 and slot.saved is not None:
            slot.remote, slot.saved = version, (slot.saved[0], slot.saved[1], True)
        else:
            slot.remote = -1  # someone else wrote in between: read it again next time
        slot.version += 1
        self.writes += 1

    # -- reset and restore ------------------------------------------------------------------------

    def _stored(self) -> set[tuple[str, str]]:
        try:
            return {unmember(m) for m in cast(Iterable[str], self._sync.smembers(INDEX))}
        except RedisError as exc:
            raise StateUnavailable(UNAVAILABLE) from exc

    def reset(self, vendor: str | None = None, tenant: str | None = None) -> list[tuple[str, str]]:
        """Drop the matching tenants in Redis (each version moves on) and here."""

        def match(k: tuple[str, str]) -> bool:
            return (vendor is None or k[0] == vendor) and (tenant is None or k[1] == tenant)

        doomed = sorted(k for k in self._stored() | set(self._slots) if match(k))
        for start in range(0, len(doomed), CHUNK):
            pipe = self._sync.pipeline(transaction=False)
            for key in doomed[start : start + CHUNK]:
                self._drop(keys=[vendor_key(*key)], client=pipe)
                pipe.srem(INDEX, member(*key))
                pipe.xadd(CHANGES, {"t": member(*key)}, maxlen=CHANGES_KEPT, approximate=True)
            try:
                pipe.execute()
            except RedisError as exc:
                raise StateUnavailable(UNAVAILABLE) from exc
        for key in doomed:
            self._slots.pop(key, None)
        self.writes += 1
        return doomed

    def replace(self, slots: dict[tuple[str, str], Slot]) -> None:
        """Put the slots of a snapshot in place of every tenant, in Redis and here."""
        gone = sorted(self._stored() - set(slots))
        rows: list[tuple[tuple[str, str], tuple[str, str, bool]]] = []
        for key, slot in sorted(slots.items()):
            text = (slot.state.model_dump_json(by_alias=True), json.dumps(slot.counters, sort_keys=True))
            rows.append((key, (*text, slot.provisioned)))
        try:
            for start in range(0, len(gone), CHUNK):
                pipe = self._sync.pipeline(transaction=False)
                for key in gone[start : start + CHUNK]:
                    self._drop(keys=[vendor_key(*key)], client=pipe)
                    pipe.srem(INDEX, member(*key))
                    pipe.xadd(CHANGES, {"t": member(*key)}, maxlen=CHANGES_KEPT, approximate=True)
                pipe.execute()
            cached: dict[tuple[str, str], Slot] = {}
            for start in range(0, len(rows), CHUNK):
                chunk = rows[start : start + CHUNK]
                pipe = self._sync.pipeline(transaction=False)
                for key, (s, c, p) in chunk:
                    pipe.sadd(INDEX, member(*key))
                    self._put(keys=[vendor_key(*key)], args=[s, c, "1" if p else "0", ""], client=pipe)
                    pipe.xadd(CHANGES, {"t": member(*key)}, maxlen=CHANGES_KEPT, approximate=True)
                versions = pipe.execute()[1::3]
                for (key, saved), version in zip(chunk, versions, strict=True):
                    slot = slots[key]
                    cached[key] = RedisSlot(
                        state=slot.state,
                        counters=slot.counters,
                        lock=self._lock(key),
                        provisioned=slot.provisioned,
                        remote=int(version),
                        saved=saved,
                    )
        except RedisError as exc:
            raise StateUnavailable(UNAVAILABLE) from exc
        self._slots = cached
        self.writes += 1

    async def load_tenant(self, tenant: str) -> float | None:
        """Read every vendor's state of one tenant name into the cache (a fleet worker that just claimed it,
        `core.fleet`); returns where its timeline stood at its last commit (virtual clock), if anywhere."""
        client = self._client()
        vendors = sorted(self._types)
        pipe = client.pipeline(transaction=False)
        for vendor in vendors:
            pipe.hmget(vendor_key(vendor, tenant), "v", "s", "c", "p", "n")
        try:
            rows = await pipe.execute()
        except RedisError as exc:
            raise StateUnavailable(UNAVAILABLE) from exc
        now: float | None = None
        for vendor, (v, st, c, p, n) in zip(vendors, rows, strict=True):
            key = (vendor, tenant)
            if st is None:
                self._slots.pop(key, None)
                continue
            self._take(key, [v, st, c, p or "0"])
            if n:
                now = max(now or 0.0, float(n))
        return now

    def peek(self, vendor: str, tenant: str) -> BaseModel | None:
        if self.authoritative is not None:
            self._owned(tenant)
        return super().peek(vendor, tenant)

    def view(self, vendor: str, tenant: str) -> BaseModel:
        if self.authoritative is not None:
            self._owned(tenant)
        return super().view(vendor, tenant)

    def provisioned(self, vendor: str, tenant: str) -> bool:
        if self.authoritative is not None:
            self._owned(tenant)
        return super().provisioned(vendor, tenant)

    def known(self, vendor: str) -> list[str]:
        if self.authoritative is None:
            return super().known(vendor)
        return sorted({t for v, t in self._stored() | set(self._slots) if v == vendor})


class RedisUnitOfWork(UnitOfWork[Any]):
    """`UnitOfWork` on Redis: read the tenant if it moved, run, commit with the version check (module docstring).

    On an exception the id counters are put back and whatever the state then holds is kept, as in memory (state
    transitions validate before they mutate; a tenant a failed unit created stays created)."""

    __slots__ = ()

    async def __aenter__(self) -> Tx[Any]:
        store = cast(RedisStore, self.store)
        lock = store._lock((self.vendor, self.tenant))
        await lock.acquire()
        try:
            slot = await store._fresh(self.vendor, self.tenant, self.create)
            self._slot = slot
            ids = TenantIds(store.seed, self.vendor, self.tenant, slot.counters, store.epoch)
            self._tx = Tx(self.vendor, self.tenant, slot.state, ids, store.clock_of(self.tenant))
        except BaseException:
            lock.release()
            raise
        return self._tx

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        tx, slot, store = self._tx, cast(RedisSlot | None, self._slot), cast(RedisStore, self.store)
        assert tx is not None
        assert slot is not None
        try:
            store.writes += 1
            if kind is not None:
                tx.ids.rollback()
                try:
                    await store._persist(slot, tx, sends=False)  # a failed unit sends nothing
                except (StateConflict, StateUnavailable):
                    slot.remote = -1  # the unit's own exception is the one to see; the next unit reads afresh
                return
            await store._persist(slot, tx)
            if tx.events or tx.outbound:
                for hook in store._commit_hooks:
                    hook(tx)
        except BaseException:
            if kind is None:
                tx.ids.rollback()
            raise
        finally:
            slot.version += 1
            slot.lock.release()


RedisStore.unit_type = RedisUnitOfWork
