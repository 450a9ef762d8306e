"""The request journal: every inbound vendor request, bounded in size, for the control plane."""

from __future__ import annotations

import itertools
import json
from collections import deque
from dataclasses import dataclass
from typing import Any

BODY_LIMIT = 64 * 1024


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
    status: int
    latency_ms: float

    def to_json(self) -> dict[str, Any]:
        text = self.body[:BODY_LIMIT].decode(errors="replace")
        body: Any = text
        if text:
            try:
                body = json.loads(text)
            except ValueError:
                body = text
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
        """Keep one request (called on every vendor request: positional, no copies, decoding deferred)."""
        self._entries.append(
            JournalEntry(next(self._seq), at, vendor, tenant, method, path, query, headers, body, status, latency_ms)
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
