"""8x8 Contact Center Chat Gateway v1 — the reference vendor package (eightbyeight.md).

The package's files and their roles are in `emulator/vendors/README.md`; this module only declares the plugin.
"""

from __future__ import annotations

from emulator.core.plugin import Secrets, VendorPlugin
from emulator.vendors.eightbyeight import (
    actors,
    contract,
    control,
    delivery,
    events,
    http,
    routes,
    scenario,
    state,
    views,
)
from emulator.vendors.eightbyeight.config import BEHAVIOUR, EightByEightConfig
from emulator.vendors.eightbyeight.constants import (
    API_KEY_HEADER,
    API_PREFIX,
    CARD_ACTION_PREFIX,
    COMPANION_PATHS,
    SLUG,
)

PLUGIN: VendorPlugin = VendorPlugin(
    slug=SLUG,
    title="8x8 Chat Gateway v1",
    state_type=state.EightByEightState,
    new_state=state.tenant_state,
    routes=routes.routes,
    base_paths=(API_PREFIX, CARD_ACTION_PREFIX, *COMPANION_PATHS),
    render_error=http.render_error,
    webhook_policy=delivery.policy,
    jobs=actors.jobs,
    outbound=events.outbound,
    on_event=actors.react,
    control=control.API,
    credentials=control.credentials,
    behaviour=BEHAVIOUR,
    config_model=EightByEightConfig,
    on_start=delivery.warm_up,
    contract=contract.contract,
    subjects=views.subjects,
    scenario=scenario.HOOKS,
    identify=http.identify,
    secrets=Secrets(state=("oauth_tokens",), headers=(API_KEY_HEADER,), fields=("access_token",)),
    retained=state.RETAINED,
)
