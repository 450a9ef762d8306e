"""The Store's Redis backend (`--state redis://host:port/db`; Valkey speaks the same protocol).

Each (vendor, tenant) is one Redis hash, `cxemu:{<tenant>}:v:<vendor>` (names percent-encoded; the braces are the
hash tag, one per tenant name, so a Redis Cluster keeps all of a tenant in one slot: `core.rediskeys`), with the
fields

    v  the tenant's version: moves on with every commit that writes, flag and reset, and never goes back
    s  its state, the vendor's pydantic model as JSON without its entity collections (absent: no tenant)
    c  its id counters (JSON)
    p  "1" when provisioned
    n  where its timeline stood at the last commit (virtual clock; a restart starts it there)

plus one hash per entity collection of the state (`cxemu:{<tenant>}:v:<vendor>:c:<field>`: a top-level `dict[K,
Entity]` field, one Redis field per entity, "<position> <JSON>"), and the set `cxemu:tenants` names every tenant
(members `<vendor>:<tenant>`). A commit writes only the entities its unit of work reached (`core.tracked`).

The slots of the memory backend stay, as this worker's cache of what Redis holds. A unit of work takes the
tenant's local lock, then asks Redis in one round trip (a Lua script) whether the tenant's version is still the
one cached, receiving the state only when it is not; it runs on the cached model as in memory, and on leaving
commits what changed (the state document, counters and flag when they differ, the entities it reached whose JSON
differs, the ones it removed) in one script that first checks the version is still the one read. A unit that
changed nothing skips the commit. A version that moved in between means another process
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

A fleet of workers (docs/scaling.md, phase 2) sets three hooks on the store: `authoritative` (this worker owns the
tenant: its units of work read nothing first, its commits tell no other worker, `refresh` does nothing), `fence`
(the commit also checks the tenant's owner lease, else `Fenced`) and `outbox` (an entry the commit script appends);
`load_tenant` reads a tenant it claims. The durable runtime (`core.redisruntime`) sets `numbering`: the same commit
records the first attempts of the entry's deliveries as started, under numbers drawn before it and handed out while
its hooks make the deliveries. The scripts a unit of work runs alone go over a lean client (`core.resp`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from types import TracebackType
from typing import Any, Protocol, cast

import redis
import redis.asyncio as aioredis
from pydantic import BaseModel
from redis.exceptions import RedisError

from emulator.core.clock import Clock
from emulator.core.errors import ConfigError, EmulatorError, NotFound
from emulator.core.ids import TenantIds
from emulator.core.rediskeys import INDEX, PREFIX, encoded, member, tenant_key, unmember, vendor_key
from emulator.core.settings import shown_state
from emulator.core.store import Slot, StateConflict, StateFactory, Store, Tx, UnitOfWork
from emulator.core.tracked import Collection, Seen, TrackedDict, collections_of

try:  # in the `redis` extra, as `core.fastjson` uses it
    import orjson as _orjson
except ModuleNotFoundError:  # pragma: no cover - the extra installs it
    _orjson = None  # type: ignore[assignment]

try:  # the lean client needs hiredis (in the `redis` extra); without it every call goes through redis-py
    from emulator.core.resp import LeanRedis, Script
except ModuleNotFoundError as missing:  # pragma: no cover - the extra installs it
    if missing.name != "hiredis":
        raise
    LeanRedis = None  # type: ignore[assignment,misc]

LOG = logging.getLogger(__name__)

CHANGES = f"{PREFIX}:changes"
"""A capped stream naming each tenant as it changes (field `t`: its tag), for the other workers' caches."""
CHANGES_KEPT = 100_000
"""Entries `CHANGES` keeps (about: trimmed with `~`). A worker further behind than that misses changes in its reads
until the tenants' next units of work (which check versions, so no update is ever lost); see docs/scaling.md."""
CHUNK = 500
"""Tenants per pipeline when loading, resetting or restoring many."""

UNAVAILABLE = "the state store (Redis) did not answer; nothing was changed"
CONFLICT = "another cxemu process changed this tenant's state meanwhile; nothing was changed, try again"
FENCED = "this cxemu worker no longer owns this tenant; nothing was changed, try again"
OWNER = "owner"
"""The part of the tenant's key holding the lease of the worker that owns it, `<worker>:<fencing token>` (the
fleet's; a commit checks it when `Store.fence` says what this worker holds)."""
OUTBOX = "outbox"
"""The part of the tenant's key of the list a commit appends its `Store.outbox` entry to."""
COMMIT_PARTS = ((OWNER,), (OUTBOX,), ("rt", "flight"))
"""The tenant's keys `_COMMIT` takes after its state's: the lease, the outbox, and the durable runtime's attempts
started (`core.redisruntime`, which names them the same)."""

# A helper of the scripts that write more than one key: the error reply for a key that holds another type than the
# one it is written as (nil when it holds that type or nothing), asked before the first write (`TYPE`).
_TYPED = """
local function typed(key, want)
  local got = redis.call('TYPE', key)['ok']
  if got == 'none' or got == want then return nil end
  return redis.error_reply('WRONGTYPE ' .. key .. ' holds a ' .. got .. ', not a ' .. want .. ': nothing written')
end
"""

# Every script's KEYS: [1] the tenant's hash, then one hash per entity collection of the vendor's state (field: the
# entity's key, value: "<position> <entity JSON>"), but _COMMIT's: the tenant's hash, the hashes it writes, then the
# owner lease, the outbox and the runtime's attempts started.

# A helper of the scripts (and `core.redisruntime`'s `_WRITE`): a command over ARGV[first..] in slices (Lua's unpack
# takes a few thousand at most).
SLICED_LUA = """
local function sliced(command, key, first, count)
  local last = first + count - 1
  while first <= last do
    local upto = math.min(first + 999, last)
    redis.call(command, key, unpack(ARGV, first, upto))
    first = upto + 1
  end
end
"""

# ARGV[1] the version cached here. Returns {v, ''} when there is no tenant, {v} when the cache is current, else
# {v, state, counters, provisioned, timeline, <each collection's HGETALL>...}.
_LOAD = """
local got = redis.call('HMGET', KEYS[1], 'v', 's', 'c', 'p', 'n')
local v = got[1] or '0'
if not got[2] then return {v, ''} end
if v == ARGV[1] then return {v} end
local out = {v, got[2], got[3], got[4] or '0', got[5] or ''}
for k = 2, #KEYS do out[#out + 1] = redis.call('HGETALL', KEYS[k]) end
return out
"""

# KEYS: the tenant's hash, the m hashes of its collections (and items) the commit writes (only those: each key and
# argument of a call costs Redis), the owner lease, the outbox, the runtime's `rt:flight` (`core.redisruntime`). ARGV:
# [1] the version read, or for an owner's pipelined commit `<version read>:<token>[:<token before>]`: the commit always
# moves the version and sets the hash's `w` to its token, and with a token before, `w` must hold it (the commit sent
# just before this one, still unanswered when this one was sent, must have landed: a chain, so a commit built on one
# that failed never lands, whatever else moved the version meanwhile), [2] the fence ('': none; else the owner lease
# must hold it), [3] an outbox entry ('': none), [4] m, then the count of the tenant's hash fields to set and their
# pairs, then per hash written: the count of entities to set and their pairs, the count to delete and their keys, then
# (optional) the count f of the outbox entry's deliveries whose first attempt the commit records as started and their
# (delivery id, `{n, at}`) pairs for `rt:flight`. Returns the version after (moved on only if the state was written), -1
# if the version moved meanwhile (or the token before is not there), -2 if the lease does not hold the fence; nothing is
# written then. A key it would write that holds another type (someone else's key) is an error reply before anything is
# written: Redis does not undo a script's earlier writes when a later command fails, so the types are checked first
# (`TYPE`), except the outbox's, whose `RPUSH` is the script's first write (it fails, if it does, before any other). The
# tenant's hash needs no check either: the version's `HMGET` answered. Each Redis call inside a script costs about as
# much as a small command of its own (~1.5 us), so the script makes as few as it can: the version goes in the same
# `HSET` as the tenant's hash fields, and the delivery numbers the entry names (`"seq"`) are not written here: the
# runtime's write that removes the entry writes `rt:seq` in the same script (`core.redisruntime`), so at any moment one
# of the two holds them.
_COMMIT = (
    SLICED_LUA
    + _TYPED
    + """
local m = tonumber(ARGV[4])
local want, tok, prev = string.match(ARGV[1], '^([^:]*):?([^:]*):?([^:]*)$')
local got = redis.call('HMGET', KEYS[1], 'v', 'w')
local v = tonumber(got[1] or '0')
if v ~= tonumber(want) then return -1 end
if prev ~= '' and got[2] ~= prev then return -1 end
if ARGV[2] ~= '' and redis.call('GET', KEYS[m + 2]) ~= ARGV[2] then return -2 end
local main = tonumber(ARGV[5])
local wrote = main > 0
local j = 5 + 1 + 2 * main
for k = 2, m + 1 do
  local sets = tonumber(ARGV[j])
  local dels = tonumber(ARGV[j + 1 + 2 * sets])
  if sets + dels > 0 then
    wrote = true
    local bad = typed(KEYS[k], 'hash')
    if bad then return bad end
  end
  j = j + 2 + 2 * sets + dels
end
local f = tonumber(ARGV[j] or '0')
if f > 0 then
  local bad = typed(KEYS[m + 4], 'hash')
  if bad then return bad end
end
if ARGV[3] ~= '' then redis.call('RPUSH', KEYS[m + 3], ARGV[3]) end
if f > 0 then sliced('HSET', KEYS[m + 4], j + 1, 2 * f) end
if not wrote and tok == '' then return v end
local i = 6 + 2 * main
for k = 2, m + 1 do
  local n = tonumber(ARGV[i])
  if n > 0 then sliced('HSET', KEYS[k], i + 1, 2 * n) end
  i = i + 1 + 2 * n
  n = tonumber(ARGV[i])
  if n > 0 then sliced('HDEL', KEYS[k], i + 1, n) end
  i = i + 1 + n
end
v = v + 1
if tok ~= '' then
  if main > 0 then
    redis.call('HSET', KEYS[1], 'v', v, 'w', tok, unpack(ARGV, 6, 5 + 2 * main))
  else
    redis.call('HSET', KEYS[1], 'v', v, 'w', tok)
  end
elseif main > 0 then
  redis.call('HSET', KEYS[1], 'v', v, unpack(ARGV, 6, 5 + 2 * main))
else
  redis.call('HSET', KEYS[1], 'v', v)
end
return v
"""
)

# ARGV: state, counters, provisioned, timeline, then per collection the count of entities and their pairs (restore:
# whatever was there goes). Returns the new version.
_PUT = (
    SLICED_LUA
    + """
local v = redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('HSET', KEYS[1], 's', ARGV[1], 'c', ARGV[2], 'p', ARGV[3], 'n', ARGV[4])
local i = 5
for k = 2, #KEYS do
  redis.call('DEL', KEYS[k])
  local n = tonumber(ARGV[i])
  if n > 0 then sliced('HSET', KEYS[k], i + 1, 2 * n) end
  i = i + 1 + 2 * n
end
return v
"""
)

# A fleet's fence of a reset (ARGV[1] of _DROP): '' unchecked (no fleet, or a restore, which writes every tenant);
# else the owner lease (the last KEY) must be absent (nobody holds the tenant) or this value (this worker's lease;
# '-': it holds none). Returns -2, writing nothing, when another worker holds it.
_DROP_FENCE = """
local lease = ARGV[1]
if lease ~= '' then
  local cur = redis.call('GET', KEYS[#KEYS])
  if cur and cur ~= lease then return -2 end
end
"""

# The tenant goes, its version stays (and moves on), so no cache anywhere takes a later tenant for the old one.
# KEYS: the tenant's hash, its collections, the owner lease. Returns 0 (no tenant), -2 (fenced) or the version.
_DROP = (
    _DROP_FENCE
    + """
if redis.call('HEXISTS', KEYS[1], 's') == 0 then return 0 end
redis.call('HDEL', KEYS[1], 's', 'c', 'p', 'n')
for k = 2, #KEYS - 1 do redis.call('DEL', KEYS[k]) end
return redis.call('HINCRBY', KEYS[1], 'v', 1)
"""
)

# KEYS: the tenant's hash, the owner lease; ARGV[1] the fence as `_COMMIT`'s ('': none; else the lease must be it).
# Returns -1 (no tenant), -2 (fenced: nothing written) or the version.
_FLAG = """
if ARGV[1] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[1] then return -2 end
if redis.call('HEXISTS', KEYS[1], 's') == 0 then return -1 end
redis.call('HSET', KEYS[1], 'p', '1')
return redis.call('HINCRBY', KEYS[1], 'v', 1)
"""

_LEAN_SCRIPTS = (Script(_LOAD), Script(_COMMIT)) if LeanRedis is not None else None


@dataclass(eq=False)
class Drawn:
    """The delivery numbers a unit of work's webhooks get, drawn before its commit (`Numbering.drawn`): the commit
    records each one's first attempt as started (`rt:flight`), and the commit hooks hand them out in order as the
    deliveries are made (`Numbering.hand_out`), so that attempt goes out without a runtime write of its own."""

    tx: Tx[Any]
    tenant: str
    first: int
    count: int
    flown: frozenset[int]
    """The numbers whose first attempt the commit records as started (those that start at once)."""
    args: list[Any]
    """`_COMMIT`'s trailing ARGV: how many it records and their (delivery id, `{n, at}`) pairs."""


class Numbering(Protocol):
    """The durable runtime's side of a commit with webhooks (`core.redisruntime.RedisRuntime`)."""

    def drawn(self, tx: Tx[Any]) -> Drawn | None:
        """The numbers the unit's outbox entry was built with (None: none drawn)."""

    def refused(self, drawn: Drawn) -> None:
        """The commit was refused (nothing written): the numbers are put back when nothing was drawn since."""

    def hand_out(self, drawn: Drawn | None) -> None:
        """The commit hooks run: the next deliveries of the tenant take these numbers (None: the hooks are done)."""

    def gate(self, tenant: str, reply: asyncio.Future[Any] | None) -> None:
        """The commit hooks of the tenant's unit run before its pipelined commit's reply (`reply`): the deliveries
        they make are attempted only once it has landed, and dropped if it did not (None: the hooks are done)."""

    def lost(self, tenant: str) -> None:
        """A pipelined commit of the tenant failed: everything this process holds of it is built on what did not
        land; forget it here (as on a lost lease), so the next request adopts it afresh."""


class StateUnavailable(EmulatorError):
    """Redis could not be reached during a unit of work: nothing of the unit was kept."""

    status_code = 503
    code = "unavailable"


class Fenced(StateConflict):
    """A commit refused because this worker's lease on the tenant is gone (`Store.fence`): nothing was kept."""


@dataclass(eq=False)
class RedisSlot(Slot):
    """A slot as this worker caches it: what it read or committed last, at which Redis version."""

    remote: int = 0
    """The tenant's version in Redis that the cache holds (-1: unknown, read it again before use)."""
    saved: tuple[str, str, bool] | None = None
    timeline: str | None = None
    """The tenant's hash's `n` as read or committed last (None: unknown): a commit writes it only when it differs
    (with the system clock it is always "", which no commit needs to write again)."""
    """State JSON (without its collections), counters JSON and flag as committed last (None: not in Redis yet)."""
    entities: list[dict[str, bytes]] = field(default_factory=list)
    """Per collection of the vendor's state: each entity as Redis holds it ("<position> <JSON>"), by its key."""
    chain: str = ""
    """The token of this worker's last commit of the slot while its reply is still on its way (the owner's pipelined
    commits, `RedisStore._pipelined`): the next commit lands only after it (`_COMMIT`'s chain check)."""
    seen: dict[tuple[int, str], Seen] = field(default_factory=dict)
    """Per (collection, entity) with a `FROZEN_ITEMS` list: its items as last serialised (`Collection.dump`)."""
    tracks: list[TrackedDict | None] = field(default_factory=list)
    """Per collection: the `TrackedDict` this store put in the state (another object there: the vendor replaced
    the whole collection, which is then written whole)."""


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
        self._load_sync = self._sync.register_script(_LOAD)
        self._load_script: Any = None
        self._commit_script: Any = None
        self._lean: LeanRedis | None = None
        """The hot path's client (`core.resp`): a unit of work's load and an owner's commit."""
        self._collections: dict[str, tuple[Collection, ...]] = {}
        """Per vendor: the entity collections of its state, each stored as its own hash (`core.tracked`)."""
        self._exclude: dict[str, set[str] | None] = {}
        self._items: dict[str, tuple[int | None, ...]] = {}
        """Per vendor, per collection: the index among the tenant's hashes (`_keys`, less the first) of the hash
        holding its entities' `FROZEN_ITEMS` lists, one field per item (None: the collection has no such list)."""
        self._commit_keys: dict[tuple[str, str], list[str]] = {}
        """The KEYS of a tenant's `_COMMIT`, worked out once."""
        self._seen = "0-0"
        """The last entry of `CHANGES` this worker has caught up with."""
        self._own: set[str] = set()
        """Entries of `CHANGES` this worker wrote and has not read back yet (its cache already has them)."""
        self._pending: set[tuple[str, str]] = set()
        """Tenants changed elsewhere that a refresh left alone (a unit of work held them): the next one reads them."""
        self.numbering: Numbering | None = None
        """The durable runtime's (`core.redisruntime`): a commit with webhooks also records their first attempts."""
        self.inflight: dict[asyncio.Future[Any], None] = {}
        """The owner's pipelined commits sent and not answered yet, in the order sent (the runtime's writes wait
        for those sent before their batch was taken: `core.redisruntime`)."""
        self._chain = secrets.token_hex(4)
        """This store's part of its commits' tokens (`RedisSlot.chain`): no other process's token equals one."""
        self._tokens = itertools.count(1)

    def register(self, vendor: str, state_type: type[BaseModel], factory: StateFactory) -> None:
        super().register(vendor, state_type, factory)
        found = collections_of(state_type)
        self._collections[vendor] = found
        self._exclude[vendor] = {c.field for c in found} or None
        frozen = [n for n, c in enumerate(found) if c.frozen is not None]
        self._items[vendor] = tuple(len(found) + frozen.index(n) if n in frozen else None for n in range(len(found)))

    def _keys(self, vendor: str, tenant: str) -> list[str]:
        """The tenant's hash, then one hash per collection of the vendor's state, then one per collection with a
        `FROZEN_ITEMS` list holding its items (`items_key`): the KEYS of every script, which write each of these
        hashes alike."""
        cols = self._collections[vendor]
        return (
            [vendor_key(vendor, tenant)]
            + [collection_key(vendor, tenant, c.field) for c in cols]
            + [items_key(vendor, tenant, c.field) for c in cols if c.frozen is not None]
        )

    # -- connections ------------------------------------------------------------------------------

    def _client(self) -> aioredis.Redis:
        """The asyncio client, made on first use inside the event loop it then belongs to."""
        client = self._async
        if client is None:
            client = self._async = aioredis.Redis.from_url(self.url, decode_responses=True)
            self._load_script = client.register_script(_LOAD)
            self._commit_script = client.register_script(_COMMIT)
        return client

    def _script(self, n: int, keys: list[str], args: list[Any]) -> Awaitable[Any]:
        """Run `_LOAD` (n = 0) or `_COMMIT` (1) alone: on the lean client when hiredis is there (what it returns is
        awaited by the caller: no coroutine of its own on every commit)."""
        if _LEAN_SCRIPTS is not None:
            lean = self._lean
            if lean is None:
                lean = self._lean = LeanRedis(self.url, _LEAN_SCRIPTS)
            return lean.evalsha(_LEAN_SCRIPTS[n], keys, args)
        self._client()
        return cast(Awaitable[Any], (self._commit_script if n else self._load_script)(keys=keys, args=args))

    def _failed(self, exc: RedisError) -> ConfigError:
        return ConfigError(f"state {shown_state(self.url)}: Redis did not answer ({exc})")

    async def close(self) -> None:
        if self._lean is not None:
            self._lean.close()
            self._lean = None
        if self._async is not None:
            await self._async.aclose()
            self._async = None
        self._sync.close()

    def _lock(self, key: tuple[str, str]) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    def _owns(self, tenant: str) -> bool:
        """Whether this worker owns the tenant (`Store.authoritative`): its cache is then what Redis holds."""
        authoritative = self.authoritative
        return authoritative is not None and authoritative(tenant)

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
            chunk = [k for k in (unmember(m) for m in members[start : start + CHUNK]) if k[0] in self._types]
            pipe = self._sync.pipeline(transaction=False)
            for vendor, tenant in chunk:
                self._load_sync(keys=self._keys(vendor, tenant), args=[-1], client=pipe)
            try:
                rows = pipe.execute()
            except RedisError as exc:
                raise self._failed(exc) from None
            for key, got in zip(chunk, rows, strict=True):
                if got[1] == "":
                    continue  # reset while being listed
                try:
                    self._slots[key] = self._parse(key, got)
                except ValueError as exc:
                    problem = f"{key[0]} tenant {key[1]!r} cannot be read: {exc}"
                    raise ConfigError(f"state {shown_state(self.url)}: {problem}") from None
                if got[4]:
                    nows[key[1]] = max(nows.get(key[1], 0.0), float(got[4]))
        self._loaded = True
        self.writes += 1
        return nows

    async def load_tenant(self, tenant: str) -> float | None:
        """Read every vendor's state of the tenant name from Redis into the cache, in place of what it held (the
        fleet calls it when this worker claims the tenant); returns where the tenant's timeline stood at its last
        commit (virtual clock), None when unknown. Waits for units of work of the tenant in flight here."""
        vendors = sorted(self._types)
        locks = [self._lock((vendor, tenant)) for vendor in vendors]
        held: list[asyncio.Lock] = []
        try:
            for lock in locks:
                await lock.acquire()
                held.append(lock)
            pipe = self._client().pipeline(transaction=False)
            for vendor in vendors:
                await self._load_script(keys=self._keys(vendor, tenant), args=[-1], client=pipe)
            try:
                rows = await pipe.execute()
            except RedisError as exc:
                raise StateUnavailable(UNAVAILABLE) from exc
            now: float | None = None
            for vendor, got in zip(vendors, rows, strict=True):
                key = (vendor, tenant)
                if got[1] == "":
                    self._slots.pop(key, None)
                    continue
                self._take(key, got)
                if got[4]:
                    now = max(now or 0.0, float(got[4]))
            return now
        finally:
            for lock in held:
                lock.release()

    def _parse(self, key: tuple[str, str], got: list[Any]) -> RedisSlot:
        """A slot from what `_LOAD` answered: the state document with each collection put back in its order."""
        vendor = key[0]
        data = json.loads(got[1])
        cols = self._collections[vendor]
        hashes: list[list[str]] = got[5:]
        if len(hashes) != len(cols) + sum(1 for n in self._items[vendor] if n is not None):
            raise ValueError(f"{len(hashes)} collection hashes where this version has others")
        entities: list[dict[str, bytes]] = [
            {flat[n]: flat[n + 1].encode() for n in range(0, len(flat), 2)} for flat in hashes
        ]
        orders: list[list[int] | None] = []
        for c, (col, at) in enumerate(zip(cols, self._items[vendor], strict=True)):
            flat = hashes[c]
            if col.alias in data:  # stored whole in the document (phase 1): the next commit writes it out
                entities[c] = {}
                orders.append(None)
                continue
            items = hashes[at] if at is not None else []
            held = {items[n]: items[n + 1] for n in range(0, len(items), 2)}
            rows = []
            for n in range(0, len(flat), 2):
                position, _, text = flat[n + 1].partition(" ")
                place, plus, count = position.partition("+")
                entity = json.loads(text)
                if plus:  # its FROZEN_ITEMS list is in the items hash, one field per item, from 0 on
                    assert col.frozen is not None
                    name = flat[n]
                    if count:  # "+<count>": as written before branch rcost
                        found = [held[f"{name}{SEP}{i}"] for i in range(int(count))]
                    else:
                        found = []
                        while (one := held.get(f"{name}{SEP}{len(found)}")) is not None:
                            found.append(one)
                    entity[col.frozen.field] = [json.loads(t) for t in found]
                rows.append((int(place), flat[n], entity))
            rows.sort(key=lambda row: row[0])
            data[col.alias] = {name: entity for _, name, entity in rows}
            orders.append([row[0] for row in rows])
        state = self._types[vendor].model_validate(data)
        tracks: list[TrackedDict | None] = []
        for col, order in zip(self._collections[vendor], orders, strict=True):
            tracks.append(_install(state, col, TrackedDict(getattr(state, col.field), order, marked=order is None)))
        flag = got[3] == "1"
        return RedisSlot(
            state=state,
            counters=json.loads(got[2]),
            lock=self._lock(key),
            provisioned=flag,
            remote=int(got[0]),
            saved=(got[1], got[2], flag),
            timeline=got[4],
            entities=entities,
            tracks=tracks,
        )

    def _tracked(self, vendor: str, slot: RedisSlot) -> RedisSlot:
        """A slot not in Redis yet (or about to be replaced whole) with every collection tracked and marked."""
        slot.entities = [{} for _ in range(len(self._keys(vendor, "")) - 1)]
        slot.tracks = [
            _install(slot.state, col, TrackedDict(getattr(slot.state, col.field))) for col in self._collections[vendor]
        ]
        return slot

    # -- reads ------------------------------------------------------------------------------------

    async def refresh(self) -> None:
        """Catch the cache up with what other workers committed (one round trip when nothing changed): read the
        change stream past the last entry seen, and re-read each tenant named there whose version moved. Nothing
        to do under a fleet (`Store.authoritative` set): a worker serves only the tenants it owns, whose state only
        it changes."""
        if self.authoritative is not None:
            return
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
            await self._load_script(keys=self._keys(*key), args=[known], client=pipe)
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

    def _take(self, key: tuple[str, str], got: list[Any]) -> RedisSlot:
        """Put what Redis answered for a tenant in its cached slot (the same slot object, whose lock units hold)."""
        read = self._parse(key, got)
        slot = cast(RedisSlot | None, self._slots.get(key))
        if slot is None:
            self._slots[key] = read
            return read
        slot.state, slot.counters, slot.provisioned = read.state, read.counters, read.provisioned
        slot.remote, slot.saved, slot.entities, slot.tracks = read.remote, read.saved, read.entities, read.tracks
        slot.timeline = read.timeline
        slot.chain = ""
        slot.seen = {}
        slot.version += 1
        return slot

    # -- units of work ----------------------------------------------------------------------------

    async def _fresh(self, vendor: str, tenant: str, create: bool) -> RedisSlot:
        """The tenant's slot as Redis has it now: the cached one when this worker owns the tenant (no round trip) or
        when its version is current (one round trip)."""
        key = (vendor, tenant)
        slot = cast(RedisSlot | None, self._slots.get(key))
        if self.authoritative is not None:  # a fleet: the owner's cache is the tenant's state (core.fleet)
            self._owned(tenant)  # Misrouted when another worker owns it
            if slot is not None and slot.remote >= 0:
                return slot
        try:
            known = slot.remote if slot is not None else -1
            got = await self._script(0, self._keys(vendor, tenant), [known])
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
            self._slots[key] = self._tracked(vendor, made)
            return made
        return self._take(key, got)

    async def _persist(
        self, slot: RedisSlot, tx: Tx[Any], outbox: str | None = None, drawn: Drawn | None = None
    ) -> asyncio.Future[Any] | None:
        """Commit what the unit changed (the state document if it differs, the entities it touched) and the outbox
        entry, if any, with its deliveries' first attempts recorded as started (`drawn`); `StateConflict` if Redis
        moved on meanwhile or (`Fenced`) this worker's lease is gone. On the owner's path the commit is sent and
        not waited for (`_pipelined`): its reply's future is returned, for `_outcome`."""
        vendor = tx.vendor
        state = slot.state
        # `state.model_dump_json(by_alias=True, exclude=...)` without its Python wrapper (on every commit)
        s = state.__pydantic_serializer__.to_json(state, by_alias=True, exclude=self._exclude[vendor]).decode()
        c = _counters(slot.counters)
        saved = slot.saved
        main: list[Any] = []
        if saved is None or saved[0] != s:
            main += ["s", s]
        if saved is None or saved[1] != c:
            main += ["c", c]
        if saved is None or saved[2] != slot.provisioned:
            main += ["p", "1" if slot.provisioned else "0"]
        rest: list[Any] = []
        tracks, state_fields, at = slot.tracks, state.__dict__, self._items[vendor]
        written: list[tuple[list[tuple[str, bytes]], list[str]]] = [_NOTHING] * len(slot.entities)
        for n, col in enumerate(self._collections[vendor]):
            track = tracks[n]
            if track is not None and track.untouched() and state_fields[col.field] is track:
                continue  # nothing reached it since the last commit (most units reach one or two)
            _changes(slot, n, col, at[n], written)
        keys = self._commit_keys.get((vendor, tx.tenant))
        if keys is None:
            tenant = tx.tenant
            keys = [*self._keys(vendor, tenant), *(tenant_key(tenant, *part) for part in COMMIT_PARTS)]
            self._commit_keys[(vendor, tenant)] = keys
        sent = [keys[0]]  # the tenant's hash, then only the hashes this commit writes (each key and argument costs)
        for n, (sets, dels) in enumerate(written):
            if sets or dels:
                sent.append(keys[n + 1])
                rest.append(len(sets))
                for pair in sets:
                    rest += pair
                rest.append(len(dels))
                rest += dels
        if not main and not rest and outbox is None:
            return None
        timeline = slot.timeline
        if main or rest:
            timeline = repr(tx.clock.now()) if self.clock.virtual else ""
            if timeline != slot.timeline:
                main += ["n", timeline]
        fence = None if self.fence is None else (self.fence(tx.tenant) or "-")  # a fleet: no lease held, no commit
        m = len(sent) - 1
        sent += keys[-len(COMMIT_PARTS) :]
        args = [slot.remote, fence or "", outbox or "", m, len(main) // 2, *main, *rest]
        if drawn is not None:
            args += drawn.args
        owned = self._owns(tx.tenant)
        if owned and saved is not None and _LEAN_SCRIPTS is not None:  # the owner's path: pipelined
            return await self._pipelined(slot, tx, sent, args, (s, c, slot.provisioned), timeline, written)
        try:
            try:
                if owned and saved is not None:  # the owner's path: nobody else reads the change stream
                    version, entry = int(await self._script(1, sent, args)), None
                else:
                    named = member(vendor, tx.tenant)  # percent-encoding: only where it is sent
                    pipe = self._client().pipeline(transaction=False)
                    if saved is None:  # a new tenant: named in the index first, so a listing never misses a stored one
                        pipe.sadd(INDEX, named)
                    await self._commit_script(keys=sent, args=args, client=pipe)
                    if saved is None:  # and again after: a refused commit's `_unlist` never leaves a stored one out
                        pipe.sadd(INDEX, named)
                    if not owned:
                        pipe.xadd(CHANGES, {"t": named}, maxlen=CHANGES_KEPT, approximate=True)
                    done = await pipe.execute()
                    version, entry = int(done[1 if saved is None else 0]), (None if owned else done[-1])
            except BaseException:
                slot.remote = -1  # cancelled or failed: the commit may or may not have landed; read it again next time
                raise
            if entry is not None:
                if len(self._own) >= CHANGES_KEPT:  # no request has read them back (only timers ran): start over
                    self._own.clear()
                self._own.add(entry)
        except RedisError as exc:
            raise StateUnavailable(UNAVAILABLE) from exc
        if version < 0:
            slot.remote = -1
            if saved is None:  # a new tenant nothing was stored for: out of the index again
                await self._unlist(vendor, tx.tenant)
            if version == -2 and self.fenced is not None:
                self.fenced(tx.tenant)
            raise Fenced(FENCED) if version == -2 else StateConflict(CONFLICT)
        slot.remote, slot.saved, slot.timeline = version, (s, c, slot.provisioned), timeline
        for saved_entities, (sets, dels) in zip(slot.entities, written, strict=True):
            saved_entities.update(sets)
            for name in dels:
                saved_entities.pop(name, None)
        return None

    async def _pipelined(
        self,
        slot: RedisSlot,
        tx: Tx[Any],
        sent: list[str],
        args: list[Any],
        saved: tuple[str, str, bool],
        timeline: str | None,
        written: list[tuple[list[tuple[str, bytes]], list[str]]],
    ) -> asyncio.Future[Any]:
        """The owner's commit, pipelined (docs/scaling.md, "Built: pipelined commits"): sent, and the slot set as if
        it landed (the next unit diffs against what was sent), without waiting for the reply. It moves the version
        and names its token, and checks the token of the commit sent before it while that one is unanswered (a
        chain: once one fails every later one does). When the reply is not this commit's version, whoever holds
        the tenant here forgets it (`_landed`). The reply's future (`_outcome` says what it was)."""
        lean = self._lean
        if lean is None:
            lean = self._lean = LeanRedis(self.url, _LEAN_SCRIPTS or ())
        assert _LEAN_SCRIPTS is not None
        try:
            if not lean.connected():  # the scripts are loaded as it connects: never sent again behind a commit
                await lean.connect()
            token = f"{self._chain}.{next(self._tokens)}"
            before, chain = slot.remote, slot.chain
            args[0] = f"{before}:{token}:{chain}" if chain else f"{before}:{token}"
            reply = lean.sent(_LEAN_SCRIPTS[1], sent, args)
        except RedisError as exc:
            slot.remote = -1
            raise StateUnavailable(UNAVAILABLE) from exc
        slot.remote, slot.saved, slot.timeline, slot.chain = before + 1, saved, timeline, token
        for saved_entities, (sets, dels) in zip(slot.entities, written, strict=True):
            saved_entities.update(sets)
            for name in dels:
                saved_entities.pop(name, None)
        self.inflight[reply] = None
        reply.add_done_callback(partial(self._landed, slot, (tx.vendor, tx.tenant), token, before + 1))
        return reply

    def _landed(
        self, slot: RedisSlot, key: tuple[str, str], token: str, version: int, reply: asyncio.Future[Any]
    ) -> None:
        """A pipelined commit's reply, at once (before any task that awaits it, and before the runtime's writer
        that waits for it): landed, or the tenant is lost here (`Numbering.lost`: its units queued behind, its
        gated deliveries and the runtime's marks of its hooks are forgotten with it)."""
        self.inflight.pop(reply, None)
        if landed_as(reply) == version:
            if slot.chain == token:
                slot.chain = ""
            return
        if self._slots.get(key) is not slot:  # an older copy (already forgotten here): nothing more to drop
            return
        slot.remote, slot.chain = -1, ""
        LOG.warning("tenant %r: a pipelined commit did not land (%s); forgotten here", key[1], _why(reply))
        if self.numbering is not None:
            self.numbering.lost(key[1])
        else:  # pragma: no cover - a fleet's store always has the runtime
            self.forget(key[1])

    @staticmethod
    async def _outcome(reply: asyncio.Future[Any]) -> None:
        """Wait for a pipelined commit's reply: `StateUnavailable` (Redis did not answer, or an error reply),
        `Fenced` or `StateConflict` (its own refusal, or one before it that failed: nothing of it was written)."""
        try:
            version = int(await asyncio.shield(reply))
        except RedisError as exc:
            raise StateUnavailable(UNAVAILABLE) from exc
        if version == -2:
            raise Fenced(FENCED)
        if version < 0:
            raise StateConflict(CONFLICT)

    async def _unlist(self, vendor: str, tenant: str) -> None:
        """Take a tenant out of the index when Redis holds no state of it (a refused commit of a new tenant named it
        there first). Never leaves a stored tenant out: the check follows the removal, and a commit that creates
        a tenant names it again after its script (`_persist`). Best effort: an entry left is an empty name."""
        named = member(vendor, tenant)
        try:
            pipe = self._client().pipeline(transaction=False)
            pipe.srem(INDEX, named)
            pipe.hexists(vendor_key(vendor, tenant), "s")
            if (await pipe.execute())[1]:
                await self._client().sadd(INDEX, named)
        except RedisError as exc:
            LOG.warning("tenant %r: its index entry could not be checked after a refused commit (%s)", tenant, exc)

    def mark_provisioned(self, vendor: str, tenant: str) -> None:
        slot = cast(RedisSlot | None, self._slots.get((vendor, tenant)))
        if slot is None:
            raise NotFound(f"no tenant {tenant!r} for vendor {vendor!r}")
        if slot.lock.locked():  # inside a unit of work (a scenario's setup): its commit writes the flag with the state
            slot.provisioned = True
            slot.version += 1
            self.writes += 1
            return
        fence = None if self.fence is None else (self.fence(tenant) or "-")  # a fleet: only the owner flags it
        try:
            pipe = self._sync.pipeline(transaction=False)
            self._flag(keys=[vendor_key(vendor, tenant), tenant_key(tenant, OWNER)], args=[fence or ""], client=pipe)
            pipe.xadd(CHANGES, {"t": member(vendor, tenant)}, maxlen=CHANGES_KEPT, approximate=True)
            flagged, entry = pipe.execute()
            version = int(flagged)
            self._own.add(entry)
        except RedisError as exc:
            raise StateUnavailable(UNAVAILABLE) from exc
        if version == -2:
            slot.remote = -1
            if self.fenced is not None:
                self.fenced(tenant)
            raise Fenced(FENCED)
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

    def _drop_all(self, keys: list[tuple[str, str]], fenced: bool = False) -> list[tuple[str, str]]:
        """Drop the tenants in Redis; the ones another worker's lease kept (`fenced`: a fleet's reset, each one
        dropped only when nobody or this worker holds it; see `reset`)."""
        refused: list[tuple[str, str]] = []
        for start in range(0, len(keys), CHUNK):
            chunk = keys[start : start + CHUNK]
            pipe = self._sync.pipeline(transaction=False)
            for key in chunk:
                lease = "" if not fenced or self.fence is None else (self.fence(key[1]) or "-")
                owner = tenant_key(key[1], OWNER)
                if key[0] in self._types:
                    self._drop(keys=[*self._keys(*key), owner], args=[lease], client=pipe)
                else:  # a vendor this server does not serve: its collections are unknown here, its hash goes
                    self._drop(keys=[vendor_key(*key), owner], args=[lease], client=pipe)
                pipe.srem(INDEX, member(*key))
                pipe.xadd(CHANGES, {"t": member(*key)}, maxlen=CHANGES_KEPT, approximate=True)
            dropped = pipe.execute()[::3]
            refused += [key for key, got in zip(chunk, dropped, strict=True) if int(got) == -2]
        if refused:  # kept by another worker's lease: listed again where stored
            pipe = self._sync.pipeline(transaction=False)
            for key in refused:
                pipe.hexists(vendor_key(*key), "s")
            stored = [member(*key) for key, got in zip(refused, pipe.execute(), strict=True) if got]
            if stored:
                self._sync.sadd(INDEX, *stored)
        return refused

    def reset(self, vendor: str | None = None, tenant: str | None = None) -> list[tuple[str, str]]:
        """Drop the matching tenants in Redis (each version moves on) and here. In a fleet (`Store.fence` set) a
        tenant is dropped only by the worker holding its lease, or by any while nobody holds it: another worker's
        tenant is that worker's to reset (a fleet-wide reset reaches every worker), and a worker whose lease
        another took (stalled past its ttl) resets nothing of it; such tenants are not in the answer, and one this
        worker thought it held is let go (`Store.fenced`)."""

        def match(k: tuple[str, str]) -> bool:
            return (vendor is None or k[0] == vendor) and (tenant is None or k[1] == tenant)

        doomed = sorted(k for k in self._stored() | set(self._slots) if match(k))
        try:
            refused = self._drop_all(doomed, fenced=True)
        except RedisError as exc:
            raise StateUnavailable(UNAVAILABLE) from exc
        for key in doomed:
            self._slots.pop(key, None)
        if self.fenced is not None and self.fence is not None:
            for name in sorted({t for _, t in refused}):
                if self.fence(name) is not None:  # it thought it held the tenant: another worker does
                    self.fenced(name)
        self.writes += 1
        kept = set(refused)
        return [key for key in doomed if key not in kept]

    def replace(self, slots: dict[tuple[str, str], Slot]) -> None:
        """Put the slots of a snapshot in place of every tenant, in Redis and here."""
        gone = sorted(self._stored() - set(slots))
        cached: dict[tuple[str, str], Slot] = {}
        try:
            self._drop_all(gone)
            keys = sorted(slots)
            for start in range(0, len(keys), CHUNK):
                chunk = [
                    self._tracked(key[0], RedisSlot(state=slots[key].state, counters=slots[key].counters))
                    for key in keys[start : start + CHUNK]
                ]
                pipe = self._sync.pipeline(transaction=False)
                for key, slot in zip(keys[start : start + CHUNK], chunk, strict=True):
                    s = slot.state.model_dump_json(by_alias=True, exclude=self._exclude[key[0]])
                    c = _counters(slot.counters)
                    slot.provisioned = slots[key].provisioned
                    args: list[Any] = [s, c, "1" if slot.provisioned else "0", ""]
                    written: list[tuple[list[tuple[str, bytes]], list[str]]] = [_NOTHING] * len(slot.entities)
                    for n, col in enumerate(self._collections[key[0]]):
                        _changes(slot, n, col, self._items[key[0]][n], written)
                    for saved_entities, (sets, _) in zip(slot.entities, written, strict=True):
                        args.append(len(sets))
                        for pair in sets:
                            args += pair
                        saved_entities.update(sets)
                    slot.saved, slot.timeline = (s, c, slot.provisioned), ""
                    pipe.sadd(INDEX, member(*key))
                    self._put(keys=self._keys(*key), args=args, client=pipe)
                    pipe.xadd(CHANGES, {"t": member(*key)}, maxlen=CHANGES_KEPT, approximate=True)
                versions = pipe.execute()[1::3]
                for key, slot, version in zip(keys[start : start + CHUNK], chunk, versions, strict=True):
                    slot.lock, slot.remote = self._lock(key), int(version)
                    cached[key] = slot
        except RedisError as exc:
            raise StateUnavailable(UNAVAILABLE) from exc
        self._slots = cached
        self.writes += 1

    def leases(self, tenants: Iterable[str]) -> dict[str, str | None]:
        """The owner lease of each tenant name as Redis holds it now (None: nobody holds it); one round trip."""
        names = list(tenants)
        try:
            pipe = self._sync.pipeline(transaction=False)
            for tenant in names:
                pipe.get(tenant_key(tenant, OWNER))
            return dict(zip(names, pipe.execute() if names else [], strict=True))
        except RedisError as exc:
            raise StateUnavailable(UNAVAILABLE) from exc

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


_sorted_json = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode


def landed_as(reply: asyncio.Future[Any]) -> int | None:
    """The version a pipelined commit's reply says (-1, -2: refused), or None when it failed or was cancelled (the
    store's `_landed`; the runtime's gate: a delivery goes only when this is a version, >= 0)."""
    if reply.cancelled() or reply.exception() is not None:
        return None
    try:
        return int(reply.result())
    except (TypeError, ValueError):
        return None


def _why(reply: asyncio.Future[Any]) -> str:
    if reply.cancelled():
        return "cancelled"
    exc = reply.exception()
    if exc is not None:
        return str(exc)
    got = reply.result()
    return {-1: "refused: the version moved", -2: "refused: the lease is another worker's"}.get(got, repr(got))


def _counters(counters: dict[str, int]) -> str:
    """Id counters as compact JSON, keys sorted: on every commit, so by orjson when it is there (about 30 k
    instructions fewer than `json`, which builds its encoder again on every call); `json` writes what orjson
    refuses (a count past 64 bits) and without orjson."""
    if _orjson is not None:
        try:
            return _orjson.dumps(counters, option=_orjson.OPT_SORT_KEYS).decode()
        except TypeError:  # orjson.JSONEncodeError
            pass
    return _sorted_json(counters)


def collection_key(vendor: str, tenant: str, field: str) -> str:
    """The hash holding one collection of `vendor`'s state of `tenant` (one field per entity)."""
    return tenant_key(tenant, "v", encoded(vendor), "c", encoded(field))


def items_key(vendor: str, tenant: str, field: str) -> str:
    """The hash holding the `FROZEN_ITEMS` lists of one collection's entities: field `<entity key><SEP><n>`, the
    JSON of the list's item n, from 0 on without a gap (the entity's own field in its collection hash then reads
    "<position>+ <JSON without the list>", so appending an item leaves it alone; "<position>+<count> <JSON>", as
    written before branch rcost, is read too)."""
    return tenant_key(tenant, "v", encoded(vendor), "i", encoded(field))


SEP = "\x00"
"""Between an entity's key and an item's position in a field of an items hash (`items_key`). An entity whose key
holds it keeps its list in its own JSON ("<position> <JSON>"), so a field name never reads two ways."""


def _past(held: dict[str, bytes], name: str, start: int) -> list[str]:
    """The fields of entity `name`'s items in the items hash (as `held` mirrors it) from position `start` on."""
    gone = []
    while (item := f"{name}{SEP}{start}") in held:
        gone.append(item)
        start += 1
    return gone


def _install(state: BaseModel, col: Collection, track: TrackedDict) -> TrackedDict:
    """Put `track` in the state in place of the collection's dict (as pydantic keeps a field: in `__dict__`)."""
    state.__dict__[col.field] = track
    return track


def _retracked(old: TrackedDict | None, current: dict[Any, Any]) -> TrackedDict:
    """A `TrackedDict` of a collection the vendor replaced whole, every key marked; a key keeps its position when
    that keeps the order (so an unchanged entity is not written again)."""
    before = old.positions() if old is not None else {}
    positions: list[int] = []
    last = -1
    for key in dict.__iter__(current):
        position = before.get(key)
        if position is None or position <= last:
            position = last + 1
        positions.append(position)
        last = position
    return TrackedDict(current, positions)


_NOTHING: tuple[list[tuple[str, bytes]], list[str]] = ([], [])
"""What `_changes` finds in a collection nothing reached (shared: never changed)."""


def _seen(slot: RedisSlot, n: int, name: str) -> Seen:
    """What the slot's last serialisation of entity `name` of collection `n` kept of its `FROZEN_ITEMS` list."""
    seen = slot.seen.get((n, name))
    if seen is None:
        seen = slot.seen[(n, name)] = Seen()
    return seen


def _changes(
    slot: RedisSlot,
    n: int,
    col: Collection,
    at: int | None,
    written: list[tuple[list[tuple[str, bytes]], list[str]]],
) -> None:
    """Put in `written[n]` the entities of collection `n` to write (those marked whose text differs from Redis's) and
    the keys to delete (marked and gone), and in `written[at]` (its items hash, if any) the items of their
    `FROZEN_ITEMS` lists to write (new objects whose JSON differs from Redis's: an appended message is one field, not
    its whole conversation again) and to delete (past a list's new end, or the entity gone); takes the marks."""
    state = slot.state
    current = state.__dict__[col.field]
    track = slot.tracks[n]
    saved = slot.entities[n]
    dels: list[str] = []
    if current is not track:  # the vendor replaced the whole collection (or it was never tracked)
        track = slot.tracks[n] = _install(state, col, _retracked(track, current))
        present = {str(k) for k in dict.__iter__(track)}
        dels = [name for name in saved if name not in present]
    sets: list[tuple[str, bytes]] = []
    isets: list[tuple[str, bytes]] = []
    idels: list[str] = []
    held = slot.entities[at] if at is not None else None
    for marked in track.take():
        try:
            key = col.key(marked)  # a key of another type may find the same entity (True is 1, "5" is not 5)
        except (TypeError, ValueError):
            continue  # no key of the collection's type is equal to it: it reached no entity
        name = str(key)
        if dict.__contains__(track, key):
            entity = track.peek(key)
            if held is None or SEP in name:
                body = col.dump(entity) if col.frozen is None else col.dump(entity, _seen(slot, n, name))
                text = b"%d " % track.position(key) + body
                before = saved.get(name)
                if before != text:
                    sets.append((name, text))
                continue
            head, items, fresh = col.split(entity, _seen(slot, n, name))
            text = b"%d+ " % track.position(key) + head  # no count: an appended item leaves the entity's field alone
            before = saved.get(name)
            if before != text:
                sets.append((name, text))
            for i in fresh:  # the others are the objects the last commit wrote there (or a load read)
                item = f"{name}{SEP}{i}"
                if held.get(item) != items[i]:
                    isets.append((item, items[i]))
            if f"{name}{SEP}{len(items)}" in held:  # the list got shorter
                idels += _past(held, name, len(items))
        else:
            track.forget(key)
            if name in saved:
                dels.append(name)
    if col.frozen is not None:
        for name in dels:
            slot.seen.pop((n, name), None)
            if held is not None:
                idels += _past(held, name, 0)
    written[n] = (sets, dels)
    if at is not None:
        written[at] = (isets, idels)


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
        """Commit, then run the commit hooks and let go of the tenant. The owner's commit is pipelined: the hooks run
        and the lock goes once it is sent, and its reply is awaited after (the request answers only then); the
        deliveries its hooks made wait for that reply (`Numbering.gate`)."""
        tx, slot, store = self._tx, cast(RedisSlot | None, self._slot), cast(RedisStore, self.store)
        assert tx is not None
        assert slot is not None
        reply = None
        try:
            store.writes += 1
            if kind is not None:
                tx.ids.rollback()
                try:
                    sent = await store._persist(slot, tx)  # a failed unit sends nothing: no outbox entry
                    if sent is not None:  # waited for under the lock, as the unit's own exception is what it raises
                        await store._outcome(sent)
                except (StateConflict, StateUnavailable):
                    slot.remote = -1  # the unit's own exception is the one to see; the next unit reads afresh
                return
            produced = tx.events or tx.outbound
            outbox = store.outbox(tx) if produced and store.outbox is not None else None
            numbering = store.numbering
            drawn = numbering.drawn(tx) if outbox is not None and numbering is not None else None
            try:
                reply = await store._persist(slot, tx, outbox, drawn)
            except StateConflict:  # refused: nothing written, so the numbers are free again
                if numbering is not None and drawn is not None:
                    numbering.refused(drawn)
                raise
            if produced and numbering is None:
                for hook in store._commit_hooks:
                    hook(tx)
            elif produced and numbering is not None:
                if reply is not None:
                    numbering.gate(tx.tenant, reply)
                numbering.hand_out(drawn)  # the hooks' deliveries take the numbers whose first attempts it wrote
                try:
                    for hook in store._commit_hooks:
                        hook(tx)
                finally:
                    numbering.hand_out(None)
                    if reply is not None:
                        numbering.gate(tx.tenant, None)
        except BaseException:
            if kind is None:
                tx.ids.rollback()
            raise
        finally:
            slot.version += 1
            slot.lock.release()
        if reply is not None:  # the next unit of the tenant may run meanwhile, on what this one sent
            await store._outcome(reply)


RedisStore.unit_type = RedisUnitOfWork
