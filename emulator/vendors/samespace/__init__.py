"""Samespace Call Flow API: validates call flows and really executes them on the clock (samespace.md §4)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from emulator.core.ids import TenantIds, fmt_hex
from emulator.core.plugin import VendorPlugin
from emulator.core.runtime import Emulator
from emulator.vendors.samespace import control, engine, events, routes, scenario, state
from emulator.vendors.samespace.config import SamespaceConfig
from emulator.vendors.samespace.constants import API_PREFIX, CALL_PATH, SLUG
from emulator.vendors.samespace.errors import render_error


def _new_state(emu: Emulator, tenant: str, ids: TenantIds) -> BaseModel:
    cfg: SamespaceConfig = emu.vendor_config(SLUG)
    own = cfg.tenants.get(tenant)
    return state.SamespaceState(
        tenant=tenant,
        auth_token=own.auth_token if own else None,
        provisioned=own is not None,
        callback_url=(own.callback_url if own and own.callback_url else cfg.callback_url),
        http_overrides=dict(own.http_overrides if own and own.http_overrides is not None else cfg.http_overrides),
        behaviour=(own.behaviour if own and own.behaviour else cfg.behaviour).model_copy(),
        default_callee=cfg.default_callee.model_copy(),
        numbers={**cfg.numbers, **(own.numbers if own else {})},
    )


async def _provision(emu: Emulator, tenant: str) -> dict[str, Any]:
    async with emu.store.tenant(SLUG, tenant) as tx:
        s: state.SamespaceState = tx.state
        s.provisioned = True
        if s.auth_token is None:
            s.auth_token = tx.ids.new("auth_token", fmt_hex(32))
        return {
            "cloud_id": tenant,
            "auth_token": s.auth_token,
            "flow_url": f"{API_PREFIX}/call/flow",
            "metadata_url": CALL_PATH + "?cloud_id={cloud_id}&auth_token={auth_token}",
        }


def _contract() -> dict[str, Any]:
    from emulator.vendors.samespace.contract import contract

    return contract()


PLUGIN: VendorPlugin = VendorPlugin(
    slug=SLUG,
    title="Samespace Call Flow",
    state_type=state.SamespaceState,
    new_state=_new_state,
    routes=lambda emu: routes.routes(emu, PLUGIN),
    base_paths=(API_PREFIX,),
    render_error=render_error,
    webhook_policy=events.policy,
    jobs=engine.jobs,
    outbound=events.outbound,
    on_event=engine.react,
    control_routes=control.control_routes,
    provision=_provision,
    config_model=SamespaceConfig,
    contract=_contract,
    scenario=scenario.HOOKS,
)
