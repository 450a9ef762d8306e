"""A key of the wrong type, planted by someone else in a tenant's hash tag or in the fleet's feed, against a real
Redis: Redis does not undo a script's earlier writes when a later command fails, so every script that writes more
than one key checks the types first and writes nothing. The commit of a unit of work, the runtime's write of a
settled delivery and the fleet feed's mirror each leave Redis as it was, and go on once the key is gone."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis

from emulator.core.rediskeys import tenant_key, vendor_key
from emulator.core.redisstore import StateUnavailable
from emulator.core.runtime import Emulator
from emulator.scenarios.receiver import WebhookSink
from tests.conftest import AppFactory
from tests.support import echo_vendor

ACME = {"x-echo-tenant": "acme"}
ITEMS = f"{vendor_key(echo_vendor.SLUG, 'acme')}:c:items"


@pytest.fixture
async def sink() -> AsyncIterator[WebhookSink]:
    receiver = WebhookSink()
    yield receiver
    receiver.release()
    receiver.close()


def raw(url: str) -> redis.Redis[Any]:
    return redis.Redis.from_url(url, decode_responses=True)


def emulator_of(app: Any) -> Emulator:
    emu: Emulator = app.state.emulator
    return emu


async def test_a_commit_that_would_write_a_key_of_another_type_writes_nothing(
    make_app: AppFactory, redis_url: str, sink: WebhookSink
) -> None:
    _, client = await make_app(state=redis_url)
    assert (await client.put("/echo/v1/webhook", json={"url": sink.url_for()}, headers=ACME)).status_code == 204
    r = await client.post("/echo/v1/items", json={"text": "kept"}, headers=ACME)
    assert r.status_code == 201, r.text
    first = r.json()["id"]
    r_ = raw(redis_url)
    try:
        assert r_.hkeys(ITEMS) == [first]
        tenant = r_.hgetall(vendor_key(echo_vendor.SLUG, "acme"))  # version, state document, id counters
        outbox = tenant_key("acme", "outbox")
        r_.set(outbox, "not a list")  # the commit's last write (its webhook's outbox entry) would fail
        r = await client.post("/echo/v1/items", json={"text": "refused"}, headers=ACME)
        assert r.status_code == 503, r.text  # the vendor's 5xx: nothing was kept
        # nothing of the unit is in Redis: no entity, the tenant's hash (version, counters) as it was
        assert r_.hkeys(ITEMS) == [first]
        assert r_.hgetall(vendor_key(echo_vendor.SLUG, "acme")) == tenant
        r_.delete(outbox)
        r = await client.post("/echo/v1/items", json={"text": "after"}, headers=ACME)
        assert r.status_code == 201, r.text
        assert len(r_.hkeys(ITEMS)) == 2
    finally:
        r_.close()


async def test_a_settled_delivery_whose_log_is_of_another_type_stays_pending_in_redis(
    make_app: AppFactory, redis_url: str, sink: WebhookSink
) -> None:
    app, client = await make_app(state=redis_url)
    emu = emulator_of(app)
    assert emu.runtime is not None
    assert (await client.put("/echo/v1/webhook", json={"url": sink.url_for()}, headers=ACME)).status_code == 204
    log, pending = tenant_key("acme", "rt", "log"), tenant_key("acme", "rt", "dlv")
    r_ = raw(redis_url)
    try:
        r_.set(log, "not a list")  # the settle's last write (to the log) would fail
        r = await client.post("/echo/v1/items", json={"text": "sent"}, headers=ACME)
        assert r.status_code == 201, r.text
        [done] = await emu.dispatcher.wait(lambda d: d.status == "delivered", count=1, timeout=30)
        with pytest.raises(StateUnavailable):
            await emu.runtime.flush()  # the settle is refused whole ...
        # ... so Redis still holds the webhook as its commit wrote it (the outbox entry) with its first attempt in
        # flight (the commit recorded it): a process that took the tenant over now would send it again (at least
        # once), never lose it
        assert r_.hkeys(pending) == []
        [entry] = [json.loads(e) for e in r_.lrange(tenant_key("acme", "outbox"), 0, -1)]
        assert [o["event_id"] for o in entry["out"]] == [done.event_id]
        assert list(r_.hkeys(tenant_key("acme", "rt", "flight"))) == [done.id]
        r_.delete(log)
        with contextlib.suppress(StateUnavailable):
            await emu.runtime.flush()  # (a write sent before the key was fixed fails once more)
        await emu.runtime.flush()
        assert r_.hkeys(pending) == []
        assert [json.loads(d)["id"] for d in r_.lrange(log, 0, -1)] == [done.id]
    finally:
        r_.close()


async def test_the_fleet_feeds_mirror_into_a_stream_key_of_another_type_takes_no_ids(
    make_app: AppFactory, redis_url: str
) -> None:
    app, client = await make_app(state=redis_url)
    feed = emulator_of(app).fleet_feed
    assert feed is not None
    r_ = raw(redis_url)
    try:
        r_.set("cxemu:feed", "not a stream")
        before = r_.get("cxemu:feed:n")
        feed.watch(60)  # as while a stream is open: each entry mirrored as it comes
        assert (await client.post("/echo/v1/items", json={"text": "x"}, headers=ACME)).status_code == 201
        await feed.flushed()  # the mirror of the request's entries: refused (logged)
        assert r_.get("cxemu:feed:n") == before  # no id taken for entries never written
        r_.delete("cxemu:feed")
        assert (await client.post("/echo/v1/items", json={"text": "y"}, headers=ACME)).status_code == 201
        await feed.mirror()  # as a read asks: the refused entries (the local feed keeps them) go first, then y's
        given = int(r_.get("cxemu:feed:n") or 0)
        assert given >= 2
        assert [int(i.partition("-")[0]) for i, _ in r_.xrange("cxemu:feed")] == list(range(1, given + 1))
        texts = [json.loads(f["j"])["type"] for _, f in r_.xrange("cxemu:feed")]
        assert texts.count("POST /echo/v1/items") == 2, texts
    finally:
        r_.close()
