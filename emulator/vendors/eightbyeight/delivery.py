"""How 8x8 delivers webhooks: `x-8x8-*` headers, the detached JWS signature, the retry ladder (§1.5).

One RSA key signs for the whole server (8x8 serves its JWKs by key id, unauthenticated, not per tenant);
it is derived from the seed, so signatures are byte-identical run after run. Deriving it costs a few
hundred milliseconds, so `warm_up` does it in a worker thread at start-up.
"""

from __future__ import annotations

import asyncio
import threading

from cryptography.hazmat.primitives.asymmetric import rsa

from emulator.core.runtime import Emulator
from emulator.core.webhooks import AttemptContext, WebhookPolicy
from emulator.vendors.eightbyeight import signing
from emulator.vendors.eightbyeight.constants import (
    WEBHOOK_CUSTOMER_HEADER,
    WEBHOOK_EVENT_ID_HEADER,
    WEBHOOK_RETRY_HEADER,
    WEBHOOK_TENANT_HEADER,
    WEBHOOK_TRANSMISSION_TIME_HEADER,
)

#: Retries after a failed attempt: 1, 10, 30 and 90 seconds (an [inf] default; 8x8 publishes none).
RETRY_LADDER = (1.0, 10.0, 30.0, 90.0)


class Signer:
    """The server's signing key, derived from the seed on first use."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._lock = threading.Lock()
        self._key: rsa.RSAPrivateKey | None = None
        self._kid = ""

    def _load(self) -> tuple[rsa.RSAPrivateKey, str]:
        with self._lock:
            if self._key is None:
                self._key = signing.derive_rsa_key(f"cxemu/eightbyeight/jwk/{self.seed}".encode())
                self._kid = signing.kid_for(self._key)
            return self._key, self._kid

    @property
    def kid(self) -> str:
        return self._load()[1]

    def jwk(self) -> dict[str, str]:
        key, kid = self._load()
        return signing.public_jwk(key, kid)

    async def warm_up(self) -> None:
        await asyncio.to_thread(self._load)

    def headers(self, ctx: AttemptContext) -> dict[str, str]:
        key, kid = self._load()
        return signing.webhook_headers(
            key,
            kid,
            ctx.body,
            tenant_id=str(ctx.profile.get("tenant_id", ctx.tenant)),
            customer_id=str(ctx.profile.get("customer_id", "")),
            event_id=ctx.event_id,
            retry=ctx.attempt,
            transmission_time_ms=round(ctx.transmission_time * 1000),
        )


def unsigned_headers(ctx: AttemptContext) -> dict[str, str]:
    return {
        WEBHOOK_TENANT_HEADER: str(ctx.profile.get("tenant_id", ctx.tenant)),
        WEBHOOK_CUSTOMER_HEADER: str(ctx.profile.get("customer_id", "")),
        WEBHOOK_EVENT_ID_HEADER: ctx.event_id,
        WEBHOOK_TRANSMISSION_TIME_HEADER: str(round(ctx.transmission_time * 1000)),
        WEBHOOK_RETRY_HEADER: str(ctx.attempt),
    }


_SIGNERS: dict[int, Signer] = {}


def signer_for(emu: Emulator) -> Signer:
    """The signer of this server's seed (shared by emulators with the same seed, e.g. in tests)."""
    seed = emu.store.seed
    if seed not in _SIGNERS:
        _SIGNERS[seed] = Signer(seed)
    return _SIGNERS[seed]


def policy(emu: Emulator) -> WebhookPolicy:
    sign = emu.vendor_config("eightbyeight").signing
    if sign:
        return WebhookPolicy(retry_ladder=RETRY_LADDER, headers=signer_for(emu).headers, sign_in_thread=True)
    return WebhookPolicy(retry_ladder=RETRY_LADDER, headers=unsigned_headers)
