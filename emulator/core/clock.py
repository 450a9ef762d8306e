"""One clock drives everything: agent delays, typing, webhook retries, timeouts and token expiry.

`SystemClock` follows wall time for live use; `VirtualClock` only moves when told to, so CI can run an
hour-long scenario in milliseconds. The `Scheduler` keeps timers on whichever clock it is given:

- `call_later` / `call_at` schedule an in-memory callback (sync, or async: the coroutine is awaited);
- `schedule_job` schedules a *persistent* job (a registered kind plus JSON arguments) that survives a
  snapshot/restore, which is how vendor actors keep their pending actions across a restart;
- `spawn` runs a coroutine as tracked background work, so `run_until_idle` knows when all is quiet;
- on a virtual clock, `advance(seconds)` runs every due timer in time order (ties in scheduling order)
  with the clock set to each timer's due time, waiting for the work each one starts before the next;
  `run_until_idle()` keeps jumping to the next timer until nothing is scheduled or running.

This module (with `ids.py`) is the only place allowed to read wall time.
"""

from __future__ import annotations

import asyncio
import heapq
import inspect
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
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


def wall_monotonic() -> float:
    """Monotonic wall seconds, for latencies and long-poll deadlines only (never for emulated time)."""
    return time.monotonic()


class SchedulerRunaway(RuntimeError):
    """`run_until_idle` hit its step guard: something keeps rescheduling itself."""


@dataclass(eq=False)
class Timer:
    """A scheduled callback. `job` is set for persistent jobs; `vendor`/`tenant` tag it for resets."""

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


@dataclass
class IdleResult:
    """What `advance` / `run_until_idle` did."""

    timers_run: int
    now: float


class Scheduler:
    """Timers and tracked background work on one clock."""

    def __init__(self, clock: Clock, *, max_steps: int = 100_000, settle_timeout: float = 30.0) -> None:
        self.clock = clock
        self.max_steps = max_steps
        self.settle_timeout = settle_timeout
        self._heap: list[Timer] = []  # virtual clock only
        self._live: dict[int, Timer] = {}  # every pending timer, by seq
        self._seq = itertools.count()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._jobs: dict[str, JobHandler] = {}
        self._advancing = asyncio.Lock()

    # -- scheduling -------------------------------------------------------------------------------

    def call_later(
        self, delay: float, callback: Callback, *, vendor: str | None = None, tenant: str | None = None
    ) -> Timer:
        return self.call_at(self.clock.now() + max(0.0, delay), callback, vendor=vendor, tenant=tenant)

    def call_at(
        self,
        when: float,
        callback: Callback,
        *,
        vendor: str | None = None,
        tenant: str | None = None,
        job: dict[str, Any] | None = None,
    ) -> Timer:
        timer = Timer(when=when, seq=next(self._seq), callback=callback, vendor=vendor, tenant=tenant, job=job)
        self._live[timer.seq] = timer
        if self.clock.virtual:
            heapq.heappush(self._heap, timer)
        else:
            loop = asyncio.get_running_loop()
            delay = max(0.0, when - self.clock.now())
            timer._handle = loop.call_at(loop.time() + delay, self._fire, timer)
        return timer

    def register_job(self, kind: str, handler: JobHandler) -> None:
        """Declare a persistent job kind; `handler(vendor, tenant, args)` runs when one is due."""
        self._jobs[kind] = handler

    def schedule_job(self, delay: float, kind: str, args: Mapping[str, Any], *, vendor: str, tenant: str) -> Timer:
        """Schedule a persistent job: it is part of `snapshot()` and comes back with `restore()`."""
        when = self.clock.now() + max(0.0, delay)
        return self._job_timer(when, kind, dict(args), vendor, tenant)

    def _job_timer(self, when: float, kind: str, args: dict[str, Any], vendor: str, tenant: str) -> Timer:
        handler = self._jobs.get(kind)
        if handler is None:
            raise KeyError(f"unknown job kind {kind!r}")

        def run() -> Awaitable[None] | None:
            return handler(vendor, tenant, args)

        job = {"kind": kind, "args": args}
        return self.call_at(when, run, vendor=vendor, tenant=tenant, job=job)

    def cancel(self, timer: Timer | None) -> None:
        if timer is None or timer.cancelled:
            return
        timer.cancelled = True
        self._live.pop(timer.seq, None)
        if timer._handle is not None:
            timer._handle.cancel()

    def cancel_tagged(self, vendor: str | None = None, tenant: str | None = None) -> int:
        """Cancel the timers of one vendor and/or tenant (all timers when both are None)."""
        doomed = [
            t
            for t in self._live.values()
            if (vendor is None or t.vendor == vendor) and (tenant is None or t.tenant == tenant)
        ]
        for timer in doomed:
            self.cancel(timer)
        return len(doomed)

    def pending(self) -> list[Timer]:
        return sorted(self._live.values())

    def next_due(self) -> float | None:
        live = self._live.values()
        return min((t.when for t in live), default=None)

    # -- background work --------------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run `coro` as tracked work: `advance` and `run_until_idle` wait for it to finish."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            LOG.error("background task failed", exc_info=task.exception())

    @property
    def busy(self) -> bool:
        return bool(self._tasks)

    async def settle(self) -> None:
        """Wait (in wall time, bounded) until no tracked work is running."""
        deadline = wall_monotonic() + self.settle_timeout
        while self._tasks:
            remaining = deadline - wall_monotonic()
            if remaining <= 0:
                LOG.warning("%d background tasks still running after %.0fs", len(self._tasks), self.settle_timeout)
                return
            await asyncio.wait(set(self._tasks), timeout=remaining)

    # -- running timers ---------------------------------------------------------------------------

    def _fire(self, timer: Timer) -> None:
        """System clock: the loop calls this when a timer is due."""
        if timer.cancelled:
            return
        self._live.pop(timer.seq, None)
        try:
            result = timer.callback()
        except Exception:
            LOG.exception("timer callback failed")
            return
        if inspect.isawaitable(result):
            self.spawn(_await(result))

    async def _run_virtual(self, timer: Timer) -> None:
        self._live.pop(timer.seq, None)
        assert isinstance(self.clock, VirtualClock)
        self.clock.set(max(self.clock.now(), timer.when))
        try:
            result = timer.callback()
            if inspect.isawaitable(result):
                await result
        except Exception:
            LOG.exception("timer callback failed")
        await self.settle()

    def _pop_due(self, horizon: float) -> Timer | None:
        """The earliest live timer due by `horizon`, taken off the heap (cancelled ones are dropped)."""
        while self._heap and self._heap[0].when <= horizon:
            timer = heapq.heappop(self._heap)
            if not timer.cancelled:
                return timer
        return None

    async def advance(self, seconds: float) -> IdleResult:
        """Virtual clock: move time forward by `seconds`, running every timer that falls due."""
        if not isinstance(self.clock, VirtualClock):
            raise RuntimeError("advance needs the virtual clock (start with --clock virtual)")
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        async with self._advancing:
            await self.settle()
            target = round(self.clock.now() + seconds, 6)  # see DUE_SLACK
            ran = 0
            while True:
                due = self._pop_due(target + DUE_SLACK)
                if due is None:
                    break
                ran += 1
                if ran > self.max_steps:
                    heapq.heappush(self._heap, due)  # not run: keep it scheduled
                    raise SchedulerRunaway(f"more than {self.max_steps} timers in one advance")
                await self._run_virtual(due)
            self.clock.set(max(target, self.clock.now()))
            return IdleResult(timers_run=ran, now=self.clock.now())

    async def run_until_idle(self, *, max_steps: int | None = None) -> IdleResult:
        """Run until no timer is scheduled and no tracked work is running.

        On the virtual clock time jumps to each next timer. On the system clock this waits in real time,
        so it is only meant for short horizons. Raises `SchedulerRunaway` past `max_steps` timers.
        """
        limit = self.max_steps if max_steps is None else max_steps
        ran = 0
        if not isinstance(self.clock, VirtualClock):
            while self._live or self._tasks:
                await self.settle()
                nxt = self.next_due()
                if nxt is not None:
                    ran += 1
                    if ran > limit:
                        raise SchedulerRunaway(f"more than {limit} timers before idle")
                    await asyncio.sleep(max(0.0, nxt - self.clock.now()) + 0.001)
            return IdleResult(timers_run=ran, now=self.clock.now())
        async with self._advancing:
            await self.settle()
            while True:
                due = self._pop_due(float("inf"))
                if due is None:
                    break
                ran += 1
                if ran > limit:
                    heapq.heappush(self._heap, due)  # not run: keep it scheduled
                    raise SchedulerRunaway(
                        f"more than {limit} timers before idle; still pending: {self._describe_pending()}"
                    )
                await self._run_virtual(due)
            return IdleResult(timers_run=ran, now=self.clock.now())

    def _describe_pending(self) -> str:
        kinds = [t.job["kind"] if t.job else getattr(t.callback, "__qualname__", "callback") for t in self.pending()]
        return ", ".join(kinds[:5]) + (" ..." if len(kinds) > 5 else "")

    # -- persistence --------------------------------------------------------------------------------

    def snapshot(self) -> list[dict[str, Any]]:
        """Persistent jobs still pending, with their due time."""
        return [
            {"due": t.when, "vendor": t.vendor, "tenant": t.tenant, **t.job}
            for t in self.pending()
            if t.job is not None
        ]

    def restore(self, jobs: list[dict[str, Any]]) -> None:
        """Re-schedule jobs from `snapshot()` (unknown kinds are dropped with a warning)."""
        for job in jobs:
            if job["kind"] not in self._jobs:
                LOG.warning("dropping job of unknown kind %s", job["kind"])
                continue
            self._job_timer(float(job["due"]), job["kind"], dict(job["args"]), job["vendor"], job["tenant"])


async def _await(result: Awaitable[None]) -> None:
    await result
