"""CM.com's webhook bodies (`delivery.body_bytes`, the policy's serializer): the bytes the kernel's `compact_json`
writes (`json.dumps` compact, not ASCII-escaped), and what it raises, for every status report and MO body CM builds
and for seeded random documents: strings of every kind (GUIDs whose `...e-` is no exponent), floats over the whole
range (orjson writes those below 1e-4 differently), integers past 64 bits, NaN, and what orjson refuses. The send
API's answer (`http.SendAnswer`) is the `JsonResponse` it replaced, byte for byte."""

from __future__ import annotations

import dataclasses
import math
import random
import struct
from typing import Any

import pytest

from emulator.core.web import JsonResponse
from emulator.core.webhooks import compact_json
from emulator.vendors.cmcom import constants as c
from emulator.vendors.cmcom.delivery import body_bytes
from emulator.vendors.cmcom.http import SendAnswer
from emulator.vendors.cmcom.send import Draft
from emulator.vendors.cmcom.views import send_response, status_report
from tests.unit.test_json_bytes import TEXTS as JSON_TEXTS

TEXTS = [
    *JSON_TEXTS,  # the texts that lead orjson's output astray, as for responses
    "8c6b7f4a-1b2c-4d5e-9f0e-123456789abc",  # a GUID's `e-` (CM's references)
    "Message could not be delivered to the recipient",
]


def outcome(fn: Any, payload: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(payload)
    except Exception as exc:
        return "error", type(exc)


def a_float(rng: random.Random) -> float:
    kind = rng.randrange(5)
    if kind == 0:
        return float(struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0])
    if kind == 1:
        return rng.random() * 10.0 ** rng.randint(-12, 25)
    if kind == 2:
        return rng.randint(1, 9) * 10.0 ** rng.randint(-12, 25)
    if kind == 3:
        return rng.choice([math.nan, math.inf, -math.inf, -0.0, 0.0])
    return rng.randint(-(10**6), 10**6) / 1000


def a_string(rng: random.Random) -> str:
    if rng.random() < 0.4:
        return rng.choice(TEXTS)
    return "".join(chr(rng.choice([rng.randrange(0x20), rng.randrange(0x20, 0x7F), rng.randrange(0x80, 0x3000)]))
                   for _ in range(rng.randrange(12)))  # fmt: skip


def a_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 4 else 6)
    if kind == 0:
        return a_string(rng)
    if kind == 1:
        return rng.choice([rng.randint(-(2**70), 2**70), rng.randint(-1000, 1000), 2**63, -(2**63) - 1])
    if kind == 2:
        return a_float(rng)
    if kind == 3:
        return rng.choice([True, False, None])
    if kind == 4:
        return str(rng.choice(list(c.Status)))
    if kind == 5:
        return c.Status.DELIVERED
    if kind in (6, 7):
        return {a_string(rng): a_value(rng, depth + 1) for _ in range(rng.randrange(5))}
    return [a_value(rng, depth + 1) for _ in range(rng.randrange(5))]


def report(status: str, **extra: Any) -> dict[str, Any]:
    data = {"status": status, "code": "2", "errorCode": "", "errorDescription": "", "operator": "20416",
            "reference": "8c6b7f4a-1b2c-4d5e-9f0e-123456789abc", "to": "0031612345678",
            "created": 1_767_225_600.25}  # fmt: skip
    return status_report(data | extra)


def test_every_status_report_is_written_as_compact_json_writes_it() -> None:
    for status in c.Status:
        body = report(str(status))
        assert body_bytes(body) == compact_json(body)
    failed = report("Failed", code="3", errorCode="7", errorDescription=c.FAILED_DESCRIPTION, reference="ref é\n")
    assert body_bytes(failed) == compact_json(failed)


def test_an_mo_body_with_nulls_is_written_as_before() -> None:
    mo = {"reference": "r", "from": {"number": "+31612345678", "name": None}, "to": {"number": "+3197", "name": None},
          "message": {"text": "hi", "media": {"mediaUri": None, "contentType": None, "title": None}, "custom": {}},
          "groupings": ["", "", ""], "timeUtc": "2026-01-01T00:00:00", "channel": "SMS"}  # fmt: skip
    assert body_bytes(mo) == compact_json(mo)


@pytest.mark.parametrize("seed", range(4))
def test_seeded_random_documents_give_the_same_bytes_or_the_same_error(seed: int) -> None:
    rng = random.Random(seed)  # noqa: S311 - seeded test data, not a secret
    for _ in range(2_500):
        payload = {"messages": {"msg": a_value(rng)}} if rng.random() < 0.5 else a_value(rng)
        assert outcome(body_bytes, payload) == outcome(compact_json, payload), payload


@dataclasses.dataclass
class Point:
    x: int


@pytest.mark.parametrize(
    "payload",
    [{"s": "\ud800"}, {1: "a"}, {"deep": [[[[[[[[]]]]]]]] * 300}, {"p": Point(1)}, {"f": 1e-7}, {"n": math.nan}],
    ids=["lone-surrogate", "int-key", "wide", "dataclass", "short-exponent", "nan"],
)
def test_what_orjson_refuses_or_writes_otherwise_goes_to_compact_json(payload: Any) -> None:
    assert outcome(body_bytes, payload) == outcome(compact_json, payload)


def a_draft(rng: random.Random) -> Draft:
    d = Draft(to=rng.choice([None, "0031612345678", a_string(rng)]), reference=rng.choice([None, a_string(rng)]))
    d.parts = rng.randint(0, 8)
    if rng.random() < 0.4:
        d.reject(rng.choice(list(c.Code)), a_string(rng))
    return d


@pytest.mark.parametrize("seed", range(3))
def test_the_send_answer_is_the_json_response_it_replaced(seed: int) -> None:
    """`http.SendAnswer` (orjson) against `JsonResponse` (the answer before): status, headers and body bytes, for
    answers with every kind of recipient, reference, rejection and text."""
    rng = random.Random(seed)  # noqa: S311 - seeded test data, not a secret
    for _ in range(1_000):
        status, body = send_response([a_draft(rng) for _ in range(rng.randint(1, 4))])
        old, new = JsonResponse(body, status_code=status), SendAnswer(body, status)
        assert (new.status_code, new.raw_headers, new.body) == (old.status_code, old.raw_headers, old.body)
    lone = {"details": "x", "errorCode": 0, "messages": [{"reference": "\ud800"}]}
    assert outcome(lambda b: SendAnswer(b, 200).body, lone) == outcome(lambda b: JsonResponse(b).body, lone)
