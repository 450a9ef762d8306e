"""How CM delivers webhooks (cmcom.md §3.2): JSON POST, only **200 OK** counts as received, anything else is
retried every 5 minutes for up to a month (MO; the router's webhooks the same [inf]). Both are configurable
(`retry_interval`, `retry_for`); status reports are documented to stop after 7 days, here they share the
MO ladder [inf]."""

from __future__ import annotations

from emulator.core.runtime import Emulator
from emulator.core.webhooks import WebhookPolicy
from emulator.vendors.cmcom.config import CmComConfig
from emulator.vendors.cmcom.constants import SLUG

SUCCESS = range(200, 201)


def policy(emu: Emulator) -> WebhookPolicy:
    cfg: CmComConfig = emu.vendor_config(SLUG)
    attempts = int(cfg.retry_for // cfg.retry_interval)
    return WebhookPolicy(retry_ladder=(cfg.retry_interval,) * attempts, success_statuses=SUCCESS)
