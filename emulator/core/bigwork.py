"""Big control-plane work in slices, so the event loop keeps serving every other tenant meanwhile.

A snapshot of 40,000 tenants is ~90 MB of JSON: built in one go it held the loop for seconds (issue 19), and a
health check, or any tenant's request, waited for it. Here every big job works a slice at a time (`Slicer`: at
most `SLICE_SECONDS` of work, or `SLICE_ITEMS` items) and lets the loop run between slices.

- `snapshot_stream(emu, redacted=)`: the body of `GET /_emulator/state`, byte for byte what one
  `JSONResponse(emu.snapshot())` renders, made in three steps: (1) every tenant's state turned into JSON data,
  slice by slice, then in further sliced rounds the tenants that changed meanwhile (a unit of work ended: the
  store tells the snapshot which slots' `version` moved, `store.watch`; a reset, a restore, a new tenant: the
  slots compared by identity, in C), until few are left; (2) in one step (no await), those few taken, with the
  jobs, deliveries and timelines of that same instant: the snapshot is the state at that instant, as before, and
  this step costs a few milliseconds however many tenants there are; (3) the JSON written out slice by slice, a
  tenant at a time (timelines, jobs and deliveries `SLICE_ITEMS` at a time). A unit of work is wholly in the
  snapshot or wholly out: a tenant whose unit of work is in flight at the instant is there as it was before the
  unit began, and one not taken yet is waited for (its unit ends first; after `MAX_ROUNDS` rounds, a tenant
  still changing is taken as it stands).
- `parse_snapshot(body)`: `POST /_emulator/state`'s JSON read a tenant at a time (`json.JSONDecoder.raw_decode`
  on each tenant's entry), so a big body never sits in one `json.loads`.
- `Emulator.restore_sliced` (`core.runtime`) then validates the tenants slice by slice and swaps the state in
  one step.
- `collector_paused()`: while big work runs, Python's cyclic garbage collector waits. A restore or a snapshot of
  40,000 tenants makes millions of objects, and each full collection walks every live object: on the test
  machine they held the loop for 0.4 to 10 s each (bench/stall.py). The state it leaves is long-lived, so at
  the end the live objects are frozen (`gc.freeze`: later collections skip them; they are still freed when
  nothing refers to them, which is how state goes: the tenants' state holds no reference cycles) and the
  collector starts again.
"""

from __future__ import annotations

import asyncio
import codecs
import gc
import itertools
import json
import operator
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from emulator.core.clock import wall_monotonic
from emulator.core.redact import redact_delivery, redact_snapshot
from emulator.core.store import unwatch, watch
from emulator.core.web import not_json, parse_json

if TYPE_CHECKING:  # the emulator calls these
    from emulator.core.runtime import Emulator
    from emulator.core.store import Slot, Store

SLICE_SECONDS = 0.004
"""Wall seconds of work between two turns of the event loop."""
SLICE_ITEMS = 256
"""Items (tenants) between two turns of the event loop, however fast they go."""
FINAL_ITEMS = SLICE_ITEMS // 8
"""A snapshot takes the tenants that changed meanwhile in slices, round after round, until at most this many are
left; those it takes in one go, with the jobs, deliveries and timelines of that instant."""
MAX_ROUNDS = 32
"""Rounds after the first before the rest is taken in one go however many changed, units of work in flight as they
stand (tenants changing faster than a round takes them)."""
CHUNK_BYTES = 256 * 1024
"""Bytes of snapshot JSON sent at once."""

_ENCODE = json.JSONEncoder(ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode
"""`JSONResponse`'s encoding."""


class Slicer:
    """`await slicer.tick()` after each item: the loop gets a turn once a slice's time or items are used up."""

    def __init__(self, seconds: float = SLICE_SECONDS, items: int = SLICE_ITEMS) -> None:
        self.seconds, self.items = seconds, items
        self._count, self._since = 0, wall_monotonic()
        self.turns = 0
        """Turns given to the loop so far."""

    async def tick(self) -> None:
        self._count += 1
        if self._count >= self.items or wall_monotonic() - self._since >= self.seconds:
            await asyncio.sleep(0)
            self.turns += 1
            self._count, self._since = 0, wall_monotonic()


_PAUSES = [0]
"""Big jobs under way that paused the collector (they may overlap)."""


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector waits while the block runs; the last block to end freezes what is live and
    starts the collector again (see the module docstring)."""
    _PAUSES[0] += 1
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        _PAUSES[0] -= 1
        if _PAUSES[0] == 0 and was:
            gc.freeze()
            gc.enable()


# -- GET /state ---------------------------------------------------------------------------------------------------


Joined = Callable[[dict[str, Any], dict[tuple[str, str], dict[str, Any]]], None]
"""Adds other workers' snapshots to this one's frame and entries, in place (a fleet: `core.fleet_control`)."""


async def snapshot_stream(
    emu: Emulator, *, redacted: bool, slicer: Slicer | None = None, join: Joined | None = None
) -> AsyncIterator[bytes]:
    """The snapshot's JSON, a chunk at a time (see the module docstring); `join` adds the rest of a fleet's."""
    with collector_paused():
        async for chunk in _snapshot(emu, redacted, slicer or Slicer(), join):
            yield chunk


async def _snapshot(emu: Emulator, redacted: bool, slicer: Slicer, join: Joined | None) -> AsyncIterator[bytes]:
    store = emu.store
    with _Taken() as taken:
        for rounds in itertools.count():
            todo = taken.changes(store)
            live = store.live()
            if len(todo) <= FINAL_ITEMS or rounds >= MAX_ROUNDS:
                busy = next((at for at in todo if live[taken.order[at]].lock.locked()), None)
                if busy is None or rounds >= MAX_ROUNDS:
                    # no await from here to the frame: the snapshot is this instant's state
                    for at in todo:
                        taken.take(store, at, live[taken.order[at]])
                    break
                async with live[taken.order[busy]].lock:  # a unit of work in flight: it ends, then look again
                    continue
            if rounds == 0:  # the order the JSON is written in, made now (not at the instant, when the loop waits)
                await asyncio.sleep(0)
                taken.sort()
            took, waiting = 0, None
            for at in todo:
                slot = store.slot(*taken.order[at])
                if slot is not None and not slot.lock.locked():
                    taken.take(store, at, slot)
                    took += 1
                elif slot is not None and waiting is None:  # a unit of work in flight: taken once it ended
                    waiting = slot.lock
                await slicer.tick()
            if not took and waiting is not None:
                async with waiting:
                    pass
        frame = emu.snapshot_frame(None)
        order, keys, entries = taken.order, taken.sorted_keys(), taken.entries
    if keys is None:  # tenants came or went since the first round: sorted again, after a turn of the loop
        await asyncio.sleep(0)
        keys = sorted(order)
    if join is not None:  # a fleet: the other workers' tenants added, all in (vendor, tenant) order
        join(frame, entries)
        keys = list(entries)
    if redacted:
        frame["redacted"] = True
        for d in frame.get("deliveries", {}).get(
            "pending", ()
        ):  # their receiver URLs, and Sangoma's webhook secret in `profile`
            redact_delivery(d, emu.plugins.get(d["vendor"]))
    mask = _masker(emu) if redacted else None
    async for chunk in _chunks(_pieces(frame, keys, entries, mask), slicer):
        yield chunk


class _Taken:
    """The tenants' JSON data taken so far and the slot each was taken from. `changes` says which tenants to take
    (again) without a Python step per tenant (the store's slots compared by identity in C, plus the slots whose
    `version` moved, which the store tells a `watch`er of), so the final check of 40,000 tenants costs a few
    milliseconds of the loop's time."""

    def __init__(self) -> None:
        self.order: list[tuple[str, str]] = []
        """Every tenant, in the store's order, as of the last `changes`."""
        self.slots: list[Slot | None] = []
        """The slot each tenant of `order` was taken from (None: not yet)."""
        self.at: dict[int, int] = {}
        """A taken slot's position in `order`, by the slot's id."""
        self.entries: dict[tuple[str, str], dict[str, Any]] = {}
        self.moved: set[int] = set()
        """Ids of the slots whose `version` moved since the last `changes` (filled by the store)."""
        self._sorted: tuple[list[tuple[str, str]], list[tuple[str, str]]] | None = None

    def __enter__(self) -> _Taken:
        watch(self.moved)
        return self

    def __exit__(self, *exc: object) -> None:
        unwatch(self.moved)

    def changes(self, store: Store) -> list[int]:
        """The positions (in `order`) of the tenants not taken yet or changed since they were taken: a unit of work
        ended on the slot (its version moved), it was reset or restored (another slot), or the tenant is new.
        Tenants gone are dropped."""
        live = store.live()
        order = list(live)
        if order != self.order:  # tenants came or went
            known = len(self.order)
            if order[:known] == self.order:  # only new ones, at the end
                self.slots.extend([None] * (len(order) - known))
            else:
                before = dict(zip(self.order, self.slots, strict=True))
                self.slots = list(map(before.get, order))
                self.at = {id(slot): n for n, slot in enumerate(self.slots) if slot is not None}
                for gone in self.entries.keys() - live.keys():
                    del self.entries[gone]
            self.order = order
        if not self.at:  # nothing taken yet (the first round): every tenant
            self.moved.clear()
            return list(range(len(order)))
        todo = set(itertools.compress(range(len(order)), map(operator.is_not, live.values(), self.slots)))
        moved = list(self.moved)
        self.moved.clear()
        todo.update(at for ident in moved if (at := self.at.get(ident)) is not None)
        return sorted(todo)

    def sort(self) -> None:
        self._sorted = (self.order, sorted(self.order))

    def sorted_keys(self) -> list[tuple[str, str]] | None:
        """`order` sorted, if `sort` saw the same tenants."""
        return self._sorted[1] if self._sorted is not None and self._sorted[0] is self.order else None

    def take(self, store: Store, at: int, slot: Slot) -> None:
        old = self.slots[at]
        if old is not None:
            self.at.pop(id(old), None)
        self.slots[at] = slot
        self.at[id(slot)] = at
        self.entries[self.order[at]] = store.entry(slot)


def _masker(emu: Emulator) -> Callable[[str, str, dict[str, Any]], dict[str, Any]]:
    def mask(vendor: str, tenant: str, entry: dict[str, Any]) -> dict[str, Any]:
        redact_snapshot({"store": {vendor: {tenant: entry}}}, emu.plugins)
        return entry

    return mask


def _pieces(
    frame: dict[str, Any],
    keys: list[tuple[str, str]],
    entries: dict[tuple[str, str], dict[str, Any]],
    mask: Callable[[str, str, dict[str, Any]], dict[str, Any]] | None,
) -> Iterator[str]:
    """The JSON text of the frame with the store's entries in place of its `store`, a tenant per piece."""
    for n, (name, value) in enumerate(frame.items()):
        yield ("{" if n == 0 else ",") + _ENCODE(name) + ":"
        if name != "store":
            yield from _parts(value)
            continue
        vendor_now: str | None = None
        for vendor, tenant in keys:
            entry = entries.pop((vendor, tenant))  # each tenant's JSON data is freed once written, not all at the end
            if mask is not None:
                entry = mask(vendor, tenant, entry)
            if vendor != vendor_now:
                yield ("{" if vendor_now is None else "},") + _ENCODE(vendor) + ":{"
                vendor_now = vendor
                yield _ENCODE(tenant) + ":" + _ENCODE(entry)
            else:
                yield "," + _ENCODE(tenant) + ":" + _ENCODE(entry)
        yield "{}" if vendor_now is None else "}}"
    yield "}"


def _parts(value: Any) -> Iterator[str]:
    """`_ENCODE(value)` in pieces of at most `SLICE_ITEMS` members (a timeline per tenant, a pending job or delivery
    per item: tens of thousands of them are tens of milliseconds of encoding); the small objects that hold them are
    split member by member."""
    if isinstance(value, dict) and 1 < len(value) <= 8:
        for n, (name, member) in enumerate(value.items()):
            yield ("{" if n == 0 else ",") + _ENCODE(name) + ":"
            yield from _parts(member)
        yield "}"
    elif isinstance(value, dict) and len(value) > SLICE_ITEMS:
        items = list(value.items())
        for start in range(0, len(items), SLICE_ITEMS):
            yield ("{" if start == 0 else ",") + _ENCODE(dict(items[start : start + SLICE_ITEMS]))[1:-1]
        yield "}"
    elif isinstance(value, list) and len(value) > SLICE_ITEMS:
        for start in range(0, len(value), SLICE_ITEMS):
            yield ("[" if start == 0 else ",") + _ENCODE(value[start : start + SLICE_ITEMS])[1:-1]
        yield "]"
    else:
        yield _ENCODE(value)


async def _chunks(pieces: Iterator[str], slicer: Slicer) -> AsyncIterator[bytes]:
    buffer: list[str] = []
    size = 0
    for piece in pieces:
        buffer.append(piece)
        size += len(piece)
        if size >= CHUNK_BYTES:
            yield "".join(buffer).encode()
            buffer, size = [], 0
        await slicer.tick()
    if buffer:
        yield "".join(buffer).encode()


# -- POST /state --------------------------------------------------------------------------------------------------


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


_DECODER = json.JSONDecoder(parse_constant=_no_constant)
_SPACE = " \t\n\r"


class _Reader:
    """Walks a JSON text: the top two levels of objects by hand, every value below with `raw_decode`."""

    def __init__(self, text: str, escaped: bool) -> None:
        self.text, self.at = text, 0
        self.escaped = escaped
        """Values are checked for lone surrogates (as `parse_json` does) only when the text could hold one."""

    def skip(self) -> None:
        text, at = self.text, self.at
        while at < len(text) and text[at] in _SPACE:
            at += 1
        self.at = at

    def take(self, char: str) -> bool:
        self.skip()
        if self.text.startswith(char, self.at):
            self.at += 1
            return True
        return False

    def expect(self, char: str) -> None:
        if not self.take(char):
            raise ValueError(f"expected {char!r} at character {self.at}")

    def value(self) -> Any:
        self.skip()
        value, self.at = _DECODER.raw_decode(self.text, self.at)
        problem = not_json(value) if self.escaped else None
        if problem is not None:
            raise ValueError(problem)
        return value

    def members(self) -> Iterator[str]:
        """The keys of the object that starts here (its values are read by the caller before the next key)."""
        self.expect("{")
        if self.take("}"):
            return
        while True:
            key = self.value()
            if not isinstance(key, str):
                raise ValueError(f"expected a key at character {self.at}")
            self.expect(":")
            yield key
            if self.take("}"):
                return
            self.expect(",")


async def read_body(chunks: AsyncIterator[bytes]) -> bytearray:
    """A request's body gathered as it arrives (Starlette's `request.body()` joins its chunks at the end: ~75 ms
    of one go for a 120 MB snapshot)."""
    body = bytearray()
    async for chunk in chunks:
        body += chunk
    return body


async def parse_snapshot(body: bytes | bytearray, slicer: Slicer | None = None) -> Any:
    """The snapshot `body` holds, read a tenant at a time, as strictly as `core.web.parse_json` reads a body (a
    `ValueError` saying why not). A body that is JSON but not an object comes back as it is, for the caller's
    validation to refuse. Decoding it and looking for escapes go a few megabytes per turn of the loop too."""
    try:
        text = (await _decode(body)).removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise ValueError("the body is not valid JSON (not UTF-8 text)") from None
    if not text.lstrip(_SPACE).startswith("{"):
        return parse_json(text)
    try:
        with collector_paused():
            data = await _read(text, await _escaped(text), slicer or Slicer())
    except RecursionError:
        raise ValueError("the body is not valid JSON (nested too deeply)") from None
    except ValueError as exc:
        raise ValueError(f"the body is not valid JSON ({exc})") from None
    return data


DECODE_BYTES = 1 << 20
"""Bytes of a body decoded between two turns of the loop."""
SCAN_CHARS = 4 << 20
"""Characters of a body looked through for escapes between two turns of the loop."""


async def _decode(body: bytes | bytearray) -> str:
    """`body.decode()` (strict UTF-8), a slice per turn of the loop."""
    if len(body) <= DECODE_BYTES:
        return body.decode()
    decoder = codecs.getincrementaldecoder("utf-8")()
    pieces = []
    with memoryview(body) as view:
        for at in range(0, len(body), DECODE_BYTES):
            pieces.append(decoder.decode(view[at : at + DECODE_BYTES], final=at + DECODE_BYTES >= len(body)))
            await asyncio.sleep(0)
    return "".join(pieces)


async def _escaped(text: str) -> bool:
    """Whether the text could hold a lone surrogate (a `\\u` escape, or any non-ASCII character), looked for a slice
    per turn of the loop (one `in` over 120 MB is ~100 ms)."""
    if not text.isascii():
        return True
    for at in range(0, len(text), SCAN_CHARS):
        if text.find("\\u", at, at + SCAN_CHARS + 1) >= 0:  # one character more: an escape across two slices
            return True
        await asyncio.sleep(0)
    return False


async def _read(text: str, escaped: bool, slicer: Slicer) -> dict[str, Any]:
    reader = _Reader(text, escaped)
    out: dict[str, Any] = {}
    for key in reader.members():
        reader.skip()
        if key != "store" or not text.startswith("{", reader.at):
            out[key] = reader.value()
            continue
        store: dict[str, Any] = {}
        for vendor in reader.members():
            reader.skip()
            if not text.startswith("{", reader.at):
                store[vendor] = reader.value()
                continue
            tenants: dict[str, Any] = {}
            for tenant in reader.members():
                tenants[tenant] = reader.value()
                await slicer.tick()
            store[vendor] = tenants
        out[key] = store
    reader.skip()
    if reader.at != len(text):
        raise ValueError(f"extra data at character {reader.at}")
    return out
