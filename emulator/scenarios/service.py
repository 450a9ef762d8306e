"""Scenarios loaded into a running server: `POST /_emulator/scenarios`, `cxemu serve --scenario FILE`.

One `ScenarioManager` per Emulator, built and owned by `create_app` (`app.state.scenarios`; the app's
lifespan loads the `on_start` scenarios and closes it). It keeps the runs, routes the emulator's committed
events to their actors, and owns a built-in webhook receiver for runs that were given no `webhook_url` (the
server's `--webhook-url` wins when set). A run's steps go on in a background task; its actors stay active
until it is unloaded (`DELETE /_emulator/scenarios/{id}`) or another scenario is loaded for the same tenant;
the newest `STOPPED_KEPT` stopped runs stay listed, older ones are forgotten (a long-running sandbox loads many).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from emulator.core.events import DomainEvent
from emulator.core.fleet_control import FleetUnavailable
from emulator.core.runtime import Emulator
from emulator.scenarios.errors import ScenarioError
from emulator.scenarios.loader import LoadedScenario, run_tenant
from emulator.scenarios.receiver import WebhookSink
from emulator.scenarios.runner import ScenarioRun

RECEIVER_PATH = "/webhook"
FLEET_ID_MARK = "@"
"""Joins a fleet's run number to its tenant in a run id (no tenant name holds it)."""
STOPPED_KEPT = 100
"""Stopped runs (replaced by a later scenario for their tenant) kept for `GET /scenarios/{id}`; older ones go."""


def fleet_tenant(run_id: str) -> str | None:
    """The tenant in a fleet's run id (`scn_0001@acme`); None for a one-server id."""
    _, mark, tenant = run_id.partition(FLEET_ID_MARK)
    return tenant if mark and tenant else None


class ScenarioManager:
    """The scenarios of one emulator; see the module docstring."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.runs: dict[str, ScenarioRun] = {}
        self._seq = 0
        self.sink: WebhookSink | None = None
        self._startup: list[tuple[LoadedScenario, Callable[[str], None]]] = []
        emu.bus.subscribe(self._on_event)

    def _on_event(self, event: DomainEvent) -> None:
        if not self.runs:  # no scenario has run: every event of a server without one (no copy of an empty list)
            return
        for run in list(self.runs.values()):
            if run.active and run.vendor == event.vendor and run.tenant == event.tenant:
                run.react(event)

    def receiver_url(self) -> str:
        if self.sink is None or self.sink.closed:
            self.sink = WebhookSink()
        return self.sink.url_for(RECEIVER_PATH)

    async def start(
        self,
        loaded: LoadedScenario,
        app: Any,
        *,
        tenant: str | None = None,
        webhook_url: str | None = None,
        variables: Mapping[str, Any] | None = None,
        background: bool = True,
    ) -> ScenarioRun:
        """Set up the scenario's world and actors, then run its steps (in the background unless told).

        Raises ScenarioError when the setup fails (the run is then not kept)."""
        run_id = await self._run_id(tenant or run_tenant(loaded))
        url = webhook_url or self.emu.settings.webhook_url or self.receiver_url()
        run = ScenarioRun(
            loaded, self.emu, app, run_id=run_id, tenant=tenant, variables={"webhook_url": url, **(variables or {})}
        )
        for other in list(self.runs.values()):
            if other.active and other.vendor == run.vendor and other.tenant == run.tenant:
                await other.stop()
        try:
            await run.setup()
        except ScenarioError:
            await run.stop()
            raise
        self.runs[run_id] = run
        stopped = [key for key, kept in self.runs.items() if not kept.active]
        for key in stopped[: max(0, len(stopped) - STOPPED_KEPT)]:
            del self.runs[key]
        if background:
            run.start_background()
        return run

    async def _run_id(self, tenant: str) -> str:
        """`scn_0001`, numbered by this server; in a fleet `scn_0001@<tenant>`, numbered per tenant in Redis: the
        run lives on the tenant's owner, and the control plane sends a request for it there (`fleet_tenant`)."""
        fleet = self.emu.fleet
        if fleet is None:
            self._seq += 1
            return f"scn_{self._seq:04d}"
        try:
            number = await fleet.number(tenant, "scenarios")
        except FleetUnavailable as exc:
            raise ScenarioError(str(exc)) from None
        return f"scn_{number:04d}{FLEET_ID_MARK}{tenant}"

    def get(self, run_id: str) -> ScenarioRun | None:
        return self.runs.get(run_id)

    async def unload(self, run_id: str) -> ScenarioRun | None:
        run = self.runs.pop(run_id, None)
        if run is not None:
            await run.stop()
        return run

    def on_start(self, scenarios: Sequence[LoadedScenario], announce: Callable[[str], None] = print) -> None:
        """Load `scenarios` when the app starts (`started`), announcing each one."""
        self._startup += [(loaded, announce) for loaded in scenarios]

    async def started(self, app: Any) -> None:
        """Called by the app's lifespan once the emulator has started: load the scenarios given to `on_start`."""
        fleet = self.emu.fleet
        for loaded, announce in self._startup:
            try:
                if fleet is not None and await fleet.route(run_tenant(loaded)) is not None:
                    continue  # every worker is given the file: the tenant's owner loads it
                run = await self.start(loaded, app)
            except (ScenarioError, FleetUnavailable) as exc:
                announce(f"scenario {loaded.source}: {exc}")
                continue
            announce(
                f"  scenario {run.result.id} {loaded.model.name!r} ({loaded.source}): tenant {run.tenant}, "
                f"webhooks to {run.variables['webhook_url']}; progress at /_emulator/scenarios/{run.result.id}"
            )

    async def close(self) -> None:
        for run in list(self.runs.values()):
            await run.stop()
        if self.sink is not None:
            self.sink.close()
            self.sink = None


def attach(app: Any, scenarios: Sequence[LoadedScenario], announce: Callable[[str], None] = print) -> None:
    """Load `scenarios` into `app` once it has started (for `cxemu serve --scenario`)."""
    manager: ScenarioManager = app.state.scenarios
    manager.on_start(scenarios, announce)
