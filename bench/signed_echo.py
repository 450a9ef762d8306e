"""INTERIM stand-in for the signed delivery path, until the 8x8 vendor routes exist (see bench/README.md, TODO).

The test-only echo vendor with one change: its webhooks are signed like 8x8's, with the real
``emulator.vendors.eightbyeight.signing.webhook_headers`` (RS256, detached JWS, six ``x-8x8-*`` headers) in the
dispatcher's worker thread (``sign_in_thread=True``), which is how a signing vendor is meant to plug in.
Loaded by bench/run.py as ``--plugin bench.signed_echo:PLUGIN`` (cwd = repo root).
"""

from __future__ import annotations

from dataclasses import replace

from emulator.core.runtime import Emulator
from emulator.core.webhooks import AttemptContext, WebhookPolicy
from emulator.vendors.eightbyeight import signing
from tests.support.echo_vendor import PLUGIN as ECHO

KEY = signing.derive_rsa_key(b"cxemu-bench", 2048)
KID = signing.kid_for(KEY)


def rs256_headers(ctx: AttemptContext) -> dict[str, str]:
    return signing.webhook_headers(
        KEY,
        KID,
        ctx.body,
        tenant_id=ctx.tenant,
        customer_id="bench-customer",
        event_id=ctx.event_id,
        retry=ctx.attempt,
        transmission_time_ms=int(ctx.transmission_time * 1000),
    )


def _policy(emu: Emulator) -> WebhookPolicy:
    return WebhookPolicy(retry_ladder=(1.0, 10.0, 30.0, 90.0), headers=rs256_headers, sign_in_thread=True)


PLUGIN = replace(ECHO, title="Echo, RS256-signed webhooks (bench stand-in)", webhook_policy=_policy)
