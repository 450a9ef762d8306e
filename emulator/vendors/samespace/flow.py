"""Checking a Call Flow request and turning it into steps the engine runs (samespace.md §4.2).

`parse(data)` validates a request body (already known to be a JSON object) with `models.FlowRequest`, then
checks what one object cannot: exactly one `call` object (the entry, wherever it sits in the array) and
unique ids (compared as strings: `"1"` and `1` are the same id). Dangling `next_step` references and
unreachable objects are accepted, as the vendor's own sample has both; a dangling reference ends the call
when it is reached. Failures raise `errors.bad_request` with a message naming the object at fault.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from emulator.vendors.samespace import errors
from emulator.vendors.samespace.constants import StepType
from emulator.vendors.samespace.models import (
    CallStep,
    ConnectStep,
    DigitsStep,
    FlowRequest,
    HttpNext,
    HttpStep,
    PlayStep,
)

ANY_INPUT = "*"
"""A digits route for any input (samespace.md §4.2)."""


@dataclass(slots=True)
class FlowStep:
    """One call flow object, normalised: ids as strings, every `next_step` form as a routing table.

    `routes` maps an outcome to the next id: "" for a plain `next_step`; digits: an input or `*`; http:
    `success` / `fail`.
    """

    id: str
    type: StepType
    routes: dict[str, str] = field(default_factory=dict)
    number: str | None = None
    caller_id: str | None = None
    text: str | None = None
    url: str | None = None
    count: int = 0
    variable: str | None = None
    method: str = "GET"
    headers: dict[str, str] | None = None
    body: Any = None


@dataclass(slots=True)
class Flow:
    entry: str
    steps: dict[str, FlowStep]
    record: bool
    publish_url: str | None


def _id(value: str | int | None) -> str | None:
    return None if value is None else str(value)


def _scalar(step: CallStep | PlayStep | ConnectStep) -> dict[str, str]:
    nxt = _id(step.next_step)
    return {"": nxt} if nxt is not None else {}


def normalise(step: CallStep | PlayStep | DigitsStep | HttpStep | ConnectStep) -> FlowStep:
    sid = str(step.id)
    if isinstance(step, CallStep | ConnectStep):
        kind = StepType.CALL if isinstance(step, CallStep) else StepType.CONNECT
        return FlowStep(sid, kind, _scalar(step), number=str(step.number), caller_id=_id(step.caller_id))
    if isinstance(step, PlayStep):
        return FlowStep(sid, StepType.PLAY, _scalar(step), text=step.text, url=step.url)
    if isinstance(step, DigitsStep):
        nxt = step.next_step
        routes = {k: str(v) for k, v in nxt.items()} if isinstance(nxt, dict) else {}
        if nxt is not None and not isinstance(nxt, dict):
            routes = {ANY_INPUT: str(nxt)}  # lenient: one scalar next_step takes every input [inf]
        return FlowStep(sid, StepType.DIGITS, routes, count=step.count, variable=step.variable)
    hn = step.next_step
    if isinstance(hn, HttpNext):
        routes = {k: str(v) for k, v in (("success", hn.success), ("fail", hn.fail)) if v is not None}
    elif hn is not None:
        routes = {"success": str(hn), "fail": str(hn)}  # lenient: one scalar next_step for both outcomes [inf]
    else:
        routes = {}
    return FlowStep(
        sid, StepType.HTTP, routes, url=step.url, method=step.method.upper(), headers=step.headers, body=step.body
    )


def parse(data: dict[str, Any]) -> Flow:
    """Validate a request body into a runnable `Flow` (auth is checked before, by `http.py`)."""
    try:
        request = FlowRequest.model_validate(data)
    except ValidationError as exc:
        raise errors.bad_request(message_for(exc, data)) from None
    steps: dict[str, FlowStep] = {}
    entries: list[str] = []
    for i, raw in enumerate(request.flow):
        step = normalise(raw)
        if step.id in steps:
            raise errors.bad_request(f"flow[{i}]: duplicate id {step.id!r}")
        steps[step.id] = step
        if step.type == StepType.CALL:
            entries.append(step.id)
    if not entries:
        raise errors.bad_request(errors.NO_CALL_STEP)
    if len(entries) > 1:
        raise errors.bad_request(errors.MANY_CALL_STEPS)
    publish = request.publish.url if request.publish is not None else None
    return Flow(entry=entries[0], steps=steps, record=request.record, publish_url=publish)


def message_for(exc: ValidationError, data: dict[str, Any]) -> str:
    """The first validation error as one sentence naming the call flow object at fault."""
    err = exc.errors()[0]
    loc = list(err["loc"])
    kind = err["type"]
    if not loc or loc[0] != "flow":
        name = ".".join(map(str, loc)) or "body"
        if name == "record":
            return errors.RECORD_NOT_BOOL
        if name.startswith("publish"):
            return f"{name}: {_msg(err)}"
        return f"{name} is required" if kind == "missing" else f"{name}: {_msg(err)}"
    if len(loc) == 1:
        return errors.TOO_MANY_OBJECTS if kind == "too_long" else errors.EMPTY_FLOW
    i = loc[1]
    if len(loc) == 2:
        if kind == "union_tag_invalid":
            raw = data["flow"][i].get("type") if isinstance(i, int) else None
            return f"flow[{i}]: unknown call flow object type {raw!r}"
        if kind == "union_tag_not_found":
            return f"flow[{i}]: type is required"
        return f"flow[{i}]: a call flow object must be a JSON object"
    tag = str(loc[2])
    if len(loc) == 3:
        return f"flow[{i}] ({tag}): {_msg(err)}"
    name = str(loc[3])
    if kind == "missing" and len(loc) == 4:
        return f"flow[{i}] ({tag}): {name} is required"
    if len(loc) > 4 or name in _SHAPES:  # a union (string-or-number ids...): say what it takes, not pydantic's path
        shape = _SHAPES.get((tag, name)) or _SHAPES.get(name)
        if shape is not None:
            return f"flow[{i}] ({tag}): {name} must be {shape}"
    return f"flow[{i}] ({tag}): {name}: {_msg(err)}"


_SHAPES: dict[str | tuple[str, str], str] = {
    "id": "a string or a number",
    "number": "a string or a number",
    "caller_id": "a string or a number",
    "next_step": "the id of a call flow object (a string or a number)",
    ("digits", "next_step"): "an id, or a map of input (or *) to an id",
    ("http", "next_step"): "an id, or {success, fail} ids",
    "headers": "a map of header names to strings",
}


def _msg(err: Any) -> str:
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ")
