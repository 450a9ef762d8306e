"""How CM delivers webhooks (cmcom.md §3.2): JSON POST, only **200 OK** counts as received, anything else is
retried every 5 minutes (`retry_interval`). CM documents two windows, so each delivery gets its own ladder:
status reports are retried for at most 7 days (`status_retry_for`), MO for a month (`retry_for`), which the
router's MO and mutation notifications share [inf]. CM signs nothing: a receiver trusts its registered URL."""

from __future__ import annotations

from typing import Any

from emulator.core.runtime import Emulator
from emulator.core.signatures import unsigned
from emulator.core.web import orjson_or
from emulator.core.webhooks import Delivery, WebhookPolicy, compact_json
from emulator.vendors.cmcom.config import CmComConfig
from emulator.vendors.cmcom.constants import SLUG
from emulator.vendors.cmcom.events import STATUS_REPORT

SUCCESS = range(200, 201)
UNSIGNED = unsigned(
    "CM.com does not sign its webhooks (cmcom.md §3.2): a JSON POST to the URL registered in the Channels app, with "
    "no signature or secret header; a receiver can rely only on the URL being secret (and HTTPS)"
)


def body_bytes(payload: Any) -> bytes:
    """`compact_json(payload)` (the kernel's webhook body: `json.dumps` compact, not ASCII-escaped, NaN allowed), byte
    for byte, written by orjson when its bytes are certainly the same (`core.web.orjson_or`: a NaN, which orjson
    writes as `null`, goes to `compact_json`). A status report (two per message) is all strings: one orjson call
    instead of json's."""
    return orjson_or(payload, compact_json)


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
