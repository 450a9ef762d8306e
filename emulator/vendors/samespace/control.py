"""The control plane's routes to act by hand on Samespace calls and steer the simulated phones (`hands.py` does
the acting, `views.py` builds the bodies): `/_emulator/vendors/samespace/...`, declared on `API` (the kernel mounts
it and puts it in the control plane's contract).

| method and path | what it does |
|---|---|
| `GET /tenants/{cloud_id}` | the cloud: token, behaviour, callback URL, overrides, numbers, call ids, unreachable |
| `PUT /tenants/{cloud_id}/behaviour` | change fields of `FlowBehaviour` (timings, limits); others stay [1] [2] |
| `PUT /tenants/{cloud_id}/settings` | `{callback_url?, http_overrides?}` [1] |
| `PUT /tenants/{cloud_id}/numbers/{number}` | a number's `CalleeBehaviour` (answer, rings, dtmf, hangup_after...) |
| `GET /tenants/{cloud_id}/calls` | every call, newest last: id, number, status, current step |
| `GET /tenants/{cloud_id}/calls/{call_id}` | one call's full metadata (as the API's, without auth) |
| `POST /tenants/{cloud_id}/calls/{call_id}/answer` | the ringing callee answers now (409 `not_ringing` otherwise) |
| `POST /tenants/{cloud_id}/calls/{call_id}/digits` | `{"digits": "12#"}`: the callee keys in (or types ahead) |
| `POST /tenants/{cloud_id}/calls/{call_id}/hangup` | the callee hangs up |

[1] Also forgets the http targets failing fast (`unreachable` in the cloud's view; `http_fail_fast`).
[2] Served by the kernel from the plugin's `BehaviourSpec` (`state.BEHAVIOUR`).

`credentials` is what `POST /_emulator/tenants` answers for a cloud (the kernel creates and marks it provisioned).

Settings and numbers apply to calls placed from then on (a live call keeps its callee's script). An action
the call's state does not allow answers `{"error": "rejected", "message", "detail"}` (409 `not_ringing`, `not_answered`,
`not_collecting` when type-ahead is off, `call_ended`; 404 with the API's envelope for an unknown call).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from emulator.core.contracts import Body, Param, Reply
from emulator.core.errors import EmulatorError
from emulator.core.ids import fmt_hex
from emulator.core.plugin import CONTROL_ERRORS, TENANT_PATH, control_api, strictly
from emulator.core.runtime import Emulator
from emulator.core.store import Tx
from emulator.core.web import json_body
from emulator.vendors.samespace import errors, views
from emulator.vendors.samespace import state as st
from emulator.vendors.samespace.config import CalleeBehaviour, HttpUrl
from emulator.vendors.samespace.constants import SLUG
from emulator.vendors.samespace.hands import answer, hang_up, press, set_number
from emulator.vendors.samespace.models import CallInfo
from emulator.vendors.samespace.views import brief, call_info, summary

CloudHandler = Callable[[Emulator, Request, str], Awaitable[Response]]


class DigitsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    digits: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[0-9*#]+$")]


class SettingsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    callback_url: HttpUrl | None = None
    http_overrides: dict[str, str] | None = None


def rejected(exc: EmulatorError) -> Response:
    """An action the call's state does not allow, in the control plane's `rejected` shape (as the other vendors'):
    `detail` is the API's own envelope for an API error, else the reason's `code` (`not_answered`...)."""
    detail = errors.body(exc.message) if isinstance(exc, errors.SamespaceError) else {"code": exc.code}
    body = {"error": "rejected", "message": exc.message, "detail": detail}
    return JSONResponse(body, status_code=exc.status_code)


def credentials(emu: Emulator, tx: Tx[st.SamespaceState]) -> dict[str, Any]:
    """The cloud for `POST /_emulator/tenants`: its token (a seeded one when it has none yet) and paths."""
    if tx.state.auth_token is None:
        tx.state.auth_token = tx.ids.new("auth_token", fmt_hex(32))
    return views.credentials(tx.state)


API = control_api(SLUG, "Samespace", "Samespace cloud")
NUMBER = Param("number", "path", required=True, description="a phone number the flows call")
CALL_ID = Param("call_id", "path", required=True, description="a call id")
VIEW = {"type": "object", "description": "token, behaviour, callback URL, overrides, numbers, call ids, unreachable"}


class CallBriefOut(BaseModel):
    call_id: str
    number: str
    status: str
    current_step: str | None = Field(description="the step the call is at")


class DigitsOut(CallBriefOut):
    typed_ahead: str = Field(description="keys kept for the next digits step")


class CallsOut(BaseModel):
    calls: list[CallBriefOut] = Field(description="every call of the cloud, newest last")


def _cloud(fn: CloudHandler) -> Callable[[Emulator, Request], Awaitable[Response]]:
    """A handler of the path's cloud (known: the `Api` answers 404 `unknown_tenant` for a cloud with neither state
    nor config), an action the call does not allow `rejected` (bad input is a 400: the `Api` guards every handler)."""

    async def endpoint(emu: Emulator, request: Request) -> Response:
        try:
            return await fn(emu, request, request.path_params["tenant"])
        except EmulatorError as exc:
            return rejected(exc)

    endpoint.__name__ = fn.__name__
    endpoint.__doc__ = fn.__doc__
    return endpoint


BASE = "/tenants/{tenant}"


@API.op(
    "GET",
    BASE,
    "samespaceTenant",
    "A Samespace cloud's settings, numbers and call ids",
    {200: Reply("the cloud", schema=VIEW), 404: CONTROL_ERRORS[404]},
    params=[TENANT_PATH],
)
@_cloud
async def tenant_view(emu: Emulator, request: Request, tenant: str) -> Response:
    """The cloud's settings, numbers and call ids."""
    async with st.store(emu).tenant(tenant) as tx:
        return JSONResponse(summary(tx.state))


@API.op(
    "PUT",
    f"{BASE}/settings",
    "samespacePutSettings",
    "A Samespace cloud's callback URL and http overrides",
    {200: Reply("the cloud", schema=VIEW), 400: CONTROL_ERRORS[400], 404: CONTROL_ERRORS[404]},
    params=[TENANT_PATH],
    body=Body(SettingsBody),
)
@_cloud
async def settings(emu: Emulator, request: Request, tenant: str) -> Response:
    """Body: SettingsBody (callback_url, http_overrides)."""
    body = SettingsBody.model_validate(await json_body(request))
    async with st.store(emu).tenant(tenant) as tx:
        if "callback_url" in body.model_fields_set:
            tx.state.callback_url = body.callback_url
        if body.http_overrides is not None:
            tx.state.http_overrides = dict(body.http_overrides)
            st.forget_unreachable(tx.state)
        return JSONResponse(summary(tx.state))


@API.op(
    "PUT",
    f"{BASE}/numbers/{{number}}",
    "samespacePutNumber",
    "How the phone at a number behaves on calls placed from now on",
    {200: Reply("the number's behaviour", CalleeBehaviour), 400: CONTROL_ERRORS[400], 404: CONTROL_ERRORS[404]},
    params=[TENANT_PATH, NUMBER],
    body=Body(CalleeBehaviour),
)
@_cloud
async def number(emu: Emulator, request: Request, tenant: str) -> Response:
    """Body: CalleeBehaviour."""
    data = await json_body(request)
    behaviour = CalleeBehaviour.model_validate(data)
    strictly(data, behaviour)
    await set_number(emu, tenant, request.path_params["number"], behaviour)
    return JSONResponse(behaviour.model_dump())


@API.op(
    "GET",
    f"{BASE}/calls",
    "samespaceCalls",
    "Every call of a Samespace cloud",
    {200: Reply("the calls", CallsOut), 404: CONTROL_ERRORS[404]},
    params=[TENANT_PATH],
)
@_cloud
async def calls(emu: Emulator, request: Request, tenant: str) -> Response:
    """Every call of the cloud."""
    async with st.store(emu).tenant(tenant) as tx:
        return JSONResponse({"calls": [brief(c) for c in tx.state.calls.values()]})


@API.op(
    "GET",
    f"{BASE}/calls/{{call_id}}",
    "samespaceCall",
    "One call's full metadata (as the API's, without auth)",
    {200: Reply("the call", CallInfo), 404: CONTROL_ERRORS[404]},
    params=[TENANT_PATH, CALL_ID],
)
@_cloud
async def call_view(emu: Emulator, request: Request, tenant: str) -> Response:
    """One call's metadata."""
    async with st.store(emu).tenant(tenant) as tx:
        return JSONResponse(call_info(tenant, st.get_call(tx.state, request.path_params["call_id"])))


@API.op(
    "POST",
    f"{BASE}/calls/{{call_id}}/answer",
    "samespaceAnswer",
    "The ringing callee answers now",
    {200: Reply("the call", CallBriefOut), **CONTROL_ERRORS},
    params=[TENANT_PATH, CALL_ID],
)
@_cloud
async def pick_up(emu: Emulator, request: Request, tenant: str) -> Response:
    """The ringing callee answers now, as a person at the phone would."""
    return JSONResponse(brief(await answer(emu, tenant, request.path_params["call_id"])))


@API.op(
    "POST",
    f"{BASE}/calls/{{call_id}}/digits",
    "samespaceDigits",
    "The callee keys in digits (or types ahead)",
    {200: Reply("the call", DigitsOut), **CONTROL_ERRORS},
    params=[TENANT_PATH, CALL_ID],
    body=Body(DigitsBody),
)
@_cloud
async def digits(emu: Emulator, request: Request, tenant: str) -> Response:
    """Body: {"digits": "1"}. Keys pressed on the callee's phone now; `typed_ahead` in the answer shows the
    keys kept for the next digits step."""
    body = DigitsBody.model_validate(await json_body(request))
    call = await press(emu, tenant, request.path_params["call_id"], body.digits)
    return JSONResponse({**brief(call), "typed_ahead": call.typed})


@API.op(
    "POST",
    f"{BASE}/calls/{{call_id}}/hangup",
    "samespaceHangUp",
    "The callee hangs up now",
    {200: Reply("the call", CallBriefOut), **CONTROL_ERRORS},
    params=[TENANT_PATH, CALL_ID],
)
@_cloud
async def hangup(emu: Emulator, request: Request, tenant: str) -> Response:
    """The callee hangs up now."""
    return JSONResponse(brief(await hang_up(emu, tenant, request.path_params["call_id"])))
