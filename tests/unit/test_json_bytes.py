"""`core.web.json_bytes` (every vendor JSON response's body) writes what `json.dumps` writes with the responses'
options, byte for byte, and raises what it raises: for seeded random documents, floats over the whole range
(orjson writes those below 1e-4 differently), strings with every kind of character and the texts that make it hand
over to `json` by chance, and what orjson refuses or writes where `json` refuses."""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import random
import struct
from typing import Any

import pytest

from emulator.core.web import JsonResponse, json_bytes


def reference(content: Any) -> bytes:
    return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


class Colour(enum.StrEnum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


TEXTS = [
    "",
    "plain",
    "é ü ß 日本語 😀",
    "".join(map(chr, range(0x20))) + '"\\/\x7f\u2028\u2029',
    "null",
    "nullable",
    "1e-7",
    "x e-5}",
    "e-5",
    "0.00001",
    "c-8c6b7f4a-1b2c-4d5e-9f00-123456789abc",
]


def a_float(rng: random.Random) -> float:
    while True:
        kind = rng.randrange(4)
        if kind == 0:
            value: float = struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0]
        elif kind == 1:
            value = rng.random() * 10.0 ** rng.randint(-12, 25)
        elif kind == 2:
            value = rng.randint(1, 9) * 10.0 ** rng.randint(-12, 25)
        else:
            value = rng.randint(-(10**6), 10**6) / 1000
        if math.isfinite(value):
            return -value if rng.random() < 0.3 else value


def a_value(rng: random.Random, depth: int) -> Any:
    kind = rng.randrange(10 if depth < 4 else 7)
    if kind == 0:
        return rng.choice(TEXTS) + "".join(chr(rng.randrange(0x20, 0xD7FF)) for _ in range(rng.randrange(4)))
    if kind == 1:
        return a_float(rng)
    if kind == 2:
        return rng.choice([0, 1, -1, 2**63 - 1, -(2**63), 2**64 - 1, 2**64, -(2**64), rng.getrandbits(80)])
    if kind == 3:
        return rng.choice([True, False, None])
    if kind == 4:
        return rng.choice([Colour.RED, Level.HIGH])
    if kind == 5:
        return rng.randint(-1000, 1000)
    if kind == 6:
        return rng.choice(TEXTS)
    if kind == 7:
        return [a_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if kind == 8:
        return tuple(a_value(rng, depth + 1) for _ in range(rng.randrange(3)))
    keys: list[Any] = [rng.choice(TEXTS) + str(n) for n in range(rng.randrange(4))]
    if rng.random() < 0.1:
        keys.append(rng.choice([1, 2.5, True, None]))  # json writes these keys as strings; orjson refuses them
    return {k: a_value(rng, depth + 1) for k in keys}


def test_random_documents_are_written_as_json_writes_them() -> None:
    rng = random.Random(19)  # noqa: S311 - seeded test data, not a secret
    for _ in range(3000):
        doc = a_value(rng, 0)
        assert json_bytes(doc) == reference(doc), doc


def test_every_float_range_is_written_as_json_writes_it() -> None:
    rng = random.Random(7)  # noqa: S311 - seeded test data, not a secret
    for _ in range(20000):
        value = a_float(rng)
        assert json_bytes({"v": value}) == reference({"v": value}), value
    for exponent in range(-330, 309):
        for mantissa in (1.0, 1.5, 9.999999):
            value = mantissa * 10.0**exponent if -324 < exponent < 308 else 5e-324
            assert json_bytes([value]) == reference([value]), value


@dataclasses.dataclass
class Point:
    x: int


NESTED: Any = []
_inner = NESTED
for _ in range(300):  # deeper than orjson writes
    _inner.append([])
    _inner = _inner[0]


@pytest.mark.parametrize(
    "content",
    [float("nan"), [float("inf")], {"a": -math.inf}, Point(1), "\ud800", {"k": "\udfff"}, NESTED, {1: 2}],
    ids=["nan", "inf", "minus-inf", "dataclass", "lone-surrogate", "surrogate-in-dict", "deep", "int-key"],
)
def test_what_json_refuses_it_refuses_the_same_way_and_what_orjson_refuses_json_writes(content: Any) -> None:
    try:
        expected: bytes | type[BaseException] = reference(content)
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        expected = type(exc)
    if isinstance(expected, bytes):
        assert json_bytes(content) == expected
    else:
        with pytest.raises(expected):
            json_bytes(content)


def test_a_json_response_is_starlettes_byte_for_byte() -> None:
    from starlette.responses import JSONResponse

    content = {"id": "c-1", "at": 1e-05, "n": None, "user": {"name": "Zoë"}}
    ours, theirs = JsonResponse(content), JSONResponse(content)
    assert (ours.body, ours.raw_headers) == (theirs.body, theirs.raw_headers)
    plain = {"id": "c-1", "state": "QUEUED"}
    assert JsonResponse(plain).body == JSONResponse(plain).body
