"""VendorPlugin: everything one vendor package provides to the kernel.

A vendor package (`emulator/vendors/<slug>/`) exposes one `PLUGIN` built from this class. The kernel
mounts its routes at the vendor's real paths, builds its per-tenant state from `new_state`, delivers its
webhooks with its `WebhookPolicy`, renders its errors with `render_error`, runs its persistent jobs
(actor actions on the clock), serves its hand-driven actor routes under `/_emulator/vendors/<slug>/` (declared
on an `Api`, `control`: they are in the control plane's contract), and exports its OpenAPI contract.

Vendor handlers are wrapped by `vendor_endpoint`: it journals the request, turns `EmulatorError` (and
anything unexpected) into the vendor's own error envelope, and never lets an exception escape as a bare
500 page (a client gone before its body arrived, or timed out by the server, is journaled as 499).
`create_app` applies it to every vendor route that is not wrapped yet, so a vendor may register plain
handlers (a route wrapped by the vendor itself is marked and never wrapped twice).

The kernel also owns what every vendor used to copy:
- provisioning: `POST /_emulator/tenants` creates the tenant, marks it provisioned in the store
  (`Store.provisioned`) and returns `credentials(emu, tx)`; the older `provision` hook still wins when set;
- behaviour: with `behaviour=BehaviourSpec(Model, "attr")` the kernel serves
  `PUT /_emulator/vendors/<slug>/tenants/<tenant>/behaviour` (a partial merge, validated) and scenarios get a
  generic `behaviour:` step, both through `merge_behaviour` (which calls the spec's `on_change` hook, if any, after a
  successful merge).

For the dashboard (`emulator.ui`) a vendor lists its conversations, chats and calls with `subjects(state)`:
one `Subject` each, read from a tenant's state (`Store.view`), never changing it.

For a shared sandbox (`--admin-token`, `core.guard`) a vendor declares two small things and the kernel holds the
policy: `identify(emu, request)` names the existing tenant whose credential a control-plane request carries
(never creating one), and `secrets` names what the views redact (state fields, request headers, body and query
fields).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, Field
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from emulator import __version__
from emulator.core.api import WRAPPED, Api, Endpoint, Handler, route
from emulator.core.clock import JobHandler, wall_monotonic
from emulator.core.contracts import Body, Param, Reply
from emulator.core.errors import EmulatorError
from emulator.core.events import DomainEvent
from emulator.core.fleet_control import FleetUnavailable
from emulator.core.httpguard import sent
from emulator.core.ids import TenantIds
from emulator.core.journal import JournalEntry, journal_entry
from emulator.core.redact import redact_entry
from emulator.core.retention import Retained
from emulator.core.store import Misrouted, Outbound, Tx
from emulator.core.web import ErrorOut, error, guarded
from emulator.core.webhooks import WebhookPolicy

if TYPE_CHECKING:
    from emulator.core.fleet import Fleet
    from emulator.core.runtime import Emulator

LOG = logging.getLogger(__name__)

__all__ = [
    "CONTROL_ERRORS",
    "TENANT_PATH",
    "WRAPPED",
    "BehaviourSpec",
    "ControlApi",
    "Endpoint",
    "Identify",
    "RejectedOut",
    "ScenarioSupport",
    "Secrets",
    "Subject",
    "VendorPlugin",
    "control_api",
    "route",
    "set_tenant",
    "strictly",
    "tenant_noun",
    "unknown_tenant",
]

ErrorRenderer = Callable[[EmulatorError, Request], Response]


class ScenarioSupport(Protocol):
    """What `VendorPlugin.scenario` holds: an `emulator.scenarios.hooks.ScenarioHooks`. The kernel only
    carries it; the scenarios package reads it."""

    @property
    def setup_model(self) -> type[BaseModel]: ...


@dataclass(frozen=True)
class BehaviourSpec:
    """Where a tenant's behaviour knobs live: `getattr(state, attr)` is an instance of `model`."""

    model: type[BaseModel]
    attr: str = "behaviour"
    on_change: Callable[[Any], None] | None = None
    """Called with the tenant's state after a merge succeeds (e.g. to forget what the old values decided)."""


@dataclass(frozen=True)
class Secrets:
    """What a vendor's views redact (`core.redact`) unless the admin asks for secrets."""

    state: tuple[str, ...] = ()
    """Dotted paths into the tenant's state as JSON; `*` is any key of a mapping or item of a list."""
    headers: tuple[str, ...] = ()
    """Request headers carrying a credential (`Authorization` is redacted for every vendor)."""
    fields: tuple[str, ...] = ()
    """Keys of JSON bodies (at any depth), form fields and query parameters carrying a credential."""
    delivery: tuple[str, ...] = ()
    """Keys of a webhook delivery's `profile` (`Outbound.profile`) carrying a credential: a snapshot's pending
    deliveries hold them."""


@dataclass(frozen=True)
class Subject:
    """One conversation, chat or call as the dashboard lists it (`VendorPlugin.subjects`)."""

    id: str
    """What its events and deliveries carry as their subject (the journal's `subject`)."""
    kind: str
    """`conversation`, `chat`, `call`, ..."""
    state: str
    who: str
    """Who is on the other end: the customer's name, number or contact."""
    at: float
    """When it began, on the tenant's timeline."""
    facts: dict[str, str] = field(default_factory=dict)
    """A few more facts worth a column (agent, queue, channel), as text."""


BodyCheck = Callable[[Request], Awaitable[object]]
"""Reads and checks a request's body (raising `ValueError` or `ValidationError`, a 400 behind `guarded`)."""


class ControlApi(Api["Emulator"]):
    """The `Api` of a vendor's act-by-hand operations (`control_api`). Every operation whose path names a
    `{tenant}` answers 404 `unknown_tenant` ("no <tenant noun> 'x'", in the vendor's words) for a tenant with
    neither state nor config before its handler runs, so no handler checks it; an operation declared with
    `body_first` has that check of its body made before the tenant's (the order those routes always had)."""

    def __init__(self, slug: str, title: str, tenant_noun: str) -> None:
        super().__init__(
            f"{title} by hand",
            __version__,
            f"Act by hand in {title} and see its tenants' state.",
            mount=f"/_emulator/vendors/{slug}",
            tags=[slug],
            wrap=guarded,
        )
        self.slug = slug
        self.tenant_noun = tenant_noun
        """What the vendor calls a tenant: "8x8 tenant", "Samespace cloud"."""

    def unknown_tenant(self, tenant: str) -> Response:
        """The 404 for a tenant the emulator does not know."""
        return unknown_tenant(self.tenant_noun, tenant)

    def op(
        self,
        method: str,
        path: str,
        operation_id: str,
        summary: str,
        responses: Mapping[int, Reply],
        *,
        params: Sequence[Param] = (),
        body: Body | None = None,
        security: Sequence[Mapping[str, Sequence[str]]] | None = None,
        description: str = "",
        tags: Sequence[str] | None = None,
        body_first: BodyCheck | None = None,
    ) -> Callable[[Handler[Emulator]], Handler[Emulator]]:
        """`Api.op`, the handler behind the tenant check when `path` names a `{tenant}` (after `body_first`)."""
        declare = super().op(
            method,
            path,
            operation_id,
            summary,
            responses,
            params=params,
            body=body,
            security=security,
            description=description,
            tags=tags,
        )
        if "{tenant}" not in path:
            return declare

        def register(handler: Handler[Emulator]) -> Handler[Emulator]:
            async def checked(emu: Emulator, request: Request) -> Response:
                if body_first is not None:
                    await body_first(request)
                tenant = request.path_params["tenant"]
                if not emu.knows(self.slug, tenant):
                    return self.unknown_tenant(tenant)
                return await handler(emu, request)

            checked.__name__ = handler.__name__
            checked.__doc__ = handler.__doc__
            declare(checked)
            return handler

        return register


def unknown_tenant(noun: str, tenant: str) -> Response:
    """404 `unknown_tenant` in the control plane's envelope: "no 8x8 tenant 'x'" (`noun` from `tenant_noun`)."""
    return error(404, "unknown_tenant", f"no {noun} {tenant!r}")


def tenant_noun(plugin: VendorPlugin) -> str:
    """What a vendor calls a tenant, as its act-by-hand `ControlApi` says ("<slug> tenant" without one)."""
    return plugin.control.tenant_noun if plugin.control is not None else f"{plugin.slug} tenant"


def control_api(slug: str, title: str, tenant_noun: str | None = None) -> ControlApi:
    """The `Api` a vendor declares its act-by-hand operations on (`VendorPlugin.control`): mounted at
    `/_emulator/vendors/<slug>`, tagged with the slug, every handler `guarded` (bad input is a 400 in the control
    plane's envelope, never a 500) and behind the check of its path's tenant (`ControlApi`); `tenant_noun` is
    what the vendor calls a tenant (default "<title> tenant")."""
    return ControlApi(slug, title, tenant_noun or f"{title} tenant")


TENANT_PATH = Param("tenant", "path", required=True, description="a tenant with state or configured")
"""The tenant every act-by-hand path names (`/tenants/{tenant}/...`; fleet routing and the guard read it)."""


class RejectedOut(BaseModel):
    """An act-by-hand action the tenant's state does not allow (or a vendor API error it ran into)."""

    error: str = Field(description="`rejected`")
    message: str = Field(description="why, as the person who acted would be told")
    detail: dict[str, Any] = Field(description="the vendor API's own error body, or the reason's code")


CONTROL_ERRORS = {
    400: Reply("bad input (`invalid_request`), or an action its input cannot make (`rejected`)", ErrorOut),
    404: Reply("no such tenant (`unknown_tenant`), or a refusal naming what is missing (`rejected`)", ErrorOut),
    409: Reply("not possible in the state the tenant is in", RejectedOut),
}
"""The error replies of act-by-hand operations (all in the control plane's `{"error", "message"}` envelope)."""


def strictly(given: Any, model: BaseModel) -> None:
    """Refuse (a `ValueError`, a 400 behind `guarded`) a JSON body that `model` took only by coercion, which its
    schema does not allow: `false` for a number, `1` for a boolean, `"5"` for a number. The vendors' config models
    are lax (a config file's values); a control-plane body built on one is checked with this after its own
    validation (whose errors come first), before it changes anything. A whole number for an integer passes."""
    where = _coerced(given, model.model_dump(mode="json"), "")
    if where is not None:
        path, kind = where
        raise ValueError(f"{path}: Input should be a valid {kind}" if path else f"Input should be a valid {kind}")


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return "null" if value is None else type(value).__name__


def _coerced(given: Any, kept: Any, path: str) -> tuple[str, str] | None:
    """The first place (its path, the kind of JSON value it should be) where `given` (a body) and `kept` (what
    the model made of it, as JSON) are values of different kinds."""
    kind = _json_kind(kept)
    if _json_kind(given) != kind:
        return path, kind
    pairs: list[tuple[Any, Any, str]] = []
    if isinstance(given, list):
        pairs = [(g, k, str(n)) for n, (g, k) in enumerate(zip(given, kept, strict=False))]
    elif isinstance(given, dict):
        pairs = [(g, kept[key], str(key)) for key, g in given.items() if key in kept]
    for g, k, step in pairs:
        found = _coerced(g, k, f"{path}.{step}" if path else step)
        if found is not None:
            return found
    return None


Identify = Callable[["Emulator", Request], "str | None"]
"""The existing tenant whose vendor credential a control-plane request carries, or None (never creates one)."""


Credentials = Callable[["Emulator", Tx[Any]], dict[str, Any]]
"""What a client needs for a tenant, computed inside the provisioning unit of work (it may mint a secret
with `tx.ids`, and read the vendor's config through the emulator)."""


@dataclass(frozen=True)
class VendorPlugin:
    """What one vendor provides. Only `slug`, `title`, `state_type`, `new_state` and `routes` are required."""

    slug: str
    title: str
    state_type: type[BaseModel]
    new_state: Callable[[Emulator, str, TenantIds], BaseModel]
    """Build a tenant's state from scratch (reset builds it again)."""
    routes: Callable[[Emulator], list[BaseRoute]]
    """The vendor API at its real paths (plain handlers: `create_app` wraps each with `vendor_endpoint`)."""
    base_paths: tuple[str, ...] = ()
    """Path prefixes: printed at start-up, they group the routes into one `PrefixRoutes` tree each and make
    unknown paths and wrong methods under them answer in the vendor's error envelope."""
    render_error: ErrorRenderer | None = None
    webhook_policy: Callable[[Emulator], WebhookPolicy] | None = None
    jobs: Callable[[Emulator], Mapping[str, JobHandler]] | None = None
    """Persistent job kinds (names are prefixed with the slug by convention)."""
    outbound: Callable[[Tx[Any], DomainEvent], list[Outbound]] | None = None
    """Webhooks a committed event causes (called inside the unit of work, with the tenant's state)."""
    on_event: Callable[[Emulator, DomainEvent], None] | None = None
    """Called for every committed event of this vendor (actors react here by scheduling jobs)."""
    control: ControlApi | None = None
    """Act-by-hand operations, declared on an `Api` mounted at `/_emulator/vendors/<slug>`: the kernel serves them
    there (with its behaviour route) and a built-in vendor's are in the control plane's contract."""
    contract: Callable[[], dict[str, Any]] | None = None
    """The vendor's OpenAPI 3.1 document (paths + webhooks)."""
    credentials: Credentials | None = None
    """What `POST /_emulator/tenants` returns for a tenant (the kernel creates and marks it provisioned)."""
    provision: Callable[[Emulator, str], Awaitable[dict[str, Any]]] | None = None
    """Older form of `credentials`, kept until every vendor moves: create the tenant, mark it provisioned in
    its own state and return its credentials. Wins over `credentials` when set."""
    behaviour: BehaviourSpec | None = None
    """A tenant's behaviour knobs: the kernel serves `PUT .../tenants/<tenant>/behaviour` and the scenario
    `behaviour:` step for them."""
    config_model: type[BaseModel] | None = None
    """Validates this vendor's section of the config file (`vendors: {<slug>: ...}`)."""
    on_start: Callable[[Emulator], Awaitable[None]] | None = None
    scenario: ScenarioSupport | None = None
    """Scenario support: the vendor's `setup` model, actor actions and step kinds (`emulator.scenarios.hooks`)."""
    identify: Identify | None = None
    """Which tenant a control-plane request's vendor credential names (`core.guard`, with an admin token)."""
    credential_params: tuple[str, ...] = ()
    """Query parameters that carry `identify`'s credential; the guard takes them out of the query."""
    secrets: Secrets = Secrets()
    """What `GET /_emulator/state`, `/_emulator/requests` and the deliveries' views redact (`core.redact`)."""
    subjects: Callable[[Any], list[Subject]] | None = None
    """A tenant's conversations, chats and calls, from its state (the dashboard's lists; reads only)."""
    retained: tuple[Retained, ...] = ()
    """What ends and how long it is kept once ended, per kind (`core.retention`); none: everything is kept."""


def default_render_error(exc: EmulatorError, request: Request) -> Response:
    return JSONResponse({"error": exc.code, "message": exc.message}, status_code=exc.status_code)


def vendor_endpoint(emulator: Emulator, plugin: VendorPlugin, fn: Endpoint) -> Endpoint:
    """Wrap a vendor handler: journal it (the request journal and the feed's `request` entry, which holds what
    the request caused until it completes) and render every error in the vendor's envelope."""
    render = plugin.render_error or default_render_error
    journal = emulator.journal
    record = journal.record if journal is not None else partial(journal_entry, 0)
    feed = emulator.feed
    data = request_data(plugin, redacted=emulator.settings.admin_token is not None)
    now_of = emulator.scheduler.now
    slug = plugin.slug

    fleet = emulator.fleet  # a fleet of workers: each tenant served by its owner (core.fleet)
    refresh = emulator.store.refresh if emulator.store.shared and fleet is None else None  # other workers' commits
    flush = emulator.runtime.answered if emulator.runtime is not None else None  # durable before the response

    def failed(exc: Exception, request: Request) -> Response:
        """A handler's error in the vendor's envelope (`Misrouted` is raised on, for `endpoint` to route)."""
        if isinstance(exc, Misrouted):
            raise exc
        if isinstance(exc, EmulatorError):
            return render(exc, request)
        if isinstance(exc, ClientDisconnect):  # gone (or timed out by the server) before its body arrived: journaled
            return Response(status_code=499)
        LOG.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return render(EmulatorError("Internal error.", status_code=500, code="internal_error"), request)

    async def answer(request: Request) -> Response:
        """The handler's response, written down first (`flush`); every error rendered in the vendor's envelope
        but `Misrouted`, which `endpoint` routes (also when the handler runs again for a tenant just claimed)."""
        try:
            if refresh is not None:
                await refresh()
            response = await fn(request)
            if flush is not None:
                try:
                    await flush()
                except EmulatorError as exc:  # only other tenants' parts failed (`PartlyUnwritten`): this one's went
                    unwritten = getattr(exc, "unwritten", None)
                    if unwritten is None or request.scope.get("cxemu.tenant") in unwritten:
                        raise
            return response
        except Exception as exc:
            return failed(exc, request)

    direct = refresh is None and flush is None
    """Nothing to do around the handler (the memory backend): `endpoint` awaits it itself (one coroutine less)."""

    async def endpoint(request: Request) -> Response:
        started = wall_monotonic()
        scope = request.scope
        call, token = feed.open("request", f"{scope['method']} {scope['path']}", slug, "integration")
        status = 499  # cancelled: the client went away
        here = True
        try:
            try:
                if direct:
                    try:
                        response = await fn(request)
                    except Exception as exc:
                        response = failed(exc, request)
                else:
                    response = await answer(request)
            except Misrouted as exc:  # raised at the first store access, before any effect
                if fleet is None:
                    response = render(exc, request)
                else:
                    response, here = await routed(fleet, request, exc.tenant, partial(answer, request), render)
            status = response.status_code
            return response
        finally:
            if here:
                tenant = scope.get("cxemu.tenant")
                at = now_of(tenant)
                entry = record(
                    at,
                    slug,
                    tenant,
                    scope["method"],
                    scope["path"],
                    scope.get("query_string", b""),
                    scope["headers"],
                    getattr(request, "_body", b""),
                    status,
                    (wall_monotonic() - started) * 1000,
                )
                feed.close(call, token, tenant, at, entry, data)
            else:  # served by the tenant's owner, which journals it
                token.var.reset(token)

    endpoint.__name__ = getattr(fn, "__name__", "endpoint")
    endpoint.__doc__ = fn.__doc__
    setattr(endpoint, WRAPPED, True)
    return endpoint


async def routed(
    fleet: Fleet, request: Request, tenant: str, here: Callable[[], Awaitable[Response]], render: ErrorRenderer
) -> tuple[Response, bool]:
    """A vendor request for a tenant this worker did not own: served here once claimed, or by its owner. A
    handler may reach a second tenant (a credential resolved through another): routed again, a few times."""
    for _ in range(3):
        try:
            return await fleet.serve(request, tenant, here, let_go=True)
        except Misrouted as exc:
            tenant = exc.tenant
        except FleetUnavailable as exc:
            return render(EmulatorError(str(exc), status_code=503, code="unavailable"), request), True
    return render(Misrouted(tenant), request), True


class VendorRoute(Route):
    """A vendor route whose handlers are `vendor_endpoint`s, one per method. Those answer every error themselves
    (in the vendor's envelope), so a request goes straight to its method's handler and the response is sent,
    without the exception wrapper and closures Starlette builds around an endpoint on every request. `HEAD` is
    served by `GET`; any other method gets Starlette's 405 with `Allow`. `endpoint` (what Starlette shows) is
    the route's own endpoint, wrapped too. A plain response is written in one piece by `httpguard.sent`."""

    def __init__(self, path: str, endpoint: Endpoint, table: Mapping[str, Endpoint], name: str | None) -> None:
        super().__init__(path, endpoint, methods=list(table), name=name)
        self.table = dict(table)
        if "GET" in self.table:
            self.table.setdefault("HEAD", self.table["GET"])

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        fn = self.table.get(scope["method"])
        if fn is None:
            await super().handle(scope, receive, send)
            return
        response = await fn(Request(scope, receive, send))
        if not sent(send, response):  # a plain response: written at once, without uvicorn's `send`
            await response(scope, receive, send)


def vendor_route(emulator: Emulator, plugin: VendorPlugin, r: Route) -> Route:
    """`r` with its handlers behind `vendor_endpoint`, as a `VendorRoute` (a route open to every method stays
    a plain `Route`, its endpoint wrapped)."""
    endpoint = vendor_endpoint(emulator, plugin, r.endpoint)
    if r.methods is None:
        return Route(r.path, endpoint, name=r.name)
    table = getattr(r, "table", None)
    if not isinstance(table, Mapping):
        table = {m: r.endpoint for m in r.methods if m != "HEAD" or "GET" not in r.methods}
    wrapped = {m: vendor_endpoint(emulator, plugin, fn) for m, fn in table.items()}
    return VendorRoute(r.path, endpoint, wrapped, r.name)


def request_data(plugin: VendorPlugin, *, redacted: bool) -> Callable[[JournalEntry], dict[str, Any]]:
    """A `request` entry's `data`: the journal entry's JSON without what the entry itself says (time, vendor,
    tenant); with credentials redacted as `/_emulator/requests` redacts them when an admin token is set."""

    def build(entry: JournalEntry) -> dict[str, Any]:
        out = entry.to_json()
        del out["at"], out["vendor"], out["tenant"]
        return redact_entry(out, plugin) if redacted else out

    return build


def is_wrapped(fn: Any) -> bool:
    """Whether `fn` is already a `vendor_endpoint` (or a `route` dispatching only to such)."""
    return bool(getattr(fn, WRAPPED, False))


def set_tenant(request: Request, tenant: str) -> None:
    """Tell the journal which tenant a request belongs to."""
    request.scope["cxemu.tenant"] = tenant


def merge_behaviour(
    spec: BehaviourSpec, state: BaseModel, changes: Mapping[str, Any], *, strict: bool = False
) -> BaseModel:
    """Put `changes` over the tenant's behaviour (fields not named stay), validated as a whole (`strictly` as
    well when `strict`: a control-plane body); raises `ValidationError` and leaves the state as it was when the
    result is not valid."""
    current: BaseModel = getattr(state, spec.attr)
    merged = spec.model.model_validate({**current.model_dump(), **changes})
    if strict:
        strictly(changes, merged)
    setattr(state, spec.attr, merged)
    if spec.on_change is not None:
        spec.on_change(state)
    return merged
