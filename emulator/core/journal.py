"""The request journal: every inbound vendor request, bounded in count and bytes, for the control plane.

An entry keeps an excerpt of what it was sent: the first `BODY_BYTES` of the body (its whole size is kept
too) and headers up to `HEADER_BYTES` in all (`MAX_HEADERS` of them at most), so `journal_size` entries
hold at most `journal_size * (BODY_BYTES + HEADER_BYTES)` bytes of request data, whatever clients send.
`to_json` shows a whole body that is strict JSON as JSON (`core.web.parse_json`) and anything else as
text (invalid UTF-8 replaced): no entry, however hostile its request, can make a view fail.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass
from typing import Any

from emulator.core.web import parse_json

BODY_BYTES = 8 * 1024
"""Bytes of a request body an entry keeps."""
HEADER_BYTES = 8 * 1024
"""Bytes of request headers (names and values) an entry keeps."""
MAX_HEADERS = 100
"""Request headers an entry keeps."""


@dataclass(slots=True)
class JournalEntry:
    seq: int
    at: float
    vendor: str
    tenant: str | None
    method: str
    path: str
    query: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    size: int
    status: int
    latency_ms: float

    def to_json(self) -> dict[str, Any]:
        body: Any = ""
        if self.size and self.size == len(self.body):
            try:
                body = parse_json(self.body)
            except ValueError:
                body = None
        if body is None or self.size > len(self.body):
            body = self.body.decode(errors="replace")
        return {
            "seq": self.seq,
            "at": self.at,
            "vendor": self.vendor,
            "tenant": self.tenant,
            "method": self.method,
            "path": self.path,
            "query": self.query.decode("latin-1"),
            "headers": {k.decode("latin-1"): v.decode("latin-1") for k, v in self.headers},
            "body": body,
            "size": self.size,
            "truncated": self.size > len(self.body),
            "status": self.status,
            "latency_ms": round(self.latency_ms, 3),
        }


class Journal:
    """A ring buffer of `JournalEntry`; recording costs one small object per request."""

    def __init__(self, size: int = 10_000) -> None:
        self._entries: deque[JournalEntry] = deque(maxlen=size)
        self._seq = itertools.count(1)

    def record(
        self,
        at: float,
        vendor: str,
        tenant: str | None,
        method: str,
        path: str,
        query: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        status: int,
        latency_ms: float,
    ) -> None:
        """Keep one request (called on every vendor request: positional, decoding deferred; the body and
        headers are copied only when they are over the excerpt's size)."""
        if len(headers) > MAX_HEADERS or sum(len(k) + len(v) for k, v in headers) > HEADER_BYTES:
            headers = _excerpt(headers)
        excerpt = body[:BODY_BYTES]
        seq = next(self._seq)
        self._entries.append(
            JournalEntry(seq, at, vendor, tenant, method, path, query, headers, excerpt, len(body), status, latency_ms)
        )

    def query(
        self,
        *,
        vendor: str | None = None,
        tenant: str | None = None,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        limit: int = 100,
    ) -> list[JournalEntry]:
        """Newest last; `path` matches as a prefix."""
        hits = [
            e
            for e in self._entries
            if (vendor is None or e.vendor == vendor)
            and (tenant is None or e.tenant == tenant)
            and (method is None or e.method == method.upper())
            and (path is None or e.path.startswith(path))
            and (status is None or e.status == status)
        ]
        return hits[-limit:] if limit else hits

    def reset(self, vendor: str | None = None, tenant: str | None = None) -> None:
        keep = [
            e
            for e in self._entries
            if not ((vendor is None or e.vendor == vendor) and (tenant is None or e.tenant == tenant))
        ]
        self._entries.clear()
        self._entries.extend(keep)

    def __len__(self) -> int:
        return len(self._entries)


def _excerpt(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The first headers that fit in `HEADER_BYTES` (the one that crosses it cut short), `MAX_HEADERS` at most."""
    kept: list[tuple[bytes, bytes]] = []
    room = HEADER_BYTES
    for name, value in headers[:MAX_HEADERS]:
        if room <= len(name):
            break
        kept.append((name, value[: room - len(name)]))
        room -= len(name) + len(value)
    return kept
