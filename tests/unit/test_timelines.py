"""Per-tenant timelines (`core.clock`): each tenant's own virtual time and timers, in the scheduler, the
control plane (`tenant=` on the clock endpoints), resets and snapshots."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator.core.clock import DEFAULT_VIRTUAL_START, Scheduler, SystemClock, VirtualClock
from tests.conftest import AppFactory, EmulatorFactory
from tests.support import echo_vendor
from tests.unit.test_control import assert_error, create_item, emulator_of, ping, tenant
from tests.unit.test_durable import app_with_file

START = DEFAULT_VIRTUAL_START


class Timers:
    """A virtual scheduler and the (tenant, time) each timer ran at, on its own timeline."""

    def __init__(self) -> None:
        self.sched = Scheduler(VirtualClock(START))
        self.ran: list[tuple[str | None, float]] = []

    def at(self, tenant: str | None, delay: float) -> None:
        self.sched.call_later(delay, lambda: self.ran.append((tenant, self.sched.now(tenant))), tenant=tenant)


def scheduler() -> tuple[Scheduler, list[tuple[str | None, float]], Timers]:
    timers = Timers()
    return timers.sched, timers.ran, timers


# -- the scheduler ----------------------------------------------------------------------------------------


async def test_advancing_one_tenant_moves_only_its_timeline() -> None:
    sched, ran, timers = scheduler()
    timers.at("a", 5)
    timers.at("b", 5)

    result = await sched.advance(10, tenants=["a"])

    assert ran == [("a", START + 5)]
    assert (result.timers_run, result.now, result.timelines) == (1, START + 10, {"a": START + 10})
    assert (sched.now("a"), sched.now("b"), sched.now()) == (START + 10, START, START)
    assert [t.tenant for t in sched.pending()] == ["b"]
    assert sched.pending(["a"]) == []


async def test_a_tenant_appearing_late_starts_at_the_start_and_every_timeline_moves_without_tenants() -> None:
    sched, ran, timers = scheduler()
    timers.at("a", 1)
    await sched.advance(100, tenants=["a"])
    timers.at("late", 3)
    timers.at(None, 3)

    result = await sched.advance(3)  # every timeline

    assert ran == [("a", START + 1), (None, START + 3), ("late", START + 3)]
    assert (result.now, result.timelines) == (START + 3, {})
    assert (sched.now("a"), sched.now("late"), sched.now()) == (START + 103, START + 3, START + 3)
    assert sched.now("never-seen") == START
    assert sched.tenants() == ["a", "late"]  # reading a tenant's time does not make a timeline


async def test_run_until_idle_of_one_tenant_leaves_the_others_pending() -> None:
    sched, ran, timers = scheduler()
    for delay in (1, 50, 400):
        timers.at("a", delay)
    timers.at("b", 2)

    result = await sched.run_until_idle(tenants=["a"])

    assert ran == [("a", START + 1), ("a", START + 50), ("a", START + 400)]
    assert (result.timers_run, sched.now("a"), sched.now("b")) == (3, START + 400, START)
    assert sched.next_due(["b"]) == START + 2
    assert sched.pending_count() == 1

    everything = await sched.run_until_idle()
    assert everything.timers_run == 1
    assert sched.now() == START + 400  # the shared timeline ends where the furthest one did


async def test_a_tenant_waits_only_for_its_own_background_work() -> None:
    """What a Samespace `http` step relies on: its tenant's timeline is held while the request runs, no other."""
    sched, ran, timers = scheduler()
    released = asyncio.Event()

    async def slow_request() -> None:
        await released.wait()
        ran.append(("held", sched.now("held")))

    sched.call_later(1, slow_request, tenant="held")
    timers.at("free", 2)
    held = asyncio.create_task(sched.advance(5, tenants=["held"]))
    await asyncio.sleep(0)  # the held timeline is now inside its request

    free = await asyncio.wait_for(sched.advance(5, tenants=["free"]), timeout=20)  # bound on failure only

    assert free.timelines == {"free": START + 5}
    assert ran == [("free", START + 2)]
    assert not held.done()
    assert sched.now("held") == START + 1  # held at the instant its request started
    released.set()
    assert (await held).timelines == {"held": START + 5}
    assert ran == [("free", START + 2), ("held", START + 1)]


async def test_cancel_tagged_and_forget_touch_only_the_named_tenant() -> None:
    sched, ran, timers = scheduler()
    timers.at("a", 1)
    timers.at("b", 1)
    await sched.advance(0.5, tenants=["a"])

    assert sched.cancel_tagged(tenant="a") == 1
    sched.forget("a")

    assert (sched.now("a"), sched.tenants()) == (START, ["b"])
    await sched.run_until_idle()
    assert ran == [("b", START + 1)]


def test_on_the_system_clock_every_timeline_is_wall_time() -> None:
    clock = SystemClock()
    sched = Scheduler(clock)
    before = clock.now()
    assert sched.clock_of("a") is clock
    assert before <= sched.now("a") <= clock.now()
    assert sched.timelines() == {}


async def test_advance_and_run_until_idle_need_the_virtual_clock() -> None:
    sched = Scheduler(SystemClock())
    with pytest.raises(RuntimeError, match="virtual clock"):
        await sched.advance(1, tenants=["a"])


# -- the control plane ------------------------------------------------------------------------------------


async def test_get_clock_of_a_tenant_lists_what_its_timers_will_do(client: httpx.AsyncClient) -> None:
    await create_item(client, "a")
    await ping(client, "a", "it-1", 30)
    await create_item(client, "b")
    await ping(client, "b", "it-1", 5)

    r = await client.get("/_emulator/clock", params={"tenant": "a"})

    assert r.status_code == 200, r.text
    assert r.json() == {
        "mode": "virtual",
        "tenant": "a",
        "now": START,
        "iso": "2026-01-01T00:00:00.000Z",
        "pending_timers": 1,
        "next_due": START + 30,
        "busy": False,
        "timelines": 2,
        "timers": [
            {
                "due": START + 30,
                "iso": "2026-01-01T00:00:30.000Z",
                "vendor": "echo",
                "what": "echo.ping",
                "args": {"item": "it-1"},
            }
        ],
    }
    unseen = (await client.get("/_emulator/clock", params={"tenant": "nobody"})).json()
    assert (unseen["now"], unseen["pending_timers"], unseen["timers"], unseen["timelines"]) == (START, 0, [], 2)


async def test_advance_with_repeated_tenants_moves_those_and_no_other(client: httpx.AsyncClient) -> None:
    for name in ("a", "b", "c"):
        await create_item(client, name)
        await ping(client, name, "it-1", 10)

    r = await client.post("/_emulator/clock/advance?tenant=a&tenant=b", json={"seconds": 10})

    assert r.status_code == 200, r.text
    assert r.json() == {
        "now": START + 10,
        "iso": "2026-01-01T00:00:10.000Z",
        "timers_run": 2,
        "timelines": {"a": START + 10, "b": START + 10},
    }
    pings = {n: (await client.get("/echo/v1/items/it-1", headers=tenant(n))).json()["pings"] for n in "abc"}
    assert pings == {"a": 1, "b": 1, "c": 0}
    assert (await client.get("/_emulator/clock", params={"tenant": "c"})).json()["now"] == START

    r = await client.post("/_emulator/clock/run-until-idle", params={"tenant": "c"})
    assert r.json() == {
        "now": START + 10,
        "iso": "2026-01-01T00:00:10.000Z",
        "timers_run": 1,
        "timelines": {"c": START + 10},
    }


@pytest.mark.parametrize(
    ("method", "path", "query", "message"),
    [
        ("GET", "/_emulator/clock", "tenant=a&tenant=b", "one tenant per read"),
        ("GET", "/_emulator/clock", "tenant=", "1 to 256 characters"),
        ("POST", "/_emulator/clock/advance", "tenant=&seconds=1", "1 to 256 characters"),
        ("POST", "/_emulator/clock/advance", f"tenant={'x' * 257}&seconds=1", "1 to 256 characters"),
        ("POST", "/_emulator/clock/run-until-idle", "tenant=a&tenant=", "1 to 256 characters"),
        ("POST", "/_emulator/clock/run-until-idle", "&".join(["tenant=t"] * 1001), "at most 1000"),
    ],
    ids=["two-on-read", "empty-read", "empty-advance", "too-long", "one-empty", "too-many"],
)
async def test_bad_tenant_parameters_are_400(
    client: httpx.AsyncClient, method: str, path: str, query: str, message: str
) -> None:
    await create_item(client, "a")
    await ping(client, "a", "it-1", 1)
    r = await client.request(method, f"{path}?{query}")
    assert_error(r, 400, "invalid_request", message)
    clock = (await client.get("/_emulator/clock", params={"tenant": "a"})).json()
    assert (clock["now"], clock["pending_timers"]) == (START, 1)  # nothing moved


async def test_moving_a_tenant_on_the_system_clock_is_409(make_app: AppFactory) -> None:
    _, client = await make_app(clock="system")
    r = await client.post("/_emulator/clock/advance?tenant=a", json={"seconds": 1})
    assert_error(r, 409, "system_clock", "--clock virtual")
    r = await client.post("/_emulator/clock/run-until-idle?tenant=a")
    assert_error(r, 409, "system_clock", "--clock virtual")
    clock = (await client.get("/_emulator/clock", params={"tenant": "a"})).json()
    assert (clock["mode"], clock["tenant"]) == ("system", "a")


async def test_resetting_a_tenant_in_every_vendor_starts_its_time_again(client: httpx.AsyncClient) -> None:
    await create_item(client, "a")
    await client.post("/_emulator/clock/advance?tenant=a", json={"seconds": 60})

    await client.post("/_emulator/reset", params={"vendor": "echo", "tenant": "a"})
    assert (await client.get("/_emulator/clock", params={"tenant": "a"})).json()["now"] == START + 60  # one vendor

    await client.post("/_emulator/reset", params={"tenant": "a"})
    assert (await client.get("/_emulator/clock", params={"tenant": "a"})).json()["now"] == START
    created = await create_item(client, "a")
    assert created["createdAt"] == START


# -- snapshot and restore ---------------------------------------------------------------------------------


async def test_snapshot_and_restore_keep_every_timeline(make_emulator: EmulatorFactory) -> None:
    original = await make_emulator()
    for name, seconds in (("a", 30), ("b", 7)):
        async with original.store.tenant(echo_vendor.SLUG, name):
            pass
        original.scheduler.schedule_job(50, "echo.ping", {"item": "it-1"}, vendor=echo_vendor.SLUG, tenant=name)
        await original.scheduler.advance(seconds, tenants=[name])

    data = json.loads(json.dumps(original.snapshot()))
    assert data["timelines"] == {"a": START + 30, "b": START + 7}
    assert [(j["tenant"], j["due"]) for j in data["jobs"]] == [("a", START + 50), ("b", START + 50)]

    restored = await make_emulator()
    async with restored.store.tenant(echo_vendor.SLUG, "z"):
        pass
    await restored.scheduler.advance(99, tenants=["z"])
    restored.restore(data)

    assert restored.scheduler.timelines() == {"a": START + 30, "b": START + 7}
    assert restored.scheduler.now("z") == START  # not in the snapshot: a tenant that has not appeared yet
    assert restored.snapshot() == data


async def test_an_old_snapshot_without_timelines_puts_every_tenant_at_its_one_clock(
    make_emulator: EmulatorFactory,
) -> None:
    original = await make_emulator()
    async with original.store.tenant(echo_vendor.SLUG, "a"):
        pass
    original.scheduler.schedule_job(50, "echo.ping", {"item": "it-1"}, vendor=echo_vendor.SLUG, tenant="j")
    data: dict[str, Any] = json.loads(json.dumps(original.snapshot()))
    del data["timelines"]
    data["clock"]["now"] = START + 20

    restored = await make_emulator()
    restored.restore(data)

    assert restored.scheduler.timelines() == {"a": START + 20, "j": START + 20}
    assert restored.scheduler.next_due(["j"]) == START + 50


async def test_post_state_restores_the_timelines_of_a_get_state(make_app: AppFactory) -> None:
    app, client = await make_app()
    await create_item(client, "a")
    await client.post("/_emulator/clock/advance?tenant=a", json={"seconds": 12})
    snapshot = (await client.get("/_emulator/state")).json()
    assert snapshot["timelines"] == {"a": START + 12}

    await client.post("/_emulator/reset")
    assert emulator_of(app).scheduler.timelines() == {}
    r = await client.post("/_emulator/state", json=snapshot)

    assert r.status_code == 200, r.text
    assert (await client.get("/_emulator/clock", params={"tenant": "a"})).json()["now"] == START + 12
    bad = {**snapshot, "timelines": {"a": "soon"}}
    assert_error(await client.post("/_emulator/state", json=bad), 400, "invalid_request")


async def test_the_state_file_is_saved_again_when_only_a_tenants_time_moved(
    tmp_path: Path, make_app: AppFactory
) -> None:
    path = tmp_path / "state.json"
    emu, client = await app_with_file(make_app, path)
    await create_item(client, "a")
    saver = emu.saver
    assert saver is not None
    assert await saver.save(running=True) is None
    saved = saver.saves

    await client.post("/_emulator/clock/advance?tenant=a", json={"seconds": 9})  # nothing else changes
    assert await saver.save(running=True) is None

    assert saver.saves == saved + 1
    assert json.loads(path.read_text(encoding="utf-8"))["timelines"] == {"a": START + 9}


# -- vendors read their tenant's time -----------------------------------------------------------------------

VENDORS = Path(__file__).resolve().parents[2] / "emulator" / "vendors"


def test_no_vendor_reads_the_shared_clock() -> None:
    """A vendor's time is its tenant's (`tx.now()`, `emu.scheduler.now(tenant)`): `.clock.now()` would read the
    shared timeline, and a tenant's bodies would then depend on what other tenants did."""
    found = [
        f"{path.relative_to(VENDORS)}:{n}"
        for path in sorted(VENDORS.rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"\.clock\.now\(", line)
    ]
    assert found == []
