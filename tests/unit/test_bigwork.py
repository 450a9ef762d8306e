"""Big control-plane work in slices (core.bigwork): `GET /_emulator/state` streams the snapshot it always did, byte
for byte, without holding the event loop; `POST /_emulator/state` reads and validates a tenant at a time; other
requests are answered meanwhile (the tests assert the order of events, never timings)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.responses import JSONResponse

from emulator.core import bigwork
from emulator.core.bigwork import Slicer, parse_snapshot, snapshot_stream
from emulator.core.redact import redact_snapshot
from emulator.core.runtime import Emulator
from emulator.vendors import VENDORS
from tests.conftest import AppFactory

P8 = "/chat-gateway/v1"
TENANTS = 600


async def fill(emu: Emulator, tenants: int = TENANTS) -> None:
    """Tenants of every vendor, built through the store (fast), plus a few with real history."""
    for n in range(tenants):
        async with emu.store.tenant(VENDORS[n % len(VENDORS)].slug, f"t{n:04d}"):
            pass


async def some_history(client: httpx.AsyncClient) -> None:
    for key in ("acme", "other"):
        made = await client.post(
            f"{P8}/conversations", json={"channelId": "1", "user": {"name": "Zoë"}}, headers={"x-api-key": key}
        )
        assert made.status_code == 202, made.text
    await client.post("/_emulator/tenants", json={"tenant": "prov", "vendors": ["samespace"]})
    await client.post("/_emulator/clock/advance", json={"seconds": 5})


@pytest.fixture
async def app(make_app: AppFactory) -> tuple[Emulator, httpx.AsyncClient]:
    made, client = await make_app(vendor_plugins=VENDORS, max_body_bytes=64 * 1024 * 1024)  # a snapshot of 600 tenants
    emu = made.state.emulator
    await fill(emu)
    await some_history(client)
    return emu, client


async def test_the_streamed_snapshot_is_what_one_json_response_rendered(
    app: tuple[Emulator, httpx.AsyncClient],
) -> None:
    emu, client = app
    streamed = await client.get("/_emulator/state")
    assert streamed.status_code == 200
    assert streamed.headers["content-type"] == "application/json"
    assert streamed.content == JSONResponse(emu.snapshot()).body
    redacted = await client.get("/_emulator/state", params={"secrets": "false"})
    assert redacted.content == JSONResponse(redact_snapshot(emu.snapshot(), emu.plugins)).body
    assert redacted.json()["redacted"] is True


async def test_the_streamed_snapshot_restores(app: tuple[Emulator, httpx.AsyncClient]) -> None:
    emu, client = app
    before = (await client.get("/_emulator/state")).content
    await client.post("/_emulator/reset")
    assert emu.store.tenants() == []
    restored = await client.post("/_emulator/state", content=before)
    assert restored.status_code == 200, restored.text
    assert restored.json() == {"restored": True, "tenants": TENANTS + 3}
    assert (await client.get("/_emulator/state")).content == before
    assert emu.store.provisioned("samespace", "prov")


async def test_a_health_check_is_answered_while_the_snapshot_is_built(app: tuple[Emulator, httpx.AsyncClient]) -> None:
    _, client = app
    order: list[str] = []

    async def get(path: str) -> None:
        resp = await client.get(path)
        assert resp.status_code == 200
        order.append(path)

    snapshot = asyncio.create_task(get("/_emulator/state"))
    await asyncio.sleep(0)  # the snapshot has started
    await get("/_emulator/health")
    await snapshot
    assert order == ["/_emulator/health", "/_emulator/state"]


async def test_a_tenant_that_changes_while_the_snapshot_is_built_is_in_it_as_it_ended(
    app: tuple[Emulator, httpx.AsyncClient],
) -> None:
    """The snapshot is the state of one instant: a tenant written after its slice was taken is taken again."""
    emu, client = app
    underway = asyncio.Event()

    class Noting(Slicer):
        async def tick(self) -> None:
            await super().tick()
            if self.turns >= 2:
                underway.set()

    slicer = Noting(items=16)
    at_the_instant: list[bytes] = []
    frame = emu.snapshot_frame

    def noting_frame(store: Any) -> dict[str, Any]:
        # the stream's instant (its last tenants taken, then its frame, with no await between): the whole snapshot as
        # one response would have rendered it then; later the conversation's deliveries and timers move on
        if store is None and not at_the_instant:
            at_the_instant.append(JSONResponse(emu.snapshot()).body)
        return frame(store)

    emu.snapshot_frame = noting_frame  # type: ignore[method-assign]

    async def collect() -> bytes:
        return b"".join([chunk async for chunk in snapshot_stream(emu, redacted=False, slicer=slicer)])

    task = asyncio.create_task(collect())
    await underway.wait()  # past the first tenants, which include `acme` (8x8 tenants sort first)
    made = await client.post(
        f"{P8}/conversations", json={"channelId": "1", "user": {"name": "U"}}, headers={"x-api-key": "acme"}
    )
    assert made.status_code == 202
    assert not task.done()
    body = await task
    assert body == at_the_instant[0]
    ids = json.loads(body)["store"]["eightbyeight"]["acme"]["state"]["conversations"]
    assert made.json()["conversationId"] in ids


async def test_a_health_check_is_answered_while_a_snapshot_is_restored(
    app: tuple[Emulator, httpx.AsyncClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the restore has done a slice of its work, a health check is answered before the restore ends."""
    _, client = app
    body = (await client.get("/_emulator/state")).content
    order: list[str] = []
    tick = Slicer.tick
    sliced = asyncio.Event()

    async def noted(self: Slicer) -> None:
        order.append("slice")
        sliced.set()
        await tick(self)

    monkeypatch.setattr(Slicer, "tick", noted)

    async def restore() -> None:
        resp = await client.post("/_emulator/state", content=body)
        assert resp.status_code == 200
        order.append("restored")

    task = asyncio.create_task(restore())
    await asyncio.wait([task, asyncio.create_task(sliced.wait())], return_when=asyncio.FIRST_COMPLETED)
    assert (await client.get("/_emulator/health")).status_code == 200
    order.append("health")
    await task
    assert order.index("health") < order.index("restored")
    assert order.index("slice") < order.index("health")


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"", "a JSON body is required"),
        (b'{"version": 1, "store": {"x": {"t": {"state": NaN}}}}', "NaN is not a JSON number"),
        (b'{"version": 1, "store": {"x": {"t": ', "not valid JSON"),
        (b'{"version": 1} extra', "extra data"),
        (b'{"version": 1, "store": {"x": {"t": {"state": "\\ud800"}}}}', "not valid JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[1, 2]", "Input should be a valid dictionary"),
    ],
)
async def test_a_bad_snapshot_body_is_a_400_and_changes_nothing(
    app: tuple[Emulator, httpx.AsyncClient], body: bytes, says: str
) -> None:
    emu, client = app
    before = JSONResponse(emu.snapshot()).body
    resp = await client.post("/_emulator/state", content=body)
    assert resp.status_code == 400, resp.text
    assert says in resp.text
    assert JSONResponse(emu.snapshot()).body == before


async def test_a_tenant_entry_of_the_wrong_shape_is_named(app: tuple[Emulator, httpx.AsyncClient]) -> None:
    _, client = app
    snapshot: dict[str, Any] = (await client.get("/_emulator/state")).json()
    snapshot["store"]["samespace"]["prov"]["counters"] = {"call": "many"}
    resp = await client.post("/_emulator/state", json=snapshot)
    assert resp.status_code == 400
    assert "store.samespace.prov.counters.call" in resp.text


async def test_parse_snapshot_reads_what_json_reads() -> None:
    text = '{"a": [1, {"b": null}], "store": {"v": {"t1": {"x": 1}, "t2": {}}, "w": {}, "odd": 3}, "z": "é"}'
    assert await parse_snapshot(text.encode()) == json.loads(text)
    assert await parse_snapshot(b' {"store": {}} ') == {"store": {}}
    assert await parse_snapshot(b'"just a string"') == "just a string"


# -- the snapshot is one instant's state: a unit of work is wholly in it or wholly out ------------------------------


class Noting(Slicer):
    """Sets `underway` once the snapshot has given the loop `after` turns."""

    def __init__(self, after: int) -> None:
        super().__init__(seconds=3600, items=16)  # a turn every 16 tenants exactly
        self.after, self.underway = after, asyncio.Event()

    async def tick(self) -> None:
        await super().tick()
        if self.turns >= self.after:
            self.underway.set()


async def collect(stream: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in stream])


def first_of(emu: Emulator, vendor: str) -> str:
    return next(tenant for v, tenant in emu.store.tenants() if v == vendor)


async def test_tenants_made_and_reset_while_the_snapshot_is_built_are_in_it_and_out_of_it(
    app: tuple[Emulator, httpx.AsyncClient],
) -> None:
    emu, client = app
    slicer = Noting(after=2)
    task = asyncio.create_task(collect(snapshot_stream(emu, redacted=False, slicer=slicer)))
    await slicer.underway.wait()
    gone = first_of(emu, "samespace")
    assert (await client.post("/_emulator/reset", params={"vendor": "samespace", "tenant": gone})).status_code == 200
    made = await client.post("/_emulator/tenants", json={"tenant": "late", "vendors": ["cmcom"]})
    assert made.status_code == 201, made.text
    assert not task.done()
    body = await task
    assert body == JSONResponse(emu.snapshot()).body
    store = json.loads(body)["store"]
    assert gone not in store["samespace"]
    assert store["cmcom"]["late"]["provisioned"] is True


async def test_a_commit_after_the_snapshots_instant_is_not_in_it(
    app: tuple[Emulator, httpx.AsyncClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the first chunk is out, the snapshot's instant has passed: a conversation made then, in a tenant the
    stream has not written yet, is not in it, nor is anything else the request changed."""
    emu, client = app
    monkeypatch.setattr(bigwork, "CHUNK_BYTES", 1024)
    stream = snapshot_stream(emu, redacted=False, slicer=Slicer(items=16))
    first = await anext(stream)
    instant = JSONResponse(emu.snapshot()).body
    assert b'"acme"' not in first  # the 8x8 tenants come after CM.com's
    made = await client.post(
        f"{P8}/conversations", json={"channelId": "1", "user": {"name": "U"}}, headers={"x-api-key": "acme"}
    )
    assert made.status_code == 202
    body = first + await collect(stream)
    assert body == instant
    conversations = json.loads(body)["store"]["eightbyeight"]["acme"]["state"]["conversations"]
    assert made.json()["conversationId"] not in conversations
    assert body != JSONResponse(emu.snapshot()).body


async def test_a_unit_of_work_in_flight_when_the_snapshot_ends_is_wholly_out(
    app: tuple[Emulator, httpx.AsyncClient],
) -> None:
    """A tenant taken before a unit of work began on it, and the unit still open when the snapshot's instant
    comes: the snapshot has the tenant as it was before the unit, none of what the unit did so far."""
    emu, _ = app
    tenant = first_of(emu, "samespace")
    slot = emu.store.slot("samespace", tenant)
    assert slot is not None
    before = emu.store.entry(slot)
    at = list(emu.store.live()).index(("samespace", tenant))  # the store's order is the order the snapshot takes them
    slicer = Noting(after=at // 16 + 1)  # the tenant is taken
    task = asyncio.create_task(collect(snapshot_stream(emu, redacted=False, slicer=slicer)))
    await slicer.underway.wait()
    async with emu.store.tenant("samespace", tenant) as tx:
        tx.ids.new("probe")
        tx.state.callback_url = "http://half.done/"
        body = await task  # the snapshot does not wait for this unit
    after = emu.store.entry(slot)
    assert after != before
    assert json.loads(body)["store"]["samespace"][tenant] == before


async def test_a_unit_of_work_in_flight_on_a_tenant_not_yet_taken_is_wholly_in(
    app: tuple[Emulator, httpx.AsyncClient],
) -> None:
    """A unit of work open since before the snapshot began: the snapshot waits for it to end and has all it did."""
    emu, client = app
    tenant = first_of(emu, "samespace")
    slicer = Noting(after=len(emu.store.tenants()) // 16)  # the first pass is over
    unit = emu.store.tenant("samespace", tenant)
    tx = await unit.__aenter__()
    try:
        tx.ids.new("probe")
        tx.state.callback_url = "http://half.done/"
        task = asyncio.create_task(collect(snapshot_stream(emu, redacted=False, slicer=slicer)))
        await slicer.underway.wait()
        assert (await client.get("/_emulator/health")).status_code == 200  # the loop turns: the snapshot waits
        assert not task.done()
        tx.state.default_callee = tx.state.default_callee.model_copy(update={"rings": 5})
    finally:
        await unit.__aexit__(None, None, None)
    body = await task
    entry = json.loads(body)["store"]["samespace"][tenant]
    assert entry["state"]["callback_url"] == "http://half.done/"
    assert entry["state"]["default_callee"]["rings"] == 5
    assert body == JSONResponse(emu.snapshot()).body


async def test_a_body_decoded_and_looked_through_in_slices_reads_as_json_reads_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Slices of a few bytes: a character split across two slices decodes whole, an escape split across two is
    still found, and a body ending inside a character is not UTF-8."""
    monkeypatch.setattr(bigwork, "DECODE_BYTES", 7)
    monkeypatch.setattr(bigwork, "SCAN_CHARS", 5)
    text = '{"store": {"v": {"é": {"x": "Zoë ☃ 😀"}, "t": {"y": "a\\u00e9b"}}}, "n": 1}'
    assert await parse_snapshot(text.encode()) == json.loads(text)
    for pad in range(6):  # the lone surrogate's escape at every place relative to the slices
        lone = '{"store": {"v": {"t": {"s": "' + "x" * pad + '\\ud800"}}}}'
        with pytest.raises(ValueError, match="not valid JSON"):
            await parse_snapshot(lone.encode())
    with pytest.raises(ValueError, match="not UTF-8"):
        await parse_snapshot(b'{"store": {"v": "' + b"x" * 10 + b"\xe2\x98")
