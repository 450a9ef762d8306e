"""Many ordering keys at once, over real sockets: a receiver that holds its answers holds only its own keys, each key
stays FIFO however many run at once, and an attempt in flight is tracked work of its own tenant only (whatever
carries it: a task per key today; branch `pump2` tried workers shared across keys, bench/README.md)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from emulator.core.runtime import Emulator
from emulator.core.store import Outbound
from emulator.core.webhooks import Delivery, DeliveryFilter, WebhookPolicy
from tests.support import echo_vendor
from tests.support.rawhttp import OK, Serve, read_request, receivers

SLUG = echo_vendor.SLUG
FAIL = b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\n\r\nnope"


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    async for start in receivers():
        yield start


def submit(emu: Emulator, url: str, subject: str, n: int, tenant: str = "a") -> Delivery:
    outbound = Outbound(url, {"subject": subject, "n": n}, "created", subject, f"evt-{subject}-{n}")
    return emu.dispatcher.submit(SLUG, tenant, outbound)


async def settled(emu: Emulator, d: Delivery) -> Delivery:
    (done,) = await emu.dispatcher.wait(DeliveryFilter(event_id=d.event_id), timeout=10)
    return done


def body(request: bytes) -> dict[str, object]:
    parsed = json.loads(request.split(b"\r\n\r\n", 1)[1])
    assert isinstance(parsed, dict)
    return parsed


class Arrivals:
    """A receiver's handler: every request's body in arrival order; `hold` (while set) keeps a request unanswered
    until `release` is set, and `fail` answers 500 to the subjects it names."""

    def __init__(self, *, hold: bool = False, fail: frozenset[str] = frozenset()) -> None:
        self.bodies: list[dict[str, object]] = []
        self.hold = hold
        self.fail = fail
        self.release = asyncio.Event()
        self.got = asyncio.Event()

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                got = body(await read_request(reader))
            except asyncio.IncompleteReadError:
                break
            self.bodies.append(got)
            self.got.set()
            if self.hold:
                await self.release.wait()
            n = got["n"]
            assert isinstance(n, int)
            for _ in range(n % 3):  # answers come back out of order across connections
                await asyncio.sleep(0)
            writer.write(FAIL if got["subject"] in self.fail else OK)
        writer.close()


async def test_a_receiver_holding_its_answers_holds_only_its_own_keys(emu: Emulator, serve: Serve) -> None:
    slow, fast = Arrivals(hold=True), Arrivals()
    slow_url, fast_url = await serve(slow), await serve(fast)
    held = [submit(emu, slow_url, f"slow-{k}", 0) for k in range(6)]
    sent = [submit(emu, fast_url, f"fast-{k % 4}", k // 4) for k in range(24)]

    done = [await settled(emu, d) for d in sent]
    assert [d.status for d in done] == ["delivered"] * 24  # while six other keys' attempts are in flight
    assert [d.status for d in held] == ["pending"] * 6
    for k in range(4):  # each key in its own order
        assert [b["n"] for b in fast.bodies if b["subject"] == f"fast-{k}"] == list(range(6))

    slow.release.set()
    assert [(await settled(emu, d)).status for d in held] == ["delivered"] * 6
    await emu.scheduler.settle()
    assert not emu.scheduler.is_busy()  # nothing of the dispatcher is left running


async def test_each_key_is_delivered_in_order_with_many_keys_at_once(emu: Emulator, serve: Serve) -> None:
    arrivals = Arrivals()
    url = await serve(arrivals)
    sent = [submit(emu, url, f"conv-{k % 16}", k // 16) for k in range(16 * 12)]  # interleaved across 16 keys
    for d in sent:
        await settled(emu, d)

    assert [d.status for d in sent] == ["delivered"] * len(sent)
    assert len(arrivals.bodies) == len(sent)  # each once
    for k in range(16):
        assert [b["n"] for b in arrivals.bodies if b["subject"] == f"conv-{k}"] == list(range(12))


async def test_an_attempt_in_flight_is_tracked_work_of_its_tenant_only(emu: Emulator, serve: Serve) -> None:
    slow, fast = Arrivals(hold=True), Arrivals()
    slow_url, fast_url = await serve(slow), await serve(fast)
    await settled(emu, submit(emu, fast_url, "warm", 0, tenant="b"))  # tenant b has had a delivery already
    held = submit(emu, slow_url, "held", 0, tenant="a")
    await asyncio.wait_for(slow.got.wait(), 10)
    assert emu.scheduler.is_busy(["a"])
    assert not emu.scheduler.is_busy(["b"])

    settle_a = asyncio.ensure_future(emu.scheduler.settle(["a"]))
    advance_a = asyncio.ensure_future(emu.scheduler.advance(0.5, tenants=["a"]))
    for n in range(1, 4):  # tenant b's keys go out meanwhile; its clock moves without waiting for tenant a
        assert (await settled(emu, submit(emu, fast_url, f"b-{n}", n, tenant="b"))).status == "delivered"
        await emu.scheduler.settle(["b"])
        assert (await emu.scheduler.advance(1.0, tenants=["b"])).timers_run == 0
        assert not emu.scheduler.is_busy(["b"])
    await asyncio.sleep(0)
    assert [settle_a.done(), advance_a.done(), held.status] == [False, False, "pending"]

    slow.release.set()
    await settle_a
    assert held.status == "delivered"  # settled before `settle` returned
    assert (await advance_a).timers_run == 0
    assert not emu.scheduler.is_busy()


async def test_a_key_started_anew_for_each_delivery_keeps_its_order(emu: Emulator, serve: Serve) -> None:
    # one delivery of each key in flight, the key's next made once it settled: each starts its key again (as the
    # 8x8 row at c=16 does), in a key queue an earlier key left
    arrivals = Arrivals()
    url = await serve(arrivals)
    for n in range(5):
        round_ = [submit(emu, url, f"conv-{k}", n) for k in range(8)]
        assert [(await settled(emu, d)).status for d in round_] == ["delivered"] * 8
        await emu.scheduler.settle()
        assert not emu.scheduler.is_busy()
    for k in range(8):
        assert [b["n"] for b in arrivals.bodies if b["subject"] == f"conv-{k}"] == list(range(5))
    assert emu.dispatcher.pending_count == 0


async def test_pumps_cancelled_before_their_first_step_leave_no_tracked_work(emu: Emulator, serve: Serve) -> None:
    url = await serve(Arrivals())
    made = [submit(emu, url, f"conv-{k}", 0, tenant=f"t{k % 2}") for k in range(4)]
    assert emu.scheduler.is_busy(["t0"])  # their pumps made, not yet run
    assert emu.scheduler.is_busy(["t1"])

    await emu.dispatcher.close()

    assert not emu.scheduler.is_busy()
    assert [d.status for d in made] == ["pending"] * 4  # kept for the snapshot


async def test_a_pump_that_fails_is_logged_and_leaves_no_tracked_work(
    emu: Emulator, serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(d: Delivery) -> tuple[float, ...]:
        raise RuntimeError("a broken ladder")

    emu.dispatcher.register(SLUG, WebhookPolicy(ladder_for=broken))
    url = await serve(Arrivals(fail=frozenset({"conv"})))
    d = submit(emu, url, "conv", 0)

    await emu.scheduler.settle(["a"])  # the pump: the attempt answered 500, then its ladder raised

    assert not emu.scheduler.is_busy()
    assert [r.getMessage() for r in caplog.records if r.exc_info] == [
        f"webhook pump failed for ('{url}', '{SLUG}', 'a', 'conv')"
    ]
    assert (d.status, [a.status for a in d.attempts]) == ("pending", [500])  # the key stops where it was
