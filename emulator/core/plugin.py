"""VendorPlugin: everything one vendor package provides to the kernel.

A vendor package (`emulator/vendors/<slug>/`) exposes one `PLUGIN` built from this class. The kernel
mounts its routes at the vendor's real paths, builds its per-tenant state from `new_state`, delivers its
webhooks with its `WebhookPolicy`, renders its errors with `render_error`, runs its persistent jobs
(actor actions on the clock), adds its hand-driven actor routes under `/_emulator/vendors/<slug>/`,
and exports its OpenAPI contract.

Vendor handlers are wrapped by `vendor_endpoint`: it journals the request, turns `EmulatorError` (and
anything unexpected) into the vendor's own error envelope, and never lets an exception escape as a bare
500 page.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from emulator.core.clock import JobHandler, wall_monotonic
from emulator.core.errors import EmulatorError
from emulator.core.events import DomainEvent
from emulator.core.ids import TenantIds
from emulator.core.store import Outbound, Tx
from emulator.core.webhooks import WebhookPolicy

if TYPE_CHECKING:
    from emulator.core.runtime import Emulator
    from emulator.scenarios.hooks import ScenarioHooks

LOG = logging.getLogger(__name__)

Endpoint = Callable[[Request], Awaitable[Response]]
ErrorRenderer = Callable[[EmulatorError, Request], Response]


@dataclass(frozen=True)
class VendorPlugin:
    """What one vendor provides. Only `slug`, `title`, `state_type`, `new_state` and `routes` are required."""

    slug: str
    title: str
    state_type: type[BaseModel]
    new_state: Callable[[Emulator, str, TenantIds], BaseModel]
    """Build a tenant's state from scratch (reset builds it again)."""
    routes: Callable[[Emulator], list[BaseRoute]]
    """The vendor API at its real paths; wrap each endpoint with `vendor_endpoint`."""
    base_paths: tuple[str, ...] = ()
    """Printed at start-up and used to attribute journal entries."""
    render_error: ErrorRenderer | None = None
    webhook_policy: Callable[[Emulator], WebhookPolicy] | None = None
    jobs: Callable[[Emulator], Mapping[str, JobHandler]] | None = None
    """Persistent job kinds (names are prefixed with the slug by convention)."""
    outbound: Callable[[Tx[Any], DomainEvent], list[Outbound]] | None = None
    """Webhooks a committed event causes (called inside the unit of work, with the tenant's state)."""
    on_event: Callable[[Emulator, DomainEvent], None] | None = None
    """Called for every committed event of this vendor (actors react here by scheduling jobs)."""
    control_routes: Callable[[Emulator], list[BaseRoute]] | None = None
    """Act-by-hand routes, mounted under `/_emulator/vendors/<slug>`."""
    contract: Callable[[], dict[str, Any]] | None = None
    """The vendor's OpenAPI 3.1 document (paths + webhooks)."""
    provision: Callable[[Emulator, str], Awaitable[dict[str, Any]]] | None = None
    """Create a tenant (if needed) and return the credentials a client uses for it."""
    config_model: type[BaseModel] | None = None
    """Validates this vendor's section of the config file (`vendors: {<slug>: ...}`)."""
    on_start: Callable[[Emulator], Awaitable[None]] | None = None
    scenario: ScenarioHooks | None = None
    """Scenario support: the vendor's `setup` model, actor actions and step kinds (`emulator.scenarios.hooks`)."""
    extras: Mapping[str, Any] = field(default_factory=dict)


def default_render_error(exc: EmulatorError, request: Request) -> Response:
    from starlette.responses import JSONResponse

    return JSONResponse({"error": exc.code, "message": exc.message}, status_code=exc.status_code)


def vendor_endpoint(emulator: Emulator, plugin: VendorPlugin, fn: Endpoint) -> Endpoint:
    """Wrap a vendor handler: journal it and render every error in the vendor's envelope."""
    render = plugin.render_error or default_render_error
    journal = emulator.journal
    clock = emulator.clock
    slug = plugin.slug

    async def endpoint(request: Request) -> Response:
        started = wall_monotonic()
        try:
            response = await fn(request)
        except EmulatorError as exc:
            response = render(exc, request)
        except Exception:
            LOG.exception("%s %s failed", request.method, request.url.path)
            response = render(EmulatorError("Internal error.", status_code=500, code="internal_error"), request)
        if journal is not None:
            scope = request.scope
            journal.record(
                clock.now(),
                slug,
                scope.get("cxemu.tenant"),
                scope["method"],
                scope["path"],
                scope.get("query_string", b""),
                scope["headers"],
                getattr(request, "_body", b""),
                response.status_code,
                (wall_monotonic() - started) * 1000,
            )
        return response

    endpoint.__name__ = getattr(fn, "__name__", "endpoint")
    endpoint.__doc__ = fn.__doc__
    return endpoint


def set_tenant(request: Request, tenant: str) -> None:
    """Tell the journal which tenant a request belongs to."""
    request.scope["cxemu.tenant"] = tenant


def route(path: str, handlers: Mapping[str, Endpoint], *, wrap: Callable[[Endpoint], Endpoint] | None = None) -> Route:
    """One Starlette route serving several methods, so a 405 lists every allowed method in `Allow`.

    `handlers` maps an HTTP method to its handler; `wrap` (e.g. `vendor_endpoint` bound to a vendor)
    is applied to each.
    """
    table = {m.upper(): (wrap(fn) if wrap else fn) for m, fn in handlers.items()}
    if len(table) == 1:
        ((method, fn),) = table.items()
        return Route(path, fn, methods=[method])

    async def dispatch(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await table[method](request)

    dispatch.__name__ = "_".join(getattr(fn, "__name__", m.lower()) for m, fn in table.items())
    return Route(path, dispatch, methods=list(table))
