"""create_app: the vendors at their real paths plus the control plane at `/_emulator`, on one port.

`create_app` builds the `Emulator` and the `ScenarioManager` (`app.state.emulator`, `app.state.scenarios`),
owns their lifespan, wraps every vendor route in `vendor_endpoint` (unless the vendor already did),
mounts the control plane with the scenario endpoints and the dashboard (`emulator.ui`, at `/_emulator/ui`; all
behind `core.guard` when an admin token is set), answers `GET /` (`ui.root`: a browser goes to the dashboard) and
puts every route behind the body size limit (`core.limits.BodyLimit`, its 413 in the vendor's envelope or
the control plane's). The app is an `App`: a request for a vendor route goes from the body limit straight to the
route's method handler, without Starlette's two exception layers and router (their behaviour kept, see `App`).
`control_contract()` is the control plane's OpenAPI document: the operations of
`core.control`, `scenarios.control`, `core.sink`, `verify.control` and the built-in vendors' `/vendors/<slug>`.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any, cast

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http import h11_impl, httptools_impl

from emulator.core import console, control, guard, sink
from emulator.core.contracts import too_large_reply
from emulator.core.errors import ConfigError, EmulatorError
from emulator.core.fleet_control import FleetControl, Forwarded
from emulator.core.limits import BODILESS, BodyLimit
from emulator.core.plugin import VendorPlugin, VendorRoute, default_render_error, is_wrapped, vendor_route
from emulator.core.routing import FULL, PrefixIndex, PrefixRoutes
from emulator.core.runtime import Emulator
from emulator.core.settings import Settings
from emulator.core.web import ErrorOut
from emulator.scenarios import control as scenario_control
from emulator.scenarios.service import ScenarioManager
from emulator.ui import app as ui
from emulator.vendors import VENDORS
from emulator.verify import control as verify_control


def control_contract() -> dict[str, Any]:
    """The control plane's OpenAPI 3.1 document (`contracts/control-plane.openapi.yaml`), with the built-in
    vendors' behaviour and act-by-hand operations (`control.vendor_api`)."""
    vendors = [api for api in map(control.vendor_api, VENDORS) if api is not None]
    return control.API.openapi(
        scenario_control.API, sink.API, verify_control.API, *vendors, too_large=lambda op: too_large_reply(ErrorOut)
    )


def load_plugins(settings: Settings) -> list[VendorPlugin]:
    """The built-in vendors plus any `module:attribute` named in `settings.plugins`."""
    plugins = list(VENDORS)
    for spec in settings.plugins:
        module_name, _, attr = spec.partition(":")
        try:
            obj = getattr(importlib.import_module(module_name), attr or "PLUGIN")
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"plugins: cannot load {spec!r} ({exc})") from None
        if not isinstance(obj, VendorPlugin):
            raise ConfigError(f"plugins: {spec!r} is not a VendorPlugin")
        plugins.append(obj)
    return plugins


def _renderer(emulator: Emulator) -> Callable[[Request, EmulatorError], Response]:
    """An error in the vendor's own envelope under its base paths, in the control plane's JSON elsewhere."""
    by_prefix = [(prefix, plugin) for plugin in emulator.plugins.values() for prefix in plugin.base_paths]

    def render(request: Request, exc: EmulatorError) -> Response:
        path = request.url.path
        for prefix, plugin in by_prefix:
            if path.startswith(prefix):
                return (plugin.render_error or default_render_error)(exc, request)
        return JSONResponse({"error": exc.code, "message": exc.message}, status_code=exc.status_code)

    return render


def _http_error(emulator: Emulator) -> Callable[[Request, Exception], Awaitable[Response]]:
    """Unknown paths and wrong methods: the vendor's own error envelope under its base paths, JSON elsewhere."""
    render = _renderer(emulator)

    async def handler(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = "Resource not found" if exc.status_code == 404 else str(exc.detail)
        response = render(request, EmulatorError(message, status_code=exc.status_code, code=code))
        response.headers.update(dict(exc.headers or {}))
        return response

    return handler


def _body_limit(emulator: Emulator) -> Middleware:
    """Every route's body limit (`core.limits`), its 413 rendered as `_renderer` renders errors."""
    render = _renderer(emulator)
    settings = emulator.settings

    def reject(scope: Scope, exc: EmulatorError) -> Response:
        return render(Request(scope), exc)

    return Middleware(BodyLimit, max_body=settings.max_body_bytes, max_upload=settings.max_upload_bytes, reject=reject)


def _wrapped(emulator: Emulator, plugin: VendorPlugin, routes: list[BaseRoute]) -> list[BaseRoute]:
    """Every vendor route behind `vendor_endpoint` (journal + the vendor's error envelope), exactly once."""
    out: list[BaseRoute] = []
    for r in routes:
        if isinstance(r, Route) and not is_wrapped(r.endpoint):
            r = vendor_route(emulator, plugin, r)
        out.append(r)
    return out


def _by_base_path(plugin: VendorPlugin, routes: list[BaseRoute]) -> list[BaseRoute]:
    """Put a vendor's routes behind one `PrefixRoutes` per base path (one tree walk per request instead of
    one regular expression per route); routes outside the base paths stay plain."""
    prefixes = sorted(plugin.base_paths, key=len, reverse=True)
    grouped: dict[str, list[Route]] = {p: [] for p in prefixes}
    rest: list[BaseRoute] = []
    for r in routes:
        prefix = next((p for p in prefixes if isinstance(r, Route) and r.path.startswith(p + "/")), None)
        if prefix is None and isinstance(r, Route) and r.path in plugin.base_paths and r.path.count("/") > 1:
            prefix = r.path.rsplit("/", 1)[0]  # a base path that is a route itself (CM's gateway): under its parent
            grouped.setdefault(prefix, [])
        if prefix is None or not isinstance(r, Route):
            rest.append(r)
        else:
            grouped[prefix].append(r)
    return [PrefixRoutes(p, rs) for p, rs in grouped.items() if rs] + rest


CYCLES = (httptools_impl.RequestResponseCycle, h11_impl.RequestResponseCycle)
"""uvicorn's per-request objects: their bound `send` carries the server's own `response_started` flag."""


class App(Starlette):
    """Starlette, with a direct path for the requests that carry the load: a request served by uvicorn that
    `index` matches fully to a `VendorRoute` with a handler for its method goes through the `front` middleware
    (the body limit, and `Forwarded` in a fleet) straight to `VendorRoute.handle`. Starlette's own path would
    add `ServerErrorMiddleware` and `ExceptionMiddleware` (a coroutine each, a second `Request`, closures, and
    two wrappers around every `send`) and the router's two coroutines: the handler answers every error itself
    (`vendor_endpoint`), so those layers had nothing to do but wrap.

    Their behaviour is kept for an error that still escapes (`_failed`), reading whether the response has
    started from uvicorn's own flag instead of wrapping `send`; with any other server (httpx's `ASGITransport`
    in tests), and for every other request (the control plane, unknown paths, a 405, websockets, the
    lifespan), Starlette's whole stack runs as before."""

    def __init__(
        self,
        *,
        index: PrefixIndex,
        front: list[Middleware],
        on_http_error: Callable[[Request, Exception], Awaitable[Response]],
        **kwargs: Any,
    ) -> None:
        super().__init__(middleware=front, exception_handlers={HTTPException: on_http_error}, **kwargs)
        self._index = index
        self._on_http_error = on_http_error
        fast: ASGIApp = _vendor_route
        for cls, args, options in reversed(front):
            fast = cls(fast, *args, **options)
        self._fast = fast
        self._bodiless_direct = all(cast(Any, m.cls) is BodyLimit for m in front)
        """A GET, HEAD or OPTIONS goes straight to its route: the body limit lets those through untouched."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self
        if self.middleware_stack is None:
            self.middleware_stack = self.build_middleware_stack()
        if scope["type"] == "http":
            cycle = getattr(send, "__self__", None)
            if type(cycle) in CYCLES:
                match, child = self._index.matches(scope)
                if match is FULL and isinstance(child["cxemu.route"], VendorRoute):
                    scope["router"] = self.router  # what Starlette's router would have set
                    scope["route"] = self._index
                    scope.update(child)
                    try:
                        if self._bodiless_direct and scope["method"] in BODILESS:
                            await child["cxemu.route"].handle(scope, receive, send)
                        else:
                            await self._fast(scope, receive, send)
                    except Exception as exc:
                        await self._failed(scope, receive, send, exc, cycle)
                    return
        await self.middleware_stack(scope, receive, send)

    async def _failed(self, scope: Scope, receive: Receive, send: Send, exc: Exception, cycle: Any) -> None:
        """What `ExceptionMiddleware` and then `ServerErrorMiddleware` do with an exception (the app has no
        debug and no 500 handler): an `HTTPException` answered by `on_http_error` unless the response has
        started; anything else a plain `500 Internal Server Error` if nothing was sent yet, and raised on for
        uvicorn to log."""
        if isinstance(exc, HTTPException):
            if cycle.response_started:
                err = RuntimeError("Caught handled exception, but response already started.")
                err.__cause__ = exc
                exc = err
            else:
                try:
                    response = await self._on_http_error(Request(scope, receive, send), exc)
                    await response(scope, receive, send)
                    exc.__traceback__ = None
                    return
                except Exception as failed:
                    exc = failed
        if not cycle.response_started:
            await PlainTextResponse("Internal Server Error", status_code=500)(scope, receive, send)
        raise exc


def _vendor_route(scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
    """The matched `VendorRoute`'s own coroutine (no frame of this layer's)."""
    route: VendorRoute = scope["cxemu.route"]
    return route.handle(scope, receive, send)


def create_app(settings: Settings | None = None, plugins: Iterable[VendorPlugin] | None = None) -> Starlette:
    """Build the ASGI app. `plugins` replaces the built-in vendors (tests use it)."""
    settings = settings or Settings()
    emulator = Emulator(settings, load_plugins(settings) if plugins is None else plugins)

    scenarios = ScenarioManager(emulator)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await emulator.start()
        try:
            await scenarios.started(app)
            yield
        finally:
            try:
                await scenarios.close()
            finally:
                await emulator.stop()

    grouped: list[PrefixRoutes] = []
    plain: list[BaseRoute] = []
    for plugin in emulator.plugins.values():  # vendors first: they carry the load
        for r in _by_base_path(plugin, _wrapped(emulator, plugin, plugin.routes(emulator))):
            if isinstance(r, PrefixRoutes):
                grouped.append(r)
            else:
                plain.append(r)
    index = PrefixIndex(grouped)
    routes: list[BaseRoute] = [index, *plain]
    more = [
        *sink.routes(emulator),
        *scenario_control.API.routes(scenarios),
        *verify_control.API.routes(emulator),
        Mount("/ui", routes=ui.routes(emulator, scenarios)),
    ]
    control_routes = control.control_routes(emulator, control_contract, more)
    recorder = Middleware(control.ControlEntries, emu=emulator)  # inside the guard: calls it let through
    fleet = [] if emulator.fleet is None else [Middleware(FleetControl, fleet=emulator.fleet)]  # to the owner
    routes.append(Mount("/_emulator", routes=control_routes, middleware=[*guard.guard(emulator), *fleet, recorder]))
    routes.append(Route("/", ui.root, methods=["GET"]))
    console.attach(emulator)
    app = App(
        index=index,
        front=[_body_limit(emulator), *([] if emulator.fleet is None else [Middleware(Forwarded)])],
        on_http_error=_http_error(emulator),
        routes=routes,
        lifespan=lifespan,
    )
    app.state.emulator = emulator
    app.state.scenarios = scenarios
    return app
