"""`cxemu serve --state redis://` as a user runs it: the real server under uvicorn serves an 8x8 conversation flow
from Redis, and a new process on the same Redis (a restart) sees the same state and goes on with the same ids."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator.core.bigwork import SLICE_ITEMS
from tests.support.procs import ServerProcess
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.server

KEY = {"x-api-key": "redis-demo"}
CONVERSATION = {"channelId": "1", "user": {"name": "James Jones"}}
P8 = "/chat-gateway/v1"


def serve(tmp_path: Path, url: str, name: str) -> ServerProcess:
    return ServerProcess(
        "--port", "0", "--clock", "virtual", "--state", url, "--log-level", "warning", log=tmp_path / f"{name}.log"
    )  # fmt: skip


def conversation(http: httpx.Client, cid: str) -> dict[str, Any]:
    r = http.get(f"{P8}/conversations/{cid}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def messages(http: httpx.Client, cid: str) -> list[dict[str, Any]]:
    r = http.get(f"{P8}/conversations/{cid}/messages")
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["_embedded"]["messages"]
    return found


def texts(found: list[dict[str, Any]]) -> list[str]:
    return [m["text"] for m in found if m["author"]["type"] == "user"]


def post_message(http: httpx.Client, cid: str, text: str) -> None:
    r = http.post(f"{P8}/conversations/{cid}/messages", json={"authorType": "user", "text": text})
    assert r.status_code == 202, r.text


def test_an_8x8_conversation_lives_in_redis_across_a_restart(tmp_path: Path, redis_url: str) -> None:
    first = serve(tmp_path, redis_url, "first")
    try:
        with httpx.Client(base_url=first.url, headers=KEY, timeout=30) as http:
            r = http.post(f"{P8}/conversations", json=CONVERSATION)
            assert r.status_code == 202, r.text
            cid = str(r.json()["conversationId"])
            post_message(http, cid, "hello from before")
            before = conversation(http, cid)
            said = messages(http, cid)
            assert texts(said) == ["hello from before"]
            tenants = http.get("/_emulator/tenants").json()["tenants"]
    finally:
        assert first.terminate() == 0, first.stderr()

    second = serve(tmp_path, redis_url, "second")  # a new process on the same Redis
    try:
        with httpx.Client(base_url=second.url, headers=KEY, timeout=30) as http:
            assert conversation(http, cid) == before
            assert messages(http, cid) == said
            assert http.get("/_emulator/tenants").json()["tenants"] == tenants
            post_message(http, cid, "hello after the restart")
            again = messages(http, cid)
            assert texts(again) == [
                "hello from before",
                "hello after the restart",
            ]
            ids = [m["id"] for m in again]
            assert len(set(ids)) == len(ids)  # the id counters came back: no id is handed out twice
            r = http.post("/_emulator/reset", params={"vendor": "eightbyeight"})
            assert r.status_code == 200, r.text
    finally:
        assert second.terminate() == 0, second.stderr()

    third = serve(tmp_path, redis_url, "third")  # the reset reached Redis too
    try:
        with httpx.Client(base_url=third.url, headers=KEY, timeout=30) as http:
            assert http.get(f"{P8}/conversations/{cid}").status_code == 404
            assert [t for t in http.get("/_emulator/tenants").json()["tenants"] if t["vendor"] == "eightbyeight"] == []
    finally:
        assert third.terminate() == 0, third.stderr()


def test_a_server_whose_redis_goes_away_answers_in_the_vendors_error_shape_and_recovers(tmp_path: Path) -> None:
    own = RedisServer(tmp_path, aof=True)
    server: ServerProcess | None = None
    try:
        server = serve(tmp_path, own.url, "flaky")
        with httpx.Client(base_url=server.url, headers=KEY, timeout=30) as http:
            r = http.post(f"{P8}/conversations", json=CONVERSATION)
            assert r.status_code == 202, r.text
            cid = str(r.json()["conversationId"])
            own.stop()
            r = http.post(f"{P8}/conversations/{cid}/messages", json={"authorType": "user", "text": "lost"})
            # the store's 503 in 8x8's envelope: 8x8 answers every failure of its own with this 500
            assert (r.status_code, r.json()) == (500, {"message": "Internal error.", "errors": []})
            own.start()
            post_message(http, cid, "kept")
            assert texts(messages(http, cid)) == ["kept"]
    finally:
        if server is not None:
            assert server.terminate() == 0, server.stderr()
        own.stop()


def test_two_servers_on_one_redis_read_each_others_commits(tmp_path: Path, redis_url: str) -> None:
    """Replicas: what one server committed, the next request to the other sees (timers and deliveries are each
    server's own until phase 2, so this shows the state alone)."""
    one = serve(tmp_path, redis_url, "one")
    two: ServerProcess | None = None
    try:
        two = serve(tmp_path, redis_url, "two")
        with (
            httpx.Client(base_url=one.url, headers=KEY, timeout=30) as first,
            httpx.Client(base_url=two.url, headers=KEY, timeout=30) as second,
        ):
            r = first.post(f"{P8}/conversations", json=CONVERSATION)
            assert r.status_code == 202, r.text
            cid = str(r.json()["conversationId"])
            assert conversation(second, cid) == conversation(first, cid)
            post_message(second, cid, "via two")
            post_message(first, cid, "via one")
            assert texts(messages(first, cid)) == texts(messages(second, cid)) == ["via two", "via one"]
            ids = [m["id"] for m in messages(first, cid)]
            assert len(set(ids)) == len(ids)
    finally:
        if two is not None:
            assert two.terminate() == 0, two.stderr()
        assert one.terminate() == 0, one.stderr()


def test_a_snapshot_that_takes_many_turns_of_the_loop_is_sent_whole(tmp_path: Path, redis_url: str) -> None:
    """`GET /_emulator/state` is streamed and yields to the loop every `SLICE_ITEMS` tenants; on a Redis-backed
    server (a fleet of one) the answer is complete JSON however many turns it took, not cut at the first one."""
    server = serve(tmp_path, redis_url, "snapshot")
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            count = SLICE_ITEMS + 20
            for n in range(count):
                r = http.post("/_emulator/tenants", json={"tenant": f"t{n:04}", "vendors": ["samespace"]})
                assert r.status_code == 201, r.text
            r = http.get("/_emulator/state")
            assert r.status_code == 200
            assert len(r.json()["store"]["samespace"]) == count
    finally:
        assert server.terminate() == 0, server.stderr()
