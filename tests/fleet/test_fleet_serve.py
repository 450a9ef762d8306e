"""`cxemu serve --state redis:// --workers 2` as a user runs it: two worker processes on one port, each tenant
owned by one of them. Requests are sent to each worker's own (private) listener, so which worker gets a request is
the test's choice, not the kernel's: whichever gets it, the tenant behaves as one server."""

from __future__ import annotations

import os
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from emulator.scenarios.receiver import WebhookSink
from tests.fleet.conftest import Fleet, SharedFleet, serve_fleet, workers

pytestmark = pytest.mark.server

P8 = "/chat-gateway/v1"
CONVERSATION = {"channelId": "1", "user": {"name": "James Jones"}}


def owner(url: str, tenant: str) -> str | None:
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        lease = client.get(f"cxemu:{{{tenant}}}:owner")
    finally:
        client.close()
    return None if lease is None else str(lease).rpartition(":")[0]


def texts(http: httpx.Client, base: str, cid: str) -> list[str]:
    r = http.get(f"{base}{P8}/conversations/{cid}/messages", params={"size": 100})
    assert r.status_code == 200, r.text
    return [m["text"] for m in r.json()["_embedded"]["messages"] if m["author"]["type"] == "user"]


def post(http: httpx.Client, base: str, cid: str, text: str) -> httpx.Response:
    return http.post(f"{base}{P8}/conversations/{cid}/messages", json={"authorType": "user", "text": text})


def test_one_tenants_requests_alternately_through_two_workers_behave_as_one_server(
    shared_fleet: SharedFleet, webhook_sink: WebhookSink
) -> None:
    redis_url, server, (a, b) = shared_fleet
    with httpx.Client(headers={"x-api-key": "alternating"}, timeout=60) as http:
        hook = {"name": "fleet", "uri": webhook_sink.url_for("/hook"), "version": "Chat Gateway v1.0"}
        assert http.put(f"{a.url}{P8}/webhooks/1", json=hook).status_code == 200  # the channel's webhook
        r = http.post(f"{b.url}{P8}/conversations", json=CONVERSATION)
        assert r.status_code == 202, r.text
        cid = r.json()["conversationId"]
        said: list[str] = []
        for n in range(6):
            writer, reader = (a, b) if n % 2 == 0 else (b, a)
            r = post(http, writer.url, cid, f"message {n}")
            assert r.status_code == 202, r.text
            said.append(f"message {n}")
            assert texts(http, reader.url, cid) == said  # read your writes, through the other worker
        ids = [m["id"] for m in http.get(f"{a.url}{P8}/conversations/{cid}/messages").json()["_embedded"]["messages"]]
        assert len(set(ids)) == len(ids)
        assert server.url  # the public port serves the same tenant too
        assert texts(http, server.url, cid) == said
    assert owner(redis_url, "alternating") in {a.id, b.id}
    got = webhook_sink.wait_for({"eventType": "MESSAGE"}, count=6, timeout=30)
    assert [r.json["data"]["text"] for r in got] == said  # one dispatcher, in order


def test_concurrent_writes_for_one_tenant_through_both_workers_lose_nothing(shared_fleet: SharedFleet) -> None:
    _, _, (a, b) = shared_fleet
    with httpx.Client(headers={"x-api-key": "racing"}, timeout=60) as http:
        cid = http.post(f"{a.url}{P8}/conversations", json=CONVERSATION).json()["conversationId"]

        def write(n: int) -> int:
            return post(http, (a, b)[n % 2].url, cid, f"m{n}").status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(write, range(40)))
        assert statuses == [202] * 40  # no 409 between workers: one owner runs every unit of work
        got = texts(http, b.url, cid)
        assert sorted(got, key=lambda t: int(t[1:])) == [f"m{n}" for n in range(40)]
        assert texts(http, a.url, cid) == got


def sangoma_token(http: httpx.Client, base: str, creds: dict[str, Any]) -> httpx.Response:
    form = {"grant_type": "client_credentials", **{k: creds[k] for k in ("client_id", "client_secret")}}
    return http.post(f"{base}/oauth/token", data=form)


def test_each_vendors_requests_are_served_by_the_tenants_owner_whichever_worker_gets_them(
    shared_fleet: SharedFleet,
) -> None:
    redis_url, _, (a, b) = shared_fleet
    with httpx.Client(timeout=60) as http:
        r = http.post(f"{a.url}/_emulator/tenants", json={"tenant": "every-vendor"})
        assert r.status_code == 201, r.text
        creds = r.json()["credentials"]
        mine = owner(redis_url, "every-vendor")
        here, there = (a, b) if mine == a.id else (b, a)
        assert mine == here.id
        # the same read through each worker answers the same
        key = {"x-api-key": creds["eightbyeight"]["apiKey"]}
        via = [http.get(f"{w.url}{P8}/conversations", headers=key) for w in (here, there)]
        assert [r.status_code for r in via] == [200, 200]
        assert via[0].json() == via[1].json()
        # a Sangoma token minted through the non-owner works at the owner (one tenant's state)
        r = sangoma_token(http, there.url, creds["sangoma"])
        assert r.status_code == 200, r.text
        bearer = {"authorization": f"Bearer {r.json()['access_token']}"}
        inboxes = [http.get(f"{w.url}/cx/api/v1/digital-interactions/inboxes", headers=bearer) for w in (here, there)]
        assert [r.status_code for r in inboxes] == [200, 200]
        assert inboxes[0].json() == inboxes[1].json()
        # CM.com: a message sent through the non-owner is accepted as through the owner
        cm = creds["cmcom"]["productToken"]
        msg = {"from": "Acme", "to": [{"number": "0031612345678"}], "body": {"type": "auto", "content": "hi"}}
        envelope = {"messages": {"authentication": {"producttoken": cm}, "msg": [msg]}}
        sent = [http.post(f"{w.url}/v1.0/message", json=envelope) for w in (there, here)]
        assert [r.status_code for r in sent] == [200, 200], [r.text for r in sent]
        # Samespace: an unknown call is the vendor's own 404 through either worker
        ss = creds["samespace"]
        query = {"cloud_id": ss["cloud_id"], "auth_token": ss["auth_token"]}
        missing = [http.get(f"{w.url}/api/public/v1/call/nope", params=query) for w in (there, here)]
        assert missing[0].status_code == missing[1].status_code == 404
        assert missing[0].json() == missing[1].json()
        # the owner journaled every one of them once, as the client sent it (the hop leaves no trace)
        journal = http.get(f"{there.url}/_emulator/requests", params={"tenant": "every-vendor", "limit": 0}).json()
        vendors = [e["vendor"] for e in journal["requests"]]
        for vendor, count in (("eightbyeight", 2), ("sangoma", 3), ("cmcom", 2), ("samespace", 2)):
            assert vendors.count(vendor) == count, vendors
        assert not any("x-cxemu-forwarded" in e["headers"] for e in journal["requests"])


def test_the_control_plane_through_either_worker_acts_on_the_tenants_owner(shared_fleet: SharedFleet) -> None:
    redis_url, _, (a, b) = shared_fleet
    with httpx.Client(timeout=60) as http:
        key = {"x-api-key": "controlled"}
        cid = http.post(f"{a.url}{P8}/conversations", json=CONVERSATION, headers=key).json()["conversationId"]
        there = b if owner(redis_url, "controlled") == a.id else a
        clock = http.get(f"{there.url}/_emulator/clock", params={"tenant": "controlled"}).json()
        moved = http.post(f"{there.url}/_emulator/clock/advance", params={"tenant": "controlled"}, json={"seconds": 60})
        assert moved.status_code == 200, moved.text
        assert moved.json()["timelines"]["controlled"] == clock["now"] + 60
        view = http.get(f"{there.url}/_emulator/vendors/eightbyeight/tenants/controlled")
        assert view.status_code == 200, view.text
        # fleet-wide: both workers' tenants listed and reset, through either worker
        http.post(f"{b.url}{P8}/conversations", json=CONVERSATION, headers={"x-api-key": "other"})
        for w in (a, b):
            listed = http.get(f"{w.url}/_emulator/tenants").json()["tenants"]
            assert {t["tenant"] for t in listed} >= {"controlled", "other"}
        reset = http.post(f"{there.url}/_emulator/reset")
        assert reset.status_code == 200, reset.text
        assert {t["tenant"] for t in reset.json()["reset"]} >= {"controlled", "other"}
        gone = http.get(f"{a.url}{P8}/conversations/{cid}", headers=key)
        assert gone.status_code == 404, gone.text


def test_a_killed_owners_tenant_is_taken_over_by_the_other_worker_with_its_state(fleet: Fleet, redis_url: str) -> None:
    _, (a, b) = fleet
    with httpx.Client(headers={"x-api-key": "orphan"}, timeout=60) as http:
        cid = http.post(f"{a.url}{P8}/conversations", json=CONVERSATION).json()["conversationId"]
        assert post(http, a.url, cid, "before the kill").status_code == 202
        doomed, survivor = (a, b) if owner(redis_url, "orphan") == a.id else (b, a)
        os.kill(doomed.pid, signal.SIGKILL)
        # the dead owner's lease lapses (ttl 1 s): the survivor claims the tenant (or its sweeper, or the restarted
        # worker's, did first and the survivor forwards) and serves its state
        assert texts(http, survivor.url, cid) == ["before the kill"]
        assert owner(redis_url, "orphan") not in {None, doomed.id}
        assert post(http, survivor.url, cid, "after the kill").status_code == 202
        assert texts(http, survivor.url, cid) == ["before the kill", "after the kill"]
    # the parent started a new worker in place of the killed one; it forwards to the new owner
    fresh = next(w for w in workers(redis_url, 2, gone=frozenset({doomed.id})) if w.id != survivor.id)
    with httpx.Client(headers={"x-api-key": "orphan"}, timeout=60) as http:
        assert texts(http, fresh.url, cid) == ["before the kill", "after the kill"]


def test_a_clean_stop_releases_every_lease_and_leaves_the_registry(tmp_path: Path, redis_url: str) -> None:
    server = serve_fleet(tmp_path, redis_url)
    try:
        a, b = workers(redis_url, 2)
        with httpx.Client(headers={"x-api-key": "released"}, timeout=60) as http:
            assert http.post(f"{a.url}{P8}/conversations", json=CONVERSATION).status_code == 202
        assert owner(redis_url, "released") in {a.id, b.id}
    finally:
        assert server.terminate() == 0, server.stderr()
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        assert client.get("cxemu:{released}:owner") is None
        assert client.hlen("cxemu:workers") == 0
    finally:
        client.close()


def test_a_request_that_leaves_its_tenant_empty_leaves_no_lease_behind(shared_fleet: SharedFleet) -> None:
    redis_url, _, (a, b) = shared_fleet
    with httpx.Client(timeout=60) as http:
        r = http.get(f"{a.url}{P8}/conversations/CONV-nope", headers={"x-api-key": "nobody"})
        assert r.status_code == 404, r.text
        assert owner(redis_url, "nobody") is None  # claimed for the request, released after it: nothing to own
        r = http.post(f"{b.url}{P8}/conversations", json=CONVERSATION, headers={"x-api-key": "somebody"})
        assert r.status_code == 202, r.text
        assert owner(redis_url, "somebody") in {a.id, b.id}  # a tenant with state keeps its owner


def test_a_reset_through_one_worker_resets_every_workers_tenants_and_each_starts_afresh(
    fleet: Fleet, redis_url: str
) -> None:
    _, (a, b) = fleet
    for tenant, worker in (("reset-a", a), ("reset-b", b)):  # a tenant owned by each worker
        with httpx.Client(headers={"x-api-key": tenant}, timeout=60) as http:
            r = http.post(f"{worker.url}{P8}/conversations", json=CONVERSATION)
            assert r.status_code == 202, r.text
        assert owner(redis_url, tenant) == worker.id
    r = httpx.post(f"{a.url}/_emulator/reset", timeout=60)  # each worker resets its own (fenced) tenants
    assert r.status_code == 200, r.text
    assert r.json()["reset"] == [
        {"vendor": "eightbyeight", "tenant": "reset-a"},
        {"vendor": "eightbyeight", "tenant": "reset-b"},
    ]
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        assert client.smembers("cxemu:tenants") == set()
    finally:
        client.close()
    assert httpx.get(f"{b.url}/_emulator/state", timeout=60).json()["store"] == {}
    with httpx.Client(headers={"x-api-key": "reset-b"}, timeout=60) as http:  # through the other worker: afresh
        r = http.post(f"{a.url}{P8}/conversations", json=CONVERSATION)
        assert r.status_code == 202, r.text
        fresh = r.json()["conversationId"]
    state = httpx.get(f"{b.url}/_emulator/state", timeout=60).json()["store"]
    assert list(state) == ["eightbyeight"]
    assert list(state["eightbyeight"]) == ["reset-b"]
    assert list(state["eightbyeight"]["reset-b"]["state"]["conversations"]) == [fresh]  # the old one is gone
