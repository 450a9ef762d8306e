"""How a receiver verifies a webhook: `GET /_emulator/deliveries/{id}/signature`, and each vendor's own check.

- `SignatureOut` is the answer: the scheme, the signature headers as the last sent attempt carried them, the
  exact text the signature covers, what the receiver verifies it with (a JWK URL and key id, or which secret),
  and `verified`, cxemu's own check of that attempt (None when the vendor does not sign).
- A vendor's `WebhookPolicy.signature` hook (`SignatureCheck`) builds it for one delivery and the last attempt
  that was sent (None before any was). The check must be independent of the signing code path: it starts from
  the headers as sent and the key as a receiver gets it (8x8: the public JWK the server serves), never from
  what the signer kept. Without a hook a vendor does not sign (`unsigned`).
- `header(headers, name)` reads a header case-insensitively, as a receiver's framework does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, Field

from emulator.core.delivery import Attempt, Delivery

NONE = "none"
"""The scheme of a vendor that does not sign."""


class SignatureOut(BaseModel):
    scheme: str = Field(description="how it is signed, e.g. `jws-detached-rs256`, `hmac-sha256`, or `none`")
    attempt: int | None = Field(description="the attempt checked (`n`): the last one sent; null before any was")
    headers: dict[str, str] = Field(description="the signature headers as that attempt sent them")
    signed: str | None = Field(description="the exact text the signature covers (null when unsigned or not sent)")
    key: dict[str, Any] = Field(description="what the receiver verifies with (a JWK URL and key id, which secret)")
    verified: bool | None = Field(description="cxemu's own check of that attempt; null when the vendor does not sign")
    detail: str


SignatureCheck = Callable[[Delivery, Attempt | None, str], SignatureOut]
"""`check(delivery, last sent attempt or None, server base URL)`: how that delivery is verified."""


def header(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header `name`, whatever its case."""
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


class Unsigned:
    """The check of a vendor that does not sign. `why` says what, if anything, a receiver can rely on: the one
    wording every tool shows (the signature view, `cxemu sign` / `verify-signature`, the verify battery)."""

    __slots__ = ("why",)

    def __init__(self, why: str) -> None:
        self.why = why

    def __call__(self, d: Delivery, a: Attempt | None, base: str) -> SignatureOut:
        return SignatureOut(
            scheme=NONE,
            attempt=None if a is None else a.n,
            headers={},
            signed=None,
            key={},
            verified=None,
            detail=self.why,
        )


def unsigned(why: str) -> Unsigned:
    """The check of a vendor that does not sign (`Unsigned`)."""
    return Unsigned(why)


def unsigned_why(check: SignatureCheck) -> str | None:
    """Why a vendor's webhooks carry no signature when `check` is an `Unsigned`; None when they are signed."""
    return check.why if isinstance(check, Unsigned) else None


NOT_SIGNED = unsigned("this vendor's webhooks are not signed")
