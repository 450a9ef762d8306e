"""Tenancy and responses as CM does them (cmcom.md §3.1, §3.3).

- The send API carries its product token in the body (`producttoken` or `productToken`); the router control
  API in the `X-CM-PRODUCTTOKEN` header [inf]. CM's product tokens are GUIDs: one that is not is refused as
  CM refuses it, even in `open` auth (send API: errorCode 103 "product token incorrect", cmcom.md §3.1
  TextClientStatusCodes; control API: 401, as its authentication refuses a token it cannot read [inf]).
- A configured token maps to its tenant; a tenant with none configured (or provisioned by name) has the token
  `numbers.product_token` derives from its name. In `open` auth any other GUID is a tenant of its own; in
  `strict` auth only configured or provisioned ones work: an unknown token is errorCode 101 "No account found
  for the given authentication".
- Router control calls without the header (as the seed prints them) are taken in `open` auth for an account
  that exists, and refused with 401 in `strict` auth (`control_requires_token` overrides both).
- `render_error` renders every error under the vendor's paths in the envelope of the API it belongs to.
- `new_state` builds a tenant from the config; `provision` makes one for `POST /_emulator/tenants`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from emulator.core.errors import EmulatorError
from emulator.core.ids import TenantIds
from emulator.core.plugin import set_tenant
from emulator.core.runtime import Emulator
from emulator.core.sink import default_target
from emulator.vendors.cmcom import constants as c
from emulator.vendors.cmcom import errors, state
from emulator.vendors.cmcom.config import CmComConfig
from emulator.vendors.cmcom.numbers import guid_key, is_guid, product_token
from emulator.vendors.cmcom.views import credentials

SLUG = c.SLUG


def _is_control(request: Request) -> bool:
    return request.url.path.startswith("/conversational/control")


def render_error(exc: EmulatorError, request: Request) -> Response:
    if isinstance(exc, errors.RouterError):
        return JSONResponse(errors.problem_body(exc), status_code=exc.status_code, media_type=c.PROBLEM_JSON)
    if isinstance(exc, errors.SendError):
        return JSONResponse(errors.send_body(exc), status_code=exc.status_code)
    if _is_control(request):
        title = c.NOT_FOUND_TITLE if exc.status_code == 404 else exc.message
        err = errors.RouterError(exc.status_code, title, type_=c.NOT_FOUND_TYPE, detail=exc.message)
        return JSONResponse(errors.problem_body(err), status_code=exc.status_code, media_type=c.PROBLEM_JSON)
    code = c.Code.INTERNAL_ERROR if exc.status_code >= 500 else c.Code.REQUEST_MALFORMED
    details = c.INTERNAL if exc.status_code >= 500 else exc.message
    body = {"details": details, "errorCode": int(code), "messages": []}
    return JSONResponse(body, status_code=exc.status_code)


class Gate:
    """Resolves a request's tenant from its product token (see the module docstring)."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.open = emu.settings.auth == "open"
        self.config: CmComConfig = emu.vendor_config(SLUG)
        self.tokens: dict[str, str] = {t: name for name, cfg in self.config.tenants.items() for t in cfg.product_tokens}
        self.tokens.update(
            (guid_key(product_token(name)), name) for name, cfg in self.config.tenants.items() if not cfg.product_tokens
        )
        self.derived: dict[str, str] = {}
        """Tokens derived from the names of tenants made by the control plane or a scenario, once seen."""

    def lookup(self, token: str) -> str | None:
        """The tenant of a GUID-shaped product token, or None when it is unknown (strict auth)."""
        tenant = self.tokens.get(token)
        if tenant is not None:
            return tenant
        if self.emu.store.exists(SLUG, token):
            return token if self.open or self._provisioned(token) else None
        tenant = self.tokens.get(guid_key(token)) or self._derived(guid_key(token))
        if tenant is not None:
            return tenant if self.open or tenant in self.config.tenants or self._provisioned(tenant) else None
        return token if self.open else None

    def send_tenant(self, request: Request, token: str | None) -> str:
        if not token or not token.strip():
            raise errors.no_account()
        if not is_guid(token.strip()):
            raise errors.SendError(c.Code.TOKEN_INCORRECT, c.TOKEN_INCORRECT.format(token=token))
        tenant = self.lookup(token.strip())
        if tenant is None:
            raise errors.no_account()
        set_tenant(request, tenant)
        return tenant

    def control_tenant(self, request: Request, account_id: str) -> str:
        """The tenant of a control request: its header token's (the state checks it owns the account), or
        without the header the account's owner when that is allowed (see the module docstring)."""
        token = request.headers.get(c.PRODUCT_TOKEN_HEADER)
        required = self.config.control_requires_token
        if token is None and not (required if required is not None else not self.open):
            tenant = self.account_owner(account_id)
            if tenant is None:
                raise errors.not_found(c.UNKNOWN_ACCOUNT.format(account_id=account_id))
        elif token is None or not is_guid(token.strip()):
            raise errors.unauthorized()
        else:
            tenant = self.lookup(token.strip())
            if tenant is None:
                raise errors.unauthorized()
        set_tenant(request, tenant)
        return tenant

    def account_owner(self, account_id: str) -> str | None:
        """The tenant whose Bot Router account this is (configured, or seen since start)."""
        for name, cfg in self.config.tenants.items():
            if guid_key(cfg.bot_router_account_id or "") == guid_key(account_id):
                return name
        for _vendor, tenant in self.emu.store.tenants(SLUG):
            state = self.emu.store.peek(SLUG, tenant)
            if guid_key(str(getattr(state, "account_id", ""))) == guid_key(account_id):
                return tenant
        return None

    def _derived(self, key: str) -> str | None:
        """The tenant whose name derives `key` (looked for among the tenants once, then remembered)."""
        tenant = self.derived.get(key)
        if tenant is None:
            tenant = next((t for _, t in self.emu.store.tenants(SLUG) if product_token(t) == key), None)
            if tenant is not None:
                self.derived[key] = tenant
        return tenant

    def _provisioned(self, tenant: str) -> bool:
        state = self.emu.store.peek(SLUG, tenant)
        return bool(state is not None and getattr(state, "provisioned", False))


def new_state(emu: Emulator, tenant: str, ids: TenantIds) -> BaseModel:
    """A tenant as the config describes it (an unconfigured one gets the defaults and seeded ids)."""
    cfg: CmComConfig = emu.vendor_config(SLUG)
    fresh = state.new_state(tenant, ids, cfg, cfg.tenants.get(tenant), default_target(emu, SLUG, tenant))
    fresh.provisioned = tenant in cfg.tenants
    return fresh


async def provision(emu: Emulator, tenant: str) -> dict[str, Any]:
    """The account for `POST /_emulator/tenants`: provisioned (strict auth takes it), with its product token."""
    cfg: CmComConfig = emu.vendor_config(SLUG)
    configured = cfg.tenants.get(tenant)
    token = configured.product_tokens[0] if configured and configured.product_tokens else product_token(tenant)
    async with emu.store.tenant(SLUG, tenant) as tx:
        tx.state.provisioned = True
        return credentials(tx.state, token)
