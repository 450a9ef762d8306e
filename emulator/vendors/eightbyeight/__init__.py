"""8x8 Contact Center Chat Gateway v1 — the reference vendor package (eightbyeight.md)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from emulator.core.ids import TenantIds
from emulator.core.plugin import VendorPlugin
from emulator.core.runtime import Emulator
from emulator.core.sink import default_target
from emulator.vendors.eightbyeight import actors, control, delivery, events, http, routes, scenario, state
from emulator.vendors.eightbyeight.config import EightByEightConfig
from emulator.vendors.eightbyeight.constants import API_PREFIX, CARD_ACTION_PREFIX, SLUG


def _new_state(emu: Emulator, tenant: str, ids: TenantIds) -> BaseModel:
    cfg: EightByEightConfig = emu.vendor_config(SLUG)
    configured = tenant in cfg.tenants
    fresh = state.new_state(
        tenant,
        ids,
        cfg.tenants.get(tenant),
        cfg.behaviour,
        default_target(emu, SLUG, tenant),
        cfg.default_webhook,
        open_ids=emu.settings.auth == "open" and not configured,
    )
    fresh.provisioned = configured
    return fresh


async def _provision(emu: Emulator, tenant: str) -> dict[str, Any]:
    async with emu.store.tenant(SLUG, tenant) as tx:
        tx.state.provisioned = True
        s: state.EightByEightState = tx.state
        s.channel_open = s.queue_open = False  # the credentials name the channel and queues: they are the tenant's
        channel = next(iter(s.channels.values()), None)
        return {
            "apiKey": tenant,
            "tenantId": s.tenant_id,
            "customerId": s.customer_id,
            "channelId": channel.id if channel else None,
            "webhookId": channel.webHookId if channel else None,
            "queues": [q.id for q in s.queues.values()],
        }


def _contract() -> dict[str, Any]:
    from emulator.vendors.eightbyeight.contract import contract

    return contract()


async def _start(emu: Emulator) -> None:
    if emu.vendor_config(SLUG).signing:
        await delivery.signer_for(emu).warm_up()


PLUGIN: VendorPlugin = VendorPlugin(
    slug=SLUG,
    title="8x8 Chat Gateway v1",
    state_type=state.EightByEightState,
    new_state=_new_state,
    routes=lambda emu: routes.routes(emu, PLUGIN),
    base_paths=(API_PREFIX, CARD_ACTION_PREFIX),
    render_error=http.render_error,
    webhook_policy=delivery.policy,
    jobs=actors.jobs,
    outbound=events.outbound,
    on_event=actors.react,
    control_routes=control.control_routes,
    provision=_provision,
    config_model=EightByEightConfig,
    on_start=_start,
    contract=_contract,
    scenario=scenario.HOOKS,
)
