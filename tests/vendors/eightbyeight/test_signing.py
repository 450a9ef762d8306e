"""Tests for the 8x8 webhook signature (detached, unencoded RS256 JWS) and deterministic key derivation.

Signatures are checked by two verifiers that share no code with the module under test: joserfc (RFC 7797 aware,
key imported from our public JWK) and a raw RSASSA-PKCS1-v1_5 check with ``cryptography`` using only the JWK's
``n``/``e`` and a signing input rebuilt here by hand.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from joserfc import jws
from joserfc.errors import BadSignatureError
from joserfc.jwk import RSAKey

from emulator.core import keys as core_keys
from emulator.vendors.eightbyeight import signing

SEED = b"cxemu-test-seed"
OTHER_SEED = b"cxemu-test-seed-2"
# Pinned outputs: derivation and signing must stay byte-identical across runs, machines and releases.
# If the derivation algorithm changes on purpose, bump the domain string in signing.py and these values.
GOLDEN_KID = "PrnF5GenLEgPIlxrHxJ4JQ"
GOLDEN_SIGNATURE_SHA256 = "f3803312c750d8e983e55fbffbed9ab71f5717e7122924f8d607781aa74af6f9"

BODY = b'{"eventType":"TRANSFER","conversationId":"ID-0","timestamp":1713100009000}'
IDS: dict[str, Any] = {"tenant_id": "tenant-1", "customer_id": "cust-1", "event_id": "evt-1"}
TT = 1713100009123
HEADER_NAMES = [
    "x-8x8-tenant-id",
    "x-8x8-customer-id",
    "x-8x8-event-id",
    "x-8x8-transmission-time",
    "x-8x8-retry",
    "x-8x8-signature",
]


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def payload_for(body: bytes = BODY, retry: int = 0, tt: int = TT) -> bytes:
    return signing.signature_payload(body, IDS["customer_id"], IDS["event_id"], retry, IDS["tenant_id"], tt)


def import_jwk(jwk: dict[str, str]) -> RSAKey:
    data: dict[str, str | list[str]] = dict(jwk)
    return RSAKey.import_key(data)


def joserfc_verify(jwk: dict[str, str], compact: str, payload: bytes) -> bytes:
    """Independent verifier #1. Returns the verified payload; raises BadSignatureError on mismatch."""
    key = import_jwk(jwk)
    obj = jws.deserialize_compact(compact, key, algorithms=["RS256"], payload=payload)
    return obj.payload


def raw_verify(jwk: dict[str, str], compact: str, payload: bytes) -> bool:
    """Independent verifier #2: RSASSA-PKCS1-v1_5/SHA-256 from the JWK's n and e over a hand-built input."""
    n = int.from_bytes(b64url_decode(jwk["n"]), "big")
    e = int.from_bytes(b64url_decode(jwk["e"]), "big")
    header_b64, middle, signature_b64 = compact.split(".")
    assert middle == ""
    public_key = rsa.RSAPublicNumbers(e, n).public_key()
    signed = header_b64.encode("ascii") + b"." + payload
    try:
        public_key.verify(b64url_decode(signature_b64), signed, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return core_keys.derive_rsa_key(SEED)


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return core_keys.derive_rsa_key(OTHER_SEED)


@pytest.fixture(scope="module")
def kid(key: rsa.RSAPrivateKey) -> str:
    return signing.kid_for(key.public_key())


@pytest.fixture(scope="module")
def jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, str]:
    return signing.public_jwk(key, kid)


# --------------------------------------------------------------------------------------------------- key derivation


def test_derivation_is_deterministic_and_cached(key: rsa.RSAPrivateKey) -> None:
    assert core_keys.derive_rsa_key(SEED) is core_keys.derive_rsa_key(SEED)
    core_keys.clear_key_cache()
    recomputed = core_keys.derive_rsa_key(SEED)
    assert recomputed is not key
    assert recomputed.private_numbers() == key.private_numbers()
    assert signing.kid_for(recomputed) == GOLDEN_KID


def test_different_seeds_give_different_keys(key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey) -> None:
    assert key.public_key().public_numbers().n != other_key.public_key().public_numbers().n
    assert signing.kid_for(key) != signing.kid_for(other_key)


@pytest.mark.parametrize("seed", [SEED, OTHER_SEED], ids=["seed", "other-seed"])
def test_derived_key_is_a_valid_rsa_key(seed: bytes) -> None:
    derived = core_keys.derive_rsa_key(seed)
    numbers = derived.private_numbers()
    p, q, d = numbers.p, numbers.q, numbers.d
    n, e = numbers.public_numbers.n, numbers.public_numbers.e
    assert derived.key_size == 2048
    assert n.bit_length() == 2048
    assert p * q == n
    assert p != q
    assert abs(p - q) > 1 << (1024 - 100)
    assert p.bit_length() == q.bit_length() == 1024
    assert e == 65537
    assert (d * e) % math.lcm(p - 1, q - 1) == 1
    assert numbers.dmp1 == d % (p - 1)
    assert numbers.dmq1 == d % (q - 1)
    assert (numbers.iqmp * q) % p == 1
    # Full OpenSSL validation (includes primality of p and q), which derive_rsa_key skips for speed.
    validated = numbers.private_key(unsafe_skip_rsa_key_validation=False)
    message = b"round trip"
    signature = validated.sign(message, padding.PKCS1v15(), hashes.SHA256())
    derived.public_key().verify(signature, message, padding.PKCS1v15(), hashes.SHA256())


@pytest.mark.parametrize(
    ("seed", "bits", "error"),
    [
        (SEED, 512, ValueError),
        (SEED, 2047, ValueError),
        (SEED, True, ValueError),
        ("not bytes", 2048, TypeError),
    ],
    ids=["too-small", "odd-bits", "bool-bits", "str-seed"],
)
def test_derive_rejects_bad_arguments(seed: Any, bits: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        core_keys.derive_rsa_key(seed, bits)


def test_concurrent_derivation_yields_one_object() -> None:
    seed = b"cxemu-concurrency-seed"
    with ThreadPoolExecutor(max_workers=4) as pool:
        keys = list(pool.map(lambda _: core_keys.derive_rsa_key(seed), range(8)))
    assert all(k is keys[0] for k in keys)


# ----------------------------------------------------------------------------------------------------------- JWK/kid


def test_public_jwk_follows_oas_shape(key: rsa.RSAPrivateKey, kid: str, jwk: dict[str, str]) -> None:
    assert list(jwk) == ["kty", "e", "kid", "n"]
    assert jwk["kty"] == "RSA"
    assert jwk["e"] == "AQAB"
    assert jwk["kid"] == kid
    assert all("=" not in v and "+" not in v and "/" not in v for v in jwk.values())
    raw_n = b64url_decode(jwk["n"])
    assert len(raw_n) == 256  # minimal octets, no leading zero
    assert int.from_bytes(raw_n, "big") == key.public_key().public_numbers().n
    assert signing.public_jwk(key.public_key(), kid) == jwk


def test_kid_is_truncated_rfc7638_thumbprint(key: rsa.RSAPrivateKey, kid: str, jwk: dict[str, str]) -> None:
    assert kid == GOLDEN_KID
    assert len(kid) == 22
    assert signing.kid_for(key) == signing.kid_for(key.public_key()) == kid
    thumbprint = b64url_decode(import_jwk(jwk).thumbprint())
    assert b64url_decode(kid) == thumbprint[:16]


# ------------------------------------------------------------------------------------------------ checksum & payload


@pytest.mark.parametrize(
    "body",
    [b"", b"123456789", BODY, '{"text":"héllo ✓"}'.encode(), bytes(range(256)) * 4],
    ids=["empty", "check-string", "event", "utf8", "binary"],
)
def test_crc32_checksum_matches_zlib(body: bytes) -> None:
    assert signing.crc32_checksum(body) == zlib.crc32(body) & 0xFFFFFFFF
    assert 0 <= signing.crc32_checksum(body) < 2**32


def test_crc32_known_values() -> None:
    assert signing.crc32_checksum(b"123456789") == 0xCBF43926  # CRC-32/ISO-HDLC check value
    assert signing.crc32_checksum(b"") == 0


def test_payload_is_compact_json_in_fixed_key_order() -> None:
    payload = payload_for(retry=2)
    crc = zlib.crc32(BODY)
    expected = f'{{"checksum":{crc},"cid":"cust-1","eid":"evt-1","retry":2,"tid":"tenant-1","tt":{TT}}}'
    assert payload == expected.encode("ascii")
    pairs = json.loads(payload, object_pairs_hook=lambda items: items)
    assert [k for k, _ in pairs] == ["checksum", "cid", "eid", "retry", "tid", "tt"]
    assert b" " not in payload


def test_payload_keeps_non_ascii_ids_as_utf8() -> None:
    payload = signing.signature_payload(b"{}", "cüst", "é", 0, "t", 1)
    assert '"cid":"cüst","eid":"é"'.encode() in payload


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"retry": -1}, ValueError),
        ({"retry": True}, TypeError),
        ({"retry": "0"}, TypeError),
        ({"transmission_time_ms": 1.5}, TypeError),
        ({"customer_id": 7}, TypeError),
    ],
    ids=["negative-retry", "bool-retry", "str-retry", "float-tt", "int-customer"],
)
def test_payload_rejects_bad_values(overrides: dict[str, Any], error: type[Exception]) -> None:
    args: dict[str, Any] = {**IDS, "retry": 0, "transmission_time_ms": TT, **overrides}
    with pytest.raises(error):
        signing.signature_payload(BODY, **args)


# ---------------------------------------------------------------------------------------------------------- signing


def test_protected_header_bytes_and_compact_shape(key: rsa.RSAPrivateKey, kid: str) -> None:
    compact = signing.sign_detached(key, kid, payload_for())
    header_b64, middle, signature_b64 = compact.split(".")
    assert middle == ""
    assert ".." in compact
    assert b64url_decode(header_b64) == f'{{"b64":false,"crit":["b64"],"kid":"{kid}","alg":"RS256"}}'.encode()
    assert len(b64url_decode(signature_b64)) == 256
    assert signing.protected_header(compact) == {"b64": False, "crit": ["b64"], "kid": kid, "alg": "RS256"}


def test_signature_verifies_with_independent_libraries(key: rsa.RSAPrivateKey, kid: str, jwk: dict[str, str]) -> None:
    payload = payload_for()
    compact = signing.sign_detached(key, kid, payload)
    assert joserfc_verify(jwk, compact, payload) == payload
    assert raw_verify(jwk, compact, payload)
    assert signing.verify_detached(key.public_key(), compact, payload, expected_kid=kid)


def test_signing_is_deterministic_and_pinned(key: rsa.RSAPrivateKey, kid: str) -> None:
    first = signing.webhook_headers(key, kid, BODY, retry=0, transmission_time_ms=TT, **IDS)
    second = signing.webhook_headers(key, kid, BODY, retry=0, transmission_time_ms=TT, **IDS)
    assert first == second
    assert hashlib.sha256(first["x-8x8-signature"].encode()).hexdigest() == GOLDEN_SIGNATURE_SHA256


@pytest.mark.parametrize(
    ("verify_body", "verify_retry", "use_other_key"),
    [
        (BODY.replace(b"TRANSFER", b"TRANSFEr"), 0, False),
        (BODY + b" ", 0, False),
        (BODY, 1, False),
        (BODY, 0, True),
    ],
    ids=["tampered-body", "appended-byte", "changed-retry", "different-key"],
)
def test_mismatch_fails_every_verifier(
    key: rsa.RSAPrivateKey,
    other_key: rsa.RSAPrivateKey,
    kid: str,
    jwk: dict[str, str],
    verify_body: bytes,
    verify_retry: int,
    use_other_key: bool,
) -> None:
    signer = other_key if use_other_key else key
    compact = signing.sign_detached(signer, kid, payload_for())
    payload = payload_for(body=verify_body, retry=verify_retry)
    assert not signing.verify_detached(key.public_key(), compact, payload)
    assert not raw_verify(jwk, compact, payload)
    with pytest.raises(BadSignatureError):
        joserfc_verify(jwk, compact, payload)


def _reheader(compact: str, header: dict[str, Any]) -> str:
    _, middle, signature = compact.split(".")
    return f"{b64url_encode(json.dumps(header, separators=(',', ':')).encode())}.{middle}.{signature}"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda c, p: c.replace("..", "."),
        lambda c, p: c + ".x",
        lambda c, p: c.replace("..", "." + b64url_encode(p) + "."),
        lambda c, p: c + "=",
        lambda c, p: c[:-4] + "!!!!",
        lambda c, p: "!" + c,
        lambda c, p: _reheader(c, {"b64": True, "crit": ["b64"], "kid": GOLDEN_KID, "alg": "RS256"}),
        lambda c, p: _reheader(c, {"b64": False, "kid": GOLDEN_KID, "alg": "RS256"}),
        lambda c, p: _reheader(c, {"b64": False, "crit": ["b64"], "kid": GOLDEN_KID, "alg": "none"}),
        lambda c, p: _reheader(c, {"b64": False, "crit": ["b64", "exp"], "kid": GOLDEN_KID, "alg": "RS256"}),
        lambda c, p: b64url_encode(b"[1]") + c[c.index(".") :],
    ],
    ids=[
        "two-parts",
        "four-parts",
        "attached-payload",
        "padded-signature",
        "bad-base64",
        "bad-header-base64",
        "b64-true",
        "no-crit",
        "alg-none",
        "unknown-crit",
        "header-not-object",
    ],
)
def test_verify_detached_rejects_malformed(key: rsa.RSAPrivateKey, kid: str, mangle: Any) -> None:
    payload = payload_for()
    compact = signing.sign_detached(key, kid, payload)
    assert signing.verify_detached(key.public_key(), compact, payload)
    assert not signing.verify_detached(key.public_key(), mangle(compact, payload), payload)


def test_verify_detached_checks_expected_kid(key: rsa.RSAPrivateKey, kid: str) -> None:
    payload = payload_for()
    compact = signing.sign_detached(key, kid, payload)
    assert signing.verify_detached(key, compact, payload, expected_kid=kid)
    assert not signing.verify_detached(key, compact, payload, expected_kid="someone-else")


# ---------------------------------------------------------------------------------------------------------- headers


def test_webhook_headers_exact_names_and_values(key: rsa.RSAPrivateKey, kid: str, jwk: dict[str, str]) -> None:
    headers = signing.webhook_headers(key, kid, BODY, retry=0, transmission_time_ms=TT, **IDS)
    assert list(headers) == HEADER_NAMES
    assert all(isinstance(v, str) for v in headers.values())
    assert headers["x-8x8-tenant-id"] == "tenant-1"
    assert headers["x-8x8-customer-id"] == "cust-1"
    assert headers["x-8x8-event-id"] == "evt-1"
    assert headers["x-8x8-transmission-time"] == str(TT)
    assert headers["x-8x8-retry"] == "0"
    # A receiver rebuilds the payload from the body and the other headers, then verifies.
    rebuilt = signing.signature_payload(
        BODY,
        headers["x-8x8-customer-id"],
        headers["x-8x8-event-id"],
        int(headers["x-8x8-retry"]),
        headers["x-8x8-tenant-id"],
        int(headers["x-8x8-transmission-time"]),
    )
    assert joserfc_verify(jwk, headers["x-8x8-signature"], rebuilt) == rebuilt
    assert raw_verify(jwk, headers["x-8x8-signature"], rebuilt)


@pytest.mark.parametrize(
    ("retry", "tt"),
    [(0, TT), (1, TT + 2_000), (2, TT + 9_000)],
    ids=["first-attempt", "retry-1", "retry-2"],
)
def test_retry_changes_time_and_retry_but_not_event_id(
    key: rsa.RSAPrivateKey, kid: str, jwk: dict[str, str], retry: int, tt: int
) -> None:
    first = signing.webhook_headers(key, kid, BODY, retry=0, transmission_time_ms=TT, **IDS)
    attempt = signing.webhook_headers(key, kid, BODY, retry=retry, transmission_time_ms=tt, **IDS)
    assert attempt["x-8x8-event-id"] == first["x-8x8-event-id"]
    assert attempt["x-8x8-retry"] == str(retry)
    assert attempt["x-8x8-transmission-time"] == str(tt)
    assert (attempt["x-8x8-signature"] == first["x-8x8-signature"]) == (retry == 0)
    payload = payload_for(retry=retry, tt=tt)
    assert joserfc_verify(jwk, attempt["x-8x8-signature"], payload) == payload


def test_webhook_headers_thread_safe(key: rsa.RSAPrivateKey, kid: str) -> None:
    def make(i: int) -> dict[str, str]:
        return signing.webhook_headers(key, kid, BODY, retry=i % 3, transmission_time_ms=TT + i % 3, **IDS)

    expected = [make(i) for i in range(60)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(make, range(60))) == expected
