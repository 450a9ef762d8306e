"""Flow-building helpers for the Samespace tests."""

from __future__ import annotations

from typing import Any

from tests.vendors.samespace.conftest import Ss, SsFactory, tenant

RING = 3.0  # default ring_seconds; the default callee answers after 2 rings


def play(id: Any, next_step: Any = None, text: str = "one two three four five") -> dict[str, Any]:
    step = {"id": id, "type": "play", "text": text}
    if next_step is not None:
        step["next_step"] = next_step
    return step


def digits(id: Any, routes: Any, count: int = 1, variable: str = "choice") -> dict[str, Any]:
    return {"id": id, "type": "digits", "count": count, "variable": variable, "next_step": routes}


def http(id: Any, url: str, success: Any = "ok", fail: Any = "ko", **extra: Any) -> dict[str, Any]:
    return {"id": id, "type": "http", "url": url, "next_step": {"success": success, "fail": fail}, **extra}


def played(meta: dict[str, Any]) -> list[str]:
    return [s["id"] for s in meta["steps"]]


async def with_numbers(make_ss: SsFactory, numbers: dict[str, Any], **extra: Any) -> Ss:
    return await make_ss(vendors=tenant(numbers=numbers, **extra))
