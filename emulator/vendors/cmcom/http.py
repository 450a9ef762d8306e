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
- Open auth binds a tenant to the first BotRouterAccountId it presents (`Gate.claim`, `state.bind_account`).
- `json_object`, `read_chat_id`, `required_str` read router control bodies, refusing in problem details.
- `render_error` renders every error under the vendor's paths in the envelope of the API it belongs to.

`Gate` is also the context the handlers of `routes.py` are bound to: built once per emulator, it holds the
typed store view and the vendor's config.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from emulator.core.errors import EmulatorError
from emulator.core.plugin import set_tenant
from emulator.core.runtime import Emulator
from emulator.core.web import JsonResponse, json_bytes
from emulator.core.web import json_object as web_json_object
from emulator.vendors.cmcom import constants as c
from emulator.vendors.cmcom import errors
from emulator.vendors.cmcom import state as st
from emulator.vendors.cmcom.config import CmComConfig
from emulator.vendors.cmcom.constants import SLUG
from emulator.vendors.cmcom.numbers import guid_key, is_guid, product_token


def is_control(path: str) -> bool:
    """Whether a path is the router control API's, whose errors are problem+json (the others' are Business
    Messaging's `{"details", "errorCode", "messages"}`)."""
    return path.startswith("/conversational/control")


def render_error(exc: EmulatorError, request: Request) -> Response:
    if isinstance(exc, errors.RouterError):
        return JsonResponse(errors.problem_body(exc), status_code=exc.status_code, media_type=c.PROBLEM_JSON)
    if isinstance(exc, errors.SendError):
        return JsonResponse(errors.send_body(exc), status_code=exc.status_code)
    if is_control(request.url.path):
        title = c.NOT_FOUND_TITLE if exc.status_code == 404 else exc.message
        err = errors.RouterError(exc.status_code, title, type_=c.NOT_FOUND_TYPE, detail=exc.message)
        return JsonResponse(errors.problem_body(err), status_code=exc.status_code, media_type=c.PROBLEM_JSON)
    code = c.Code.INTERNAL_ERROR if exc.status_code >= 500 else c.Code.REQUEST_MALFORMED
    details = c.INTERNAL if exc.status_code >= 500 else exc.message
    body = {"details": details, "errorCode": int(code), "messages": []}
    return JsonResponse(body, status_code=exc.status_code)


class SendAnswer(JsonResponse):
    """`JsonResponse` for the send API's answer (`views.send_response`), byte for byte: its values are strings,
    integers and nulls only (no float, whose text orjson may write otherwise), so orjson's bytes are `json`'s, where
    `json_bytes` hands every answer to `json` for its `null`s (`reference` and `messageDetails` are null unless set).
    What orjson refuses (a lone surrogate) goes to `json_bytes` as before."""

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except TypeError:  # orjson.JSONEncodeError
            return json_bytes(content)


class Gate:
    """Resolves a request's tenant from its product token (see the module docstring)."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.store = st.store(emu)
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
        if self.store.exists(token):
            return token if self.open or self._provisioned(token) else None
        tenant = self.tokens.get(guid_key(token)) or self._derived(guid_key(token))
        if tenant is not None:
            return tenant if self.open or tenant in self.config.tenants or self._provisioned(tenant) else None
        return token if self.open else None

    def send_tenant(self, request: Request, token: str | None) -> str:
        key = token.strip() if token else ""
        if not key:
            raise errors.no_account()
        if not is_guid(key):
            raise errors.SendError(c.Code.TOKEN_INCORRECT, c.TOKEN_INCORRECT.format(token=token))
        tenant = self.lookup(key)
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
            state = self.store.peek(tenant)
            if state is not None and guid_key(state.account_id) == guid_key(account_id):
                return tenant
        return None

    def claim(self, state: st.CmComState, account_id: str) -> None:
        """Open auth: a tenant's first account id becomes its own, unless another tenant owns that account."""
        if self.open and not state.account_bound and self.account_owner(account_id) is None:
            st.bind_account(state, account_id)

    def _derived(self, key: str) -> str | None:
        """The tenant whose name derives `key` (looked for among the tenants once, then remembered)."""
        tenant = self.derived.get(key)
        if tenant is None:
            tenant = next((t for t in self.emu.store.known(SLUG) if product_token(t) == key), None)
            if tenant is not None:
                self.derived[key] = tenant
        return tenant

    def _provisioned(self, tenant: str) -> bool:
        """Configured, provisioned (`POST /_emulator/tenants`) or set up by a scenario: strict auth takes it."""
        return tenant in self.config.tenants or self.store.provisioned(tenant)


def identify(emu: Emulator, request: Request) -> str | None:
    """The tenant whose `X-CM-PRODUCTTOKEN` a control-plane request carries (`core.guard`), as the router
    control API finds it, if that tenant exists or is configured (never created here)."""
    token = (request.headers.get(c.PRODUCT_TOKEN_HEADER) or "").strip()
    tenant = Gate(emu).lookup(token) if is_guid(token) else None
    return tenant if tenant is not None and emu.knows(SLUG, tenant) else None


async def json_object(request: Request) -> dict[str, Any]:
    """A router control body: a JSON object, or a 400 naming `body`."""
    try:
        return await web_json_object(request)
    except ValueError:
        raise errors.invalid("body", c.BODY_NOT_JSON) from None


def read_chat_id(value: Any, field: str = "ChatId") -> str:
    """A ChatId (from a body or the query): present and a GUID."""
    if value is None or value == "":
        raise errors.invalid(field, c.REQUIRED.format(field=field))
    if not isinstance(value, str) or not is_guid(value):
        raise errors.invalid(field, c.NOT_A_GUID.format(value=value))
    return value


def required_str(data: dict[str, Any], field: str) -> str:
    value = data.get(field)
    if not isinstance(value, str) or not value:
        raise errors.invalid(field, c.REQUIRED.format(field=field))
    return value
