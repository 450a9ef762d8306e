"""The emulated Samespace Call Flow API as an OpenAPI 3.1 document (`contracts/samespace.openapi.yaml`).

The operations are declared on their handlers (`routes.API`); this module adds the `webhooks:` section, one
call event per name in `constants.EVENTS` (their shape is cxemu's design [inf], samespace.md §4.3).
"""

from __future__ import annotations

from typing import Any

from emulator.core.contracts import WebhookSpec, too_large_reply
from emulator.vendors.samespace.constants import EVENTS
from emulator.vendors.samespace.models import CallEvent, ErrorBody
from emulator.vendors.samespace.routes import API

WEBHOOKS = tuple(
    WebhookSpec(event, CallEvent, f"`{event}`: sent to `publish.url` or the cloud's `callback_url` [inf]")
    for event in EVENTS
)


def contract() -> dict[str, Any]:
    return API.openapi(webhooks=WEBHOOKS, too_large=lambda op: too_large_reply(ErrorBody))
