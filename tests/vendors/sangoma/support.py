"""Helpers for Sangoma tests that are not fixtures: contract validation of received webhook payloads."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import jsonschema_rs

from emulator.vendors.sangoma.contract import contract


@lru_cache(maxsize=1)
def _doc() -> dict[str, Any]:
    return contract()


def webhook_problems(body: dict[str, Any]) -> list[str]:
    """Why one received payload does not match the contract schema of its `event` (empty: it matches)."""
    doc = _doc()
    event = body.get("event")
    if event not in doc["webhooks"]:
        return [f"unknown event {event!r}"]
    post = doc["webhooks"][event]["post"]
    schema = {**post["requestBody"]["content"]["application/json"]["schema"], "components": doc["components"]}
    return [
        f"{event}: at /{'/'.join(map(str, e.instance_path))}: {e.message}"
        for e in jsonschema_rs.validator_for(schema).iter_errors(body)
    ]


def response_problems(path: str, method: str, status: int, body: Any) -> list[str]:
    """Why one response body does not match the contract."""
    doc = _doc()
    reply = doc["paths"][path][method.lower()]["responses"][str(status)]
    content = reply.get("content")
    if not content:
        return [] if body in (None, b"", "") else [f"no body documented, got {body!r}"]
    schema = {**content["application/json"]["schema"], "components": doc["components"]}
    return [
        f"at /{'/'.join(map(str, e.instance_path))}: {e.message}"
        for e in jsonschema_rs.validator_for(schema).iter_errors(body)
    ]
