"""The request journal: every inbound vendor request, bounded in size, for the control plane.

`snapshot()`/`restore()` carry it across a restart in the state file (`core.durable`): each entry's fields
as JSON, bytes as latin-1 text (lossless for any bytes).
"""

from __future__ import annotations

import itertools
import json
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, dataclass, fields
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

    def persist(self) -> dict[str, Any]:
        """The entry in the state file: every field, bytes as latin-1 text (`restored` reverses it)."""
        return {
            "seq": self.seq,
            "at": self.at,
            "vendor": self.vendor,
            "tenant": self.tenant,
            "method": self.method,
            "path": self.path,
            "query": self.query.decode("latin-1"),
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in self.headers],
            "body": self.body.decode("latin-1"),
            "status": self.status,
            "latency_ms": self.latency_ms,
        }

    @classmethod
    def restored(cls, saved: Mapping[str, Any]) -> JournalEntry:
        """An entry back from `persist()` (a missing or mistyped field raises KeyError/TypeError/ValueError)."""
        return cls(
            **{
                f.name: _from_text(saved[f.name], str(f.type))
                for f in fields(cls)
                if f.name in saved or f.default is MISSING
            }
        )


def _from_text(value: Any, annotation: str) -> Any:
    if annotation == "bytes":
        return _latin1(value)
    if annotation == "list[tuple[bytes, bytes]]":
        return [(_latin1(k), _latin1(v)) for k, v in value]
    if annotation in ("int", "float", "str", "str | None") and not _is(value, annotation):
        raise TypeError(f"journal entry: {value!r} is not a {annotation}")
    return value


def _latin1(value: Any) -> bytes:
    if not isinstance(value, str):
        raise TypeError(f"journal entry: {value!r} is not text")
    return value.encode("latin-1")


def _is(value: Any, annotation: str) -> bool:
    if annotation == "float":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if annotation == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, str) or (annotation == "str | None" and value is None)


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

    def entries(self) -> list[JournalEntry]:
        """Every entry, oldest first (entries never change once recorded: the state file's saver turns them into
        JSON off the event loop)."""
        return list(self._entries)

    def replace(self, entries: Iterable[JournalEntry]) -> None:
        """Put restored entries in place of all; numbering goes on after the newest."""
        self._entries.clear()
        self._entries.extend(entries)
        self._seq = itertools.count(self.last_seq + 1)

    def skip_seq(self, count: int) -> None:
        """Leave `count` numbers unused (a new id epoch; `core.durable`)."""
        self._seq = itertools.count(next(self._seq) + count)

    @property
    def last_seq(self) -> int:
        """The number of the newest entry kept (0 when there is none)."""
        return self._entries[-1].seq if self._entries else 0
