"""The control plane's routes to act by hand on Samespace calls and steer the simulated phones (`hands.py` does
the acting, `views.py` builds the bodies): `/_emulator/vendors/samespace/...`.

| method and path | what it does |
|---|---|
| `GET /tenants/{cloud_id}` | the cloud: token, behaviour, callback URL, overrides, numbers, call ids, unreachable |
| `PUT /tenants/{cloud_id}/behaviour` | change fields of `FlowBehaviour` (timings, limits); others stay [1] |
| `PUT /tenants/{cloud_id}/settings` | `{callback_url?, http_overrides?}` [1] |
| `PUT /tenants/{cloud_id}/numbers/{number}` | a number's `CalleeBehaviour` (answer, rings, dtmf, hangup_after...) |
| `GET /tenants/{cloud_id}/calls` | every call, newest last: id, number, status, current step |
| `GET /tenants/{cloud_id}/calls/{call_id}` | one call's full metadata (as the API's, without auth) |
| `POST /tenants/{cloud_id}/calls/{call_id}/digits` | `{"digits": "12#"}`: the callee keys in (or types ahead) |
| `POST /tenants/{cloud_id}/calls/{call_id}/hangup` | the callee hangs up |

[1] Also forgets the http targets failing fast (`unreachable` in the cloud's view; `http_fail_fast`).

Settings and numbers apply to calls placed from then on (a live call keeps its callee's script). An action
the call's state does not allow answers `{"error": "rejected", "message", "detail"}` (409 `not_answered`,
`not_collecting` when type-ahead is off, `call_ended`; 404 with the API's envelope for an unknown call).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from emulator.core.errors import EmulatorError
from emulator.core.runtime import Emulator
from emulator.core.web import error, guarded, json_body
from emulator.vendors.samespace import errors
from emulator.vendors.samespace import state as st
from emulator.vendors.samespace.config import CalleeBehaviour, FlowBehaviour, HttpUrl
from emulator.vendors.samespace.constants import SLUG
from emulator.vendors.samespace.hands import hang_up, press, set_number
from emulator.vendors.samespace.views import brief, call_info, summary


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


def control_routes(emu: Emulator) -> list[BaseRoute]:
    store = emu.store
    configured = set(emu.vendor_config(SLUG).tenants)

    def missing(tenant: str) -> Response | None:
        if not store.exists(SLUG, tenant) and tenant not in configured:
            return error(404, "unknown_tenant", f"no Samespace cloud {tenant!r}")
        return None

    @guarded
    async def tenant_view(request: Request) -> Response:
        """The cloud's settings, numbers and call ids."""
        tenant = request.path_params["tenant"]
        if (gone := missing(tenant)) is not None:
            return gone
        async with store.tenant(SLUG, tenant) as tx:
            return JSONResponse(summary(tx.state))

    @guarded
    async def behaviour(request: Request) -> Response:
        """Body: any fields of FlowBehaviour."""
        tenant = request.path_params["tenant"]
        if (gone := missing(tenant)) is not None:
            return gone
        changes = await json_body(request)
        if not isinstance(changes, dict):
            raise ValueError("the body must be a JSON object")
        async with store.tenant(SLUG, tenant) as tx:
            merged = FlowBehaviour.model_validate({**tx.state.behaviour.model_dump(), **changes})
            tx.state.behaviour = merged
            tx.state.unreachable.clear()  # new timings: every http target gets a fresh try
        return JSONResponse(merged.model_dump())

    @guarded
    async def settings(request: Request) -> Response:
        """Body: SettingsBody (callback_url, http_overrides)."""
        tenant = request.path_params["tenant"]
        if (gone := missing(tenant)) is not None:
            return gone
        body = SettingsBody.model_validate(await json_body(request))
        async with store.tenant(SLUG, tenant) as tx:
            if "callback_url" in body.model_fields_set:
                tx.state.callback_url = body.callback_url
            if body.http_overrides is not None:
                tx.state.http_overrides = dict(body.http_overrides)
                tx.state.unreachable.clear()  # new targets: every http target gets a fresh try
            return JSONResponse(summary(tx.state))

    @guarded
    async def number(request: Request) -> Response:
        """Body: CalleeBehaviour."""
        tenant = request.path_params["tenant"]
        if (gone := missing(tenant)) is not None:
            return gone
        behaviour = CalleeBehaviour.model_validate(await json_body(request))
        await set_number(emu, tenant, request.path_params["number"], behaviour)
        return JSONResponse(behaviour.model_dump())

    async def calls(request: Request) -> Response:
        """Every call of the cloud."""
        tenant = request.path_params["tenant"]
        if (gone := missing(tenant)) is not None:
            return gone
        async with store.tenant(SLUG, tenant) as tx:
            return JSONResponse({"calls": [brief(c) for c in tx.state.calls.values()]})

    async def call_view(request: Request) -> Response:
        """One call's metadata."""
        tenant = request.path_params["tenant"]
        if (gone := missing(tenant)) is not None:
            return gone
        try:
            async with store.tenant(SLUG, tenant) as tx:
                call = st.get_call(tx.state, request.path_params["call_id"])
                return JSONResponse(call_info(tenant, call))
        except EmulatorError as exc:
            return rejected(exc)

    @guarded
    async def digits(request: Request) -> Response:
        """Body: {"digits": "1"}. Keys pressed on the callee's phone now; `typed_ahead` in the answer shows the
        keys kept for the next digits step."""
        tenant = request.path_params["tenant"]
        if (gone := missing(tenant)) is not None:
            return gone
        body = DigitsBody.model_validate(await json_body(request))
        try:
            call = await press(emu, tenant, request.path_params["call_id"], body.digits)
        except EmulatorError as exc:
            return rejected(exc)
        return JSONResponse({**brief(call), "typed_ahead": call.typed})

    async def hangup(request: Request) -> Response:
        """The callee hangs up now."""
        tenant = request.path_params["tenant"]
        if (gone := missing(tenant)) is not None:
            return gone
        try:
            call = await hang_up(emu, tenant, request.path_params["call_id"])
        except EmulatorError as exc:
            return rejected(exc)
        return JSONResponse(brief(call))

    base = "/tenants/{tenant}"
    return [
        Route(base, tenant_view, methods=["GET"]),
        Route(f"{base}/behaviour", behaviour, methods=["PUT"]),
        Route(f"{base}/settings", settings, methods=["PUT"]),
        Route(f"{base}/numbers/{{number}}", number, methods=["PUT"]),
        Route(f"{base}/calls", calls, methods=["GET"]),
        Route(f"{base}/calls/{{call_id}}", call_view, methods=["GET"]),
        Route(f"{base}/calls/{{call_id}}/digits", digits, methods=["POST"]),
        Route(f"{base}/calls/{{call_id}}/hangup", hangup, methods=["POST"]),
    ]
