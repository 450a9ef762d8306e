"""CM.com Business Messaging + Conversational Router (placeholder, being built; see vendors/cmcom.md)."""

from __future__ import annotations

from pydantic import BaseModel

from emulator.core.ids import TenantIds
from emulator.core.plugin import VendorPlugin
from emulator.core.runtime import Emulator

SLUG = "cmcom"


class _State(BaseModel):
    tenant: str


def _new_state(emu: Emulator, tenant: str, ids: TenantIds) -> BaseModel:
    return _State(tenant=tenant)


PLUGIN: VendorPlugin = VendorPlugin(
    slug=SLUG,
    title="CM.com Business Messaging + Conversational Router",
    state_type=_State,
    new_state=_new_state,
    routes=lambda emu: [],
)
