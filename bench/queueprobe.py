"""A bench-only vendor plugin: the webhook dispatcher's backlog over a run (`run.py --queue-probe`).

    cxemu serve --plugin bench.queueprobe:PLUGIN        # from the repository's root

A task on the server's loop wakes every 10 ms and notes the wall time, the deliveries made so far, the deliveries
pending (made, not yet delivered or failed), the pumps running (ordering keys with work), the webhook requests in
flight (the client's global slots held), the pumps waiting for their tenant's share of the pool and the clock's
timers waiting. Reading the dispatcher's private counters
is why this is a bench plugin and not a control-plane route.

`GET /queueprobe/v1/samples` answers `{"samples": [[t, made, pending, pumps, in_flight, waiting, timers],
...]}` since the
last read (or the start) and starts again.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from emulator.core.plugin import VendorPlugin
from emulator.core.runtime import Emulator

SAMPLES: list[tuple[float, int, int, int, int, int, int]] = []
TASK: list[asyncio.Task[None]] = []
EVERY_S = 0.01


class _State(BaseModel):
    pass


def _in_flight(emu: Emulator) -> int:
    http = emu.dispatcher._http  # (None until the first delivery)
    if http is None:
        return 0
    return sum(http._slots._held.values())


async def _tick(emu: Emulator) -> None:
    dispatcher, scheduler = emu.dispatcher, emu.scheduler
    while True:
        await asyncio.sleep(EVERY_S)
        SAMPLES.append(
            (
                time.time(),
                dispatcher._next_seq - 1,
                dispatcher._pending_total,
                len(dispatcher._pumps),
                _in_flight(emu),
                sum(len(q) for q in dispatcher._per_tenant._waiters.values()),
                scheduler.pending_count(),
            )
        )


async def _start(emu: Emulator) -> None:
    TASK.append(asyncio.get_running_loop().create_task(_tick(emu)))


async def samples(request: Request) -> Response:
    taken = SAMPLES[:]
    del SAMPLES[: len(taken)]
    return JSONResponse({"samples": taken})


def _routes(emu: Emulator) -> list[BaseRoute]:
    return [Route("/queueprobe/v1/samples", samples)]


def summary(rows: list[list[Any]], t_start: float, t_end: float) -> dict[str, Any]:
    """What a run's samples say: the backlog (pending deliveries) at quarters of the run and at its end, its
    largest value, and how long after the run's end it took to reach zero."""
    during = [r for r in rows if t_start <= r[0] <= t_end]
    after = [r for r in rows if r[0] > t_end]
    if not during:
        return {}
    quarter = max(1, len(during) // 4)
    empty_at = next((r[0] for r in after if r[2] == 0), None)
    return {
        "pending_by_quarter": [during[min(len(during) - 1, i * quarter)][2] for i in range(1, 4)] + [during[-1][2]],
        "pending_max": max(r[2] for r in during),
        "pumps_max": max(r[3] for r in during),
        "in_flight_max": max(r[4] for r in during),
        "waiting_max": max(r[5] for r in during),
        "timers_max": max(r[6] for r in during),
        "made_per_s": round((during[-1][1] - during[0][1]) / max(1e-9, during[-1][0] - during[0][0]), 1),
        "backlog_gone_after_s": None if empty_at is None else round(empty_at - t_end, 2),
    }


PLUGIN = VendorPlugin(
    slug="queueprobe",
    title="Dispatcher backlog (bench)",
    state_type=_State,
    new_state=lambda emu, tenant, ids: _State(),
    routes=_routes,
    base_paths=("/queueprobe/v1",),
    on_start=_start,
)
