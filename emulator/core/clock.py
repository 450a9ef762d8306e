"""One clock per tenant drives everything: agent delays, typing, webhook retries, timeouts and token expiry.

`SystemClock` follows wall time for live use; `VirtualClock` only moves when told to, so CI can run an
hour-long scenario in milliseconds. The `Scheduler` keeps timers on timelines:

- a `Timeline` per tenant name (the same name across vendors): on a virtual clock its own `VirtualClock`,
  starting at the scheduler's start (`virtual_start`) when the tenant first appears, its own timers and its
  own tracked work, so what one tenant's tests do to time never shows in another tenant's bodies. On the
  system clock every timeline reads the one wall clock;
- one shared timeline (tenant `None`) for work tied to no tenant: timers scheduled without a tenant (a
  test's or a tool's own); every vendor timer, webhook delivery and scenario actor names its tenant;
- `call_later` / `call_at` schedule an in-memory callback (sync, or async: the coroutine is awaited) on
  the tenant's timeline;
- `schedule_job` schedules a *persistent* job (a registered kind plus JSON arguments) that survives a
  snapshot/restore, which is how vendor actors keep their pending actions across a restart;
- `spawn` runs a coroutine as tracked background work of a timeline, so `run_until_idle` knows when it is
  quiet;
- `durable` (a Redis-backed server, `core.redisruntime`) is told of each persistent job scheduled and gone;
- `firing` wraps each timer's callback and the work it starts (the feed records a job firing and makes it
  the cause of what it does, `core.feed`);
- on a virtual clock, `advance(seconds, tenants)` runs every due timer of those timelines (every timeline
  when `tenants` is None, one after another in name order) in time order (ties in scheduling order) with
  the timeline's clock set to each timer's due time, waiting for the work each one starts before the next;
  `run_until_idle(tenants=)` keeps jumping to the next timer until nothing is scheduled or running. Each
  timeline has its own lock: advancing one tenant never waits for another's timers or work.

Reads are per timeline (a dict lookup): a tenant's requests never scan another tenant's timers, and
advancing one tenant among thousands costs what it costs alone.

This module (with `ids.py`) is the only place allowed to read wall time.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import inspect
import itertools
import logging
import operator
import time
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import CoroutineType
from typing import Any, Protocol

LOG = logging.getLogger(__name__)

Callback = Callable[[], "Awaitable[None] | None"]
JobHandler = Callable[[str, str, Mapping[str, Any]], "Awaitable[None] | None"]

#: Where a virtual clock starts unless configured: a fixed instant, so runs are byte-identical.
DEFAULT_VIRTUAL_START = 1_767_225_600.0  # 2026-01-01T00:00:00Z

#: `advance` targets are whole microseconds and a timer due within this much after the target runs in it,
#: so float rounding never makes ten advances of 0.1 s miss a timer due in 1 s.
DUE_SLACK = 1e-6


class Clock(Protocol):
    """What every component reads time from."""

    @property
    def virtual(self) -> bool: ...

    def now(self) -> float:
        """Seconds since the Unix epoch."""
        ...


class SystemClock:
    """Wall-clock time."""

    virtual = False

    def now(self) -> float:
        return time.time()


class VirtualClock:
    """Time that only moves when the scheduler advances it."""

    virtual = True

    def __init__(self, start: float = DEFAULT_VIRTUAL_START) -> None:
        self._now = float(start)

    def now(self) -> float:
        return self._now

    def set(self, when: float) -> None:
        if when < self._now:
            raise ValueError("a virtual clock never goes backwards")
        self._now = when


def iso(ts: float, *, millis: bool = False) -> str:
    """ISO-8601 UTC with a `Z` suffix, seconds precision unless `millis`."""
    try:
        dt = datetime.fromtimestamp(ts, tz=UTC)
    except (OverflowError, ValueError, OSError):
        return f"{ts:.3f}"
    if millis:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


_VIRTUAL_NOW = operator.attrgetter("clock._now")
"""A timeline's `VirtualClock.now()`, read without calling it."""


wall_monotonic: Callable[[], float] = time.monotonic
"""Monotonic wall seconds, for latencies and long-poll deadlines only (never for emulated time); `time.monotonic`
itself, so the request journal's latency costs no extra call."""


class JobLog(Protocol):
    """Told of every persistent job as it is scheduled and as it goes (fired or cancelled): `core.redisruntime`
    keeps them in Redis."""

    def scheduled(self, timer: Timer) -> None: ...

    def gone(self, timer: Timer) -> None: ...


class SchedulerRunaway(RuntimeError):
    """`run_until_idle` hit its step guard: something keeps rescheduling itself."""


@dataclass(eq=False, slots=True)
class Timer:
    """A scheduled callback. `job` is set for persistent jobs; `vendor`/`tenant` tag it for resets (and the
    tenant names its timeline)."""

    when: float
    seq: int
    callback: Callback
    vendor: str | None = None
    tenant: str | None = None
    job: dict[str, Any] | None = None
    cancelled: bool = False
    _handle: asyncio.TimerHandle | None = field(default=None, repr=False)

    def __lt__(self, other: Timer) -> bool:
        return (self.when, self.seq) < (other.when, other.seq)

    def describe(self) -> str:
        """What it will do: the job kind, or the callback's name."""
        return str(self.job["kind"]) if self.job else getattr(self.callback, "__qualname__", "callback")


@dataclass(eq=False)
class Timeline:
    """One tenant's time (tenant None: the shared timeline): its clock, pending timers and tracked work."""

    tenant: str | None
    clock: Clock
    heap: list[Timer] = field(default_factory=list)  # virtual clock only
    live: dict[int, Timer] = field(default_factory=dict)  # every pending timer, by seq
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def next_due(self) -> float | None:
        return min((t.when for t in self.live.values()), default=None)

    def done(self, task: asyncio.Task[Any]) -> None:
        """A tracked task ended: no longer waited for; its failure logged (one callback per task, not two)."""
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            LOG.error("background task failed", exc_info=task.exception())


@dataclass
class IdleResult:
    """What `advance` / `run_until_idle` did; `now` is the first timeline's (the shared one when all moved)."""

    timers_run: int
    now: float
    timelines: dict[str, float] = field(default_factory=dict)
    """The tenants moved, when named, and where each timeline now stands."""


class Scheduler:
    """Timers and tracked background work on per-tenant timelines; see the module docstring."""

    def __init__(self, clock: Clock, *, max_steps: int = 100_000, settle_timeout: float = 30.0) -> None:
        self.clock = clock
        """The shared timeline's clock (and every timeline's on the system clock)."""
        self.start = clock.now()
        """Where a tenant's timeline starts on a virtual clock."""
        self.max_steps = max_steps
        self.settle_timeout = settle_timeout
        self._shared = Timeline(None, clock)
        self._timelines: dict[str, Timeline] = {}
        self._seq = itertools.count()
        self._jobs: dict[str, JobHandler] = {}
        self.moves = 0
        """Grows whenever a timeline's time moves or a timeline goes (a cheap "did time change" check)."""
        self.firing: Callable[[Timer], contextlib.AbstractContextManager[None]] = _nothing
        """Wraps each timer's callback (and the work it starts): the feed records the timer and makes it the cause."""
        self.durable: JobLog | None = None
        """Told of persistent jobs scheduled and gone (a Redis-backed server keeps them there)."""

    # -- timelines --------------------------------------------------------------------------------

    def timeline(self, tenant: str | None) -> Timeline:
        """The tenant's timeline, made on first use (None: the shared one)."""
        if tenant is None:
            return self._shared
        line = self._timelines.get(tenant)
        if line is None:
            clock = VirtualClock(self.start) if isinstance(self.clock, VirtualClock) else self.clock
            line = self._timelines[tenant] = Timeline(tenant, clock)
        return line

    def clock_of(self, tenant: str | None) -> Clock:
        """The clock a tenant's unit of work reads (the tenant appears: its timeline is made)."""
        return self.timeline(tenant).clock

    def now(self, tenant: str | None = None) -> float:
        """The tenant's time; a tenant not seen yet is at the start (nothing is made)."""
        line = self._shared if tenant is None else self._timelines.get(tenant)
        if line is None:
            return self.start if self.clock.virtual else self.clock.now()
        return line.clock.now()

    def tenants(self) -> list[str]:
        """The tenants with a timeline, by name."""
        return sorted(self._timelines)

    def _lines(self, tenants: Iterable[str] | None) -> list[Timeline]:
        """The named timelines (made if new), or every one: the shared one first, then by tenant name."""
        if tenants is None:
            return [self._shared, *(self._timelines[t] for t in sorted(self._timelines))]
        return [self.timeline(t) for t in dict.fromkeys(tenants)]

    def _existing(self, tenants: Iterable[str] | None) -> list[Timeline]:
        if tenants is None:
            return [self._shared, *self._timelines.values()]
        return [line for t in tenants if (line := self._timelines.get(t)) is not None]

    def forget(self, tenant: str | None = None) -> None:
        """Drop a tenant's timeline (every tenant's when None), cancelling its timers: the tenant starts again
        at the start when it next appears. The shared timeline stays."""
        doomed = list(self._timelines) if tenant is None else [tenant]
        self.moves += 1
        for name in doomed:
            line = self._timelines.pop(name, None)
            if line is not None:
                for timer in list(line.live.values()):
                    self.cancel(timer)

    def timelines(self) -> dict[str, float]:
        """Where each tenant's timeline stands (virtual clock; empty on the system clock), by name."""
        if not self.clock.virtual:
            return {}
        names = sorted(self._timelines)
        # one C-level pass (no Python call per tenant): a snapshot reads 40,000 of them at one instant (core.bigwork)
        return dict(zip(names, map(_VIRTUAL_NOW, map(self._timelines.__getitem__, names)), strict=True))

    def restore_timelines(self, nows: Mapping[str, float]) -> None:
        """Replace every tenant's timeline with the given times (virtual clock only; the timers are restored
        separately, after this)."""
        if not isinstance(self.clock, VirtualClock):
            return
        self.forget()
        for tenant, now in nows.items():
            clock = self.timeline(tenant).clock
            assert isinstance(clock, VirtualClock)
            clock.set(max(clock.now(), float(now)))
        self.moves += 1

    # -- scheduling -------------------------------------------------------------------------------

    def call_later(
        self, delay: float, callback: Callback, *, vendor: str | None = None, tenant: str | None = None
    ) -> Timer:
        when = self.timeline(tenant).clock.now() + max(0.0, delay)
        return self.call_at(when, callback, vendor=vendor, tenant=tenant)

    def call_at(
        self,
        when: float,
        callback: Callback,
        *,
        vendor: str | None = None,
        tenant: str | None = None,
        job: dict[str, Any] | None = None,
    ) -> Timer:
        line = self.timeline(tenant)
        timer = Timer(when, next(self._seq), callback, vendor, tenant, job)  # (positional: keywords cost more)
        line.live[timer.seq] = timer
        if line.clock.virtual:
            heapq.heappush(line.heap, timer)
        else:
            loop = asyncio.get_running_loop()
            delay = max(0.0, when - line.clock.now())
            timer._handle = loop.call_at(loop.time() + delay, self._fire, line, timer)
        if job is not None and self.durable is not None:
            self.durable.scheduled(timer)
        return timer

    def register_job(self, kind: str, handler: JobHandler) -> None:
        """Declare a persistent job kind; `handler(vendor, tenant, args)` runs when one is due."""
        self._jobs[kind] = handler

    def schedule_job(self, delay: float, kind: str, args: Mapping[str, Any], *, vendor: str, tenant: str) -> Timer:
        """Schedule a persistent job: it is part of `snapshot()` and comes back with `restore()`."""
        when = self.timeline(tenant).clock.now() + max(0.0, delay)
        return self._job_timer(when, kind, dict(args), vendor, tenant)

    def _job_timer(self, when: float, kind: str, args: dict[str, Any], vendor: str, tenant: str) -> Timer:
        handler = self._jobs.get(kind)
        if handler is None:
            raise KeyError(f"unknown job kind {kind!r}")
        run = functools.partial(handler, vendor, tenant, args)  # (a C call: no closure and frame of its own)
        job = {"kind": kind, "args": args}
        return self.call_at(when, run, vendor=vendor, tenant=tenant, job=job)

    def cancel(self, timer: Timer | None) -> None:
        if timer is None or timer.cancelled:
            return
        timer.cancelled = True
        if timer.job is not None and self.durable is not None:
            self.durable.gone(timer)
        line = self._shared if timer.tenant is None else self._timelines.get(timer.tenant)
        if line is not None:
            line.live.pop(timer.seq, None)
        if timer._handle is not None:
            timer._handle.cancel()

    def cancel_tagged(self, vendor: str | None = None, tenant: str | None = None) -> int:
        """Cancel the timers of one vendor and/or tenant (all timers when both are None); with a tenant only
        that tenant's timeline is looked at."""
        lines = self._existing(None if tenant is None else [tenant])
        doomed = [
            t
            for line in lines
            for t in line.live.values()
            if (vendor is None or t.vendor == vendor) and (tenant is None or t.tenant == tenant)
        ]
        for timer in doomed:
            self.cancel(timer)
        return len(doomed)

    def pending(self, tenants: Iterable[str] | None = None) -> list[Timer]:
        """Pending timers in due order: of the named tenants' timelines, or of every timeline."""
        return sorted(t for line in self._existing(tenants) for t in line.live.values())

    def pending_count(self, tenants: Iterable[str] | None = None) -> int:
        return sum(len(line.live) for line in self._existing(tenants))

    def next_due(self, tenants: Iterable[str] | None = None) -> float | None:
        dues = [due for line in self._existing(tenants) if (due := line.next_due()) is not None]
        return min(dues, default=None)

    # -- background work --------------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, Any], *, tenant: str | None = None) -> asyncio.Task[Any]:
        """Run `coro` as tracked work of the tenant's timeline: its `advance` and `run_until_idle` wait for it."""
        line = self.timeline(tenant)
        task = asyncio.get_running_loop().create_task(coro)
        line.tasks.add(task)
        task.add_done_callback(line.done)
        return task

    def enter(self, coro: Coroutine[Any, Any, Any], *, tenant: str | None) -> asyncio.Task[Any]:
        """`spawn` without its done callback: for work that calls `leave` itself as it ends (in a `finally`) and
        logs its own failures. The webhook dispatcher starts one per delivery at low concurrency (a key's pump),
        where a done callback is one more loop handle and Python call each. A task cancelled before its first
        step never runs its `finally`: whoever cancels it calls `leave` for it."""
        task = asyncio.get_running_loop().create_task(coro)
        self.timeline(tenant).tasks.add(task)
        return task

    def leave(self, task: asyncio.Task[Any], tenant: str | None) -> None:
        """`task` (`enter`) is no longer tracked work of the tenant's timeline."""
        line = self._shared if tenant is None else self._timelines.get(tenant)
        if line is not None:
            line.tasks.discard(task)

    @property
    def busy(self) -> bool:
        return self.is_busy()

    def is_busy(self, tenants: Iterable[str] | None = None) -> bool:
        """Whether tracked work of the named timelines (every timeline when None) is running."""
        return any(line.tasks for line in self._existing(tenants))

    async def settle(self, tenants: Iterable[str] | None = None) -> None:
        """Wait (in wall time, bounded) until no tracked work of the named timelines (all when None) runs."""
        await self._settle(self._existing(tenants))

    async def _settle(self, lines: list[Timeline]) -> None:
        deadline = wall_monotonic() + self.settle_timeout
        while running := {task for line in lines for task in line.tasks}:
            remaining = deadline - wall_monotonic()
            if remaining <= 0:
                LOG.warning("%d background tasks still running after %.0fs", len(running), self.settle_timeout)
                return
            await asyncio.wait(running, timeout=remaining)

    # -- running timers ---------------------------------------------------------------------------

    def _fire(self, line: Timeline, timer: Timer) -> None:
        """System clock: the loop calls this when a timer is due."""
        if timer.cancelled:
            return
        line.live.pop(timer.seq, None)
        if timer.job is not None and self.durable is not None:
            self.durable.gone(timer)
        with self.firing(timer):
            try:
                result = timer.callback()
            except Exception:
                LOG.exception("timer callback failed")
                return
            if type(result) is CoroutineType:  # a job handler's coroutine runs as the task itself
                self.spawn(result, tenant=line.tenant)
            elif result is not None and inspect.isawaitable(result):
                self.spawn(_await(result), tenant=line.tenant)

    async def _run_virtual(self, line: Timeline, timer: Timer) -> None:
        line.live.pop(timer.seq, None)
        if timer.job is not None and self.durable is not None:
            self.durable.gone(timer)
        clock = line.clock
        assert isinstance(clock, VirtualClock)
        clock.set(max(clock.now(), timer.when))
        self.moves += 1
        with self.firing(timer):
            try:
                result = timer.callback()
                if inspect.isawaitable(result):
                    await result
            except Exception:
                LOG.exception("timer callback failed")
        await self._settle([line])

    @staticmethod
    def _pop_due(line: Timeline, horizon: float) -> Timer | None:
        """The earliest live timer due by `horizon`, taken off the heap (cancelled ones are dropped)."""
        heap = line.heap
        while heap and heap[0].when <= horizon:
            timer = heapq.heappop(heap)
            if not timer.cancelled:
                return timer
        return None

    def _virtual(self, what: str) -> None:
        if not isinstance(self.clock, VirtualClock):
            raise RuntimeError(f"{what} needs the virtual clock (start with --clock virtual)")

    async def advance(self, seconds: float, *, tenants: Iterable[str] | None = None) -> IdleResult:
        """Virtual clock: move the named tenants' timelines (every timeline when None) forward by `seconds`,
        running every timer that falls due."""
        self._virtual("advance")
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        lines = self._lines(tenants)
        ran = 0
        for line in lines:
            ran += await self._advance_line(line, seconds)
        return self._result(ran, lines, tenants is not None)

    async def _advance_line(self, line: Timeline, seconds: float) -> int:
        clock = line.clock
        assert isinstance(clock, VirtualClock)
        async with line.lock:
            await self._settle([line])
            target = round(clock.now() + seconds, 6)  # see DUE_SLACK
            ran = 0
            while True:
                due = self._pop_due(line, target + DUE_SLACK)
                if due is None:
                    break
                ran += 1
                if ran > self.max_steps:
                    heapq.heappush(line.heap, due)  # not run: keep it scheduled
                    raise SchedulerRunaway(f"more than {self.max_steps} timers in one advance")
                await self._run_virtual(line, due)
            clock.set(max(target, clock.now()))
            self.moves += 1
            return ran

    async def run_until_idle(self, *, max_steps: int | None = None, tenants: Iterable[str] | None = None) -> IdleResult:
        """Run until no timer of the named timelines (every timeline when None) is scheduled and no tracked
        work of theirs is running.

        On the virtual clock each timeline jumps to its next timer (without `tenants`, the shared timeline
        then stands where the furthest timeline ended, as one clock would). On the system clock this waits in real
        time, so it is only meant for short horizons. Raises `SchedulerRunaway` past `max_steps` timers.
        """
        limit = self.max_steps if max_steps is None else max_steps
        named = None if tenants is None else list(dict.fromkeys(tenants))
        if not isinstance(self.clock, VirtualClock):
            return await self._wait_idle(limit, named)
        ran = 0
        while True:  # every timeline: again while a pass made work for a timeline already passed
            lines = self._lines(named)
            for line in lines:
                ran = await self._idle_line(line, ran, limit)
            if named is not None:
                return self._result(ran, lines, True)
            everything = self._existing(None)
            if not any(line.live or line.tasks for line in everything):
                latest = max(line.clock.now() for line in everything)
                self.clock.set(latest)  # the shared timeline ends where the furthest one did, as one clock would
                self.moves += 1
                return self._result(ran, lines, False)

    async def _idle_line(self, line: Timeline, ran: int, limit: int) -> int:
        async with line.lock:
            await self._settle([line])
            while True:
                due = self._pop_due(line, float("inf"))
                if due is None:
                    return ran
                ran += 1
                if ran > limit:
                    heapq.heappush(line.heap, due)  # not run: keep it scheduled
                    raise SchedulerRunaway(
                        f"more than {limit} timers before idle; still pending: {self._describe_pending(line)}"
                    )
                await self._run_virtual(line, due)

    async def _wait_idle(self, limit: int, named: list[str] | None) -> IdleResult:
        ran = 0
        while any(line.live or line.tasks for line in self._existing(named)):
            await self.settle(named)
            nxt = self.next_due(named)
            if nxt is not None:
                ran += 1
                if ran > limit:
                    raise SchedulerRunaway(f"more than {limit} timers before idle")
                await asyncio.sleep(max(0.0, nxt - self.clock.now()) + 0.001)
        return self._result(ran, self._existing(named) or [self._shared], named is not None)

    def _result(self, ran: int, lines: list[Timeline], named: bool) -> IdleResult:
        moved = {line.tenant: line.clock.now() for line in lines if line.tenant is not None} if named else {}
        return IdleResult(timers_run=ran, now=lines[0].clock.now() if lines else self.now(), timelines=moved)

    @staticmethod
    def _describe_pending(line: Timeline) -> str:
        kinds = [t.describe() for t in sorted(line.live.values())]
        return ", ".join(kinds[:5]) + (" ..." if len(kinds) > 5 else "")

    # -- persistence --------------------------------------------------------------------------------

    def snapshot(self) -> list[dict[str, Any]]:
        """Persistent jobs still pending, with their due time (on their tenant's timeline), by due time, then
        tenant and vendor, then scheduling order: jobs of different tenants due at one instant are listed the
        same way by one server and by a fleet whose workers each schedule some of the tenants."""
        jobs = [t for t in self.pending() if t.job is not None]
        jobs.sort(key=lambda t: (t.when, t.tenant or "", t.vendor or ""))  # stable: scheduling order within
        return [{"due": t.when, "vendor": t.vendor, "tenant": t.tenant, **(t.job or {})} for t in jobs]

    def restore(self, jobs: list[dict[str, Any]]) -> None:
        """Re-schedule jobs from `snapshot()` (unknown kinds are dropped with a warning)."""
        for job in jobs:
            if job["kind"] not in self._jobs:
                LOG.warning("dropping job of unknown kind %s", job["kind"])
                continue
            self._job_timer(float(job["due"]), job["kind"], dict(job["args"]), job["vendor"], job["tenant"])


def inline(coro: Coroutine[Any, Any, None]) -> Awaitable[None] | None:
    """Run a job's coroutine now, up to where it first waits: None when it finished without waiting (a unit of work
    on an unlocked tenant in memory never waits), else the rest of it, for the scheduler to run as tracked work (the
    future it waits on is handed to that task). A job handler returns this in place of its coroutine, so a job that
    does not wait costs no task; one that may use `asyncio.timeout` (which needs a task) must not. Raises what the
    coroutine raised before it first waited."""
    try:
        waited = coro.send(None)
    except StopIteration:
        return None
    return _Rest(coro, waited)


class _Rest:
    """The rest of a coroutine `inline` ran until it first waited (on `waited`): the task that awaits this is handed
    each future the coroutine waits on and hands back what it gets, as if it had run the coroutine from the start."""

    __slots__ = ("coro", "waited")

    def __init__(self, coro: Coroutine[Any, Any, None], waited: Any) -> None:
        self.coro, self.waited = coro, waited

    def __await__(self) -> Generator[Any, Any, None]:
        coro, waited = self.coro, self.waited
        while True:
            try:
                got = yield waited
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # the awaited future's error or a cancellation: the coroutine's to handle
                try:
                    waited = coro.throw(exc)
                except StopIteration:
                    return
            else:
                try:
                    waited = coro.send(got)
                except StopIteration:
                    return


def _nothing(timer: Timer) -> contextlib.AbstractContextManager[None]:
    return contextlib.nullcontext()


async def _await(result: Awaitable[None]) -> None:
    await result
