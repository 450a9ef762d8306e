"""Samespace Call Flow (placeholder: the package is being built; see ../shared/vendors/samespace.md)."""

from __future__ import annotations

from pydantic import BaseModel

from emulator.core.ids import TenantIds
from emulator.core.plugin import VendorPlugin
from emulator.core.runtime import Emulator

SLUG = "samespace"


class _State(BaseModel):
    tenant: str


def _new_state(emu: Emulator, tenant: str, ids: TenantIds) -> BaseModel:
    return _State(tenant=tenant)


PLUGIN: VendorPlugin = VendorPlugin(
    slug=SLUG,
    title="Samespace Call Flow",
    state_type=_State,
    new_state=_new_state,
    routes=lambda emu: [],
)
