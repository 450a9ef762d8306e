"""A Redis-backed server's runtime, durable in Redis: pending deliveries, the delivery log, pending jobs, the
outbox (issue 16 phase 2; docs/scaling.md).

The in-process kernel still runs everything (`core.clock` timers and virtual time, `core.webhooks` ordering,
retry ladders and chaos); this module writes down what it does, so another process can go on with a tenant: a
restart of the server, or the worker that takes a tenant over from one that died. Per tenant name, under its
hash tag (`core.rediskeys`):

    cxemu:{<tenant>}:rt:dlv      hash: pending delivery id -> its snapshot form (`SnapshotDelivery` JSON)
    cxemu:{<tenant>}:rt:flight   hash: delivery id -> the attempt started and not settled yet ({n, at})
    cxemu:{<tenant>}:rt:log      list: settled deliveries (snapshot form), oldest first, capped at the log size
    cxemu:{<tenant>}:rt:jobs     hash: job seq -> {due, vendor, kind, args} (due on the tenant's timeline)
    cxemu:{<tenant>}:rt:clock    string: where the tenant's timeline stood at the last write (virtual clock)
    cxemu:{<tenant>}:rt:seq      string: the tenant's last delivery number
    cxemu:{<tenant>}:outbox      list: what committed units of work must still turn into deliveries
    cxemu:{<tenant>}:rt:chaos    string: the tenant's own delivery faults ({config, expires_at}), when it has any

Writes. The hooks (`DeliveryLog`, `JobLog`, the outbox) only mark what changed; one task writes everything marked
in one pipelined round trip over the lean client (`core.resp`), each delivery serialised once however often it
changed. An attempt about to start, a job scheduled or gone and a reset are written at once; what a delivery does
(made, settled, retried) and an outbox entry's removal ride with the next write, or go `LINGER` later. `flush()`
waits until everything marked so far is written; an attempt awaits it (`started`) before its HTTP request goes out,
so a worker killed mid-attempt leaves the attempt in `flight`, except the first attempt of a delivery its commit
made (below). A vendor request awaits `answered()` before its response goes out: what must be written at once (its
jobs); its webhooks are in the outbox entry its commit wrote. Redis down: the
marks stay for the next write, a request waiting for a write answers 503 (`StateUnavailable`), an attempt is not sent
(recorded as such and retried by the ladder). A Redis that does not know `_WRITE` (restarted) answers NOSCRIPT to
those scripts, which did not run: they are sent again whole (`EVAL`).
Any other error reply (OOM, BUSY, a key of the wrong type) keeps that tenant's part alone for the next write
(`PartlyUnwritten`): the other tenants' scripts ran, and their requests and attempts go on.

Fenced. Each tenant's part of a write is one script (`_WRITE`) that first checks the owner lease of a fleet
(`core.fleet`) holds the lease this worker holds (`fence`), as the state commit does: a worker that stalled
past its lease's ttl while another took the tenant over writes none of its deliveries, attempts, log or jobs.
A refused tenant is dropped here (`fenced`: `Emulator.drop`, so its deliveries stop going out). A tenant this
worker holds no lease on is written only while nobody holds one (a reset of a free tenant).

The outbox. A unit of work's webhooks are worked out while it commits (`outbox`, the vendor's `outbound`
translation, which draws the event ids, so the counters committed include them) and written by the same commit
script as its state; once the commit hooks have queued them as deliveries and those are written, the entry is
removed in the same round trip. An entry left behind (the worker died in between) is replayed by `adopt`,
skipping webhooks whose event id already has a delivery to the same URL: at least once, no double.

The first attempt on the commit's record. `outbox` also draws the deliveries' numbers (`rt:seq`; the entry names
the first), and the commit script records as started (`flight`, attempt 0) the first attempt of each delivery that
will start at once (nothing ahead of it on its ordering key, no delivery faults in force). The commit hooks make the
deliveries under those numbers (`hand_out`, `number`), and such a first attempt goes out without a write of its own
(`started`) if it starts within `LINGER` of the commit: the commit checked the lease, as the write would have. What
the delivery does next rides with later writes as before; a write that carries it pending while that attempt is
out records the attempt again after it (`_write`), and one that carries it before its attempt started deletes the
commit's record, so that attempt then writes its own. A refused commit writes nothing (its numbers are put back).

`adopt(tenant)` loads all that into this process: the timeline, the tenant's own delivery faults (`PUT
/_emulator/chaos?tenant=`), the jobs (scheduled again at their due times, in their order), the settled log, the
pending deliveries (one whose attempt was started and never settled gets that attempt recorded as lost, so it is
re-sent as a retry with the same event id, after the deliveries before it on its key), then the outbox (a webhook
whose delivery has its commit's `flight` record and no record of its own: made under its number with that attempt
recorded as lost, so it too is re-sent as a retry, in order on its key).
`drop(tenant)` forgets the tenant here without writing anything.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import redis.asyncio as aioredis
from pydantic import ValidationError
from redis.exceptions import NoScriptError, RedisError, ResponseError

from emulator.core.chaos import ChaosConfig, TenantChaos
from emulator.core.clock import Scheduler, Timer, VirtualClock, wall_monotonic
from emulator.core.delivery import Attempt, Delivery, SnapshotDelivery
from emulator.core.fastjson import dumps as _dumps_bytes
from emulator.core.fastjson import dumps_text as _dumps
from emulator.core.rediskeys import tenant_key
from emulator.core.redisstore import SLICED_LUA, UNAVAILABLE, Drawn, RedisStore, StateUnavailable, landed_as
from emulator.core.store import Outbound, Store, Tx
from emulator.core.webhooks import WebhookDispatcher

try:  # the lean client needs hiredis (in the `redis` extra), as the store's hot path (`core.redisstore`)
    from emulator.core.resp import LeanRedis
except ModuleNotFoundError as missing:  # pragma: no cover - the extra installs it
    if missing.name != "hiredis":
        raise
    LeanRedis = None  # type: ignore[assignment,misc]

LOG = logging.getLogger(__name__)

LOST = "outcome unknown: the cxemu process sending it stopped during the attempt; sent again as a retry"
"""The error of the attempt `adopt` records on a delivery whose attempt was started and never settled."""
NOT_SENT = "not sent: the state store (Redis) did not answer, so the attempt could not be recorded first"
DROPPED = "not sent: another cxemu process owns this tenant now"

Translate = Callable[[Tx[Any], Any], Iterable[Outbound]]

LINGER = 0.05
"""Seconds a delivery's change waits for a write to ride with (an attempt's start, a job, a flush) before it is
written alone: a message whose first attempt goes out on its commit's record costs no runtime write of its own (its
delivery, the removal of its outbox entry and its settle ride with a write shared by the messages of those
`LINGER` seconds); docs/scaling.md, "Measured (phase 3)". Also how long after its commit such a first attempt may
start without a write (`started`)."""

PARTS = ("dlv", "flight", "log", "jobs", "clock", "seq", "outbox", "chaos")
"""A tenant's runtime keys, in the order of `_WRITE`'s KEYS (after the owner lease)."""

# KEYS: the owner lease, then the tenant's PARTS. ARGV: [1] the lease this worker holds ('' no fleet: unchecked;
# '-' none: written only while nobody holds one), [2] the log's cap, then sections, each a count and its items, in
# the order they are applied:
#   X  parts whose key is deleted first (their index in KEYS), e.g. a tenant's runtime after a reset
#   P  (id, json) pending deliveries, written (their `flight` entries go: the attempt settled, a later one follows)
#   S  (id, json) settled deliveries, out of `dlv` and `flight`, pushed to the log in order (trimmed to the cap once)
#   F  (id, json) attempts started (`flight`)
#   J  (seq, json) jobs;  K  seqs of jobs gone
#   C  the clock ('': unchanged);  N  the last delivery number ('': unchanged; it moves up, never down, as a commit's
#      drawn numbers may have moved it past this write's)
#   H  0 the tenant's own faults unchanged, 1 and their JSON: set, 2: deleted
#   R  outbox entries cleared: a tail (`],"seq":<n>}`, the end of the entry that names its first delivery number
#      n, unique in the tenant) or, for an entry without numbers, 'e' and its whole text (two items each)
# Each section is one Redis call (or a few for long ones), not one per delivery: a call inside a script costs about
# what a small command does (~1.5 us). Entries cleared in the order they were pushed (the usual case) are the head of
# the outbox: read once and trimmed, not looked for one by one. Returns 1 when written, 0 (nothing written) when the
# lease is not as said. Before the first write it checks the sections add up and that every key it writes as a hash,
# a list or a string holds that type or nothing (a key deleted first is not asked): Redis does not undo a script's
# earlier writes when a later command fails (a settled delivery out of `dlv` and not in the log), so such a key
# (someone else's) is an error reply with nothing written.
_WRITE = (
    SLICED_LUA
    + """
local lease = ARGV[1]
if lease ~= '' then
  local cur = redis.call('GET', KEYS[1])
  if lease == '-' then
    if cur then return 0 end
  elseif cur ~= lease then
    return 0
  end
end
local size = tonumber(ARGV[2])
-- where each section's items start, and how many there are (no table per section: a write is often one delivery)
local xn = tonumber(ARGV[3])
local xi = 4
local pn = tonumber(ARGV[xi + xn])
local pi = xi + xn + 1
local sn = tonumber(ARGV[pi + 2 * pn])
local si = pi + 2 * pn + 1
local fn = tonumber(ARGV[si + 2 * sn])
local fi = si + 2 * sn + 1
local jn = tonumber(ARGV[fi + 2 * fn])
local ji = fi + 2 * fn + 1
local kn = tonumber(ARGV[ji + 2 * jn])
local ki = ji + 2 * jn + 1
local i = ki + kn
local clock, last = ARGV[i], ARGV[i + 1]
local h = tonumber(ARGV[i + 2])
i = i + 3
local chaos = nil
if h == 1 then chaos = ARGV[i]; i = i + 1 end
local rn = tonumber(ARGV[i])
i = i + 1
local tails, exact = {}, {}
for _ = 1, rn do
  if ARGV[i] == 'e' then exact[#exact + 1] = ARGV[i + 1]; i = i + 2 else tails[#tails + 1] = ARGV[i]; i = i + 1 end
end
if i ~= #ARGV + 1 or not size or not h or h < 0 or h > 2 then
  return redis.error_reply('cxemu runtime write: the sections do not add up')
end
local gone = {}
for a = xi, xi + xn - 1 do gone[tonumber(ARGV[a])] = true end
local function need(key, want)
  if gone[key] then return nil end
  gone[key] = true
  local got = redis.call('TYPE', KEYS[key])['ok']
  if got ~= 'none' and got ~= want then
    return 'WRONGTYPE ' .. KEYS[key] .. ' holds a ' .. got .. ', not a ' .. want .. ': nothing written'
  end
end
local bad = nil
if pn + sn > 0 then bad = need(2, 'hash') or need(3, 'hash') end
if not bad and sn > 0 then bad = need(4, 'list') end
if not bad and fn > 0 then bad = need(3, 'hash') end
if not bad and jn + kn > 0 then bad = need(5, 'hash') end
if not bad and last ~= '' then bad = need(7, 'string') end
if not bad and rn > 0 then bad = need(8, 'list') end
if bad then return redis.error_reply(bad) end
-- the first (from = 0) or second (from = 1) item of each of a section's n pairs, and a command over such a list
local function halves(first, n, from)
  local list = {}
  for a = first + from, first + 2 * n - 1, 2 do list[#list + 1] = ARGV[a] end
  return list
end
local function many(command, key, list)
  for a = 1, #list, 1000 do redis.call(command, key, unpack(list, a, math.min(a + 999, #list))) end
end
for a = xi, xi + xn - 1 do redis.call('DEL', KEYS[tonumber(ARGV[a])]) end
if pn > 0 then
  sliced('HSET', KEYS[2], pi, 2 * pn)
  many('HDEL', KEYS[3], halves(pi, pn, 0))
end
if sn > 0 then
  local ids = halves(si, sn, 0)
  many('HDEL', KEYS[2], ids)
  many('HDEL', KEYS[3], ids)
  many('RPUSH', KEYS[4], halves(si, sn, 1))
  redis.call('LTRIM', KEYS[4], -size, -1)
end
if fn > 0 then sliced('HSET', KEYS[3], fi, 2 * fn) end
if jn > 0 then sliced('HSET', KEYS[5], ji, 2 * jn) end
if kn > 0 then sliced('HDEL', KEYS[5], ki, kn) end
if clock ~= '' then redis.call('SET', KEYS[6], clock) end
if last ~= '' and tonumber(last) > (tonumber(redis.call('GET', KEYS[7]) or '0') or 0) then
  redis.call('SET', KEYS[7], last)
end
if h == 1 then redis.call('SET', KEYS[9], chaos) elseif h == 2 then redis.call('DEL', KEYS[9]) end
if #tails > 0 then
  local head = redis.call('LRANGE', KEYS[8], 0, #tails - 1)
  local taken = 0
  for a = 1, #head do
    local t = tails[a]
    if string.sub(head[a], -#t) ~= t then break end
    taken = a
  end
  if taken > 0 then redis.call('LTRIM', KEYS[8], taken, -1) end
  if taken < #tails then
    local left = redis.call('LRANGE', KEYS[8], 0, -1)
    for a = taken + 1, #tails do
      local t = tails[a]
      for b = 1, #left do
        local e = left[b]
        if e and string.sub(e, -#t) == t then
          redis.call('LREM', KEYS[8], 1, e)
          left[b] = false
          break
        end
      end
    end
  end
end
for _, e in ipairs(exact) do redis.call('LREM', KEYS[8], 1, e) end
return 1
"""
)
_WRITE_SHA = hashlib.sha1(_WRITE.encode()).hexdigest()  # Redis names a script by its SHA-1


@functools.lru_cache(maxsize=4096)
def keys(tenant: str) -> dict[str, str]:
    """The runtime keys of a tenant, by part."""
    return {part: tenant_key(tenant, *(("outbox",) if part == "outbox" else ("rt", part))) for part in PARTS}


@functools.lru_cache(maxsize=4096)
def _script_keys(tenant: str) -> list[str]:
    k = keys(tenant)
    return [tenant_key(tenant, "owner"), *(k[part] for part in PARTS)]


@dataclass
class _Batch:
    """What the hooks marked since the last write."""

    dropped: set[tuple[str, str]] = field(default_factory=set)
    """(tenant, part) of keys deleted first (a tenant's runtime keys after a reset; its jobs when `adopt` numbers
    them again)."""
    deliveries: dict[str, Delivery] = field(default_factory=dict)
    flights: dict[str, tuple[Delivery, int, float]] = field(default_factory=dict)
    jobs: dict[tuple[str, int], Timer | None] = field(default_factory=dict)
    cleared: list[tuple[str, str]] = field(default_factory=list)
    """(tenant, outbox entry) to remove once the rest is written."""
    clocks: set[str] = field(default_factory=set)
    seqs: set[str] = field(default_factory=set)
    chaos: set[str] = field(default_factory=set)
    """Tenants whose own delivery faults changed (written as the dispatcher holds them then: set, or deleted)."""

    def __bool__(self) -> bool:
        return bool(
            self.dropped or self.deliveries or self.flights or self.jobs or self.cleared or self.clocks or self.chaos
        )

    def merge(self, later: _Batch) -> None:
        """Put a batch that could not be written back in front of what was marked since (`self` is the later)."""
        self.dropped |= later.dropped
        self.deliveries = {**later.deliveries, **self.deliveries}
        self.flights = {**later.flights, **self.flights}
        self.jobs = {**later.jobs, **self.jobs}
        self.cleared = [*later.cleared, *self.cleared]
        self.clocks |= later.clocks
        self.seqs |= later.seqs
        self.chaos |= later.chaos

    def part(self, tenants: set[str]) -> _Batch:
        """What the batch holds of the tenants (a write that failed for them alone keeps only that)."""
        return _Batch(
            dropped={d for d in self.dropped if d[0] in tenants},
            deliveries={k: d for k, d in self.deliveries.items() if d.tenant in tenants},
            flights={k: f for k, f in self.flights.items() if f[0].tenant in tenants},
            jobs={k: t for k, t in self.jobs.items() if k[0] in tenants},
            cleared=[c for c in self.cleared if c[0] in tenants],
            clocks=self.clocks & tenants,
            seqs=self.seqs & tenants,
            chaos=self.chaos & tenants,
        )

    def forget(self, tenant: str) -> None:
        self.dropped = {d for d in self.dropped if d[0] != tenant}
        self.deliveries = {k: d for k, d in self.deliveries.items() if d.tenant != tenant}
        self.flights = {k: f for k, f in self.flights.items() if f[0].tenant != tenant}
        self.jobs = {k: t for k, t in self.jobs.items() if k[0] != tenant}
        self.cleared = [c for c in self.cleared if c[0] != tenant]
        self.clocks.discard(tenant)
        self.seqs.discard(tenant)
        self.chaos.discard(tenant)


@dataclass(eq=False)
class _Ops:
    """One tenant's part of a write: `_WRITE`'s sections (see the script)."""

    x: list[Any] = field(default_factory=list)
    p: list[Any] = field(default_factory=list)
    s: list[Any] = field(default_factory=list)
    f: list[Any] = field(default_factory=list)
    j: list[Any] = field(default_factory=list)
    k: list[Any] = field(default_factory=list)
    clock: str = ""
    last: int | str = ""
    h: tuple[Any, ...] = (0,)
    rn: int = 0
    r: list[Any] = field(default_factory=list)

    def args(self) -> list[Any]:
        x, p, s, f, j, k = self.x, self.p, self.s, self.f, self.j, self.k
        return [
            len(x), *x, len(p) // 2, *p, len(s) // 2, *s, len(f) // 2, *f, len(j) // 2, *j, len(k), *k,
            self.clock, self.last, *self.h, self.rn, *self.r,
        ]  # fmt: skip


_TAIL = '],"seq":'


def _cleared(entry: str) -> tuple[str, ...]:
    """How `_WRITE` finds an outbox entry to remove: by its tail (`],"seq":<n>}`: the number of its first delivery,
    unique in the tenant) when it names its numbers, else by its whole text (`'e'` and the text)."""
    at = entry.rfind(_TAIL)
    if at >= 0 and entry.endswith("}") and entry[at + len(_TAIL) : -1].isdigit():
        return (entry[at:],)
    return ("e", entry)


@dataclass
class _Claim:
    """Delivery numbers drawn before they are used: the next deliveries of `tenant` take them, in order."""

    tenant: str
    next: int
    end: int
    flown: frozenset[int] = frozenset()
    """The numbers whose first attempt the commit recorded as started (none: an adopted outbox's)."""
    at: float = 0.0
    """When the commit happened, on the monotonic clock (`started` trusts its record for `LINGER` after it)."""


class PartlyUnwritten(StateUnavailable):
    """A write Redis took for some tenants and refused for others (an error reply to their scripts): only theirs is
    kept for the next write. A request or attempt of another tenant goes on (`unwritten`)."""

    def __init__(self, unwritten: frozenset[str], reason: str) -> None:
        super().__init__(UNAVAILABLE)
        self.unwritten = unwritten
        self.reason = reason


class RedisRuntime:
    """Pending deliveries, the delivery log, jobs and the outbox of a Redis-backed server; see the module."""

    def __init__(
        self, url: str, scheduler: Scheduler, dispatcher: WebhookDispatcher, store: Store, *, log_size: int
    ) -> None:
        self.url = url
        self.scheduler = scheduler
        self.dispatcher = dispatcher
        self.store = store
        self.log_size = log_size
        self._client: aioredis.Redis | None = None
        """redis-py, for what is rare (`adopt`)."""
        self._lean: LeanRedis | None = None
        """The hot path's client (`core.resp`): the writes."""
        self._batch = _Batch()
        self._next: asyncio.Future[None] | None = None
        """Resolves once what is marked now is written (made by the first mark after a write started)."""
        self._writing: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._due = False
        """Whether what is marked now is to be written at once (a mark that needs its write, or a flush), else it
        lingers (`LINGER`) for a write to ride with."""
        self._linger: asyncio.TimerHandle | None = None
        self._seqs: dict[str, int] = {}
        """Each adopted tenant's last delivery number."""
        self._muted: set[str] = set()
        self._held: set[str] = set()
        """Tenants whose marks are written whoever holds their lease: a fleet's restore writes every tenant's
        runtime, other workers' too (`hold`), as it writes their state; `drop` or `adopt` ends it (the restore
        does, once its write is done or failed: `core.fleet_control`)."""
        """Tenants this process dropped: nothing of theirs is written until they are adopted again."""
        self.writes = 0
        """Round trips written (tests, logs)."""
        self.fence: Callable[[str], str | None] | None = None
        """A fleet's: the lease this worker holds on a tenant (None: none). Unset (one server), writes are
        unchecked."""
        self.fenced: Callable[[str], None] | None = None
        """A fleet's: told of a tenant whose write was refused because another worker holds its lease now."""
        self._drawn: Drawn | None = None
        """The numbers `outbox` drew for the unit of work committing now (the store takes them: `drawn`)."""
        self._claim: _Claim | None = None
        """Numbers the deliveries being made now take (`number`): a commit's, while its hooks run."""
        self._early: dict[str, tuple[str, float]] = {}
        """Deliveries whose first attempt the commit recorded as started (id -> tenant, the commit's monotonic time)
        and that has not started yet: it starts without a write (`started`) within `LINGER` of the commit (by then
        the delivery's own record would be written), unless a write carried the delivery first (its record deletes
        the commit's flight: `_write`)."""
        self._flying: dict[str, tuple[Delivery, float]] = {}
        """Deliveries whose first attempt went out on the commit's record (id -> delivery, when it started), not
        written settled yet: a write that carries the delivery pending records the attempt again (`_write`)."""
        self._gate: tuple[str, asyncio.Future[Any]] | None = None
        """The tenant and pipelined commit whose hooks run now: the deliveries they make wait for its reply."""
        self._gates: dict[str, asyncio.Future[Any]] = {}
        """Deliveries made by the hooks of a pipelined commit, by id -> that commit's reply: their first attempt
        waits for it, and is dropped if the commit did not land (`started`)."""
        self._inflight: dict[asyncio.Future[Any], None] = {}
        """The store's pipelined commits not answered yet (`RedisStore.inflight`): a write waits for those sent
        before its batch was taken."""
        self._taken: _Batch | None = None
        """The batch a write took while it waits for those commits (a tenant lost meanwhile is forgotten in it)."""
        if isinstance(store, RedisStore):
            store.numbering = self
            self._inflight = store.inflight

    # -- marks (the hooks) --------------------------------------------------------------------------

    def number(self, tenant: str) -> tuple[int, str]:
        """`DeliveryLog.number`: the tenant's next delivery number and the delivery's id, `dlv_<tenant>_<n>` (the
        tenant as 12 hex digits of its BLAKE2b hash: the ids of a process's tenants never clash)."""
        claim = self._claim
        if claim is not None and claim.tenant == tenant and claim.next < claim.end:  # drawn before the commit
            seq = claim.next
            claim.next += 1
            name = f"dlv_{_tag(tenant)}_{seq:07d}"
            if seq in claim.flown and tenant not in self._muted:
                self._early[name] = (tenant, claim.at)
        else:
            seq = self._seqs.get(tenant, 0) + 1
            self._seqs[tenant] = seq
            if tenant not in self._muted:
                self._batch.seqs.add(tenant)
            name = f"dlv_{_tag(tenant)}_{seq:07d}"
        gate = self._gate
        if gate is not None and gate[0] == tenant and not gate[1].done():  # made by an unanswered commit's hooks
            self._gates[name] = gate[1]
        return seq, name

    def changed(self, d: Delivery) -> None:
        """`DeliveryLog.changed`: the delivery is written (pending) or moved to the log (settled), with the next
        write or `LINGER` from now (a new one is in its unit of work's outbox entry until then; a settled one's
        attempt is in `flight`, so a kill before the write makes it a retry, at least once)."""
        if d.status != "pending" and self._gates:
            self._gates.pop(d.id, None)
        if d.tenant not in self._muted:
            self._batch.deliveries[d.id] = d
            self._soon(d.tenant)
            if d.seq > self._seqs.get(d.tenant, 0):  # a restored delivery: new numbers go on after it
                self._seqs[d.tenant] = d.seq
                self._batch.seqs.add(d.tenant)

    async def started(self, d: Delivery, n: int, at: float) -> str | None:
        """`DeliveryLog.started`: the attempt is recorded before its request goes out; the first attempt of a
        delivery its commit recorded (`outbox`) goes at once (the commit checked the lease)."""
        if d.tenant in self._muted:
            return DROPPED
        if self._gates and (gate := self._gates.pop(d.id, None)) is not None:  # its commit's reply first
            if not gate.done():
                await asyncio.wait((gate,))  # not cancelled with this attempt: other waiters share it
            landed = landed_as(gate)
            if landed is None or landed < 0 or d.tenant in self._muted:  # not landed: the webhook never goes
                return DROPPED
        if n == 0 and self._early:
            early = self._early.pop(d.id, None)
            if early is not None and wall_monotonic() - early[1] <= LINGER:
                self._flying[d.id] = (d, at)
                return None
        self._batch.flights[d.id] = (d, n, at)
        self._mark(d.tenant)
        try:
            await self.flush()
        except PartlyUnwritten as exc:
            if d.tenant in exc.unwritten:
                return NOT_SENT
        except StateUnavailable:
            return NOT_SENT
        return DROPPED if d.tenant in self._muted else None  # refused: another worker owns the tenant now

    def scheduled(self, timer: Timer) -> None:
        """`JobLog.scheduled`."""
        if timer.tenant is not None and timer.tenant not in self._muted:
            self._batch.jobs[(timer.tenant, timer.seq)] = timer
            self._mark(timer.tenant)

    def gone(self, timer: Timer) -> None:
        """`JobLog.gone`: fired or cancelled."""
        if timer.tenant is not None and timer.tenant not in self._muted:
            self._batch.jobs[(timer.tenant, timer.seq)] = None
            self._mark(timer.tenant)

    def chaos_changed(self, tenant: str) -> None:
        """The tenant's own delivery faults were set or cleared (`PUT`/`DELETE /_emulator/chaos?tenant=`): written at
        once (the control request awaits `flush`), fenced as every write of the tenant, so the worker that takes the
        tenant over (`adopt`) applies them too."""
        if tenant not in self._muted:
            self._batch.chaos.add(tenant)
            self._mark(tenant)

    def outbox(self, tx: Tx[Any], translate: Translate | None) -> str | None:
        """`Store.outbox`: the unit's webhooks, worked out now (the vendor's translation draws event ids, so the
        commit keeps the counters that include them) and kept on the `Tx` for the commit hooks; the entry the
        commit writes, or None when the unit sends nothing."""
        per_event = [list(translate(tx, event)) if translate is not None else [] for event in tx.events]
        sent = [o for outs in per_event for o in outs] + tx.outbound
        if not sent:
            tx.outboxed = (None, per_event)
            return None
        tenant = tx.tenant
        # vars(o), not asdict(o): the same JSON without a deep copy of each payload (a plain JSON tree, see
        # core.webhooks) that was the costliest step of a Redis-backed commit
        out = [vars(o) for o in sent]
        if tenant in self._muted:  # being adopted or dropped here: numbered as they are made, as before
            entry = _dumps({"vendor": tx.vendor, "out": out})
        else:  # the deliveries' numbers, drawn now: the commit records as started the first attempt of each one
            # that will start at once (nothing ahead of it on its key, no delivery faults that may hold it back)
            first = self._seqs.get(tenant, 0) + 1
            count = len(sent)
            self._seqs[tenant] = first + count - 1
            dispatcher = self.dispatcher
            calm = not dispatcher.chaos.active and tenant not in dispatcher.tenant_chaos
            flown: list[int] = []
            if calm:
                vendor = tx.vendor
                ahead: set[tuple[str, str]] = set()
                for seq, o in enumerate(sent, first):
                    key = (o.url, o.subject)
                    if key not in ahead and not dispatcher.queued(o.url, vendor, tenant, o.subject):
                        flown.append(seq)
                    ahead.add(key)
            args: list[Any] = [len(flown)]
            if flown:
                flight = _dumps_bytes({"n": 0, "at": self.scheduler.now(tenant)})
                tag = _tag(tenant)
                for seq in flown:
                    args += (f"dlv_{tag}_{seq:07d}", flight)
            self._drawn = Drawn(tx, tenant, first, count, frozenset(flown), args)
            entry = _dumps({"vendor": tx.vendor, "out": out, "seq": first})
        tx.outboxed = (entry, per_event)
        return entry

    def drawn(self, tx: Tx[Any]) -> Drawn | None:
        """`Numbering.drawn`: the numbers `outbox` drew for the unit (its commit writes their first attempts)."""
        drawn, self._drawn = self._drawn, None
        return drawn if drawn is not None and drawn.tx is tx else None

    def refused(self, drawn: Drawn) -> None:
        """`Numbering.refused`: the commit wrote nothing; its numbers are free again unless more were drawn since
        (a gap then: numbers never repeat)."""
        if self._seqs.get(drawn.tenant) == drawn.first + drawn.count - 1:
            self._seqs[drawn.tenant] = drawn.first - 1

    def hand_out(self, drawn: Drawn | None) -> None:
        """`Numbering.hand_out`: while the commit hooks run, the tenant's deliveries take the drawn numbers, in the
        order of the outbox entry's webhooks (the order `Emulator._commit` makes them in)."""
        if drawn is None:
            self._claim = None
            return
        self._claim = _Claim(drawn.tenant, drawn.first, drawn.first + drawn.count, drawn.flown, wall_monotonic())

    def gate(self, tenant: str, reply: asyncio.Future[Any] | None) -> None:
        """`Numbering.gate`: while the hooks of a pipelined commit run, its deliveries are tied to its reply."""
        self._gate = None if reply is None else (tenant, reply)

    def lost(self, tenant: str) -> None:
        """`Numbering.lost`: a pipelined commit of the tenant did not land. Dropped as on a lost lease (a fleet's
        `lose`, else `drop`): its timers, deliveries (the gated ones never attempted), marks and cached state go;
        the next request adopts it afresh (under the same lease when Redis only blinked)."""
        if self.fenced is not None:
            self.fenced(tenant)
        else:
            self.drop(tenant)

    def cleared(self, tenant: str, entry: str) -> None:
        """The commit hooks queued the entry's webhooks: it goes in the write of their deliveries (the same batch,
        so the same script, after them)."""
        if tenant not in self._muted:
            self._batch.cleared.append((tenant, entry))
            self._soon(tenant)

    def _mark(self, tenant: str) -> None:
        """A mark that is written at once (an attempt about to start, a job, a reset)."""
        self._batch.clocks.add(tenant)
        if self._next is None or not self._due:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop (a tool building an Emulator): the next flush writes it
                return
            if self._next is None:
                self._next = loop.create_future()
            self._go(loop)

    def _soon(self, tenant: str) -> None:
        """A mark that rides with the next write, or is written `LINGER` from now: what a delivery does needs no
        round trip of its own (the request that made it is answered once its commit wrote the outbox entry)."""
        self._batch.clocks.add(tenant)
        if self._next is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            self._next = loop.create_future()
            if self._task is None:  # else the writer sets the timer when it is done
                self._linger = loop.call_later(LINGER, self._lingered)

    def _lingered(self) -> None:
        self._linger = None
        if self._next is not None and not self._due:
            self._go(asyncio.get_running_loop())

    def _go(self, loop: asyncio.AbstractEventLoop) -> None:
        """Write what is marked now: the writer starts (or goes on once its write is done)."""
        self._due = True
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        if self._task is None:
            self._task = loop.create_task(self._write_all())

    # -- writing ------------------------------------------------------------------------------------

    def _redis(self) -> aioredis.Redis:
        if self._client is None:
            self._client = aioredis.Redis.from_url(self.url, decode_responses=True)
        return self._client

    async def flush(self) -> None:
        """Wait until everything marked so far is written; `StateUnavailable` when Redis did not take it (the
        marks stay, for the next write)."""
        if not self._due and (self._next is not None or self._batch):  # what lingers goes now
            self._mark(next(iter(self._batch.clocks), ""))
        waiting = self._next or self._writing
        if waiting is not None:
            await asyncio.shield(waiting)

    async def answered(self) -> None:
        """Wait until what must be in Redis before a request is answered is written: the marks written at once
        (its jobs); not what lingers (its deliveries and their outbox entry's removal: the entry its commit wrote
        holds them). `StateUnavailable` as `flush`."""
        waiting = self._next if self._due else self._writing
        if waiting is not None:
            await asyncio.shield(waiting)

    async def _write_all(self) -> None:
        try:
            while self._next is not None and self._due:
                done, self._next = self._next, None
                self._due = False
                batch, self._batch = self._batch, _Batch()
                self._writing = done
                try:
                    await self._write(batch)
                except PartlyUnwritten as exc:  # the other tenants' parts are written: kept only what failed
                    LOG.warning(
                        "runtime state of tenant(s) %s not written to Redis (kept for the next write): %s",
                        ", ".join(map(repr, sorted(exc.unwritten))),
                        exc.reason,
                    )
                    self._batch.merge(batch.part(set(exc.unwritten)))
                    done.set_exception(exc)
                    done.exception()
                except (RedisError, OSError) as exc:
                    LOG.warning("runtime state not written to Redis (kept for the next write): %s", exc)
                    self._batch.merge(batch)
                    done.set_exception(StateUnavailable(UNAVAILABLE))
                    done.exception()  # retrieved: whoever awaits it still gets it
                else:
                    self.writes += 1
                    done.set_result(None)
                finally:
                    self._writing = None
        finally:
            self._task = None
            if self._next is not None and not self._due and self._linger is None:  # marked meanwhile: lingers
                self._linger = asyncio.get_running_loop().call_later(LINGER, self._lingered)

    async def _write(self, batch: _Batch) -> None:
        if self._inflight:  # what the batch holds may come of those commits' hooks: it lands after them, or not at all
            self._taken = batch
            try:
                await asyncio.wait(list(self._inflight))  # each failed one dropped its tenant (`lost`), in `batch` too
            finally:
                self._taken = None
        ops: dict[str, _Ops] = {}

        def of(tenant: str) -> _Ops:
            got = ops.get(tenant)
            if got is None:
                got = ops[tenant] = _Ops()
            return got

        for tenant, part in sorted(batch.dropped):
            of(tenant).x.append(PARTS.index(part) + 2)
        early, flying = self._early, self._flying
        for d in batch.deliveries.values():
            # pending: (re)written; settled: to the log; either way its attempt settled (a later one follows). Records
            # go as UTF-8 bytes, as the lean client sends them (no text decoded only to be encoded again)
            pending = d.status == "pending"
            ops_of = of(d.tenant)
            (ops_of.p if pending else ops_of.s).extend((d.id, _dumps_bytes(d.persist())))
            if early or flying:  # a delivery whose first attempt its commit recorded as started
                name = d.id
                if early.pop(name, None) is not None:
                    pass  # not started yet: its record deletes the commit's flight, so its attempt writes its own
                elif (went := flying.get(name)) is not None:
                    if pending and not d.attempts:  # the attempt is still out: recorded again after the record
                        ops_of.f.extend((name, _dumps_bytes({"n": 0, "at": went[1]})))
                    else:
                        del flying[name]
        for d, n, at in batch.flights.values():
            of(d.tenant).f.extend((d.id, _dumps_bytes({"n": n, "at": at})))
        for (tenant, seq), timer in batch.jobs.items():
            if timer is None:
                of(tenant).k.append(seq)
            else:
                assert timer.job is not None
                job = {"due": timer.when, "vendor": timer.vendor, "kind": timer.job["kind"], "args": timer.job["args"]}
                of(tenant).j.extend((seq, _dumps({**job, "seq": seq})))
        if self.scheduler.clock.virtual:
            for tenant in sorted(batch.clocks):
                if tenant:
                    of(tenant).clock = repr(self.scheduler.now(tenant))
        # the entries' delivery numbers go with their removal: the commit that pushed an entry did not write them
        for tenant in sorted(batch.seqs | {tenant for tenant, _ in batch.cleared}):
            of(tenant).last = self._seqs.get(tenant, 0)
        for tenant in sorted(batch.chaos):
            own = self.dispatcher.tenant_chaos.get(tenant)
            if own is None:
                of(tenant).h = (2,)
            else:
                of(tenant).h = (1, _dumps({"config": own.config.model_dump(), "expires_at": own.expires_at}))
        for tenant, entry in batch.cleared:
            ops_of = of(tenant)
            ops_of.r.extend(_cleared(entry))
            ops_of.rn += 1
        if not ops:
            return
        fence = self.fence
        leases = {t: "" if fence is None or t in self._held else (fence(t) or "-") for t in ops}
        calls = [
            (_WRITE_SHA, 1 + len(PARTS), *_script_keys(tenant), leases[tenant], self.log_size, *args.args())
            for tenant, args in ops.items()
        ]
        done = await self._send([("EVALSHA", *call) for call in calls])
        again = [i for i, reply in enumerate(done) if _noscript(reply)]
        if again:  # a Redis that never saw the script (or was restarted): those EVALSHAs did not run; EVAL sends it
            for i, reply in zip(again, await self._send([("EVAL", _WRITE, *calls[i][1:]) for i in again]), strict=True):
                done[i] = reply
        failed = {tenant: reply for tenant, reply in zip(leases, done, strict=True) if isinstance(reply, Exception)}
        for (tenant, lease), written in zip(leases.items(), done, strict=True):
            if tenant in failed:
                continue
            if not written and lease != "-" and self.fenced is not None:
                LOG.warning("tenant %r: runtime write refused (another worker holds its lease); dropped here", tenant)
                self.fenced(tenant)
        if failed:  # an error reply (OOM, BUSY, a key of the wrong type) ran nothing of that tenant's script
            raise PartlyUnwritten(frozenset(failed), str(next(iter(failed.values()))))

    async def _send(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """The replies to the commands, sent in one write, in order, an error reply (`ResponseError`) in its place;
        `RedisError` when Redis cannot be reached. On the lean client (`core.resp`) when hiredis is there: redis-py's
        pipeline costs about 1 M instructions a request on the owner's path (docs/scaling.md, "Measured (phase 3)")."""
        if LeanRedis is not None:
            lean = self._lean
            if lean is None:
                lean = self._lean = LeanRedis(self.url)
            return await lean.pipeline(commands, raise_on_error=False)
        pipe = self._redis().pipeline(transaction=False)  # pragma: no cover - without hiredis
        for command in commands:  # pragma: no cover
            pipe.execute_command(*command)
        return await pipe.execute(raise_on_error=False)  # pragma: no cover

    async def close(self) -> None:
        """Write what is marked (logged if Redis does not take it) and let go of the connections."""
        try:
            await self.flush()
        except StateUnavailable:
            LOG.error("runtime state of the last moments not written to Redis (it did not answer)")
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        if self._lean is not None:
            self._lean.close()
            self._lean = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- adopt, drop, reset -------------------------------------------------------------------------

    async def adopt(self, tenant: str) -> dict[str, int]:
        """Load the tenant's runtime from Redis into this process and go on with it (module docstring); how many
        jobs, pending and settled deliveries, lost attempts and replayed webhooks it found."""
        k = keys(tenant)
        self._muted.add(tenant)  # what this process still runs of the tenant gives way to what Redis holds
        self._held.discard(tenant)
        self.scheduler.cancel_tagged(None, tenant)
        self.dispatcher.reset(None, tenant)
        pipe = self._redis().pipeline(transaction=False)
        pipe.hgetall(k["dlv"])
        pipe.hgetall(k["flight"])
        pipe.lrange(k["log"], 0, -1)
        pipe.hgetall(k["jobs"])
        pipe.get(k["clock"])
        pipe.get(k["seq"])
        pipe.lrange(k["outbox"], 0, -1)
        pipe.get(k["chaos"])
        try:
            pending, flights, log, jobs, clock, seq, outbox, chaos = await pipe.execute()
        except RedisError as exc:
            raise StateUnavailable(UNAVAILABLE) from exc
        self._muted.discard(tenant)
        line = self.scheduler.clock_of(tenant)
        if clock and isinstance(line, VirtualClock):
            line.set(max(line.now(), float(clock)))
        found = {"jobs": 0, "pending": 0, "settled": 0, "lost": 0, "replayed": 0}
        own = _parsed(tenant, "its own delivery faults", chaos, _chaos) if chaos else None
        if own is not None:  # before any delivery of it is submitted (the outbox's replay, below)
            self.dispatcher.tenant_chaos[tenant] = own
        # jobs: scheduled again at their due times, in their order, under this process's numbers
        restored = sorted(
            (job for raw in jobs.values() if (job := _parsed(tenant, "a job", raw, _job)) is not None),
            key=lambda j: (j["due"], j["seq"]),
        )
        self._batch.forget(tenant)
        self._unflown(tenant)
        self._batch.dropped.add((tenant, "jobs"))  # the old numbers go; `scheduled` writes the new ones after
        self._mark(tenant)
        self.scheduler.restore([{**j, "tenant": tenant} for j in restored])
        found["jobs"] = len(restored)
        # the settled log, then the pending deliveries (written again: lost attempts, no flight left)
        settled = [
            d for raw in log if (d := _parsed(tenant, "a logged delivery", raw, SnapshotDelivery.model_validate_json))
        ]
        self.dispatcher.restore_log(settled)
        found["settled"] = len(settled)
        numbered = [int(seq) if seq and seq.isdigit() else 0, *(d.seq for d in settled)]
        entries: list[dict[str, Any]] = []
        for raw in pending.values():
            snap = _parsed(tenant, "a pending delivery", raw, SnapshotDelivery.model_validate_json)
            if snap is None:
                continue
            entry = snap.model_dump()
            started = (
                _parsed(tenant, "a started attempt", flights.get(snap.id), _flight) if snap.id in flights else None
            )
            if started is not None and not any(a["n"] == started["n"] for a in entry["attempts"]):
                entry["attempts"].append(
                    asdict(Attempt(n=started["n"], at=started["at"], url=snap.url, headers={}, error=LOST))
                )
                found["lost"] += 1
            entries.append(entry)
        entries.sort(key=lambda e: e["seq"])
        boxed: list[tuple[str, Any]] = []
        for raw in outbox:
            self._batch.cleared.append((tenant, raw))  # removed once its deliveries are written
            entry_data = _parsed(tenant, "an outbox entry", raw, json.loads)
            if isinstance(entry_data, dict):
                boxed.append((str(entry_data.get("vendor")), entry_data))
                first, out = entry_data.get("seq"), entry_data.get("out")
                if isinstance(first, int) and isinstance(out, list):  # the numbers its commit drew
                    numbered.append(first + len(out) - 1)
        self._seqs[tenant] = max(numbered + [e["seq"] for e in entries])  # numbers go on, never repeat
        self.dispatcher.restore({"pending": entries})
        found["pending"] = len(entries)
        # the outbox: webhooks a unit of work committed and no delivery was written for. A delivery its commit
        # numbered and recorded as started (`rt:flight`) and that has no record of its own went out, or was about
        # to, when the process stopped: that attempt is recorded as lost and it is sent again as a retry, under its
        # number, in order on its key; an entry without numbers (or a webhook whose flight is gone) is replayed
        mine = [d for d in self.dispatcher.deliveries() if d.tenant == tenant]
        known = {(d.vendor, d.event_id, d.url) for d in mine}
        ids = {d.id for d in mine}
        tag = _tag(tenant)
        for vendor, entry_data in boxed:
            first = entry_data.get("seq")
            for i, out in enumerate(entry_data.get("out", [])):
                try:
                    outbound = Outbound(**out)
                except TypeError:
                    LOG.warning("tenant %r: an outbox webhook cannot be read; left out", tenant)
                    continue
                name = f"dlv_{tag}_{first + i:07d}" if isinstance(first, int) else None
                if name is not None and name in ids:
                    continue  # its record was written: restored above (or settled)
                started = (
                    _parsed(tenant, "a started attempt", flights[name], _flight)
                    if name is not None and name in flights
                    else None
                )
                if started is None and (vendor, outbound.event_id, outbound.url) in known:
                    continue
                if name is not None:  # under the number its commit drew for it
                    self._claim = _Claim(tenant, first + i, first + i + 1)
                try:
                    d = self.dispatcher.submit(vendor, tenant, outbound)
                finally:
                    self._claim = None
                if started is not None and d.status == "pending":  # (not dropped by the pending caps)
                    d.created_at = min(d.created_at, started["at"])  # the pump takes it after this: a retry
                    d.attempts.append(Attempt(n=started["n"], at=started["at"], url=d.url, headers={}, error=LOST))
                    found["lost"] += 1
                known.add((vendor, outbound.event_id, outbound.url))
                found["replayed"] += 1
        # no await from the restore on: the caller (a fleet's claim) marks the tenant owned before any timer of it
        # fires or anything of it is written (the marks go out in the next write, under its lease)
        if found["lost"] or found["replayed"] or found["pending"] or found["jobs"]:
            LOG.info("tenant %r adopted: %s", tenant, found)
        return found

    def drop(self, tenant: str) -> None:
        """Forget the tenant here, writing nothing: its timers cancelled, its deliveries stopped (an attempt in
        flight ends unrecorded), its cached state gone."""
        self._muted.add(tenant)
        self._held.discard(tenant)
        self._batch.forget(tenant)
        if self._taken is not None:
            self._taken.forget(tenant)
        self._unflown(tenant)
        self._seqs.pop(tenant, None)
        self.scheduler.cancel_tagged(None, tenant)
        self.scheduler.forget(tenant)
        self.dispatcher.reset(None, tenant)
        self.store.forget(tenant)

    def _unflown(self, tenant: str) -> None:
        """Forget which of the tenant's deliveries went out on their commit's record (`started`): they are gone here
        (dropped, reset, adopted again)."""
        if self._early:
            self._early = {k: v for k, v in self._early.items() if v[0] != tenant}
        if self._flying:
            self._flying = {k: v for k, v in self._flying.items() if v[0].tenant != tenant}
        if self._gates:
            mine = f"dlv_{_tag(tenant)}_"
            self._gates = {k: v for k, v in self._gates.items() if not k.startswith(mine)}

    def hold(self, tenants: Iterable[str]) -> None:
        """What this process runs of the tenants does nothing more from now on (an attempt is not sent, nothing new
        is marked); what was marked already is still written. A fleet's restore, for the tenants this worker does
        not hold a lease on: written here (whoever holds their lease: a restore writes every tenant, as one
        server's does), then handed over (`core.fleet_control`), and `drop` or `adopt` ends it: the restore's
        unchecked writes never outlive it (a write that failed is not kept for later, when the owners have read
        the tenant afresh)."""
        self._muted.update(tenants)
        self._held.update(tenants)

    def held(self) -> list[str]:
        """The tenants `hold` holds now."""
        return sorted(self._held)

    def reset(self, tenants: Iterable[str], vendor: str | None) -> None:
        """After a reset of `vendor` (every vendor when None) for `tenants`: their runtime keys are written again
        from what is left here (nothing when every vendor was reset)."""
        for tenant in tenants:
            self._batch.forget(tenant)
            self._unflown(tenant)
            self._batch.dropped.update((tenant, part) for part in PARTS)
            self._mark(tenant)
            if vendor is None:  # the tenant starts again: so do its delivery numbers
                self._seqs.pop(tenant, None)
                continue
            self._batch.seqs.add(tenant)
            self._batch.chaos.add(tenant)  # a vendor's reset keeps the tenant's own faults (`dispatcher.reset`)
            for timer in self.scheduler.pending([tenant]):
                if timer.job is not None:
                    self._batch.jobs[(tenant, timer.seq)] = timer
            for d in self.dispatcher.deliveries():
                if d.tenant == tenant:
                    self._batch.deliveries[d.id] = d


@functools.lru_cache(maxsize=4096)
def _tag(tenant: str) -> str:
    return hashlib.blake2b(tenant.encode(), digest_size=6).hexdigest()


def _noscript(reply: Any) -> bool:
    """Whether a reply is Redis's NOSCRIPT: the script it names is not loaded, so it did not run."""
    return isinstance(reply, NoScriptError) or (isinstance(reply, ResponseError) and str(reply).startswith("NOSCRIPT"))


def _parsed(tenant: str, what: str, raw: Any, parse: Callable[[Any], Any]) -> Any:
    """`parse(raw)`, or None with a warning: a corrupt entry is left out, never stops the tenant."""
    try:
        return parse(raw)
    except (ValueError, TypeError, KeyError, ValidationError) as exc:
        LOG.warning("tenant %r: %s in Redis cannot be read and is left out: %s", tenant, what, exc)
        return None


def _job(raw: str) -> dict[str, Any]:
    job = json.loads(raw)
    due, seq, kind, vendor, args = job["due"], job["seq"], job["kind"], job["vendor"], job["args"]
    if not (isinstance(due, int | float) and isinstance(seq, int) and isinstance(kind, str) and isinstance(args, dict)):
        raise ValueError(f"not a job: {raw[:80]!r}")
    return {"due": float(due), "seq": seq, "kind": kind, "vendor": str(vendor), "args": args}


def _chaos(raw: str) -> TenantChaos:
    got = json.loads(raw)
    expires = got["expires_at"]
    if not (expires is None or isinstance(expires, int | float)):
        raise ValueError(f"not an expiry: {expires!r}")
    return TenantChaos(ChaosConfig.model_validate(got["config"]), None if expires is None else float(expires))


def _flight(raw: str) -> dict[str, Any]:
    got = json.loads(raw)
    n, at = got["n"], got["at"]
    if not (isinstance(n, int) and isinstance(at, int | float)):
        raise ValueError(f"not an attempt: {raw[:80]!r}")
    return {"n": n, "at": float(at)}
