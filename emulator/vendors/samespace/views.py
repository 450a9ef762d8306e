"""Every body Samespace answers or sends, built here (samespace.md §4.3 [inf]: none of them is public).

| body | for |
|---|---|
| `call_model`, `call_info` | a call's metadata (`CallInfo`; as a dict): the API's `GET /call/{id}`, the control plane |
| `callback` | a callback webhook: one domain event as `{event, call_id, cloud_id, step_id, timestamp, data}` |
| `credentials` | what `POST /_emulator/tenants` gives a client of the cloud |
| `summary`, `brief` | the control plane's cloud and call list views |
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from emulator.core.clock import iso
from emulator.core.events import DomainEvent
from emulator.core.plugin import Subject
from emulator.vendors.samespace.constants import API_PREFIX, CALL_PATH
from emulator.vendors.samespace.models import CallInfo, HttpCall, StepRun
from emulator.vendors.samespace.state import Call, SamespaceState, duration, when


def call_model(cloud_id: str, call: Call) -> CallInfo:
    steps = [
        StepRun(
            seq=r.seq,
            id=r.id,
            type=r.type,
            started_at=when(r.started_at) or "",
            ended_at=when(r.ended_at),
            result=r.result,
            next_step=r.next_step,
            input=r.input,
            detail=r.detail,
        )
        for r in call.runs
    ]
    http = [HttpCall(**{**asdict(h), "at": when(h.at) or ""}) for h in call.http]
    return CallInfo(
        call_id=call.id,
        cloud_id=cloud_id,
        status=str(call.status),
        end_reason=str(call.end_reason) if call.end_reason is not None else None,
        number=call.number,
        caller_id=call.caller_id,
        record=call.record,
        recording_url=call.recording_url,
        created_at=when(call.created_at) or "",
        answered_at=when(call.answered_at),
        ended_at=when(call.ended_at),
        duration=duration(call),
        current_step=call.current,
        steps=steps,
        variables=dict(call.variables),
        http=http,
    )


def call_info(cloud_id: str, call: Call) -> dict[str, Any]:
    return call_model(cloud_id, call).model_dump(mode="json")


def callback(event: DomainEvent) -> dict[str, Any]:
    """The callback body of one domain event (pure)."""
    data = dict(event.data)
    step_id = data.pop("step_id", None)
    return {
        "event": event.kind,
        "call_id": event.subject,
        "cloud_id": event.tenant,
        "step_id": step_id,
        "timestamp": iso(event.at, millis=True),
        "data": data,
    }


def credentials(state: SamespaceState) -> dict[str, Any]:
    return {
        "cloud_id": state.tenant,
        "auth_token": state.auth_token,
        "flow_url": f"{API_PREFIX}/call/flow",
        "metadata_url": CALL_PATH + "?cloud_id={cloud_id}&auth_token={auth_token}",
    }


def summary(state: SamespaceState) -> dict[str, Any]:
    return {
        "cloud_id": state.tenant,
        "auth_token": state.auth_token,
        "callback_url": state.callback_url,
        "http_overrides": state.http_overrides,
        "behaviour": state.behaviour.model_dump(),
        "default_callee": state.default_callee.model_dump(),
        "numbers": {n: b.model_dump() for n, b in state.numbers.items()},
        "calls": list(state.calls),
        "unreachable": {target: asdict(failed) for target, failed in state.unreachable.items()},
    }


def brief(call: Call) -> dict[str, Any]:
    return {"call_id": call.id, "number": call.number, "status": str(call.status), "current_step": call.current}


# -- the dashboard's list (`VendorPlugin.subjects`) ----------------------------------------------------------------


def subjects(state: SamespaceState) -> list[Subject]:
    """Every call, newest first."""
    rows = []
    for call in state.calls.values():
        facts = {"steps": str(len(call.runs))}
        if call.current:
            facts["step"] = call.current
        if call.end_reason is not None:
            facts["ended"] = str(call.end_reason)
        rows.append(Subject(call.id, "call", str(call.status), call.number, call.created_at, facts))
    return sorted(rows, key=lambda s: s.at, reverse=True)
