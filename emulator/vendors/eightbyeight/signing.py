"""8x8 webhook signing: deterministic RSA keys, JWK export and detached, unencoded JWS (RFC 7515 + RFC 7797).

8x8 signs every webhook POST with an ``x-8x8-signature`` header (see ``shared/vendors/eightbyeight.md`` §1.5):

* protected header, in this key order: ``{"b64":false,"crit":["b64"],"kid":"<kid>","alg":"RS256"}``;
* payload (detached, *not* base64url-encoded), keys in this order:
  ``{"checksum":<crc32 of body>,"cid":"...","eid":"...","retry":<n>,"tid":"...","tt":<epoch ms>}``,
  serialised compactly (no whitespace, non-ASCII characters emitted as raw UTF-8 like ``JSON.stringify``);
* signing input: ``ASCII(b64url(header)) || "." || payload`` (RFC 7797 §3), RS256;
* compact form: ``<b64url(header)>..<b64url(signature)>`` (empty payload part, RFC 7515 appendix F).

Determinism: the emulator must emit byte-identical webhooks for the same seed, so RSA keys are derived from
seed material (:func:`derive_rsa_key`) instead of ``os.urandom``; RSASSA-PKCS1-v1_5 is itself deterministic.
Nothing in this module reads the clock or a random source; the only shared mutable state is a lock-protected
LRU cache of derived keys, so every function here is safe to call from worker threads.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import threading
import zlib
from collections import OrderedDict
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

__all__ = [
    "ALGORITHM",
    "HEADER_CUSTOMER_ID",
    "HEADER_EVENT_ID",
    "HEADER_RETRY",
    "HEADER_SIGNATURE",
    "HEADER_TENANT_ID",
    "HEADER_TRANSMISSION_TIME",
    "PUBLIC_EXPONENT",
    "clear_key_cache",
    "crc32_checksum",
    "derive_rsa_key",
    "kid_for",
    "protected_header",
    "public_jwk",
    "sign_detached",
    "signature_payload",
    "signing_input",
    "verify_detached",
    "webhook_headers",
]

ALGORITHM: Final = "RS256"
PUBLIC_EXPONENT: Final = 65537

HEADER_TENANT_ID: Final = "x-8x8-tenant-id"
HEADER_CUSTOMER_ID: Final = "x-8x8-customer-id"
HEADER_EVENT_ID: Final = "x-8x8-event-id"
HEADER_TRANSMISSION_TIME: Final = "x-8x8-transmission-time"
HEADER_RETRY: Final = "x-8x8-retry"
HEADER_SIGNATURE: Final = "x-8x8-signature"

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
# Deterministic RSA key derivation
# ---------------------------------------------------------------------------------------------------------------

_KEYGEN_DOMAIN: Final = b"cxemu/8x8/rsa-keygen/v1\x00"
_SIEVE_LIMIT: Final = 1 << 17  # odd primes below this are sieved out before any Miller-Rabin round
_SIEVE_WINDOW: Final = 2048  # odd candidates examined per window (a 1024-bit prime is expected within ~355)
_MIN_BITS: Final = 1024
_KEY_CACHE_SIZE: Final = 64


def _odd_primes_below(limit: int) -> tuple[int, ...]:
    flags = bytearray([1]) * limit
    flags[0:2] = b"\x00\x00"
    for i in range(2, math.isqrt(limit - 1) + 1):
        if flags[i]:
            flags[i * i :: i] = bytes(len(range(i * i, limit, i)))
    return tuple(i for i in range(3, limit, 2) if flags[i])


_SMALL_PRIMES: Final = _odd_primes_below(_SIEVE_LIMIT)


class _Stream:
    """Counter-mode SHAKE-256 byte stream: read(n) = SHAKE256(prefix || counter)[:n], counter += 1."""

    __slots__ = ("_counter", "_prefix")

    def __init__(self, seed_material: bytes, bits: int) -> None:
        self._prefix = _KEYGEN_DOMAIN + bits.to_bytes(4, "big") + len(seed_material).to_bytes(8, "big") + seed_material
        self._counter = 0

    def read(self, n: int) -> bytes:
        block = hashlib.shake_256(self._prefix + self._counter.to_bytes(8, "big")).digest(n)
        self._counter += 1
        return block

    def below(self, bound: int) -> int:
        """An integer in [0, bound) (64 extra bits make the modulo bias negligible)."""
        return int.from_bytes(self.read((bound.bit_length() + 64 + 7) // 8), "big") % bound


def _mr_rounds(bits: int) -> int:
    # Handbook of Applied Cryptography table 4.4 (random odd candidates, error < 2**-80): 3 rounds from 800 bits,
    # 5 from 500 bits. These are emulator keys derived from known seeds, so this is about correctness, not
    # secrecy; the sign/verify self-test in _derive_rsa_key_uncached is a further backstop.
    return 3 if bits >= 800 else 5


def _is_probable_prime(n: int, rounds: int, stream: _Stream) -> bool:
    """Miller-Rabin: first base 2 (cheap filter), then ``rounds - 1`` bases drawn from the stream."""
    d = n - 1
    s = (d & -d).bit_length() - 1
    d >>= s
    for round_no in range(rounds):
        a = 2 if round_no == 0 else 2 + stream.below(n - 3)
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def _generate_prime(pbits: int, stream: _Stream) -> int:
    """A ``pbits``-bit prime with the top two bits set and gcd(e, p - 1) == 1.

    A start point is drawn from the stream; a window of odd candidates ``start + 2*i`` is sieved with all odd
    primes below ``_SIEVE_LIMIT`` (and candidates with p == 1 mod e are struck out); survivors get Miller-Rabin.
    """
    top = (1 << (pbits - 1)) | (1 << (pbits - 2))
    nbytes = (pbits + 7) // 8
    window = _SIEVE_WINDOW
    zeros = bytes(window)
    rounds = _mr_rounds(pbits)
    while True:
        start = (int.from_bytes(stream.read(nbytes), "big") >> (8 * nbytes - pbits)) | top | 1
        sieve = bytearray([1]) * window
        # start + 2*i == 0 (mod p)  <=>  i == -start * 2^-1 (mod p), and 2^-1 == (p + 1) / 2 (mod p)
        for p in _SMALL_PRIMES:
            i0 = -start * ((p + 1) >> 1) % p
            if p < window:
                sieve[i0::p] = zeros[: (window - 1 - i0) // p + 1]
            elif i0 < window:
                sieve[i0] = 0
        # p == 1 (mod e) would make gcd(e, p - 1) == e
        i0 = (1 - start) * ((PUBLIC_EXPONENT + 1) >> 1) % PUBLIC_EXPONENT
        if i0 < window:
            sieve[i0] = 0
        i = sieve.find(1)
        while i != -1:
            candidate = start + 2 * i
            if candidate.bit_length() == pbits and _is_probable_prime(candidate, rounds, stream):
                return candidate
            i = sieve.find(1, i + 1)


def _derive_rsa_key_uncached(seed_material: bytes, bits: int) -> rsa.RSAPrivateKey:
    stream = _Stream(seed_material, bits)
    e = PUBLIC_EXPONENT
    pbits = bits // 2
    p = _generate_prime(pbits, stream)
    while True:
        q = _generate_prime(pbits, stream)
        # FIPS 186-5 A.1.3: |p - q| > 2^(nlen/2 - 100); d > 2^(nlen/2).
        if abs(p - q) <= 1 << (pbits - 100):
            continue
        lam = math.lcm(p - 1, q - 1)
        if math.gcd(e, lam) != 1:
            continue
        d = pow(e, -1, lam)
        if d > 1 << pbits:
            break
    if p < q:
        p, q = q, p
    n = p * q
    if n.bit_length() != bits:  # impossible with the top two bits of p and q set
        raise AssertionError("derived modulus has the wrong size")
    numbers = rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=d,
        dmp1=rsa.rsa_crt_dmp1(d, p),
        dmq1=rsa.rsa_crt_dmq1(d, q),
        iqmp=rsa.rsa_crt_iqmp(p, q),
        public_numbers=rsa.RSAPublicNumbers(e, n),
    )
    # OpenSSL's own check (primality of p and q again) costs ~50 ms; the parameters were built consistently
    # above, and a sign/verify self-test below catches a (vanishingly unlikely) composite p or q.
    key = numbers.private_key(unsafe_skip_rsa_key_validation=True)
    probe = b"cxemu key self-test"
    signature = key.sign(probe, padding.PKCS1v15(), hashes.SHA256())
    key.public_key().verify(signature, probe, padding.PKCS1v15(), hashes.SHA256())
    return key


_key_cache: OrderedDict[tuple[bytes, int], rsa.RSAPrivateKey] = OrderedDict()
_key_cache_lock = threading.Lock()


def derive_rsa_key(seed_material: bytes, bits: int = 2048) -> rsa.RSAPrivateKey:
    """Deterministically derive an RSA private key (e = 65537) from ``seed_material``.

    Same ``(seed_material, bits)`` => same key, on every run and platform (the derivation is versioned by the
    ``cxemu/8x8/rsa-keygen/v1`` domain string; changing the algorithm must change that string). Results are kept
    in a thread-safe LRU cache, so repeated calls return the very same key object. ``bits`` must be an even
    number >= 1024. Pure Python; a 2048-bit key costs ~60 1024-bit modexps (~100-300 ms) on first use.
    """
    if not isinstance(seed_material, bytes | bytearray | memoryview):
        raise TypeError("seed_material must be bytes")
    if isinstance(bits, bool) or not isinstance(bits, int) or bits < _MIN_BITS or bits % 2:
        raise ValueError(f"bits must be an even integer >= {_MIN_BITS}")
    cache_key = (bytes(seed_material), bits)
    # One lock around get-or-compute: concurrent callers with the same seed get one object; derivation is
    # CPU-bound Python, so serialising it costs no real parallelism under the GIL.
    with _key_cache_lock:
        key = _key_cache.get(cache_key)
        if key is not None:
            _key_cache.move_to_end(cache_key)
            return key
        key = _derive_rsa_key_uncached(*cache_key)
        _key_cache[cache_key] = key
        if len(_key_cache) > _KEY_CACHE_SIZE:
            _key_cache.popitem(last=False)
        return key


def clear_key_cache() -> None:
    """Forget all cached derived keys (tests, or a full emulator reset)."""
    with _key_cache_lock:
        _key_cache.clear()


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
    return {
        HEADER_TENANT_ID: tenant_id,
        HEADER_CUSTOMER_ID: customer_id,
        HEADER_EVENT_ID: event_id,
        HEADER_TRANSMISSION_TIME: str(transmission_time_ms),
        HEADER_RETRY: str(retry),
        HEADER_SIGNATURE: sign_detached(key, kid, payload),
    }
