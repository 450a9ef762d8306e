"""How Samespace callbacks are delivered [inf]: nothing public describes them (samespace.md §4.3), so a failed
callback is retried at 1, 10 and 30 seconds, then the delivery fails. Any 2xx counts as received (the
kernel's default), and events are always POSTed, whatever `publish.method` says (events.py)."""

from __future__ import annotations

from emulator.core.runtime import Emulator
from emulator.core.signatures import unsigned
from emulator.core.webhooks import WebhookPolicy

RETRY_LADDER = (1.0, 10.0, 30.0)
UNSIGNED = unsigned(
    "Samespace publishes nothing about authenticating its callbacks (samespace.md §4.3), so cxemu sends them "
    "unsigned: a receiver can rely only on the callback URL it gave in `publish`"
)


def policy(emu: Emulator) -> WebhookPolicy:
    return WebhookPolicy(retry_ladder=RETRY_LADDER, signature=UNSIGNED)
