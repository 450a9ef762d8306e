"""8x8 webhook signing: deterministic RSA keys, JWK export and detached, unencoded JWS (RFC 7515 + RFC 7797).

8x8 signs every webhook POST with an ``x-8x8-signature`` header (see ``shared/vendors/eightbyeight.md`` §1.5):

* protected header, in this key order: ``{"b64":false,"crit":["b64"],"kid":"<kid>","alg":"RS256"}``;
* payload (detached, *not* base64url-encoded), keys in this order:
  ``{"checksum":<crc32 of body>,"cid":"...","eid":"...","retry":<n>,"tid":"...","tt":<epoch ms>}``,
  serialised compactly (no whitespace, non-ASCII characters emitted as raw UTF-8 like ``JSON.stringify``);
* signing input: ``ASCII(b64url(header)) || "." || payload`` (RFC 7797 §3), RS256;
* compact form: ``<b64url(header)>..<b64url(signature)>`` (empty payload part, RFC 7515 appendix F).

Determinism: the emulator must emit byte-identical webhooks for the same seed, so the signing key is derived from
seed material (``emulator.core.keys.derive_rsa_key``) instead of ``os.urandom``; RSASSA-PKCS1-v1_5 is itself
deterministic. Nothing in this module reads the clock or a random source or keeps state, so every function here is
safe to call from worker threads. The header names are ``constants.WEBHOOK_*_HEADER``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import zlib
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from emulator.vendors.eightbyeight.constants import (
    SIGNATURE_ALGORITHM,
    WEBHOOK_CUSTOMER_HEADER,
    WEBHOOK_EVENT_ID_HEADER,
    WEBHOOK_RETRY_HEADER,
    WEBHOOK_SIGNATURE_HEADER,
    WEBHOOK_TENANT_HEADER,
    WEBHOOK_TRANSMISSION_TIME_HEADER,
)

ALGORITHM: Final = SIGNATURE_ALGORITHM

_COMPACT: Final = (",", ":")
_B64URL_RE: Final = re.compile(r"[A-Za-z0-9_-]*")

# ---------------------------------------------------------------------------------------------------------------
# base64url helpers (RFC 7515 §2: no padding)
# ---------------------------------------------------------------------------------------------------------------


def _b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    """Strict base64url decoding: URL-safe alphabet only, no padding, no whitespace."""
    if not _B64URL_RE.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _uint_b64url(value: int) -> str:
    """RFC 7518 §6.3.1: unsigned big-endian, minimum number of octets."""
    return _b64url_encode(value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


# ---------------------------------------------------------------------------------------------------------------
# JWK
# ---------------------------------------------------------------------------------------------------------------


def _public_key(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> rsa.RSAPublicKey:
    return key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key


def kid_for(public_key: rsa.RSAPublicKey | rsa.RSAPrivateKey) -> str:
    """Stable key id: the first 16 bytes of the RFC 7638 JWK SHA-256 thumbprint, base64url (22 chars).

    16 bytes mirror the shape of real 8x8 key ids (e.g. ``EXaiWfZe20eSjklZ70074w``, a base64url 128-bit id).
    """
    numbers = _public_key(public_key).public_numbers()
    canonical = json.dumps(
        {"e": _uint_b64url(numbers.e), "kty": "RSA", "n": _uint_b64url(numbers.n)}, separators=_COMPACT
    )
    return _b64url_encode(hashlib.sha256(canonical.encode("ascii")).digest()[:16])


def public_jwk(key: rsa.RSAPrivateKey | rsa.RSAPublicKey, kid: str) -> dict[str, str]:
    """Body of ``GET /chat-gateway/v1/jwk/{kid}/public``: ``{"kty","e","kid","n"}`` in the OAS example's order."""
    numbers = _public_key(key).public_numbers()
    return {"kty": "RSA", "e": _uint_b64url(numbers.e), "kid": kid, "n": _uint_b64url(numbers.n)}


# ---------------------------------------------------------------------------------------------------------------
# Payload, signing, verification
# ---------------------------------------------------------------------------------------------------------------


def crc32_checksum(body: bytes) -> int:
    """CRC-32 (zlib / ISO-HDLC) of the raw request body, as an unsigned 32-bit integer."""
    return zlib.crc32(body) & 0xFFFFFFFF


def _check_str(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str")


def _check_uint(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int")
    if value < 0:
        raise ValueError(f"{name} must be >= 0")


def signature_payload(
    body: bytes, customer_id: str, event_id: str, retry: int, tenant_id: str, transmission_time_ms: int
) -> bytes:
    """The signed (detached) payload: compact JSON with keys checksum, cid, eid, retry, tid, tt in that order."""
    _check_str("customer_id", customer_id)
    _check_str("event_id", event_id)
    _check_str("tenant_id", tenant_id)
    _check_uint("retry", retry)
    _check_uint("transmission_time_ms", transmission_time_ms)
    document = {
        "checksum": crc32_checksum(body),
        "cid": customer_id,
        "eid": event_id,
        "retry": retry,
        "tid": tenant_id,
        "tt": transmission_time_ms,
    }
    return json.dumps(document, separators=_COMPACT, ensure_ascii=False).encode("utf-8")


def _encoded_header(kid: str) -> str:
    _check_str("kid", kid)
    header = {"b64": False, "crit": ["b64"], "kid": kid, "alg": ALGORITHM}
    return _b64url_encode(json.dumps(header, separators=_COMPACT, ensure_ascii=False).encode("utf-8"))


def signing_input(encoded_header: str, payload: bytes) -> bytes:
    """RFC 7797 §3 signing input for ``b64: false``: ``ASCII(BASE64URL(header)) || '.' || payload``."""
    return encoded_header.encode("ascii") + b"." + payload


def sign_detached(key: rsa.RSAPrivateKey, kid: str, payload: bytes) -> str:
    """RS256 JWS over the unencoded ``payload``, compact with the payload detached: ``<header>..<signature>``."""
    header = _encoded_header(kid)
    signature = key.sign(signing_input(header, payload), padding.PKCS1v15(), hashes.SHA256())
    return f"{header}..{_b64url_encode(signature)}"


def protected_header(jws: str) -> dict[str, object]:
    """Decode the protected header of a compact JWS (e.g. to find the ``kid`` to fetch). Raises ValueError."""
    parts = jws.split(".")
    if len(parts) != 3:
        raise ValueError("compact JWS must have three parts")
    try:
        header = json.loads(_b64url_decode(parts[0]).decode("utf-8"))
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise ValueError("undecodable JWS protected header") from exc
    if not isinstance(header, dict):
        raise ValueError("JWS protected header is not a JSON object")
    return header


def verify_detached(
    public_key: rsa.RSAPublicKey | rsa.RSAPrivateKey, jws: str, payload: bytes, *, expected_kid: str | None = None
) -> bool:
    """Verify an 8x8-style ``x-8x8-signature`` against the re-built payload. Never raises on bad input.

    Accepts only the 8x8 profile: three parts with an empty payload part, ``alg`` RS256, ``b64`` false with
    ``crit`` exactly ``["b64"]`` (RFC 7797 §6: b64 must be understood and listed in crit), optional kid match.
    """
    if not isinstance(jws, str) or not isinstance(payload, bytes | bytearray):
        return False
    try:
        header = protected_header(jws)
        encoded_header, middle, encoded_signature = jws.split(".")
        signature = _b64url_decode(encoded_signature)
    except ValueError:
        return False
    if middle != "" or header.get("alg") != ALGORITHM or header.get("b64") is not False:
        return False
    if header.get("crit") != ["b64"]:
        return False
    if expected_kid is not None and header.get("kid") != expected_kid:
        return False
    try:
        _public_key(public_key).verify(
            signature, signing_input(encoded_header, bytes(payload)), padding.PKCS1v15(), hashes.SHA256()
        )
    except InvalidSignature:
        return False
    return True


def webhook_headers(
    key: rsa.RSAPrivateKey,
    kid: str,
    body: bytes,
    *,
    tenant_id: str,
    customer_id: str,
    event_id: str,
    retry: int,
    transmission_time_ms: int,
) -> dict[str, str]:
    """All six ``x-8x8-*`` headers for one delivery attempt of ``body`` (lowercase names, string values).

    ``event_id`` stays the same across retries; ``retry`` (0 first) and ``transmission_time_ms`` change.
    Pure and thread-safe: intended to run in a worker thread (one RS256 signature, ~1-2 ms).
    """
    payload = signature_payload(body, customer_id, event_id, retry, tenant_id, transmission_time_ms)
    headers = plain_headers(tenant_id, customer_id, event_id, retry, transmission_time_ms)
    headers[WEBHOOK_SIGNATURE_HEADER] = sign_detached(key, kid, payload)
    return headers


def plain_headers(
    tenant_id: str, customer_id: str, event_id: str, retry: int, transmission_time_ms: int
) -> dict[str, str]:
    """The five ``x-8x8-*`` headers besides the signature (all a delivery carries when signing is off)."""
    return {
        WEBHOOK_TENANT_HEADER: tenant_id,
        WEBHOOK_CUSTOMER_HEADER: customer_id,
        WEBHOOK_EVENT_ID_HEADER: event_id,
        WEBHOOK_TRANSMISSION_TIME_HEADER: str(transmission_time_ms),
        WEBHOOK_RETRY_HEADER: str(retry),
    }
