"""The JSON the Redis backend writes for itself (`core.fastjson`: the fleet feed's entries, the runtime's records)
reads back as the same values `json` would have written, whichever encoder wrote it."""

from __future__ import annotations

import dataclasses
import datetime
import json
from typing import Any

import pytest

from emulator.core import fastjson
from emulator.core.feed import _ENCODE, _text

VALUES: list[Any] = [
    {"kind": "request", "at": 1733561944.123456, "cause": None, "ok": True, "n": -3, "f": 1e16, "small": 1e-7},
    {"text": 'héllo \u2028 "quoted" \\ \n\t\u0001 ✓ 😀', "empty": "", "list": [1, 2.5, [], {}], "zero": -0.0},
    {1: "int key", 2.5: "float key", False: "bool key", None: "none key"},  # as `json` turns keys into text
    {"big": 2**80, "neg": -(2**70)},  # past 64 bits: orjson refuses, `json` writes it
    {"deep": json.loads("[" * 300 + "]" * 300)},  # past orjson's 255 levels
    {"tuple": (1, "a"), "nested": {"a": {"b": {"c": [None, False]}}}},
]


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_what_it_writes_reads_back_as_what_json_writes(value: Any) -> None:
    written = fastjson.dumps(value)
    assert isinstance(written, bytes)
    assert json.loads(written) == json.loads(json.dumps(value, separators=(",", ":"), ensure_ascii=False))
    assert list(json.loads(written)) == list(json.loads(json.dumps(value)))  # keys in the same order
    assert fastjson.dumps_text(value) == written.decode()


def test_dates_dataclasses_and_bytes_go_to_default_as_with_the_feeds_encoder() -> None:
    @dataclasses.dataclass
    class Point:
        x: int

    value = {"when": datetime.datetime(2026, 12, 7, 9, 0, tzinfo=datetime.UTC), "p": Point(1), "raw": b"\xffab"}
    assert json.loads(fastjson.dumps(value, _text)) == json.loads(_ENCODE(value))
    with pytest.raises(TypeError):  # no default: refused, as `json.dumps` refuses it
        fastjson.dumps({"when": datetime.date(2026, 12, 7)})


def test_strings_are_utf8_not_escaped() -> None:
    assert fastjson.dumps({"t": "é✓"}) == '{"t":"é✓"}'.encode()
