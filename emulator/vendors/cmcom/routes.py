"""CM.com at its real paths (cmcom.md §3.1, §3.3), each declared once on `API` (routes and contract both come
from it). Handlers are thin: parse, state, serialise; they are bound to the emulator's `http.Gate`.

| method and path | what it does |
|---|---|
| `POST /v1.0/message` | Business Messaging send: 200 errorCode 0 / 201 (some rejected), 400 (none sent or refused) |
| `POST /conversational/bmproxy/v1/accounts/{id}` | the same envelope through the Bot Router, as the partner bot |
| `POST .../bmproxy/v1/accounts/{id}/v1.0/message` | the same, where CM's JS SDK posts with BMProxy as its base [inf] |
| `POST /conversational/control/v1/accounts/{id}/sessions/mutationrequests` | enable/disable components |
| `POST .../sessions/positionrequests` | put the CmBot at a FlowId/StepId |
| `POST .../sessions/{chatId}/resetrequests` (or `.../sessions/resetrequests?chatId=`) | default routing again |

The send handler builds its answer as a dict (`views.send_response`): the `cmcom-post-message` bench row
posts to `/v1.0/message`. The router control answers have no body.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from emulator import __version__
from emulator.core.api import Api, Handler
from emulator.core.contracts import Body, Param, Reply
from emulator.core.runtime import Emulator
from emulator.core.web import read_body
from emulator.vendors.cmcom import constants as c
from emulator.vendors.cmcom import errors
from emulator.vendors.cmcom import models as m
from emulator.vendors.cmcom import router as rt
from emulator.vendors.cmcom import state as st
from emulator.vendors.cmcom.http import Gate, SendAnswer, json_object, read_chat_id, required_str
from emulator.vendors.cmcom.numbers import guid_key
from emulator.vendors.cmcom.send import Draft, check_msg_array, judge, read_envelope
from emulator.vendors.cmcom.views import send_response

API: Api[Gate] = Api(
    "CM.com Business Messaging + Conversational Router (cxemu)",
    __version__,
    "Emulated by cxemu. Facts: ../shared/vendors/cmcom.md. Webhooks need 200; retried every 5 min.",
)
SEND = {
    200: Reply("all accepted (errorCode 0) or some (errorCode 201); one entry per recipient", m.SendResponse),
    400: Reply("refused as a whole (101, 102, 103, 202, 203) or none accepted (201)", m.SendResponse),
}
PROBLEM = {
    400: Reply("validation failed (per field)", m.ProblemDetails, media_type=c.PROBLEM_JSON),
    401: Reply("no or unknown X-CM-PRODUCTTOKEN", m.ProblemDetails, media_type=c.PROBLEM_JSON),
    404: Reply("unknown account (for this token) or chat", m.ProblemDetails, media_type=c.PROBLEM_JSON),
}
CONTROL = {204: Reply("accepted (no body) [inf]"), **PROBLEM}
GUID = {"type": "string", "pattern": m.GUID}
ACCOUNT = Param("account_id", "path", description="BotRouterAccountId")
TOKEN = Param(c.PRODUCT_TOKEN_HEADER, "header", description="the account's product token [inf]")
CHAT_ID = Param("chat_id", "path", GUID, description="the ChatId")
CHAT_ID_QUERY = Param("chatId", "query", GUID, required=True, description="the ChatId")
ROUTER_TAG = ("Bot Router control",)


def routes(emu: Emulator) -> list[BaseRoute]:
    return API.routes(Gate(emu))


def _bmproxy(path: str, operation_id: str, summary: str) -> Callable[[Handler[Gate]], Handler[Gate]]:
    return API.op(
        "POST", path, operation_id, summary, SEND, params=(ACCOUNT,), body=Body(m.SendRequest), tags=("Bot Router",)
    )


def _control(
    path: str, operation_id: str, summary: str, body: Body | None = None, params: tuple[Param, ...] = ()
) -> Callable[[Handler[Gate]], Handler[Gate]]:
    return API.op(
        "POST", path, operation_id, summary, CONTROL, params=(ACCOUNT, *params, TOKEN), body=body, tags=ROUTER_TAG
    )


# Decorators apply bottom-up: the gateway is declared first, then the two BMProxy paths.
@_bmproxy(
    c.BMPROXY_SDK_PATH,
    "sendThroughBotRouterSdkPath",
    "The same, at the path CM's JS SDK posts to with BMProxy as its base URL [inf]",
)
@_bmproxy(c.BMPROXY_PATH, "sendThroughBotRouter", "Send as the partner bot through the Bot Router")
@API.op(
    "POST",
    c.GATEWAY_PATH,
    "sendMessages",
    "Send Business Messaging messages",
    SEND,
    body=Body(m.SendRequest),
    tags=("Business Messaging",),
)
async def send_messages(gate: Gate, request: Request) -> Response:
    """Business Messaging: send one or more messages; through BMProxy (an `account_id` in the path) as the
    partner bot, refused per message while it is disabled."""
    account_id: str | None = request.path_params.get("account_id")
    token, msgs = read_envelope(await read_body(request))
    tenant = gate.send_tenant(request, token)
    check_msg_array(msgs)
    drafts: list[Draft] = [d for msg in msgs for d in judge(msg)]
    async with gate.store.tenant(tenant) as tx:
        state = tx.state
        if account_id is not None:
            gate.claim(state, account_id)
            if guid_key(account_id) != guid_key(state.account_id):
                raise errors.no_account()
        if state.insufficient_balance:
            raise errors.SendError(c.Code.BALANCE_INSUFFICIENT, c.BALANCE)
        st.send(tx, drafts, via="gateway" if account_id is None else state.partner)
    status, body = send_response(drafts)
    return SendAnswer(body, status)


async def _control_body(gate: Gate, request: Request) -> tuple[str, str, dict[str, Any], str]:
    """A router control request with a body: its account id, tenant, body and ChatId, checked in that order."""
    account_id = request.path_params["account_id"]
    tenant = gate.control_tenant(request, account_id)
    data = await json_object(request)
    return account_id, tenant, data, read_chat_id(data.get("ChatId"))


@asynccontextmanager
async def _claimed(gate: Gate, tenant: str, account_id: str) -> AsyncIterator[st.S]:
    """The tenant's unit of work, the account claimed first (open auth, `Gate.claim`)."""
    async with gate.store.tenant(tenant) as tx:
        gate.claim(tx.state, account_id)
        yield tx


def _done(gate: Gate) -> Response:
    return Response(status_code=gate.config.control_success_status)


@_control(c.MUTATION_PATH, "mutationRequest", "Enable/disable components of a chat", Body(m.MutationRequest))
async def mutation(gate: Gate, request: Request) -> Response:
    """Enable/disable components of one chat, with an optional Context for team routing."""
    account_id, tenant, data, chat_id = await _control_body(gate, request)
    async with _claimed(gate, tenant, account_id) as tx:
        mutations = rt.check_mutations(tx.state, data.get("Mutations"))
        context = rt.check_context(data.get("Context"))
        chat = rt.get_chat(tx.state, account_id, chat_id)
        rt.mutate(tx, chat, mutations, context, tx.state.partner)
    return _done(gate)


@_control(c.POSITION_PATH, "positionRequest", "Move the CmBot to a flow step", Body(m.PositionRequest))
async def position(gate: Gate, request: Request) -> Response:
    """Put the CmBot at a step of one of its flows."""
    account_id, tenant, data, chat_id = await _control_body(gate, request)
    flow, step = required_str(data, "FlowId"), required_str(data, "StepId")
    async with _claimed(gate, tenant, account_id) as tx:
        chat = rt.get_chat(tx.state, account_id, chat_id)
        rt.position(tx, chat, flow, step)
    return _done(gate)


@_control(
    c.RESET_QUERY_PATH, "resetRequestByQuery", "Reset a chat's routing (ChatId in the query)", None, (CHAT_ID_QUERY,)
)
@_control(c.RESET_PATH, "resetRequest", "Reset a chat's routing to the defaults", None, (CHAT_ID,))
async def reset(gate: Gate, request: Request) -> Response:
    """Back to the default routing; no body. The ChatId is in the path, or in the query (`chatId`)."""
    account_id = request.path_params["account_id"]
    tenant = gate.control_tenant(request, account_id)
    raw: Any = request.path_params.get("chat_id")
    if raw is None:
        params = request.query_params
        raw = params.get("chatId", params.get("ChatId"))
    chat_id = read_chat_id(raw, "chatId")
    async with _claimed(gate, tenant, account_id) as tx:
        chat = rt.get_chat(tx.state, account_id, chat_id)
        rt.reset(tx, chat, tx.state.partner)
    return _done(gate)
