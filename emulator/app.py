"""create_app: the vendors at their real paths plus the control plane at `/_emulator`, on one port."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount

from emulator.core.control import control_routes
from emulator.core.errors import ConfigError
from emulator.core.plugin import VendorPlugin
from emulator.core.runtime import Emulator
from emulator.settings import Settings


def load_plugins(settings: Settings) -> list[VendorPlugin]:
    """The built-in vendors plus any `module:attribute` named in `settings.plugins`."""
    from emulator.vendors import VENDORS

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


def create_app(settings: Settings | None = None, plugins: Iterable[VendorPlugin] | None = None) -> Starlette:
    """Build the ASGI app. `plugins` replaces the built-in vendors (tests use it)."""
    settings = settings or Settings()
    emulator = Emulator(settings, load_plugins(settings) if plugins is None else plugins)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await emulator.start()
        try:
            yield
        finally:
            await emulator.stop()

    routes: list[BaseRoute] = [Mount("/_emulator", routes=control_routes(emulator))]
    for plugin in emulator.plugins.values():
        routes.extend(plugin.routes(emulator))
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.emulator = emulator
    return app
