"""`core.clock.inline`: a job handler runs its coroutine at once, with no task, as far as it goes without waiting;
what is left after it first waits runs as the timeline's tracked work, handed every future it waits on, and it
ends, fails or is cancelled as the coroutine alone would have."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from typing import Any

import pytest

from emulator.core.clock import Scheduler, SystemClock, VirtualClock, inline


async def test_a_coroutine_that_never_waits_is_done_when_inline_returns() -> None:
    done: list[str] = []

    async def job() -> None:
        lock = asyncio.Lock()
        async with lock:  # an unlocked lock is taken without waiting
            done.append("ran")

    assert inline(job()) is None
    assert done == ["ran"]


async def test_the_rest_after_a_wait_gets_each_awaited_value_in_turn() -> None:
    loop = asyncio.get_running_loop()
    first, second = loop.create_future(), loop.create_future()
    seen: list[Any] = []

    async def job() -> None:
        seen.append("start")
        seen.append(await first)
        await asyncio.sleep(0)
        seen.append(await second)

    rest = inline(job())
    assert rest is not None
    assert seen == ["start"]
    task = asyncio.ensure_future(_await(rest))
    first.set_result(1)
    await asyncio.sleep(0)
    loop.call_soon(second.set_result, 2)
    await task
    assert seen == ["start", 1, 2]


async def test_an_error_before_the_first_wait_is_raised_by_inline_and_one_after_it_by_the_rest() -> None:
    async def early() -> None:
        raise ValueError("early")

    with pytest.raises(ValueError, match="early"):
        inline(early())

    loop = asyncio.get_running_loop()
    gate = loop.create_future()
    caught: list[str] = []

    async def late() -> None:
        try:
            await gate
        except KeyError:
            caught.append("the future's error reached the coroutine")
            raise ValueError("late") from None

    rest = inline(late())
    assert rest is not None
    gate.set_exception(KeyError("gate"))
    with pytest.raises(ValueError, match="late"):
        await _await(rest)
    assert caught == ["the future's error reached the coroutine"]


async def test_cancelling_the_rest_cancels_the_coroutine_where_it_waits() -> None:
    cleaned: list[str] = []

    async def job() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cleaned.append("finally ran")

    rest = inline(job())
    assert rest is not None
    task = asyncio.ensure_future(_await(rest))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == ["finally ran"]


@pytest.mark.parametrize("clock", [SystemClock(), VirtualClock()], ids=["system", "virtual"])
async def test_a_job_waiting_on_a_held_lock_finishes_as_tracked_work_once_it_is_let_go(clock: Any) -> None:
    """The scheduler's side: a job that waits is tracked work of its tenant's timeline (`settle`, `is_busy` and
    `run_until_idle` wait for it), and one that does not wait leaves nothing running."""
    scheduler = Scheduler(clock)
    lock = asyncio.Lock()
    ran: list[str] = []

    async def body(args: Mapping[str, Any]) -> None:
        async with lock:
            ran.append(str(args["name"]))

    def handler(vendor: str, tenant: str, args: Mapping[str, Any]) -> Awaitable[None] | None:
        return inline(body(args))

    scheduler.register_job("v.report", handler)
    scheduler.schedule_job(0, "v.report", {"name": "free"}, vendor="v", tenant="t")
    await _run_due(scheduler, clock)
    assert ran == ["free"]
    assert not scheduler.is_busy(["t"])

    await lock.acquire()
    scheduler.schedule_job(0, "v.report", {"name": "held"}, vendor="v", tenant="t")
    if clock.virtual:
        running = asyncio.ensure_future(scheduler.run_until_idle(tenants=["t"]))
        for _ in range(10):  # the loop goes round: the job waits on the lock, so the run waits on the job
            await asyncio.sleep(0)
        assert not running.done()
        assert ran == ["free"]
        lock.release()
        await running
    else:
        await _run_due(scheduler, clock)
        assert scheduler.is_busy(["t"])
        assert ran == ["free"]
        lock.release()
        await scheduler.settle(["t"])
    assert ran == ["free", "held"]
    assert not scheduler.is_busy(["t"])


async def _run_due(scheduler: Scheduler, clock: Any) -> None:
    if clock.virtual:
        await scheduler.run_until_idle(tenants=["t"])
    else:
        for _ in range(100):  # the timer is due now: the loop runs it on one of its next turns
            if not scheduler.pending_count(["t"]):
                break
            await asyncio.sleep(0)


async def _await(rest: Awaitable[None]) -> None:
    await rest
