"""VirtualClock / SystemClock / Scheduler: what a scenario author relies on when driving time."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from typing import Any

import pytest

from emulator.core.clock import (
    DEFAULT_VIRTUAL_START,
    IdleResult,
    Scheduler,
    SchedulerRunaway,
    SystemClock,
    VirtualClock,
    iso,
)

START = DEFAULT_VIRTUAL_START


def virtual(**kwargs: Any) -> tuple[VirtualClock, Scheduler]:
    clock = VirtualClock()
    return clock, Scheduler(clock, **kwargs)


# -- ordering and windows ---------------------------------------------------------------------------------


async def test_timers_run_in_time_order_with_ties_in_scheduling_order() -> None:
    clock, sched = virtual()
    ran: list[tuple[str, float]] = []
    for label, delay in [("c", 3.0), ("a1", 1.0), ("b", 2.0), ("a2", 1.0), ("a3", 1.0)]:
        sched.call_later(delay, lambda label=label: ran.append((label, clock.now())))

    result = await sched.advance(5)

    assert ran == [("a1", START + 1), ("a2", START + 1), ("a3", START + 1), ("b", START + 2), ("c", START + 3)]
    assert result == IdleResult(timers_run=5, now=START + 5)
    assert clock.now() == START + 5


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0.0, []),
        (0.999, []),
        (1.0, ["at+1"]),
        (2.5, ["at+1", "at+2"]),
        (3.0, ["at+1", "at+2", "at+3"]),
    ],
    ids=["zero", "just-before-first", "exactly-due", "between", "window-end-inclusive"],
)
async def test_advance_runs_only_what_falls_due(seconds: float, expected: list[str]) -> None:
    clock, sched = virtual()
    ran: list[str] = []
    for delay in (1, 2, 3):
        sched.call_later(delay, lambda delay=delay: ran.append(f"at+{delay}"))

    result = await sched.advance(seconds)

    assert ran == expected
    assert result.timers_run == len(expected)
    assert clock.now() == START + seconds
    assert len(sched.pending()) == 3 - len(expected)


async def test_clock_reads_each_timers_due_time_while_it_runs() -> None:
    clock, sched = virtual()
    seen: dict[str, float] = {}
    sched.call_later(2.5, lambda: seen.__setitem__("second", clock.now()))
    sched.call_later(0.25, lambda: seen.__setitem__("first", clock.now()))

    await sched.advance(10)

    assert seen == {"first": START + 0.25, "second": START + 2.5}
    assert clock.now() == START + 10


async def test_timers_scheduled_by_a_running_timer_run_if_inside_the_window() -> None:
    clock, sched = virtual()
    ran: list[tuple[str, float]] = []

    def parent() -> None:
        ran.append(("parent", clock.now()))
        sched.call_later(1, lambda: ran.append(("child-inside", clock.now())))
        sched.call_later(5, lambda: ran.append(("child-outside", clock.now())))
        sched.call_later(0, lambda: ran.append(("child-now", clock.now())))

    sched.call_later(1, parent)

    first = await sched.advance(3)
    assert ran == [("parent", START + 1), ("child-now", START + 1), ("child-inside", START + 2)]
    assert first.timers_run == 3

    second = await sched.advance(3)
    assert ran[-1] == ("child-outside", START + 6)
    assert second.timers_run == 1


@pytest.mark.parametrize(
    ("step", "steps"),
    [(0.1, 10), (0.01, 100), (0.3, 10), (0.001, 2000)],
    ids=["10x0.1s", "100x0.01s", "10x0.3s", "2000x1ms"],
)
async def test_small_advances_add_up_to_a_due_timer(step: float, steps: int) -> None:
    # A user stepping the clock in small increments must reach a timer due after the total.
    clock, sched = virtual()
    fired: list[float] = []
    sched.call_later(round(step * steps, 6), lambda: fired.append(clock.now()))

    for _ in range(steps - 1):
        await sched.advance(step)
    assert fired == []
    await sched.advance(step)

    assert fired == [START + round(step * steps, 6)]


async def test_a_timer_scheduled_mid_step_fires_when_its_delay_has_passed() -> None:
    clock, sched = virtual()
    fired: list[float] = []
    await sched.advance(0.1)
    sched.call_later(0.9, lambda: fired.append(clock.now()))

    await sched.advance(0.899)
    assert fired == []
    await sched.advance(0.001)
    assert len(fired) == 1
    assert fired[0] == pytest.approx(START + 1.0, abs=1e-6)


# -- async callbacks and spawned work ---------------------------------------------------------------------


async def test_async_callbacks_and_spawned_work_finish_before_advance_returns() -> None:
    clock, sched = virtual()
    log: list[tuple[str, float]] = []

    async def slow_work(label: str) -> None:
        await asyncio.sleep(0.01)  # the work itself is slow (wall time); advance must wait for it
        log.append((label, clock.now()))

    async def first() -> None:
        await asyncio.sleep(0)
        log.append(("first", clock.now()))
        sched.spawn(slow_work("first-spawned"))

    sched.call_later(1, first)
    sched.call_later(2, lambda: log.append(("second", clock.now())))

    result = await sched.advance(2)

    # the spawned work of timer 1 settles before timer 2 runs, with the clock still at timer 1's time
    assert log == [("first", START + 1), ("first-spawned", START + 1), ("second", START + 2)]
    assert result.timers_run == 2
    assert not sched.busy


async def test_a_failing_callback_is_logged_and_later_timers_still_run(caplog: pytest.LogCaptureFixture) -> None:
    _, sched = virtual()
    ran: list[str] = []

    def boom() -> None:
        raise ValueError("broken actor")

    async def async_boom() -> None:
        raise RuntimeError("broken async actor")

    sched.call_later(1, boom)
    sched.call_later(2, async_boom)
    sched.call_later(3, lambda: ran.append("after"))

    with caplog.at_level(logging.ERROR, logger="emulator.core.clock"):
        result = await sched.advance(3)

    assert ran == ["after"]
    assert result.timers_run == 3
    assert [r.exc_info[1].args[0] for r in caplog.records if r.exc_info and r.exc_info[1]] == [
        "broken actor",
        "broken async actor",
    ]


# -- cancelling -------------------------------------------------------------------------------------------


async def test_cancel_stops_a_timer_and_is_idempotent() -> None:
    _, sched = virtual()
    ran: list[str] = []
    keep = sched.call_later(1, lambda: ran.append("keep"))
    drop = sched.call_later(1, lambda: ran.append("drop"))

    sched.cancel(drop)
    sched.cancel(drop)
    sched.cancel(None)

    assert sched.pending() == [keep]
    assert sched.next_due() == START + 1
    await sched.advance(5)
    assert ran == ["keep"]
    assert sched.next_due() is None


@pytest.mark.parametrize(
    ("vendor", "tenant", "survivors"),
    [
        ("v1", None, ["v2/a", "untagged"]),
        (None, "a", ["v1/b", "untagged"]),
        ("v1", "a", ["v1/b", "v2/a", "untagged"]),
        ("v3", None, ["v1/a", "v1/b", "v2/a", "untagged"]),
        (None, None, []),
    ],
    ids=["vendor", "tenant", "vendor+tenant", "no-match", "everything"],
)
async def test_cancel_tagged(vendor: str | None, tenant: str | None, survivors: list[str]) -> None:
    _, sched = virtual()
    ran: list[str] = []
    for v, t in [("v1", "a"), ("v1", "b"), ("v2", "a"), (None, None)]:
        label = f"{v}/{t}" if v else "untagged"
        sched.call_later(1, lambda label=label: ran.append(label), vendor=v, tenant=t)

    cancelled = sched.cancel_tagged(vendor, tenant)

    assert cancelled == 4 - len(survivors)
    await sched.run_until_idle()
    assert sorted(ran) == sorted(survivors)  # timelines run one after another: no order across tenants


# -- run_until_idle and the runaway guard ----------------------------------------------------------------


async def test_run_until_idle_jumps_through_chained_timers() -> None:
    clock, sched = virtual()
    seen: list[float] = []

    def step() -> None:
        seen.append(clock.now())
        if len(seen) < 5:
            sched.call_later(60, step)

    sched.call_later(60, step)

    result = await sched.run_until_idle()

    assert seen == [START + 60 * i for i in range(1, 6)]
    assert result == IdleResult(timers_run=5, now=START + 300)
    assert sched.pending() == []


async def test_run_until_idle_with_nothing_scheduled_keeps_the_clock() -> None:
    clock, sched = virtual()
    assert await sched.run_until_idle() == IdleResult(timers_run=0, now=START)
    assert clock.now() == START


async def test_run_until_idle_waits_for_spawned_work_that_schedules_timers() -> None:
    clock, sched = virtual()
    seen: list[float] = []

    async def work() -> None:
        await asyncio.sleep(0)
        sched.call_later(30, lambda: seen.append(clock.now()))

    sched.spawn(work())
    result = await sched.run_until_idle()

    assert seen == [START + 30]
    assert result.timers_run == 1


@pytest.mark.parametrize("delay", [0.0, 1.0], ids=["same-instant", "one-second"])
async def test_runaway_guard_stops_a_timer_that_reschedules_itself_forever(delay: float) -> None:
    _, sched = virtual(max_steps=50)
    runs: list[int] = []

    def forever() -> None:
        runs.append(1)
        sched.call_later(delay, forever)

    sched.call_later(delay, forever)

    with pytest.raises(SchedulerRunaway, match="more than 50 timers"):
        await sched.run_until_idle()
    assert len(runs) == 50
    assert len(sched.pending()) == 1  # the timer that tripped the guard is still scheduled, not lost

    with pytest.raises(SchedulerRunaway, match="more than 5 timers"):
        await sched.run_until_idle(max_steps=5)
    assert len(runs) == 55

    if delay == 0.0:  # a same-instant loop also trips `advance`, which would otherwise never return
        with pytest.raises(SchedulerRunaway):
            await sched.advance(1)


async def test_run_until_idle_runaway_message_names_the_pending_job_kind() -> None:
    _, sched = virtual(max_steps=3)

    def again(vendor: str, tenant: str, args: Mapping[str, Any]) -> None:
        sched.schedule_job(1, "demo.again", args, vendor=vendor, tenant=tenant)

    sched.register_job("demo.again", again)
    sched.schedule_job(1, "demo.again", {}, vendor="v", tenant="t")

    with pytest.raises(SchedulerRunaway, match=r"still pending: demo\.again"):
        await sched.run_until_idle()


# -- argument checks -------------------------------------------------------------------------------------


async def test_advance_on_the_system_clock_raises() -> None:
    sched = Scheduler(SystemClock())
    with pytest.raises(RuntimeError, match="virtual clock"):
        await sched.advance(1)


async def test_negative_seconds_are_rejected_and_time_does_not_move() -> None:
    clock, sched = virtual()
    ran: list[str] = []
    sched.call_later(0, lambda: ran.append("due-now"))
    with pytest.raises(ValueError, match=">= 0"):
        await sched.advance(-1)
    assert clock.now() == START
    assert ran == []


def test_virtual_clock_never_goes_backwards() -> None:
    clock = VirtualClock(100.0)
    clock.set(150.0)
    with pytest.raises(ValueError, match="backwards"):
        clock.set(149.0)
    assert clock.now() == 150.0


# -- persistent jobs ---------------------------------------------------------------------------------------


async def test_persistent_jobs_survive_snapshot_and_restore_and_fire_at_the_same_time() -> None:
    _, sched1 = virtual()
    fired1: list[tuple[str, str, dict[str, Any], float]] = []
    sched1.register_job("demo.ping", lambda v, t, a: fired1.append((v, t, dict(a), sched1.now(t))))
    sched1.schedule_job(30, "demo.ping", {"item": "it-1"}, vendor="echo", tenant="a")
    sched1.schedule_job(10, "demo.ping", {"item": "it-2"}, vendor="echo", tenant="b")
    sched1.schedule_job(30, "demo.ping", {"item": "it-3"}, vendor="echo", tenant="a")
    sched1.call_later(5, lambda: None)  # in-memory timers are not persistent
    await sched1.advance(1)

    data = json.loads(json.dumps(sched1.snapshot()))
    assert [(j["kind"], j["due"], j["args"]) for j in data] == [
        ("demo.ping", START + 10, {"item": "it-2"}),
        ("demo.ping", START + 30, {"item": "it-1"}),
        ("demo.ping", START + 30, {"item": "it-3"}),
    ]

    clock2 = VirtualClock(START + 1)
    sched2 = Scheduler(clock2)
    fired2: list[tuple[str, str, dict[str, Any], float]] = []

    async def handler(vendor: str, tenant: str, args: Mapping[str, Any]) -> None:
        await asyncio.sleep(0)
        fired2.append((vendor, tenant, dict(args), sched2.now(tenant)))

    sched2.register_job("demo.ping", handler)
    sched2.restore(data)

    await sched2.advance(8.5)
    assert fired2 == []
    await sched2.run_until_idle()
    await sched1.run_until_idle()

    def in_time_order(fired: list[tuple[str, str, dict[str, Any], float]]) -> list[Any]:
        return sorted(fired, key=lambda f: (f[3], f[2]["item"]))  # each tenant's timeline runs on its own

    assert in_time_order(fired2) == [
        ("echo", "b", {"item": "it-2"}, START + 10),
        ("echo", "a", {"item": "it-1"}, START + 30),
        ("echo", "a", {"item": "it-3"}, START + 30),
    ]
    assert in_time_order(fired2) == in_time_order(fired1)
    assert sched2.snapshot() == []


async def test_restore_drops_unknown_job_kinds_and_schedule_rejects_them(caplog: pytest.LogCaptureFixture) -> None:
    _, sched = virtual()
    fired: list[str] = []
    sched.register_job("known", lambda v, t, a: fired.append(a["x"]))
    jobs = [
        {"due": START + 1, "vendor": "v", "tenant": "t", "kind": "gone", "args": {"x": "lost"}},
        {"due": START + 2, "vendor": "v", "tenant": "t", "kind": "known", "args": {"x": "kept"}},
    ]
    with caplog.at_level(logging.WARNING, logger="emulator.core.clock"):
        sched.restore(jobs)
    assert "dropping job of unknown kind gone" in caplog.text
    await sched.run_until_idle()
    assert fired == ["kept"]

    with pytest.raises(KeyError, match="unknown job kind"):
        sched.schedule_job(1, "nope", {}, vendor="v", tenant="t")


async def test_cancel_tagged_also_cancels_persistent_jobs_of_that_tenant() -> None:
    _, sched = virtual()
    fired: list[str] = []
    sched.register_job("k", lambda v, t, a: fired.append(t))
    sched.schedule_job(1, "k", {}, vendor="echo", tenant="a")
    sched.schedule_job(1, "k", {}, vendor="echo", tenant="b")

    sched.cancel_tagged("echo", "a")

    assert [j["tenant"] for j in sched.snapshot()] == ["b"]
    await sched.run_until_idle()
    assert fired == ["b"]


# -- the system clock -------------------------------------------------------------------------------------


async def test_system_clock_fires_a_short_timer_and_skips_a_cancelled_one() -> None:
    sched = Scheduler(SystemClock())
    done = asyncio.Event()
    ran: list[str] = []
    cancelled = sched.call_later(0.01, lambda: ran.append("cancelled"))

    def finish() -> None:
        ran.append("fired")
        done.set()

    sched.call_later(0.03, finish)
    sched.cancel(cancelled)

    await asyncio.wait_for(done.wait(), timeout=5)
    assert ran == ["fired"]
    assert sched.pending() == []


async def test_system_clock_awaits_async_callbacks_as_tracked_work() -> None:
    sched = Scheduler(SystemClock())
    done = asyncio.Event()

    async def callback() -> None:
        await asyncio.sleep(0)
        done.set()

    sched.call_later(0.0, callback)
    result = await sched.run_until_idle()

    assert done.is_set()
    assert result.timers_run >= 1
    assert not sched.busy


# -- formatting -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ts", "millis", "expected"),
    [
        (0.0, False, "1970-01-01T00:00:00Z"),
        (START, False, "2026-01-01T00:00:00Z"),
        (START + 0.75, False, "2026-01-01T00:00:00Z"),
        (START + 0.125, True, "2026-01-01T00:00:00.125Z"),
        (START + 3723.5, True, "2026-01-01T01:02:03.500Z"),
        (START, True, "2026-01-01T00:00:00.000Z"),
    ],
    ids=["epoch", "default-start", "truncates-fraction", "millis", "millis-hms", "millis-zero"],
)
def test_iso(ts: float, millis: bool, expected: str) -> None:
    assert iso(ts, millis=millis) == expected


def test_system_clock_follows_wall_time() -> None:
    clock = SystemClock()
    before = time.time()
    now = clock.now()
    after = time.time()
    assert clock.virtual is False
    assert VirtualClock().virtual is True
    assert before <= now <= after
