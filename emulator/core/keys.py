"""Deterministic RSA keys: the same seed material gives the same key on every run and platform.

`cryptography` cannot generate keys from a seed, and byte-identical signatures per seed are a design
principle (a vendor's signed webhooks replay exactly), so keys are derived here from a SHAKE-256 stream:
sieve plus Miller-Rabin for the primes, FIPS 186-5 checks for the pair. Results are kept in ONE bounded,
thread-safe LRU cache (`derive_rsa_key`), so a key is derived once per process and every caller (a
vendor's signer, its warm-up, the benchmark) shares the very same key object.

Used by 8x8's webhook signatures (`vendors/eightbyeight/signing.py`).
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

PUBLIC_EXPONENT: Final = 65537
# The derivation is versioned by this domain string (its name predates the move out of the 8x8 package):
# changing the algorithm must change it, keeping it keeps every derived key, kid and signature as it was.
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
