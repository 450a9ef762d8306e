"""Big control-plane work in slices, so the event loop keeps serving every other tenant meanwhile.

A snapshot of 40,000 tenants is ~90 MB of JSON: built in one go it held the loop for seconds (issue 19), and a
health check, or any tenant's request, waited for it. Here every big job works a slice at a time (`Slicer`: at
most `SLICE_SECONDS` of work, or `SLICE_ITEMS` items) and lets the loop run between slices.

- `snapshot_stream(emu, redacted=)`: the body of `GET /_emulator/state`, byte for byte what one
  `JSONResponse(emu.snapshot())` renders, made in three steps: (1) every tenant's state turned into JSON data,
  slice by slice; (2) in one step (no await), every tenant that changed meanwhile (a unit of work, a reset, a
  restore, a new tenant: the store's `Slot.version` and identity say so) taken again, with the jobs,
  deliveries and timelines of that same instant: the snapshot is the state at that instant, as before;
  (3) the JSON written out slice by slice, a tenant at a time.
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
import gc
import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from emulator.core.clock import wall_monotonic
from emulator.core.redact import redact_snapshot
from emulator.core.web import not_json, parse_json

if TYPE_CHECKING:  # the emulator calls these
    from emulator.core.runtime import Emulator
    from emulator.core.store import Slot

SLICE_SECONDS = 0.004
"""Wall seconds of work between two turns of the event loop."""
SLICE_ITEMS = 256
"""Items (tenants) between two turns of the event loop, however fast they go."""
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
    taken: dict[tuple[str, str], tuple[Slot, int, dict[str, Any]]] = {}
    for key in store.tenants():
        slot = store.slot(*key)
        if slot is not None and not slot.lock.locked():  # a unit of work in flight: taken in step 2
            taken[key] = (slot, slot.version, store.entry(slot))
        await slicer.tick()
    entries: dict[tuple[str, str], dict[str, Any]] = {}
    for key in store.tenants():  # step 2: no await from here to the frame
        slot = store.slot(*key)
        assert slot is not None
        before = taken.get(key)
        same = before is not None and before[0] is slot and before[1] == slot.version
        entries[key] = before[2] if same and before is not None else store.entry(slot)
    frame = emu.snapshot_frame(None)
    del taken
    if join is not None:
        join(frame, entries)
    if redacted:
        frame["redacted"] = True
    mask = _masker(emu) if redacted else None
    async for chunk in _chunks(_pieces(frame, entries, mask), slicer):
        yield chunk


def _masker(emu: Emulator) -> Callable[[str, str, dict[str, Any]], dict[str, Any]]:
    def mask(vendor: str, tenant: str, entry: dict[str, Any]) -> dict[str, Any]:
        redact_snapshot({"store": {vendor: {tenant: entry}}}, emu.plugins)
        return entry

    return mask


def _pieces(
    frame: dict[str, Any],
    entries: dict[tuple[str, str], dict[str, Any]],
    mask: Callable[[str, str, dict[str, Any]], dict[str, Any]] | None,
) -> Iterator[str]:
    """The JSON text of the frame with the store's entries in place of its `store`, a tenant per piece."""
    for n, (name, value) in enumerate(frame.items()):
        yield ("{" if n == 0 else ",") + _ENCODE(name) + ":"
        if name != "store":
            yield _ENCODE(value)
            continue
        vendor_now: str | None = None
        for vendor, tenant in list(entries):
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

    def __init__(self, text: str) -> None:
        self.text, self.at = text, 0
        self.escaped = "\\u" in text or not text.isascii()
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


async def parse_snapshot(body: bytes, slicer: Slicer | None = None) -> Any:
    """The snapshot `body` holds, read a tenant at a time, as strictly as `core.web.parse_json` reads a body (a
    `ValueError` saying why not). A body that is JSON but not an object comes back as it is, for the caller's
    validation to refuse."""
    try:
        text = body.decode().removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise ValueError("the body is not valid JSON (not UTF-8 text)") from None
    if not text.lstrip(_SPACE).startswith("{"):
        return parse_json(text)
    try:
        with collector_paused():
            data = await _read(text, slicer or Slicer())
    except RecursionError:
        raise ValueError("the body is not valid JSON (nested too deeply)") from None
    except ValueError as exc:
        raise ValueError(f"the body is not valid JSON ({exc})") from None
    return data


async def _read(text: str, slicer: Slicer) -> dict[str, Any]:
    reader = _Reader(text)
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
