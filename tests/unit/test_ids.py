"""Seeded ids, random draws and fake data: reproducible per (seed, vendor, tenant, kind), isolated per tenant."""

from __future__ import annotations

import base64
import random
import re
import string
import uuid

import pytest

from emulator.core.ids import (
    IdFormat,
    TenantIds,
    derive_bytes,
    fmt_alnum,
    fmt_b64url22,
    fmt_hex,
    fmt_sequence,
    fmt_uuid,
    global_random,
)


def ids(seed: int = 7, vendor: str = "echo", tenant: str = "a", counters: dict[str, int] | None = None) -> TenantIds:
    return TenantIds(seed, vendor, tenant, {} if counters is None else counters)


def draw(gen: TenantIds) -> list[str]:
    return [gen.new("item"), gen.new("item"), gen.new("call", fmt_uuid), gen.new("item"), gen.new("agent", fmt_hex(12))]


# -- reproducibility and independence --------------------------------------------------------------------


def test_same_seed_vendor_tenant_and_kind_give_the_same_ids() -> None:
    first = draw(ids())
    assert first == draw(ids())
    assert len(set(first)) == len(first)


@pytest.mark.parametrize(
    ("seed", "vendor", "tenant"),
    [(8, "echo", "a"), (7, "echo", "b"), (7, "other", "a")],
    ids=["seed", "tenant", "vendor"],
)
def test_a_different_seed_tenant_or_vendor_gives_different_ids(seed: int, vendor: str, tenant: str) -> None:
    base = draw(ids())
    changed = draw(ids(seed, vendor, tenant))
    assert all(a != b for a, b in zip(base, changed, strict=True))


def test_a_different_kind_gives_different_ids_and_its_own_count() -> None:
    gen = ids()
    assert gen.new("item") != gen.new("conversation")
    assert gen.counters == {"item": 1, "conversation": 1}
    assert gen.new("item", fmt_sequence()) == "2"


def test_one_tenants_ids_do_not_move_when_another_tenant_draws() -> None:
    a_alone = ids(tenant="a")
    expected = [a_alone.new("item") for _ in range(4)]

    a = ids(tenant="a")
    b = ids(tenant="b")
    interleaved: list[str] = []
    b_ids: list[str] = []
    for _ in range(4):
        b_ids.append(b.new("item"))
        interleaved.append(a.new("item"))
        b_ids.append(b.new("item"))

    assert interleaved == expected
    assert not set(b_ids) & set(expected)


def test_counters_live_in_the_mapping_that_was_passed() -> None:
    counters: dict[str, int] = {}
    gen = ids(counters=counters)
    first = [gen.new("item") for _ in range(3)]
    gen.random("delay")
    gen.fake("agent")
    assert counters == {"item": 3, "rng:delay": 1, "fake:agent": 1}

    # a reset is a new mapping: ids start over
    assert ids(counters={}).new("item") == first[0]
    # a copy of the counters (a snapshot) goes on where the original would have
    resumed = ids(counters=dict(counters))
    assert resumed.new("item") == gen.new("item")


def test_random_and_fake_draws_do_not_shift_the_id_sequence() -> None:
    plain = ids()
    expected = [plain.new("item") for _ in range(3)]

    mixed = ids()
    got = [mixed.new("item")]
    mixed.random("item")
    mixed.fake("item").name()
    got += [mixed.new("item"), mixed.new("item")]

    assert got == expected


# -- formats ----------------------------------------------------------------------------------------------

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_uuid_ids_are_version_4_with_the_rfc_variant() -> None:
    gen = ids()
    values = [gen.new("call", fmt_uuid) for _ in range(200)]
    for value in values:
        assert UUID4.match(value), value
        parsed = uuid.UUID(value)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
    assert len(set(values)) == 200


@pytest.mark.parametrize("epoch", [0, 3])
def test_every_id_is_derived_from_seed_vendor_tenant_kind_and_number(epoch: int) -> None:
    """The ids a state holds stay what they were: `new` hashes exactly what `derive_bytes` hashes (its own
    faster path must not drift), epochs numbered from their own base."""
    gen = TenantIds(2**40 + 5, "eightbyeight", "t\x1fé", {}, epoch)
    for n in range(1, 4):
        number = epoch * 1_000_000 + n
        raw = derive_bytes(2**40 + 5, "eightbyeight", "t\x1fé", "message", str(number))
        assert gen.new("message", fmt_uuid) == fmt_uuid(raw, number)
        assert gen.new("event") == fmt_b64url22(
            derive_bytes(2**40 + 5, "eightbyeight", "t\x1fé", "event", str(number)), 0
        )


def reference_uuid(raw: bytes) -> str:
    """The version-4 shape as first written: the bytes changed, then in hex."""
    b = bytearray(raw)
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(b)))


def test_uuid_and_b64url22_ids_are_their_reference_forms_for_any_bytes() -> None:
    """Ids already handed out (in states, snapshots, webhook bodies) stay what they were: each format's faster form
    writes what its reference does, for every value of the bytes it changes and seeded random others."""
    rng = random.Random(11)  # noqa: S311 - seeded test data, not a secret
    samples = [bytes(rng.getrandbits(8) for _ in range(16)) for _ in range(2000)]
    samples += [bytes([v] * 16) for v in range(256)]
    for raw in samples:
        assert fmt_uuid(raw, 1) == reference_uuid(raw)
        assert fmt_b64url22(raw, 1) == base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_b64url22_ids_are_the_16_derived_bytes_without_padding() -> None:
    gen = ids()
    value = gen.new("msg", fmt_b64url22)
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", value)
    assert base64.urlsafe_b64decode(value + "==") == derive_bytes(7, "echo", "a", "msg", "1")
    others = {gen.new("msg") for _ in range(200)}  # the default format
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{22}", v) for v in others)
    assert len(others) == 200


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        (fmt_sequence(), ["1", "2", "3"]),
        (fmt_sequence(1000), ["1000", "1001", "1002"]),
        (fmt_sequence(1, "it-"), ["it-1", "it-2", "it-3"]),
        (fmt_sequence(0, "C"), ["C0", "C1", "C2"]),
    ],
    ids=["default", "start", "prefix", "zero-prefix"],
)
def test_fmt_sequence(fmt: IdFormat, expected: list[str]) -> None:
    gen = ids()
    assert [gen.new("seq", fmt) for _ in range(3)] == expected


@pytest.mark.parametrize(
    ("fmt", "pattern"),
    [
        (fmt_hex(8), r"[0-9a-f]{8}"),
        (fmt_hex(32), r"[0-9a-f]{32}"),
        (fmt_alnum(10), r"[A-Za-z0-9]{10}"),
        (fmt_alnum(20), r"[A-Za-z0-9]{20}"),
        (fmt_alnum(12, "ABCDEF0123"), r"[A-F0-3]{12}"),
        (fmt_alnum(6, string.digits), r"[0-9]{6}"),
    ],
    ids=["hex8", "hex32", "alnum10", "alnum20", "alnum-custom-alphabet", "digits6"],
)
def test_fixed_length_formats(fmt: IdFormat, pattern: str) -> None:
    gen = ids()
    values = [gen.new("x", fmt) for _ in range(300)]
    assert all(re.fullmatch(pattern, v) for v in values), values[:5]
    assert len(set(values)) > 295  # practically unique (a 6-digit space may collide once or twice)
    fresh = ids()
    assert [fresh.new("x", fmt) for _ in range(3)] == values[:3]


def test_alnum_uses_the_whole_alphabet() -> None:
    gen = ids()
    seen = set("".join(gen.new("x", fmt_alnum(16)) for _ in range(100)))
    assert seen == set(string.ascii_letters + string.digits)


# -- fake data and random draws ---------------------------------------------------------------------------


def test_fake_names_are_reproducible_and_differ_per_draw() -> None:
    def people(gen: TenantIds) -> list[tuple[str, str, str]]:
        out = []
        for _ in range(5):
            person = gen.fake("agent")
            out.append((person.name(), person.first_name(), person.email()))
        return out

    first = people(ids())
    assert first == people(ids())
    assert len({name for name, _, _ in first}) == 5
    assert people(ids(tenant="b")) != first
    assert people(ids(seed=8)) != first


def test_a_fake_draw_gives_the_same_value_every_time_it_is_read() -> None:
    person = ids().fake("agent")
    assert person.name() == person.name()
    assert person.get(lambda f: f.city()) == person.get(lambda f: f.city())


def test_fake_locale_is_honoured() -> None:
    en = ids().fake("agent").get(lambda f: f.phone_number())
    fr = ids().fake("agent", locale="fr_FR").get(lambda f: f.phone_number())
    assert en != fr


def test_random_draws_are_reproducible_and_fresh_per_draw() -> None:
    def delays(gen: TenantIds) -> list[float]:
        return [gen.random("typing").uniform(1, 5) for _ in range(5)]

    first = delays(ids())
    assert first == delays(ids())
    assert len(set(first)) == 5
    assert all(1 <= d <= 5 for d in first)
    assert delays(ids(tenant="b")) != first
    assert delays(ids(seed=8)) != first


def test_global_random_depends_only_on_the_seed_and_parts() -> None:
    assert global_random(7, "chaos", "evt-1").random() == global_random(7, "chaos", "evt-1").random()
    assert global_random(7, "chaos", "evt-1").random() != global_random(8, "chaos", "evt-1").random()
    assert global_random(7, "chaos", "evt-1").random() != global_random(7, "chaos", "evt-2").random()
