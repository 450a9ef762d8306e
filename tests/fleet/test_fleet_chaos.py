"""Delivery faults (`/_emulator/chaos`) in a fleet: the global faults set through any worker fault every worker's
deliveries, a worker started later (a killed one's replacement) takes them from Redis, `GET /chaos` through any
worker shows every tenant's own faults, a tenant's own faults go with it to the worker that takes it over (and a
reset clears them there and in Redis), and a Redis that does not answer gets a 503 with the faults unchanged."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest
import redis

from emulator.scenarios.receiver import WebhookSink
from tests.fleet.conftest import Fleet, Worker, fleet_on_own_redis, workers
from tests.fleet.test_fleet_serve import CONVERSATION, P8, owner, post

pytestmark = pytest.mark.server

DUPLICATE = {"duplicate": 1.0}


def claim(http: httpx.Client, worker: Worker, tenant: str, sink: WebhookSink) -> str:
    """Tenant `tenant` created through `worker` (a free name: that worker claims it), its webhook at the sink;
    the new conversation's id."""
    hook = {"name": "chaos", "uri": sink.url_for(f"/{tenant}"), "version": "Chat Gateway v1.0"}
    headers = {"x-api-key": tenant}
    assert http.put(f"{worker.url}{P8}/webhooks/1", json=hook, headers=headers).status_code == 200
    r = http.post(f"{worker.url}{P8}/conversations", json=CONVERSATION, headers=headers)
    assert r.status_code == 202, r.text
    return str(r.json()["conversationId"])


def message_twice(http: httpx.Client, worker: Worker, tenant: str, cid: str, sink: WebhookSink) -> None:
    """A message posted for `tenant` reaches its webhook twice: the duplicate fault is in force for it."""
    http.headers["x-api-key"] = tenant
    assert post(http, worker.url, cid, f"faulted {tenant}").status_code == 202
    got = sink.wait_for({"eventType": "MESSAGE"}, path=f"/{tenant}", count=2, timeout=30)
    assert got[0].body == got[1].body  # the same event, sent again after it succeeded


def test_global_faults_set_through_one_worker_fault_the_other_workers_deliveries(
    fleet: Fleet, redis_url: str, webhook_sink: WebhookSink
) -> None:
    _, (a, b) = fleet
    with httpx.Client(timeout=60) as http:
        cid = claim(http, b, "faulted-b", webhook_sink)
        assert owner(redis_url, "faulted-b") == b.id
        r = http.put(f"{a.url}/_emulator/chaos", json=DUPLICATE)
        assert r.status_code == 200, r.text
        assert r.json()["duplicate"] == 1.0
        assert http.get(f"{b.url}/_emulator/chaos").json()["duplicate"] == 1.0
        message_twice(http, b, "faulted-b", cid, webhook_sink)
        # each tenant's own faults live with its owner; either worker lists them all
        for worker, tenant in ((a, "own-a"), (b, "own-b")):
            claim(http, worker, tenant, webhook_sink)
            r = http.put(f"{a.url}/_emulator/chaos", params={"tenant": tenant}, json={"delay": 1.0})
            assert r.status_code == 200, r.text
        assert {owner(redis_url, "own-a"), owner(redis_url, "own-b")} == {a.id, b.id}
        for worker in (a, b):
            shown = http.get(f"{worker.url}/_emulator/chaos").json()
            assert sorted(shown["tenants"]) == ["own-a", "own-b"]
            assert shown["duplicate"] == 1.0
        # turned off through the other worker: off everywhere
        assert http.put(f"{b.url}/_emulator/chaos", json={}).status_code == 200
        for worker in (a, b):
            assert http.get(f"{worker.url}/_emulator/chaos").json()["duplicate"] == 0.0


def test_a_worker_started_later_applies_the_fleets_faults(
    fleet: Fleet, redis_url: str, webhook_sink: WebhookSink
) -> None:
    _, (a, b) = fleet
    with httpx.Client(timeout=60) as http:
        assert http.put(f"{a.url}/_emulator/chaos", json=DUPLICATE).status_code == 200
        os.kill(b.pid, signal.SIGKILL)  # the parent starts a new worker in its place
        fresh = next(w for w in workers(redis_url, 2, gone=frozenset({b.id})) if w.id != a.id)
        cid = claim(http, fresh, "late", webhook_sink)
        assert owner(redis_url, "late") == fresh.id
        message_twice(http, fresh, "late", cid, webhook_sink)


def test_global_faults_with_redis_gone_get_a_503_and_stay_as_they_were(tmp_path: Path) -> None:
    with fleet_on_own_redis(tmp_path, "chaos-outage") as (own, (a, b)), httpx.Client(timeout=60) as http:
        assert http.put(f"{a.url}/_emulator/chaos", json=DUPLICATE).status_code == 200
        own.stop()
        r = http.put(f"{a.url}/_emulator/chaos", json={"drop_first": 1.0})
        assert r.status_code == 503, r.text
        assert r.json()["error"] == "unavailable"
        own.start()
        for worker in (a, b):
            shown = http.get(f"{worker.url}/_emulator/chaos").json()
            assert (shown["duplicate"], shown["drop_first"]) == (1.0, 0.0), shown


def test_bad_faults_are_refused_by_every_worker_and_change_nothing(fleet: Fleet) -> None:
    _, (a, b) = fleet
    with httpx.Client(timeout=60) as http:
        for bad in ({"duplicate": 2}, {"nonsense": 1}, [1]):
            r = http.put(f"{a.url}/_emulator/chaos", json=bad)
            assert r.status_code == 400, r.text
        r = http.put(f"{a.url}/_emulator/chaos", json={"expires_in": 5})
        assert r.status_code == 400, r.text
        assert "?tenant=" in r.json()["message"], r.text
        for worker in (a, b):
            shown = http.get(f"{worker.url}/_emulator/chaos").json()
            assert (shown["duplicate"], shown["tenants"]) == (0.0, {}), shown


def test_a_tenants_own_faults_go_with_it_to_the_worker_that_takes_it_over_and_a_reset_clears_them(
    fleet: Fleet, redis_url: str, webhook_sink: WebhookSink
) -> None:
    _, (a, b) = fleet
    stored = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        with httpx.Client(timeout=60) as http:
            cid = claim(http, b, "moved", webhook_sink)
            assert owner(redis_url, "moved") == b.id
            r = http.put(f"{a.url}/_emulator/chaos", params={"tenant": "moved"}, json=DUPLICATE)  # routed to b
            assert r.status_code == 200, r.text
            assert stored.exists("cxemu:{moved}:rt:chaos")  # kept under the tenant's hash tag, by its owner
            os.kill(b.pid, signal.SIGKILL)  # its lease lapses; another worker takes the tenant over
            # once its replacement runs, b is gone for sure (a message forwarded to it while it dies could fail
            # mid-request: a 503, as a POST is never sent twice)
            workers(redis_url, 2, gone=frozenset({b.id}))
            message_twice(http, a, "moved", cid, webhook_sink)  # the new owner's deliveries get the faults
            assert owner(redis_url, "moved") not in (None, b.id)
            assert http.get(f"{a.url}/_emulator/chaos").json()["tenants"]["moved"]["duplicate"] == 1.0
            r = http.post(f"{a.url}/_emulator/reset")
            assert r.status_code == 200, r.text
            assert http.get(f"{a.url}/_emulator/chaos").json()["tenants"] == {}
            assert not stored.exists("cxemu:{moved}:rt:chaos")  # gone in Redis too: not back at the next takeover
    finally:
        stored.close()
