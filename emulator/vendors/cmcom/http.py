"""Tenancy and responses as CM does them (cmcom.md §3.1, §3.3).

- The send API carries its product token in the body (`producttoken` or `productToken`); the router control
  API in the `X-CM-PRODUCTTOKEN` header [inf]. A configured token maps to its tenant; in `open` auth any other
  token is a tenant of its own, in `strict` auth only configured or provisioned ones work: an unknown token
  is errorCode 101 "No account found for the given authentication", or 103 when it is not even a GUID.
- `render_error` renders every error under the vendor's paths in the envelope of the API it belongs to.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from emulator.core.errors import EmulatorError
from emulator.core.plugin import set_tenant
from emulator.core.runtime import Emulator
from emulator.vendors.cmcom import constants as c
from emulator.vendors.cmcom import errors
from emulator.vendors.cmcom.config import CmComConfig
from emulator.vendors.cmcom.numbers import guid_key, is_guid

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
        self.config: CmComConfig = emu.vendor_config(SLUG)
        self.tokens = {t: name for name, cfg in self.config.tenants.items() for t in cfg.product_tokens}

    def lookup(self, token: str | None) -> str | None:
        """The tenant of a product token, or None when it is unknown (strict auth)."""
        if not token or not token.strip():
            return None
        tenant = self.tokens.get(token)
        if tenant is None and (self.emu.settings.auth == "open" or self._provisioned(token)):
            tenant = token
        return tenant

    def send_tenant(self, request: Request, token: str | None) -> str:
        tenant = self.lookup(token)
        if tenant is None:
            if token and token.strip() and not is_guid(token.strip()):
                raise errors.SendError(c.Code.TOKEN_INCORRECT, c.TOKEN_INCORRECT.format(token=token))
            raise errors.no_account()
        set_tenant(request, tenant)
        return tenant

    def control_tenant(self, request: Request, account_id: str) -> str:
        """The tenant of a control request: its header token's (the state checks it owns the account)."""
        token = request.headers.get(c.PRODUCT_TOKEN_HEADER)
        if token is None and not self.config.control_requires_token:
            tenant = self.account_owner(account_id)
            if tenant is None:
                raise errors.not_found(c.UNKNOWN_ACCOUNT.format(account_id=account_id))
        else:
            tenant = self.lookup(token)
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

    def _provisioned(self, token: str) -> bool:
        state = self.emu.store.peek(SLUG, token)
        return bool(state is not None and getattr(state, "provisioned", False))
