"""The dashboard's routes, mounted at `/_emulator/ui` (inside the control plane's mount, so `core.guard` stands
in front of it when an admin token is set). Every page is a GET that reads (through `views`) and never changes
state; what a page does, its script does by calling the control plane (`live.js`'s `cxemu.api`).

| path | page |
|---|---|
| `/` | tenants per vendor with their credentials as a client needs them (copy buttons) |
| `/subjects` | conversations, chats and calls with their state; filters `vendor`, `tenant`, `state`, `q` |
| `/timeline/{vendor}/{tenant}/{subject}` | one subject's journal, one lane per party, cause -> effect arrows |
| `/journal` | the live journal; filters `vendor`, `tenant`, `subject`, `kind`, `type` (server side) |
| `/deliveries`, `/deliveries/{id}` | the delivery log; one delivery: attempts, signature, the redeliver buttons |
| `/clock` | each tenant's time and pending timers; advance, run until idle (virtual clock only) |
| `/chaos` | delivery faults, global and per tenant with an expiry |
| `/scenarios`, `/scenarios/{id}` | load or paste a scenario and run it; its live progress and report |
| `/verify` | score a webhook receiver (`POST /_emulator/verify-receiver`): the form, the scorecard, this page's runs |
| `/static/...` | `app.css`, `live.js` (the shared client), `views.js` (the pages' scripts), `act.js`, `verify.js` |
| `/act/...` | `act`'s consoles (`emulator.ui.act.routes`) |

Pages render through the templates `templates_for` makes (every page gets `ui`, `nav`, `auth`, `clock_mode`).
Something missing (a tenant, a subject, a delivery, a scenario) is the 404 page; a bad query the 400 page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from emulator import __version__
from emulator.core.chaos import ChaosConfig
from emulator.core.clock import iso
from emulator.core.runtime import Emulator
from emulator.core.webhooks import DeliveryFilter
from emulator.scenarios.service import ScenarioManager
from emulator.ui import act, views
from emulator.ui.views import BadQuery
from emulator.verify.profiles import PROFILES as VERIFIABLE

UI = "/_emulator/ui"
STATIC = Path(__file__).with_name("static")
NAV: list[tuple[str, str]] = [
    ("Tenants", "/"),
    ("Conversations", "/subjects"),
    ("Journal", "/journal"),
    ("Deliveries", "/deliveries"),
    ("Clock", "/clock"),
    ("Chaos", "/chaos"),
    ("Scenarios", "/scenarios"),
    ("Verify", "/verify"),
]
STATUSES = ("pending", "delivered", "failed")

Page = Callable[[Request], Awaitable[Response]]


def templates_for(emu: Emulator, nav: list[tuple[str, str]]) -> Jinja2Templates:
    """The dashboard's templates; every page gets what `base.html` needs (`ui`, `nav`, `auth`, `clock_mode`)."""
    env = Environment(loader=PackageLoader("emulator.ui", "templates"), autoescape=select_autoescape())
    env.filters["iso"] = lambda ts: iso(ts, millis=True) if ts is not None else ""
    env.globals["with_query"] = with_query
    base = {
        "ui": UI,
        "nav": nav,
        "auth": emu.settings.admin_token is not None,
        "clock_mode": "virtual" if emu.clock.virtual else "system",
    }
    return Jinja2Templates(env=env, context_processors=[lambda request: base])


def with_query(request: Request, **changes: Any) -> str:
    """The page's own query with `changes` in place of what it had (`?a=1&limit=200`)."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in changes]
    return "?" + urlencode([*kept, *((k, str(v)) for k, v in changes.items())])


class NotFound(LookupError):
    """Something a page's path names does not exist (the 404 page says what)."""


def routes(emu: Emulator, scenarios: ScenarioManager) -> list[BaseRoute]:
    """Everything under `/_emulator/ui`."""
    nav = list(NAV)
    templates = templates_for(emu, nav)
    consoles = act.routes(emu, templates)
    if consoles:
        nav.append(("Act", "/act"))

    def render(request: Request, name: str, status: int = 200, **context: Any) -> Response:
        return templates.TemplateResponse(request, name, context, status_code=status)

    def page(fn: Callable[[Request], Awaitable[Response]]) -> Page:
        """A page whose `BadQuery` is the 400 page and whose `NotFound` the 404 page."""

        async def endpoint(request: Request) -> Response:
            try:
                return await fn(request)
            except BadQuery as exc:
                return render(request, "error.html", 400, title="Bad request", message=str(exc))
            except NotFound as exc:
                return render(request, "error.html", 404, title="Not found", message=str(exc))

        endpoint.__name__ = fn.__name__
        return endpoint

    def known(vendor: str, tenant: str) -> None:
        if vendor not in emu.plugins:
            raise NotFound(f"no vendor {vendor!r}")
        if not emu.store.exists(vendor, tenant):
            raise NotFound(f"no {emu.plugins[vendor].title} tenant {tenant!r}")

    @page
    async def home(request: Request) -> Response:
        by_vendor = [
            (plugin, [(t, views.credentials(emu, plugin.slug, t)) for _, t in emu.store.tenants(plugin.slug)])
            for plugin in emu.plugins.values()
        ]
        return render(request, "home.html", vendors=by_vendor, base=str(request.base_url).rstrip("/"))

    @page
    async def subjects(request: Request) -> Response:
        p = request.query_params
        vendor = views.vendor(emu, p)
        tenant = views.text(p, "tenant")
        state = views.text(p, "state")
        needle = (views.text(p, "q") or "").lower()
        limit = views.number(p, "limit", 200, 1, views.MAX_LIMIT)
        rows = []
        for v, t in emu.store.tenants(vendor):
            if tenant is not None and t != tenant:
                continue
            for s in views.subjects(emu, v, t):
                if state is not None and s.state != state:
                    continue
                if needle and needle not in f"{s.id} {s.who} {' '.join(s.facts.values())}".lower():
                    continue
                rows.append((v, t, s))
        rows.sort(key=lambda r: r[2].at, reverse=True)
        return render(
            request,
            "subjects.html",
            rows=rows[:limit],
            total=len(rows),
            limit=limit,
            filters={"vendor": vendor, "tenant": tenant, "state": state, "q": p.get("q") or ""},
            vendors=list(emu.plugins),
        )

    @page
    async def timeline(request: Request) -> Response:
        vendor, tenant, subject = (request.path_params[k] for k in ("vendor", "tenant", "subject"))
        known(vendor, tenant)
        found = next((s for s in views.subjects(emu, vendor, tenant) if s.id == subject), None)
        deliveries = emu.dispatcher.deliveries(DeliveryFilter(vendor=vendor, tenant=tenant, subject=subject))
        if found is None and not deliveries and emu.plugins[vendor].subjects is not None:
            raise NotFound(f"no conversation, chat or call {subject!r} in {vendor} tenant {tenant!r}")
        return render(
            request,
            "timeline.html",
            vendor=vendor,
            tenant=tenant,
            subject=subject,
            found=found,
            deliveries=deliveries,
            parties=views.PARTIES,
        )

    @page
    async def journal(request: Request) -> Response:
        p = request.query_params
        filters = {
            "vendor": views.vendor(emu, p),
            "tenant": views.text(p, "tenant"),
            "subject": views.text(p, "subject"),
            "type": views.text(p, "type"),
        }
        chosen = views.kinds(p)
        return render(
            request, "journal.html", filters=filters, chosen=chosen, kinds=views.KINDS, vendors=list(emu.plugins)
        )

    @page
    async def deliveries(request: Request) -> Response:
        p = request.query_params
        match = DeliveryFilter(
            vendor=views.vendor(emu, p),
            tenant=views.text(p, "tenant"),
            event=views.text(p, "event"),
            subject=views.text(p, "subject"),
            status=views.text(p, "status", choices=STATUSES),
        )
        limit = views.number(p, "limit", 100, 1, views.MAX_LIMIT)
        found = emu.dispatcher.deliveries(match)
        return render(
            request,
            "deliveries.html",
            rows=found[::-1][:limit],
            total=len(found),
            limit=limit,
            filters=match,
            statuses=STATUSES,
            vendors=list(emu.plugins),
        )

    @page
    async def delivery(request: Request) -> Response:
        d = emu.dispatcher.get(request.path_params["delivery_id"])
        if d is None:
            raise NotFound(f"no delivery {request.path_params['delivery_id']!r}")
        again = emu.dispatcher.deliveries(lambda other: other.redelivery_of == d.id)
        return render(request, "delivery.html", d=d, body=d.payload(), redeliveries=again)

    @page
    async def clock(request: Request) -> Response:
        names = views.tenant_names(emu)
        tenant = views.text(request.query_params, "tenant")
        if tenant is not None and tenant not in names:
            raise NotFound(f"no tenant {tenant!r} (no state, no timeline)")
        lines = [
            (t, emu.scheduler.now(t), emu.scheduler.pending_count([t]), views.timers(emu, t))
            for t in ([tenant] if tenant else names)
        ]
        return render(request, "clock.html", lines=lines, tenant=tenant, names=names, shared=emu.scheduler.now())

    @page
    async def chaos(request: Request) -> Response:
        fields = [
            (name, f.description or "", f.default)
            for name, f in ChaosConfig.model_fields.items()
            if name not in ("vendor", "tenant")
        ]
        return render(request, "chaos.html", fields=fields, names=views.tenant_names(emu))

    @page
    async def scenario_list(request: Request) -> Response:
        runs = [run.result.to_json() for run in scenarios.runs.values()][::-1]
        vendors = [p.slug for p in emu.plugins.values() if p.scenario is not None]
        return render(request, "scenarios.html", runs=runs, vendors=vendors)

    @page
    async def scenario(request: Request) -> Response:
        run = scenarios.get(request.path_params["scenario_id"])
        if run is None:
            raise NotFound(f"no scenario {request.path_params['scenario_id']!r}")
        return render(request, "scenario.html", run=run.result.to_json())

    @page
    async def verify(request: Request) -> Response:
        vendors = [(p.slug, p.title) for p in emu.plugins.values() if p.slug in VERIFIABLE]
        return render(request, "verify.html", vendors=vendors, names=views.tenant_names(emu))

    @page
    async def missing(request: Request) -> Response:
        raise NotFound(f"no page {request.url.path!r}")

    return [
        Route("/", home, methods=["GET"]),
        Route("/subjects", subjects, methods=["GET"]),
        Route("/timeline/{vendor}/{tenant}/{subject}", timeline, methods=["GET"]),
        Route("/journal", journal, methods=["GET"]),
        Route("/deliveries", deliveries, methods=["GET"]),
        Route("/deliveries/{delivery_id}", delivery, methods=["GET"]),
        Route("/clock", clock, methods=["GET"]),
        Route("/chaos", chaos, methods=["GET"]),
        Route("/scenarios", scenario_list, methods=["GET"]),
        Route("/scenarios/{scenario_id}", scenario, methods=["GET"]),
        Route("/verify", verify, methods=["GET"]),
        *consoles,
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        Route("/{path:path}", missing, methods=["GET"]),
    ]


async def root(request: Request) -> Response:
    """`GET /`: a browser goes to the dashboard; any other client gets a map of where things are."""
    if "text/html" in request.headers.get("accept", ""):
        return RedirectResponse(f"{UI}/", status_code=307)
    emu: Emulator = request.app.state.emulator
    return JSONResponse(
        {
            "cxemu": __version__,
            "dashboard": f"{UI}/",
            "control_plane": "/_emulator",
            "health": "/_emulator/health",
            "openapi": "/_emulator/openapi.json",
            "vendors": {p.slug: list(p.base_paths) for p in emu.plugins.values()},
        }
    )
