"""The call metadata as the API (and the control plane) shows it (models.CallInfo) [inf]."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from emulator.vendors.samespace.models import CallInfo, HttpCall, StepRun
from emulator.vendors.samespace.state import Call, duration, when


def call_info(cloud_id: str, call: Call) -> dict[str, Any]:
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
    info = CallInfo(
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
    return info.model_dump(mode="json")
