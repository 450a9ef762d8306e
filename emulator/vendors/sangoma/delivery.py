"""How Chatwoot delivers Digital Interactions webhooks (sangoma.md §2.4 "Delivery").

POST with `Content-Type`/`Accept: application/json`, a 5 s timeout and, as in Chatwoot v4.10, no retries
(a ladder is configurable). When a delivery of `message_created`/`message_updated` to an agent bot fails
for good while its conversation is `pending`, Chatwoot opens the conversation with an activity message
(`bot_failure_opens`). With `signing` on (Chatwoot v4.11+), each request also carries
`X-Chatwoot-Timestamp` (unix seconds), `X-Chatwoot-Delivery` (the event id, the same on every retry) and
`X-Chatwoot-Signature: sha256=<hex HMAC-SHA256 of "{timestamp}.{body}" keyed by the webhook's secret>`; the
exact signed-string format is not quoted in Chatwoot's PR, `"{timestamp}.{body}"` is the likely one [inf].
"""

from __future__ import annotations

import hashlib
import hmac

from emulator.core.runtime import Emulator
from emulator.core.webhooks import AttemptContext, Delivery, WebhookPolicy
from emulator.vendors.sangoma.config import SangomaConfig
from emulator.vendors.sangoma.constants import DELIVERY_HEADER, SIGNATURE_HEADER, SLUG, TIMESTAMP_HEADER

BOT_FAILED = f"{SLUG}.bot.delivery_failed"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def plain_headers(ctx: AttemptContext) -> dict[str, str]:
    return {"accept": "application/json"}


def signed_headers(ctx: AttemptContext) -> dict[str, str]:
    headers = plain_headers(ctx)
    secret = str(ctx.profile.get("secret") or "")
    if not secret:  # an API inbox's webhook_url has no secret in this emulation
        return headers
    timestamp = int(ctx.transmission_time)
    headers[TIMESTAMP_HEADER] = str(timestamp)
    headers[DELIVERY_HEADER] = ctx.event_id
    headers[SIGNATURE_HEADER] = signature(secret, timestamp, ctx.body)
    return headers


def policy(emu: Emulator) -> WebhookPolicy:
    cfg: SangomaConfig = emu.vendor_config(SLUG)

    def failed(d: Delivery) -> None:
        """§2.4: a failed agent-bot delivery of a message event opens the bot's pending conversation."""
        if d.profile.get("bot") and d.event_type in ("message_created", "message_updated"):
            display = d.subject.removeprefix("conversation:")
            if display.isdigit():
                args = {"conv": int(display)}
                emu.scheduler.schedule_job(0.0, BOT_FAILED, args, vendor=d.vendor, tenant=d.tenant)

    return WebhookPolicy(
        retry_ladder=tuple(cfg.retry_ladder),
        headers=signed_headers if cfg.signing else plain_headers,
        timeout=cfg.webhook_timeout,
        on_failed=failed if cfg.bot_failure_opens else None,
    )
