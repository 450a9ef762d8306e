"""Seeded ids and fake data, derived per (vendor, tenant, kind).

Every id is a pure function of (seed, vendor, tenant, kind, n) where n counts the ids of that kind the
tenant has drawn so far. The counters live in the tenant's store slot, so one tenant's ids do not move
when another tenant (or another test) does something, a tenant reset starts its ids over, and a
snapshot carries the counters, so a restored server goes on with the ids it would have issued.

Epochs: a server that stopped without a final save (kill -9, power loss) may have handed out ids after
its last save, which the restored counters no longer know. Restoring such a state file starts the next
epoch (`core.durable`), and in epoch e the n-th draw uses `e * EPOCH_SPAN + n` in place of n, for the
derived bytes and for sequential formats alike. Epoch 0 is exactly the numbering above, so a clean
restart continues byte for byte; a later epoch cannot meet an earlier one's ids unless one tenant drew
more than `EPOCH_SPAN` ids of one kind between two saves. Ids stay a pure function of
(seed, vendor, tenant, kind, n, epoch).

Vendors supply their id formats as functions of 16 random bytes (a few common ones are here).
This module and `clock.py` are the only places allowed to create randomness.
"""

from __future__ import annotations

import binascii
import hashlib
import random
import string
import threading
from collections.abc import Callable, MutableMapping
from functools import lru_cache

from faker import Faker

EPOCH_SPAN = 1_000_000
"""Draws of one kind an epoch leaves room for; sequential ids of epoch 1 start above 1,000,000 (int32-safe
for 2,000 epochs)."""

IdFormat = Callable[[bytes, int], str]
"""Turns 16 derived bytes and the sequence number (1-based) into an id string."""


def derive_bytes(seed: int, *parts: str, size: int = 16) -> bytes:
    material = "\x1f".join((str(seed), *parts)).encode()
    return hashlib.blake2b(material, digest_size=size).digest()


_blake2b = hashlib.blake2b


def derive_int(seed: int, *parts: str) -> int:
    return int.from_bytes(derive_bytes(seed, *parts, size=8), "big")


# -- common id formats --------------------------------------------------------------------------------


_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}
"""The hex digit of byte 8's high nibble with the RFC 4122 variant bits set (`10xx`)."""


def fmt_uuid(raw: bytes, _n: int) -> str:
    """A version-4-shaped UUID: the bytes in hex, the version nibble (byte 6's high one) `4`, byte 8's top bits `10`
    (written from the hex digits: no bytearray to change first, every event id is one)."""
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


_URLSAFE = bytes.maketrans(b"+/", b"-_")
_B64 = binascii.b2a_base64


def fmt_b64url22(raw: bytes, _n: int) -> str:
    """22 base64url characters (a 128-bit value without padding): `base64.urlsafe_b64encode`'s, without its two
    calls (every message id is one)."""
    return _B64(raw, newline=False).translate(_URLSAFE).rstrip(b"=").decode()


def fmt_hex(length: int) -> IdFormat:
    def fmt(raw: bytes, _n: int) -> str:
        return (raw * 4).hex()[:length]

    return fmt


def fmt_sequence(start: int = 1, prefix: str = "") -> IdFormat:
    """Sequential numbers (as a string), optionally prefixed: `start`, `start+1`, ..."""

    def fmt(_raw: bytes, n: int) -> str:
        return f"{prefix}{start + n - 1}"

    return fmt


def fmt_alnum(length: int, alphabet: str = string.ascii_letters + string.digits) -> IdFormat:
    def fmt(raw: bytes, _n: int) -> str:
        value = int.from_bytes(raw * 2, "big")
        out = []
        for _ in range(length):
            value, r = divmod(value, len(alphabet))
            out.append(alphabet[r])
        return "".join(out)

    return fmt


# -- the generator bound to one tenant ------------------------------------------------------------------

_FAKER_LOCK = threading.Lock()


@lru_cache(maxsize=8)
def _faker(locale: str) -> Faker:
    return Faker(locale)


class TenantIds:
    """Ids, random draws and fake data for one (vendor, tenant); counters are kept in `counters`."""

    __slots__ = ("base", "counters", "saved", "seed", "tenant", "vendor")

    def __init__(self, seed: int, vendor: str, tenant: str, counters: MutableMapping[str, int], epoch: int = 0) -> None:
        self.seed = seed
        self.base = epoch * EPOCH_SPAN
        """Added to every draw's number: 0 in epoch 0 (see the module docstring)."""
        self.vendor = vendor
        self.tenant = tenant
        self.counters = counters
        self.saved: dict[str, int] = {}
        """Each counter's value before this object first moved it (`rollback` puts them back)."""

    def _next(self, kind: str) -> int:
        old = self.counters.get(kind, 0)
        if kind not in self.saved:
            self.saved[kind] = old
        self.counters[kind] = old + 1
        return self.base + old + 1

    def rollback(self) -> None:
        """Undo every draw made through this object (a failed unit of work issues its ids again)."""
        for kind, old in self.saved.items():
            if old:
                self.counters[kind] = old
            else:
                self.counters.pop(kind, None)
        self.saved.clear()

    def new(self, kind: str, fmt: IdFormat = fmt_b64url22) -> str:
        """The next id of `kind` for this tenant."""
        counters = self.counters  # `_next`, inline (every message, event and delivery draws ids)
        old = counters.get(kind, 0)
        if kind not in self.saved:
            self.saved[kind] = old
        counters[kind] = old + 1
        n = self.base + old + 1
        # derive_bytes(self.seed, self.vendor, self.tenant, kind, str(n)), the same bytes with one f-string (no
        # argument tuple, str() calls or join per draw)
        material = f"{self.seed}\x1f{self.vendor}\x1f{self.tenant}\x1f{kind}\x1f{n}".encode()
        return fmt(_blake2b(material, digest_size=16).digest(), n)

    def random(self, kind: str) -> random.Random:
        """A fresh PRNG for the next draw of `kind` (e.g. an agent's reply delay)."""
        n = self._next(f"rng:{kind}")
        return random.Random(derive_int(self.seed, self.vendor, self.tenant, kind, str(n)))  # noqa: S311

    def fake(self, kind: str, locale: str = "en_US") -> FakeDraw:
        """Fake data (names, emails...) for the next entity of `kind`, reproducible from the seed."""
        n = self._next(f"fake:{kind}")
        return FakeDraw(locale, derive_int(self.seed, self.vendor, self.tenant, kind, str(n)))


class FakeDraw:
    """A Faker seeded for one entity; call `.get(lambda f: f.name())` for values."""

    __slots__ = ("_locale", "_seed")

    def __init__(self, locale: str, seed: int) -> None:
        self._locale = locale
        self._seed = seed

    def get(self, fn: Callable[[Faker], str]) -> str:
        with _FAKER_LOCK:
            faker = _faker(self._locale)
            faker.seed_instance(self._seed)
            return fn(faker)

    def name(self) -> str:
        return self.get(lambda f: f.name())

    def first_name(self) -> str:
        return self.get(lambda f: f.first_name())

    def email(self) -> str:
        return self.get(lambda f: f.email())


def global_random(seed: int, *parts: str) -> random.Random:
    """A PRNG for draws that belong to no tenant (e.g. chaos decisions keyed by an event id)."""
    return random.Random(derive_int(seed, "global", *parts))  # noqa: S311
