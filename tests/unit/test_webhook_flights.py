"""A delivery attempt on a reused keep-alive connection (the dispatcher's common case, sent by `_launch` and awaited
in the pump itself): recorded, timed out, retried, reset and cancelled as any other attempt, against real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from emulator.core.clock import Scheduler, VirtualClock
from emulator.core.runtime import Emulator
from emulator.core.store import Outbound
from emulator.core.webhooks import (
    TRIM_SKIP_LIMIT,
    AttemptContext,
    Delivery,
    DeliveryFilter,
    WebhookDispatcher,
    WebhookPolicy,
)
from tests.conftest import EmulatorFactory
from tests.support import echo_vendor
from tests.support.rawhttp import OK, Serve, receivers

SLUG = echo_vendor.SLUG


class Receiver:
    """A raw HTTP receiver: the bodies it got, by connection (one list per connection, in arrival order)."""

    def __init__(self) -> None:
        self.connections: list[list[bytes]] = []
        self.got = asyncio.Event()

    async def keep_alive(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A handler that answers every request of its connection 200 and keeps the connection open."""
        conn: list[bytes] = []
        self.connections.append(conn)
        while await self.request(reader, conn) is not None:
            writer.write(OK)
        writer.close()

    async def request(self, reader: asyncio.StreamReader, conn: list[bytes]) -> bytes | None:
        """The next request's body on one connection (None once the client has closed it)."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        length = next(int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length"))
        body = await reader.readexactly(length)
        conn.append(body)
        self.got.set()
        return body


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    async for start in receivers():
        yield start


def submit(emu: Emulator, url: str, n: int, subject: str = "it-1") -> Delivery:
    outbound = Outbound(url, {"n": n}, "created", subject, f"evt-{subject}-{n}")
    return emu.dispatcher.submit(SLUG, "a", outbound)


async def settled(emu: Emulator, d: Delivery) -> Delivery:
    (done,) = await emu.dispatcher.wait(DeliveryFilter(event_id=d.event_id), timeout=10)
    return done


def nothing_held(emu: Emulator) -> bool:
    """No tenant slot, global slot or target slot is still taken (a flight gave back what it took)."""
    http = emu.dispatcher._http
    return not len(emu.dispatcher._per_tenant) and (http is None or not (len(http._slots) or len(http._per_target)))


async def test_attempts_on_a_reused_connection_are_recorded_in_order_on_one_connection(
    emu: Emulator, serve: Serve
) -> None:
    receiver = Receiver()

    url = await serve(receiver.keep_alive)
    sent = [submit(emu, url, n) for n in range(6)]
    done = [await settled(emu, d) for d in sent]

    assert receiver.connections == [[b'{"n":%d}' % n for n in range(6)]]  # one connection, in submission order
    for d in done:
        (attempt,) = d.attempts
        assert (d.status, attempt.n, attempt.status, attempt.response_excerpt, attempt.error) == (
            "delivered",
            0,
            200,
            "ok",
            None,
        )
        assert attempt.headers["x-echo-event-id"] == d.event_id
        assert attempt.latency_ms >= 0
    await emu.scheduler.settle()
    assert nothing_held(emu)


async def test_no_answer_on_a_reused_connection_times_out_and_the_ladder_retries_on_a_fresh_one(
    make_emulator: EmulatorFactory, serve: Serve
) -> None:
    emu = await make_emulator(webhooks={SLUG: {"timeout": 0.5}})
    receiver = Receiver()
    hung_up = asyncio.Event()

    async def silent_second(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn: list[bytes] = []
        receiver.connections.append(conn)
        first = len(receiver.connections) == 1
        while await receiver.request(reader, conn) is not None:
            if first and len(conn) == 2:  # no answer to the second request on the first connection
                await reader.read()  # returns once the client has closed it
                hung_up.set()
                break
            writer.write(OK)
        writer.close()

    url = await serve(silent_second)
    assert (await settled(emu, submit(emu, url, 1))).status == "delivered"
    second = submit(emu, url, 2)
    (waiting,) = await emu.dispatcher.wait(lambda d: d is second and bool(d.attempts), settled=False, timeout=10)
    assert waiting.status == "pending"
    assert [(a.n, a.status, a.error) for a in waiting.attempts] == [(0, None, "timed out after 0.5s")]
    await asyncio.wait_for(hung_up.wait(), 10)  # the connection that timed out is closed, never reused
    assert nothing_held(emu)

    await emu.scheduler.advance(1.0)  # the echo ladder's first step
    done = await settled(emu, second)
    assert [(a.n, a.status) for a in done.attempts] == [(0, None), (1, 200)]
    assert receiver.connections == [[b'{"n":1}', b'{"n":2}'], [b'{"n":2}']]


async def test_a_receiver_that_hangs_up_after_each_answer_gets_each_delivery_once(emu: Emulator, serve: Serve) -> None:
    """It says keep-alive, then closes: a request that meets the closed connection goes once more on a fresh
    one within the same attempt (whether the close was seen before it was sent or after)."""
    receiver = Receiver()

    async def one_per_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn: list[bytes] = []
        receiver.connections.append(conn)
        if await receiver.request(reader, conn) is not None:
            writer.write(OK)
            await writer.drain()
        writer.close()

    url = await serve(one_per_connection)
    done = [await settled(emu, submit(emu, url, n)) for n in range(5)]
    assert [(d.status, [(a.n, a.status) for a in d.attempts]) for d in done] == [("delivered", [(0, 200)])] * 5
    assert [b for conn in receiver.connections for b in conn] == [b'{"n":%d}' % n for n in range(5)]
    await emu.scheduler.settle()
    assert nothing_held(emu)


async def holding_receiver(serve: Serve) -> tuple[str, Receiver, asyncio.Event]:
    """A receiver that answers the first request of its first connection and holds every later one until the
    event is set."""
    receiver = Receiver()
    release = asyncio.Event()

    async def hold_later(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn: list[bytes] = []
        receiver.connections.append(conn)
        while await receiver.request(reader, conn) is not None:
            if len(receiver.connections) > 1 or len(conn) > 1:
                await release.wait()
            writer.write(OK)
        writer.close()

    return await serve(hold_later), receiver, release


async def test_reset_with_an_attempt_in_flight_on_a_reused_connection_does_not_lose_the_next_delivery(
    emu: Emulator, serve: Serve
) -> None:
    url, receiver, release = await holding_receiver(serve)
    await settled(emu, submit(emu, url, 1))
    receiver.got.clear()
    submit(emu, url, 2)
    await asyncio.wait_for(receiver.got.wait(), 10)  # in flight on the reused connection

    emu.reset(SLUG, "a")
    after_reset = submit(emu, url, 3)  # same key, queued while the forgotten one is in flight
    release.set()

    done = await settled(emu, after_reset)
    assert [(a.n, a.status) for a in done.attempts] == [(0, 200)]
    assert [d.id for d in emu.dispatcher.deliveries()] == [after_reset.id]
    assert [b for conn in receiver.connections for b in conn] == [b'{"n":1}', b'{"n":2}', b'{"n":3}']
    await emu.scheduler.settle()
    assert nothing_held(emu)


async def test_closing_with_an_attempt_in_flight_on_a_reused_connection_keeps_it_pending(
    emu: Emulator, serve: Serve
) -> None:
    url, receiver, release = await holding_receiver(serve)
    await settled(emu, submit(emu, url, 1))
    receiver.got.clear()
    second = submit(emu, url, 2)
    await asyncio.wait_for(receiver.got.wait(), 10)

    await emu.dispatcher.close()
    release.set()
    assert (second.status, second.attempts) == ("pending", [])  # cancelled mid-attempt: not an attempt
    assert [p["event_id"] for p in emu.dispatcher.snapshot()["pending"]] == [second.event_id]
    assert not len(emu.dispatcher._per_tenant)


async def test_deliveries_waiting_for_their_tenants_slot_go_out_in_turn_on_the_pooled_connection(
    make_emulator: EmulatorFactory, serve: Serve
) -> None:
    """One request in flight per tenant: the pumps of other subjects wait for the slot (in the pump itself), and
    each goes out once it is handed on, in the order they asked, on the connection the last one gave back."""
    emu = await make_emulator(webhook_concurrency_per_tenant=1)
    url, receiver, release = await holding_receiver(serve)
    await settled(emu, submit(emu, url, 0, subject="warm"))
    receiver.got.clear()
    first = submit(emu, url, 1, subject="s1")
    await asyncio.wait_for(receiver.got.wait(), 10)  # holds the tenant's one slot
    waiting = [submit(emu, url, n, subject=f"s{n}") for n in (2, 3, 4)]
    release.set()

    done = [await settled(emu, d) for d in (first, *waiting)]
    assert [[(a.n, a.status) for a in d.attempts] for d in done] == [[(0, 200)]] * 4
    assert receiver.connections == [[b'{"n":%d}' % n for n in range(5)]]
    await emu.scheduler.settle()
    assert nothing_held(emu)


async def test_a_header_that_cannot_be_sent_fails_its_attempt_and_the_next_delivery_goes_out(
    emu: Emulator, serve: Serve
) -> None:
    receiver = Receiver()

    def headers(ctx: AttemptContext) -> dict[str, str]:
        return {"x-note": "\u20ac" if ctx.body == b'{"n":2}' else "plain"}  # a euro sign: not latin-1

    emu.dispatcher.register(SLUG, WebhookPolicy(retry_ladder=(), headers=headers))
    url = await serve(receiver.keep_alive)
    first, second, third = [await settled(emu, submit(emu, url, n)) for n in (1, 2, 3)]

    assert (first.status, third.status) == ("delivered", "delivered")
    (failed,) = second.attempts
    assert second.status == "failed"
    assert (failed.error or "").startswith("UnicodeEncodeError")
    assert receiver.connections == [[b'{"n":1}', b'{"n":3}']]
    await emu.scheduler.settle()
    assert nothing_held(emu)


async def test_a_500_on_a_reused_connection_is_retried_by_the_ladder_and_the_deliveries_behind_it_wait(
    emu: Emulator, serve: Serve
) -> None:
    """FIFO per key across a failed attempt: what was queued behind it goes out only after its retry succeeds, each
    attempt told to the listeners once, in order."""
    receiver = Receiver()
    told: list[tuple[str, int, int | None, str]] = []
    emu.dispatcher.attempt_listeners.append(lambda d, a: told.append((d.event_id, a.n, a.status, d.status)))

    async def fail_n2_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn: list[bytes] = []
        receiver.connections.append(conn)
        while (body := await receiver.request(reader, conn)) is not None:
            once = body == b'{"n":2}' and sum(b == body for c in receiver.connections for b in c) == 1
            writer.write(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\n\r\nnope" if once else OK)
        writer.close()

    url = await serve(fail_n2_once)
    await settled(emu, submit(emu, url, 1))
    sent = [submit(emu, url, n) for n in (2, 3, 4)]
    (failed,) = await emu.dispatcher.wait(lambda d: d is sent[0] and bool(d.attempts), settled=False, timeout=10)
    await emu.scheduler.settle()
    assert [(a.n, a.status, a.response_excerpt) for a in failed.attempts] == [(0, 500, "nope")]
    assert [d.status for d in sent] == ["pending"] * 3  # 3 and 4 wait behind the retry
    assert receiver.connections == [[b'{"n":1}', b'{"n":2}']]

    await emu.scheduler.advance(1.0)  # the echo ladder's first step
    done = [await settled(emu, d) for d in sent]
    assert [[(a.n, a.status) for a in d.attempts] for d in done] == [[(0, 500), (1, 200)], [(0, 200)], [(0, 200)]]
    assert receiver.connections == [[b'{"n":%d}' % n for n in (1, 2, 2, 3, 4)]]
    assert told == [
        ("evt-it-1-1", 0, 200, "delivered"),
        ("evt-it-1-2", 0, 500, "pending"),
        ("evt-it-1-2", 1, 200, "delivered"),
        ("evt-it-1-3", 0, 200, "delivered"),
        ("evt-it-1-4", 0, 200, "delivered"),
    ]
    await emu.scheduler.settle()
    assert nothing_held(emu)


async def test_an_attempt_in_flight_on_a_reused_connection_is_tracked_work_of_its_tenant(
    emu: Emulator, serve: Serve
) -> None:
    """`settle`, `is_busy`, `drain` and the virtual clock's `advance` wait for an attempt whose answer is awaited
    (as for a task of the tenant's), and only for its own tenant."""
    url, receiver, release = await holding_receiver(serve)
    await settled(emu, submit(emu, url, 1))
    receiver.got.clear()
    second = submit(emu, url, 2)
    await asyncio.wait_for(receiver.got.wait(), 10)  # in flight, its answer held

    assert emu.scheduler.is_busy(["a"])
    assert not emu.scheduler.is_busy(["b"])
    settle = asyncio.ensure_future(emu.scheduler.settle(["a"]))
    drain = asyncio.ensure_future(emu.dispatcher.drain(10))
    advance = asyncio.ensure_future(emu.scheduler.advance(0.5, tenants=["a"]))
    await emu.scheduler.settle(["b"])  # another tenant's: nothing to wait for
    await asyncio.sleep(0)  # one turn of the loop: the three are waiting (held: none of them can end)
    assert [settle.done(), drain.done(), advance.done()] == [False, False, False]

    release.set()
    await settle
    assert second.status == "delivered"  # settled before `settle` returned: no wait on the log needed
    assert await drain == 0
    assert (await advance).timers_run == 0
    assert not emu.scheduler.is_busy(["a"])
    assert nothing_held(emu)


async def test_the_answer_to_a_delivery_forgotten_by_a_reset_is_not_told(emu: Emulator, serve: Serve) -> None:
    """A reset while its attempt is in flight: the answer frees what the attempt held, but no attempt entry is told
    for the forgotten delivery, and the key's next delivery goes out on the same connection."""
    url, receiver, release = await holding_receiver(serve)
    told: list[str] = []
    emu.dispatcher.attempt_listeners.append(lambda d, a: told.append(d.event_id))
    await settled(emu, submit(emu, url, 1))
    receiver.got.clear()
    forgotten = submit(emu, url, 2)
    await asyncio.wait_for(receiver.got.wait(), 10)

    emu.reset(SLUG, "a")
    release.set()
    await emu.scheduler.settle()
    assert forgotten.status == "failed"  # (a reset fails what it forgets)
    assert told == ["evt-it-1-1"]
    assert nothing_held(emu)
    after = await settled(emu, submit(emu, url, 3))
    assert [(a.n, a.status) for a in after.attempts] == [(0, 200)]
    assert told == ["evt-it-1-1", "evt-it-1-3"]
    assert receiver.connections == [[b'{"n":1}', b'{"n":2}', b'{"n":3}']]


# -- the log's size under a backlog --------------------------------------------------------------------------


def reference_trim(log: list[tuple[str, bool]], size: int) -> None:
    """The rule `_trim` keeps, looked up afresh every time: the oldest leaves when it is settled, else the first
    settled one among the `TRIM_SKIP_LIMIT` after it, else the oldest anyway."""
    while len(log) > size:
        if not log[0][1]:
            del log[0]
            continue
        behind = next((i for i in range(1, min(len(log), TRIM_SKIP_LIMIT + 1)) if not log[i][1]), None)
        del log[0 if behind is None else behind]


@settings(max_examples=150, deadline=None)
@example(pending=[True] * TRIM_SKIP_LIMIT + [False, True], size=TRIM_SKIP_LIMIT + 1)  # settled just in reach
@example(pending=[True] * TRIM_SKIP_LIMIT + [False, True], size=TRIM_SKIP_LIMIT)  # one too far, then in reach
@example(pending=[True] * 200 + [False] + [True] * 150 + [False] * 3, size=80)
@given(
    pending=st.lists(st.booleans() | st.just(True), min_size=1, max_size=400),
    size=st.integers(min_value=1, max_value=90),
)
def test_the_log_drops_what_the_rule_says_however_deep_the_pending_backlog(pending: list[bool], size: int) -> None:
    """Deliveries whose status does not change while they are in the log (pending ones are stuck, a backlog as
    deep as the log or deeper): after each new one, the log holds what the rule leaves, in order."""
    dispatcher = WebhookDispatcher(Scheduler(VirtualClock()), seed=1, log_size=size)
    model: list[tuple[str, bool]] = []
    for seq, stuck in enumerate(pending, 1):
        d = Delivery(f"dlv_{seq:07d}", seq, SLUG, "a", f"evt-{seq}", "created", "s", "http://x/", b"{}", {}, 0.0, 0.0)
        d.status = "pending" if stuck else "delivered"
        dispatcher._remember(d)
        model.append((d.id, stuck))
        reference_trim(model, size)
        assert [d.id for d in dispatcher.deliveries()] == [i for i, _ in model]
