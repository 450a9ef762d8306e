"""The control plane's routes to act by hand on Samespace calls and steer the simulated phones (`hands.py` does
the acting, `views.py` builds the bodies): `/_emulator/vendors/samespace/...`.

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

from pydantic import BaseModel, ConfigDict, StringConstraints
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from emulator.core.api import Endpoint
from emulator.core.errors import EmulatorError
from emulator.core.ids import fmt_hex
from emulator.core.runtime import Emulator
from emulator.core.store import Tx
from emulator.core.web import error, guarded, json_body
from emulator.vendors.samespace import errors, views
from emulator.vendors.samespace import state as st
from emulator.vendors.samespace.config import CalleeBehaviour, HttpUrl
from emulator.vendors.samespace.constants import SLUG
from emulator.vendors.samespace.hands import answer, hang_up, press, set_number
from emulator.vendors.samespace.views import brief, call_info, summary

CloudHandler = Callable[[Request, str], Awaitable[Response]]


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


def control_routes(emu: Emulator) -> list[BaseRoute]:
    store = st.store(emu)

    def cloud(fn: CloudHandler) -> Endpoint:
        """A handler of the path's cloud: 404 `unknown_tenant` for a cloud with neither state nor config, bad
        input a 400 (`guarded`), an action the call does not allow `rejected`."""

        @guarded
        async def endpoint(request: Request) -> Response:
            tenant = request.path_params["tenant"]
            if not emu.knows(SLUG, tenant):
                return error(404, "unknown_tenant", f"no Samespace cloud {tenant!r}")
            try:
                return await fn(request, tenant)
            except EmulatorError as exc:
                return rejected(exc)

        endpoint.__name__ = fn.__name__
        endpoint.__doc__ = fn.__doc__
        return endpoint

    @cloud
    async def tenant_view(request: Request, tenant: str) -> Response:
        """The cloud's settings, numbers and call ids."""
        async with store.tenant(tenant) as tx:
            return JSONResponse(summary(tx.state))

    @cloud
    async def settings(request: Request, tenant: str) -> Response:
        """Body: SettingsBody (callback_url, http_overrides)."""
        body = SettingsBody.model_validate(await json_body(request))
        async with store.tenant(tenant) as tx:
            if "callback_url" in body.model_fields_set:
                tx.state.callback_url = body.callback_url
            if body.http_overrides is not None:
                tx.state.http_overrides = dict(body.http_overrides)
                st.forget_unreachable(tx.state)
            return JSONResponse(summary(tx.state))

    @cloud
    async def number(request: Request, tenant: str) -> Response:
        """Body: CalleeBehaviour."""
        behaviour = CalleeBehaviour.model_validate(await json_body(request))
        await set_number(emu, tenant, request.path_params["number"], behaviour)
        return JSONResponse(behaviour.model_dump())

    @cloud
    async def calls(request: Request, tenant: str) -> Response:
        """Every call of the cloud."""
        async with store.tenant(tenant) as tx:
            return JSONResponse({"calls": [brief(c) for c in tx.state.calls.values()]})

    @cloud
    async def call_view(request: Request, tenant: str) -> Response:
        """One call's metadata."""
        async with store.tenant(tenant) as tx:
            return JSONResponse(call_info(tenant, st.get_call(tx.state, request.path_params["call_id"])))

    @cloud
    async def pick_up(request: Request, tenant: str) -> Response:
        """The ringing callee answers now, as a person at the phone would."""
        return JSONResponse(brief(await answer(emu, tenant, request.path_params["call_id"])))

    @cloud
    async def digits(request: Request, tenant: str) -> Response:
        """Body: {"digits": "1"}. Keys pressed on the callee's phone now; `typed_ahead` in the answer shows the
        keys kept for the next digits step."""
        body = DigitsBody.model_validate(await json_body(request))
        call = await press(emu, tenant, request.path_params["call_id"], body.digits)
        return JSONResponse({**brief(call), "typed_ahead": call.typed})

    @cloud
    async def hangup(request: Request, tenant: str) -> Response:
        """The callee hangs up now."""
        return JSONResponse(brief(await hang_up(emu, tenant, request.path_params["call_id"])))

    base = "/tenants/{tenant}"
    return [
        Route(base, tenant_view, methods=["GET"]),
        Route(f"{base}/settings", settings, methods=["PUT"]),
        Route(f"{base}/numbers/{{number}}", number, methods=["PUT"]),
        Route(f"{base}/calls", calls, methods=["GET"]),
        Route(f"{base}/calls/{{call_id}}", call_view, methods=["GET"]),
        Route(f"{base}/calls/{{call_id}}/answer", pick_up, methods=["POST"]),
        Route(f"{base}/calls/{{call_id}}/digits", digits, methods=["POST"]),
        Route(f"{base}/calls/{{call_id}}/hangup", hangup, methods=["POST"]),
    ]
