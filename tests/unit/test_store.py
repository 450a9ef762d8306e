"""Store: unit of work per tenant, reset of one tenant, snapshot/restore that carries state and id counters."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from emulator.core.clock import DEFAULT_VIRTUAL_START, VirtualClock
from emulator.core.errors import EmulatorError, NotFound
from emulator.core.ids import fmt_sequence
from emulator.core.runtime import Emulator
from emulator.core.store import Outbound, Store, Tx
from tests.conftest import AppFactory, EmulatorFactory, make_settings
from tests.support import echo_vendor
from tests.support.echo_vendor import EchoState, Item

SLUG = echo_vendor.SLUG
OTHER = "echo2"
H_A = {"x-echo-tenant": "a"}
H_B = {"x-echo-tenant": "b"}


def new_store() -> tuple[Store, list[Tx[Any]]]:
    store = Store(7, VirtualClock())
    store.register(SLUG, EchoState, lambda tenant, ids: EchoState())
    committed: list[Tx[Any]] = []
    store.on_commit(committed.append)
    return store, committed


async def add_item(store: Store, tenant: str, text: str, vendor: str = SLUG) -> str:
    async with store.tenant(vendor, tenant) as tx:
        item = Item(id=tx.ids.new("item", fmt_sequence(1, "it-")), text=text, createdAt=tx.now())
        tx.state.items[item.id] = item
        tx.emit("item.created", item.id, {"text": text})
        return item.id


# -- unit of work -----------------------------------------------------------------------------------------


async def test_commit_hook_gets_the_events_and_outbound_webhooks() -> None:
    store, committed = new_store()
    async with store.tenant(SLUG, "a") as tx:
        first = tx.ids.new("event")
        tx.emit("item.created", "it-1", {"text": "hi"})
        tx.emit("item.updated", "it-1")
        tx.send(Outbound("http://127.0.0.1:1/hook", {"id": "it-1"}, "created", "it-1", first))
        assert committed == []  # nothing is published before the block ends

    assert len(committed) == 1
    (tx,) = committed
    assert (tx.vendor, tx.tenant) == (SLUG, "a")
    assert [(e.kind, e.subject, e.data, e.at) for e in tx.events] == [
        ("item.created", "it-1", {"text": "hi"}, DEFAULT_VIRTUAL_START),
        ("item.updated", "it-1", {}, DEFAULT_VIRTUAL_START),
    ]
    assert [(o.event_type, o.event_id, o.payload) for o in tx.outbound] == [("created", first, {"id": "it-1"})]


async def test_a_unit_of_work_without_events_does_not_call_the_commit_hook() -> None:
    store, committed = new_store()
    async with store.tenant(SLUG, "a") as tx:
        tx.state.webhook_url = "http://127.0.0.1:1/hook"
    assert committed == []
    state = store.peek(SLUG, "a")
    assert isinstance(state, EchoState)
    assert state.webhook_url == "http://127.0.0.1:1/hook"


@pytest.mark.parametrize(
    "error",
    [ValueError("bad input"), EmulatorError("rejected", code="invalid"), asyncio.CancelledError()],
    ids=["exception", "emulator-error", "cancelled"],
)
async def test_a_failed_unit_of_work_discards_events_and_reissues_its_ids(error: BaseException) -> None:
    store, committed = new_store()
    kept = await add_item(store, "a", "kept")
    committed.clear()

    drawn: list[str] = []

    async def rejected() -> None:
        async with store.tenant(SLUG, "a") as tx:
            drawn.extend([tx.ids.new("item", fmt_sequence(1, "it-")), tx.ids.new("event"), tx.ids.new("call")])
            tx.emit("item.created", drawn[0])
            tx.send(Outbound("http://127.0.0.1:1/hook", {}, "created", drawn[0], drawn[1]))
            raise error

    with pytest.raises(type(error)):
        await rejected()

    assert committed == []
    async with store.tenant(SLUG, "a") as tx:
        again = [tx.ids.new("item", fmt_sequence(1, "it-")), tx.ids.new("event"), tx.ids.new("call")]
    assert (kept, drawn[0]) == ("it-1", "it-2")
    assert again == drawn
    assert store.snapshot()[SLUG]["a"]["counters"] == {"call": 1, "event": 1, "item": 2}


async def test_create_false_raises_not_found_for_an_unknown_tenant_and_creates_nothing() -> None:
    store, _ = new_store()
    with pytest.raises(NotFound, match="no tenant 'ghost'"):
        async with store.tenant(SLUG, "ghost", create=False):
            pass
    assert not store.exists(SLUG, "ghost")
    assert store.tenants() == []

    await add_item(store, "a", "x")
    async with store.tenant(SLUG, "a", create=False) as tx:
        assert list(tx.state.items) == ["it-1"]


async def test_units_of_work_on_one_tenant_run_one_at_a_time_but_tenants_do_not_wait() -> None:
    store, _ = new_store()
    inside_a = asyncio.Event()
    release_a = asyncio.Event()
    order: list[str] = []

    async def hold_a() -> None:
        async with store.tenant(SLUG, "a"):
            order.append("a1 in")
            inside_a.set()
            await release_a.wait()
            order.append("a1 out")

    async def second_a() -> None:
        async with store.tenant(SLUG, "a"):
            order.append("a2 in")

    holder = asyncio.create_task(hold_a())
    await inside_a.wait()
    waiter = asyncio.create_task(second_a())
    await add_item(store, "b", "b is not blocked")  # completes while tenant a is held
    order.append("b done")
    assert not waiter.done()

    release_a.set()
    await asyncio.gather(holder, waiter)
    assert order == ["a1 in", "b done", "a1 out", "a2 in"]


# -- reset ----------------------------------------------------------------------------------------------


@pytest.fixture
async def two_vendors() -> AsyncIterator[Emulator]:
    """The echo vendor plus a second vendor whose constructor provisions every tenant."""
    other = dataclasses.replace(
        echo_vendor.PLUGIN, slug=OTHER, new_state=lambda emu, tenant, ids: EchoState(provisioned=True)
    )
    emu = Emulator(make_settings(), [echo_vendor.PLUGIN, other])
    await emu.start()
    yield emu
    await emu.stop()


def state_of(emu: Emulator, vendor: str, tenant: str) -> EchoState:
    state = emu.store.peek(vendor, tenant)
    assert isinstance(state, EchoState)
    return state


async def test_reset_of_one_tenant_leaves_other_tenants_and_vendors_intact(two_vendors: Emulator) -> None:
    emu = two_vendors
    for vendor, tenant in [(SLUG, "a"), (SLUG, "a"), (SLUG, "b"), (OTHER, "a")]:
        await add_item(emu.store, tenant, f"{vendor}/{tenant}", vendor=vendor)
    async with emu.store.tenant(OTHER, "b") as tx:
        tx.state.provisioned = False
    for tenant in ("a", "b"):
        emu.scheduler.schedule_job(60, "echo.ping", {"item": "it-1"}, vendor=SLUG, tenant=tenant)
    before = emu.store.snapshot()

    dropped = emu.reset(SLUG, "a")

    assert dropped == [(SLUG, "a")]
    assert emu.store.peek(SLUG, "a") is None
    after = emu.store.snapshot()
    assert after[SLUG] == {"b": before[SLUG]["b"]}
    assert after[OTHER] == before[OTHER]
    # the reset tenant's pending job went with it; the other tenant's runs
    assert [(j["tenant"], j["kind"]) for j in emu.scheduler.snapshot()] == [("b", "echo.ping")]
    await emu.scheduler.run_until_idle()
    assert state_of(emu, SLUG, "b").items["it-1"].pings == 1
    assert emu.store.peek(SLUG, "a") is None

    # next access rebuilds it from its constructor, ids start over
    assert await add_item(emu.store, "a", "fresh") == "it-1"
    assert list(state_of(emu, SLUG, "a").items) == ["it-1"]
    assert await add_item(emu.store, "b", "more") == "it-2"


async def test_reset_rebuilds_from_the_constructor_not_by_clearing_fields(two_vendors: Emulator) -> None:
    emu = two_vendors
    async with emu.store.tenant(OTHER, "b") as tx:
        assert tx.state.provisioned is True  # what the constructor builds
        tx.state.provisioned = False
        tx.state.webhook_url = "http://127.0.0.1:1/hook"

    assert emu.reset(OTHER) == [(OTHER, "b")]

    async with emu.store.tenant(OTHER, "b") as tx:
        assert tx.state == EchoState(provisioned=True)


async def test_reset_over_http_forgets_one_tenant(client: httpx.AsyncClient) -> None:
    for headers, text in [(H_A, "a1"), (H_A, "a2"), (H_B, "b1")]:
        r = await client.post("/echo/v1/items", json={"text": text}, headers=headers)
        assert r.status_code == 201, r.text

    r = await client.post("/_emulator/reset", params={"vendor": SLUG, "tenant": "a"})
    assert r.status_code == 200, r.text
    assert r.json() == {"reset": [{"vendor": SLUG, "tenant": "a"}]}

    assert (await client.get("/echo/v1/items/it-1", headers=H_A)).status_code == 404
    r = await client.get("/echo/v1/items/it-1", headers=H_B)
    assert r.status_code == 200
    assert r.json()["text"] == "b1"
    assert (await client.post("/echo/v1/items", json={"text": "a3"}, headers=H_A)).json()["id"] == "it-1"
    assert (await client.post("/echo/v1/items", json={"text": "b2"}, headers=H_B)).json()["id"] == "it-2"


# -- snapshot / restore ---------------------------------------------------------------------------------


async def scripted_work(emu: Emulator) -> list[str]:
    """Something a test might do: items in two tenants, a failed unit of work, a pending persistent job."""
    out = [await add_item(emu.store, t, t) for t in ("a", "b", "a")]

    async def rejected() -> None:
        async with emu.store.tenant(SLUG, "b") as tx:
            tx.ids.new("item", fmt_sequence(1, "it-"))
            raise RuntimeError("rejected")

    with pytest.raises(RuntimeError):
        await rejected()
    async with emu.store.tenant(SLUG, "a") as tx:
        out.append(tx.ids.fake("agent").name())
        out.append(tx.ids.new("conversation"))
    emu.scheduler.schedule_job(90, "echo.ping", {"item": "it-1"}, vendor=SLUG, tenant="a")
    await emu.scheduler.advance(30)
    return out


async def continue_work(emu: Emulator) -> list[str]:
    out = [await add_item(emu.store, t, "later") for t in ("b", "a")]
    async with emu.store.tenant(SLUG, "a") as tx:
        out.append(tx.ids.new("conversation"))
        out.append(tx.ids.fake("agent").name())
        out.append(str(tx.ids.random("delay").random()))
    await emu.scheduler.run_until_idle()
    return out


async def test_snapshot_survives_json_and_restore_continues_with_the_same_ids(
    make_emulator: EmulatorFactory,
) -> None:
    original = await make_emulator()
    await scripted_work(original)
    data = json.loads(json.dumps(original.snapshot()))
    assert data["jobs"] == [
        {
            "due": DEFAULT_VIRTUAL_START + 90,
            "vendor": SLUG,
            "tenant": "a",
            "kind": "echo.ping",
            "args": {"item": "it-1"},
        }
    ]

    restored = await make_emulator()
    restored.restore(data)
    assert restored.snapshot() == data
    assert restored.clock.now() == original.clock.now() == DEFAULT_VIRTUAL_START + 30

    # the original is the control run: both go on identically, including the restored job
    control = await continue_work(original)
    assert await continue_work(restored) == control
    assert control[:2] == ["it-2", "it-3"]
    assert state_of(restored, SLUG, "a").items["it-1"].pings == 1
    assert restored.clock.now() == DEFAULT_VIRTUAL_START + 90
    assert restored.snapshot() == original.snapshot()


async def test_restore_into_a_server_with_another_seed_goes_on_with_the_snapshots_ids(
    make_emulator: EmulatorFactory,
) -> None:
    original = await make_emulator(seed=7)
    await scripted_work(original)
    data = json.loads(json.dumps(original.snapshot()))

    other_seed = await make_emulator(seed=99)
    other_seed.restore(data)

    assert await continue_work(other_seed) == await continue_work(original)


async def test_restore_replaces_everything_that_was_there(make_emulator: EmulatorFactory) -> None:
    source = await make_emulator()
    await add_item(source.store, "a", "from snapshot")
    data = json.loads(json.dumps(source.snapshot()))

    target = await make_emulator()
    await add_item(target.store, "zzz", "will vanish")
    target.scheduler.schedule_job(10, "echo.ping", {"item": "it-1"}, vendor=SLUG, tenant="zzz")
    target.restore(data)

    assert target.store.tenants() == [(SLUG, "a")]
    assert target.scheduler.snapshot() == []


@pytest.mark.parametrize(
    "bad",
    [{}, {"version": 2}, []],
    ids=["empty", "future-version", "not-an-object"],
)
async def test_restore_rejects_a_snapshot_of_another_version(emu: Emulator, bad: Any) -> None:
    await add_item(emu.store, "a", "stays")
    with pytest.raises(ValueError, match="version must be 1"):
        emu.restore(bad)
    assert emu.store.tenants() == [(SLUG, "a")]


async def test_snapshot_and_restore_over_http(make_app: AppFactory) -> None:
    _, first = await make_app()
    for headers in (H_A, H_B, H_A):
        assert (await first.post("/echo/v1/items", json={"text": "x"}, headers=headers)).status_code == 201
    assert (await first.post("/echo/v1/items/it-1/ping", json={"delay": 60}, headers=H_A)).status_code == 202
    snapshot = (await first.get("/_emulator/state")).json()

    _, second = await make_app()
    r = await second.post("/_emulator/state", content=json.dumps(snapshot))
    assert r.status_code == 200, r.text
    assert (await second.get("/_emulator/state")).json() == snapshot

    for client in (first, second):
        r = await client.post("/echo/v1/items", json={"text": "next"}, headers=H_A)
        assert r.json()["id"] == "it-3"
        assert (await client.post("/_emulator/clock/advance", json={"seconds": 60})).status_code == 200
        assert (await client.get("/echo/v1/items/it-1", headers=H_A)).json()["pings"] == 1
    assert (await second.get("/_emulator/state")).json() == (await first.get("/_emulator/state")).json()
