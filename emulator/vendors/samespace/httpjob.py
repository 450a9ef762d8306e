"""Preparing and sending the `http` steps' requests (the engine applies the outcomes).

On the virtual clock a request holds its tenant's timeline while it runs (see outcall.py); other tenants'
time moves on. So that many calls reaching
their `http` step at the same virtual instant (a load test placing calls at once) wait about as long as
the slowest request rather than the sum of all, the job that runs first sends the requests of every HTTP
job of the same cloud due at that instant together, at most `http_parallel` at a time, and keeps the
outcomes for their own jobs, which then only apply them. Each request is built from its call's state when
its step began, so the outcome is the same as if it had been sent alone; only the order in which the
backend sees concurrent requests differs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from emulator.core.clock import DUE_SLACK
from emulator.core.runtime import Emulator
from emulator.vendors.samespace import outcall
from emulator.vendors.samespace import state as st
from emulator.vendors.samespace.flow import FlowStep

Key = tuple[str, str, int]
"""(cloud, call id, the call's `gen` when the step began): one http step run."""


def key(tenant: str, args: Mapping[str, Any]) -> Key:
    return (tenant, str(args["call"]), int(args["gen"]))


@dataclass(slots=True)
class Fetch:
    """One http step's request and, once sent, its outcome."""

    key: Key
    step: FlowStep
    req: outcall.Request
    target: str | None
    started: float
    outcome: outcall.Outcome | None = None


def prepare(emu: Emulator, tenant: str, args: Mapping[str, Any]) -> Fetch | None:
    """The request of a fresh http job (None if its call moved on); answered at once if the target fails fast."""
    state = st.store(emu).peek(tenant)
    if state is None:
        return None
    call = state.calls.get(args["call"])
    if call is None or call.ended or call.gen != args["gen"] or call.current is None:
        return None
    step = call.steps[call.current]
    req = outcall.build(step.method, step.url or "", step.headers, step.body, call.variables, state.http_overrides)
    started = emu.scheduler.now(tenant)
    target = outcall.origin(req.sent_to)
    fetch = Fetch(key(tenant, args), step, req, target, started)
    failed = st.failing_fast(state, target, started)
    if failed is not None:  # a dead backend holds the virtual clock once per `http_fail_fast`, not per call
        error = f"not retried: {target} failed {round(started - failed.at, 3):g}s earlier ({failed.error})"
        fetch.outcome = outcall.Outcome(None, "", False, error, unreachable=True)
    return fetch


def due_alongside(emu: Emulator, kind: str, vendor: str, tenant: str) -> list[Mapping[str, Any]]:
    """The arguments of the other `kind` jobs of this cloud due now (virtual clock only)."""
    if not emu.clock.virtual:
        return []
    now = emu.scheduler.now(tenant)
    return [
        t.job["args"]
        for t in emu.scheduler.pending([tenant])
        if t.job is not None
        and t.job["kind"] == kind
        and (t.vendor, t.tenant) == (vendor, tenant)
        and t.when <= now + DUE_SLACK
    ]


async def send(emu: Emulator, state: st.SamespaceState, fetches: list[Fetch]) -> None:
    """Send every request not answered yet, `http_parallel` at a time; `perform` never raises."""
    behaviour = state.behaviour
    gate = asyncio.Semaphore(behaviour.http_parallel)

    async def one(fetch: Fetch) -> None:
        async with gate:
            fetch.outcome = await outcall.perform(
                fetch.req,
                timeout=behaviour.http_timeout,
                max_bytes=behaviour.http_max_bytes,
                guard=emu.dispatcher.guard,
            )

    await asyncio.gather(*(one(f) for f in fetches if f.outcome is None))
