"""CM.com at its real paths (cmcom.md §3.1, §3.3). Handlers are thin: parse, state, serialise.

| method and path | what it does |
|---|---|
| `POST /v1.0/message` | Business Messaging send: 200 errorCode 0 / 201 (some rejected), 400 (none sent or refused) |
| `POST /conversational/bmproxy/v1/accounts/{id}` | the same envelope through the Bot Router, as the partner bot |
| `POST .../bmproxy/v1/accounts/{id}/v1.0/message` | the same, where CM's JS SDK posts with BMProxy as its base [inf] |
| `POST /conversational/control/v1/accounts/{id}/sessions/mutationrequests` | enable/disable components |
| `POST .../sessions/positionrequests` | put the CmBot at a FlowId/StepId |
| `POST .../sessions/{chatId}/resetrequests` (or `.../sessions/resetrequests?chatId=`) | default routing again |
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from emulator.core.plugin import VendorPlugin, route, vendor_endpoint
from emulator.core.runtime import Emulator
from emulator.vendors.cmcom import constants as c
from emulator.vendors.cmcom import errors
from emulator.vendors.cmcom import router as rt
from emulator.vendors.cmcom import state as st
from emulator.vendors.cmcom.config import CmComConfig
from emulator.vendors.cmcom.http import SLUG, Gate
from emulator.vendors.cmcom.numbers import guid_key, is_guid
from emulator.vendors.cmcom.send import Draft, check_msg_array, judge, read_envelope
from emulator.vendors.cmcom.views import send_response


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.body())
    except (ValueError, RecursionError):  # RecursionError: arrays or objects nested thousands deep
        data = None
    if not isinstance(data, dict):
        raise errors.invalid("body", c.BODY_NOT_JSON)
    return data


def _chat_id(value: Any, field: str = "ChatId") -> str:
    if value is None or value == "":
        raise errors.invalid(field, c.REQUIRED.format(field=field))
    if not isinstance(value, str) or not is_guid(value):
        raise errors.invalid(field, c.NOT_A_GUID.format(value=value))
    return value


def _required_str(data: dict[str, Any], field: str) -> str:
    value = data.get(field)
    if not isinstance(value, str) or not value:
        raise errors.invalid(field, c.REQUIRED.format(field=field))
    return value


def routes(emu: Emulator, plugin: VendorPlugin) -> list[BaseRoute]:
    gate = Gate(emu)
    store = emu.store
    cfg: CmComConfig = emu.vendor_config(SLUG)

    def wrap(fn: Any) -> Any:
        return vendor_endpoint(emu, plugin, fn)

    def claim(state: st.CmComState, account_id: str) -> None:
        """Open auth: a tenant's first account id becomes its own, unless another tenant owns that account."""
        if gate.open and not state.account_bound and gate.account_owner(account_id) is None:
            st.bind_account(state, account_id)

    async def _send(request: Request, account_id: str | None) -> Response:
        token, msgs = read_envelope(await request.body())
        tenant = gate.send_tenant(request, token)
        check_msg_array(msgs)
        drafts: list[Draft] = [d for m in msgs for d in judge(m)]
        async with store.tenant(SLUG, tenant) as tx:
            state: st.CmComState = tx.state
            if account_id is not None:
                claim(state, account_id)
                if guid_key(account_id) != guid_key(state.account_id):
                    raise errors.no_account()
            if state.insufficient_balance:
                raise errors.SendError(c.Code.BALANCE_INSUFFICIENT, c.BALANCE)
            st.send(tx, drafts, via="gateway" if account_id is None else state.partner)
        status, body = send_response(drafts)
        return JSONResponse(body, status_code=status)

    async def send_message(request: Request) -> Response:
        """Business Messaging: send one or more messages."""
        return await _send(request, None)

    async def bmproxy(request: Request) -> Response:
        """The partner bot's replies through the Bot Router (refused per message while it is disabled)."""
        return await _send(request, request.path_params["account_id"])

    def done() -> Response:
        return Response(status_code=cfg.control_success_status)

    async def mutation(request: Request) -> Response:
        """Enable/disable components of one chat, with an optional Context for team routing."""
        account_id = request.path_params["account_id"]
        tenant = gate.control_tenant(request, account_id)
        data = await _json_object(request)
        chat_id = _chat_id(data.get("ChatId"))
        async with store.tenant(SLUG, tenant) as tx:
            claim(tx.state, account_id)
            mutations = rt.check_mutations(tx.state, data.get("Mutations"))
            context = rt.check_context(data.get("Context"))
            chat = rt.get_chat(tx.state, account_id, chat_id)
            rt.mutate(tx, chat, mutations, context, tx.state.partner)
        return done()

    async def position(request: Request) -> Response:
        """Put the CmBot at a step of one of its flows."""
        account_id = request.path_params["account_id"]
        tenant = gate.control_tenant(request, account_id)
        data = await _json_object(request)
        chat_id = _chat_id(data.get("ChatId"))
        flow, step = _required_str(data, "FlowId"), _required_str(data, "StepId")
        async with store.tenant(SLUG, tenant) as tx:
            claim(tx.state, account_id)
            chat = rt.get_chat(tx.state, account_id, chat_id)
            rt.position(tx, chat, flow, step)
        return done()

    async def _reset(request: Request, raw_chat_id: Any, field: str) -> Response:
        account_id = request.path_params["account_id"]
        tenant = gate.control_tenant(request, account_id)
        chat_id = _chat_id(raw_chat_id, field)
        async with store.tenant(SLUG, tenant) as tx:
            claim(tx.state, account_id)
            chat = rt.get_chat(tx.state, account_id, chat_id)
            rt.reset(tx, chat, tx.state.partner)
        return done()

    async def reset(request: Request) -> Response:
        """Back to the default routing; no body."""
        return await _reset(request, request.path_params["chat_id"], "chatId")

    async def reset_by_query(request: Request) -> Response:
        """The same, with the ChatId in the query."""
        params = request.query_params
        return await _reset(request, params.get("chatId", params.get("ChatId")), "chatId")

    return [
        route(c.GATEWAY_PATH, {"POST": send_message}, wrap=wrap),
        route(c.BMPROXY_PATH, {"POST": bmproxy}, wrap=wrap),
        route(c.BMPROXY_SDK_PATH, {"POST": bmproxy}, wrap=wrap),
        route(c.MUTATION_PATH, {"POST": mutation}, wrap=wrap),
        route(c.POSITION_PATH, {"POST": position}, wrap=wrap),
        route(c.RESET_QUERY_PATH, {"POST": reset_by_query}, wrap=wrap),
        route(c.RESET_PATH, {"POST": reset}, wrap=wrap),
    ]
