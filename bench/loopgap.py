"""A bench-only vendor plugin: how long the server's event loop was held, in CPU time (`bench/stall.py`).

    cxemu serve --plugin bench.loopgap:PLUGIN        # from the repository's root

A task on the server's loop wakes every millisecond and notes the CPU time the loop's thread used since its last
turn (`time.thread_time`): the longest such gap is the longest stretch of work that ran without letting the loop
serve anything else. Unlike a client's latency it does not grow when other processes take the CPU (on a loaded
machine a 4 ms slice can take 100 ms of wall time), and the worker threads' CPU (signing) is not in it.

`GET /loopgap/v1/gaps` answers `{"turns", "max_ms", "p99_ms", "over_20ms", "over_50ms", "stalled_in"}` since the
last read (or the start) and starts counting again. `stalled_in`: where the loop's thread was, sampled every 2 ms by
another thread while the loop had not turned for 20 ms (wall), the innermost frames first, most seen first.
"""

from __future__ import annotations

import asyncio
import collections
import sys
import threading
import time
import traceback
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from emulator.core.plugin import VendorPlugin
from emulator.core.runtime import Emulator

GAPS: list[float] = []
TASK: list[asyncio.Task[None]] = []
BEAT = [time.monotonic()]
SEEN: collections.Counter[str] = collections.Counter()


def _watch(loop_thread: int) -> None:
    while True:
        time.sleep(0.002)
        if time.monotonic() - BEAT[0] > 0.02:
            frame = sys._current_frames().get(loop_thread)
            if frame is not None:
                stack = traceback.extract_stack(frame)[-6:]
                SEEN[" < ".join(f"{f.name} ({f.filename.rsplit('/', 1)[-1]}:{f.lineno})" for f in reversed(stack))] += 1


class _State(BaseModel):
    pass


async def _tick() -> None:
    last = time.thread_time()
    while True:
        await asyncio.sleep(0.001)
        now = time.thread_time()
        BEAT[0] = time.monotonic()
        GAPS.append(now - last)
        last = now


async def _start(emu: Emulator) -> None:
    TASK.append(asyncio.get_running_loop().create_task(_tick()))
    threading.Thread(target=_watch, args=(threading.get_ident(),), name="loopgap", daemon=True).start()


def _summary(gaps: list[float]) -> dict[str, Any]:
    ordered = sorted(gaps)
    if not ordered:
        return {"turns": 0}
    ms = [g * 1000 for g in ordered]
    return {
        "turns": len(ms),
        "max_ms": round(ms[-1], 1),
        "p99_ms": round(ms[int(len(ms) * 0.99)], 1),
        "over_20ms": sum(g > 20 for g in ms),
        "over_50ms": sum(g > 50 for g in ms),
    }


async def gaps(request: Request) -> Response:
    taken = GAPS[:]
    del GAPS[: len(taken)]
    seen = SEEN.most_common(8)
    SEEN.clear()
    return JSONResponse({**_summary(taken), "stalled_in": [f"{n * 2} ms: {where}" for where, n in seen]})


def _routes(emu: Emulator) -> list[BaseRoute]:
    return [Route("/loopgap/v1/gaps", gaps)]


PLUGIN = VendorPlugin(
    slug="loopgap",
    title="Loop gaps (bench)",
    state_type=_State,
    new_state=lambda emu, tenant, ids: _State(),
    routes=_routes,
    base_paths=("/loopgap/v1",),
    on_start=_start,
)
