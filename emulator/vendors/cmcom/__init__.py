"""CM.com Business Messaging + Conversational (Bot) Router (cmcom.md §3)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from emulator.core.ids import TenantIds
from emulator.core.plugin import VendorPlugin
from emulator.core.runtime import Emulator
from emulator.vendors.cmcom import actors, control, delivery, events, http, routes, scenario, state
from emulator.vendors.cmcom.config import CmComConfig
from emulator.vendors.cmcom.constants import BMPROXY_PATH, GATEWAY_PATH, ROUTER_PREFIX
from emulator.vendors.cmcom.numbers import product_token


def _new_state(emu: Emulator, tenant: str, ids: TenantIds) -> BaseModel:
    cfg: CmComConfig = emu.vendor_config(http.SLUG)
    fresh = state.new_state(tenant, ids, cfg, cfg.tenants.get(tenant), emu.settings.webhook_url)
    fresh.provisioned = tenant in cfg.tenants
    return fresh


def credentials(s: state.CmComState, token: str) -> dict[str, Any]:
    return {
        "productToken": token,
        "botRouterAccountId": s.account_id,
        "gateway": GATEWAY_PATH,
        "bmproxy": BMPROXY_PATH.format(account_id=s.account_id),
        "businessNumber": s.business_number,
        "channels": list(s.channels),
        "partnerComponent": s.partner,
        "webhooks": {
            "bot": s.bot_webhook,
            "status": s.status_webhook,
            "customerContact": s.customer_contact_webhook,
            "notifications": s.notification_webhook or s.bot_webhook,
            "mo": s.mo_webhook,
        },
    }


async def _provision(emu: Emulator, tenant: str) -> dict[str, Any]:
    cfg: CmComConfig = emu.vendor_config(http.SLUG)
    configured = cfg.tenants.get(tenant)
    token = configured.product_tokens[0] if configured and configured.product_tokens else product_token(tenant)
    async with emu.store.tenant(http.SLUG, tenant) as tx:
        tx.state.provisioned = True
        return credentials(tx.state, token)


def _contract() -> dict[str, Any]:
    from emulator.vendors.cmcom.contract import contract

    return contract()


PLUGIN: VendorPlugin = VendorPlugin(
    slug=http.SLUG,
    title="CM.com Business Messaging + Conversational Router",
    state_type=state.CmComState,
    new_state=_new_state,
    routes=lambda emu: routes.routes(emu, PLUGIN),
    base_paths=(GATEWAY_PATH, ROUTER_PREFIX),
    render_error=http.render_error,
    webhook_policy=delivery.policy,
    jobs=actors.jobs,
    outbound=events.outbound,
    on_event=actors.react,
    control_routes=control.control_routes,
    provision=_provision,
    config_model=CmComConfig,
    contract=_contract,
    scenario=scenario.HOOKS,
)
