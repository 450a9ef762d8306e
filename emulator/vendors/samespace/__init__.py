"""Samespace Call Flow API: validates call flows and really executes them on the clock (samespace.md §4).

The package follows `emulator/vendors/README.md`; this file is only the plugin.
"""

from __future__ import annotations

from typing import Any

from emulator.core.plugin import VendorPlugin
from emulator.vendors.samespace import control, delivery, engine, events, http, routes, scenario, state
from emulator.vendors.samespace.config import SamespaceConfig
from emulator.vendors.samespace.constants import API_PREFIX, SLUG


def _contract() -> dict[str, Any]:
    """Imported when asked for, so serving requests never loads the contract machinery."""
    from emulator.vendors.samespace.contract import contract

    return contract()


PLUGIN: VendorPlugin = VendorPlugin(
    slug=SLUG,
    title="Samespace Call Flow",
    state_type=state.SamespaceState,
    new_state=http.new_state,
    routes=lambda emu: routes.routes(emu, PLUGIN),
    base_paths=(API_PREFIX,),
    render_error=http.render_error,
    webhook_policy=delivery.policy,
    jobs=engine.jobs,
    outbound=events.outbound,
    on_event=engine.react,
    control_routes=control.control_routes,
    provision=http.provision,
    config_model=SamespaceConfig,
    contract=_contract,
    scenario=scenario.HOOKS,
)
