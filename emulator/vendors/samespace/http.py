"""Request parsing and tenancy as the Call Flow API does them (samespace.md §4.1).

Auth is in the JSON body (`cloud_id` + `auth_token`; the metadata endpoint takes them as query parameters
[inf]). The cloud id is the tenant. A configured cloud checks its configured token; in `open` auth an
unknown cloud is created on first use and keeps the token it was first called with; in `strict` auth only
configured (or provisioned) clouds work. Anything else is `401 {"success": false, "message": "Invalid auth
token"}`. `new_state` builds a cloud from the config; `provision` makes one for `POST /_emulator/tenants`.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from emulator.core.ids import TenantIds, fmt_hex
from emulator.core.plugin import set_tenant
from emulator.core.runtime import Emulator
from emulator.vendors.samespace import errors
from emulator.vendors.samespace.config import SamespaceConfig
from emulator.vendors.samespace.constants import SLUG
from emulator.vendors.samespace.state import SamespaceState
from emulator.vendors.samespace.views import credentials

render_error = errors.render_error


def ok(body: dict[str, Any], status: int = 200) -> Response:
    return JSONResponse(body, status_code=status)


async def read_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: arrays or objects nested thousands deep
        raise errors.bad_request(errors.INVALID_JSON) from None
    if not isinstance(data, dict):
        raise errors.bad_request(errors.INVALID_JSON)
    return data


class Gate:
    """Resolves and checks a request's cloud (see the module docstring)."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.config: SamespaceConfig = emu.vendor_config(SLUG)

    async def tenant(self, request: Request, cloud_id: Any, auth_token: Any) -> str:
        if not isinstance(cloud_id, str) or not cloud_id or not isinstance(auth_token, str) or not auth_token:
            raise errors.unauthorized()
        configured = cloud_id in self.config.tenants
        state = self.emu.store.peek(SLUG, cloud_id)
        provisioned = isinstance(state, SamespaceState) and state.provisioned
        if not configured and not provisioned and self.emu.settings.auth != "open":
            raise errors.unauthorized()
        async with self.emu.store.tenant(SLUG, cloud_id) as tx:
            s: SamespaceState = tx.state
            if s.auth_token is None:
                s.auth_token = auth_token  # open auth: the first token a new cloud is called with is its own
            if s.auth_token != auth_token:
                raise errors.unauthorized()
        set_tenant(request, cloud_id)
        return cloud_id


def new_state(emu: Emulator, tenant: str, ids: TenantIds) -> BaseModel:
    """A cloud as the config describes it (global settings, then the cloud's own)."""
    cfg: SamespaceConfig = emu.vendor_config(SLUG)
    own = cfg.tenants.get(tenant)
    return SamespaceState(
        tenant=tenant,
        auth_token=own.auth_token if own else None,
        provisioned=own is not None,
        callback_url=(own.callback_url if own and own.callback_url else cfg.callback_url),
        http_overrides=dict(own.http_overrides if own and own.http_overrides is not None else cfg.http_overrides),
        behaviour=(own.behaviour if own and own.behaviour else cfg.behaviour).model_copy(),
        default_callee=cfg.default_callee.model_copy(),
        numbers={**cfg.numbers, **(own.numbers if own else {})},
    )


async def provision(emu: Emulator, tenant: str) -> dict[str, Any]:
    """The cloud for `POST /_emulator/tenants`: provisioned (strict auth takes it), with a seeded token."""
    async with emu.store.tenant(SLUG, tenant) as tx:
        s: SamespaceState = tx.state
        s.provisioned = True
        if s.auth_token is None:
            s.auth_token = tx.ids.new("auth_token", fmt_hex(32))
        return credentials(s)
