"""The runtime of a Redis-backed server in Redis (`core.redisruntime`), on a real `redis-server`: a request answers
once its commit wrote what it caused (its webhooks in the outbox entry, until the attempt's write turns them into
deliveries; a process killed or fenced in between leaves them to the next owner, which sends them once), `adopt`
takes a tenant on from what another process left (jobs, pending deliveries, the log, the outbox) and `drop` forgets
it here without writing, a corrupt entry is left out, and Redis going away mid-run answers 503 in the vendor's shape
with nothing half-written."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from emulator.core import redisruntime
from emulator.core.rediskeys import tenant_key, vendor_key
from emulator.core.redisstore import StateUnavailable
from emulator.core.runtime import Emulator
from emulator.core.store import Outbound
from emulator.scenarios.receiver import WebhookSink
from tests.conftest import AppFactory
from tests.support.redis_server import RedisServer

ACME = {"x-echo-tenant": "acme"}


@pytest.fixture
async def sink() -> AsyncIterator[WebhookSink]:
    receiver = WebhookSink()
    yield receiver
    receiver.release()
    receiver.close()


def raw(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, decode_responses=True)


def runtime_keys(url: str, tenant: str = "acme") -> dict[str, Any]:
    """Every runtime key of the tenant as Redis holds it."""
    r = raw(url)
    try:
        out: dict[str, Any] = {}
        for key in sorted(r.keys(tenant_key(tenant, "*"))):
            kind = r.type(key)
            if kind == "hash":
                out[key] = r.hgetall(key)
            elif kind == "list":
                out[key] = r.lrange(key, 0, -1)
            elif kind == "string":
                out[key] = r.get(key)
        # the vendor state is the store's, the lease and its fencing counter the fleet's
        return {k: v for k, v in out.items() if ":v:" not in k and not k.endswith((":owner", ":fence"))}
    finally:
        r.close()


async def item(client: httpx.AsyncClient, text: str) -> str:
    r = await client.post("/echo/v1/items", json={"text": text}, headers=ACME)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def flush(emu: Emulator) -> None:
    """Wait until what the emulator's runtime marked is in Redis."""
    assert emu.runtime is not None
    await emu.runtime.flush()


def emulator_of(app: Any) -> Emulator:
    emu: Emulator = app.state.emulator
    return emu


async def served(
    make_app: AppFactory, url: str, sink: WebhookSink | None = None, **options: Any
) -> tuple[Emulator, httpx.AsyncClient]:
    """A server on the Redis at `url` (its emulator and a client), its echo tenant's webhooks to `sink` if given."""
    app, client = await make_app(state=url, **options)
    if sink is not None:
        r = await client.put("/echo/v1/webhook", json={"url": sink.url_for()}, headers=ACME)
        assert r.status_code == 204, r.text
    return emulator_of(app), client


def hand_over(emu: Emulator, url: str, tenant: str = "acme") -> None:
    """This process lets go of the tenant as a worker that loses it does (its lease gone, the tenant dropped here
    without writing), so the next process on the same Redis claims and adopts it at start."""
    assert emu.fleet is not None  # a Redis-backed server is a fleet of one
    emu.fleet.owned.pop(tenant, None)
    r = raw(url)
    r.delete(tenant_key(tenant, "owner"))
    r.close()
    emu.drop(tenant)


@pytest.fixture
def lingering(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a delivery marks waits for a write to ride with, however slow the machine (never written alone)."""
    monkeypatch.setattr(redisruntime, "LINGER", 3600.0)


def webhooks_in(stored: dict[str, Any], tenant: str = "acme") -> list[str]:
    """The item texts of the tenant's webhooks Redis holds, in the outbox or as pending deliveries."""
    entries = [json.loads(e) for e in stored.get(tenant_key(tenant, "outbox"), [])]
    pending = [json.loads(v) for v in stored.get(tenant_key(tenant, "rt", "dlv"), {}).values()]
    return [o["payload"]["text"] for e in entries for o in e["out"]] + [
        json.loads(d["body_text"])["text"] for d in pending
    ]


def flights_in(stored: dict[str, Any], tenant: str = "acme") -> dict[str, dict[str, Any]]:
    """The attempts Redis holds as started and not settled, by delivery id."""
    return {k: json.loads(v) for k, v in stored.get(tenant_key(tenant, "rt", "flight"), {}).items()}


def attempts_of(d: Any) -> list[tuple[int, int | None, bool]]:
    """Each attempt of a delivery as (n, status, recorded as lost)."""
    return [(a.n, a.status, a.error == redisruntime.LOST) for a in d.attempts]


@pytest.mark.usefixtures("lingering")
async def test_a_request_answers_once_its_commit_holds_its_webhook_and_records_its_first_attempt(
    make_app: AppFactory, redis_url: str, sink: WebhookSink
) -> None:
    sink.respond_with(200, held=True)  # its attempt stays in flight
    emu, client = await served(make_app, redis_url, sink)
    assert emu.runtime is not None
    await flush(emu)
    writes = emu.runtime.writes
    await item(client, "first")
    # read as soon as the answer came: the commit wrote the webhook (its outbox entry, numbered) and its first
    # attempt as started, so that attempt needs no runtime write of its own
    stored = runtime_keys(redis_url)
    assert webhooks_in(stored) == ["first"]
    [entry] = [json.loads(e) for e in stored[tenant_key("acme", "outbox")]]
    assert entry["seq"] == 1  # numbered per tenant
    [(name, started)] = flights_in(stored).items()
    assert name.startswith("dlv_")
    assert name.endswith("_0000001")
    assert started["n"] == 0
    assert tenant_key("acme", "rt", "seq") not in stored  # the entry names its numbers until its removal writes them
    await sink.async_wait_for(count=1, timeout=30)  # the attempt went out on the commit's record
    assert emu.runtime.writes == writes  # no runtime write before it
    assert runtime_keys(redis_url) == stored
    await flush(emu)  # what lingered: the delivery's own record (its attempt still out), the entry cleared
    stored = runtime_keys(redis_url)
    pending = [json.loads(v) for v in stored[tenant_key("acme", "rt", "dlv")].values()]
    assert [(d["id"], d["status"], d["attempts"]) for d in pending] == [(name, "pending", [])]
    assert stored.get(tenant_key("acme", "outbox"), []) == []
    assert flights_in(stored) == {name: started}  # recorded again after the delivery's record: still out
    assert stored[tenant_key("acme", "rt", "seq")] == "1"  # written with the entry's removal
    assert emu.runtime.writes == writes + 1


@pytest.mark.usefixtures("lingering")
async def test_a_process_killed_while_its_first_attempt_is_out_leaves_it_lost_and_the_next_sends_it_again(
    make_app: AppFactory, redis_url: str, sink: WebhookSink
) -> None:
    sink.respond_with(200, held=True)  # the first attempt is out when the process is killed
    emu, client = await served(make_app, redis_url, sink)
    await item(client, "cut")
    [cut] = await sink.async_wait_for(count=1, timeout=30)
    stored = runtime_keys(redis_url)
    assert webhooks_in(stored) == ["cut"]  # nothing but the commit's writes
    [name] = flights_in(stored)

    hand_over(emu, redis_url)  # killed now: what it had marked is never written
    sink.release()  # the cut attempt's answer reaches nobody
    assert runtime_keys(redis_url) == stored
    other, _ = await make_app(state=redis_url)
    adopted = emulator_of(other)
    [done] = await adopted.dispatcher.wait(lambda d: True, count=1, timeout=30)
    assert (done.id, done.status) == (name, "delivered")
    assert attempts_of(done) == [(0, None, True), (1, 200, False)]  # the cut attempt logged, then a retry
    received = await sink.async_wait_for(count=2, timeout=30)
    assert [(q.headers["x-echo-event-id"], q.headers["x-echo-attempt"]) for q in received] == [
        (done.event_id, "0"),
        (done.event_id, "1"),
    ]
    assert cut.json["text"] == "cut"
    await flush(adopted)
    stored = runtime_keys(redis_url)
    assert (stored.get(tenant_key("acme", "outbox"), []), flights_in(stored)) == ([], {})
    assert [json.loads(d)["id"] for d in stored[tenant_key("acme", "rt", "log")]] == [name]


async def test_a_process_killed_between_its_commit_and_the_first_attempt_leaves_it_lost_and_the_next_sends_it_once(
    make_app: AppFactory, redis_url: str, sink: WebhookSink
) -> None:
    emu, client = await served(make_app, redis_url, sink)
    emu.store._commit_hooks.clear()  # the process stops as its commit is answered: no delivery is made here
    await item(client, "never sent here")
    stored = runtime_keys(redis_url)
    assert webhooks_in(stored) == ["never sent here"]
    [(name, started)] = flights_in(stored).items()  # recorded by the commit as started
    assert tenant_key("acme", "rt", "dlv") not in stored

    hand_over(emu, redis_url)
    other, _ = await make_app(state=redis_url)
    adopted = emulator_of(other)
    [done] = await adopted.dispatcher.wait(lambda d: True, count=1, timeout=30)
    assert (done.id, done.status, done.created_at) == (name, "delivered", started["at"])
    assert attempts_of(done) == [(0, None, True), (1, 200, False)]  # at least once: it may have gone out
    [received] = await sink.async_wait_for(count=1, timeout=30)
    assert (received.json["text"], received.headers["x-echo-event-id"]) == ("never sent here", done.event_id)
    await flush(adopted)
    stored = runtime_keys(redis_url)
    assert (stored.get(tenant_key("acme", "outbox"), []), flights_in(stored)) == ([], {})
    assert len(sink.requests) == 1


async def test_a_commit_refused_by_the_fence_records_and_sends_nothing(
    make_app: AppFactory, redis_url: str, sink: WebhookSink
) -> None:
    emu, client = await served(make_app, redis_url, sink)
    await item(client, "before")
    await emu.dispatcher.wait(lambda d: True, count=1, timeout=30)
    await flush(emu)
    before = runtime_keys(redis_url)
    r = raw(redis_url)
    r.set(tenant_key("acme", "owner"), "another-worker:99")  # another worker took the tenant over meanwhile
    r.close()
    answer = await client.post("/echo/v1/items", json={"text": "fenced"}, headers=ACME)
    assert answer.status_code == 409, answer.text
    assert runtime_keys(redis_url) == before  # no outbox entry, no attempt recorded, no number taken
    assert [json.loads(d.body)["text"] for d in emu.dispatcher.deliveries()] in (["before"], [])  # none made
    assert [q.json["text"] for q in sink.requests] == ["before"]


async def test_a_commit_refused_for_a_moved_version_gives_its_delivery_numbers_to_the_next(
    make_app: AppFactory, redis_url: str, sink: WebhookSink
) -> None:
    emu, client = await served(make_app, redis_url, sink)
    await item(client, "one")
    r = raw(redis_url)
    r.hincrby(vendor_key("echo", "acme"), "v", 1)  # another process committed the tenant meanwhile
    r.close()
    answer = await client.post("/echo/v1/items", json={"text": "refused"}, headers=ACME)
    assert answer.status_code == 409, answer.text
    await item(client, "two")
    done = await emu.dispatcher.wait(lambda d: True, count=2, timeout=30)
    assert sorted((d.id[-8:], json.loads(d.body)["text"]) for d in done) == [("_0000001", "one"), ("_0000002", "two")]
    await flush(emu)
    assert flights_in(runtime_keys(redis_url)) == {}


@pytest.mark.usefixtures("lingering")
async def test_a_process_killed_between_a_commit_and_its_runtime_write_sends_the_webhook_once(
    make_app: AppFactory, redis_url: str, sink: WebhookSink
) -> None:
    emu, client = await served(make_app, redis_url, sink)
    held = {"delay": 1, "delay_seconds": 3600}  # the tenant's own faults (this process's): no attempt starts here
    assert (await client.put("/_emulator/chaos?tenant=acme", json=held)).status_code == 200
    await item(client, "kept")
    stored = runtime_keys(redis_url)
    assert tenant_key("acme", "rt", "dlv") not in stored  # no runtime write yet: only the commit's outbox entry
    assert webhooks_in(stored) == ["kept"]

    hand_over(emu, redis_url)  # killed now: what it had marked is never written
    assert runtime_keys(redis_url) == stored
    other, other_client = await make_app(state=redis_url)  # adopts the tenant at start, with its own faults
    adopted = emulator_of(other)
    assert (await other_client.get("/_emulator/chaos")).json()["tenants"]["acme"]["delay"] == 1
    assert adopted.dispatcher.deliveries()[0].status == "pending"  # the replayed webhook is held back as before
    r = await other_client.post("/_emulator/clock/advance?tenant=acme", json={"seconds": 3600})
    assert r.status_code == 200, r.text
    [done] = await adopted.dispatcher.wait(lambda d: True, count=1, timeout=30)
    assert (done.status, done.id.endswith("_0000001")) == ("delivered", True)
    [received] = await sink.async_wait_for(count=1, timeout=30)
    assert received.json["text"] == "kept"
    await flush(adopted)
    stored = runtime_keys(redis_url)
    assert stored.get(tenant_key("acme", "outbox"), []) == []
    assert [json.loads(d)["event_id"] for d in stored[tenant_key("acme", "rt", "log")]] == [done.event_id]
    assert len(sink.requests) == 1


@pytest.mark.usefixtures("lingering")
async def test_an_owner_whose_lease_went_before_its_runtime_write_writes_nothing_and_the_next_sends_once(
    make_app: AppFactory, redis_url: str, sink: WebhookSink
) -> None:
    emu, client = await served(make_app, redis_url, sink)
    held = {"delay": 1, "delay_seconds": 3600}
    assert (await client.put("/_emulator/chaos?tenant=acme", json=held)).status_code == 200
    await item(client, "fenced")
    stored = runtime_keys(redis_url)
    r = raw(redis_url)
    r.set(tenant_key("acme", "owner"), "another-worker:99")  # another worker took the tenant over meanwhile
    await flush(emu)  # its delivery's write (and the entry's removal) refused: the tenant is dropped here
    assert emu.dispatcher.deliveries() == []
    assert runtime_keys(redis_url) == stored  # the outbox entry still holds the webhook
    await emu.stop()
    r.delete(tenant_key("acme", "owner"))  # the other worker is gone before it wrote anything
    r.close()
    other, other_client = await make_app(state=redis_url)  # adopts the tenant with its own faults (held back)
    r = await other_client.post("/_emulator/clock/advance?tenant=acme", json={"seconds": 3600})
    assert r.status_code == 200, r.text
    [done] = await emulator_of(other).dispatcher.wait(lambda d: True, count=1, timeout=30)
    assert done.status == "delivered"
    [received] = await sink.async_wait_for(count=1, timeout=30)
    assert received.json["text"] == "fenced"


async def test_a_tenant_adopted_elsewhere_goes_on_and_a_dropped_one_writes_nothing(
    make_app: AppFactory, redis_url: str, sink: WebhookSink
) -> None:
    sink.respond_with(503)  # the receiver fails: deliveries wait for retries
    emu, client = await served(make_app, redis_url, sink)
    first = await item(client, "one")
    await item(client, "two")
    r = await client.post(f"/echo/v1/items/{first}/ping", json={"delay": 30}, headers=ACME)
    assert r.status_code == 202
    await emu.dispatcher.wait(lambda d: len(d.attempts) > 0, count=2, settled=False, timeout=30)
    await flush(emu)
    jobs = emu.scheduler.snapshot()
    pending = sorted((d.persist() for d in emu.dispatcher.deliveries()), key=lambda d: d["seq"])
    before = runtime_keys(redis_url)

    hand_over(emu, redis_url)  # another process owns it now
    assert emu.scheduler.snapshot() == []
    assert emu.dispatcher.deliveries() == []
    assert not emu.store.exists("echo", "acme")
    await flush(emu)
    assert runtime_keys(redis_url) == before  # nothing written

    other, _ = await make_app(state=redis_url)  # a new process adopts every stored tenant at start
    adopted = emulator_of(other)
    assert adopted.scheduler.snapshot() == jobs
    assert sorted((d.persist() for d in adopted.dispatcher.deliveries()), key=lambda d: d["seq"]) == pending
    for _ in range(2):  # the first one can take it back (twice: nothing doubles)
        found = await emu.adopt("acme")
        assert (found["jobs"], found["pending"]) == (1, 2)
        assert emu.scheduler.snapshot() == jobs
        assert len(emu.dispatcher.deliveries()) == 2


async def test_a_system_clock_job_fires_in_the_process_that_adopts_it(
    make_app: AppFactory, redis_url: str, sink: WebhookSink
) -> None:
    emu, client = await served(make_app, redis_url, sink, clock="system")
    first = await item(client, "one")
    r = await client.post(f"/echo/v1/items/{first}/ping", json={"delay": 0.5}, headers=ACME)
    assert r.status_code == 202
    hand_over(emu, redis_url)  # this process lets go before the job is due: it never fires here
    other, _ = await make_app(state=redis_url, clock="system")
    adopted = emulator_of(other)
    pinged = await adopted.dispatcher.wait(lambda d: d.event_type == "pinged", count=1, timeout=30)
    assert [d.status for d in pinged] == ["delivered"]
    assert not [d for d in emu.dispatcher.deliveries() if d.event_type == "pinged"]


async def test_an_outbox_left_by_a_process_that_died_after_its_commit_is_replayed_once(
    make_app: AppFactory, redis_url: str, sink: WebhookSink
) -> None:
    emu, client = await served(make_app, redis_url, sink)
    await item(client, "sent")
    sent = (await emu.dispatcher.wait(lambda d: True, count=1, timeout=30))[0]
    await flush(emu)
    left = {"url": sink.url_for(), "payload": {"left": True}, "event_type": "created", "subject": "x", "profile": {}}
    r = raw(redis_url)
    outbox = tenant_key("acme", "outbox")
    again = {**left, "payload": json.loads(sent.body), "subject": sent.subject, "event_id": sent.event_id}
    r.rpush(outbox, json.dumps({"vendor": "echo", "out": [{**left, "event_id": "ev-left"}, again]}))
    r.close()

    hand_over(emu, redis_url)  # this process "died" after its commit
    other, _ = await make_app(state=redis_url)
    adopted = emulator_of(other)
    done = await adopted.dispatcher.wait(lambda d: d.event_id == "ev-left", count=1, timeout=30)
    assert [d.status for d in done] == ["delivered"]
    assert [d.event_id for d in adopted.dispatcher.deliveries()].count(sent.event_id) == 1  # not sent twice
    await flush(adopted)
    assert runtime_keys(redis_url).get(outbox, []) == []


async def test_a_corrupt_runtime_entry_is_left_out_and_the_rest_goes_on(
    make_app: AppFactory, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    emu, client = await served(make_app, redis_url)
    first = await item(client, "one")
    await client.post(f"/echo/v1/items/{first}/ping", json={"delay": 30}, headers=ACME)
    jobs = emu.scheduler.snapshot()
    r = raw(redis_url)
    r.hset(tenant_key("acme", "rt", "jobs"), "77", json.dumps({"due": "soon"}))
    r.hset(tenant_key("acme", "rt", "dlv"), "dlv_x", "{")
    r.rpush(tenant_key("acme", "rt", "log"), json.dumps({"id": 3}))
    r.close()
    hand_over(emu, redis_url)
    other, _ = await make_app(state=redis_url)
    assert emulator_of(other).scheduler.snapshot() == jobs
    said = caplog.text
    for what in ("a job", "a pending delivery", "a logged delivery"):
        assert f"{what} in Redis cannot be read and is left out" in said


async def test_a_redis_that_forgot_the_write_script_still_takes_each_write_once(
    make_app: AppFactory, redis_url: str, sink: WebhookSink
) -> None:
    emu, client = await served(make_app, redis_url, sink)
    await item(client, "before")
    await emu.dispatcher.wait(lambda d: d.status == "delivered", count=1, timeout=30)
    await flush(emu)
    r = raw(redis_url)
    try:
        r.script_flush()  # as after a restart of Redis: every script it had is gone
        # the owner's commit is pipelined: one that finds its script gone failed (never sent again behind the
        # commits sent after it); its connection loads the scripts again, and the next request adopts afresh
        lost = await client.post("/echo/v1/items", json={"text": "lost"}, headers=ACME)
        assert lost.status_code == 503, lost.text
        await item(client, "after")
        await emu.dispatcher.wait(lambda d: d.status == "delivered", count=2, timeout=30)
        await flush(emu)
        logged = [json.loads(d) for d in r.lrange(tenant_key("acme", "rt", "log"), 0, -1)]
    finally:
        r.close()
    # each settled delivery in the log once: the write refused for want of its script ran once, when sent again
    assert [json.loads(d["body_text"])["text"] for d in logged] == ["before", "after"]
    assert runtime_keys(redis_url).get(tenant_key("acme", "rt", "dlv"), {}) == {}


async def test_redis_gone_mid_run_answers_503_and_half_writes_nothing(
    make_app: AppFactory, tmp_path: Path, sink: WebhookSink
) -> None:
    server = RedisServer(tmp_path, aof=True)
    try:
        emu, client = await served(make_app, server.url, sink)
        await item(client, "before")
        await emu.dispatcher.wait(lambda d: True, count=1, timeout=30)
        await flush(emu)
        before = runtime_keys(server.url)
        server.stop()
        r = await client.post("/echo/v1/items", json={"text": "while down"}, headers=ACME)
        assert r.status_code == 503, r.text
        assert r.json()["code"] == "unavailable"
        server.start()  # the same data (append-only file)
        assert runtime_keys(server.url) == before
        r = await client.post("/echo/v1/items", json={"text": "after"}, headers=ACME)
        assert r.status_code == 201, r.text  # back to work
        await emu.dispatcher.wait(lambda d: d.status == "delivered", count=2, timeout=30)
        texts = [json.loads(q.body)["text"] for q in sink.requests]
        assert texts == ["before", "after"]
    finally:
        server.stop()


async def test_a_unit_of_work_that_fails_leaves_nothing_to_send(
    make_app: AppFactory, redis_url: str, sink: WebhookSink
) -> None:
    emu, client = await served(make_app, redis_url)
    await item(client, "kept")

    async def failing() -> None:
        async with emu.store.tenant("echo", "acme") as tx:
            tx.state.webhook_url = sink.url_for()  # kept, as in memory (the state the body left)
            tx.emit("item.created", "it-x", {"text": "never"})
            tx.send(Outbound(sink.url_for(), {"never": True}, "created", "it-x", "ev-never"))
            raise RuntimeError("the handler failed")

    with pytest.raises(RuntimeError, match="the handler failed"):
        await failing()
    await flush(emu)
    stored = runtime_keys(redis_url)
    assert stored.get(tenant_key("acme", "outbox"), []) == []
    assert stored.get(tenant_key("acme", "rt", "dlv"), {}) == {}
    assert emu.dispatcher.deliveries() == []
    other, _ = await make_app(state=redis_url)  # nothing to replay either
    assert emulator_of(other).dispatcher.deliveries() == []


async def test_a_write_redis_refuses_for_one_tenant_keeps_only_that_tenants_part(
    make_app: AppFactory, redis_url: str, sink: WebhookSink
) -> None:
    emu, client = await served(make_app, redis_url, sink)
    bad = {"x-echo-tenant": "bad"}
    r = await client.post("/echo/v1/items", json={"text": "ping me"}, headers=bad)
    assert r.status_code == 201, r.text
    jobs = tenant_key("bad", "rt", "jobs")
    r_ = raw(redis_url)
    try:
        r_.set(jobs, "not a hash")  # every write of bad's jobs gets an error reply (WRONGTYPE) from now on
        r = await client.post(f"/echo/v1/items/{r.json()['id']}/ping", json={"delay": 30}, headers=bad)
        assert r.status_code == 503, r.text  # its job could not be written down
        # acme's request and webhook are written in the same round trips as bad's failing part: they go on
        await item(client, "sent")
        await emu.dispatcher.wait(lambda d: d.tenant == "acme" and d.status == "delivered", count=1, timeout=30)
        r_.delete(jobs)  # Redis takes bad's writes again: what was kept of it is written by the next write
        with contextlib.suppress(StateUnavailable):
            await flush(emu)  # (a write sent before the key was fixed fails once more)
        await flush(emu)
        logged = [json.loads(d) for d in r_.lrange(tenant_key("acme", "rt", "log"), 0, -1)]
        kept = [json.loads(j)["kind"] for j in r_.hgetall(jobs).values()]
    finally:
        r_.close()
    assert [json.loads(d["body_text"])["text"] for d in logged] == ["sent"]  # once: acme's part was not written again
    assert kept == ["echo.ping"]
    assert [json.loads(q.body)["text"] for q in sink.requests] == ["sent"]
