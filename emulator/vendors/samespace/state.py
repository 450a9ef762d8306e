"""Samespace state per cloud (tenant): its settings, simulated numbers and calls, and every call transition.

Functions here validate, then mutate `tx.state`, then record what happened with `tx.emit`; no I/O and no
timers (the engine in `engine.py` schedules what happens next on the clock). A call moves along
`CallStatus` (samespace.md §4.4 [inf]): queued -> dialing -> ringing -> answered -> completed, or ends busy /
no-answer / failed. While answered it runs one flow step at a time; `Call.gen` grows with every step so a
job scheduled for an earlier step finds itself stale and does nothing.

`new_state` builds a cloud from the config (the kernel calls it, and again on reset); `store(emu)` is the typed
view every unit of work goes through; `BEHAVIOUR` tells the kernel where a cloud's `FlowBehaviour` is (the
kernel serves `PUT .../behaviour`; a change forgets the http targets failing fast).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from emulator.core.clock import iso
from emulator.core.errors import EmulatorError
from emulator.core.ids import TenantIds, fmt_uuid
from emulator.core.plugin import BehaviourSpec
from emulator.core.retention import Ended, Limits, Retained
from emulator.core.runtime import Emulator
from emulator.core.store import Tx, VendorStore
from emulator.vendors.samespace import errors
from emulator.vendors.samespace.config import CalleeBehaviour, FlowBehaviour, SamespaceConfig
from emulator.vendors.samespace.constants import FINAL_STATUSES, SLUG, CallStatus, EndReason, StepResult
from emulator.vendors.samespace.flow import Flow, FlowStep

CALL_ID = fmt_uuid
EVENT_ID = fmt_uuid


@dataclass(slots=True)
class StepRecord:
    """One executed step (the metadata's `steps[]`)."""

    seq: int
    id: str
    type: str
    started_at: float
    ended_at: float | None = None
    result: str | None = None
    next_step: str | None = None
    input: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class HttpRecord:
    """One request an `http` step made (the metadata's `http[]`)."""

    step_id: str
    method: str
    url: str
    sent_to: str
    outcome: str
    at: float
    latency_ms: float = 0.0
    status: int | None = None
    response_excerpt: str = ""
    truncated: bool = False
    error: str | None = None


@dataclass(slots=True)
class Call:
    id: str
    created_at: float
    number: str
    caller_id: str | None
    record: bool
    entry: str
    steps: dict[str, FlowStep]
    callee: CalleeBehaviour
    publish_url: str | None = None
    status: CallStatus = CallStatus.QUEUED
    end_reason: EndReason | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    recording_url: str | None = None
    current: str | None = None
    gen: int = 0
    runs: list[StepRecord] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    http: list[HttpRecord] = field(default_factory=list)
    buffer: str | None = None
    """Digits keyed in so far while a digits step waits (None when no digits step is waiting)."""
    typed: str = ""
    """Keys pressed while no digits step was collecting (type-ahead), for the next digits step."""
    dtmf: list[str] = field(default_factory=list)
    """The callee's scripted inputs still to come."""

    @property
    def ended(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def run(self) -> StepRecord | None:
        """The step being executed, if any."""
        last = self.runs[-1] if self.runs else None
        return last if last is not None and last.ended_at is None else None


@dataclass(slots=True)
class Unreachable:
    """An http step target that timed out or refused the connection (see `note_target`)."""

    at: float
    until: float
    error: str


class SamespaceState(BaseModel):
    """One cloud's Samespace world."""

    tenant: str = Field(description="the cloud_id")
    auth_token: str | None = Field(None, description="the token requests must carry (set on first use in open auth)")
    callback_url: str | None = None
    http_overrides: dict[str, str] = Field(default_factory=dict)
    behaviour: FlowBehaviour = Field(default_factory=FlowBehaviour)
    default_callee: CalleeBehaviour = Field(default_factory=CalleeBehaviour)
    numbers: dict[str, CalleeBehaviour] = Field(default_factory=dict)
    calls: dict[str, Call] = Field(default_factory=dict)
    unreachable: dict[str, Unreachable] = Field(
        default_factory=dict, description="http targets failing fast, by scheme://host:port"
    )

    def callee(self, number: str) -> CalleeBehaviour:
        return self.numbers.get(number, self.default_callee)


S = Tx[SamespaceState]


def store(emu: Emulator) -> VendorStore[SamespaceState]:
    """The clouds, typed (`tx.state` is a `SamespaceState`)."""
    return emu.store.of(SLUG, SamespaceState)


def new_state(emu: Emulator, tenant: str, ids: TenantIds) -> SamespaceState:
    """A cloud as the config describes it (global settings, then the cloud's own)."""
    cfg: SamespaceConfig = emu.vendor_config(SLUG)
    own = cfg.tenants.get(tenant)
    return SamespaceState(
        tenant=tenant,
        auth_token=own.auth_token if own else None,
        callback_url=(own.callback_url if own and own.callback_url else cfg.callback_url),
        http_overrides=dict(own.http_overrides if own and own.http_overrides is not None else cfg.http_overrides),
        behaviour=(own.behaviour if own and own.behaviour else cfg.behaviour).model_copy(),
        default_callee=cfg.default_callee.model_copy(),
        numbers={**cfg.numbers, **(own.numbers if own else {})},
    )


def forget_unreachable(state: SamespaceState) -> None:
    """New timings or targets: every http target gets a fresh try (after a behaviour or `http_overrides` change)."""
    state.unreachable.clear()


BEHAVIOUR = BehaviourSpec(FlowBehaviour, on_change=forget_unreachable)
"""The kernel serves `PUT /_emulator/vendors/samespace/tenants/{cloud_id}/behaviour` from this."""


def get_call(state: SamespaceState, call_id: str) -> Call:
    call = state.calls.get(call_id)
    if call is None:
        raise errors.call_not_found()
    return call


def live_call(state: SamespaceState, call_id: str) -> Call:
    call = get_call(state, call_id)
    if call.ended:
        raise EmulatorError(f"call {call_id} has already ended ({call.status})", status_code=409, code="call_ended")
    return call


# -- call lifecycle -----------------------------------------------------------------------------------------


def create_call(tx: S, flow: Flow) -> Call:
    entry = flow.steps[flow.entry]
    assert entry.number is not None
    callee = tx.state.callee(entry.number)
    call = Call(
        id=tx.ids.new("call", CALL_ID),
        created_at=tx.now(),
        number=entry.number,
        caller_id=entry.caller_id,
        record=flow.record,
        entry=flow.entry,
        steps=flow.steps,
        callee=callee.model_copy(),
        publish_url=flow.publish_url,
        dtmf=list(callee.dtmf) if isinstance(callee.dtmf, list) else [],
    )
    tx.state.calls[call.id] = call
    tx.emit("call.initiated", call.id, {"number": call.number, "caller_id": call.caller_id, "record": call.record})
    return call


def dial(tx: S, call: Call) -> None:
    """The network places the call: it rings, or the number is busy / the call fails at once."""
    call.status = CallStatus.DIALING
    call.current = call.entry
    _start(tx, call, call.steps[call.entry])
    answer = call.callee.answer
    if answer == "busy":
        end_call(tx, call, EndReason.BUSY)
    elif answer == "fail":
        end_call(tx, call, EndReason.FAILED)
    else:
        call.status = CallStatus.RINGING
        tx.emit("call.ringing", call.id, {"number": call.number})


def answer(tx: S, call: Call) -> None:
    call.status = CallStatus.ANSWERED
    call.answered_at = tx.now()
    tx.emit("call.answered", call.id, {"number": call.number})


def end_call(tx: S, call: Call, reason: EndReason) -> None:
    """Hang up: close the open step, set the final status, and produce the recording when asked for."""
    if call.ended:
        return
    status = {
        EndReason.BUSY: CallStatus.BUSY,
        EndReason.NO_ANSWER: CallStatus.NO_ANSWER,
        EndReason.FAILED: CallStatus.FAILED,
    }.get(reason, CallStatus.COMPLETED if call.answered_at is not None else CallStatus.FAILED)
    run = call.run
    if run is not None:
        result = {
            CallStatus.BUSY: StepResult.BUSY,
            CallStatus.NO_ANSWER: StepResult.NO_ANSWER,
            CallStatus.FAILED: StepResult.FAILED,
        }.get(status, StepResult.INTERRUPTED)
        finish_step(tx, call, result, None)
    call.status = status
    call.end_reason = reason
    call.ended_at = tx.now()
    call.current = None
    call.buffer = None
    call.typed = ""
    call.gen += 1
    if call.record and call.answered_at is not None:
        call.recording_url = tx.state.behaviour.recording_url.format(cloud_id=tx.state.tenant, call_id=call.id)
    data = {"status": str(status), "reason": str(reason), "duration": duration(call)}
    if status == CallStatus.COMPLETED:
        tx.emit("call.completed", call.id, {**data, "recording_url": call.recording_url})
    else:
        tx.emit("call.failed", call.id, data)


def duration(call: Call) -> float | None:
    """Seconds from answer to hang-up once the call has ended (0 if it was never answered); None while it is
    live, so a value is always final (`answered_at` and the clock give the elapsed time of a live call)."""
    if call.ended_at is None:
        return None
    if call.answered_at is None:
        return 0.0
    return round(call.ended_at - call.answered_at, 3)


# -- steps --------------------------------------------------------------------------------------------------


def _start(tx: S, call: Call, step: FlowStep) -> StepRecord:
    call.gen += 1
    call.current = step.id
    run = StepRecord(seq=len(call.runs) + 1, id=step.id, type=str(step.type), started_at=tx.now())
    call.runs.append(run)
    tx.emit("step.started", call.id, {"step_id": step.id, "type": run.type, "seq": run.seq})
    return run


def start_step(tx: S, call: Call, step: FlowStep) -> StepRecord:
    run = _start(tx, call, step)
    if step.type == "digits":
        call.buffer = ""
    return run


def finish_step(
    tx: S, call: Call, result: StepResult, next_step: str | None, *, input: str | None = None, **detail: Any
) -> None:
    run = call.run
    if run is None:
        return
    run.ended_at = tx.now()
    run.result = str(result)
    run.next_step = next_step
    run.input = input
    run.detail.update(detail)
    call.buffer = None
    call.gen += 1
    data: dict[str, Any] = {"step_id": run.id, "type": run.type, "seq": run.seq, "result": run.result}
    data["next_step"] = next_step
    if input is not None:
        data["input"] = input
    tx.emit("step.completed", call.id, data)


def completes(keys: str, count: int, terminator: str) -> bool:
    """Whether `keys` end a digits step that takes `count` digits (the terminator key ends it early)."""
    return bool(terminator and terminator in keys) or len(keys) >= count


def press(tx: S, call: Call, keys: str) -> bool:
    """The callee keys in `keys`; True once the waiting digits step has its input.

    While no digits step is collecting (a prompt is playing, an http request runs...), up to
    `behaviour.type_ahead` keys are kept for the next digits step, as IVRs buffer DTMF [inf]; keys beyond
    what the waiting step takes are kept the same way. With `type_ahead` 0 such presses are refused.
    """
    behaviour = tx.state.behaviour
    if call.status != CallStatus.ANSWERED:
        raise EmulatorError("the call is not answered yet", status_code=409, code="not_answered")
    if call.buffer is None or call.current is None:
        if behaviour.type_ahead <= 0:
            raise EmulatorError("the call is not waiting for digits", status_code=409, code="not_collecting")
        call.typed = (call.typed + keys)[: behaviour.type_ahead]
        return False
    count = call.steps[call.current].count
    for i, key in enumerate(keys):
        ends = bool(behaviour.terminator) and key == behaviour.terminator
        if not ends:
            call.buffer += key
        if ends or len(call.buffer) >= count:
            call.typed = keys[i + 1 :][: behaviour.type_ahead]
            return True
    return False


def callee_keys(tx: S, call: Call, count: int) -> str | None:
    """What the callee keys in at a digits step that still needs `count` digits: the next entry of its script
    (an explicit script wins, and once it is used up nothing), else seeded digits of that count unless its
    `dtmf` is "none" [inf]. The seeded digits come from the cloud's seeded ids: the same seed, the same keys."""
    if call.dtmf:
        return call.dtmf.pop(0)
    if call.callee.dtmf != "seeded" or count <= 0:
        return None
    rng = tx.ids.random("dtmf")
    return "".join(rng.choice("0123456789") for _ in range(count))


def collect(tx: S, call: Call, step: FlowStep, keys: str) -> None:
    """Store a digits step's input in its variable (the `{{variable}}` of later steps)."""
    assert step.variable is not None
    call.variables[step.variable] = keys
    tx.emit("digits.collected", call.id, {"step_id": step.id, "variable": step.variable, "digits": keys})


def record_http(tx: S, call: Call, record: HttpRecord) -> None:
    call.http.append(record)
    data = {
        "step_id": record.step_id,
        "method": record.method,
        "url": record.url,
        "status": record.status,
        "outcome": record.outcome,
        "error": record.error,
    }
    tx.emit("http.completed", call.id, data)


def failing_fast(state: SamespaceState, target: str | None, now: float) -> Unreachable | None:
    """The recent failure of `target` an http step fails at once with, if `http_fail_fast` still holds it."""
    failed = state.unreachable.get(target) if target is not None else None
    return failed if failed is not None and now < failed.until else None


def note_target(tx: S, target: str | None, unreachable: bool, error: str | None) -> None:
    """Remember an http target that did not answer (for `http_fail_fast` seconds); forget it once it does."""
    if target is None:
        return
    window = tx.state.behaviour.http_fail_fast
    if not unreachable:
        tx.state.unreachable.pop(target, None)
    elif window > 0 and failing_fast(tx.state, target, tx.now()) is None:
        tx.state.unreachable[target] = Unreachable(at=tx.now(), until=tx.now() + window, error=error or "")


def connected(tx: S, call: Call, number: str) -> None:
    tx.emit("call.connected", call.id, {"step_id": call.current, "number": number})


def when(ts: float | None) -> str | None:
    return None if ts is None else iso(ts, millis=True)


# -- retention (core.retention) -----------------------------------------------------------------------------
# [inf] Samespace publishes no retention for call metadata: an ended call is kept up to 1,000 per cloud and for
# 24 h after it ended.


def ended_calls(state: SamespaceState) -> list[Ended]:
    return [Ended(c.id, c.ended_at or c.created_at, (c.id,)) for c in state.calls.values() if c.ended]


def evict_calls(state: SamespaceState, ids: list[str]) -> None:
    for call_id in ids:
        del state.calls[call_id]


RETAINED = (Retained("calls", Limits(1_000, 86_400.0), ended_calls, evict_calls),)
