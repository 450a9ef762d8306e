"""The Store contract, run against both backends (memory and a real redis-server): units of work commit and roll
back, reads never create tenants, reset, snapshot/restore, provisioned flags. The Redis-only tests below show
what a shared backend adds: a second store on the same database (another worker, or a restarted server) sees
what the first committed, and a race between two of them is caught at commit, never lost."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from emulator.core.clock import DEFAULT_VIRTUAL_START, VirtualClock
from emulator.core.errors import EmulatorError, NotFound
from emulator.core.ids import fmt_sequence
from emulator.core.rediskeys import INDEX, member, vendor_key
from emulator.core.redisstore import StateUnavailable
from emulator.core.store import Outbound, StateConflict, Store, Tx, open_store
from tests.store.conftest import SLUG, registered
from tests.support.echo_vendor import EchoState, Item
from tests.support.redis_server import RedisServer

MakeStore = Callable[..., Awaitable[Store]]


async def add_item(store: Store, tenant: str, text: str) -> str:
    async with store.tenant(SLUG, tenant) as tx:
        item = Item(id=tx.ids.new("item", fmt_sequence(1, "it-")), text=text, createdAt=tx.now())
        tx.state.items[item.id] = item
        tx.emit("item.created", item.id, {"text": text})
        return item.id


def items(store: Store, tenant: str) -> dict[str, str]:
    state = store.peek(SLUG, tenant)
    assert isinstance(state, EchoState)
    return {k: v.text for k, v in state.items.items()}


# -- both backends ----------------------------------------------------------------------------------------


async def test_a_unit_of_work_commits_its_state_and_hands_its_events_to_the_hooks(make_store: MakeStore) -> None:
    committed: list[Tx[Any]] = []
    store = await make_store(committed)
    async with store.tenant(SLUG, "a") as tx:
        first = tx.ids.new("event")
        tx.state.items["x"] = Item(id="x", text="hi", createdAt=tx.now())
        tx.emit("item.created", "x", {"text": "hi"})
        tx.send(Outbound("http://127.0.0.1:1/hook", {"id": "x"}, "created", "x", first))
        assert committed == []

    [tx] = committed
    assert [(e.kind, e.subject, e.at) for e in tx.events] == [("item.created", "x", DEFAULT_VIRTUAL_START)]
    assert [o.event_id for o in tx.outbound] == [first]
    assert items(store, "a") == {"x": "hi"}
    assert store.tenants() == [(SLUG, "a")]
    assert store.snapshot()[SLUG]["a"]["counters"] == {"event": 1}


@pytest.mark.parametrize(
    "error",
    [ValueError("bad input"), EmulatorError("rejected", code="invalid"), asyncio.CancelledError()],
    ids=["exception", "emulator-error", "cancelled"],
)
async def test_a_failed_unit_of_work_discards_its_events_and_puts_the_ids_back(
    make_store: MakeStore, error: BaseException
) -> None:
    committed: list[Tx[Any]] = []
    store = await make_store(committed)
    assert await add_item(store, "a", "kept") == "it-1"
    committed.clear()
    drawn: list[str] = []

    async def rejected() -> None:
        async with store.tenant(SLUG, "a") as tx:
            drawn.extend([tx.ids.new("item", fmt_sequence(1, "it-")), tx.ids.new("event")])
            tx.emit("item.created", drawn[0])
            raise error

    with pytest.raises(type(error)):
        await rejected()
    assert committed == []
    assert await add_item(store, "a", "next") == drawn[0] == "it-2"
    assert store.snapshot()[SLUG]["a"]["counters"] == {"item": 2}
    assert items(store, "a") == {"it-1": "kept", "it-2": "next"}


async def test_reads_never_create_a_tenant(make_store: MakeStore) -> None:
    store = await make_store()
    await store.refresh()
    assert store.peek(SLUG, "ghost") is None
    assert isinstance(store.view(SLUG, "ghost"), EchoState)
    assert not store.exists(SLUG, "ghost")
    assert not store.provisioned(SLUG, "ghost")
    with pytest.raises(NotFound, match="no tenant 'ghost'"):
        async with store.tenant(SLUG, "ghost", create=False):
            pass
    assert store.tenants() == []
    assert store.snapshot() == {}


async def test_units_of_work_on_one_tenant_run_one_at_a_time(make_store: MakeStore) -> None:
    store = await make_store()
    inside = asyncio.Event()
    release = asyncio.Event()
    order: list[str] = []

    async def hold() -> None:
        async with store.tenant(SLUG, "a"):
            order.append("first in")
            inside.set()
            await release.wait()
            order.append("first out")

    async def second() -> None:
        async with store.tenant(SLUG, "a"):
            order.append("second in")

    holder = asyncio.create_task(hold())
    await inside.wait()
    waiter = asyncio.create_task(second())
    await add_item(store, "b", "b does not wait")
    order.append("b done")
    release.set()
    await asyncio.gather(holder, waiter)
    assert order == ["first in", "b done", "first out", "second in"]


async def test_reset_drops_the_matching_tenants_and_they_start_again_from_their_constructor(
    make_store: MakeStore,
) -> None:
    store = await make_store()
    for tenant in ("a", "a", "b"):
        await add_item(store, tenant, tenant)
    before = store.snapshot()

    assert store.reset(SLUG, "a") == [(SLUG, "a")]
    assert store.peek(SLUG, "a") is None
    assert store.snapshot() == {SLUG: {"b": before[SLUG]["b"]}}
    assert await add_item(store, "a", "fresh") == "it-1"  # ids start over
    assert items(store, "a") == {"it-1": "fresh"}

    assert sorted(store.reset()) == [(SLUG, "a"), (SLUG, "b")]
    assert store.tenants() == []


async def test_a_snapshot_restores_state_counters_and_flags_into_another_store(make_store: MakeStore) -> None:
    source = await make_store()
    for tenant, text in [("a", "one"), ("a", "two"), ("b", "three")]:
        await add_item(source, tenant, text)
    source.mark_provisioned(SLUG, "b")
    snapshot = source.snapshot()
    assert snapshot[SLUG]["b"]["provisioned"] is True

    target = await make_store()
    await add_item(target, "stale", "goes")
    target.restore(snapshot)
    assert target.snapshot() == snapshot
    assert target.provisioned(SLUG, "b")
    assert not target.exists(SLUG, "stale")
    assert await add_item(target, "a", "four") == "it-3"  # the counters came along


async def test_a_tenant_is_provisioned_only_once_marked_and_only_if_it_exists(make_store: MakeStore) -> None:
    store = await make_store()
    with pytest.raises(NotFound):
        store.mark_provisioned(SLUG, "a")
    await add_item(store, "a", "x")
    assert not store.provisioned(SLUG, "a")
    store.mark_provisioned(SLUG, "a")
    assert store.provisioned(SLUG, "a")
    await add_item(store, "a", "y")  # a later unit of work keeps the flag
    assert store.provisioned(SLUG, "a")
    assert store.snapshot()[SLUG]["a"]["provisioned"] is True


async def test_a_tenant_marked_provisioned_inside_the_unit_of_work_that_creates_it_stays_provisioned(
    make_store: MakeStore,
) -> None:
    store = await make_store()  # a scenario's setup builds the tenant and marks it in one unit of work
    async with store.tenant(SLUG, "new") as tx:
        tx.state.webhook_url = "http://127.0.0.1:1/hook"
        store.mark_provisioned(SLUG, "new")
    assert store.provisioned(SLUG, "new")
    await add_item(store, "new", "later")  # and a later unit of work neither loses the flag nor conflicts
    assert store.provisioned(SLUG, "new")
    later = await make_store()  # a server started afterwards reads the flag from Redis (memory shares nothing)
    assert later.provisioned(SLUG, "new") is store.shared


# -- Redis: two stores on one database ---------------------------------------------------------------------


def worker(url: str, committed: list[Tx[Any]] | None = None, clock: VirtualClock | None = None) -> Store:
    """A store on the Redis at `url`, as one worker process has it after start-up."""
    store = registered(open_store(url, 7, clock or VirtualClock()), committed)
    store.load()
    return store


async def test_a_second_store_on_the_same_redis_sees_what_the_first_committed(redis_url: str) -> None:
    made: list[Store] = []

    def worker() -> Store:
        made.append(store := globals()["worker"](redis_url))
        return store

    try:
        a, b = worker(), worker()
        await add_item(a, "t", "from a")
        a.mark_provisioned(SLUG, "t")
        assert b.peek(SLUG, "t") is None  # b's cache knew nothing yet; its next unit of work reads Redis
        assert await add_item(b, "t", "from b") == "it-2"
        assert items(b, "t") == {"it-1": "from a", "it-2": "from b"}
        assert b.provisioned(SLUG, "t")
        assert await add_item(a, "t", "a again") == "it-3"  # a's cached copy was stale: re-read, not overwritten
        restarted = worker()  # a new process starts on the same database
        assert items(restarted, "t") == {"it-1": "from a", "it-2": "from b", "it-3": "a again"}
        assert restarted.provisioned(SLUG, "t")
        assert restarted.snapshot() == a.snapshot()
    finally:
        for store in made:
            await store.close()


async def test_before_a_request_a_worker_catches_its_reads_up_with_the_other_workers_commits(redis_url: str) -> None:
    a, b = await two_workers(redis_url)
    try:
        await add_item(a, "t", "one")
        assert b.peek(SLUG, "t") is None  # b's reads answer from its cache ...
        await b.refresh()  # ... which the vendor endpoint wrapper catches up before every request
        assert items(b, "t") == {"it-1": "one"}
        assert b.tenants() == [(SLUG, "t")]
        await add_item(a, "t", "two")
        a.mark_provisioned(SLUG, "t")
        await b.refresh()
        assert items(b, "t") == {"it-1": "one", "it-2": "two"}
        assert b.provisioned(SLUG, "t")
        await add_item(b, "u", "b's own")
        await a.refresh()
        assert a.tenants() == [(SLUG, "t"), (SLUG, "u")]
        a.reset(SLUG, "t")
        await b.refresh()
        assert not b.exists(SLUG, "t")
        assert b.snapshot() == a.snapshot()
    finally:
        await a.close()
        await b.close()


async def test_a_refresh_never_changes_the_state_under_a_unit_of_work_in_flight(redis_url: str) -> None:
    a, b = await two_workers(redis_url)
    try:
        await add_item(a, "t", "one")

        async def inside() -> None:
            async with a.tenant(SLUG, "t") as tx:
                held = tx.state
                await add_item(b, "t", "b's")
                await a.refresh()  # another request of worker a catches up meanwhile
                assert a.peek(SLUG, "t") is held  # the unit's state was not swapped under it
                assert list(held.items) == ["it-1"]

        await inside()  # it changed nothing, so nothing to commit and no conflict
        await a.refresh()
        assert items(a, "t") == {"it-1": "one", "it-2": "b's"}
    finally:
        await a.close()
        await b.close()


async def two_workers(redis_url: str, committed: list[Tx[Any]] | None = None) -> tuple[Store, Store]:
    return worker(redis_url, committed), worker(redis_url)


async def test_a_race_between_two_workers_is_caught_at_commit_and_the_loser_keeps_nothing(redis_url: str) -> None:
    committed: list[Tx[Any]] = []
    a, b = await two_workers(redis_url, committed)
    try:
        await add_item(a, "t", "first")
        committed.clear()

        async def overtaken() -> None:
            async with a.tenant(SLUG, "t") as tx:  # a reads version 1 ...
                tx.ids.new("item", fmt_sequence(1, "it-"))
                tx.state.items["lost"] = Item(id="lost", text="lost", createdAt=tx.now())
                tx.emit("item.created", "lost")
                await add_item(b, "t", "won")  # ... b commits meanwhile ...

        with pytest.raises(StateConflict) as caught:
            await overtaken()
        assert (caught.value.status_code, caught.value.code) == (409, "conflict")
        assert committed == []  # the loser's events never left
        assert items(b, "t") == {"it-1": "first", "it-2": "won"}
        # the loser's next unit of work reads the winner's state and counters
        assert await add_item(a, "t", "after") == "it-3"
        assert items(a, "t") == {"it-1": "first", "it-2": "won", "it-3": "after"}
        assert [(t.tenant, [e.subject for e in t.events]) for t in committed] == [("t", ["it-3"])]
    finally:
        await a.close()
        await b.close()


async def test_a_reset_by_one_worker_is_seen_by_the_other_and_its_stale_copy_is_not_revived(redis_url: str) -> None:
    a, b = await two_workers(redis_url)
    try:
        await add_item(a, "t", "one")
        await add_item(b, "t", "two")  # b caches version 2
        assert a.reset(SLUG, "t") == [(SLUG, "t")]
        assert await add_item(a, "t", "fresh") == "it-1"  # version 4 now: b's cached version 2 is not taken for it
        assert await add_item(b, "t", "b again") == "it-2"
        assert items(b, "t") == {"it-1": "fresh", "it-2": "b again"}
        assert b.reset() == [(SLUG, "t")]  # b resets a tenant its cache also knows
        with pytest.raises(NotFound):
            async with a.tenant(SLUG, "t", create=False):
                pass
        assert not a.exists(SLUG, "t")
    finally:
        await a.close()
        await b.close()


@pytest.mark.parametrize("tenant", ["a{b}c", "x:y}{", "50%:{", "ünï cödé", "{}"], ids=str)
async def test_tenant_names_with_braces_colons_and_percent_signs_are_one_hash_tag(redis_url: str, tenant: str) -> None:
    a = worker(redis_url)
    b: Store | None = None
    try:
        await add_item(a, tenant, "kept")
        key = vendor_key(SLUG, tenant)
        inner = key[key.index("{") + 1 : key.index("}")]
        assert key == f"cxemu:{{{inner}}}:v:{SLUG}"  # the tenant's name is the tag, and only it is hashed
        assert "{" not in inner
        assert "}" not in inner
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        try:
            assert client.hget(key, "v") == "1"
            assert client.smembers(INDEX) == {member(SLUG, tenant)}
        finally:
            client.close()
        b = worker(redis_url)  # a server started later finds the tenant by its name
        assert b.tenants() == [(SLUG, tenant)]
        assert items(b, tenant) == {"it-1": "kept"}
    finally:
        await a.close()
        if b is not None:
            await b.close()


async def test_each_tenant_timeline_is_kept_with_its_state(redis_url: str) -> None:
    clock = VirtualClock()
    a = worker(redis_url, clock=clock)
    try:
        await add_item(a, "early", "x")
        clock.set(DEFAULT_VIRTUAL_START + 90)
        await add_item(a, "late", "y")
        b = registered(open_store(redis_url, 7, VirtualClock()))
        assert b.load() == {"early": DEFAULT_VIRTUAL_START, "late": DEFAULT_VIRTUAL_START + 90}
        await b.close()
    finally:
        await a.close()


@pytest.mark.usefixtures("redis_server")  # skips where redis-server is absent
async def test_a_unit_of_work_while_redis_is_down_fails_cleanly_and_changes_nothing(tmp_path: Path) -> None:
    own = RedisServer(tmp_path, aof=True)  # a server of this test's own, to stop and start again
    committed: list[Tx[Any]] = []
    a: Store | None = None
    try:
        a = worker(own.url, committed)
        await add_item(a, "t", "kept")
        committed.clear()
        own.stop()
        with pytest.raises(StateUnavailable) as caught:
            await add_item(a, "t", "lost")
        assert (caught.value.status_code, caught.value.code) == (503, "unavailable")
        assert committed == []
        own.start()  # the data comes back from its append-only file
        assert await add_item(a, "t", "after") == "it-2"
        assert items(a, "t") == {"it-1": "kept", "it-2": "after"}
    finally:
        if a is not None:
            await a.close()
        own.stop()
