"""How 8x8 delivers webhooks: `x-8x8-*` headers, the detached JWS signature, the retry ladder (§1.5).

One RSA key signs for the whole server (8x8 serves its JWKs by key id, unauthenticated, not per tenant);
it is derived from the seed (`emulator.core.keys`, whose one bounded cache holds it), so signatures are
byte-identical run after run. Deriving it costs a few hundred milliseconds, so `warm_up` does it in a worker
thread at start-up.
"""

from __future__ import annotations

import asyncio

from cryptography.hazmat.primitives.asymmetric import rsa

from emulator.core.keys import derive_rsa_key
from emulator.core.runtime import Emulator
from emulator.core.webhooks import AttemptContext, WebhookPolicy
from emulator.vendors.eightbyeight import signing
from emulator.vendors.eightbyeight.constants import SLUG

#: Retries after a failed attempt: 1, 10, 30 and 90 seconds (an [inf] default; 8x8 publishes none).
RETRY_LADDER = (1.0, 10.0, 30.0, 90.0)


class Signer:
    """The server's signing key and its `kid`, for one seed (the key itself lives in `core.keys`' cache)."""

    def __init__(self, seed: int) -> None:
        self.material = f"cxemu/eightbyeight/jwk/{seed}".encode()
        self._kid = ""

    def key(self) -> rsa.RSAPrivateKey:
        return derive_rsa_key(self.material)

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
    return signing.plain_headers(
        str(ctx.profile.get("tenant_id", ctx.tenant)),
        str(ctx.profile.get("customer_id", "")),
        ctx.event_id,
        ctx.attempt,
        round(ctx.transmission_time * 1000),
    )


def signer_for(emu: Emulator) -> Signer:
    """The signer of this server's seed (emulators with the same seed share its key through `core.keys`)."""
    return Signer(emu.store.seed)


def policy(emu: Emulator) -> WebhookPolicy:
    if emu.vendor_config(SLUG).signing:
        return WebhookPolicy(retry_ladder=RETRY_LADDER, headers=signer_for(emu).headers, sign_in_thread=True)
    return WebhookPolicy(retry_ladder=RETRY_LADDER, headers=unsigned_headers)


async def warm_up(emu: Emulator) -> None:
    """At start: make the signing key before the first webhook needs it (when signing is on)."""
    if emu.vendor_config(SLUG).signing:
        await signer_for(emu).warm_up()
