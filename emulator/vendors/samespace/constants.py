"""Samespace Call Flow API: paths, statuses, step types and event names (samespace.md §4)."""

from __future__ import annotations

from enum import StrEnum

SLUG = "samespace"

#: samespace.md §4.1: the final revision's base URL is `https://api.samespace.com/api/public/v1`.
API_PREFIX = "/api/public/v1"
FLOW_PATH = f"{API_PREFIX}/call/flow"
CALL_PATH = f"{API_PREFIX}/call/{{call_id}}"
CONTROL_PREFIX = f"/_emulator/vendors/{SLUG}"


class StepType(StrEnum):
    """The call flow objects of samespace.md §4.2 (the removed `callback` object is not accepted)."""

    CALL = "call"
    PLAY = "play"
    DIGITS = "digits"
    HTTP = "http"
    CONNECT = "connect"


class CallStatus(StrEnum):
    """A call's status in the metadata [inf] (samespace.md §4.4): queued -> dialing -> ringing -> answered ->
    completed, or one of the unanswered ends."""

    QUEUED = "queued"
    DIALING = "dialing"
    RINGING = "ringing"
    ANSWERED = "answered"
    COMPLETED = "completed"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"


FINAL_STATUSES = frozenset({CallStatus.COMPLETED, CallStatus.BUSY, CallStatus.NO_ANSWER, CallStatus.FAILED})


class EndReason(StrEnum):
    """Why a call ended (the metadata's `end_reason`) [inf]."""

    FLOW_END = "flow_end"
    """A step without `next_step`: the flow hangs up."""
    DANGLING_STEP = "dangling_step"
    """`next_step` names a step that does not exist (the seed's sample does, `10`): the flow hangs up."""
    NO_ROUTE = "no_route"
    """Input or an HTTP outcome with no matching `next_step` key."""
    NO_INPUT = "no_input"
    """A `digits` step timed out without a single digit."""
    MAX_STEPS = "max_steps"
    MAX_DURATION = "max_duration"
    CALLEE_HANGUP = "callee_hangup"
    HANGUP = "hangup"
    """Hung up by hand from the control plane."""
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"


class StepResult(StrEnum):
    ANSWERED = "answered"
    PLAYED = "played"
    COLLECTED = "collected"
    TIMEOUT = "timeout"
    SUCCESS = "success"
    FAIL = "fail"
    CONNECTED = "connected"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"


#: Domain events (and callback `event` names), samespace.md §4.3 proposed list.
EVENTS = (
    "call.initiated",
    "call.ringing",
    "call.answered",
    "step.started",
    "step.completed",
    "digits.collected",
    "http.completed",
    "call.connected",
    "call.completed",
    "call.failed",
)
