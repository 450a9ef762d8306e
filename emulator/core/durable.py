"""The state file (`--state-file`): its format, its atomic write, the periodic saver, and crash recovery.

- File format: the snapshot of `GET /_emulator/state` plus a `durable` section: `running`, the request
  journal, the settled deliveries of the delivery log (pending ones are in the snapshot) and the feed's newest
  id (`core.feed`: its entries are views of the same facts, not kept; its numbering goes on). A file
  without the section (written before it existed) restores as a clean one, with no journal or log.
- `read_state_file(path)`: the file parsed and checked, or a one-line `ConfigError` (the start stops, exit 2).
- `write_json(path, data)`: atomic. A temp file (mode 0600 from its creation) in the same folder is
  written, fsynced and renamed over the file, then the folder is fsynced: a reader sees the old file or
  the new one, never part of one.
- `StateSaver`: saves every `state_save_interval` wall seconds when something changed (also on `--clock
  virtual`: durability is not emulated time), and once more at shutdown; one write at a time. The
  snapshot is taken on the event loop (consistent); the journal and the settled deliveries (records that no
  longer change) are turned into JSON, and everything serialized and written, in a worker thread.

Crash recovery. While the server runs, every save says `running: true`, the first one right after start;
only the final save of a clean shutdown says `running: false`. Restoring a file that still says
`running: true` means the server died after that save (kill -9, power loss) and may have handed out ids,
delivery numbers and webhooks the file does not know. Then (`Emulator` applies `Recovery`):
- the id epoch moves on (`core.ids`): every tenant's ids, new tenants' too, come from a range no earlier
  epoch used, so no id is ever issued twice; a clean restart stays in its epoch and continues byte for byte;
- delivery, journal and feed numbers skip `EPOCH_SPAN` ahead, for the same reason;
- every restored pending delivery gets an attempt of unknown outcome, so it is re-sent as a retry with its
  own event id (at least once), never as a new first attempt. Deliveries the file shows as settled stay
  in the log and are not sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from emulator.core.control_models import Snapshot
from emulator.core.delivery import SnapshotDelivery
from emulator.core.errors import ConfigError
from emulator.core.types import JsonBool, JsonInt
from emulator.core.web import RequestModel, first_error

LOG = logging.getLogger(__name__)

SECTION = "durable"
"""The key of the state file's own section, next to the snapshot's keys."""
UNCERTAIN = "outcome unknown: cxemu stopped without a final save after this delivery was saved; sent again as a retry"
"""The error of the attempt `Recovery` records on every restored pending delivery."""


class DurableSection(RequestModel):
    running: JsonBool = Field(description="true in the saves of a running server; false only after a clean stop")
    journal: list[dict[str, Any]] = Field(default_factory=list, description="the request journal, oldest first")
    log: list[SnapshotDelivery] = Field(default_factory=list, description="settled deliveries of the delivery log")
    feed: JsonInt = Field(0, ge=0, description="the feed's newest id (its entries are not kept: ids go on after it)")


@dataclass(frozen=True)
class StateFileData:
    """A checked state file: the snapshot (as `POST /_emulator/state` takes it) and the durable section."""

    snapshot: dict[str, Any]
    section: DurableSection


def read_state_file(path: Path) -> StateFileData:
    """The file parsed and checked against the snapshot's contract; a one-line `ConfigError` otherwise."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise _unusable(path, f"cannot be read ({exc.strerror or exc})") from None
    try:
        data = json.loads(raw)
    except ValueError as exc:  # also UnicodeDecodeError, RecursionError is not (json limits nesting itself)
        raise _unusable(path, f"not JSON, truncated or corrupt ({exc})") from None
    if not isinstance(data, dict):
        raise _unusable(path, "not a JSON object")
    try:
        section = DurableSection.model_validate(data.pop(SECTION, {"running": False}))
    except ValidationError as exc:
        raise _unusable(path, first_error(exc, SECTION)) from None
    try:
        snapshot = Snapshot.model_validate(data).model_dump()
    except ValidationError as exc:
        raise _unusable(path, first_error(exc)) from None
    return StateFileData(snapshot, section)


def _unusable(path: Path, why: str) -> ConfigError:
    one_line = " ".join(why.split())
    return ConfigError(f"state file {path}: cannot be restored: {one_line} (--state-reset starts empty instead)")


def state_error(path: Path, exc: Exception) -> ConfigError:
    """The one-line error for a file that passed `read_state_file` but whose content cannot be applied."""
    why = first_error(exc) if isinstance(exc, ValidationError) else f"{type(exc).__name__}: {exc}"
    return _unusable(path, why)


def encode(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def write_json(path: Path, data: Any) -> None:
    """Write `data` as JSON, atomically; see the module docstring."""
    write_bytes(path, encode(data))


def write_bytes(path: Path, blob: bytes) -> None:
    """Replace `path` with `blob` atomically: temp file (0600 from creation), fsync, rename, fsync the folder."""
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)  # O_EXCL, mode 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_folder(folder)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        dfd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(dfd)
    finally:
        os.close(dfd)


FileData = Callable[[bool], Callable[[], dict[str, Any]]]
"""`data(running)` takes what the state file holds now, on the event loop (consistent); the function it returns
builds the file's JSON from that in the worker thread."""
Fingerprint = Callable[[], object]
"""Cheap to compute; equal while nothing that is saved has changed."""


class StateSaver:
    """Saves the state file now and then, and once at shutdown; see the module docstring."""

    def __init__(self, path: Path, interval: float, data: FileData, fingerprint: Fingerprint) -> None:
        self.path = path
        self.interval = interval
        self._data = data
        self._fingerprint = fingerprint
        self._saved: object = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.saves = 0
        """Files written so far (tests and logs)."""

    async def save(self, *, running: bool) -> str | None:
        """Write the file now (skipped while running if nothing changed since the last write); what went wrong
        (logged), or None."""
        async with self._lock:
            mark = (running, self._fingerprint())
            if running and mark == self._saved:
                return None
            build = self._data(running)
            try:
                await asyncio.to_thread(lambda: write_json(self.path, build()))
            except OSError as exc:
                error = f"state file {self.path}: cannot save ({exc.strerror or exc})"
                LOG.error("%s", error)
                return error
            self._saved = mark
            self.saves += 1
            return None

    def start(self) -> None:
        """Save every `interval` wall seconds from now on (never with an interval of 0)."""
        if self.interval > 0 and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._every())

    async def _every(self) -> None:
        while True:
            await asyncio.sleep(self.interval)  # loop time: wall seconds, whatever the emulated clock does
            await self.save(running=True)

    async def close(self) -> str | None:
        """Stop the periodic saves (waiting out a write in progress) and write the final, clean file."""
        async with self._lock:
            if self._task is not None:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
                self._task = None
        return await self.save(running=False)
