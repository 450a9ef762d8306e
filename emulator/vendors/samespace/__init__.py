"""Samespace Call Flow API: validates call flows and really executes them on the clock (samespace.md §4).

The package follows `emulator/vendors/README.md`; this file is only the plugin.
"""

from __future__ import annotations

from emulator.core.plugin import Secrets, VendorPlugin
from emulator.vendors.samespace import contract, control, delivery, engine, events, http, routes, scenario, state, views
from emulator.vendors.samespace.config import SamespaceConfig
from emulator.vendors.samespace.constants import API_PREFIX, SLUG

PLUGIN: VendorPlugin = VendorPlugin(
    slug=SLUG,
    title="Samespace Call Flow",
    state_type=state.SamespaceState,
    new_state=state.new_state,
    routes=routes.routes,
    base_paths=(API_PREFIX,),
    render_error=http.render_error,
    webhook_policy=delivery.policy,
    jobs=engine.jobs,
    outbound=events.outbound,
    on_event=engine.react,
    control=control.API,
    credentials=control.credentials,
    behaviour=state.BEHAVIOUR,
    config_model=SamespaceConfig,
    contract=contract.contract,
    subjects=views.subjects,
    scenario=scenario.HOOKS,
    identify=http.identify,
    credential_params=http.CREDENTIAL_PARAMS,
    secrets=Secrets(state=("auth_token",), fields=("auth_token",)),
    retained=state.RETAINED,
)
