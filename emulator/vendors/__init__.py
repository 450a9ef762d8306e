"""The vendors cxemu emulates. Each is a package with the same file names; `eightbyeight` is the reference."""

from __future__ import annotations

from emulator.core.plugin import VendorPlugin
from emulator.vendors import eightbyeight

VENDORS: tuple[VendorPlugin, ...] = (eightbyeight.PLUGIN,)
