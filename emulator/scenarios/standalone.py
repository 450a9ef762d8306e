"""Self-contained scenario runs (the CLI's `cxemu scenario run` and the pytest items): a fresh in-process app
on a virtual clock with a built-in receiver, built with `create_app` (so this is the one scenarios module
above `emulator.app`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from emulator.app import create_app, load_plugins
from emulator.core.clock import wall_monotonic
from emulator.core.plugin import VendorPlugin
from emulator.core.runtime import Emulator
from emulator.core.settings import Settings
from emulator.scenarios.errors import LoadError, ScenarioError
from emulator.scenarios.loader import LoadedScenario, default_tenant, load_file
from emulator.scenarios.results import ScenarioResult, error_result
from emulator.scenarios.service import ScenarioManager


def builtin_plugins() -> list[VendorPlugin]:
    """The vendors a server with default settings serves."""
    return load_plugins(Settings())


async def run_loaded(
    loaded: LoadedScenario,
    *,
    seed: int | None = None,
    plugins: Sequence[VendorPlugin] | None = None,
) -> ScenarioResult:
    """Run a loaded scenario in a fresh in-process app on a virtual clock, with a built-in receiver."""
    wall = wall_monotonic()
    settings = Settings.load(
        {}, {"clock": "virtual", "seed": loaded.model.seed if seed is None else seed, "log_level": "warning"}
    )
    app = create_app(settings, plugins=list(plugins) if plugins is not None else load_plugins(settings))
    emu: Emulator = app.state.emulator
    await emu.start()
    manager: ScenarioManager = app.state.scenarios
    try:
        try:
            run = await manager.start(loaded, app, background=False)
        except ScenarioError as exc:
            tenant = loaded.model.tenant or default_tenant(loaded.model.name)
            result = error_result(
                loaded.source, str(exc), name=loaded.model.name, vendor=loaded.model.vendor, tenant=tenant
            )
            result.seed = emu.store.seed
            return result
        await run.run_steps()
        result = run.result
        result.webhook_bodies = [d.body for d in run._deliveries()]
        await run.stop()
        result.wall_seconds = wall_monotonic() - wall
        return result
    finally:
        await manager.close()
        await emu.stop()


async def run_path(
    path: Path, *, seed: int | None = None, plugins: Sequence[VendorPlugin] | None = None
) -> ScenarioResult:
    """Load and run one file self-contained; a file that does not load gives an `error` result."""
    available = list(plugins) if plugins is not None else builtin_plugins()
    try:
        loaded = load_file(path, {p.slug: p for p in available})
    except LoadError as exc:
        return error_result(str(path), str(exc))
    return await run_loaded(loaded, seed=seed, plugins=available)
