"""Request parsing and tenancy as the Call Flow API does them (samespace.md §4.1).

Auth is in the JSON body (`cloud_id` + `auth_token`; the metadata endpoint takes them as query parameters
[inf]). The cloud id is the tenant. A configured cloud checks its configured token; in `open` auth an
unknown cloud is created on first use and keeps the token it was first called with; in `strict` auth only
configured or provisioned (`POST /_emulator/tenants`, a scenario's `setup`) clouds work. Anything else is
`401 {"success": false, "message": "Invalid auth token"}`. A body that is not a JSON object is
`400 {"success": false, "message": "Invalid JSON payload"}`.
"""

from __future__ import annotations

import hmac
from typing import Any

from starlette.requests import Request

from emulator.core.plugin import set_tenant
from emulator.core.runtime import Emulator
from emulator.core.web import parse_json, read_body
from emulator.vendors.samespace import errors
from emulator.vendors.samespace.config import SamespaceConfig
from emulator.vendors.samespace.constants import SLUG
from emulator.vendors.samespace.state import SamespaceState, store

render_error = errors.render_error


async def read_object(request: Request) -> dict[str, Any]:
    try:
        data = parse_json(await read_body(request))
    except ValueError:
        raise errors.bad_request(errors.INVALID_JSON) from None
    if not isinstance(data, dict):
        raise errors.bad_request(errors.INVALID_JSON)
    return data


CREDENTIAL_PARAMS = ("cloud_id", "auth_token")
"""How a control-plane request carries a cloud's credential: as the metadata endpoint takes it (`core.guard`)."""


def identify(emu: Emulator, request: Request) -> str | None:
    """The cloud whose `cloud_id` and `auth_token` a control-plane request's query carries, if that cloud
    exists or is configured and the token is its own (never created here)."""
    cloud, token = (request.query_params.get(k) for k in CREDENTIAL_PARAMS)
    if not cloud or not token:
        return None
    state = store(emu).peek(cloud)
    configured = emu.vendor_config(SLUG).tenants.get(cloud)
    expected = state.auth_token if state is not None else configured.auth_token if configured else None
    return cloud if expected is not None and hmac.compare_digest(expected.encode(), token.encode()) else None


class Gate:
    """Resolves and checks a request's cloud (see the module docstring); the context of the API's handlers."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.store = store(emu)
        config: SamespaceConfig = emu.vendor_config(SLUG)
        self.configured = config.tenants

    def _admitted(self, cloud_id: Any, auth_token: Any) -> str:
        """The cloud, when both credentials are non-empty text and the auth mode takes the cloud; else 401."""
        if not isinstance(cloud_id, str) or not cloud_id or not isinstance(auth_token, str) or not auth_token:
            raise errors.unauthorized()
        if (
            cloud_id not in self.configured
            and self.emu.settings.auth != "open"
            and not self.store.provisioned(cloud_id)
        ):
            raise errors.unauthorized()
        return cloud_id

    async def tenant(self, request: Request, cloud_id: Any, auth_token: Any) -> str:
        cloud = self._admitted(cloud_id, auth_token)
        async with self.store.tenant(cloud) as tx:
            if tx.state.auth_token is None:
                tx.state.auth_token = auth_token  # open auth: the first token a new cloud is called with is its own
            if tx.state.auth_token != auth_token:
                raise errors.unauthorized()
        set_tenant(request, cloud)
        return cloud

    def read(self, request: Request, cloud_id: Any, auth_token: Any) -> SamespaceState:
        """`tenant` for a read-only request: the cloud's state, or for an unknown cloud that `open` auth would
        take, the state a new cloud gets, kept nowhere (reads never create tenants, issue 18 §2)."""
        cloud = self._admitted(cloud_id, auth_token)
        state = self.store.view(cloud)
        if state.auth_token is not None and not hmac.compare_digest(state.auth_token.encode(), auth_token.encode()):
            raise errors.unauthorized()
        set_tenant(request, cloud)
        return state
