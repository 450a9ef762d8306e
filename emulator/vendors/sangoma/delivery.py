"""How Chatwoot delivers Digital Interactions webhooks (sangoma.md §2.4 "Delivery").

POST with `Content-Type`/`Accept: application/json`, a 5 s timeout and, as in Chatwoot v4.10, no retries
(a ladder is configurable). When a delivery of `message_created`/`message_updated` fails for good:

- to an agent bot, while its conversation is `pending`: Chatwoot opens the conversation with an activity
  message (`bot_failure_opens`);
- to an API inbox: the message becomes `failed`, the error in `content_attributes.external_error`, and
  `message_updated` follows (`api_inbox_failure_fails_message`).

With `signing` on (Chatwoot v4.11+), each request also carries `X-Chatwoot-Timestamp` (unix seconds),
`X-Chatwoot-Delivery` (the event id, the same on every retry) and `X-Chatwoot-Signature: sha256=<hex
HMAC-SHA256 of "{timestamp}.{body}" keyed by the receiver's secret>` (an account webhook's, an agent bot's or
an API inbox's, each shown by the control plane's tenant view); the exact signed-string format is not quoted
in Chatwoot's PR, `"{timestamp}.{body}"` is the likely one [inf]. `check` is how a receiver verifies one (for
`GET /_emulator/deliveries/{id}/signature`).
"""

from __future__ import annotations

import hashlib
import hmac
from http import HTTPStatus

from emulator.core.delivery import Attempt
from emulator.core.runtime import Emulator
from emulator.core.signatures import SignatureOut, header, unsigned
from emulator.core.webhooks import AttemptContext, Delivery, WebhookPolicy
from emulator.vendors.sangoma.config import SangomaConfig
from emulator.vendors.sangoma.constants import DELIVERY_HEADER, SIGNATURE_HEADER, SLUG, TIMESTAMP_HEADER
from emulator.vendors.sangoma.events import ACCOUNT, API_INBOX, BOT

BOT_FAILED = f"{SLUG}.bot.delivery_failed"
MESSAGE_FAILED = f"{SLUG}.api_inbox.delivery_failed"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def plain_headers(ctx: AttemptContext) -> dict[str, str]:
    return {"accept": "application/json"}


def signed_headers(ctx: AttemptContext) -> dict[str, str]:
    headers = plain_headers(ctx)
    secret = str(ctx.profile.get("secret") or "")
    timestamp = int(ctx.transmission_time)
    headers[TIMESTAMP_HEADER] = str(timestamp)
    headers[DELIVERY_HEADER] = ctx.event_id
    headers[SIGNATURE_HEADER] = signature(secret, timestamp, ctx.body)
    return headers


SCHEME = "hmac-sha256"
HOW = (
    f'{SIGNATURE_HEADER} is "sha256=" and the hex HMAC-SHA256 of "{{{TIMESTAMP_HEADER}}}.{{raw body}}" keyed by the '
    "receiver's webhook secret (§2.4; the signed-string format is an [inf] default)"
)
SECRET_OF = {
    ACCOUNT: "the account webhook's secret",
    BOT: "the agent bot's secret",
    API_INBOX: "the API inbox's secret",
}
UNSIGNED = unsigned("signing is off (vendors.sangoma.signing: false), as in Chatwoot before v4.11: nothing is signed")


def check(d: Delivery, a: Attempt | None, base: str) -> SignatureOut:
    """How a receiver verifies a signed Chatwoot webhook: the HMAC of the timestamp header and the body, keyed by
    the secret of the receiver it went to, compared in constant time with the signature header as sent."""
    role = str(d.profile.get("role") or "")
    key = {"secret": f"{SECRET_OF.get(role, 'the webhook secret')} (the tenant's view in the control plane)"}
    out = SignatureOut(scheme=SCHEME, attempt=None, headers={}, signed=None, key=key, verified=None, detail=HOW)
    if a is None:
        out.detail = f"no attempt was sent yet; {HOW}"
        return out
    names = (TIMESTAMP_HEADER, DELIVERY_HEADER, SIGNATURE_HEADER)
    out.attempt = a.n
    out.headers = {name: value for name in names if (value := header(a.headers, name)) is not None}
    timestamp, sent = out.headers.get(TIMESTAMP_HEADER), out.headers.get(SIGNATURE_HEADER)
    if timestamp is None or sent is None:
        out.verified, out.detail = False, f"attempt {a.n} lacks {TIMESTAMP_HEADER} or {SIGNATURE_HEADER}; {HOW}"
        return out
    signed = timestamp.encode() + b"." + d.body
    out.signed = signed.decode(errors="replace")
    secret = str(d.profile.get("secret") or "").encode()
    expected = "sha256=" + hmac.new(secret, signed, hashlib.sha256).hexdigest()
    out.verified = hmac.compare_digest(expected.encode(), sent.encode())
    out.detail = f"{'verified' if out.verified else 'does NOT verify'} with {key['secret']}; {HOW}"
    return out


def _error_text(d: Delivery) -> str:
    """What Chatwoot's HTTP client says about a failed delivery (RestClient: "500 Internal Server Error")."""
    last = d.attempts[-1] if d.attempts else None
    if last is not None and last.status is not None:
        try:
            return f"{last.status} {HTTPStatus(last.status).phrase}"
        except ValueError:
            return str(last.status)
    return (last.error if last is not None else None) or "delivery failed"


def policy(emu: Emulator) -> WebhookPolicy:
    cfg: SangomaConfig = emu.vendor_config(SLUG)

    def failed(d: Delivery) -> None:
        """§2.4: a failed agent-bot delivery of a message event opens the bot's pending conversation; a failed
        API-inbox delivery of one marks the message `failed`."""
        conversation = d.profile.get("conversation")
        if d.event_type not in ("message_created", "message_updated") or not conversation:
            return
        role = d.profile.get("role")
        if role == BOT and cfg.bot_failure_opens:
            args: dict[str, object] = {"conv": int(conversation)}
            emu.scheduler.schedule_job(0.0, BOT_FAILED, args, vendor=d.vendor, tenant=d.tenant)
        elif role == API_INBOX and cfg.api_inbox_failure_fails_message:
            payload = d.payload()
            message = payload.get("id") if isinstance(payload, dict) else None
            if isinstance(message, int):
                args = {"conv": int(conversation), "message": message, "error": _error_text(d)}
                emu.scheduler.schedule_job(0.0, MESSAGE_FAILED, args, vendor=d.vendor, tenant=d.tenant)

    return WebhookPolicy(
        retry_ladder=tuple(cfg.retry_ladder),
        headers=signed_headers if cfg.signing else plain_headers,
        signature=check if cfg.signing else UNSIGNED,
        timeout=cfg.webhook_timeout,
        on_failed=failed,
    )
