"""The call-flow engine: every call transition is a persistent job on the clock (samespace.md §4.4 [inf]).

    POST /call/flow -> call.initiated -> DIAL -> ringing -> ANSWER after `rings` x `ring_seconds`
                                             +-> busy / failed at once; no-answer after `no_answer_after`
    answered -> the entry `call` object's next_step, then one step at a time:
      play     lasts as long as its text takes to say at `words_per_minute` (+ `media_seconds` for a url)
      digits   waits for `count` keys (or the `terminator`, #) from the callee (its script, else seeded digits after
               `dtmf_delay`, or none: `state.callee_keys`) or the control plane, at most `digit_timeout`; routes by
               the exact input, else `*`; no input at all hangs up (no_input).
               Keys pressed earlier while nothing collected them (type-ahead, up to `type_ahead`) come first
      http     a real request (outcall.py, httpjob.py), routes on success (2xx) / fail; a target that timed
               out or refused the connection fails at once for `http_fail_fast` seconds
      connect  rings the target number (its own simulated behaviour); bridged for its `talk_seconds`
    a step without next_step hangs up (flow_end), a dangling reference too (dangling_step); past `max_steps`
    steps or `max_call_seconds` the call ends with that reason.

The simulated people, the callee and connect targets (`CalleeBehaviour`), live here rather than in an
`actors.py`: answering, keying digits and hanging up are transitions of the call itself, timed by the same jobs.

Each job carries the call's `gen` from when it was scheduled and does nothing if the call moved on (a
press, a hang-up, another step), so stale timers are harmless. Handlers open one unit of work each; the
`http` job leaves it for the request and opens another for the result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from emulator.core.errors import NotFound
from emulator.core.events import DomainEvent
from emulator.core.runtime import Emulator
from emulator.vendors.samespace import httpjob
from emulator.vendors.samespace import state as st
from emulator.vendors.samespace.constants import SLUG, CallStatus, EndReason, StepResult, StepType
from emulator.vendors.samespace.flow import ANY_INPUT, FlowStep

DIAL = f"{SLUG}.dial"
ANSWER = f"{SLUG}.answer"
NO_ANSWER = f"{SLUG}.no_answer"
STEP_DONE = f"{SLUG}.step_done"
PRESS = f"{SLUG}.press"
DIGITS_TIMEOUT = f"{SLUG}.digits_timeout"
HTTP = f"{SLUG}.http"
CONNECT_ANSWER = f"{SLUG}.connect_answer"
CALLEE_HANGUP = f"{SLUG}.callee_hangup"
MAX_DURATION = f"{SLUG}.max_duration"


class Engine:
    """Schedules and runs the jobs of one emulator's Samespace calls."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.store = st.store(emu)
        self._fetched: dict[httpjob.Key, httpjob.Fetch] = {}
        """Outcomes sent along with an earlier http job, waiting for their own job (httpjob.py)."""

    # -- scheduling ---------------------------------------------------------------------------------------

    def later(self, tx: st.S, delay: float, kind: str, call: st.Call, **extra: Any) -> None:
        args = {"call": call.id, "gen": call.gen, **extra}
        self.emu.scheduler.schedule_job(round(delay, 6), kind, args, vendor=SLUG, tenant=tx.tenant)

    def wait(self, tx: st.S, delay: float, kind: str, call: st.Call, **extra: Any) -> None:
        """Schedule the end of a wait, or the end of the call if `max_call_seconds` comes first."""
        left = self._left(tx, call)
        if delay > left:
            self.later(tx, left, MAX_DURATION, call)
        else:
            self.later(tx, delay, kind, call, **extra)

    def _left(self, tx: st.S, call: st.Call) -> float:
        if call.answered_at is None:
            return float("inf")
        return max(0.0, call.answered_at + tx.state.behaviour.max_call_seconds - tx.now())

    # -- moving through the flow --------------------------------------------------------------------------

    def go_to(self, tx: st.S, call: st.Call, next_id: str | None, *, no_route: bool = False) -> None:
        """Run step `next_id` (hang up when there is none, it does not exist, or a limit is reached)."""
        if call.ended:
            return
        if next_id is None:
            st.end_call(tx, call, EndReason.NO_ROUTE if no_route else EndReason.FLOW_END)
            return
        step = call.steps.get(next_id)
        behaviour = tx.state.behaviour
        if step is None:
            st.end_call(tx, call, EndReason.DANGLING_STEP)
        elif len(call.runs) >= behaviour.max_steps:
            st.end_call(tx, call, EndReason.MAX_STEPS)
        elif self._left(tx, call) <= 0:
            st.end_call(tx, call, EndReason.MAX_DURATION)
        else:
            st.start_step(tx, call, step)
            self._begin(tx, call, step)

    def _begin(self, tx: st.S, call: st.Call, step: FlowStep) -> None:
        behaviour = tx.state.behaviour
        if step.type == StepType.PLAY:
            self.wait(tx, play_seconds(step, behaviour.words_per_minute, behaviour.media_seconds), STEP_DONE, call)
        elif step.type == StepType.DIGITS:
            typed, call.typed = call.typed, ""
            if typed:  # keys typed ahead during an earlier step count first, at once
                self.later(tx, 0.0, PRESS, call, keys=typed)
                if call.run is not None:
                    call.run.detail["typed_ahead"] = typed
            keys = (
                None
                if st.completes(typed, step.count, behaviour.terminator)
                else st.callee_keys(tx, call, step.count - len(typed))
            )
            if keys:
                self.later(tx, call.callee.dtmf_delay, PRESS, call, keys=keys)
            self.wait(tx, behaviour.digit_timeout, DIGITS_TIMEOUT, call)
        elif step.type == StepType.HTTP:
            self.later(tx, 0.0, HTTP, call)
        elif step.type == StepType.CONNECT:
            assert step.number is not None
            target = tx.state.callee(step.number)
            if target.answer == "busy":
                self.later(tx, 0.0, STEP_DONE, call, result=StepResult.BUSY)
            elif target.answer == "fail":
                self.later(tx, 0.0, STEP_DONE, call, result=StepResult.FAILED)
            elif target.answer == "no-answer" or target.rings * behaviour.ring_seconds >= behaviour.no_answer_after:
                self.wait(tx, behaviour.no_answer_after, STEP_DONE, call, result=StepResult.NO_ANSWER)
            else:
                self.wait(tx, target.rings * behaviour.ring_seconds, CONNECT_ANSWER, call)
        else:  # the entry `call` object reached again by a loop: the call is already up
            self.later(tx, 0.0, STEP_DONE, call, result=StepResult.SKIPPED)

    def keyed(self, tx: st.S, call: st.Call, keys: str) -> None:
        """The callee keys in `keys` (scripted, or by hand from the control plane)."""
        if st.press(tx, call, keys):
            self.complete_digits(tx, call)

    def complete_digits(self, tx: st.S, call: st.Call) -> None:
        assert call.current is not None
        assert call.buffer is not None
        step = call.steps[call.current]
        keys = call.buffer
        st.collect(tx, call, step, keys)
        nxt = step.routes.get(keys, step.routes.get(ANY_INPUT))
        st.finish_step(tx, call, StepResult.COLLECTED, nxt, input=keys)
        self.go_to(tx, call, nxt, no_route=bool(step.routes))

    # -- jobs ---------------------------------------------------------------------------------------------

    def jobs(self) -> dict[str, Callable[[str, str, Mapping[str, Any]], Any]]:
        return {
            DIAL: self._unit(self._dial, fresh=False),
            ANSWER: self._unit(lambda tx, call, args: self.answer(tx, call)),
            NO_ANSWER: self._unit(lambda tx, call, args: st.end_call(tx, call, EndReason.NO_ANSWER)),
            STEP_DONE: self._unit(self._step_done),
            PRESS: self._unit(self._press),
            DIGITS_TIMEOUT: self._unit(self._digits_timeout),
            CONNECT_ANSWER: self._unit(self._connect_answer),
            CALLEE_HANGUP: self._unit(self._callee_hangup, fresh=False),
            MAX_DURATION: self._unit(lambda tx, call, args: st.end_call(tx, call, EndReason.MAX_DURATION)),
            HTTP: self._http,
        }

    def _unit(self, fn: Callable[[st.S, st.Call, Mapping[str, Any]], None], *, fresh: bool = True) -> Any:
        async def run(vendor: str, tenant: str, args: Mapping[str, Any]) -> None:
            try:
                async with self.store.tenant(tenant, create=False) as tx:
                    call = tx.state.calls.get(args["call"])
                    if call is None or call.ended or (fresh and call.gen != args["gen"]):
                        return
                    fn(tx, call, args)
            except NotFound:
                return  # the tenant was reset meanwhile

        return run

    def _dial(self, tx: st.S, call: st.Call, args: Mapping[str, Any]) -> None:
        if call.status != CallStatus.QUEUED:
            return
        st.dial(tx, call)
        if call.ended:
            return
        behaviour = tx.state.behaviour
        ringing = call.callee.rings * behaviour.ring_seconds
        if call.callee.answer == "no-answer" or ringing >= behaviour.no_answer_after:
            self.later(tx, behaviour.no_answer_after, NO_ANSWER, call)
        else:
            self.later(tx, ringing, ANSWER, call)

    def answer(self, tx: st.S, call: st.Call) -> None:
        """The ringing callee answers (its timer, or by hand): the flow goes on from the `call` object."""
        self.emu.feed.act("customer", "answer", SLUG, tx.tenant, call.id, tx.now())
        st.answer(tx, call)
        nxt = call.steps[call.entry].routes.get("")
        st.finish_step(tx, call, StepResult.ANSWERED, nxt)
        if call.callee.hangup_after is not None:
            self.later(tx, call.callee.hangup_after, CALLEE_HANGUP, call)
        self.go_to(tx, call, nxt)

    def _step_done(self, tx: st.S, call: st.Call, args: Mapping[str, Any]) -> None:
        assert call.current is not None
        step = call.steps[call.current]
        nxt = step.routes.get("")
        st.finish_step(tx, call, StepResult(args.get("result", StepResult.PLAYED)), nxt)
        self.go_to(tx, call, nxt)

    def _digits_timeout(self, tx: st.S, call: st.Call, args: Mapping[str, Any]) -> None:
        if call.buffer:
            self.complete_digits(tx, call)  # what was keyed in before the timeout counts
            return
        st.finish_step(tx, call, StepResult.TIMEOUT, None, input="")
        st.end_call(tx, call, EndReason.NO_INPUT)

    def _connect_answer(self, tx: st.S, call: st.Call, args: Mapping[str, Any]) -> None:
        assert call.current is not None
        step = call.steps[call.current]
        assert step.number is not None
        st.connected(tx, call, step.number)
        talk = tx.state.callee(step.number).talk_seconds
        self.wait(tx, talk, STEP_DONE, call, result=StepResult.CONNECTED)

    def _press(self, tx: st.S, call: st.Call, args: Mapping[str, Any]) -> None:
        self.emu.feed.act("customer", "press", SLUG, tx.tenant, call.id, tx.now(), digits=str(args["keys"]))
        self.keyed(tx, call, str(args["keys"]))

    def _callee_hangup(self, tx: st.S, call: st.Call, args: Mapping[str, Any]) -> None:
        if call.status == CallStatus.ANSWERED:
            self.emu.feed.act("customer", "hangup", SLUG, tx.tenant, call.id, tx.now())
            st.end_call(tx, call, EndReason.CALLEE_HANGUP)

    async def _http(self, vendor: str, tenant: str, args: Mapping[str, Any]) -> None:
        """Send the step's request (with those of the same cloud due at the same instant, httpjob.py) and route
        on its outcome."""
        fetch = self._fetched.pop(httpjob.key(tenant, args), None)
        if fetch is None:
            state = self.store.peek(tenant)
            if state is None:
                return
            alongside = httpjob.due_alongside(self.emu, HTTP, vendor, tenant)
            due = {httpjob.key(tenant, a) for a in alongside}
            # outcomes whose job is no longer due (the cloud was reset) are dropped; those still due are not resent
            self._fetched = {k: f for k, f in self._fetched.items() if k[0] != tenant or k in due}
            batch = [args, *(a for a in alongside if httpjob.key(tenant, a) not in self._fetched)]
            fetches = [f for f in (httpjob.prepare(self.emu, tenant, a) for a in batch) if f is not None]
            await httpjob.send(self.emu, state, fetches)
            self._fetched.update((f.key, f) for f in fetches)
            fetch = self._fetched.pop(httpjob.key(tenant, args), None)
            if fetch is None:
                return
        step, req, target, started, outcome = fetch.step, fetch.req, fetch.target, fetch.started, fetch.outcome
        assert outcome is not None
        try:
            async with self.store.tenant(tenant, create=False) as tx:
                st.note_target(tx, target, outcome.unreachable, outcome.error)
                call = tx.state.calls.get(args["call"])
                if call is None:
                    return
                key = "success" if outcome.ok else "fail"
                record = st.HttpRecord(
                    step_id=step.id,
                    method=req.method,
                    url=req.url,
                    sent_to=req.sent_to,
                    outcome=key,
                    at=started,
                    latency_ms=round((tx.now() - started) * 1000, 3),
                    status=outcome.status,
                    response_excerpt=outcome.excerpt,
                    truncated=outcome.truncated,
                    error=outcome.error,
                )
                st.record_http(tx, call, record)
                if call.ended or call.gen != args["gen"]:
                    return  # hung up while the request was in flight: recorded, not routed
                nxt = step.routes.get(key)
                st.finish_step(tx, call, StepResult(key), nxt, status=outcome.status)
                self.go_to(tx, call, nxt, no_route=bool(step.routes))
        except NotFound:
            return


def play_seconds(step: FlowStep, words_per_minute: float, media_seconds: float) -> float:
    """How long a play step lasts: its text at the speaking rate, plus the media's length [inf]."""
    seconds = 0.0
    if step.text:
        seconds += max(1, len(step.text.split())) * 60.0 / words_per_minute
    if step.url:
        seconds += media_seconds
    return round(seconds, 3)


def jobs(emu: Emulator) -> dict[str, Any]:
    return Engine(emu).jobs()


def react(emu: Emulator, event: DomainEvent) -> None:
    """A placed call is dialled by the network at once (runs inside the commit; only schedules)."""
    if event.kind == "call.initiated":
        args = {"call": event.subject, "gen": 0}
        emu.scheduler.schedule_job(0.0, DIAL, args, vendor=SLUG, tenant=event.tenant)
