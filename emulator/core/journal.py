"""The request journal: every inbound vendor request, bounded in count and bytes, for the control plane.

An entry keeps an excerpt of what it was sent: the first `BODY_BYTES` of the body (its whole size is kept
too) and headers up to `HEADER_BYTES` in all (`MAX_HEADERS` of them at most), so `journal_size` entries
hold at most `journal_size * (BODY_BYTES + HEADER_BYTES)` bytes of request data, whatever clients send.
`to_json` shows a whole body that is strict JSON as JSON (`core.web.parse_json`) and anything else as
text (invalid UTF-8 replaced): no entry, however hostile its request, can make a view fail.

`JournalEntry.persist()`/`restored()` carry it across a restart in the state file (`core.durable`): each
entry's fields as JSON, bytes as latin-1 text (lossless for any bytes).
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable, Mapping
from itertools import chain
from typing import Any, NamedTuple

from emulator.core.web import parse_json

BODY_BYTES = 8 * 1024
"""Bytes of a request body an entry keeps."""
HEADER_BYTES = 8 * 1024
"""Bytes of request headers (names and values) an entry keeps."""
MAX_HEADERS = 100
"""Request headers an entry keeps."""


class JournalEntry(NamedTuple):
    """One request as the journal keeps it. A named tuple: recording one (`Journal.record`, every vendor request)
    is `tuple.__new__` in C, where a dataclass's `__init__` is a Python call storing twelve fields."""

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
            "size": self.size,
            "status": self.status,
            "latency_ms": self.latency_ms,
        }

    @classmethod
    def restored(cls, saved: Mapping[str, Any]) -> JournalEntry:
        """An entry back from `persist()` (a missing or mistyped field raises KeyError/TypeError/ValueError)."""
        kw = {name: _from_text(saved[name], _TYPES[name]) for name in cls._fields if name in saved or name != "size"}
        kw.setdefault("size", len(kw["body"]))  # entries saved before the journal kept excerpts were whole
        return cls(**kw)


_TYPES: dict[str, str] = {
    name: str(getattr(kind, "__forward_arg__", kind)) for name, kind in JournalEntry.__annotations__.items()
}
"""Each field's type as text, as declared (`NamedTuple` keeps a text annotation as a `ForwardRef`)."""


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
    ) -> JournalEntry:
        """Keep one request (called on every vendor request: positional, decoding deferred; the body and
        headers are copied only when they are over the excerpt's size); the entry, for the feed. What
        `journal_entry` does, inline (one call less per request)."""
        if len(headers) > MAX_HEADERS or sum(map(len, chain.from_iterable(headers))) > HEADER_BYTES:
            headers = _excerpt(headers)
        entry: JournalEntry = _NEW(
            JournalEntry,
            (next(self._seq), at, vendor, tenant, method, path, query, headers, body[:BODY_BYTES], len(body), status,
             latency_ms),
        )  # fmt: skip
        self._entries.append(entry)
        return entry

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


def journal_entry(
    seq: int,
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
) -> JournalEntry:
    """The excerpt of one request that a journal keeps (and the feed, without a journal: `seq` 0)."""
    if len(headers) > MAX_HEADERS or sum(map(len, chain.from_iterable(headers))) > HEADER_BYTES:
        headers = _excerpt(headers)
    return JournalEntry(
        seq, at, vendor, tenant, method, path, query, headers, body[:BODY_BYTES], len(body), status, latency_ms
    )


_NEW: Any = tuple.__new__
"""Builds a `JournalEntry` from its fields' tuple without the named tuple's Python `__new__`."""


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
