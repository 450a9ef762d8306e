"""Issue 18 §2-§3 for outbound work: delivery concurrency shared fairly (per tenant, per target), the delivery
log bound holding with pending deliveries, the pending caps, the webhook client reading only the excerpt of an
answer, and bounded event-stream listeners. Receivers are real sockets; waits are on events, not time."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from emulator.core.feed import Entry, Feed, FeedListener, Match, TooManyStreams
from emulator.core.httpclient import KeyedLimit
from emulator.core.runtime import Emulator
from emulator.core.store import Outbound
from emulator.core.webhooks import Delivery, DeliveryFilter
from emulator.pytest_plugin import WebhookSink
from tests.conftest import AppFactory, EmulatorFactory
from tests.support import echo_vendor
from tests.unit.test_webhooks import app_emulator, closed_port_url

SLUG = echo_vendor.SLUG
HANG = {SLUG: {"timeout": 300, "retry_ladder": [3600]}}  # a receiver that never answers is not timed out here


def send(emu: Emulator, url: str, tenant: str, subject: str, n: int = 0) -> Delivery:
    outbound = Outbound(url, {"n": n}, "created", subject, f"evt-{tenant}-{subject}-{n}")
    return emu.dispatcher.submit(SLUG, tenant, outbound)


# -- receivers that misbehave ---------------------------------------------------------------------------------


@dataclass
class Hanging:
    """Accepts connections, reads the requests, never answers."""

    url: str = ""
    open: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open += 1
        self.writers.append(writer)
        self.changed.set()
        await reader.read()  # until the client gives up
        self.open -= 1
        writer.close()

    async def until_open(self, count: int, timeout: float = 30.0) -> None:
        async with asyncio.timeout(timeout):
            while self.open < count:
                self.changed.clear()
                await self.changed.wait()


@pytest.fixture
async def hanging() -> AsyncIterator[Hanging]:
    receiver = Hanging()
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    receiver.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hang"
    yield receiver
    for writer in receiver.writers:
        writer.close()
    server.close()
    await server.wait_closed()


# -- 1. fairness ----------------------------------------------------------------------------------------------


async def test_a_hanging_receiver_costs_only_its_own_tenant(
    make_emulator: EmulatorFactory, webhook_sink: WebhookSink, hanging: Hanging
) -> None:
    emu = await make_emulator(webhooks=HANG)  # the default pool: 512 in flight, 256 per tenant and per target
    noisy = [send(emu, hanging.url, "noisy", f"s{i}") for i in range(600)]  # more than the whole pool
    await hanging.until_open(256)

    quiet = [send(emu, webhook_sink.url_for("/quiet"), "quiet", f"q{i}") for i in range(20)]
    done = await emu.dispatcher.wait(DeliveryFilter(tenant="quiet", status="delivered"), count=20, timeout=20)

    assert len(done) == 20  # delivered while every one of the noisy tenant's requests still hangs
    assert {d.status for d in quiet} == {"delivered"}
    assert all(not d.attempts for d in noisy)
    assert hanging.open == 256  # the noisy tenant holds its share of the pool, no more


async def test_a_hanging_receiver_shared_by_many_tenants_holds_only_its_target_share(
    make_emulator: EmulatorFactory, webhook_sink: WebhookSink, hanging: Hanging
) -> None:
    emu = await make_emulator(webhooks=HANG)
    for t in range(10):  # 10 tenants x 60: each under its tenant share, together more than the pool
        for i in range(60):
            send(emu, hanging.url, f"t{t}", f"s{i}")
    await hanging.until_open(256)

    for i in range(20):
        send(emu, webhook_sink.url_for("/other"), "t0", f"other{i}")  # even one of the hanging tenants gets through
    done = await emu.dispatcher.wait(DeliveryFilter(tenant="t0", status="delivered"), count=20, timeout=20)

    assert len(done) == 20
    assert hanging.open == 256


async def test_the_shares_are_settings(
    make_emulator: EmulatorFactory, webhook_sink: WebhookSink, hanging: Hanging
) -> None:
    emu = await make_emulator(
        webhooks=HANG, webhook_concurrency=8, webhook_concurrency_per_tenant=3, webhook_concurrency_per_target=5
    )
    for t in range(3):
        for i in range(10):
            send(emu, hanging.url, f"t{t}", f"s{i}")
    await hanging.until_open(5)  # three tenants of 3 each, but the target takes 5 at most

    send(emu, webhook_sink.url_for("/other"), "t9", "x")
    (done,) = await emu.dispatcher.wait(DeliveryFilter(tenant="t9", status="delivered"), timeout=20)

    assert done.status == "delivered"
    assert hanging.open == 5


# -- 2. the delivery log bound and the pending caps ------------------------------------------------------------


async def test_the_log_keeps_its_bound_when_every_delivery_is_pending(make_emulator: EmulatorFactory) -> None:
    emu = await make_emulator(delivery_log_size=50, webhooks={SLUG: {"retry_ladder": [3600]}})
    absent = closed_port_url()
    sent = [send(emu, absent, "a", f"s{i}") for i in range(200)]
    await emu.scheduler.settle()

    assert all(len(d.attempts) == 1 and d.status == "pending" for d in sent)  # each failed once, waits an hour
    kept = emu.dispatcher.deliveries()
    assert len(kept) == 50  # not 200: the bound holds with pending deliveries
    assert [d.seq for d in kept] == sorted(d.seq for d in kept)  # in the order they were made
    assert emu.dispatcher.pending_count == 200  # those that left the log are still pending (and in the snapshot)
    assert len(emu.dispatcher.snapshot()["pending"]) == 200


async def test_past_the_tenant_cap_new_deliveries_are_dropped_and_logged(make_app: AppFactory) -> None:
    emu, client = await app_emulator(
        make_app, webhook_pending_per_tenant=5, webhook_pending_limit=8, webhooks={SLUG: {"retry_ladder": [3600]}}
    )
    absent = closed_port_url()
    first = [send(emu, absent, "a", f"s{i}") for i in range(7)]
    await emu.scheduler.settle()

    assert [d.status for d in first] == ["pending"] * 5 + ["failed"] * 2
    dropped = first[5]
    assert [a.error for a in dropped.attempts] == [
        "dropped: 5 deliveries of this tenant are pending (webhook_pending_per_tenant)"
    ]
    assert dropped in emu.dispatcher.deliveries()  # in the log, for the user to see

    others = [send(emu, absent, "b", f"s{i}") for i in range(4)]  # another tenant: room until the global cap
    assert [d.status for d in others] == ["pending"] * 3 + ["failed"]
    assert others[3].attempts[0].error == "dropped: 8 deliveries are already pending (webhook_pending_limit)"

    # the vendor API that fires a webhook still answers as usual; the drop shows in the delivery log
    tenant_a = {"x-echo-tenant": "a"}
    assert (await client.put("/echo/v1/webhook", json={"url": absent}, headers=tenant_a)).status_code == 204
    r = await client.post("/echo/v1/items", json={"text": "x"}, headers=tenant_a)
    assert r.status_code == 201
    await emu.scheduler.settle()
    log = (await client.get("/_emulator/deliveries", params={"tenant": "a"})).json()["deliveries"]
    assert log[-1]["status"] == "failed"
    assert log[-1]["attempts"][0]["error"].startswith("dropped: ")

    emu.dispatcher.reset(tenant="a")  # forgetting a tenant's pending deliveries makes room again
    assert send(emu, absent, "a", "again").status == "pending"


# -- 3. the webhook client reads at most the excerpt -----------------------------------------------------------

HUGE = 300 * 1024 * 1024


@dataclass
class Flooding:
    """Answers 200 with a 300 MB body, written as fast as the client reads it; notes how much got out."""

    framed: bool
    url: str = ""
    sent: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        length = f"Content-Length: {HUGE}\r\n" if self.framed else "Connection: close\r\n"
        writer.write(f"HTTP/1.1 200 OK\r\n{length}\r\n".encode())
        chunk = b"x" * 65536
        try:
            while self.sent < HUGE:
                writer.write(chunk)
                await writer.drain()
                self.sent += len(chunk)
        except ConnectionError:
            pass  # the client hung up: what it must do
        finally:
            writer.close()
            self.done.set()


@pytest.mark.parametrize("framed", [True, False], ids=["content-length", "read-until-close"])
async def test_a_huge_answer_is_not_read_whole(make_emulator: EmulatorFactory, framed: bool) -> None:
    flood = Flooding(framed)
    server = await asyncio.start_server(flood.handle, "127.0.0.1", 0)
    try:
        emu = await make_emulator()
        d = send(emu, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/flood", "a", "s")
        (done,) = await emu.dispatcher.wait(DeliveryFilter(event_id=d.event_id), timeout=30)
        async with asyncio.timeout(30):
            await flood.done.wait()
    finally:
        server.close()
        await server.wait_closed()

    assert done.status == "delivered"
    assert done.attempts[0].response_excerpt == "x" * 512
    assert flood.sent < 32 * 1024 * 1024  # the client closed after the excerpt (what got out filled socket buffers)


# -- 4. event-stream listeners ---------------------------------------------------------------------------------


def event(feed: Feed, n: int, vendor: str = "echo", tenant: str = "a") -> Entry:
    return feed.record("event", "item.created", vendor, tenant, f"it-{n}", "cxemu", 0.0, {"n": n})


async def test_a_listener_that_falls_behind_is_dropped_and_others_carry_on() -> None:
    feed = Feed(100, listener_buffer=10, listener_limit=5)
    stalled, _, _ = feed.listen()
    reading, _, _ = feed.listen()
    other_vendor, _, _ = feed.listen(Match(vendor="cmcom"))  # filtered at append: never fed echo entries
    got: list[bytes] = []
    for n in range(25):
        event(feed, n)
        entry = await reading.next()
        assert entry is not None
        got.append(entry.frame())

    assert stalled.dropped
    assert await stalled.next() is None  # its stream ends
    assert not reading.dropped
    assert not other_vendor.dropped
    assert feed.listener_count == 2
    assert [json.loads(f.split(b"data: ", 1)[1])["data"]["n"] for f in got] == list(range(25))


async def test_an_event_whose_data_is_not_json_is_streamed_with_the_bytes_as_text() -> None:
    feed = Feed(10)
    listener, _, _ = feed.listen()
    feed.record("event", "item.created", "echo", "a", "it-1", "cxemu", 0.0, {"raw": b"bytes\xff"})

    entry = await listener.next()
    assert entry is not None
    assert json.loads(entry.frame().split(b"data: ", 1)[1])["data"] == {"raw": "bytes\ufffd"}


async def test_listeners_are_capped() -> None:
    feed = Feed(10, listener_limit=2)
    first, _, _ = feed.listen()
    feed.listen()
    with pytest.raises(TooManyStreams, match="2 event streams are open"):
        feed.listen()
    feed.unlisten(first)
    assert feed.listen() is not None


async def test_past_the_listener_cap_the_event_stream_answers_503(make_app: AppFactory) -> None:
    emu, client = await app_emulator(make_app)  # the default cap: 64
    held = [emu.feed.listen()[0] for _ in range(64)]  # 64 idle listeners (what 64 open streams hold)

    r = await asyncio.wait_for(client.get("/_emulator/events", params={"limit": 1}), 30)

    assert r.status_code == 503
    assert r.json() == {
        "error": "too_many_listeners",
        "message": "64 event streams are open, the most allowed (event_listeners)",
    }
    for listener in held:
        emu.feed.unlisten(listener)


async def test_a_stream_that_falls_behind_ends_with_a_note(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu, client = await app_emulator(make_app)
    listening = asyncio.Event()
    listen = emu.feed.listen

    def noted(match: Match | None = None, after: int | None = None) -> tuple[FeedListener, list[Entry], int]:
        opened = listen(match, after)
        listening.set()
        return opened

    monkeypatch.setattr(emu.feed, "listen", noted)
    request = asyncio.ensure_future(client.get("/_emulator/events"))
    await asyncio.wait_for(listening.wait(), 10)

    for n in range(1001):  # the reader gets no turn in between: it falls a whole buffer behind
        event(emu.feed, n)
    r = await asyncio.wait_for(request, 30)

    assert r.status_code == 200
    assert r.text == ": cxemu event stream\n\n: dropped: this stream fell too far behind\n\n"
    assert emu.feed.listener_count == 0


async def test_a_keyed_limit_holds_per_key_and_forgets_idle_keys() -> None:
    limit = KeyedLimit(2)
    await limit.acquire("a")
    await limit.acquire("a")
    await limit.acquire("b")  # another key has its own slots
    third = asyncio.ensure_future(limit.acquire("a"))
    await asyncio.sleep(0)
    assert not third.done()  # the key's two slots are taken

    limit.release("a")
    await asyncio.wait_for(third, 5)
    for key in ("a", "a", "b"):
        limit.release(key)

    assert len(limit) == 0  # no gate is kept for a key nobody holds or waits for
