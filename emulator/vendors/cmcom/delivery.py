"""How CM delivers webhooks (cmcom.md §3.2): JSON POST, only **200 OK** counts as received, anything else is
retried every 5 minutes (`retry_interval`). CM documents two windows, so each delivery gets its own ladder:
status reports are retried for at most 7 days (`status_retry_for`), MO for a month (`retry_for`), which the
router's MO and mutation notifications share [inf]. CM signs nothing: a receiver trusts its registered URL."""

from __future__ import annotations

from typing import Any

import orjson

from emulator.core.runtime import Emulator
from emulator.core.signatures import unsigned
from emulator.core.webhooks import Delivery, WebhookPolicy, compact_json
from emulator.vendors.cmcom.config import CmComConfig
from emulator.vendors.cmcom.constants import SLUG
from emulator.vendors.cmcom.events import STATUS_REPORT

SUCCESS = range(200, 201)
UNSIGNED = unsigned(
    "CM.com does not sign its webhooks (cmcom.md §3.2): a JSON POST to the URL registered in the Channels app, with "
    "no signature or secret header; a receiver can rely only on the URL being secret (and HTTPS)"
)


_ORJSON = orjson.dumps
_OPTIONS = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
_NUMBER_ENDS = (b",", b"]", b"}", b"")


def _short_exponent(out: bytes) -> bool:
    """Whether `out` may hold a float with a one-digit negative exponent (orjson `1e-7`, json `1e-07`): `e-`, one
    digit, then the end of a number in compact JSON. (A GUID's `...e-` is not one: a hex digit group follows.)"""
    at = out.find(b"e-")
    while at >= 0:
        if out[at + 2 : at + 3].isdigit() and out[at + 3 : at + 4] in _NUMBER_ENDS:
            return True
        at = out.find(b"e-", at + 2)
    return False


def body_bytes(payload: Any) -> bytes:
    """`compact_json(payload)` (the kernel's webhook body: `json.dumps` compact, not ASCII-escaped, NaN allowed), byte
    for byte, written by orjson when its bytes are certainly the same, as `core.web.json_bytes` decides for responses:
    orjson writes strings (UTF-8, the same escapes), integers, booleans, lists and dicts as `json` does, floats in the
    same shortest form except below 1e-4, and `null` for NaN and infinities. Output holding `null`, `.0000` or a
    one-digit negative exponent (also by chance, inside a string) and anything orjson refuses (non-string keys,
    integers past 64 bits, deep nesting, a lone surrogate, a dataclass or date) go to `compact_json`, which writes or
    raises what it did before. A status report (two per message) is all strings: one orjson call instead of json's."""
    try:
        out = _ORJSON(payload, option=_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError
        return compact_json(payload)
    if b"null" in out or b".0000" in out or (b"e-" in out and _short_exponent(out)):
        return compact_json(payload)
    return out


def ladder(interval: float, window: float) -> tuple[float, ...]:
    """Retries every `interval` seconds for `window` seconds after the first attempt."""
    return (interval,) * int(window // interval)


def policy(emu: Emulator) -> WebhookPolicy:
    cfg: CmComConfig = emu.vendor_config(SLUG)
    status_ladder = ladder(cfg.retry_interval, cfg.status_retry_for)

    def ladder_for(delivery: Delivery) -> tuple[float, ...] | None:
        return status_ladder if delivery.event_type == STATUS_REPORT else None

    return WebhookPolicy(
        retry_ladder=ladder(cfg.retry_interval, cfg.retry_for),
        success_statuses=SUCCESS,
        ladder_for=ladder_for,
        signature=UNSIGNED,
        serialize=body_bytes,
    )
