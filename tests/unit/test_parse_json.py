"""`core.web.parse_json` (every vendor request body, the journal's view of it) reads bytes with orjson where it can:
the values it gives, and the errors (with their texts), are those of the `json` path alone, for seeded random
documents written every way JSON allows, numbers over the whole range (integers past 64 bits included), and the
texts strict JSON refuses or that make it hand over to `json` (a byte order mark, a lone surrogate, deep nesting)."""

from __future__ import annotations

import json
import math
import random
import struct
from typing import Any

import pytest

from emulator.core import web
from emulator.core.web import parse_json


def reference(raw: bytes | str) -> tuple[str, str]:
    """What the `json` path alone answers: ("ok", the value's repr: types, key order and -0.0 told apart) or
    ("error", its text)."""
    saved = web._ORJSON_LOADS
    web._ORJSON_LOADS = None
    try:
        return outcome(raw)
    finally:
        web._ORJSON_LOADS = saved


def outcome(raw: bytes | str) -> tuple[str, str]:
    try:
        return "ok", repr(parse_json(raw))
    except ValueError as exc:
        return "error", str(exc)


def a_number(rng: random.Random) -> str:
    digits = "".join(rng.choice("0123456789") for _ in range(rng.randrange(1, 24)))
    kind = rng.randrange(7)
    if kind == 0:
        value = struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0]
        return repr(value) if math.isfinite(value) else "1e400"
    if kind == 1:
        return str(rng.choice([0, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64 - 1, 2**64, 10**18, 10**19]))
    if kind == 2:
        return str(rng.getrandbits(rng.randrange(1, 90)) * rng.choice([1, -1]))
    if kind == 3:
        return f"{rng.randint(0, 9)}.{digits}"
    if kind == 4:
        return f"{rng.randint(1, 9)}{digits[:18]}{rng.choice('eE')}{rng.choice(['', '+', '-'])}{rng.randint(0, 400)}"
    if kind == 5:
        return f"-{digits.lstrip('0') or '0'}.{digits[::-1]}e-{rng.randint(0, 330)}"
    return rng.choice(["-0", "-0.0", "0.0", "1E2", "5e-324", "2.4e-324", "1.7976931348623157e308", "1.8e308"])


TEXTS = ["", "plain", "é ü ß 日本語 😀", "".join(map(chr, range(0x20))) + '"\\/\x7f\u2028\u2029', "\ufeff", "\ufffe"]


def a_value(rng: random.Random, depth: int) -> Any:
    kind = rng.randrange(8 if depth < 4 else 5)
    if kind == 0:
        return rng.choice(TEXTS) + "".join(chr(rng.randrange(0x20, 0xD7FF)) for _ in range(rng.randrange(4)))
    if kind == 1:
        return json.loads(a_number(rng))  # a number as `json` reads it (an integer past 64 bits, inf too)
    if kind == 2:
        return rng.choice([True, False, None])
    if kind == 3:
        return rng.randint(-1000, 1000)
    if kind == 4:
        return chr(rng.randrange(0x10000, 0x10FFFF))
    if kind in (5, 6):
        return [a_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(TEXTS) + str(rng.randrange(3)): a_value(rng, depth + 1) for _ in range(rng.randrange(4))}


def written(rng: random.Random, doc: Any) -> bytes:
    """`doc` as JSON, every way it may be written: escaped or raw, spaced or compact, with surrounding blanks."""
    text = json.dumps(
        doc,
        ensure_ascii=rng.random() < 0.4,
        allow_nan=True,
        separators=rng.choice([(",", ":"), (", ", ": "), (" ,\n", " :\t")]),
        indent=rng.choice([None, None, 2]),
    )
    return (rng.choice(["", " ", "\n\t"]) + text + rng.choice(["", "\r\n", " "])).encode()


def test_random_documents_read_as_json_reads_them() -> None:
    rng = random.Random(23)  # noqa: S311 - seeded test data, not a secret
    for _ in range(4000):
        raw = written(rng, a_value(rng, 0))
        assert outcome(raw) == reference(raw), raw


def test_numbers_over_the_whole_range_read_as_json_reads_them() -> None:
    rng = random.Random(29)  # noqa: S311 - seeded test data, not a secret
    for _ in range(20000):
        number = a_number(rng)
        for raw in (number.encode(), f'{{"n":{number}}}'.encode(), f"[{number},{number}]".encode()):
            assert outcome(raw) == reference(raw), raw


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"  ",
        b"\xef\xbb\xbf{}",
        b'{"a":1,"b":2,"a":3}',
        b'"\\ud800"',
        b'{"\\udfff":1}',
        b'"\\ud83d\\ude00"',
        b'"\xed\xa0\x80"',
        b'"\xf4\x90\x80\x80"',
        b'"\xc0\xaf"',
        b'"\x01"',
        b'"\\u0000"',
        b"\x0c{}",
        b"NaN",
        b"[Infinity]",
        b"-1e400",
        b"123456789012345678901234567890",
        b'{"id":"1234567890123456789012"}',
        b"[1,]",
        b"01",
        b"{nope",
        b'{"a":1}x',
        b"[" * 499 + b"]" * 499,
        b"[" * 990 + b"]" * 990,
        b"[" * 1030 + b"]" * 1030,
        b"[" * 100_000 + b"]" * 100_000,
        "[1, 2.5]",
        '"\\ud800"',
    ],
)
def test_what_strict_json_refuses_it_refuses_with_the_same_text(raw: bytes | str) -> None:
    assert outcome(raw) == reference(raw)


def test_orjson_reads_the_common_body_and_json_what_it_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path is taken for an ordinary body (else the module would pay for the checks for nothing)."""
    read: list[bytes] = []

    def counted(raw: bytes) -> Any:
        read.append(raw)
        assert web.orjson is not None
        return web.orjson.loads(raw)

    monkeypatch.setattr(web, "_ORJSON_LOADS", counted)
    assert parse_json(b'{"authorType":"user","text":"hi"}') == {"authorType": "user", "text": "hi"}
    assert parse_json(b"\xef\xbb\xbf[1]") == [1]  # refused by orjson, read by json
    assert parse_json(b"[12345678901234567890]") == [12345678901234567890]  # never offered to orjson
    assert read == [b'{"authorType":"user","text":"hi"}', b"\xef\xbb\xbf[1]"]


# -- how deep a body may nest: a fixed bound, wherever the parser runs -----------------------------------------


def nested(depth: int, kind: str) -> str:
    if kind == "array":
        return "[" * depth + "]" * depth
    return '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)


def at_stack_depth(frames: int, fn: Any) -> Any:
    """`fn()` called `frames` Python frames deeper than here (as a view or a request built deep in a stack)."""
    return fn() if frames == 0 else at_stack_depth(frames - 1, fn)


@pytest.mark.parametrize("kind", ["array", "object"])
@pytest.mark.parametrize("as_bytes", [True, False], ids=["bytes", "str"])
def test_nesting_up_to_the_bound_is_read_and_one_level_more_is_refused(kind: str, as_bytes: bool) -> None:
    ok, deep = nested(web.MAX_DEPTH, kind), nested(web.MAX_DEPTH + 1, kind)
    value = parse_json(ok.encode() if as_bytes else ok)
    assert json.dumps(value, separators=(",", ":")) == ok
    with pytest.raises(ValueError, match=r"^the body is not valid JSON \(nested too deeply\)$"):
        parse_json(deep.encode() if as_bytes else deep)
    assert outcome(deep.encode() if as_bytes else deep) == reference(deep.encode() if as_bytes else deep)


def test_many_brackets_that_do_not_nest_deep_are_read() -> None:
    body = "[" + ",".join(['{"a":[[1],{}]}'] * 400) + "]"  # 1,201 brackets, 4 levels
    assert parse_json(body.encode()) == json.loads(body)
    assert parse_json(body) == json.loads(body)


@pytest.mark.parametrize("depth", [web.MAX_DEPTH + 1, 700, 900])
def test_the_same_deep_body_gets_the_same_answer_however_deep_the_stack_is(depth: int) -> None:
    """Python's recursion limit (1,000 frames here) counts the frames already on the stack: a parser bounded by it
    alone read a body 900 deep at the top of a stack and refused it 600 frames down."""
    body = nested(depth, "array").encode()
    answers = set()
    for frames in (0, 300, 600):
        try:
            at_stack_depth(frames, lambda: parse_json(body))
        except ValueError as exc:
            answers.add(str(exc))
        else:
            answers.add("accepted")
    assert answers == {"the body is not valid JSON (nested too deeply)"}
