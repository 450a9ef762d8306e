"""How 8x8 delivers webhooks: `x-8x8-*` headers, the detached JWS signature, the retry ladder (§1.5), and how a
receiver verifies one (`check`, for `GET /_emulator/deliveries/{id}/signature`).

One RSA key signs for the whole server (8x8 serves its JWKs by key id, unauthenticated, not per tenant);
it is derived from the seed (`emulator.core.keys`, whose one bounded cache holds it), so signatures are
byte-identical run after run. Deriving it costs a few hundred milliseconds, so `warm_up` does it in a worker
thread at start-up.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from emulator.core.delivery import Attempt, Delivery
from emulator.core.keys import derive_rsa_key
from emulator.core.runtime import Emulator
from emulator.core.signatures import SignatureCheck, SignatureOut, header, unsigned
from emulator.core.web import orjson_or
from emulator.core.webhooks import AttemptContext, WebhookPolicy, compact_json
from emulator.vendors.eightbyeight import signing
from emulator.vendors.eightbyeight.constants import (
    SLUG,
    WEBHOOK_CUSTOMER_HEADER,
    WEBHOOK_EVENT_ID_HEADER,
    WEBHOOK_RETRY_HEADER,
    WEBHOOK_SIGNATURE_HEADER,
    WEBHOOK_TENANT_HEADER,
    WEBHOOK_TRANSMISSION_TIME_HEADER,
)

#: Retries after a failed attempt: 1, 10, 30 and 90 seconds (an [inf] default; 8x8 publishes none).
RETRY_LADDER = (1.0, 10.0, 30.0, 90.0)


def body_bytes(payload: Any) -> bytes:
    """`compact_json(payload)` (the kernel's webhook body), byte for byte, written by orjson when its bytes are
    certainly the same (`core.web.orjson_or`; a body holding `null`, a NaN or a float orjson writes otherwise goes
    to `compact_json`). A MESSAGE body (one per message) is strings, booleans and lists: one orjson call."""
    return orjson_or(payload, compact_json)


class Signer:
    """The server's signing key and its `kid`, for one seed (derived through `core.keys`' cache)."""

    def __init__(self, seed: int) -> None:
        self.material = f"cxemu/eightbyeight/jwk/{seed}".encode()
        self._kid = ""
        self._key: rsa.RSAPrivateKey | None = None

    def key(self) -> rsa.RSAPrivateKey:
        """The key object, kept once derived (the same object `core.keys` caches; every delivery signs with it,
        so the cache's lock and bookkeeping are not paid per signature)."""
        if self._key is None:
            self._key = derive_rsa_key(self.material)
        return self._key

    @property
    def kid(self) -> str:
        if not self._kid:
            self._kid = signing.kid_for(self.key())
        return self._kid

    def jwk(self) -> dict[str, str]:
        return signing.public_jwk(self.key(), self.kid)

    async def warm_up(self) -> None:
        await asyncio.to_thread(lambda: self.kid)

    def headers(self, ctx: AttemptContext) -> dict[str, str]:
        return signing.webhook_headers(
            self.key(),
            self.kid,
            ctx.body,
            tenant_id=str(ctx.profile.get("tenant_id", ctx.tenant)),
            customer_id=str(ctx.profile.get("customer_id", "")),
            event_id=ctx.event_id,
            retry=ctx.attempt,
            transmission_time_ms=round(ctx.transmission_time * 1000),
        )


def unsigned_headers(ctx: AttemptContext) -> dict[str, str]:
    """`signing.plain_headers` of the attempt, built here (one call less on every unsigned attempt)."""
    profile = ctx.profile
    return {
        WEBHOOK_TENANT_HEADER: str(profile.get("tenant_id", ctx.tenant)),
        WEBHOOK_CUSTOMER_HEADER: str(profile.get("customer_id", "")),
        WEBHOOK_EVENT_ID_HEADER: ctx.event_id,
        WEBHOOK_TRANSMISSION_TIME_HEADER: str(round(ctx.transmission_time * 1000)),
        WEBHOOK_RETRY_HEADER: str(ctx.attempt),
    }


SCHEME = "jws-detached-rs256"
SIGNED_HEADERS = (
    WEBHOOK_TENANT_HEADER,
    WEBHOOK_CUSTOMER_HEADER,
    WEBHOOK_EVENT_ID_HEADER,
    WEBHOOK_TRANSMISSION_TIME_HEADER,
    WEBHOOK_RETRY_HEADER,
    WEBHOOK_SIGNATURE_HEADER,
)
HOW = (
    "x-8x8-signature is a compact JWS with a detached, unencoded payload (RFC 7515 + RFC 7797): RS256 over "
    "ASCII(b64url(protected header)) '.' payload, the payload being the compact JSON "
    '{"checksum":<CRC-32 of the body>,"cid":<x-8x8-customer-id>,"eid":<x-8x8-event-id>,"retry":<x-8x8-retry>,'
    '"tid":<x-8x8-tenant-id>,"tt":<x-8x8-transmission-time>} rebuilt from the headers; the public key is the JWK '
    "of the header's kid (§1.5)"
)


def _public_key(jwk: dict[str, str]) -> rsa.RSAPublicKey:
    """The RSA key of a JWK, as a receiver builds it from `GET /chat-gateway/v1/jwk/{kid}/public`."""

    def number(text: str) -> int:
        return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")

    return rsa.RSAPublicNumbers(number(jwk["e"]), number(jwk["n"])).public_key()


def check(signer: Signer) -> SignatureCheck:
    """How a receiver verifies an 8x8 webhook, done as one would: the payload rebuilt from the body and the
    `x-8x8-*` headers as sent, the key from the public JWK this server serves for the header's `kid`."""

    def verify(d: Delivery, a: Attempt | None, base: str) -> SignatureOut:
        key = {
            "alg": signing.ALGORITHM,
            "kid": signer.kid,
            "jwk_url": f"{base}/chat-gateway/v1/jwk/{signer.kid}/public",
        }
        out = SignatureOut(scheme=SCHEME, attempt=None, headers={}, signed=None, key=key, verified=None, detail=HOW)
        if a is None:
            out.detail = f"no attempt was sent yet; {HOW}"
            return out
        sent = {name: value for name in SIGNED_HEADERS if (value := header(a.headers, name)) is not None}
        out.attempt, out.headers = a.n, sent
        jws = sent.get(WEBHOOK_SIGNATURE_HEADER)
        if jws is None:
            out.verified, out.detail = False, f"attempt {a.n} carries no {WEBHOOK_SIGNATURE_HEADER} header"
            return out
        try:
            payload = signing.signature_payload(
                d.body,
                sent[WEBHOOK_CUSTOMER_HEADER],
                sent[WEBHOOK_EVENT_ID_HEADER],
                int(sent[WEBHOOK_RETRY_HEADER]),
                sent[WEBHOOK_TENANT_HEADER],
                int(sent[WEBHOOK_TRANSMISSION_TIME_HEADER]),
            )
            kid = signing.protected_header(jws).get("kid")
        except (KeyError, ValueError, TypeError) as exc:
            out.verified, out.detail = False, f"the signed payload cannot be rebuilt from the headers ({exc}); {HOW}"
            return out
        out.signed = signing.signing_input(jws.split(".")[0], payload).decode()
        if kid != signer.kid:
            out.verified, out.detail = False, f"signed with key {kid!r}, which this server does not serve; {HOW}"
            return out
        out.verified = signing.verify_detached(_public_key(signer.jwk()), jws, payload, expected_kid=signer.kid)
        out.detail = f"{'verified' if out.verified else 'does NOT verify'} with the JWK of kid {kid}; {HOW}"
        return out

    return verify


UNSIGNED = unsigned("signing is off (vendors.eightbyeight.signing: false): only the plain x-8x8-* headers are sent")


def signer_for(emu: Emulator) -> Signer:
    """The signer of this server's seed (emulators with the same seed share its key through `core.keys`)."""
    return Signer(emu.store.seed)


def policy(emu: Emulator) -> WebhookPolicy:
    if emu.vendor_config(SLUG).signing:
        signer = signer_for(emu)
        return WebhookPolicy(
            retry_ladder=RETRY_LADDER,
            headers=signer.headers,
            sign_in_thread=True,
            signature=check(signer),
            serialize=body_bytes,
        )
    return WebhookPolicy(retry_ladder=RETRY_LADDER, headers=unsigned_headers, signature=UNSIGNED, serialize=body_bytes)


async def warm_up(emu: Emulator) -> None:
    """At start: make the signing key before the first webhook needs it (when signing is on)."""
    if emu.vendor_config(SLUG).signing:
        await signer_for(emu).warm_up()
