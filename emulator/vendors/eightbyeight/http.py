"""Request parsing, tenancy and responses as 8x8 does them (eightbyeight.md §1.2, §1.8).

- `x-api-key` selects the tenant: a configured key maps to its tenant; in `open` auth any other key is a
  tenant of its own (created with a default world on first use); in `strict` auth only configured or
  provisioned keys work. A missing or refused key is a 401 in 8x8's body.
- `X-8x8-Tenant`, when sent, must equal the tenant's 8x8 tenant id, else 403.
- Success bodies are `application/hal+json`, errors `application/problem+json`.
- A body that is not JSON, not `application/json`, or fails validation gets the endpoint's own 400 shape.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from emulator.core.errors import EmulatorError
from emulator.core.plugin import set_tenant
from emulator.core.runtime import Emulator
from emulator.core.store import Tx, VendorStore
from emulator.core.web import JsonResponse, header, parse_json, read_body
from emulator.vendors.eightbyeight import errors
from emulator.vendors.eightbyeight.companion import CompanionError, fallback
from emulator.vendors.eightbyeight.config import EightByEightConfig
from emulator.vendors.eightbyeight.constants import API_KEY_HEADER, HAL_JSON, PROBLEM_JSON, SLUG, TENANT_HEADER
from emulator.vendors.eightbyeight.models import STRICT_USER_FIELDS, WireModel
from emulator.vendors.eightbyeight.state import EightByEightState

M = TypeVar("M", bound=BaseModel)
API_KEY, TENANT = API_KEY_HEADER.lower().encode(), TENANT_HEADER.lower().encode()
"""The two headers every request is asked for, as `core.web.header` looks them up."""


def hal(body: WireModel | Mapping[str, Any] | None = None, status: int = 200) -> Response:
    if body is None:
        return Response(status_code=status)
    content = body.wire() if isinstance(body, WireModel) else body
    return JsonResponse(content, status_code=status, media_type=HAL_JSON)


def problem(err: errors.EightByEightError) -> Response:
    return JsonResponse(errors.problem_body(err), status_code=err.status_code, media_type=PROBLEM_JSON)


def render_error(exc: EmulatorError, request: Request) -> Response:
    """Every error of the vendor's paths in 8x8's problem+json shapes; the companion APIs' in their own."""
    if isinstance(exc, errors.EightByEightError):
        return problem(exc)
    if isinstance(exc, CompanionError):
        return exc.render(request)
    own = fallback(exc, request)
    if own is not None:
        return own
    if exc.status_code == 404:
        err: errors.EightByEightError = errors.not_found("Resource", request.url.path, style="newer")
    elif exc.status_code >= 500:
        err = errors.internal_error()
    else:
        err = errors.general_error(exc.code, exc.message, status_code=exc.status_code, summary=exc.message)
    return problem(err)


class Gate:
    """Resolves a request's tenant from its API key (see the module docstring)."""

    def __init__(self, emu: Emulator, store: VendorStore[EightByEightState]) -> None:
        self.emu = emu
        self.store = store
        self.config: EightByEightConfig = emu.vendor_config(SLUG)
        self.keys = {key: name for name, t in self.config.tenants.items() for key in t.api_keys}
        self.open = emu.settings.auth == "open"
        """Open auth, read once (as CM.com's gate does): a read on the settings model costs pydantic's hook."""

    def lookup(self, key: str | None) -> str | None:
        """The tenant of an API key: a configured key's tenant; any other key is its own tenant in `open` auth,
        and in `strict` auth when provisioned (`POST /_emulator/tenants`) or set up by a scenario."""
        if not key or not key.strip():
            return None
        tenant = self.keys.get(key)
        if tenant is None and (self.open or self.store.provisioned(key)):
            tenant = key
        return tenant


async def read_json(
    request: Request,
    model: type[M],
    *,
    style: errors.ValidationStyle = "general",
    conversation_id: str = "",
    tenant: str = "",
    optional: bool = False,
    context: dict[str, Any] | None = None,
) -> M:
    """Parse and validate a JSON body into `model`, failing with the endpoint's 400 envelope."""
    raw = await read_body(request)
    if optional and not raw.strip():
        return model()
    media = (header(request, b"content-type") or "").split(";", 1)[0].strip().lower()
    if raw and media and media != "application/json" and not media.endswith("+json"):
        raise errors.unsupported_media_type(media)
    try:
        data = parse_json(raw)
    except ValueError:
        raise errors.malformed_json(style=style, conversation_id=conversation_id, tenant=tenant) from None
    if not isinstance(data, dict):
        raise errors.malformed_json(style=style, conversation_id=conversation_id, tenant=tenant)
    try:  # `model.model_validate`, without its frame and keywords (the validator it calls, called itself)
        validate = _VALIDATE.get(model) or _validate_of(model)
        return validate(data) if context is None else validate(data, context=context)  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise errors.from_validation_error(exc, style=style, conversation_id=conversation_id, tenant=tenant) from None


_VALIDATE: dict[type[BaseModel], Any] = {}
"""Each body model's `validate_python`: reading `model.__pydantic_validator__` goes through pydantic's metaclass
`__getattr__` hook on every request (about 1,000 instructions), a dict keyed by the class does not."""


def _validate_of(model: type[BaseModel]) -> Any:
    validate = _VALIDATE[model] = model.__pydantic_validator__.validate_python
    return validate


class Ctx:
    """What every handler of `routes.py` is bound to: the tenant gate, the typed store and the request plumbing
    (key and tenant header first, then the body in the endpoint's 400 shape, then the unit of work)."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.store = emu.store.of(SLUG, EightByEightState)
        self.gate = Gate(emu, self.store)
        self.echo = self.gate.config.echo_messages
        # user.email / user.language checked as the OAS declares them, unless switched off [inf]
        self.user_rules = {STRICT_USER_FIELDS: self.gate.config.strict_user_fields}

    def authenticate(self, request: Request) -> str:
        """The tenant of the key, `X-8x8-Tenant` checked before any body is read (as 8x8 does)."""
        return self.credentials(request)[0]

    def credentials(self, request: Request) -> tuple[str, str | None]:
        """`authenticate`, with the `X-8x8-Tenant` value sent (None when none was), checked against a tenant that
        exists (every write request asks for both, and for the header again once its unit of work is open)."""
        tenant, wanted = self.caller(request)
        known = self.store.peek(tenant)  # also in a fleet: the first store access routes a tenant owned elsewhere
        if known is not None and wanted is not None and wanted != known.tenant_id:
            raise errors.tenant_mismatch(known.customer_id)
        return tenant, wanted

    def caller(self, request: Request) -> tuple[str, str | None]:
        """The tenant of the request's key (401 without one; set on the request) and the `X-8x8-Tenant` value
        sent (None when none was), found in one pass over the headers."""
        key = wanted = None
        for name, value in request.scope["headers"]:
            if name == API_KEY:
                if key is None:
                    key = value.decode("latin-1")
            elif name == TENANT and wanted is None:
                wanted = value.decode("latin-1")
        tenant = self.gate.lookup(key)
        if tenant is None:
            raise errors.unauthorized()
        set_tenant(request, tenant)
        return tenant, wanted

    def unit(self, request: Request, tenant: str | None = None) -> Unit:
        """The tenant's unit of work for a request that changes state (authenticated unless `tenant` is given)."""
        return Unit(self, request, tenant)

    def session(
        self,
        request: Request,
        model: type[M],
        *,
        newer: bool = False,
        style: errors.ValidationStyle = "general",
        optional: bool = False,
        context: dict[str, Any] | None = None,
    ) -> Session[M]:
        """The body (in the endpoint's 400 shape; `newer` endpoints name the conversation and tenant), then the
        unit of work: `async with ctx.session(request, Model) as (tx, body)`."""
        return Session(self, request, model, newer, style, optional, context)

    def body(self, request: Request, tenant: str, session: Session[M]) -> Awaitable[M]:
        """The body in the endpoint's 400 shape (`read_json`'s awaitable itself: no coroutine of this layer's)."""
        if session.newer:
            return read_json(
                request, session.model, style="newer", conversation_id=cid(request),
                tenant=self.tenant_id_of(tenant), optional=session.optional,
            )  # fmt: skip
        return read_json(
            request, session.model, style=session.style, optional=session.optional, context=session.context
        )

    def tenant_id_of(self, tenant: str) -> str:
        """The 8x8 tenant id (as in `X-8x8-Tenant` and 400 texts) of a store tenant, before its tx is open."""
        state = self.store.peek(tenant)
        if state is not None:
            return state.tenant_id
        cfg = self.gate.config.tenants.get(tenant)
        return cfg.tenant_id if cfg is not None and cfg.tenant_id else tenant

    async def read(self, request: Request) -> EightByEightState:
        """The tenant's state for a read-only request: no unit of work (nothing changes, nothing is awaited
        while it is read). A key not seen before reads the world a new tenant would get, kept nowhere: reads
        never create tenants (issue 18 §2)."""
        return self.view(request)

    def view(self, request: Request) -> EightByEightState:
        """`read` without a coroutine (the GET of a conversation, the hottest read)."""
        tenant, wanted = self.caller(request)
        state = self.store.view(tenant)
        if wanted is not None and wanted != state.tenant_id:
            raise errors.tenant_mismatch(state.customer_id)
        return state


def identify(emu: Emulator, request: Request) -> str | None:
    """The tenant whose `x-api-key` a control-plane request carries (`core.guard`), as `Ctx.credentials` finds it,
    if that tenant exists or is configured (never created here)."""
    tenant = Gate(emu, emu.store.of(SLUG, EightByEightState)).lookup(request.headers.get(API_KEY_HEADER))
    return tenant if tenant is not None and emu.knows(SLUG, tenant) else None


def cid(request: Request) -> str:
    """The conversation of a `…/conversations/{conversationId}/…` path."""
    return str(request.path_params["conversationId"])


# `Unit` and `Session` are classes rather than `@asynccontextmanager` functions: every write request enters
# them, and a generator-based manager costs an async generator (which the event loop registers) per use.


class Unit:
    """`async with ctx.unit(request) as tx`: the store's unit of work, then `X-8x8-Tenant` checked against the
    tenant's state (a tenant met for the first time has only just been built)."""

    __slots__ = ("_cm", "ctx", "request", "tenant")

    def __init__(self, ctx: Ctx, request: Request, tenant: str | None) -> None:
        self.ctx, self.request, self.tenant = ctx, request, tenant
        self._cm: AbstractAsyncContextManager[Tx[EightByEightState]] | None = None

    # the store's own awaitables are handed on (no coroutine of this layer's per request)
    def __aenter__(self) -> Awaitable[Tx[EightByEightState]]:
        if self.tenant:
            return _open(self, self.tenant, header(self.request, TENANT))
        return _open(self, *self.ctx.credentials(self.request))

    def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Awaitable[bool | None]:
        assert self._cm is not None
        return self._cm.__aexit__(kind, exc, tb)


def _open(unit: Unit, tenant: str, wanted: str | None) -> Awaitable[Tx[EightByEightState]]:
    """`unit`'s unit of work on `tenant` entered, then the `X-8x8-Tenant` sent (`wanted`) checked against the
    tenant's state; without that header there is nothing to check (the store's own awaitable is handed on)."""
    cm = unit._cm = unit.ctx.store.tenant(tenant)
    if wanted is None:
        return cm.__aenter__()
    return _checked(cm, wanted)


async def _checked(cm: AbstractAsyncContextManager[Tx[EightByEightState]], wanted: str) -> Tx[EightByEightState]:
    tx = await cm.__aenter__()
    try:
        if wanted != tx.state.tenant_id:
            raise errors.tenant_mismatch(tx.state.customer_id)
    except BaseException as exc:
        await cm.__aexit__(type(exc), exc, exc.__traceback__)  # the unit is discarded; the error goes on
        raise
    return tx


class Session(Unit, Generic[M]):
    """`async with ctx.session(request, Model) as (tx, body)`: authenticate, read the body, open the unit (a
    `Unit` itself: one object and one coroutine per request fewer than a session holding a unit)."""

    __slots__ = ("context", "model", "newer", "optional", "style")

    def __init__(
        self,
        ctx: Ctx,
        request: Request,
        model: type[M],
        newer: bool,
        style: errors.ValidationStyle,
        optional: bool,
        context: dict[str, Any] | None,
    ) -> None:
        self.ctx, self.request, self.tenant, self._cm = ctx, request, None, None  # `Unit.__init__`, without `super()`
        self.model = model
        self.newer, self.style, self.optional, self.context = newer, style, optional, context

    async def __aenter__(self) -> tuple[Tx[EightByEightState], M]:  # type: ignore[override]
        tenant, wanted = self.ctx.credentials(self.request)
        self.tenant = tenant
        body = await self.ctx.body(self.request, tenant, self)
        return await _open(self, tenant, wanted), body
