"""The lean client of the Redis backend's hot path (`core.resp`) against a real redis-server: replies in order to
concurrent callers, pipelines, error replies, a script Redis forgot, a dropped connection and a Redis that is down."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis
from redis.exceptions import ConnectionError, ResponseError

from emulator.core.resp import LeanRedis, Script
from tests.support.redis_server import RedisServer


async def test_concurrent_calls_each_get_their_own_reply_on_one_connection(redis_url: str) -> None:
    url = redis_url.rsplit("/", 1)[0] + "/2"  # not the default database: the client selects it
    lean = LeanRedis(url)
    try:
        got = await asyncio.gather(*(lean.call("RPUSH", "l", k) for k in range(50)))
        assert sorted(got) == list(range(1, 51))  # each caller got the length its own push made
        listed = await lean.call("LRANGE", "l", 0, -1)
        assert [got[int(k)] for k in listed] == list(range(1, 51))  # and that length is its place in the list
        assert await lean.call("HSET", "h", "f", "ünï") == 1
        assert await lean.call("HGETALL", "h") == ["f", "ünï"]
        with redis.Redis.from_url(url, decode_responses=True) as r:
            assert r.lrange("l", 0, -1) == listed
            r.flushdb()
    finally:
        lean.close()


async def test_an_error_reply_raises_and_the_next_call_goes_on(redis_url: str) -> None:
    lean = LeanRedis(redis_url)
    try:
        await lean.call("SET", "s", "text")
        with pytest.raises(ResponseError, match="WRONGTYPE"):
            await lean.call("HGET", "s", "f")
        assert await lean.call("GET", "s") == "text"
    finally:
        lean.close()


async def test_a_pipeline_sends_many_commands_at_once_and_answers_each_in_order(redis_url: str) -> None:
    lean = LeanRedis(redis_url)
    try:
        assert await lean.pipeline([]) == []
        commands = [("HSET", "h", f"f{n}", n) for n in range(300)] + [("HLEN", "h"), ("HGET", "h", "f7")]
        replies, alone = await asyncio.gather(lean.pipeline(commands), lean.call("RPUSH", "l", "x"))
        assert replies == [1] * 300 + [300, "7"]
        assert alone == 1  # a call between pipelines gets its own reply, not one of the pipeline's
        with pytest.raises(ResponseError, match="WRONGTYPE"):  # the first error reply raises ...
            await lean.pipeline([("SET", "s", "a"), ("HGET", "s", "f"), ("SET", "t", "b")])
        assert await lean.pipeline([("GET", "s"), ("GET", "t")]) == ["a", "b"]  # ... after the others were applied
        got = await lean.pipeline([("SET", "u", "c"), ("HGET", "s", "f"), ("GET", "u")], raise_on_error=False)
        assert got[0::2] == ["OK", "c"]  # or each error reply comes back in its place
        assert isinstance(got[1], ResponseError)
        assert "WRONGTYPE" in str(got[1])
    finally:
        lean.close()


async def test_a_pipeline_of_one_command_answers_as_a_longer_one(redis_url: str) -> None:
    lean = LeanRedis(redis_url)  # one command is awaited alone (no `gather`): the same replies and errors
    try:
        assert await lean.pipeline([("SET", "s", "a")]) == ["OK"]
        with pytest.raises(ResponseError, match="WRONGTYPE"):
            await lean.pipeline([("HGET", "s", "f")])
        (got,) = await lean.pipeline([("HGET", "s", "f")], raise_on_error=False)
        assert isinstance(got, ResponseError)
        assert "WRONGTYPE" in str(got)
        assert await lean.pipeline([(b"GET", b"s")]) == ["a"]
    finally:
        lean.close()


async def test_a_script_redis_does_not_know_is_sent_whole_then_known(redis_url: str) -> None:
    lean = LeanRedis(redis_url)
    script = Script("return {KEYS[1], ARGV[1]}")
    try:
        with redis.Redis.from_url(redis_url) as r:
            r.script_flush()
            assert await lean.evalsha(script, ["k"], ["a"]) == ["k", "a"]
            assert r.script_exists(script.sha) == [True]
        assert await lean.evalsha(script, ["k"], [7]) == ["k", "7"]
    finally:
        lean.close()


async def test_a_call_cancelled_while_waiting_leaves_the_order_of_replies_intact(redis_url: str) -> None:
    lean = LeanRedis(redis_url)
    try:
        await lean.call("SET", "a", "1")
        with pytest.raises(TimeoutError):  # Redis holds the BLPOP 0.2 s: its caller leaves first
            await asyncio.wait_for(lean.call("BLPOP", "nothing", "0.2"), 0.01)
        assert await lean.call("GET", "a") == "1"  # the BLPOP's reply is read and dropped first
    finally:
        lean.close()


@pytest.mark.usefixtures("redis_server")  # skips where redis-server is absent
async def test_calls_fail_while_redis_is_down_and_connect_again_once_it_is_back(tmp_path: Path) -> None:
    own = RedisServer(tmp_path, aof=True)
    lean = LeanRedis(own.url)
    try:
        await lean.call("SET", "k", "kept")
        own.stop()
        with pytest.raises(ConnectionError):
            await lean.call("GET", "k")
        own.start()
        assert await lean.call("GET", "k") == "kept"
    finally:
        lean.close()
        own.stop()
