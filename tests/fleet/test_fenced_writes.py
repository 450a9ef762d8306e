"""The rare writes of a fleet are fenced as commits are, against a real Redis, in process (two Emulators on one
database are two workers, as in test_leases): a worker whose lease on a tenant another worker took (it stalled past
the ttl) can neither reset the tenant nor flag it provisioned under the new owner's feet, and a commit of a new
tenant that its fence refuses leaves no name in the tenant index."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from emulator.core.rediskeys import INDEX, member, tenant_key, vendor_key
from emulator.core.runtime import Emulator
from emulator.core.store import Misrouted, StateConflict
from tests.fleet.test_leases import Make, add_item, make_worker, sync
from tests.support import echo_vendor
from tests.support.echo_vendor import EchoState

__all__ = ["make_worker"]

SLUG = echo_vendor.SLUG


async def taken_over(a: Emulator, b: Emulator, redis_url: str, tenant: str = "acme", *, fresh: bool = True) -> None:
    """`a` owns the tenant, with one item (`fresh`: claimed and added here); its lease lapses (a stalled past the
    ttl) and `b` takes the tenant over, adding an item of its own (`fresh`). `a` still thinks it owns it."""
    assert a.fleet is not None
    assert b.fleet is not None
    if fresh:
        assert await a.fleet.route(tenant) is None
        await add_item(a, tenant, "first")
    assert a.runtime is not None
    await a.runtime.flush()  # what a marked is written while its lease holds
    client = sync(redis_url)
    try:
        client.delete(tenant_key(tenant, "owner"))
    finally:
        client.close()
    assert await b.fleet.route(tenant) is None
    if fresh:
        await add_item(b, tenant, "second")
    assert tenant in a.fleet.owned


def items(emu: Emulator, tenant: str = "acme") -> list[str]:
    state = echo_vendor.store(emu).peek(tenant)
    assert isinstance(state, EchoState)
    return list(state.items)


async def let_go(emu: Emulator, tenant: str = "acme") -> None:
    """The refused worker lets the tenant go on the next turn of the loop (`Fleet.refused`)."""
    assert emu.fleet is not None
    await asyncio.sleep(0)  # one turn of the loop, not a wait for time: `refused` is a call_soon
    assert tenant not in emu.fleet.owned
    with pytest.raises(Misrouted):
        echo_vendor.store(emu).peek(tenant)


async def test_a_worker_whose_lease_another_took_resets_nothing_of_the_tenant(
    make_worker: Make, redis_url: str
) -> None:
    a, b = await make_worker("10.0.0.1:9001"), await make_worker("10.0.0.2:9002")
    await taken_over(a, b, redis_url)
    assert a.reset(None, "acme") == []  # refused: b holds the lease
    await let_go(a)
    await add_item(b, "acme", "third")  # b's state is as b left it: its next commit goes through (no 409)
    assert items(b) == ["first", "second", "third"]
    client = sync(redis_url)
    try:
        assert client.hexists(vendor_key(SLUG, "acme"), "s")
        assert client.sismember(INDEX, member(SLUG, "acme"))
        # a fleet-wide reset reaches every worker: the owner resets its own tenants, the others leave them
        assert a.reset() == []
        assert b.reset() == [(SLUG, "acme")]
        assert not client.hexists(vendor_key(SLUG, "acme"), "s")
        assert not client.sismember(INDEX, member(SLUG, "acme"))
    finally:
        client.close()


async def test_a_tenant_nobody_holds_is_reset_by_any_worker(make_worker: Make, redis_url: str) -> None:
    a, b = await make_worker("10.0.0.1:9001"), await make_worker("10.0.0.2:9002")
    assert b.fleet is not None
    assert await b.fleet.route("idle") is None
    await add_item(b, "idle", "left")
    await b.fleet.stop()  # a clean stop: its lease released, the tenant stored and free
    assert a.reset(SLUG) == [(SLUG, "idle")]
    client = sync(redis_url)
    try:
        assert not client.hexists(vendor_key(SLUG, "idle"), "s")
        assert not client.sismember(INDEX, member(SLUG, "idle"))
    finally:
        client.close()


async def test_a_worker_whose_lease_another_took_cannot_flag_the_tenant_provisioned(
    make_worker: Make, redis_url: str
) -> None:
    a, b = await make_worker("10.0.0.1:9001"), await make_worker("10.0.0.2:9002")
    await taken_over(a, b, redis_url)
    with pytest.raises(StateConflict, match="no longer owns"):
        a.store.mark_provisioned(SLUG, "acme")
    await let_go(a)
    await add_item(b, "acme", "third")  # the version did not move under b: no 409
    assert items(b) == ["first", "second", "third"]
    assert not b.store.provisioned(SLUG, "acme")
    client = sync(redis_url)
    try:
        assert client.hget(vendor_key(SLUG, "acme"), "p") != "1"
    finally:
        client.close()
    b.store.mark_provisioned(SLUG, "acme")  # the owner flags it
    assert b.store.provisioned(SLUG, "acme")


async def test_a_refused_commit_of_a_new_tenant_leaves_no_name_in_the_index(make_worker: Make, redis_url: str) -> None:
    a, b = await make_worker("10.0.0.1:9001"), await make_worker("10.0.0.2:9002")
    assert a.fleet is not None
    assert b.fleet is not None
    assert await a.fleet.route("fresh") is None  # claimed by a, nothing stored yet
    assert a.runtime is not None
    await a.runtime.flush()
    client = sync(redis_url)
    try:
        client.delete(tenant_key("fresh", "owner"))
        assert await b.fleet.route("fresh") is None  # b takes the name over, and stores nothing
        with pytest.raises(StateConflict, match="no longer owns"):
            await add_item(a, "fresh", "lost")
        assert not client.sismember(INDEX, member(SLUG, "fresh"))
        assert not client.hexists(vendor_key(SLUG, "fresh"), "s")
        await add_item(b, "fresh", "kept")  # the owner's commit of the same new tenant names it
        assert client.sismember(INDEX, member(SLUG, "fresh"))
    finally:
        client.close()
    assert a.store.known(SLUG) == ["fresh"]


def jobs(emu: Emulator) -> list[Any]:
    return [job["args"] for job in emu.scheduler.snapshot()]


async def test_a_restore_through_a_worker_whose_lease_another_took_reaches_the_new_owner(
    make_worker: Make, redis_url: str
) -> None:
    a, b = await make_worker("10.0.0.1:9001"), await make_worker("10.0.0.2:9002")
    assert a.fleet is not None
    assert b.fleet is not None
    assert await a.fleet.route("acme") is None
    await add_item(a, "acme", "first")
    a.scheduler.schedule_job(30, "echo.ping", {"item": "first"}, vendor=SLUG, tenant="acme")
    assert a.runtime is not None
    await a.runtime.flush()
    snapshot = a.snapshot()
    assert jobs(a) == [{"item": "first"}]
    await taken_over(a, b, redis_url, fresh=False)  # b takes acme over: a's lease is gone, a still thinks it owns it
    b.scheduler.schedule_job(60, "echo.ping", {"item": "second"}, vendor=SLUG, tenant="acme")
    assert b.runtime is not None
    await b.runtime.flush()
    a.restore(snapshot)  # through a: every tenant's state and runtime as the snapshot says, whoever owns it
    await a.runtime.flush()
    assert await b.fleet.reload() == 1  # as the restoring worker tells every other one: acme taken afresh
    assert items(b) == ["first"]
    assert jobs(b) == [{"item": "first"}]  # the snapshot's runtime, not what b had scheduled since
