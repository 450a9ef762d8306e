"""A dead or stalled worker's tenants, with no request for them: two `cxemu serve` replicas on one Redis (each with
`--advertise`, nothing restarts a killed one), the system clock, a short lease ttl.

- kill -9 of the worker that owns a tenant whose webhook attempt is in flight: the other replica's sweeper claims
  the tenant once the lease lapses and the webhook goes out again (same event id, the next attempt number)
  without any request for the tenant;
- SIGSTOP of the owner past the ttl, the other takes the tenant over, SIGCONT: the stalled worker's runtime writes
  are refused by the lease's fencing token, it drops the tenant, and the delivery log holds no attempt of it
  after the takeover."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from emulator.scenarios.receiver import ReceivedRequest, WebhookSink
from tests.fleet.conftest import TTL, Worker, workers
from tests.fleet.test_fleet_serve import CONVERSATION, P8, owner, post
from tests.fleet.test_replicas import free_port
from tests.support.procs import ServerProcess

pytestmark = pytest.mark.server

EVENT_ID = "x-8x8-event-id"


def replica(tmp_path: Path, url: str, name: str) -> ServerProcess:
    where = f"127.0.0.1:{free_port()}"
    return ServerProcess(
        "--port", "0", "--state", url, "--advertise", where, "--lease-ttl", TTL, "--log-level", "info",
        log=tmp_path / f"{name}.log",
    )  # fmt: skip


Pair = tuple[dict[int, ServerProcess], list[Worker]]


@pytest.fixture
def pair(tmp_path: Path, redis_url: str) -> Iterator[Pair]:
    """Two replicas on the emptied Redis (system clock), by pid, and their registry entries."""
    started: dict[int, ServerProcess] = {}
    try:
        for name in ("east", "west"):
            server = replica(tmp_path, redis_url, name)
            started[server.proc.pid] = server
        yield started, workers(redis_url, 2)
    finally:
        for server in started.values():
            if server.proc.poll() is None:
                os.kill(server.proc.pid, signal.SIGCONT)
                assert server.terminate() == 0, server.stderr()
            else:
                server.kill()


def until(what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Poll `check` until it answers something true (a deadline, no fixed sleep: each poll is a Redis round trip or
    a log read)."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g}s")
        time.sleep(0.05)


def first_attempt(http: httpx.Client, base: str, sink: WebhookSink, tenant: str) -> ReceivedRequest:
    """A conversation of `tenant` with a message; the first webhook it fires is held open at the sink."""
    sink.respond_with(200, times=1, held=True)
    hook = {"name": "s", "uri": sink.url_for(f"/{tenant}"), "version": "Chat Gateway v1.0"}
    assert http.put(f"{base}{P8}/webhooks/1", json=hook).status_code == 200
    r = http.post(f"{base}{P8}/conversations", json=CONVERSATION)
    assert r.status_code == 202, r.text
    assert post(http, base, r.json()["conversationId"], "in flight").status_code == 202
    return sink.wait_for(path=f"/{tenant}", timeout=30)[0]


def logged(url: str, tenant: str) -> list[dict[str, Any]]:
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        return [json.loads(raw) for raw in client.lrange(f"cxemu:{{{tenant}}}:rt:log", 0, -1)]
    finally:
        client.close()


def test_a_killed_owners_webhook_goes_on_from_the_other_replica_without_any_request(
    pair: Pair, redis_url: str, webhook_sink: WebhookSink
) -> None:
    servers, (a, b) = pair
    with httpx.Client(headers={"x-api-key": "swept"}, timeout=60) as http:
        held = first_attempt(http, servers[a.pid].url, webhook_sink, "swept")
    doomed, survivor = (a, b) if owner(redis_url, "swept") == a.id else (b, a)
    os.kill(doomed.pid, signal.SIGKILL)
    # no request for the tenant from here on: the survivor's sweeper claims it and its dispatcher sends it again
    again = webhook_sink.wait_for(headers={EVENT_ID: held.headers[EVENT_ID]}, path="/swept", count=2, timeout=60)[1]
    assert again.body == held.body
    assert int(again.headers["x-8x8-retry"]) > int(held.headers["x-8x8-retry"])
    assert owner(redis_url, "swept") == survivor.id
    assert "took over 1 tenant(s) left free: 'swept'" in servers[survivor.pid].stderr()
    webhook_sink.release()
    # every webhook of the tenant is delivered, the MESSAGE one included (it was queued behind the held one)
    settled = until(
        "both webhooks settled", lambda: len(logged(redis_url, "swept")) >= 2 and logged(redis_url, "swept")
    )
    assert all(d["status"] == "delivered" for d in settled), settled
    first = next(d for d in settled if d["event_id"] == held.headers[EVENT_ID])
    assert first["attempts"][0]["error"].startswith("outcome unknown"), first["attempts"]


def test_a_stalled_owners_runtime_writes_are_refused_once_another_worker_took_its_tenant(
    pair: Pair, redis_url: str, webhook_sink: WebhookSink
) -> None:
    servers, (a, b) = pair
    with httpx.Client(headers={"x-api-key": "fenced"}, timeout=60) as http:
        held = first_attempt(http, servers[a.pid].url, webhook_sink, "fenced")
    stalled, taker = (a, b) if owner(redis_url, "fenced") == a.id else (b, a)
    os.kill(stalled.pid, signal.SIGSTOP)  # past the ttl: its lease lapses, the other worker takes the tenant over
    until("the tenant taken over", lambda: owner(redis_url, "fenced") == taker.id)
    webhook_sink.wait_for(headers={EVENT_ID: held.headers[EVENT_ID]}, path="/fenced", count=2, timeout=60)
    webhook_sink.release()  # the stalled worker's attempt is answered 200 now: it reads it when it wakes up
    os.kill(stalled.pid, signal.SIGCONT)
    log = servers[stalled.pid]
    said = until(
        "the stalled worker gave the tenant up",
        lambda: [
            line
            for line in log.stderr().splitlines()
            if "'fenced'" in line and ("refused" in line or "lost the lease" in line)
        ],
    )
    taker_log = until(
        "both webhooks settled", lambda: len(logged(redis_url, "fenced")) >= 2 and logged(redis_url, "fenced")
    )
    first = [d for d in taker_log if d["event_id"] == held.headers[EVENT_ID]]
    assert len(first) == 1, first  # settled once, by the worker that owns the tenant
    attempts = first[0]["attempts"]
    assert attempts[0]["error"].startswith("outcome unknown"), (said, attempts)  # the stalled worker's: never settled
    assert [a.get("status") for a in attempts[1:]] == [200], attempts
    with httpx.Client(headers={"x-api-key": "fenced"}, timeout=60) as http:  # the stalled one now forwards
        r = http.get(f"{servers[stalled.pid].url}/_emulator/deliveries", params={"tenant": "fenced", "body": "false"})
        assert r.status_code == 200, r.text
        shown = [d for d in r.json()["deliveries"] if d["event_id"] == held.headers[EVENT_ID]]
        assert [len(d["attempts"]) for d in shown] == [2], shown
