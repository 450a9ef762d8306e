"""WebhookDispatcher: at-least-once delivery of vendor webhooks, ordered per subject, on the clock.

- Delivery runs in the background over one pooled keep-alive client (`core.httpclient`); nothing in an API
  request waits for it, and a receiver that is down, slow or failing only ever slows its own queue.
- Deliveries are FIFO per ordering key (target URL + vendor + tenant + subject, e.g. one conversation)
  and parallel across keys, with a global cap on concurrent requests and, inside it, one per tenant
  (`per_tenant`, here) and one per target (`per_target`, in the client), half the global cap unless
  set: a receiver that accepts and never answers holds only its tenant's share, so other tenants' webhooks
  go out as usual.
- Targets pass the outbound policy (`core.outbound.Guard`: the URL, the allow-list, and the SSRF guard on the
  addresses a new connection uses). A refused target fails the delivery at once, without retries: waiting
  does not change a policy's answer.
- Bounded: the log keeps the last `log_size` deliveries (settled ones leave first; a pending one that has
  to leave is still delivered, and still in the snapshot). Pending work has its own caps (`pending_limit`
  in all, `pending_per_tenant` per vendor tenant): past one, a new delivery is dropped, i.e. logged as failed
  with the reason, as a vendor drops events for a receiver that has been failing too long.
- A failed attempt (non-2xx, connection error, timeout) is retried on the tenant's timeline following the vendor's
  ladder (8x8: 1, 10, 30, 90 s); the event id stays the same, the attempt number grows. The vendor's
  header hook builds headers per attempt (and may sign: it then runs in a worker thread, off the loop).
- Every attempt is logged (URL, headers, body, status, response excerpt, latency, error); callers can
  wait for a matching delivery, redeliver one, and inject seeded chaos (duplicate, reorder within a
  window, delay, drop the first attempt, receiver timeout; `core.chaos`) whose decisions depend only on the
  seed and the event id.
- Pending deliveries are part of the snapshot, so a graceful shutdown persists what it cannot deliver; the
  state file also keeps the settled ones of the log (`settled`/`restore_log`), and after an unclean
  stop `mark_uncertain` records that a restored delivery may have gone out already, so its next attempt is
  a retry (same event id, attempt number above 0) and never a new first attempt.
- Hooks: `attempt_listeners` are told of every attempt once its outcome is decided (the console line,
  `core.console`, the feed), `delivery_listeners` of every new delivery (the feed); `local` names a prefix of
  this server's own (the built-in sink, `core.sink`): the outbound policy (allow-list, SSRF guard) does not
  apply under it, and with a local function (an app that runs with no socket listening) requests under it are
  handed to that function instead of the network.
- `durable` (a Redis-backed server, `core.redisruntime`): numbers each tenant's deliveries, is told of every
  change of one, and records each attempt before its request goes out, so another process can go on with them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import chain
from json.encoder import c_encode_basestring, c_make_encoder  # type: ignore[attr-defined]
from typing import Any, Literal, NamedTuple, Protocol
from urllib.parse import urlsplit

from emulator.core import chaos
from emulator.core.chaos import ChaosConfig, TenantChaos
from emulator.core.clock import Scheduler, Timer, wall_monotonic
from emulator.core.delivery import Attempt as Attempt
from emulator.core.delivery import Delivery as Delivery
from emulator.core.delivery import SnapshotDeliveries, SnapshotDelivery
from emulator.core.httpclient import Answer, Flight, HttpClient, HttpError, KeyedLimit, RefusedTarget
from emulator.core.offload import Offload
from emulator.core.outbound import Guard, Refused
from emulator.core.signatures import NOT_SIGNED, SignatureCheck, SignatureOut
from emulator.core.store import Outbound

LOG = logging.getLogger(__name__)

EXCERPT_BYTES = 512
ROUTES_KEPT = 4096
"""URLs whose route the dispatcher remembers (forgotten all at once past it)."""
SPARE_QUEUES = 256
"""Emptied key queues kept for new keys to take (at low concurrency every delivery starts its key anew)."""
TRIM_SKIP_LIMIT = 64
"""Deliveries after a pending oldest one looked at for a settled one to drop instead (else the oldest leaves the
log anyway: it is still sent)."""


class AttemptContext(NamedTuple):
    """What a vendor's header hook sees for one attempt (immutable; a named tuple rather than a frozen dataclass,
    whose `__init__` costs a few microseconds more on every attempt)."""

    vendor: str
    tenant: str
    event_id: str
    event_type: str
    subject: str
    url: str
    body: bytes
    attempt: int
    """0 for the first attempt, then 1, 2, ..."""
    transmission_time: float
    """Clock time (epoch seconds) of this attempt."""
    profile: Mapping[str, Any]


HeaderHook = Callable[[AttemptContext], dict[str, str]]
Poster = Callable[[str, bytes, dict[str, str], float], Awaitable[Answer]]
"""How one request is sent: (url, body, headers, timeout) -> the receiver's answer."""


class DeliveryLog(Protocol):
    """Numbers each new delivery of a tenant (`number`: its seq and id, from the tenant's own counter), is told of
    every change of a delivery (`changed`: made, an attempt settled, settled or dropped) and of every attempt about
    to be sent (`started`, awaited before the request goes out; a string says why it may not go):
    `core.redisruntime` keeps them in Redis."""

    def number(self, tenant: str) -> tuple[int, str]: ...

    def changed(self, d: Delivery) -> None: ...

    async def started(self, d: Delivery, n: int, at: float) -> str | None: ...


AttemptListener = Callable[["Delivery", "Attempt"], None]
"""Told of an attempt once the delivery's next step is decided (status, `not_before` of the retry)."""


_new_tuple: Any = tuple.__new__

_COMPACT_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)
_COMPACT = _COMPACT_ENCODER.encode
"""`json.dumps(payload, separators=(",", ":"), ensure_ascii=False)`, byte for byte, with the encoder made once
(`json.dumps` with options builds one per call). Payloads are trees the vendors build: never circular."""
_COMPACT_C = (
    None
    if c_make_encoder is None
    else c_make_encoder(None, _COMPACT_ENCODER.default, c_encode_basestring, None, ":", ",", False, False, True)
)
"""`_COMPACT`'s C encoder, made once (`JSONEncoder.encode` builds one on every call), as `core.web` does."""


def _with_hook(job: tuple[dict[str, str], HeaderHook, AttemptContext]) -> dict[str, str]:
    """`headers` with the hook's own added (in the worker thread; the loop does not touch `headers` meanwhile)."""
    headers, hook, ctx = job
    headers.update(hook(ctx))
    return headers


def _tries(d: Delivery) -> int:
    """How many attempts `d` has had (a duplicate-chaos copy is not one)."""
    attempts = d.attempts
    if not attempts:
        return 0
    return sum(1 for a in attempts if a.chaos != "duplicate")


def compact_json(payload: Any) -> bytes:
    if _COMPACT_C is None or isinstance(payload, str):  # pragma: no cover - CPython has the C accelerator
        return _COMPACT(payload).encode()
    return "".join(_COMPACT_C(payload, 0)).encode()


@dataclass
class WebhookPolicy:
    """How one vendor delivers webhooks."""

    retry_ladder: tuple[float, ...] = (1.0, 10.0, 30.0, 90.0)
    """Seconds to wait after failed attempt 0, 1, 2...; the delivery fails once the ladder is exhausted."""
    headers: HeaderHook | None = None
    sign_in_thread: bool = False
    """Run `headers` off the event loop, in the dispatcher's worker thread (it signs, which costs CPU)."""
    timeout: float = 10.0
    """Seconds a receiver has to answer one attempt."""
    serialize: Callable[[Any], bytes] = compact_json
    content_type: str = "application/json"
    success_statuses: range = range(200, 300)
    on_failed: Callable[[Delivery], None] | None = None
    """Called once when a delivery fails for good (its ladder is exhausted), e.g. for a vendor that changes
    state when a receiver fails (Chatwoot opens a bot's pending conversation). Must only schedule work."""
    ladder_for: Callable[[Delivery], tuple[float, ...] | None] | None = None
    """A delivery's own retry ladder when it returns one (e.g. CM retries status reports for 7 days but MO
    for a month); `retry_ladder` otherwise. A `webhooks.<slug>.retry_ladder` setting replaces both."""
    signature: SignatureCheck = NOT_SIGNED
    """How a receiver verifies a delivery, with cxemu's own check of it (`core.signatures`)."""

    def ladder(self, delivery: Delivery) -> tuple[float, ...]:
        own = self.ladder_for(delivery) if self.ladder_for is not None else None
        return self.retry_ladder if own is None else own


@dataclass(frozen=True)
class DeliveryFilter:
    vendor: str | None = None
    tenant: str | None = None
    event: str | None = None
    subject: str | None = None
    status: str | None = None
    event_id: str | None = None

    def __call__(self, d: Delivery) -> bool:
        return (
            (self.vendor is None or d.vendor == self.vendor)
            and (self.tenant is None or d.tenant == self.tenant)
            and (self.event is None or d.event_type == self.event)
            and (self.subject is None or d.subject == self.subject)
            and (self.status is None or d.status == self.status)
            and (self.event_id is None or d.event_id == self.event_id)
        )


class NothingSent(Exception):
    """A redelivery `as_was` of a delivery none of whose attempts was sent."""


class _Route(NamedTuple):
    verdict: str | None
    post: Poster | None
    local: bool


_Launched = tuple[Flight, "asyncio.Future[Answer]", Attempt, float, "WebhookPolicy"]
"""An attempt `_launch` sent: the client's flight, its answer's future, the attempt to record, when it started,
the policy (a plain tuple: one per attempt)."""


class _KeyQueue:
    """One ordering key's deliveries, oldest first (a plain class with slots: one is made per key that gets work,
    i.e. per CM message)."""

    __slots__ = ("items", "running", "task", "wake")

    def __init__(self) -> None:
        self.items: deque[Delivery] = deque()
        self.running = False
        self.wake: Timer | None = None
        self.task: asyncio.Task[None] | None = None
        """Its pump while one runs (the pump leaves `_pumps` and its timeline's tracked work itself as it ends: no
        done callback per task, `Scheduler.enter`)."""


class WebhookDispatcher:
    """Background webhook delivery; see the module docstring."""

    def __init__(
        self,
        scheduler: Scheduler,
        *,
        seed: int,
        log_size: int = 5000,
        max_concurrency: int = 512,
        per_tenant: int | None = None,
        per_target: int | None = None,
        pending_limit: int = 200_000,
        pending_per_tenant: int = 50_000,
        guard: Guard | None = None,
        user_agent: str = "cxemu",
        verify_tls: bool = True,
    ) -> None:
        self.scheduler = scheduler
        self.seed = seed
        self.log_size = log_size
        self.policies: dict[str, WebhookPolicy] = {}
        self.chaos = ChaosConfig()
        """The global delivery faults."""
        self.tenant_chaos: dict[str, TenantChaos] = {}
        self._calm: ChaosConfig | None = None
        """The last config seen with no fault in force (`ChaosConfig.active` is worked out again on every call)."""
        """Tenants' own faults (in place of the global ones while in force; `chaos.in_force`)."""
        self.guard = guard or Guard()
        """The outbound policy (also what Samespace `http` steps use)."""
        self.user_agent = user_agent
        self.verify_tls = verify_tls
        self._max_concurrency = max_concurrency
        # Half the pool, not less: a delivery holds its slot for about two turns of the event loop (sent in one, its
        # answer read in the next, the pump resumed in the one after), so a tenant whose client keeps 64 requests in
        # flight, each with two webhooks on one key (CM's status reports), needs ~256 slots to deliver them as fast
        # as it accepts them: with 128 (a pool of 256) the reports fell behind for the whole run and were sent
        # after it (bench/README 2026-12-07 `cmdrain`: 3,000-7,900 pending at the end, 128 in flight); a quarter
        # of 256 let a backlog build for 8x8's one webhook a request.
        share = max(1, max_concurrency // 2)
        self._per_target = per_target or share
        self._per_tenant = KeyedLimit(per_tenant or share)
        self.pending_limit = pending_limit
        self.pending_per_tenant = pending_per_tenant
        self._pending_total = 0
        self._pending_by: dict[tuple[str, str], int] = {}
        self._http: HttpClient | None = None
        self._offload = Offload()
        self._queues: dict[tuple[str, str, str, str], _KeyQueue] = {}
        self._spare: list[_KeyQueue] = []
        """Key queues a pump emptied and dropped (no items, no wake-up, no task), for new keys to take."""
        self._head: OrderedDict[str, Delivery] = OrderedDict()
        """The log's oldest deliveries, seen pending by `_trim` (kept apart, so it never walks past them again)."""
        self._log: OrderedDict[str, Delivery] = OrderedDict()
        """The rest of the log, after `_head`: readers see the two as one, in the order deliveries were made."""
        self._next_seq = 1
        self._changed: asyncio.Event | None = None
        self._closing = False
        self._pumps: dict[asyncio.Task[None], str] = {}
        """The running pumps, each with its tenant (`close` makes those it cancels leave their timelines)."""
        self._local: dict[str, Poster | None] = {}
        self._routes: dict[str, _Route] = {}
        self.attempt_listeners: list[AttemptListener] = []
        self.delivery_listeners: list[Callable[[Delivery], None]] = []
        """Told of every new delivery as it is made, before it is queued (the feed's `delivery` entries)."""
        self.changes = 0
        """Moves on every change of a delivery or the log (the state file's saver saves when it moved)."""
        self.durable: DeliveryLog | None = None
        """Told of every delivery change and attempt start (a Redis-backed server keeps them there)."""

    # -- configuration --------------------------------------------------------------------------------

    def register(self, vendor: str, policy: WebhookPolicy) -> None:
        self.policies[vendor] = policy

    def policy(self, vendor: str) -> WebhookPolicy:
        policy = self.policies.get(vendor)
        if policy is None:  # (not `setdefault`: it would build a default policy on every call)
            policy = self.policies[vendor] = WebhookPolicy()
        return policy

    def local(self, prefix: str, post: Poster | None = None) -> None:
        """URLs starting with `prefix` (scheme, host, port and a path) reach this server itself (the sink): the
        outbound policy does not apply to them, and with `post` they are sent through it instead of the network."""
        self._local[prefix] = post
        self._routes.clear()

    def forget_local(self, prefix: str) -> None:
        self._local.pop(prefix, None)
        self._routes.clear()

    def _route(self, url: str) -> _Route:
        """How a delivery to `url` goes, worked out once per URL (a tenant's deliveries go to few URLs): under a
        local prefix it skips the outbound policy (and goes through the prefix's function when it has one);
        elsewhere the policy's verdict on the URL (None: it may be sent; the resolved addresses are checked per
        connection)."""
        route = self._routes.get(url)
        if route is None:
            if len(self._routes) >= ROUTES_KEPT:
                self._routes.clear()
            matches = [post for prefix, post in self._local.items() if url.startswith(prefix)]
            post = next((p for p in matches if p is not None), None)
            route = _Route(None if matches else self.guard.check(url), post, bool(matches))
            self._routes[url] = route
        return route

    def submit(self, vendor: str, tenant: str, outbound: Outbound) -> Delivery:
        """Queue one webhook; returns at once. Never raises for a bad target: the delivery fails instead."""
        body = (self.policies.get(vendor) or self.policy(vendor)).serialize(outbound.payload)
        delivery = self._new(
            vendor, tenant, outbound.event_id, outbound.event_type, outbound.subject, outbound.url, body
        )
        delivery.profile = outbound.profile  # (made for this webhook, `Outbound.profile`: no copy per delivery)
        config = (
            chaos.in_force(self.chaos, self.tenant_chaos, tenant, delivery.created_at)
            if self.tenant_chaos
            else self.chaos
        )
        if config is not self._calm:  # (a config with no fault in force is remembered: it is frozen)
            if config.active:
                chaos.decide(config, self.seed, delivery)
            else:
                self._calm = config
        if (  # (`_admitted`'s common case, inline)
            self._pending_total < self.pending_limit
            and self._pending_by.get((vendor, tenant), 0) < self.pending_per_tenant
        ) or self._admitted(delivery):
            self._enqueue(delivery)
        return delivery

    def redeliver(self, delivery_id: str, *, as_was: bool = False, url: str | None = None) -> Delivery | None:
        """Send a logged delivery again, as a new delivery with the same event id and body (None: no such
        delivery), to `url` instead of its own when given. Re-signed now (fresh headers per attempt), or with
        `as_was` the headers of its last sent attempt, signature and timestamp included (`NothingSent` when
        none was)."""
        old = self.get(delivery_id)
        if old is None:
            return None
        headers = None
        if as_was:
            last = self.last_sent(old)
            if last is None:
                raise NothingSent(
                    f"delivery {old.id} has no attempt that was sent, so there is nothing to send as it was"
                )
            headers = dict(last.headers)
        target = old.url if url is None else url
        new = self._new(old.vendor, old.tenant, old.event_id, old.event_type, old.subject, target, old.body)
        new.profile, new.redelivery_of, new.headers_as_was = dict(old.profile), old.id, headers
        if self._admitted(new):
            self._enqueue(new)
        return new

    async def refusal(self, url: str) -> str | None:
        """Why the outbound policy refuses `url` (the URL itself, or the SSRF guard on the addresses its host
        resolves to), or None; a name that does not resolve now is not refused (its attempts will say)."""
        route = self._route(url)
        if route.verdict is not None or route.local:
            return route.verdict
        parts = urlsplit(url)
        try:
            await self.guard.addresses(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
        except Refused as exc:
            return str(exc)
        except OSError:
            return None
        return None

    @staticmethod
    def last_sent(d: Delivery) -> Attempt | None:
        """The last attempt of `d` whose request was sent (`Attempt.sent`), or None."""
        return next((a for a in reversed(d.attempts) if a.sent), None)

    def signature(self, d: Delivery, base: str) -> SignatureOut:
        """How a receiver verifies `d`, checked on its last sent attempt (`base`: this server's URL)."""
        return self.policy(d.vendor).signature(d, self.last_sent(d), base)

    def _admitted(self, d: Delivery) -> bool:
        """Whether the pending caps leave room for `d`; if not, `d` is dropped: logged as failed, with why."""
        if self._pending_total >= self.pending_limit:
            why = f"{self.pending_limit} deliveries are already pending (webhook_pending_limit)"
        elif self._pending_by.get((d.vendor, d.tenant), 0) >= self.pending_per_tenant:
            why = f"{self.pending_per_tenant} deliveries of this tenant are pending (webhook_pending_per_tenant)"
        else:
            return True
        d.status = "failed"
        d.attempts.append(Attempt(n=0, at=d.created_at, url=d.url, headers={}, error=f"dropped: {why}"))
        self._remember(d)
        if self.durable is not None:
            self.durable.changed(d)
        self._failed(d)
        if self.attempt_listeners:
            self._tell(d, 0)
        return False

    def _new(
        self, vendor: str, tenant: str, event_id: str, event_type: str, subject: str, url: str, body: bytes
    ) -> Delivery:
        if self.durable is None:
            seq = self._next_seq  # (`_take_seq`, inline)
            self._next_seq = seq + 1
            name = f"dlv_{seq:07d}"
        else:  # numbered per tenant: the same whichever process serves it
            seq, name = self.durable.number(tenant)
        now = self._now(tenant)
        # (positional: a call with twelve keywords costs twice as much, on every delivery)
        d = Delivery(name, seq, vendor, tenant, event_id, event_type, subject, url, body, {}, now, now)
        for listener in self.delivery_listeners:
            listener(d)
        return d

    def _now(self, tenant: str) -> float:
        """`scheduler.now(tenant)`: on a clock that is not virtual every timeline reads the scheduler's own clock,
        read here without the scheduler's call (on every delivery and attempt)."""
        clock = self.scheduler.clock
        return self.scheduler.now(tenant) if clock.virtual else clock.now()

    def _take_seq(self) -> int:
        seq = self._next_seq
        self._next_seq += 1
        return seq

    def _enqueue(self, d: Delivery) -> None:
        log = self._log  # (`_remember`, inline)
        log[d.id] = d
        if len(log) + len(self._head) > self.log_size:
            self._trim()
        self.changes += 1
        if self._changed is not None:
            self._changed.set()
            self._changed = None
        self._pending_total += 1
        vendor, tenant = d.vendor, d.tenant
        owner = (vendor, tenant)
        self._pending_by[owner] = self._pending_by.get(owner, 0) + 1
        key = (d.url, vendor, tenant, d.subject)  # (`d.key`)
        queue = self._queues.get(key)
        if queue is None:
            spare = self._spare
            queue = self._queues[key] = spare.pop() if spare else _KeyQueue()
        if "reorder" in d.chaos and queue.items and d.not_before < queue.items[-1].not_before:
            # reorder chaos: keep the queue sorted by when each item may go (only then may events swap;
            # otherwise a newer event would overtake one that waits for its retry)
            items = sorted([*queue.items, d], key=lambda x: (x.not_before, x.seq))
            queue.items = deque(items)
        else:
            queue.items.append(d)
        if self.durable is not None:
            self.durable.changed(d)
        if not queue.running:  # (a running pump takes it in turn)
            self._start(key, queue)

    def _kick(self, key: tuple[str, str, str, str]) -> None:
        queue = self._queues.get(key)
        if queue is not None:
            self._start(key, queue)

    def _start(self, key: tuple[str, str, str, str], queue: _KeyQueue) -> None:
        """A pump for the key's queue, unless one runs, the queue is empty or the dispatcher closes."""
        if self._closing or queue.running or not queue.items:
            return
        if queue.wake is not None:
            self.scheduler.cancel(queue.wake)
            queue.wake = None
        queue.running = True
        tenant = key[2]
        queue.task = task = self.scheduler.enter(self._pump(key, queue), tenant=tenant)
        self._pumps[task] = tenant

    # -- the worker -----------------------------------------------------------------------------------

    async def _pump(self, key: tuple[str, str, str, str], queue: _KeyQueue) -> None:
        try:
            while queue.items:
                d = queue.items[0]
                if d.status != "pending":
                    self._dequeued(queue.items.popleft())
                    continue
                clock = self.scheduler.clock  # (`_now`, inline: once per attempt)
                now = self.scheduler.now(d.tenant) if clock.virtual else clock.now()
                if d.not_before > now:
                    queue.wake = self.scheduler.call_at(
                        d.not_before, lambda: self._kick(key), vendor=d.vendor, tenant=d.tenant
                    )
                    return
                tried = len(d.attempts)
                flight = self._launch(d, now)
                if flight is False:  # its tenant's share of the pool is in use: a slot is awaited here
                    await self._per_tenant.acquire((d.vendor, d.tenant))
                    flight = self._launch(d, now, held=True)
                if flight is None or flight is False:
                    ok = await self._attempt(d)
                else:  # the common case, awaited here: no coroutine per attempt below the pump
                    try:
                        answer = await flight[1]
                    except BaseException as exc:
                        ok = await self._recover(d, flight, exc)
                    else:  # answered: recorded here (no call per attempt)
                        http, _, attempt, started, policy = flight
                        self._http.landed(http, answer)  # type: ignore[union-attr]  # (open while a pump runs)
                        self._per_tenant.release((d.vendor, d.tenant))
                        attempt.status = status = answer.status
                        if answer.excerpt:
                            attempt.response_excerpt = answer.excerpt.decode(errors="replace")
                        attempt.latency_ms = round((wall_monotonic() - started) * 1000, 3)
                        d.attempts.append(attempt)
                        ok = status in policy.success_statuses
                items = queue.items
                if items and items[0] is d:
                    pass
                elif d not in items:
                    continue  # forgotten by a reset while in flight: the head is now another delivery
                if ok:
                    d.status = "delivered"
                    if items[0] is d:
                        items.popleft()
                    else:
                        items.remove(d)
                    self._dequeued(d)
                    if "duplicate" in d.chaos:
                        await self._duplicate(d)
                else:
                    ladder = self.policy(d.vendor).ladder(d)
                    failed_attempts = _tries(d)
                    if ok is None or failed_attempts > len(ladder):
                        d.status = "failed"
                        queue.items.remove(d)
                        self._dequeued(d)
                        self._failed(d)
                    else:
                        d.not_before = self.scheduler.now(d.tenant) + ladder[failed_attempts - 1]
                if self.durable is not None:
                    self.durable.changed(d)
                self.changes += 1  # (`_notify`, inline)
                if self._changed is not None:
                    self._changed.set()
                    self._changed = None
                listeners = self.attempt_listeners
                if not listeners:
                    pass
                elif len(d.attempts) == tried + 1:  # (`_tell`'s common case, inline: one attempt to tell)
                    attempt = d.attempts[tried]
                    for listener in listeners:
                        try:
                            listener(d, attempt)
                        except Exception:  # a listener never breaks delivery
                            LOG.exception("attempt listener failed for %s", d.id)
                else:
                    self._tell(d, tried)
        except Exception:  # (what `Scheduler.spawn`'s done callback would log; the key stops where it was)
            LOG.exception("webhook pump failed for %s", key)
        finally:
            queue.running = False
            task = queue.task
            if task is not None:
                del self._pumps[task]
                self.scheduler.leave(task, key[2])
                queue.task = None
            if not queue.items and queue.wake is None and self._queues.get(key) is queue:
                del self._queues[key]
                if len(self._spare) < SPARE_QUEUES:
                    self._spare.append(queue)

    def _dequeued(self, d: Delivery) -> None:
        self._pending_total -= 1
        owner = (d.vendor, d.tenant)
        left = self._pending_by[owner] - 1
        if left:
            self._pending_by[owner] = left
        else:
            del self._pending_by[owner]

    def _tell(self, d: Delivery, tried: int) -> None:
        for attempt in d.attempts[tried:]:
            for listener in self.attempt_listeners:
                try:
                    listener(d, attempt)
                except Exception:  # a listener never breaks delivery
                    LOG.exception("attempt listener failed for %s", d.id)

    def _failed(self, d: Delivery) -> None:
        hook = self.policy(d.vendor).on_failed
        if hook is None:
            return
        try:
            hook(d)
        except Exception:  # a vendor hook never breaks delivery
            LOG.exception("on_failed hook of %s failed for %s", d.vendor, d.id)

    async def _attempt(self, d: Delivery) -> bool | None:
        """One attempt: True when it succeeded, False when it failed (retried by the ladder), None when the
        outbound policy refused the target (the delivery fails for good)."""
        n = _tries(d)
        now = self.scheduler.now(d.tenant)
        faults = d.chaos  # most deliveries have none: the chaos checks are skipped then
        if faults and (fault := chaos.dropped(d, n, now)) is not None:
            d.attempts.append(fault)
            return False
        route = self._route(d.url)
        if route.verdict is not None:
            d.attempts.append(Attempt(n=n, at=now, url=d.url, headers={}, error=route.verdict))
            return None
        policy = self.policy(d.vendor)
        try:
            headers = self._headers(d, n, now, policy)
            if not isinstance(headers, dict):  # signed in the worker thread
                headers = await headers
        except Exception as exc:  # a broken header/signing hook fails this attempt; the ladder retries it
            LOG.warning("webhook header hook of %s failed for %s", d.vendor, d.id, exc_info=True)
            d.attempts.append(Attempt(n=n, at=now, url=d.url, headers={}, error=f"header hook failed: {exc!r}"))
            return False
        if faults and (fault := chaos.timed_out(d, n, now, headers)) is not None:
            d.attempts.append(fault)
            return False
        if self.durable is not None and (why := await self.durable.started(d, n, now)) is not None:
            d.attempts.append(Attempt(n=n, at=now, url=d.url, headers={}, error=why))  # not sent: retried
            return False
        attempt, refused = await self._post(d, n, now, headers, policy.timeout, route)
        d.attempts.append(attempt)
        if refused:
            return None
        return attempt.status is not None and attempt.status in policy.success_statuses

    async def _duplicate(self, d: Delivery) -> None:
        """Duplicate chaos, after a success: the same request once more."""
        first = next(a for a in reversed(d.attempts) if a.chaos is None)
        timeout = self.policy(d.vendor).timeout
        dup, _ = await self._post(d, first.n, first.at, first.headers, timeout, self._route(d.url))
        dup.chaos = "duplicate"
        d.attempts.append(dup)

    def _headers(
        self, d: Delivery, n: int, now: float, policy: WebhookPolicy
    ) -> dict[str, str] | asyncio.Future[dict[str, str]]:
        """The attempt's headers, or, for a policy that signs in the worker thread, the future of them (a plain
        function and a future: no coroutine of its own on every attempt)."""
        if d.headers_as_was is not None:
            return dict(d.headers_as_was)
        headers = {"content-type": policy.content_type, "user-agent": self.user_agent}
        if policy.headers is not None:
            # (the named tuple made without its generated `__new__`, a Python frame, on every attempt)
            ctx: AttemptContext = _new_tuple(
                AttemptContext,
                (d.vendor, d.tenant, d.event_id, d.event_type, d.subject, d.url, d.body, n, now, d.profile),
            )
            if policy.sign_in_thread:
                return self._offload.submit(_with_hook, (headers, policy.headers, ctx))
            headers.update(policy.headers(ctx))
        return headers

    def _launch(self, d: Delivery, now: float, *, held: bool = False) -> _Launched | Literal[False] | None:
        """`_attempt`'s common case as a plain function: a delivery without chaos faults or a durable log, to a
        network target the policy allows, with headers built on the loop, a free slot of its tenant (`held`: the
        caller took it) and an idle connection of the client: its request is sent now and the flight returned
        (the pump awaits its answer and records it, or hands what it raised to `_recover`). False: all that but
        the tenant's slot (nothing taken). None (nothing taken, a `held` slot given back, nothing sent): `_attempt`
        does it."""
        client = self._http
        route = self._routes.get(d.url) or self._route(d.url)
        policy = self.policies.get(d.vendor) or self.policy(d.vendor)
        owner = (d.vendor, d.tenant)
        if (
            client is None
            or d.chaos
            or self.durable is not None
            or route.verdict is not None
            or route.post is not None
            or policy.sign_in_thread
        ):  # (these may change while a `held` slot was awaited: a local prefix added, say)
            if held:
                self._per_tenant.release(owner)
            return None
        if not held and not self._per_tenant.take(owner):
            return False
        http = client.reserve(d.url, guarded=not route.local)
        if http is None:
            self._per_tenant.release(owner)
            return None
        n = len(d.attempts)  # (`_tries`: without chaos no attempt is a duplicate's)
        started = wall_monotonic()
        try:
            headers = self._headers(d, n, now, policy)
            assert isinstance(headers, dict)  # (`sign_in_thread` is off)
            waiter = client.send(http, d.body, headers, policy.timeout)
        except Exception:  # a broken hook, a header that cannot be sent: nothing went out, `_attempt` records why
            client.unreserve(http)
            self._per_tenant.release(owner)
            return None
        return http, waiter, Attempt(n, now, d.url, headers), started, policy

    async def _recover(self, d: Delivery, flight: _Launched, exc: BaseException) -> bool | None:
        """A launched attempt whose answer raised `exc`: as `_post` records a failed request (a connection the
        peer had closed is tried once more on a fresh one); cancelled, it frees what it held and is cancelled."""
        http, _, attempt, started, policy = flight
        refused = False
        try:
            answer = await self._http.recover(http, exc)  # type: ignore[union-attr]  # (open while a pump runs: `close` cancels them first)
        except Exception as failed:
            refused = self._failed_request(attempt, failed, http.timeout)
        else:
            attempt.status = answer.status
            attempt.response_excerpt = answer.excerpt.decode(errors="replace")
        finally:
            self._per_tenant.release((d.vendor, d.tenant))
        attempt.latency_ms = round((wall_monotonic() - started) * 1000, 3)
        d.attempts.append(attempt)
        if refused:
            return None
        return attempt.status is not None and attempt.status in policy.success_statuses

    @staticmethod
    def _failed_request(attempt: Attempt, exc: Exception, timeout: float) -> bool:
        """Record why a request got no answer on `attempt`; whether the outbound guard refused its target."""
        if isinstance(exc, TimeoutError):
            attempt.error = f"timed out after {timeout:g}s"
        elif isinstance(exc, RefusedTarget):
            attempt.error = str(exc)
            return True
        elif isinstance(exc, HttpError):
            attempt.error = str(exc)
        else:  # never let one receiver take the worker down
            attempt.error = f"{type(exc).__name__}: {exc}"
        return False

    async def _post(
        self, d: Delivery, n: int, now: float, headers: dict[str, str], timeout: float, route: _Route
    ) -> tuple[Attempt, bool]:
        """Send one request (in process for a local function, else over the network within the tenant's share of
        the pool) the way `route` (`_route(d.url)`) says; the attempt, and whether the outbound guard refused the
        target."""
        attempt = Attempt(n=n, at=now, url=d.url, headers=headers)
        started = wall_monotonic()
        refused = False
        try:
            if route.post is not None:
                answer = await route.post(d.url, d.body, headers, timeout)
            else:
                owner = (d.vendor, d.tenant)
                if not self._per_tenant.take(owner):
                    await self._per_tenant.acquire(owner)
                try:
                    client = self._http or self._client()
                    answer = await client.post(d.url, d.body, headers, timeout, guarded=not route.local)
                finally:
                    self._per_tenant.release(owner)
            attempt.status = answer.status
            attempt.response_excerpt = answer.excerpt.decode(errors="replace")
        except Exception as exc:
            refused = self._failed_request(attempt, exc, timeout)
        attempt.latency_ms = round((wall_monotonic() - started) * 1000, 3)
        return attempt, refused

    def _client(self) -> HttpClient:
        if self._http is None:
            self._http = HttpClient(
                limit=self._max_concurrency,
                per_target=self._per_target,
                excerpt=EXCERPT_BYTES,
                user_agent=self.user_agent,
                verify_tls=self.verify_tls,
                guard=self.guard,
            )
        return self._http

    # -- chaos ----------------------------------------------------------------------------------------

    def set_chaos(self, chaos: ChaosConfig) -> None:
        self.chaos = chaos

    def set_tenant_chaos(self, tenant: str, config: ChaosConfig, expires_in: float | None) -> TenantChaos:
        """Give `tenant` its own faults, for `expires_in` seconds of its timeline (None: until cleared)."""
        expires_at = None if expires_in is None else self.scheduler.now(tenant) + expires_in
        self.tenant_chaos[tenant] = entry = TenantChaos(config, expires_at)
        return entry

    def clear_tenant_chaos(self, tenant: str) -> bool:
        """Drop `tenant`'s own faults; whether it had any in force."""
        entry = self.tenant_chaos.pop(tenant, None)
        return entry is not None and not entry.expired(self.scheduler.now(tenant))

    def tenants_chaos(self) -> dict[str, TenantChaos]:
        """The tenants' own faults still in force, by tenant name (expired ones are dropped)."""
        for tenant, entry in list(self.tenant_chaos.items()):
            if entry.expired(self.scheduler.now(tenant)):
                del self.tenant_chaos[tenant]
        return dict(sorted(self.tenant_chaos.items()))

    # -- the log, waiting -----------------------------------------------------------------------------

    def _remember(self, d: Delivery) -> None:
        log = self._log
        log[d.id] = d
        if len(log) + len(self._head) > self.log_size:
            self._trim()
        self._notify()

    def _logged(self) -> Iterator[Delivery]:
        """The log, oldest first."""
        head = self._head
        return chain(head.values(), self._log.values()) if head else iter(self._log.values())

    def _trim(self) -> None:
        """Back to `log_size`, settled deliveries first: the oldest leaves when it is settled, else the first
        settled one among the `TRIM_SKIP_LIMIT` after it, else the oldest anyway (a pending delivery that leaves
        the log is still sent). Nothing is moved as readers see it: the log stays in the order deliveries were made.
        The pending deliveries looked past are moved from the front of `_log` to the back of `_head` (which readers
        see first), so each is looked at once, whatever the depth of the backlog behind a pending oldest (a
        delivery waiting for its tenant's slot while newer ones settle), and the settled one found leaves from the
        front of `_log`: no walk from the log's start. One looked past may settle in `_head`: it leaves once it is
        the oldest, or with the oldest once more than `TRIM_SKIP_LIMIT` wait there."""
        head, log, size = self._head, self._log, self.log_size
        while len(head) + len(log) > size:
            if head and (len(head) > TRIM_SKIP_LIMIT or next(iter(head.values())).status != "pending"):
                head.popitem(last=False)
                continue
            reach = TRIM_SKIP_LIMIT + 1 - len(head)  # the oldest (when `head` is empty) and those after it in reach
            while reach and log:
                key, d = log.popitem(last=False)
                if d.status != "pending":
                    break  # (it leaves)
                head[key] = d
                reach -= 1
            else:  # no settled one in reach: the oldest leaves anyway
                head.popitem(last=False)

    def _notify(self) -> None:
        self.changes += 1
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    def get(self, delivery_id: str) -> Delivery | None:
        d = self._log.get(delivery_id)
        return d if d is not None else self._head.get(delivery_id)

    def deliveries(self, match: Callable[[Delivery], bool] = DeliveryFilter()) -> list[Delivery]:
        return [d for d in self._logged() if match(d)]

    async def wait(
        self,
        match: Callable[[Delivery], bool],
        *,
        count: int = 1,
        timeout: float = 10.0,
        settled: bool = True,
    ) -> list[Delivery]:
        """Wait in wall time until `count` matching deliveries exist (and, if `settled`, are no longer
        pending); returns what matched at the deadline otherwise."""
        deadline = wall_monotonic() + timeout
        while True:
            found = [d for d in self._logged() if match(d) and (not settled or d.status != "pending")]
            remaining = deadline - wall_monotonic()
            if len(found) >= count or remaining <= 0:
                return found
            if self._changed is None:
                self._changed = asyncio.Event()
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout=remaining)

    @property
    def pending_count(self) -> int:
        return sum(len(q.items) for q in self._queues.values())

    def queued(self, url: str, vendor: str, tenant: str, subject: str) -> bool:
        """Whether a delivery made now on this ordering key would wait behind another (`core.redisruntime`)."""
        queue = self._queues.get((url, vendor, tenant, subject))
        return queue is not None and bool(queue.items)

    # -- reset, persistence, shutdown -----------------------------------------------------------------

    def reset(self, vendor: str | None = None, tenant: str | None = None) -> None:
        """Forget the deliveries (pending and logged) of one vendor and/or tenant."""

        def hit(d: Delivery) -> bool:
            return (vendor is None or d.vendor == vendor) and (tenant is None or d.tenant == tenant)

        for queue in list(self._queues.values()):
            for d in queue.items:
                if hit(d):
                    self._dequeued(d)
            queue.items = deque(d for d in queue.items if not hit(d))
            if not queue.items and queue.wake is not None:
                self.scheduler.cancel(queue.wake)
                queue.wake = None
        for part in (self._head, self._log):
            for d in list(part.values()):
                if hit(d):
                    if d.status == "pending":
                        d.status = "failed"
                    del part[d.id]
        if vendor is None:  # the tenant's timeline starts again: its own faults go with it
            for name in [t for t in self.tenant_chaos if tenant is None or t == tenant]:
                del self.tenant_chaos[name]
        self._notify()

    def snapshot(self) -> dict[str, Any]:
        pending = [d.persist() for q in self._queues.values() for d in q.items if d.status == "pending"]
        pending.sort(key=lambda x: (x["seq"], x["tenant"]))  # with Redis, numbers are per tenant (`redisruntime`)
        return {"next_seq": self._next_seq, "pending": pending}

    def restore(self, data: Mapping[str, Any]) -> None:
        saved = SnapshotDeliveries.model_validate(data)
        for entry in saved.pending:
            self._enqueue(Delivery.restored(entry))
        if self.durable is None:  # with Redis, numbers are per tenant (`durable.number`): this one is unused
            self._next_seq = max([saved.next_seq, self._next_seq, *(e.seq + 1 for e in saved.pending)])

    def settled(self) -> list[Delivery]:
        """The settled deliveries of the log (pending ones are in `snapshot`), oldest first. A settled delivery no
        longer changes (a duplicate-chaos copy is the one attempt it may still get), so the state file's saver
        turns them into JSON (`persist()`) off the event loop."""
        return [d for d in self._logged() if d.status != "pending"]

    def restore_log(self, saved: Iterable[SnapshotDelivery]) -> None:
        """Put settled deliveries (their `persist()` form, validated) back in the log, in order with the pending
        ones; an entry that says pending is left out (pending deliveries come back through `restore`)."""
        for entry in saved:
            if entry.status == "pending":
                continue
            d = Delivery.restored(entry)
            d.status = entry.status
            self._log[d.id] = d
            if self.durable is None:
                self._next_seq = max(self._next_seq, d.seq + 1)
        ordered = sorted(self._logged(), key=lambda d: d.seq)
        settled = [d for d in ordered if d.status != "pending"]
        drop = {d.id for d in settled[: max(0, len(ordered) - self.log_size)]}
        self._log = OrderedDict((d.id, d) for d in ordered if d.id not in drop)
        self._head = OrderedDict()

    def mark_uncertain(self, at: float, why: str) -> int:
        """Record on every pending delivery an attempt whose outcome is unknown (`why`), so the next one is sent
        as a retry; returns how many were marked."""
        marked = 0
        for queue in self._queues.values():
            for d in queue.items:
                if d.status == "pending":
                    n = len([a for a in d.attempts if a.chaos != "duplicate"])
                    d.attempts.append(Attempt(n=n, at=at, url=d.url, headers={}, error=why))
                    marked += 1
        return marked

    @property
    def next_seq(self) -> int:
        return self._next_seq

    def skip_seq(self, seq: int) -> None:
        """Number new deliveries from `seq` on at least (a new id epoch; `core.durable`)."""
        self._next_seq = max(self._next_seq, seq)

    async def drain(self, timeout: float) -> int:
        """Let due deliveries go out for up to `timeout` wall seconds; returns how many are still pending."""
        for key in list(self._queues):
            self._kick(key)
        running = [t for t in self._pumps if not t.done()]
        if running:
            await asyncio.wait(running, timeout=timeout)
        return self.pending_count

    async def close(self) -> None:
        """Stop delivering: cancel what is in flight (it stays pending, for the snapshot) and close the pool."""
        self._closing = True
        running = [t for t in self._pumps if not t.done()]
        for task in running:
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)
        for task, tenant in list(self._pumps.items()):  # cancelled before their first step: no `finally` ran
            del self._pumps[task]
            self.scheduler.leave(task, tenant)
        self._offload.stop()
        if self._http is not None:
            await self._http.close()
            self._http = None
