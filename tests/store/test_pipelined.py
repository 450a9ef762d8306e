"""The owner's pipelined commits (docs/scaling.md, "Built: pipelined commits"), against a real `redis-server`.

A tenant's units of work run one after another on its cached state, each sending its commit and letting go of the
tenant before the reply; here several units run back to back in one turn of the loop, so every commit is on its way
before the first reply is read. What is checked is what a user would notice when one of them fails: the ones sent
after it fail too, nothing of them is in Redis, no webhook of theirs ever reaches the receiver, no job of theirs is
left to fire, and the next request adopts the tenant afresh from what landed.

The failure is put exactly between two commits by sending it on the commits' own connection (`RedisStore._lean`, one
connection whose commands Redis runs in the order sent): a command written from a commit hook runs after that commit
and before the next one.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from emulator.core.rediskeys import tenant_key, vendor_key
from emulator.core.redisstore import RedisStore, StateUnavailable
from emulator.core.runtime import Emulator
from emulator.core.store import Outbound, StateConflict, Tx
from emulator.scenarios.receiver import WebhookSink
from tests.conftest import AppFactory
from tests.store.test_runtime_redis import ACME, flush, item, raw, runtime_keys, served, sink, webhooks_in
from tests.support import echo_vendor
from tests.support.echo_vendor import Item
from tests.support.redis_server import RedisServer

__all__ = ["sink"]

OWNER = tenant_key("acme", "owner")
ITEMS = vendor_key("echo", "acme") + ":c:items"


def lean(emu: Emulator) -> Any:
    """The connection the owner's commits go over (connected by the first one)."""
    store = emu.store
    assert isinstance(store, RedisStore)
    assert store._lean is not None
    assert store._lean.connected()
    return store._lean


def after_commit_of(emu: Emulator, text: str, then: Callable[[], None]) -> None:
    """Run `then` from the commit hooks of the unit that creates item `text`: after its commit was sent, before the
    next unit's."""

    def hook(tx: Tx[Any]) -> None:
        if text in getattr(tx.state, "items", {}) and any(o.subject == text for o in tx.outbound):
            then()

    emu.store.on_commit(hook)


async def create(emu: Emulator, text: str, before: Callable[[], None] | None = None) -> None:
    """A unit of work as `POST /echo/v1/items` runs it (its item under the id `text`, its `item.created` webhook)."""
    async with echo_vendor.store(emu).tenant("acme") as tx:
        if before is not None:
            before()
        made = Item(id=text, text=text, createdAt=tx.now())
        tx.state.items[text] = made
        echo_vendor._notify(tx, made, "created")


async def back_to_back(emu: Emulator, *texts: str, before: dict[str, Callable[[], None]] | None = None) -> list[Any]:
    """Units creating `texts`, run back to back: each one's commit is sent before any reply is read (a unit on the
    owner's path does not wait inside its body or before its send). What each raised, or None."""
    tasks = [asyncio.ensure_future(create(emu, t, (before or {}).get(t))) for t in texts]
    return list(await asyncio.gather(*tasks, return_exceptions=True))


def stored_items(url: str) -> list[str]:
    r = raw(url)
    try:
        return sorted(r.hkeys(ITEMS))
    finally:
        r.close()


async def arrived(sink: WebhookSink, text: str) -> None:
    """Wait until the receiver got the webhook of item `text` (the sink's blocking wait, in a thread)."""
    await asyncio.to_thread(sink.wait_for, lambda q: q.json["text"] == text, timeout=30)


def held(emu: Emulator) -> list[str]:
    """The item texts of the deliveries this process holds (pending or settled)."""
    return sorted(json.loads(d.body)["text"] for d in emu.dispatcher.deliveries())


async def test_a_commit_refused_mid_pipeline_fails_every_later_one_and_none_of_their_webhooks_goes(
    make_app: AppFactory, redis_url: str, sink: WebhookSink
) -> None:
    emu, client = await served(make_app, redis_url, sink)
    await item(client, "before")
    await emu.dispatcher.wait(lambda d: d.status == "delivered", count=1, timeout=30)
    # another worker takes the lease right after n1's commit, before n2's (ttl: it lapses, then the tenant is free)
    after_commit_of(emu, "n1", lambda: lean(emu).send("SET", OWNER, "another-worker:99", "PX", 1000))
    outcomes = await back_to_back(emu, "n1", "n2", "n3", "n4")
    assert outcomes[0] is None  # sent before the lease went: landed
    assert [type(o).__name__ for o in outcomes[1:]] == ["Fenced", "StateConflict", "StateConflict"]
    assert all(isinstance(o, StateConflict) for o in outcomes[1:])  # 409 each
    assert emu.fleet is not None
    assert "acme" not in emu.fleet.owned  # lost here: nothing queued behind runs on the cache
    assert stored_items(redis_url) == ["it-1", "n1"]
    assert held(emu) == []  # every delivery of the tenant forgotten here, the gated ones never attempted
    await flush(emu)
    assert not {"n2", "n3", "n4"} & set(webhooks_in(runtime_keys(redis_url)))
    # the next request waits for the lease to lapse, claims the tenant and adopts it afresh from what landed
    r = await client.post("/echo/v1/items", json={"text": "after"}, headers=ACME)
    assert r.status_code == 201, r.text
    assert "acme" in emu.fleet.owned
    state = echo_vendor.store(emu).peek("acme")
    assert state is not None
    assert sorted(state.items) == ["it-1", "it-2", "n1"]
    # before, n1 (sent, or replayed from its outbox entry by the adoption), after: the receiver waited on in a thread
    await arrived(sink, "after")
    await arrived(sink, "n1")
    texts = [q.json["text"] for q in sink.requests]
    assert sorted(set(texts)) == ["after", "before", "n1"]  # at least once each; n2-n4 never
    assert not {"n2", "n3", "n4"} & set(texts)


async def test_redis_killed_with_commits_in_flight_answers_503_and_none_of_them_goes(
    make_app: AppFactory, tmp_path: Path, sink: WebhookSink
) -> None:
    server = RedisServer(tmp_path, aof=True)
    try:
        emu, client = await served(make_app, server.url, sink)
        await item(client, "before")
        await emu.dispatcher.wait(lambda d: d.status == "delivered", count=1, timeout=30)
        await flush(emu)
        assert server.proc is not None
        proc = server.proc
        proc.send_signal(signal.SIGSTOP)  # Redis reads nothing more: every commit below is in flight
        after_commit_of(emu, "n3", proc.kill)  # ... when it dies
        outcomes = await back_to_back(emu, "n1", "n2", "n3")
        proc.wait(10)
        server.proc = None
        assert all(isinstance(o, StateUnavailable) for o in outcomes), outcomes  # 503 each
        assert emu.fleet is not None
        assert "acme" not in emu.fleet.owned
        assert held(emu) == []
        server.start()  # the same data (append-only file)
        assert stored_items(server.url) == ["it-1"]
        assert webhooks_in(runtime_keys(server.url)) == []
        r = await client.post("/echo/v1/items", json={"text": "after"}, headers=ACME)
        if r.status_code == 503 and "fleet's Redis" in r.text:  # the claim met redis-py's pooled connection to the
            # Redis that was killed (the fleet's client, not the commits'): answered 503, nothing done; once more
            r = await client.post("/echo/v1/items", json={"text": "after"}, headers=ACME)
        assert r.status_code == 201, r.text  # adopted afresh
        await arrived(sink, "after")
        assert stored_items(server.url) == ["it-1", "it-2"]
        assert [q.json["text"] for q in sink.requests] == ["before", "after"]
    finally:
        server.stop()


async def test_an_outbox_only_commit_that_fails_fails_the_one_sent_after_it(
    make_app: AppFactory, redis_url: str, sink: WebhookSink
) -> None:
    emu, client = await served(make_app, redis_url, sink)
    await item(client, "before")
    await emu.dispatcher.wait(lambda d: d.status == "delivered", count=1, timeout=30)
    await flush(emu)
    outbox = tenant_key("acme", "outbox")

    async def outbox_only() -> None:  # a webhook, no change of state
        async with echo_vendor.store(emu).tenant("acme") as tx:
            lean(emu).send("SET", outbox, "not a list")  # its push fails: an error reply, nothing written
            tx.send(Outbound(sink.url_for(), {"text": "ping"}, "pinged", "it-1", "ev-ping"))

    async def state_only() -> None:  # a change of state, no webhook: it writes neither the outbox nor its key
        async with echo_vendor.store(emu).tenant("acme") as tx:
            tx.state.items["it-1"].pings += 1

    first, second = await asyncio.gather(outbox_only(), state_only(), return_exceptions=True)
    assert isinstance(first, StateUnavailable)  # Redis's error reply: 503
    assert isinstance(second, StateConflict)  # built on the first: refused with it (409)
    r = raw(redis_url)
    try:
        assert json.loads(r.hget(ITEMS, "it-1").partition(" ")[2])["pings"] == 0
        r.delete(outbox)
    finally:
        r.close()
    assert held(emu) == []
    answer = await client.post("/echo/v1/items", json={"text": "after"}, headers=ACME)
    assert answer.status_code == 201, answer.text
    await arrived(sink, "after")
    assert [q.json["text"] for q in sink.requests] == ["before", "after"]


async def test_a_job_scheduled_by_a_failed_units_hook_is_not_in_redis(
    make_app: AppFactory, redis_url: str, sink: WebhookSink
) -> None:
    emu, client = await served(make_app, redis_url, sink)
    await item(client, "before")
    await flush(emu)

    def schedule(tx: Tx[Any]) -> None:  # a commit hook that schedules a persistent job, as a vendor's may
        for name in getattr(tx.state, "items", {}):
            if name.startswith("n") and any(o.subject == name for o in tx.outbound):
                emu.scheduler.schedule_job(60.0, "echo.ping", {"item": name}, vendor="echo", tenant="acme")

    emu.store.on_commit(schedule)
    # the version moves under n1's commit (the lease stays: the runtime's write of its job would pass the fence)
    moved = {"n1": lambda: lean(emu).send("HINCRBY", vendor_key("echo", "acme"), "v", 1)}
    outcomes = await back_to_back(emu, "n1", "n2", before=moved)
    assert all(isinstance(o, StateConflict) for o in outcomes), outcomes
    await flush(emu)
    jobs = runtime_keys(redis_url).get(tenant_key("acme", "rt", "jobs"), {})
    assert [json.loads(j)["args"] for j in jobs.values()] == []
    assert emu.scheduler.pending(["acme"]) == []
    answer = await client.post("/echo/v1/items", json={"text": "after"}, headers=ACME)
    assert answer.status_code == 201, answer.text  # adopted afresh: no job of n1 or n2 came back with it
    assert emu.scheduler.pending(["acme"]) == []


@pytest.mark.parametrize("count", [2, 8], ids=["two", "eight"])
async def test_units_sent_back_to_back_all_land_in_order_with_one_webhook_each(
    make_app: AppFactory, redis_url: str, sink: WebhookSink, count: int
) -> None:
    emu, _ = await served(make_app, redis_url, sink)
    texts = [f"n{i}" for i in range(count)]
    assert await back_to_back(emu, *texts) == [None] * count
    await emu.dispatcher.wait(lambda d: d.status == "delivered", count=count, timeout=30)
    assert stored_items(redis_url) == sorted(texts)
    r = raw(redis_url)
    try:
        assert int(r.hget(vendor_key("echo", "acme"), "v") or 0) == 1 + count  # the webhook's set, then each unit
    finally:
        r.close()
    assert sorted(q.json["text"] for q in sink.requests) == sorted(texts)
