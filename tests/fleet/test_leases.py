"""Tenant leases against a real Redis, in process: two Emulators on one database are two workers of a fleet. A
tenant is owned by one worker at a time; the lease carries a fencing token; the owner's units of work read nothing
from Redis; a worker whose lease another took can neither commit nor serve the tenant."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import redis

from emulator.app import create_app
from emulator.core.fleet import WORKERS, lease_worker, preferred
from emulator.core.runtime import Emulator
from emulator.core.settings import Settings
from emulator.core.store import Misrouted, StateConflict
from tests.support import echo_vendor
from tests.support.echo_vendor import EchoState, Item

SLUG = echo_vendor.SLUG
Make = Callable[[str], Awaitable[Emulator]]


@pytest.fixture
async def make_worker(redis_url: str) -> AsyncIterator[Make]:
    """Started Emulators (workers) on the emptied Redis, each advertising a made-up address; stopped at teardown."""
    made: list[Emulator] = []

    async def make(address: str) -> Emulator:
        settings = Settings(state=redis_url, clock="virtual", lease_ttl=30)
        emu: Emulator = create_app(settings, plugins=[echo_vendor.PLUGIN]).state.emulator
        assert emu.fleet is not None
        emu.fleet.address = address
        emu.load_state()
        await emu.start()
        made.append(emu)
        return emu

    yield make
    for emu in made:
        await emu.stop()


def sync(url: str) -> redis.Redis[Any]:
    return redis.Redis.from_url(url, decode_responses=True)


async def add_item(emu: Emulator, tenant: str, text: str) -> None:
    async with echo_vendor.store(emu).tenant(tenant) as tx:
        tx.state.items[text] = Item(id=text, text=text, createdAt=tx.now())


async def test_a_tenant_is_claimed_by_one_worker_and_the_other_learns_where_to_forward(
    make_worker: Make, redis_url: str
) -> None:
    a, b = await make_worker("10.0.0.1:9001"), await make_worker("10.0.0.2:9002")
    assert a.fleet is not None
    assert b.fleet is not None
    assert await a.fleet.route("acme") is None  # free: claimed here
    assert await b.fleet.route("acme") == "10.0.0.1:9001"  # owned by a live worker: forward there
    assert await a.fleet.route("acme") is None
    client = sync(redis_url)
    try:
        lease = client.get("cxemu:{acme}:owner")
        assert lease == f"{a.fleet.id}:1"
        assert 0 < client.pttl("cxemu:{acme}:owner") <= 30_000
        assert set(client.hkeys(WORKERS)) == {a.fleet.id, b.fleet.id}
    finally:
        client.close()
    with pytest.raises(Misrouted) as caught:
        echo_vendor.store(b).peek("acme")
    assert caught.value.tenant == "acme"
    assert caught.value.status_code == 421


async def test_the_owners_units_of_work_read_nothing_from_redis(make_worker: Make, redis_url: str) -> None:
    a = await make_worker("10.0.0.1:9001")
    assert a.fleet is not None
    assert await a.fleet.route("acme") is None
    await add_item(a, "acme", "first")
    client = sync(redis_url)
    try:
        client.config_resetstat()
        async with echo_vendor.store(a).tenant("acme") as tx:  # a read-only unit of work
            assert list(tx.state.items) == ["first"]
        stats = client.info("commandstats")
    finally:
        client.close()
    assert "cmdstat_evalsha" not in stats, stats
    assert "cmdstat_eval" not in stats, stats


async def test_a_worker_whose_lease_another_took_can_neither_commit_nor_serve_the_tenant(
    make_worker: Make, redis_url: str
) -> None:
    a, b = await make_worker("10.0.0.1:9001"), await make_worker("10.0.0.2:9002")
    assert a.fleet is not None
    assert b.fleet is not None
    assert await a.fleet.route("acme") is None
    await add_item(a, "acme", "first")
    client = sync(redis_url)
    try:
        client.delete("cxemu:{acme}:owner")  # a's lease lapsed (a stalled past the ttl) ...
        assert await b.fleet.route("acme") is None  # ... and b took the tenant over, with the next token
        assert lease_worker(str(client.get("cxemu:{acme}:owner"))) == b.fleet.id
        assert str(client.get("cxemu:{acme}:owner")).endswith(":2")
    finally:
        client.close()
    state = echo_vendor.store(b).peek("acme")
    assert isinstance(state, EchoState)
    assert list(state.items) == ["first"]
    with pytest.raises(StateConflict, match="no longer owns"):
        await add_item(a, "acme", "lost")  # a still thinks it owns it: the fence refuses its commit
    # its commit was pipelined: the refusal dropped the tenant at once (before, its next renewal did)
    assert "acme" not in a.fleet.owned
    assert await a.fleet.renew() == []
    with pytest.raises(Misrouted):
        echo_vendor.store(a).peek("acme")
    await add_item(b, "acme", "second")
    state = echo_vendor.store(b).peek("acme")
    assert isinstance(state, EchoState)
    assert list(state.items) == ["first", "second"]


async def test_a_dead_workers_tenants_are_swept_up_spread_over_the_live_workers_each_adopted_once(
    make_worker: Make, redis_url: str
) -> None:
    a, b, c = [await make_worker(f"10.0.0.{n}:900{n}") for n in (1, 2, 3)]
    assert a.fleet is not None
    assert b.fleet is not None
    assert c.fleet is not None
    names = [f"t{n}" for n in range(24)]
    for tenant in names:
        assert await c.fleet.route(tenant) is None
        await add_item(c, tenant, "before")
    assert await a.fleet.sweep(force=True) == []  # nothing is free: nothing to take
    for task in (c.fleet._task, c.fleet._sweeper):  # c dies: it beats no more ...
        assert task is not None
        task.cancel()
    client = sync(redis_url)
    try:
        entry = json.loads(str(client.hget(WORKERS, c.fleet.id)))
        client.hset(WORKERS, c.fleet.id, json.dumps({**entry, "beat": entry["beat"] - 60}))
        client.delete(*(f"cxemu:{{{t}}}:owner" for t in names))  # ... and its leases lapse
        first = await asyncio.gather(a.fleet.sweep(), b.fleet.sweep())  # both at once: the claim script decides
        live = {a.fleet.id, b.fleet.id}
        for worker, got in zip((a, b), first, strict=True):
            assert worker.fleet is not None
            assert got == sorted(t for t in names if preferred(t, live) == worker.fleet.id)  # its own share, at once
        assert first[0]
        assert first[1]
        assert await a.fleet.sweep() == []
        assert await b.fleet.sweep() == []
        assert set(a.fleet.owned) | set(b.fleet.owned) == set(names)
        assert not set(a.fleet.owned) & set(b.fleet.owned)
        assert {lease_worker(str(client.get(f"cxemu:{{{t}}}:owner"))) for t in names} == live
        assert not client.hexists(WORKERS, c.fleet.id)  # nothing of the dead worker is left: out of the registry
    finally:
        client.close()
    for tenant in names:  # each with its state, served by its new owner
        owner = a if tenant in a.fleet.owned else b
        state = echo_vendor.store(owner).peek(tenant)
        assert isinstance(state, EchoState)
        assert list(state.items) == ["before"]


async def test_a_cleanly_stopped_workers_tenant_is_swept_up_and_one_its_preferred_worker_leaves_free_is_taken_next(
    make_worker: Make,
) -> None:
    a, b, c = [await make_worker(f"10.0.0.{n}:900{n}") for n in (1, 2, 3)]
    assert a.fleet is not None
    assert b.fleet is not None
    assert c.fleet is not None
    live = {a.fleet.id, b.fleet.id}
    tenant = next(t for n in range(100) if preferred(t := f"n{n}", live) == b.fleet.id)
    assert await c.fleet.route(tenant) is None
    await add_item(c, tenant, "kept")
    await a.fleet.sweep()  # a's sweeper has seen the fleet as it is
    await c.fleet.stop()  # a clean stop: the lease released, a hand-off counted
    assert await a.fleet.sweep() == []  # free, and b's to take: a leaves it ...
    assert await a.fleet.sweep() == [tenant]  # ... but b did not take it by a's next round: a does
    state = echo_vendor.store(a).peek(tenant)
    assert isinstance(state, EchoState)
    assert list(state.items) == ["kept"]
