"""Sangoma CX: OAuth client credentials, voice calls, and Digital Interactions behaving as Chatwoot (sangoma.md).

The package's files and their roles are in `emulator/vendors/README.md`; this module only declares the plugin.
"""

from __future__ import annotations

from emulator.core.plugin import Secrets, VendorPlugin
from emulator.vendors.sangoma import (
    actors,
    auth,
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
from emulator.vendors.sangoma.config import BEHAVIOUR, SangomaConfig
from emulator.vendors.sangoma.constants import API_PREFIX, OAUTH_PREFIX, SLUG

PLUGIN: VendorPlugin = VendorPlugin(
    slug=SLUG,
    title="Sangoma CX",
    state_type=state.SangomaState,
    new_state=state.tenant_state,
    routes=routes.routes,
    base_paths=(API_PREFIX, OAUTH_PREFIX),
    render_error=http.render_error,
    webhook_policy=delivery.policy,
    jobs=actors.jobs,
    outbound=events.outbound,
    on_event=actors.react,
    control=control.API,
    credentials=control.credentials,
    behaviour=BEHAVIOUR,
    config_model=SangomaConfig,
    contract=contract.contract,
    subjects=views.subjects,
    scenario=scenario.HOOKS,
    identify=auth.identify,
    secrets=Secrets(
        state=(
            "client_secret",
            "tokens",
            "inboxes.*.secret",
            "agent_bots.*.access_token",
            "agent_bots.*.secret",
            "webhooks.*.secret",
            "contact_inboxes.*.pubsub_token",
        ),
        fields=("client_secret", "access_token", "api_access_token"),
        headers=("api_access_token",),
        delivery=("secret",),
    ),
    retained=state.RETAINED,
)
