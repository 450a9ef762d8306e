"""Sangoma CX: OAuth client credentials, voice calls, and Digital Interactions behaving as Chatwoot (sangoma.md)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from emulator.core.ids import TenantIds
from emulator.core.plugin import VendorPlugin
from emulator.core.runtime import Emulator
from emulator.vendors.sangoma import actors, control, delivery, events, http, routes, scenario, state
from emulator.vendors.sangoma.auth import new_secret
from emulator.vendors.sangoma.config import SangomaConfig
from emulator.vendors.sangoma.constants import API_PREFIX, DI, OAUTH_PREFIX, SLUG, TOKEN_PATH


def _new_state(emu: Emulator, tenant: str, ids: TenantIds) -> BaseModel:
    cfg: SangomaConfig = emu.vendor_config(SLUG)
    fresh = state.new_state(tenant, ids, cfg.tenants.get(tenant), cfg, emu.clock.now())
    fresh.provisioned = tenant in cfg.tenants
    fresh.tenant_domain_open = emu.settings.auth == "open" and not fresh.provisioned
    return fresh


def credentials(s: state.SangomaState) -> dict[str, Any]:
    """What a client needs to talk to this tenant (also the scenario variables)."""
    return {
        "client_id": s.client_id,
        "client_secret": s.client_secret,
        "tenant_domain": s.tenant_domain,
        "scopes": list(s.allowed_scopes),
        "token_url": TOKEN_PATH,
        "api_base": API_PREFIX,
        "di_base": DI,
        "agents": [a.name for a in s.agents.values()],
        "queues": list(s.queues),
        "inboxes": {i.name: i.id for i in s.inboxes.values()},
        "web_widget_inbox_id": next((i.id for i in s.inboxes.values() if i.channel_type == "Channel::WebWidget"), None),
    }


async def _provision(emu: Emulator, tenant: str) -> dict[str, Any]:
    async with emu.store.tenant(SLUG, tenant) as tx:
        s: state.SangomaState = tx.state
        s.provisioned = True
        s.tenant_domain_open = False  # the credentials name the domain: it is the tenant's from now on
        if s.client_secret is None:
            s.client_secret = new_secret(tx.ids)
        return credentials(s)


def _contract() -> dict[str, Any]:
    from emulator.vendors.sangoma.contract import contract

    return contract()


PLUGIN: VendorPlugin = VendorPlugin(
    slug=SLUG,
    title="Sangoma CX",
    state_type=state.SangomaState,
    new_state=_new_state,
    routes=lambda emu: routes.routes(emu, PLUGIN),
    base_paths=(API_PREFIX, OAUTH_PREFIX),
    render_error=http.render_error,
    webhook_policy=delivery.policy,
    jobs=actors.jobs,
    outbound=events.outbound,
    on_event=actors.react,
    control_routes=control.control_routes,
    provision=_provision,
    config_model=SangomaConfig,
    contract=_contract,
    scenario=scenario.HOOKS,
)
