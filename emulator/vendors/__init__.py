"""The vendors cxemu emulates. Each is a package with the same file names; `eightbyeight` is the reference."""

from __future__ import annotations

from emulator.core.plugin import VendorPlugin
from emulator.vendors import cmcom, eightbyeight, samespace, sangoma

VENDORS: tuple[VendorPlugin, ...] = (eightbyeight.PLUGIN, sangoma.PLUGIN, cmcom.PLUGIN, samespace.PLUGIN)
