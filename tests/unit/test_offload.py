"""Offload: CPU-heavy hooks run off the event loop, in order, with results and errors handed back."""

from __future__ import annotations

import asyncio
import threading

import pytest

from emulator.core.offload import Offload


async def test_jobs_run_off_the_loop_in_order_and_return_their_results() -> None:
    offload = Offload()
    loop_thread = threading.get_ident()
    ran: list[int] = []

    def job(i: int) -> tuple[int, int]:
        ran.append(i)
        return i * i, threading.get_ident()

    results = await asyncio.gather(*(offload.run(job, i) for i in range(50)))
    offload.stop()
    assert [r[0] for r in results] == [i * i for i in range(50)]
    assert ran == list(range(50))
    assert {r[1] for r in results} != {loop_thread}


async def test_an_error_reaches_the_caller_and_the_worker_goes_on() -> None:
    offload = Offload()

    def boom(key: str) -> int:
        raise ValueError(f"bad key {key}")

    with pytest.raises(ValueError, match="bad key k1"):
        await offload.run(boom, "k1")
    assert await offload.run(len, "seven") == 5
    offload.stop()
