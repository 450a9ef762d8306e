"""What a fleet shows of itself: `GET /_emulator/state` holds every worker's tenants (their state, jobs, pending
deliveries and timelines) as one server's snapshot of the same inputs does, byte for byte, whichever worker
answers; `POST /_emulator/state` through one worker restores the whole fleet."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from emulator.pytest_plugin import CxemuHandle, CxemuServer
from emulator.scenarios.receiver import WebhookSink
from tests.fleet.conftest import Fleet, serve_fleet, serve_single, workers
from tests.fleet.test_fleet_serve import CONVERSATION, P8, owner, post, texts
from tests.fleet.test_replicas import replica

pytestmark = pytest.mark.server

SEED = "23"
TENANTS = ("north", "south")
HELD = {"delay": 1.0, "delay_seconds": 600}
"""Every delivery held back 600 s on its tenant's timeline: pending (never attempted) while the clock stands."""


def run_inputs(bases: list[str], sink: WebhookSink) -> None:
    """The same serial inputs for two tenants; the first request of tenant n goes to `bases[n % len(bases)]`
    (each tenant claimed by a different worker of a fleet), the rest alternate between the bases."""
    for n, tenant in enumerate(TENANTS):
        base = bases[n % len(bases)]
        with httpx.Client(base_url=base, headers={"x-api-key": tenant}, timeout=60) as http:
            r = http.put("/_emulator/chaos", params={"tenant": tenant}, json=HELD)
            assert r.status_code == 200, r.text
            hook = {"name": "v", "uri": sink.url_for(f"/{tenant}"), "version": "Chat Gateway v1.0"}
            assert http.put(f"{P8}/webhooks/1", json=hook).status_code == 200
    for n, tenant in enumerate(TENANTS):
        with httpx.Client(headers={"x-api-key": tenant}, timeout=60) as http:
            r = http.post(f"{bases[n % len(bases)]}{P8}/conversations", json=CONVERSATION)
            assert r.status_code == 202, r.text
            cid = r.json()["conversationId"]
            for k in range(3):
                assert post(http, bases[(n + k) % len(bases)], cid, f"{tenant} {k}").status_code == 202
            assert texts(http, bases[(n + 1) % len(bases)], cid) == [f"{tenant} {k}" for k in range(3)]
    with httpx.Client(timeout=60) as http:  # one tenant's time moves on (not far enough to release a delivery)
        r = http.post(f"{bases[-1]}/_emulator/clock/advance", params={"tenant": TENANTS[0], "seconds": 7})
        assert r.status_code == 200, r.text


def snapshot(base: str) -> bytes:
    r = httpx.get(f"{base}/_emulator/state", timeout=60)
    assert r.status_code == 200, r.text
    return r.content


def test_the_fleets_snapshot_holds_every_workers_tenants_as_one_servers_does(
    tmp_path: Path, redis_url: str, webhook_sink: WebhookSink
) -> None:
    single = serve_single(tmp_path, redis_url, SEED)  # on its own database
    try:
        run_inputs([single.url], webhook_sink)
        alone = snapshot(single.url)
    finally:
        assert single.terminate() == 0, single.stderr()
    fleet = serve_fleet(tmp_path, redis_url, "--seed", SEED)
    try:
        a, b = workers(redis_url, 2)
        run_inputs([a.url, b.url], webhook_sink)
        assert [owner(redis_url, t) for t in TENANTS] == [a.id, b.id]  # spread over both workers
        through_a, through_b = snapshot(a.url), snapshot(b.url)
    finally:
        assert fleet.terminate() == 0, fleet.stderr()
    data: dict[str, Any] = httpx.Response(200, content=alone).json()
    assert {t for tenants in data["store"].values() for t in tenants} == set(TENANTS)
    assert {d["tenant"] for d in data["deliveries"]["pending"]} == set(TENANTS)  # held back: still pending
    assert set(data["timelines"]) >= set(TENANTS)
    assert data["timelines"][TENANTS[0]] > data["timelines"][TENANTS[1]]
    assert {j["tenant"] for j in data["jobs"]} == set(TENANTS)  # timers on both
    assert through_a == alone
    assert through_b == alone
    assert webhook_sink.matching() == []  # nothing was released meanwhile


def test_a_snapshot_restored_through_one_worker_is_the_whole_fleets_state(
    fleet: Fleet, redis_url: str, webhook_sink: WebhookSink
) -> None:
    _, (a, b) = fleet
    run_inputs([a.url, b.url], webhook_sink)
    taken = snapshot(a.url)
    data = httpx.Response(200, content=taken).json()
    cids = {t: next(iter(data["store"]["eightbyeight"][t]["state"]["conversations"])) for t in TENANTS}
    clients = {t: httpx.Client(headers={"x-api-key": t}, timeout=60) for t in (*TENANTS, "later")}
    try:
        for n, tenant in enumerate(TENANTS):  # after the snapshot: one more message each, a third tenant
            assert post(clients[tenant], (b, a)[n].url, cids[tenant], "after").status_code == 202
        r = clients["later"].post(f"{a.url}{P8}/conversations", json=CONVERSATION)
        assert r.status_code == 202, r.text
        assert owner(redis_url, "later") == a.id
        for bad in (b"{", b'{"version": 99}', b"[]"):  # refused as one server refuses it, nothing changed
            r = httpx.post(f"{b.url}/_emulator/state", content=bad, headers={"content-type": "application/json"})
            assert r.status_code == 400, r.text
        r = httpx.get(f"{a.url}/_emulator/state", params={"secrets": "maybe"})
        assert r.status_code == 400, r.text
        r = httpx.get(f"{b.url}/_emulator/tenants")
        assert sorted(x["tenant"] for x in r.json()["tenants"]) == sorted([*TENANTS, "later"])  # nothing changed
        r = httpx.post(f"{b.url}/_emulator/state", content=taken, headers={"content-type": "application/json"})
        assert r.status_code == 200, r.text
        assert r.json()["tenants"] == len(TENANTS)
        assert [owner(redis_url, t) for t in TENANTS] == [a.id, b.id]  # each tenant stays with its owner
        now = snapshot(a.url)
        assert now == taken
        assert snapshot(b.url) == taken
        for n, tenant in enumerate(TENANTS):  # each owner serves the restored state at once (no 409 first)
            for worker in (a, b):
                assert texts(clients[tenant], worker.url, cids[tenant]) == [f"{tenant} {k}" for k in range(3)]
            said = post(clients[tenant], (a, b)[n].url, cids[tenant], "again")
            assert said.status_code == 202, said.text
        r = httpx.get(f"{b.url}/_emulator/tenants")
        assert sorted(x["tenant"] for x in r.json()["tenants"]) == sorted(TENANTS)  # the later tenant is gone
    finally:
        for client in clients.values():
            client.close()


def test_a_wait_for_deliveries_sees_every_workers_and_the_plugins_waits_reach_the_owner(
    fleet: Fleet, redis_url: str, webhook_sink: WebhookSink
) -> None:
    _, (a, b) = fleet
    for n, tenant in enumerate(TENANTS):  # north on worker a, south on worker b
        with httpx.Client(base_url=(a, b)[n].url, headers={"x-api-key": tenant}, timeout=60) as http:
            hook = {"name": "w", "uri": webhook_sink.url_for(f"/{tenant}"), "version": "Chat Gateway v1.0"}
            assert http.put(f"{P8}/webhooks/1", json=hook).status_code == 200
    assert [owner(redis_url, t) for t in TENANTS] == [a.id, b.id]
    with ThreadPoolExecutor(1) as pool:  # the long poll through worker a, while both tenants' webhooks go out
        params = {"event": "CONVERSATION_UPDATE", "wait": 60, "count": 2}
        waiting = pool.submit(httpx.get, f"{a.url}/_emulator/deliveries", params=params, timeout=90)
        for n, tenant in enumerate(TENANTS):
            with httpx.Client(base_url=(b, a)[n].url, headers={"x-api-key": tenant}, timeout=60) as http:
                r = http.post(f"{P8}/conversations", json=CONVERSATION)
                assert r.status_code == 202, r.text
                for k in range(2):
                    assert post(http, (a, b)[k].url, r.json()["conversationId"], f"{tenant} {k}").status_code == 202
        r = waiting.result()
    assert r.status_code == 200, r.text
    got = r.json()["deliveries"]
    assert sorted(d["tenant"] for d in got) == sorted(TENANTS)
    assert all(d["status"] == "delivered" for d in got)
    for n, tenant in enumerate(TENANTS):  # the pytest plugin's wait, through the worker that does not own it
        handle = CxemuHandle(CxemuServer(url=(b, a)[n].url), tenant)
        try:
            found = handle.wait_for_deliveries(count=2, timeout=30, event="MESSAGE")
        finally:
            handle.http.close()
        assert {d["tenant"] for d in found} == {tenant}
    for bad in ({"settled": "nope"}, {"wait": "soon"}, {"wait": -1}, {"count": 0}, {"status": "lost"}):
        r = httpx.get(f"{b.url}/_emulator/deliveries", params={"wait": 0.5, "count": 1000, **bad})
        assert r.status_code == 400, r.text  # bad input: refused as one server refuses it
        assert r.json()["error"] == "invalid_request", r.text


def test_a_dead_replicas_tenants_are_in_the_snapshot_once_its_leases_lapse(tmp_path: Path, redis_url: str) -> None:
    east, west = replica(tmp_path, redis_url, "east"), replica(tmp_path, redis_url, "west")
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.config_set("notify-keyspace-events", "Kgx")  # a lease lapsing is an event to wait on
    lapsed = client.pubsub(ignore_subscribe_messages=True)
    try:
        lapsed.subscribe("__keyspace@0__:cxemu:{orphan}:owner")
        with httpx.Client(headers={"x-api-key": "orphan"}, timeout=60) as http:
            r = http.post(f"{west.url}{P8}/conversations", json=CONVERSATION)
            assert r.status_code == 202, r.text
            assert post(http, west.url, r.json()["conversationId"], "kept").status_code == 202
        west.kill()  # kill -9: its lease on the tenant lapses, nobody takes it over (no request comes for it)
        deadline = time.monotonic() + 30
        while (got := lapsed.get_message(timeout=deadline - time.monotonic())) is None or got["data"] != "expired":
            assert time.monotonic() < deadline, "the dead replica's lease did not lapse"
        while (r := httpx.get(f"{east.url}/_emulator/state", timeout=60)).status_code == 503:
            assert "did not answer" in r.json()["message"]  # the dead one still looks alive (its last beat)
            assert time.monotonic() < deadline, r.text
        assert r.status_code == 200, r.text
        state = r.json()["store"]["eightbyeight"]["orphan"]["state"]
        [conversation] = state["conversations"].values()
        assert [m["text"] for m in conversation["messages"] if m["author_type"] == "user"] == ["kept"]
        assert owner(redis_url, "orphan") is not None  # claimed by the replica that answered
    finally:
        lapsed.close()
        client.close()
        west.kill()
        assert east.terminate() == 0, east.stderr()


def test_deliveries_due_in_a_restored_snapshot_go_out_once_from_their_tenants_owner(
    fleet: Fleet, redis_url: str, webhook_sink: WebhookSink
) -> None:
    _, (a, b) = fleet
    run_inputs([a.url, b.url], webhook_sink)
    data = httpx.get(f"{a.url}/_emulator/state", timeout=60).json()
    pending = data["deliveries"]["pending"]
    for d in pending:  # due at once when restored (they were held back 600 s)
        d["next_attempt_at"] = d["created_at"]
    r = httpx.post(f"{a.url}/_emulator/state", json=data, timeout=60)  # through north's owner: south is b's
    assert r.status_code == 200, r.text
    ids = sorted(d["event_id"] for d in pending)
    logged: list[dict[str, Any]] = []
    with httpx.Client(timeout=90) as http:
        for tenant in TENANTS:  # each owner's deliveries settle (a wait with a tenant goes to its owner)
            count = sum(d["tenant"] == tenant for d in pending)
            r = http.get(f"{b.url}/_emulator/deliveries", params={"tenant": tenant, "wait": 60, "count": count})
            assert r.status_code == 200, r.text
            logged += r.json()["deliveries"]
    assert sorted(d["event_id"] for d in logged) == ids
    assert all(d["status"] == "delivered" and len(d["attempts"]) == 1 for d in logged), logged
    assert len(webhook_sink.matching()) == len(ids)  # nothing sent twice (none by the worker that restored)
