"""A Redis-backed `cxemu serve` keeps its runtime in Redis (`core.redisruntime`): after a SIGTERM and a restart,
pending webhook deliveries (receiver down, then up) and pending jobs go on, on the tenants' own clocks; after a
kill -9 mid-attempt the attempt is in the log as lost and the event is sent again with the same event id; a
corrupt runtime entry is left out with a warning; Redis going away answers 503 in the vendor's shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from emulator.core.rediskeys import tenant_key
from emulator.scenarios.receiver import WebhookSink
from tests.support.procs import ServerProcess
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.server

TENANT = "rt-demo"
KEY = {"x-api-key": TENANT}
P8 = "/chat-gateway/v1"
CONVERSATION = {"channelId": "1", "user": {"name": "James Jones"}}


def serve(tmp_path: Path, url: str, name: str, *extra: str) -> ServerProcess:
    return ServerProcess(
        "--port", "0", "--clock", "virtual", "--state", url, "--log-level", "info", *extra,
        log=tmp_path / f"{name}.log",
    )  # fmt: skip


def hook(http: httpx.Client, sink: WebhookSink) -> None:
    body = {"name": "sink", "uri": sink.url_for("/hook"), "version": "Chat Gateway v1.0"}
    r = http.put(f"{P8}/webhooks/1", json=body)
    assert r.status_code == 200, r.text


def start_conversation(http: httpx.Client) -> str:
    r = http.post(f"{P8}/conversations", json=CONVERSATION)
    assert r.status_code == 202, r.text
    return str(r.json()["conversationId"])


def say(http: httpx.Client, cid: str, text: str) -> None:
    r = http.post(f"{P8}/conversations/{cid}/messages", json={"authorType": "user", "text": text})
    assert r.status_code == 202, r.text


def deliveries(http: httpx.Client, **params: str) -> list[dict[str, Any]]:
    r = http.get("/_emulator/deliveries", params={"tenant": TENANT, **params})
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["deliveries"]
    return found


def advance(http: httpx.Client, seconds: float) -> None:
    r = http.post("/_emulator/clock/advance", params={"tenant": TENANT}, json={"seconds": seconds})
    assert r.status_code == 200, r.text


def jobs(http: httpx.Client) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = [j for j in http.get("/_emulator/state").json()["jobs"] if j["tenant"] == TENANT]
    return found


def test_pending_deliveries_and_jobs_continue_after_a_restart(tmp_path: Path, redis_url: str) -> None:
    sink = WebhookSink()
    sink.respond_with(503)  # the receiver is down
    first = serve(tmp_path, redis_url, "first")
    try:
        with httpx.Client(base_url=first.url, headers=KEY, timeout=30) as http:
            hook(http, sink)
            cid = start_conversation(http)
            say(http, cid, "hello while the receiver is down")
            sink.wait_for(lambda r: True, count=1, timeout=30)
            pending = http.get("/_emulator/deliveries", params={"tenant": TENANT, "status": "pending"}).json()
            pending_before = {d["event_id"]: d for d in pending["deliveries"]}
            assert pending_before, "the receiver answered 503: deliveries wait for their retries"
            jobs_before = jobs(http)
            now_before = http.get("/_emulator/clock", params={"tenant": TENANT}).json()
    finally:
        assert first.terminate() == 0, first.stderr()

    sink.respond_with(200)  # the receiver is back
    second = serve(tmp_path, redis_url, "second")
    try:
        with httpx.Client(base_url=second.url, headers=KEY, timeout=30) as http:
            assert http.get("/_emulator/clock", params={"tenant": TENANT}).json() == now_before
            assert jobs(http) == jobs_before  # due on the tenant's timeline, in order
            again = {d["event_id"]: d for d in deliveries(http, status="pending")}
            assert set(again) == set(pending_before)
            for event_id, d in again.items():  # every attempt made before the restart is still there
                assert (
                    d["attempts"][: len(pending_before[event_id]["attempts"])] == pending_before[event_id]["attempts"]
                )
            advance(http, 120)  # the retries fall due on the tenant's clock
            done = {d["event_id"]: d for d in deliveries(http) if d["event_id"] in pending_before}
            assert {d["status"] for d in done.values()} == {"delivered"}
            for event_id, d in done.items():  # numbered on from before the restart: a retry is never a first attempt
                assert [a["n"] for a in d["attempts"]] == list(range(len(d["attempts"])))
                assert len(d["attempts"]) > len(pending_before[event_id]["attempts"])
            received = [json.loads(r.body) for r in sink.requests if r.headers["x-sink-status"] == "200"]
            assert received, "the receiver got the events after the restart"
            due = [j for j in jobs_before if j["due"] <= now_before["now"] + 120]
            assert due, "jobs fell due in the advance"
            assert not [j for j in jobs(http) if j in due]  # they ran (what they scheduled in turn may be pending)
            log_after = deliveries(http)
    finally:
        assert second.terminate() == 0, second.stderr()
        sink.close()

    third = serve(tmp_path, redis_url, "third")  # the settled log comes back too
    try:
        with httpx.Client(base_url=third.url, headers=KEY, timeout=30) as http:
            assert [(d["id"], d["status"], d["attempts"]) for d in deliveries(http)] == [
                (d["id"], d["status"], d["attempts"]) for d in log_after
            ]
    finally:
        assert third.terminate() == 0, third.stderr()


def test_an_attempt_cut_by_kill_9_is_logged_as_lost_and_sent_again(tmp_path: Path, redis_url: str) -> None:
    sink = WebhookSink()
    sink.respond_with(200, held=True)  # the first request stays in flight until released
    first = serve(tmp_path, redis_url, "first")
    try:
        with httpx.Client(base_url=first.url, headers=KEY, timeout=30) as http:
            hook(http, sink)
            cid = start_conversation(http)
            say(http, cid, "hello, cut short")
            held = sink.wait_for(lambda r: True, count=1, timeout=30)[0]
    finally:
        first.kill()  # kill -9 while the receiver holds the attempt
    sink.release()
    second = serve(tmp_path, redis_url, "second")
    try:
        with httpx.Client(base_url=second.url, headers=KEY, timeout=30) as http:
            advance(http, 120)
            logged = deliveries(http, status="delivered", wait="20", count="1")
            cut = [d for d in logged if any(a["error"] and "outcome unknown" in a["error"] for a in d["attempts"])]
            assert len(cut) == 1, logged
            attempts = cut[0]["attempts"]
            assert (attempts[0]["n"], attempts[0]["status"]) == (0, None)  # the cut attempt, as lost
            assert attempts[-1]["n"] > 0  # a retry with the same event id (the same body, below)
            assert attempts[-1]["status"] == 200
            same = [q for q in sink.requests if q.body == held.body]
            assert len(same) >= 2, "the same event went out again"
    finally:
        assert second.terminate() == 0, second.stderr()
        sink.close()


def test_a_corrupt_runtime_entry_is_left_out_with_a_warning(tmp_path: Path, redis_url: str) -> None:
    first = serve(tmp_path, redis_url, "first")
    try:
        with httpx.Client(base_url=first.url, headers=KEY, timeout=30) as http:
            start_conversation(http)
            jobs_before = jobs(http)
    finally:
        assert first.terminate() == 0, first.stderr()
    raw = redis.Redis.from_url(redis_url)
    raw.hset(tenant_key(TENANT, "rt", "jobs"), "999999", "{not json")
    raw.hset(tenant_key(TENANT, "rt", "dlv"), "dlv_9999999", json.dumps({"id": "dlv_9999999"}))
    raw.rpush(tenant_key(TENANT, "outbox"), "[1, 2")
    raw.close()
    second = serve(tmp_path, redis_url, "second")
    try:
        with httpx.Client(base_url=second.url, headers=KEY, timeout=30) as http:
            assert jobs(http) == jobs_before  # the good ones are all there
            assert http.get(f"{P8}/conversations").status_code in (200, 404)
    finally:
        assert second.terminate() == 0, second.stderr()
    log = second.stderr()
    assert "a job in Redis cannot be read" in log
    assert "a pending delivery in Redis cannot be read" in log
    assert "an outbox entry in Redis cannot be read" in log


def test_redis_going_away_answers_in_the_vendors_5xx_shape(tmp_path: Path) -> None:
    folder = tmp_path / "redis"
    folder.mkdir()
    server = RedisServer(folder)
    try:
        first = serve(tmp_path, server.url, "first")
        try:
            with httpx.Client(base_url=first.url, headers=KEY, timeout=30) as http:
                cid = start_conversation(http)
                say(http, cid, "before")
                server.stop()
                r = http.post(f"{P8}/conversations/{cid}/messages", json={"authorType": "user", "text": "lost"})
                # 8x8 renders every 5xx as its own 500 (the echo vendor's 503 and the state: test_runtime_redis.py)
                assert (r.status_code, r.json()) == (500, {"message": "Internal error.", "errors": []})
        finally:
            first.kill()
    finally:
        server.stop()


def _serial_run(
    tmp_path: Path, redis_url: str, sink: WebhookSink, name: str, *, restart: bool
) -> tuple[list[Any], list[Any]]:
    """The same serial inputs to one tenant, with or without a restart halfway: what the receiver got (bodies and
    the vendor's headers, in order) and the delivery log (ids, events, attempts)."""
    sink.clear()
    server = serve(tmp_path, redis_url, f"{name}-1")
    try:
        with httpx.Client(base_url=server.url, headers=KEY, timeout=30) as http:
            hook(http, sink)
            cid = start_conversation(http)
            for n in range(3):
                say(http, cid, f"before {n}")
        if restart:
            assert server.terminate() == 0, server.stderr()
            server = serve(tmp_path, redis_url, f"{name}-2")
        with httpx.Client(base_url=server.url, headers=KEY, timeout=30) as http:
            for n in range(3):
                say(http, cid, f"after {n}")
            advance(http, 400)  # the conversation's jobs run
            total = len(deliveries(http))
            logged = deliveries(http, settled="true", count=str(total), wait="30")
    finally:
        server.terminate()
    got = [(r.body, {k: v for k, v in r.headers.items() if k.startswith("x-8x8")}) for r in sink.requests]
    attempts = [[{k: v for k, v in a.items() if k != "latency_ms"} for a in d["attempts"]] for d in logged]
    return got, [(d["id"], d["event_id"], d["event"], tried) for d, tried in zip(logged, attempts, strict=True)]


def test_a_restart_halfway_changes_no_webhook_byte_nor_delivery_id(tmp_path: Path, redis_server: RedisServer) -> None:
    sink = WebhookSink()  # one receiver: the webhook URL is part of what is compared
    try:
        redis_server.flush()
        straight = _serial_run(tmp_path, redis_server.url, sink, "straight", restart=False)
        redis_server.flush()
        restarted = _serial_run(tmp_path, redis_server.url, sink, "restarted", restart=True)
    finally:
        sink.close()
    assert straight[0], "webhooks were received"
    assert restarted == straight
