"""The emulated CM.com APIs as an OpenAPI 3.1 document (`contracts/cmcom.openapi.yaml`).

One `Operation` per route of `routes.py` with every status its handler can answer, and the webhooks of
`events.py` (cmcom.md §3.1-§3.3).
"""

from __future__ import annotations

from typing import Any

from emulator import __version__
from emulator.core.contracts import Body, Operation, Param, Reply, WebhookSpec, build_openapi
from emulator.vendors.cmcom import constants as c
from emulator.vendors.cmcom import models as m
from emulator.vendors.cmcom.events import MO, MO_CC, MO_PLAIN, STATUS_REPORT

SEND = {
    200: Reply("all accepted (errorCode 0) or some (errorCode 201); one entry per recipient", m.SendResponse),
    400: Reply("refused as a whole (101, 102, 103, 202, 203) or none accepted (201)", m.SendResponse),
}
PROBLEM = {
    400: Reply("validation failed (per field)", m.ProblemDetails, media_type=c.PROBLEM_JSON),
    401: Reply("no or unknown X-CM-PRODUCTTOKEN", m.ProblemDetails, media_type=c.PROBLEM_JSON),
    404: Reply("unknown account (for this token) or chat", m.ProblemDetails, media_type=c.PROBLEM_JSON),
}
GUID = {"type": "string", "pattern": m.GUID}
ACCOUNT = Param("account_id", "path", description="BotRouterAccountId")
TOKEN = Param(c.PRODUCT_TOKEN_HEADER, "header", description="the account's product token [inf]")
ROUTER_TAG = ("Bot Router control",)


def _control(path: str, op_id: str, summary: str, body: Body | None, params: tuple[Param, ...] = ()) -> Operation:
    return Operation(
        "POST",
        path,
        op_id,
        summary,
        {204: Reply("accepted (no body) [inf]"), **PROBLEM},
        tags=ROUTER_TAG,
        params=(ACCOUNT, *params, TOKEN),
        body=body,
    )


def _bmproxy(path: str, op_id: str, summary: str) -> Operation:
    return Operation(
        "POST", path, op_id, summary, SEND, tags=("Bot Router",), params=(ACCOUNT,), body=Body(m.SendRequest)
    )


def contract() -> dict[str, Any]:
    ops = [
        Operation(
            "POST",
            c.GATEWAY_PATH,
            "sendMessages",
            "Send Business Messaging messages",
            SEND,
            tags=("Business Messaging",),
            body=Body(m.SendRequest),
        ),
        _bmproxy(c.BMPROXY_PATH, "sendThroughBotRouter", "Send as the partner bot through the Bot Router"),
        _bmproxy(
            c.BMPROXY_SDK_PATH,
            "sendThroughBotRouterSdkPath",
            "The same, at the path CM's JS SDK posts to with BMProxy as its base URL [inf]",
        ),
        _control(c.MUTATION_PATH, "mutationRequest", "Enable/disable components of a chat", Body(m.MutationRequest)),
        _control(c.POSITION_PATH, "positionRequest", "Move the CmBot to a flow step", Body(m.PositionRequest)),
        _control(
            c.RESET_PATH,
            "resetRequest",
            "Reset a chat's routing to the defaults",
            None,
            (Param("chat_id", "path", GUID, description="the ChatId"),),
        ),
        _control(
            c.RESET_QUERY_PATH,
            "resetRequestByQuery",
            "Reset a chat's routing (ChatId in the query)",
            None,
            (Param("chatId", "query", GUID, required=True, description="the ChatId"),),
        ),
    ]
    hooks = [
        WebhookSpec(MO, m.RouterMoPayload, "A customer message, to every enabled component's webhook"),
        WebhookSpec(MO_CC, m.RouterMoPayload, "Customer Contact's copy of every customer message (when configured)"),
        WebhookSpec(MO_PLAIN, m.MoPayload, "A plain Business Messaging MO (router off)"),
        WebhookSpec(STATUS_REPORT, m.StatusReport, "A delivery status report of a sent message"),
        WebhookSpec(c.NOTIFICATION_TYPE, m.MutationNotification, "Another component mutated the chat [inf]"),
        WebhookSpec(c.RESET_NOTIFICATION_TYPE, m.MutationNotification, "The chat's routing was reset [inf]"),
    ]
    return build_openapi(
        title="CM.com Business Messaging + Conversational Router (cxemu)",
        version=__version__,
        description="Emulated by cxemu. Facts: ../shared/vendors/cmcom.md. Webhooks need 200; retried every 5 min.",
        operations=ops,
        webhooks=hooks,
    )
