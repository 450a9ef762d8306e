"""The durable runtime's write script (`core.redisruntime._WRITE`) against a real `redis-server`: one Redis call per
section, outbox entries found by their tail, nothing written when a section does not add up or a key holds another
type (docs/scaling.md, "Fewer calls inside Redis a message")."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis

from emulator.core.redisruntime import _WRITE, _cleared, _Ops, _script_keys, keys

TENANT = "acme"


@pytest.fixture
def r(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url, decode_responses=True)


def write(r: redis.Redis, ops: _Ops, lease: str = "", size: int = 3) -> Any:
    k = _script_keys(TENANT)
    return r.eval(_WRITE, len(k), *k, lease, size, *ops.args())


def entry(seq: int | None, text: str = "hi") -> str:
    body: dict[str, Any] = {"vendor": "echo", "out": [{"payload": {"text": text, "tail": '],"seq":1}'}}]}
    if seq is not None:
        body["seq"] = seq
    return json.dumps(body, separators=(",", ":"))


def test_each_section_lands_as_the_ops_one_by_one_did(r: redis.Redis) -> None:
    k = keys(TENANT)
    r.hset(k["flight"], mapping={"d1": "old", "d2": "old", "d9": "kept"})
    r.hset(k["dlv"], "d2", "pending before")
    r.rpush(k["log"], "l0", "l1")
    r.hset(k["jobs"], mapping={"7": "gone soon", "8": "stays"})
    r.set(k["seq"], "12")
    ops = _Ops(
        p=["d1", "p1"],
        s=["d2", "s2", "d3", "s3"],
        f=["d4", "f4", "d1", "f1"],
        j=["9", "j9"],
        k=["7"],
        clock="5.5",
        last=10,  # below what Redis holds: the number never moves down
        h=(1, "{}"),
    )
    assert write(r, ops) == 1
    assert r.hgetall(k["dlv"]) == {"d1": "p1"}
    assert r.hgetall(k["flight"]) == {"d1": "f1", "d4": "f4", "d9": "kept"}  # a P deletes, a later F records again
    assert r.lrange(k["log"], 0, -1) == ["l1", "s2", "s3"]  # pushed in order, trimmed to the cap once
    assert r.hgetall(k["jobs"]) == {"8": "stays", "9": "j9"}
    assert (r.get(k["clock"]), r.get(k["seq"]), r.get(k["chaos"])) == ("5.5", "12", "{}")
    assert write(r, _Ops(last=13, h=(2,))) == 1
    assert (r.get(k["seq"]), r.exists(k["chaos"])) == ("13", 0)


def test_cleared_entries_go_by_their_tail_from_the_head_or_wherever_they_are(r: redis.Redis) -> None:
    k = keys(TENANT)
    old = entry(None, "an entry without numbers")
    r.rpush(k["outbox"], entry(1), entry(2), old, entry(11), entry(3))
    ops = _Ops(rn=4, r=[*_cleared(entry(1)), *_cleared(entry(2)), *_cleared(entry(3)), *_cleared(old)])
    assert _cleared(entry(11)) == ('],"seq":11}',)
    assert _cleared(old) == ("e", old)
    assert write(r, ops) == 1
    assert r.lrange(k["outbox"], 0, -1) == [entry(11)]  # 1 and 2 trimmed off the head, 3 and the old one found


def test_a_key_of_another_type_or_sections_that_do_not_add_up_write_nothing(r: redis.Redis) -> None:
    k = keys(TENANT)
    r.set(k["log"], "someone else's")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        write(r, _Ops(p=["d1", "p1"], s=["d2", "s2"]))
    assert (r.exists(k["dlv"]), r.get(k["log"])) == (0, "someone else's")
    with pytest.raises(redis.ResponseError, match="do not add up"):
        r.eval(_WRITE, 9, *_script_keys(TENANT), "", 3, *_Ops(p=["d1", "p1"]).args(), "extra")
    assert r.exists(k["dlv"]) == 0
    r.delete(k["log"])
    ops = _Ops(x=[4], s=["d2", "s2"])  # the log deleted first: not asked for its type
    assert write(r, ops) == 1
    assert r.lrange(k["log"], 0, -1) == ["s2"]


def test_a_lease_not_held_writes_nothing(r: redis.Redis) -> None:
    k = keys(TENANT)
    r.set(_script_keys(TENANT)[0], "other:2")
    assert write(r, _Ops(p=["d1", "p1"]), lease="me:1") == 0
    assert write(r, _Ops(p=["d1", "p1"]), lease="-") == 0
    assert r.exists(k["dlv"]) == 0
