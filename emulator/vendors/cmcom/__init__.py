"""CM.com Business Messaging + Conversational (Bot) Router (cmcom.md §3).

The package follows `emulator/vendors/README.md`; this file is only the plugin.
"""

from __future__ import annotations

from emulator.core.plugin import BehaviourSpec, Secrets, VendorPlugin
from emulator.vendors.cmcom import actors, contract, control, delivery, events, http, routes, scenario, state, views
from emulator.vendors.cmcom.config import Behaviour, CmComConfig
from emulator.vendors.cmcom.constants import GATEWAY_PATH, PRODUCT_TOKEN_HEADER, ROUTER_PREFIX, SLUG

PLUGIN: VendorPlugin = VendorPlugin(
    slug=SLUG,
    title="CM.com Business Messaging + Conversational Router",
    state_type=state.CmComState,
    new_state=state.for_tenant,
    routes=routes.routes,
    base_paths=(GATEWAY_PATH, ROUTER_PREFIX),
    render_error=http.render_error,
    webhook_policy=delivery.policy,
    jobs=actors.jobs,
    outbound=events.outbound,
    on_event=actors.react,
    control=control.API,
    credentials=control.credentials,
    behaviour=BehaviourSpec(Behaviour),
    config_model=CmComConfig,
    contract=contract.contract,
    subjects=views.subjects,
    scenario=scenario.HOOKS,
    identify=http.identify,
    secrets=Secrets(headers=(PRODUCT_TOKEN_HEADER,), fields=("producttoken", "productToken", "ProductToken")),
    retained=state.RETAINED,
)
