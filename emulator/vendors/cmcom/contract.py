"""The emulated CM.com APIs as an OpenAPI 3.1 document (`contracts/cmcom.openapi.yaml`).

The operations are declared on the handlers (`routes.API`); this file adds the webhooks of `events.py`
(cmcom.md §3.1-§3.3).
"""

from __future__ import annotations

from typing import Any

from emulator.core.contracts import Operation, Reply, WebhookSpec, too_large_reply
from emulator.vendors.cmcom import constants as c
from emulator.vendors.cmcom import models as m
from emulator.vendors.cmcom.events import MO, MO_CC, MO_PLAIN, STATUS_REPORT
from emulator.vendors.cmcom.http import is_control
from emulator.vendors.cmcom.routes import API

WEBHOOKS = (
    WebhookSpec(MO, m.RouterMoPayload, "A customer message, to every enabled component's webhook"),
    WebhookSpec(MO_CC, m.RouterMoPayload, "Customer Contact's copy of every customer message (when configured)"),
    WebhookSpec(MO_PLAIN, m.MoPayload, "A plain Business Messaging MO (router off)"),
    WebhookSpec(STATUS_REPORT, m.StatusReport, "A delivery status report of a sent message"),
    WebhookSpec(c.NOTIFICATION_TYPE, m.MutationNotification, "Another component mutated the chat [inf]"),
    WebhookSpec(c.RESET_NOTIFICATION_TYPE, m.MutationNotification, "The chat's routing was reset [inf]"),
)


def too_large(op: Operation) -> Reply:
    """A body over the limit, answered as `http.render_error` answers any error of the operation's API."""
    if is_control(op.path):
        return too_large_reply(m.ProblemDetails, c.PROBLEM_JSON)
    return too_large_reply(m.SendResponse)


def contract() -> dict[str, Any]:
    return API.openapi(webhooks=WEBHOOKS, too_large=too_large)
