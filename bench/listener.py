"""`run.py --listener [full|display]`, `icount.py --listen`: what a live event stream costs. One unfiltered
`/_emulator/events` stream per cxemu server, open and read as fast as it comes for the whole run, so the webhook
rows can be compared with and without it: `full` is the lossless stream (every entry, as `cxemu tail` reads it),
`display` the display mode the dashboard's pages use (`DISPLAY`: the newest 100 entries every half second, and a
`skipped` frame for the rest).

Each stream is read in a thread of the harness (on the load generator's CPU, as a browser would be on its own
machine). A stream the server drops for falling behind is reopened where it stopped (`Last-Event-ID`), as the
dashboard's client does; the summary says how many entries each stream got and how often it was dropped.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from harness import HOST, NOT_CXEMU, Proc, log

MODES = {"full": "", "display": "latest=100&interval=0.5", "display-callgrind": "latest=2&interval=0.5"}
"""The query of each kind of stream. `display`: what the dashboard's live journal asks for (live.js).
`display-callgrind`: for `icount.py`, whose server runs some 50-100 times slower under callgrind: at its ten to
thirty requests a second `display` sends every entry, where the dashboard at 3,000 a second sends about one in a
hundred (100 of some 12,000 every half second). Two every half second sends one in ten to thirty there, and as
many writes per second as the dashboard: per request it errs on the costly side, by a factor of ten or more."""


@dataclass
class Stream:
    """One server's stream, read in its own thread until `stop`."""

    name: str
    port: int
    query: str = ""
    frames: int = 0
    skipped: int = 0
    """Entries a display stream said it passed over (its `skipped` frames' counts)."""
    drops: int = 0
    last_id: str | None = None
    error: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _conn: http.client.HTTPConnection | None = None

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self._read_once()
            except (OSError, http.client.HTTPException) as exc:
                if not self._stop.is_set():
                    self.error = f"{type(exc).__name__}: {exc}"
                return

    def _read_once(self) -> None:
        self._conn = http.client.HTTPConnection(HOST, self.port, timeout=None)
        headers = {"Last-Event-ID": self.last_id} if self.last_id else {}
        self._conn.request("GET", "/_emulator/events" + (f"?{self.query}" if self.query else ""), headers=headers)
        response = self._conn.getresponse()
        if response.status != 200:
            raise http.client.HTTPException(f"/_emulator/events answered {response.status}")
        buffer = b""
        while not self._stop.is_set():
            chunk = response.read1(65536)
            if not chunk:
                return  # ended: reopened where it stopped
            buffer += chunk
            *blocks, buffer = buffer.split(b"\n\n")
            for block in blocks:
                if block.startswith(b"id: "):
                    self.frames += 1
                    self.last_id = block[4 : block.index(b"\n")].decode()
                elif block.startswith(b"event: skipped"):
                    self.skipped += json.loads(block.split(b"data: ", 1)[1])["count"]
                elif block.startswith(b": dropped"):
                    self.drops += 1

    def stop(self) -> None:
        self._stop.set()
        if self._conn is not None and self._conn.sock is not None:
            with contextlib.suppress(OSError):
                self._conn.sock.shutdown(2)  # wakes the reading thread


class Listeners:
    """The streams of every cxemu server in `servers` (started at once; `stop` ends them and sums them up)."""

    def __init__(self, servers: dict[str, Proc], mode: str = "full") -> None:
        ports = {name: p.port for name, p in servers.items() if name not in NOT_CXEMU}
        self.streams = [Stream(name, port, MODES[mode]) for name, port in ports.items()]
        self._threads = [threading.Thread(target=s.run, name=f"listener-{s.name}", daemon=True) for s in self.streams]
        for thread in self._threads:
            thread.start()
        log(f"bench: a live /_emulator/events stream ({mode}) on {', '.join(s.name for s in self.streams)}")

    def stop(self) -> dict[str, Any]:
        for stream in self.streams:
            stream.stop()
        for thread in self._threads:
            thread.join(10)
        out = {
            s.name: {"entries": s.frames, "skipped": s.skipped, "drops": s.drops, "error": s.error}
            for s in self.streams
        }
        for name, seen in out.items():
            log(
                f"  listener {name}: {seen['entries']:,} entries ({seen['skipped']:,} passed over), "
                f"dropped {seen['drops']} times, error {seen['error']}"
            )
        return out
