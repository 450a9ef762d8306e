"""Tenant-owning workers (`--state redis://`, `--workers N`, replicas): who serves which tenant (docs/scaling.md).

Every tenant name is owned by exactly one live worker at a time: a lease in Redis, `cxemu:{<tenant>}:owner` =
`<worker id>:<fencing token>` with a time to live (`lease_ttl`), the token from `INCR cxemu:{<tenant>}:fence`.
The owner serves the tenant's requests and runs its units of work, timers and deliveries with the in-process
kernel, exactly as one server does; its cache is the tenant's state (`Store.authoritative`: no read before a
unit of work), and each commit checks the lease is still its own (`Store.fence`), so a worker that lost a
tenant can never write it.

Any worker accepts any request. A store access for a tenant this worker does not own raises `Misrouted` before
any effect (`Store`); `plugin.vendor_endpoint` (vendor requests) and `core.fleet_control.FleetControl`
(tenant-scoped control-plane requests) then call `Fleet.serve`: a tenant nobody owns (or whose owner died: its
lease lapses within the ttl) is claimed here, its state read from Redis (`Emulator.adopt`) and the request
served; a tenant a live worker owns is forwarded to that worker's advertised address (`x-cxemu-forwarded:
<worker id>`), its answer returned verbatim. A forwarded request reaching a worker that no longer owns the
tenant gets 421 (with `x-cxemu-misrouted`), and the forwarder resolves the owner once more.

Membership: `cxemu:workers` (hash: worker id -> JSON with the advertised address, pid and last beat, wall clock).
Every `lease_ttl / 3` a worker beats and renews the leases it holds (one pipeline); a lease found in other hands
is dropped here (`Emulator.drop`: the tenant's slots, timers and deliveries forgotten, Redis untouched). A
worker whose beat is older than the ttl counts as gone. A clean stop releases every lease and the entry, and
counts a hand-off (`cxemu:handoffs`).

The sweeper (`sweep`, after every beat, from what the beat's pipeline read): when the registry shows a
gone worker, or the hand-off counter moved (a clean stop, a lease that lapsed under its holder), or every
`BACKSTOP` rounds regardless, a worker reads the tenant index (`cxemu:tenants`) and each tenant's lease, and
claims the free ones it is the preferred live worker for (highest BLAKE2b of worker id and tenant name among the
live workers: rendezvous hashing, so a dead worker's tenants spread over the live ones and no two sweepers rush
at one tenant); a tenant still free at its next round is claimed by any sweeper (its preferred worker may be gone
too). The claim script decides every race, so a tenant is adopted once. Adopted, its timers and pending
deliveries go on with no request. A gone worker's entry is removed once no lease of it is left.

Fleet-wide control requests (no tenant) that the pytest plugin and scenario runs use are fanned out to every
live worker and their answers merged (`core.fleet_control.FANNED`); the others show what the worker that answers
holds. A worker that stops beating before it answers (frozen: SIGSTOP, a stalled host) is given up as not answering
once its beat is older than the ttl (`_ask`), not after the forward timeout. A read of the fleet's feed first has
every live worker mirror what it holds (`mirror_feed`); the beat keeps every worker mirroring entries as they come
while a stream of it is open anywhere (`core.fleetfeed.WATCH`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlencode

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from emulator.core.chaos import ChaosConfig
from emulator.core.errors import ConfigError
from emulator.core.fleet_control import (
    FEED_ASK,
    FORWARDED,
    FORWARDED_BY,
    MISROUTED,
    FleetUnavailable,
    _gone,
    _replay,
    misrouted,
)
from emulator.core.fleetfeed import WATCH
from emulator.core.httpclient import ConnectFailed, HttpClient, HttpError
from emulator.core.rediskeys import INDEX, PREFIX, tenant_key, unmember
from emulator.core.settings import shown_state
from emulator.core.store import Misrouted

if TYPE_CHECKING:
    from emulator.core.runtime import Emulator

LOG = logging.getLogger(__name__)

__all__ = ["CHAOS", "WORKERS", "Fleet", "FleetUnavailable", "Misrouted", "lease_worker", "new_worker_id", "preferred"]

WORKERS = f"{PREFIX}:workers"
"""Hash: worker id -> `{"address", "pid", "beat"}` (JSON) of every worker of the fleet."""
HANDOFFS = f"{PREFIX}:handoffs"
"""Counter: `INCR`ed when tenants may have been left free without their worker dying (a clean stop, a lease that
lapsed under a live worker); sweepers sweep when it moves."""
CHAOS = f"{PREFIX}:chaos"
"""Hash: `chaos` = the global delivery faults last set through the control plane (`ChaosConfig` JSON), `version` =
how many times they were set. Every worker applies them at start and whenever a beat sees a newer version, so a
worker started later (or one a fan-out missed) faults deliveries as the others do."""
BACKSTOP = 30
"""Sweep rounds (each about `lease_ttl / 3`) between sweeps of the whole index when nothing asked for one."""
HOP = frozenset(
    b"connection keep-alive proxy-connection transfer-encoding te trailer upgrade content-length host date "
    b"server".split()
)
"""Headers that belong to one connection (or that the answering server writes itself): never passed on."""
LAPSE = 0.05
"""Seconds waited past a lease's expiry before a lease still there is taken as renewed (Redis expires a key by its
own clock, read once per command)."""
FORWARD_SLACK = 90.0
"""Seconds a forwarded request may take past the request timeout (long polls: `deliveries?wait=`)."""


class StoppedBeating(HttpError):
    """A worker asked in a fan-out stopped beating before it answered (`Fleet._ask`): taken for gone."""


# KEYS: owner, fence; ARGV: worker id, ttl ms. Returns {1, lease} when claimed, else {0, owner's lease, its pttl}.
_CLAIM = """
local cur = redis.call('GET', KEYS[1])
if cur then return {0, cur, redis.call('PTTL', KEYS[1])} end
local lease = ARGV[1] .. ':' .. redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], lease, 'PX', ARGV[2])
return {1, lease, tonumber(ARGV[2])}
"""

# KEYS: owner; ARGV: the lease held, ttl ms. 1 when still held (and extended), else 0.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: the registry; ARGV: a gone worker's id, its entry as read. Removed only if unchanged (it did not come back).
_FORGET = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
"""

_ids = itertools.count(1)


def new_worker_id() -> str:
    """`<host>-<pid>-<n>`: unique in the fleet while the process lives (never in any body)."""
    return f"{socket.gethostname().replace(':', '-')}-{os.getpid()}-{next(_ids)}"


def lease_worker(lease: str) -> str:
    return lease.rpartition(":")[0]


def preferred(tenant: str, workers: set[str]) -> str:
    """The worker a free tenant goes to first: the highest BLAKE2b of (worker id, tenant name) among `workers`
    (rendezvous hashing: spread evenly, and each tenant moves only when its own preferred worker comes or goes)."""
    return max(workers, key=lambda w: hashlib.blake2b(f"{w}\0{tenant}".encode(), digest_size=8).digest())


IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
"""Methods a forward may send to the next owner after the first failed mid-request (as a proxy such as nginx
retries only these once a request was sent: sending a POST twice could apply it twice)."""


class Fleet:
    """This worker's membership, leases and forwarding; see the module docstring."""

    def __init__(self, emu: Emulator, url: str, ttl: float, advertise: str | None = None) -> None:
        self.emu = emu
        self.url = url
        self.ttl = ttl
        self.id = new_worker_id()
        self.address = advertise
        """`host:port` other workers forward to: `--advertise`, else the private listener (`listening`)."""
        self.owned: dict[str, str] = {}
        """Tenant name -> the lease this worker holds on it."""
        self.owners: dict[str, tuple[str, str]] = {}
        """Tenant name -> (worker, address) last seen owning it elsewhere (forwards need no Redis read)."""
        self._claims: dict[str, asyncio.Future[None]] = {}
        self._serving: dict[str, int] = {}
        """Tenant name -> requests being served here for it now."""
        self.unreachable: set[str] = set()
        """Workers a forward could not reach: taken for dead (their leases lapse within the ttl)."""
        self._client: aioredis.Redis | None = None
        self._scripts: dict[str, Any] = {}
        self._task: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._rounds = 0
        self._seen: tuple[dict[str, str], str | None] | None = None
        """The registry and the hand-off counter as the last beat read them."""
        self._handoffs: str | None = None
        """The hand-off counter as this worker's sweeper last saw it."""
        self._passed: set[str] = set()
        """Free tenants the last sweep left to their preferred worker: any sweeper claims them at the next."""
        self.swept = 0
        """Tenants this worker's sweeper claimed (logs, tests)."""
        self._chaos_version = 0
        """The version of the fleet's global faults (`CHAOS`) this worker applied last."""
        self.http = HttpClient(limit=512, per_target=512, excerpt=256 * 1024 * 1024, headers=True)
        self.timeout = emu.settings.request_timeout + FORWARD_SLACK
        self.adopting: dict[str, str] = {}
        """Tenant name -> the lease just claimed, while the tenant is being adopted (its runtime writes hold it)."""
        store = emu.store
        store.fence = self.owned.get
        store.authoritative = self.owned.__contains__
        store.fenced = self.refused
        if emu.runtime is not None:  # the runtime's writes are fenced as the commits are
            emu.runtime.fence = self.lease
            emu.runtime.fenced = self.lose

    # -- Redis ------------------------------------------------------------------------------------

    def redis(self) -> aioredis.Redis:
        client = self._client
        if client is None:
            wait = max(5.0, self.ttl)  # no fleet operation waits on Redis for ever (a restarted Redis, a cut link)
            client = self._client = aioredis.Redis.from_url(
                self.url, decode_responses=True, socket_timeout=wait, socket_connect_timeout=wait
            )
            for name, text in (("claim", _CLAIM), ("renew", _RENEW), ("release", _RELEASE), ("forget", _FORGET)):
                self._scripts[name] = client.register_script(text)
        return client

    def _entry(self) -> str:
        return json.dumps({"address": self.address, "pid": os.getpid(), "beat": time.time()})

    # -- membership -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Join the fleet and start beating (a `ConfigError` of one line when Redis cannot be reached)."""
        try:
            pipe = self.redis().pipeline(transaction=False)
            pipe.hset(WORKERS, self.id, self._entry())
            pipe.hgetall(CHAOS)
            _, chaos = await pipe.execute()
        except RedisError as exc:
            raise ConfigError(f"state {shown_state(self.url)}: Redis did not answer ({exc})") from None
        self._apply_chaos(chaos)
        self._task = asyncio.create_task(self._beat(), name="cxemu-fleet-beat")

    async def stop(self) -> None:
        """Leave: stop beating and sweeping, release every lease held, remove this worker's entry, and count a
        hand-off when it held leases, so the other workers' sweepers claim its tenants (best effort)."""
        for task in (self._task, self._sweeper):
            if task is not None:
                task.cancel()
                await asyncio.wait([task], timeout=self.ttl)
        self._task = self._sweeper = None
        try:
            async with asyncio.timeout(max(5.0, self.ttl)):
                client = self.redis()
                pipe = client.pipeline(transaction=False)
                for tenant, lease in sorted(self.owned.items()):
                    await self._scripts["release"](keys=[tenant_key(tenant, "owner")], args=[lease], client=pipe)
                pipe.hdel(WORKERS, self.id)
                if self.owned:
                    pipe.incr(HANDOFFS)
                await pipe.execute()
        except (RedisError, TimeoutError) as exc:
            LOG.warning("fleet: could not release this worker's leases (%s); they lapse in %gs", exc, self.ttl)
        self.owned.clear()
        await self.http.close()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _beat(self) -> None:
        while True:
            try:
                await self.renew()
            except RedisError as exc:
                LOG.warning("fleet: heartbeat failed (%s)", exc)
            else:  # the sweep runs beside the beats (adopting many tenants must not delay the renewals)
                if self._seen is not None and (self._sweeper is None or self._sweeper.done()):
                    self._sweeper = asyncio.create_task(self._sweep(self._seen), name="cxemu-fleet-sweep")
            await asyncio.sleep(self.ttl / 3)

    async def renew(self) -> list[str]:
        """Beat and extend every lease held (one pipeline); drop the tenants whose lease another worker holds
        now. Returns those tenants."""
        held = sorted(self.owned.items())
        pipe = self.redis().pipeline(transaction=False)
        pipe.hset(WORKERS, self.id, self._entry())
        pipe.hgetall(CHAOS)  # the fleet's global faults, should a fan-out have missed this worker
        ms = int(self.ttl * 1000)
        feed = self.emu.fleet_feed
        watching = feed is not None and feed.readers > 0
        if watching:  # a stream of the fleet's feed is open here: every worker mirrors entries as they come
            pipe.set(WATCH, self.id, px=ms)
        if feed is not None:
            pipe.pttl(WATCH)
        for tenant, lease in held:
            await self._scripts["renew"](keys=[tenant_key(tenant, "owner")], args=[lease, ms], client=pipe)
        pipe.hgetall(WORKERS)  # for the sweeper: no round trip of its own
        pipe.get(HANDOFFS)
        done = await pipe.execute()
        self._apply_chaos(done[1])
        self._seen = (cast(dict[str, str], done[-2]), cast(str | None, done[-1]))
        first = 2 + watching
        if feed is not None:
            feed.beat(int(done[first]))
            first += 1
        lost = [tenant for (tenant, lease), kept in zip(held, done[first:-2], strict=True) if not kept]
        for tenant in lost:
            if self.owned.get(tenant) == dict(held)[tenant]:
                LOG.warning("fleet: lost the lease on tenant %r (it lapsed, or another worker took it)", tenant)
                self.lose(tenant)
        if lost:  # a lapsed lease may have left a tenant free: the sweepers look
            await self.redis().incr(HANDOFFS)
        return lost

    async def share_chaos(self, config: ChaosConfig) -> None:
        """Keep the global faults in Redis (a new version), for every worker: those fanned out to now, those a
        beat tells later, and those started later. `FleetUnavailable` when Redis does not answer."""
        text = config.model_dump_json()
        pipe = self.redis().pipeline(transaction=True)
        pipe.hincrby(CHAOS, "version", 1)
        pipe.hset(CHAOS, "chaos", text)
        try:
            version, _ = await pipe.execute()
        except RedisError as exc:
            raise FleetUnavailable(f"the fleet's Redis did not answer ({exc})") from exc
        self._chaos_version = max(self._chaos_version, int(version))

    def _apply_chaos(self, stored: dict[str, str]) -> None:
        """Apply the fleet's global faults when Redis holds a newer version than this worker applied (none stored:
        the configuration's `chaos` stays in force)."""
        try:
            version = int(stored.get("version", 0))
            if version <= self._chaos_version:
                return
            config = ChaosConfig.model_validate_json(stored["chaos"])
        except (KeyError, ValueError) as exc:
            LOG.warning("fleet: %s holds no valid faults (%s); ignored", CHAOS, exc)
            return
        self._chaos_version = version
        self.emu.dispatcher.set_chaos(config)

    def lose(self, tenant: str) -> None:
        """Stop serving a tenant here (its lease is gone): forget it locally, Redis untouched."""
        self.owned.pop(tenant, None)
        self.adopting.pop(tenant, None)
        self.emu.drop(tenant)

    def refused(self, tenant: str) -> None:
        """A commit of the tenant was refused by its fence: another worker took it over; dropped here once the unit
        of work has let go of it."""
        lease = self.owned.get(tenant)
        if lease is not None:
            LOG.warning(
                "fleet: a commit of tenant %r was refused (another worker holds its lease); dropped here", tenant
            )
            asyncio.get_running_loop().call_soon(self._refused, tenant, lease)

    def _refused(self, tenant: str, lease: str) -> None:
        if self.owned.get(tenant) == lease:
            self.lose(tenant)

    def lease(self, tenant: str) -> str | None:
        """The lease this worker holds on the tenant (also while adopting it), else None."""
        return self.owned.get(tenant) or self.adopting.get(tenant)

    async def workers(self) -> dict[str, dict[str, Any]]:
        """The live workers (beat within the ttl), by id."""
        raw = cast(dict[str, str], await self.redis().hgetall(WORKERS))
        now = time.time()
        out: dict[str, dict[str, Any]] = {}
        for worker, text in raw.items():
            try:
                entry = json.loads(text)
            except ValueError:
                continue
            beat = float(entry.get("beat", 0))
            if now - beat <= self.ttl:
                out[worker] = entry
            elif now - beat > 10 * self.ttl:  # long dead (killed, never removed itself): tidy the registry
                await self.redis().hdel(WORKERS, worker)
        return out

    # -- the sweeper ------------------------------------------------------------------------------

    async def _sweep(self, seen: tuple[dict[str, str], str | None]) -> None:
        try:
            await self.sweep(seen=seen)
        except (RedisError, OSError) as exc:
            LOG.warning("fleet: sweep failed (%s)", exc)

    async def sweep(self, *, force: bool = False, seen: tuple[dict[str, str], str | None] | None = None) -> list[str]:
        """One round of the sweeper (module docstring): claim and adopt the free tenants this worker should take;
        returns them. `seen`: the registry and the hand-off counter as a beat read them (else read now); nothing
        more is read when no worker is gone and nothing was handed off (`force` sweeps regardless)."""
        client = self.redis()
        if seen is None:
            pipe = client.pipeline(transaction=False)
            pipe.hgetall(WORKERS)
            pipe.get(HANDOFFS)
            seen = cast(tuple[dict[str, str], str | None], tuple(await pipe.execute()))
        raw, handoffs = seen
        now = time.time()
        live: set[str] = {self.id}
        gone: dict[str, str] = {}
        for worker, text in raw.items():
            try:
                beat = float(json.loads(text).get("beat", 0))
            except (ValueError, TypeError, AttributeError):
                continue
            if now - beat <= self.ttl:
                live.add(worker)
            elif worker != self.id:
                gone[worker] = text
        self._rounds += 1
        moved = handoffs != self._handoffs
        self._handoffs = handoffs
        if not (force or gone or moved or self._passed or self._rounds % BACKSTOP == 0):
            return []
        names = sorted({unmember(m)[1] for m in cast(set[str], await client.smembers(INDEX))} - self.owned.keys())
        pipe = client.pipeline(transaction=False)
        for tenant in names:
            pipe.get(tenant_key(tenant, "owner"))
        leases = cast(list[str | None], await pipe.execute()) if names else []
        free = [tenant for tenant, lease in zip(names, leases, strict=True) if lease is None]
        held = {lease_worker(lease) for lease in leases if lease is not None}
        ours = [t for t in free if t in self._passed or preferred(t, live) == self.id]
        self._passed = set(free) - set(ours)
        claimed: list[str] = []
        for tenant in ours:
            if not self.emu.started:  # stopping: nothing more is taken on
                break
            try:
                got, lease, _ = await self._claim(tenant)
                if got or lease_worker(lease) == self.id:
                    await self._adopt(tenant, lease)
            except Exception as exc:  # one tenant that cannot be adopted (Redis, a corrupt state) stops no other
                LOG.warning("fleet: sweep could not take tenant %r over (%s)", tenant, exc)
                continue
            if tenant in self.owned:
                claimed.append(tenant)
        for worker, text in gone.items():  # nothing of it left to take over: out of the registry
            if worker not in held:
                await self._scripts["forget"](keys=[WORKERS], args=[worker, text], client=client)
        if claimed:
            self.swept += len(claimed)
            LOG.info("fleet: took over %d tenant(s) left free: %s", len(claimed), ", ".join(map(repr, claimed[:10])))
        return claimed

    # -- leases -----------------------------------------------------------------------------------

    async def route(self, tenant: str) -> str | None:
        """Where the tenant is served: None when here (claimed and adopted now if it was free), else the live
        owner's address. Waits up to about one ttl for a dead owner's lease to lapse; `FleetUnavailable` past
        that."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 2 * self.ttl + 1
        while True:
            if tenant in self.owned:
                return None
            pending = self._claims.get(tenant)
            if pending is not None:
                await asyncio.shield(pending)
                continue
            known = self.owners.get(tenant)
            if known is not None:
                return known[1]
            try:
                claimed, lease, pttl = await self._claim(tenant)
            except RedisError as exc:
                raise FleetUnavailable(f"the fleet's Redis did not answer ({exc})") from exc
            if claimed or lease_worker(lease) == self.id:
                await self._adopt(tenant, lease)
                if tenant in self.owned:
                    return None
                continue  # another request's adoption of it failed here meanwhile: claim again
            worker = lease_worker(lease)
            entry = None if worker in self.unreachable else (await self.workers()).get(worker)
            if entry is not None and entry.get("address"):
                self.owners[tenant] = (worker, str(entry["address"]))
                return str(entry["address"])
            # the owner is gone (or cannot be reached): its lease lapses within the ttl
            left = deadline - loop.time()
            if left <= 0:
                raise FleetUnavailable(f"tenant {tenant!r}: its owner is gone and its lease did not lapse")
            await asyncio.sleep(min(max(pttl, 10) / 1000, left))  # until the lease lapses (its expiry is known)

    async def claim_free(self, tenant: str) -> bool:
        """Claim and adopt the tenant if nobody owns it (at start: its timers and deliveries go on); whether this
        worker owns it now."""
        try:
            claimed, lease, _ = await self._claim(tenant)
        except RedisError as exc:
            raise ConfigError(f"state {shown_state(self.url)}: Redis did not answer ({exc})") from None
        if claimed or lease_worker(lease) == self.id:
            await self._adopt(tenant, lease)
            return tenant in self.owned
        return False

    async def _claim(self, tenant: str) -> tuple[bool, str, int]:
        """The claim script: whether this worker took the tenant now, the lease that holds it, and its ms left."""
        got = await self._scripts["claim"](
            keys=[tenant_key(tenant, "owner"), tenant_key(tenant, "fence")],
            args=[self.id, int(self.ttl * 1000)],
            client=self.redis(),
        )
        return bool(int(got[0])), str(got[1]), int(got[2])

    async def _adopt(self, tenant: str, lease: str) -> None:
        """Adopt a tenant this worker has just claimed, once: requests that claimed it at the same moment (each got
        this worker's lease back from the claim script) wait for the one adoption."""
        pending = self._claims.get(tenant)
        if pending is not None:
            await asyncio.shield(pending)
            return
        if tenant in self.owned:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._claims[tenant] = done
        self.adopting[tenant] = lease
        try:
            await self.emu.adopt(tenant)
            if self.adopting.pop(tenant, None) == lease:  # not refused meanwhile (another worker took it)
                self.owned[tenant] = lease
                self.owners.pop(tenant, None)
        except BaseException:
            self.adopting.pop(tenant, None)
            with contextlib.suppress(RedisError):
                await self._scripts["release"](keys=[tenant_key(tenant, "owner")], args=[lease], client=self.redis())
            raise
        finally:
            del self._claims[tenant]
            done.set_result(None)

    async def reload(self) -> int:
        """Take every tenant this worker owns afresh from Redis (after another worker restored a snapshot there):
        each is forgotten here and adopted again, requests for it waiting meanwhile as for a claim. How many."""
        held = sorted(self.owned.items())
        for tenant, _ in held:
            del self.owned[tenant]
            self.emu.drop(tenant)
        stored = {t for vendor in self.emu.plugins for t in self.emu.store.known(vendor)}
        for tenant, lease in held:
            if tenant in stored:
                await self._adopt(tenant, lease)
            else:  # not in the snapshot: gone, as on one server (its lease too)
                await self._scripts["release"](keys=[tenant_key(tenant, "owner")], args=[lease], client=self.redis())
        return len(held)

    # -- forwarding -------------------------------------------------------------------------------

    async def serve(
        self, request: Request, tenant: str, here: Callable[[], Awaitable[Response]], *, let_go: bool = False
    ) -> tuple[Response, bool]:
        """Serve a request for `tenant` here (`here()`, after claiming it if free) or at its owner; returns the
        answer and whether it was served here. A forwarded request for a tenant owned elsewhere gets 421.
        `let_go` (vendor requests, whose `here()` is the whole handler): a lease claimed for this request is
        released after it when the tenant holds nothing here (a credential that names no tenant)."""
        forwarded = request.scope.get(FORWARDED_BY) is not None
        if forwarded and tenant not in self.owned and await self._free_or_owner(tenant) is not None:
            return misrouted(tenant), True
        for attempt in range(3):
            held = tenant in self.owned
            address = await self.route(tenant)
            if address is None:
                self._serving[tenant] = self._serving.get(tenant, 0) + 1
                try:
                    return await here(), True
                finally:
                    left = self._serving.pop(tenant) - 1
                    if left:
                        self._serving[tenant] = left
                    elif let_go and not held:  # claimed for this request: kept only if the tenant has anything
                        await self._let_go_if_empty(tenant)
            try:
                answer = await self.forward(request, address)
            except HttpError as exc:
                if not isinstance(exc, ConnectFailed) and request.method not in IDEMPOTENT:
                    # sent, and the owner failed before answering: it may have applied it, so it is not sent twice
                    self.owners.pop(tenant, None)
                    raise FleetUnavailable(
                        f"tenant {tenant!r}: its owner failed while serving this request ({exc}); it may or may "
                        "not have been applied"
                    ) from None
                LOG.info("fleet: forwarding tenant %r to %s failed (%s); taking it for gone", tenant, address, exc)
                known = self.owners.pop(tenant, None)
                if known is not None:
                    if len(self.unreachable) > 1000:
                        self.unreachable.clear()
                    self.unreachable.add(known[0])
                continue
            if answer.status_code == 421 and any(k == MISROUTED.encode() for k, _ in answer.raw_headers):
                self.owners.pop(tenant, None)  # the owner changed meanwhile: resolve it once more
                if attempt < 2:
                    continue
            return answer, False
        raise FleetUnavailable(f"tenant {tenant!r}: its owner could not be reached")

    def empty(self, tenant: str) -> bool:
        """Whether this worker holds nothing of the tenant: no state of any vendor, no timer, no delivery, no faults
        of its own, and (on the virtual clock) its time never moved."""
        emu = self.emu
        if any(emu.store.exists(slug, tenant) for slug in emu.plugins) or emu.scheduler.pending_count([tenant]):
            return False
        if tenant in emu.dispatcher.tenant_chaos:
            return False
        if emu.scheduler.clock.virtual and emu.scheduler.now(tenant) != emu.scheduler.start:
            return False
        return not any(d.tenant == tenant for d in emu.dispatcher.deliveries())

    async def _let_go_if_empty(self, tenant: str) -> None:
        """Release the lease a request claimed for a name that holds nothing (a credential naming no tenant, a
        control request about an unknown one), so it is not renewed for this worker's whole life."""
        lease = self.owned.get(tenant)
        if lease is None or tenant in self._claims or not self.empty(tenant):
            return
        del self.owned[tenant]
        self.emu.drop(tenant)
        try:
            await self._scripts["release"](keys=[tenant_key(tenant, "owner")], args=[lease], client=self.redis())
        except RedisError as exc:  # no longer renewed: it lapses within the ttl
            LOG.info("fleet: could not release the lease on empty tenant %r (%s); it lapses", tenant, exc)

    async def number(self, tenant: str, name: str) -> int:
        """The next number of the tenant's counter `name`, fleet-wide (numbers a fleet's scenario runs: whichever
        worker owns the tenant, an id is never handed out twice)."""
        try:
            return int(await self.redis().incr(tenant_key(tenant, name)))
        except RedisError as exc:
            raise FleetUnavailable(f"the fleet's Redis did not answer ({exc})") from exc

    async def _free_or_owner(self, tenant: str) -> str | None:
        """For a forwarded request: None when the tenant is (now) this worker's, else its owner's worker id."""
        try:
            lease = cast(str | None, await self.redis().get(tenant_key(tenant, "owner")))
        except RedisError as exc:
            raise FleetUnavailable(f"the fleet's Redis did not answer ({exc})") from exc
        if lease is not None and lease_worker(lease) != self.id:
            return lease_worker(lease)
        return None

    async def forward(self, request: Request, address: str, timeout: float | None = None) -> Response:
        """Send the request as received to `address` (within `timeout` seconds, default the request timeout and
        `FORWARD_SLACK`); its answer, verbatim."""
        scope = request.scope
        body = await request.body()
        target = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string", b"")
        path = target.decode("latin-1") + (f"?{query.decode('latin-1')}" if query else "")
        raw = scope["headers"]
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw if k not in HOP]
        headers.append((FORWARDED, self.id))
        host = next((v.decode("latin-1") for k, v in raw if k == b"host"), None)
        length = any(k == b"content-length" for k, _ in raw)
        method = "GET" if scope["method"] == "HEAD" else scope["method"]  # a HEAD answer's length has no body
        answer = await self.http.request(
            method, f"http://{address}/", path, body, headers, timeout or self.timeout, host=host, length=length
        )
        response = Response(answer.excerpt, status_code=answer.status)
        kept = [(k.lower(), v) for k, v in answer.headers if k.lower() not in HOP]
        response.raw_headers = [*kept, (b"content-length", str(len(answer.excerpt)).encode())]
        return response

    async def mirror_feed(self, request: Request, watch: bool) -> None:
        """Before a read of the fleet's feed (`request`: `GET /_emulator/journal`, or `/events` with `watch`): this
        worker and every other live worker hand the mirror what they hold past their watermarks and wait until it
        is mirrored (`core.fleetfeed`), so the read finds every worker's entries in the stream; with `watch`, every
        worker also mirrors each entry as it comes, for a ttl that the beats extend while `WATCH` lives (set here
        now, renewed by this worker's beat while its stream is open). The request is forwarded to the others as it
        came (a forwarded read of the feed means just that: `FleetControl`), at most `FEED_ASK` seconds: one that
        does not answer in time goes on, and a watching one catches up at its next beat. `FleetUnavailable` when
        Redis does not answer."""
        feed = self.emu.fleet_feed
        assert feed is not None
        try:
            if watch:
                await self.redis().set(WATCH, self.id, px=int(self.ttl * 1000))
            workers = await self.workers()
        except RedisError as exc:
            raise FleetUnavailable(f"the fleet's Redis did not answer ({exc})") from exc
        ask = max(FEED_ASK, self.ttl)
        others = sorted(e["address"] for w, e in workers.items() if w != self.id and e.get("address"))
        got = await asyncio.gather(
            feed.mirror(self.ttl if watch else None, ask),
            *(self.forward(request, address, ask) for address in others),
            return_exceptions=True,
        )
        for address, answer in zip(["here", *others], got, strict=True):
            if isinstance(answer, BaseException):
                LOG.warning("fleet: the worker at %s did not mirror its feed entries (%s)", address, answer)
            elif isinstance(answer, Response) and answer.status_code != 200:
                LOG.warning("fleet: the worker at %s did not mirror its feed entries (%d)", address, answer.status_code)

    async def ask_every_worker(self, request: Request) -> list[tuple[str, Response | BaseException]]:
        """The request sent to every other live worker: each one's address and answer (or why it gave none)."""
        return [(address, answer) for _, address, answer in await self.ask_workers(request)]

    async def ask_workers(self, request: Request) -> list[tuple[str, str, Response | BaseException]]:
        """The request sent to every other live worker: each one's id, address and answer (or why it gave none)."""
        try:
            workers = await self.workers()
        except RedisError as exc:
            raise FleetUnavailable(f"the fleet's Redis did not answer ({exc})") from exc
        others = sorted((e["address"], w) for w, e in workers.items() if w != self.id and e.get("address"))
        got = await asyncio.gather(*(self._ask(request, w, a) for a, w in others), return_exceptions=True)
        return [(w, a, answer) for (a, w), answer in zip(others, got, strict=True)]

    async def _ask(self, request: Request, worker: str, address: str) -> Response:
        """`forward` to another worker of a fan-out, given up once that worker has stopped beating: a frozen one
        (SIGSTOP, a stalled host or VM) still accepts the connection (its kernel does) but answers nothing, and
        the forward alone would wait `request_timeout` + `FORWARD_SLACK` (two minutes by default) before the reset,
        snapshot or merge goes on. Every `ttl / 2` without an answer its beat is read (one `HGET`); older than the
        ttl (three missed beats: its leases lapse too), it is taken for gone, as `workers()` would at the next
        look: `StoppedBeating`. A worker that beats is waited for as long as its answer takes (a big snapshot)."""
        answer = asyncio.ensure_future(self.forward(request, address))
        try:
            while True:
                done, _ = await asyncio.wait([answer], timeout=self.ttl / 2)
                if done:
                    return answer.result()
                silent = await self._silent_for(worker)
                if silent is not None and silent > self.ttl:
                    raise StoppedBeating(f"worker {worker} at {address} has not beaten for {silent:.1f}s (frozen?)")
        finally:
            if not answer.done():
                answer.cancel()
                await asyncio.gather(answer, return_exceptions=True)

    async def _silent_for(self, worker: str) -> float | None:
        """Seconds since the worker's last beat (infinite when it left the registry), None when Redis does not say
        (then its answer is waited for, as before)."""
        try:
            text = await self.redis().hget(WORKERS, worker)
        except RedisError:
            return None
        if text is None:
            return float("inf")
        try:
            beat = float(json.loads(text).get("beat", 0))
        except (ValueError, TypeError, AttributeError):
            return None
        return time.time() - beat

    async def reset_left(
        self, request: Request, vendor: str | None, answered: set[str]
    ) -> tuple[list[dict[str, str]], list[str]]:
        """After a fleet-wide reset that every worker in `answered` (this one included) did for its own tenants: the
        stored tenants (of `vendor`, or all) still there whose lease a worker that did not answer holds (killed within
        its ttl, or cut off), or nobody. Each is reset by its owner once its lease is free or held by a worker that
        answered: one that lapses (a dead holder renews nothing, so at most about one ttl) is taken over here
        (`serve`: claimed, adopted, reset, its lease let go when nothing is left) or by whichever worker got it. One
        whose lease is renewed meanwhile (its holder lives but did not answer) is not reset. Returns what was reset
        (`{vendor, tenant}`) and the tenants not reached."""
        client = self.redis()
        try:
            members = cast(set[str], await client.smembers(INDEX))
        except RedisError as exc:
            raise FleetUnavailable(f"the fleet's Redis did not answer ({exc})") from exc
        names = sorted({t for v, t in map(unmember, members) if vendor is None or v == vendor})
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 2 * self.ttl + 1
        done: list[dict[str, str]] = []
        missed: list[str] = []
        for tenant in names:
            seen: str | None = None
            while True:  # until its lease is free, taken anew (by a live worker), or renewed by one that did not answer
                try:
                    pipe = client.pipeline(transaction=False)
                    pipe.get(tenant_key(tenant, "owner"))
                    pipe.pttl(tenant_key(tenant, "owner"))
                    lease, pttl = await pipe.execute()
                except RedisError as exc:
                    raise FleetUnavailable(f"the fleet's Redis did not answer ({exc})") from exc
                if lease is None or lease_worker(lease) in answered or (seen is not None and lease != seen):
                    break
                if lease == seen or loop.time() + max(int(pttl), 0) / 1000 > deadline:
                    break  # still there past its expiry (a margin for Redis's clock): renewed; or it outlives the wait
                seen = lease
                await asyncio.sleep(max(int(pttl), 0) / 1000 + LAPSE)  # until it lapses (a dead holder renews nothing)
            if lease is not None and (seen is None or lease == seen):
                if lease_worker(lease) not in answered:  # renewed by a worker that did not answer, or held too long
                    missed.append(tenant)
                continue  # else an answering worker's from the start: reset there (or made after its reset)
            try:  # free now, or claimed after the lapse by a live worker (a restarted one that missed the fan-out)
                done += await self._reset_one(request, vendor, tenant)
            except FleetUnavailable as exc:
                LOG.warning("fleet: tenant %r was not reset (%s)", tenant, exc)
                missed.append(tenant)
        return done, missed

    async def _reset_one(self, request: Request, vendor: str | None, tenant: str) -> list[dict[str, str]]:
        """A reset of one tenant (`POST /_emulator/reset?tenant=`) at its owner, or here after claiming it if free;
        what it reset."""
        query = urlencode([*([("vendor", vendor)] if vendor is not None else []), ("tenant", tenant)])
        scope = {**request.scope, "query_string": query.encode("latin-1")}
        asked = Request(scope, _replay(b"", _gone))

        async def here() -> Response:
            dropped = self.emu.reset(vendor, tenant)
            return JSONResponse({"reset": [{"vendor": v, "tenant": t} for v, t in dropped]})

        answer, _ = await self.serve(asked, tenant, here, let_go=True)
        if answer.status_code != 200:
            raise FleetUnavailable(f"tenant {tenant!r}: its reset answered {answer.status_code}")
        try:
            got = json.loads(bytes(answer.body)).get("reset", [])
        except (ValueError, AttributeError):
            return []
        return [r for r in got if isinstance(r, dict)] if isinstance(got, list) else []

    async def fan_out(self, request: Request) -> list[Response]:
        """The request sent to every other live worker (answers of those that answered)."""
        out: list[Response] = []
        for address, answer in await self.ask_every_worker(request):
            if isinstance(answer, BaseException):
                LOG.warning("fleet: worker at %s did not answer a fleet-wide request (%s)", address, answer)
            else:
                out.append(answer)
        return out
