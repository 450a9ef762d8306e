"""The dashboard's routes, mounted at `/_emulator/ui` (inside the control plane's mount, so `core.guard` stands
in front of it when an admin token is set).

| path | page |
|---|---|
| `/` | tenants per vendor with their credentials (copy buttons) |
| `/static/...` | `app.css`, `live.js` (and `act`'s `act.js`) |
| `/act/...` | `act`'s consoles (`emulator.ui.act.routes`) |

Pages render through `TEMPLATES` (Jinja2 from the package's `templates/`); `page()` adds what `base.html` needs
(the nav, the clock mode, whether the control plane has an admin token).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from emulator import __version__
from emulator.core.runtime import Emulator
from emulator.scenarios.service import ScenarioManager
from emulator.ui import act

UI = "/_emulator/ui"
STATIC = Path(__file__).with_name("static")
NAV: list[tuple[str, str]] = [("Tenants", "/")]


def templates_for(emu: Emulator, nav: list[tuple[str, str]]) -> Jinja2Templates:
    """The dashboard's templates; every page gets what `base.html` needs (`ui`, `nav`, `auth`, `clock_mode`)."""
    env = Environment(loader=PackageLoader("emulator.ui", "templates"), autoescape=select_autoescape())
    base = {
        "ui": UI,
        "nav": nav,
        "auth": emu.settings.admin_token is not None,
        "clock_mode": "virtual" if emu.clock.virtual else "system",
    }
    return Jinja2Templates(env=env, context_processors=[lambda request: base])


def routes(emu: Emulator, scenarios: ScenarioManager) -> list[BaseRoute]:
    """Everything under `/_emulator/ui`."""
    nav = list(NAV)
    templates = templates_for(emu, nav)
    consoles = act.routes(emu, templates)
    if consoles:
        nav.append(("Act", "/act"))

    def page(request: Request, name: str, status: int = 200, **context: Any) -> Response:
        return templates.TemplateResponse(request, name, context, status_code=status)

    async def home(request: Request) -> Response:
        return page(request, "home.html", tenants=emu.store.tenants())

    return [
        Route("/", home, methods=["GET"]),
        *consoles,
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
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
