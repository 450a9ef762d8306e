"""CM.com Business Messaging + Conversational (Bot) Router (cmcom.md §3).

The package follows `emulator/vendors/README.md`; this file is only the plugin.
"""

from __future__ import annotations

from typing import Any

from emulator.core.plugin import VendorPlugin
from emulator.vendors.cmcom import actors, control, delivery, events, http, routes, scenario, state
from emulator.vendors.cmcom.config import CmComConfig
from emulator.vendors.cmcom.constants import GATEWAY_PATH, ROUTER_PREFIX


def _contract() -> dict[str, Any]:
    """Imported when asked for, so serving requests never loads the contract machinery."""
    from emulator.vendors.cmcom.contract import contract

    return contract()


PLUGIN: VendorPlugin = VendorPlugin(
    slug=http.SLUG,
    title="CM.com Business Messaging + Conversational Router",
    state_type=state.CmComState,
    new_state=http.new_state,
    routes=lambda emu: routes.routes(emu, PLUGIN),
    base_paths=(GATEWAY_PATH, ROUTER_PREFIX),
    render_error=http.render_error,
    webhook_policy=delivery.policy,
    jobs=actors.jobs,
    outbound=events.outbound,
    on_event=actors.react,
    control_routes=control.control_routes,
    provision=http.provision,
    config_model=CmComConfig,
    contract=_contract,
    scenario=scenario.HOOKS,
)
