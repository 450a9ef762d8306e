"""One feed for a fleet (`--state redis://`): every worker's feed entries in one Redis stream, with fleet-wide ids.

Each worker keeps its own `core.feed.Feed` (local ids, what its requests, timers and deliveries record), and
mirrors every entry it appends into the capped stream `cxemu:feed` (`install` replaces `Feed._append` on the
instance: the memory backend's feed is untouched). Entries appended during one turn of the loop go in one script
call, one batch at a time per worker: `INCRBY cxemu:feed:n <batch>` gives the batch its fleet ids and each entry
is `XADD`ed under `<id>-0` (`MAXLEN ~ feed_size`) with its JSON assembled around its id and cause (a cause in the
same batch named by its index, an older one by the fleet id this worker remembers for it), beside the fields the
filters test (kind, vendor, tenant, subject, type). A worker's entries keep their order; a `cause` names an
earlier id of the stream (or null when the worker no longer remembers it).

In a fleet `GET /_emulator/events` reads the stream (`stream`: `XRANGE` for what follows `Last-Event-ID`, then
`XREAD BLOCK` on a connection of its own; a `gap` frame when the id asked for is below the stream's first) and
`GET /_emulator/journal` pages it (`journal`: `XRANGE`/`XREVRANGE`), so any worker shows every worker's entries.
Display mode (`display`) reads what came since its last look every `interval`, as one server's does.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any, Final

from redis.exceptions import RedisError, ResponseError

from emulator.core.fastjson import dumps as _json
from emulator.core.feed import Entry, Feed, Match, _text
from emulator.core.fleet_control import FleetUnavailable
from emulator.core.rediskeys import PREFIX
from emulator.core.resp import LeanRedis, Script

LOG = logging.getLogger(__name__)

STREAM: Final = f"{PREFIX}:feed"
"""The fleet's feed: a stream, entry ids `<fleet id>-0`, fields `j` (the entry's JSON), `k`, `v`, `t`, `s`, `y`."""
COUNTER: Final = f"{PREFIX}:feed:n"
"""The newest fleet id given."""
BATCH: Final = 500
"""Most entries one script call mirrors."""
CHUNK: Final = 1000
"""Stream entries read per `XRANGE`/`XREVRANGE` while paging with a filter."""
LOOK: Final = 5000
"""Milliseconds an idle stream's `XREAD` blocks before it looks whether the fleet's ids started again (a Redis
wiped while the stream waited: its connection stays, and ids below the stream's point would never reach it)."""
_FIELDS: Final = 8

# KEYS: stream, counter; ARGV: maxlen, n, then per entry: mid, tail, cause, kind, vendor, tenant, subject, type.
# A cause is '' (none), '@<index in the batch, from 1>' or a fleet id; one not below the batch's first id is null
# (the worker remembered it from before a Redis that restarted empty: that id names another entry now). Returns
# the batch's last fleet id. A stream key of another type is an error reply before the counter moves (Redis does
# not undo a script's earlier writes: ids would be taken for entries never written).
_MIRROR = """
local t = redis.call('TYPE', KEYS[1])['ok']
if t ~= 'none' and t ~= 'stream' then
  return redis.error_reply('WRONGTYPE ' .. KEYS[1] .. ' holds a ' .. t .. ', not a stream: nothing written')
end
local n = tonumber(ARGV[2])
local last = redis.call('INCRBY', KEYS[2], n)
local base = last - n
for i = 1, n do
  local o = 2 + (i - 1) * 8
  local id = string.format('%d', base + i)
  local c = ARGV[o + 3]
  local cause = 'null'
  if c ~= '' then
    if string.sub(c, 1, 1) == '@' then
      cause = string.format('%d', base + tonumber(string.sub(c, 2)))
    elseif tonumber(c) <= base then
      cause = c
    end
  end
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], id .. '-0', 'j', '{"id":' .. id .. ARGV[o + 1] .. cause ..
    ARGV[o + 2], 'k', ARGV[o + 4], 'v', ARGV[o + 5], 't', ARGV[o + 6], 's', ARGV[o + 7], 'y', ARGV[o + 8])
end
return last
"""
_SCRIPT: Final = Script(_MIRROR)
_HEAD: Final = ("kind", "type", "vendor", "tenant", "subject", "party", "at")


class Row:
    """A stream entry: its fleet id, JSON and the fields a `Match` tests."""

    __slots__ = ("id", "json", "kind", "subject", "tenant", "type", "vendor")

    def __init__(self, sid: str, fields: list[str]) -> None:
        f = dict(zip(fields[::2], fields[1::2], strict=False))
        self.id = int(sid.partition("-")[0])
        self.json = f.get("j", "{}")
        self.kind = f.get("k", "")
        self.vendor = f.get("v") or None
        self.tenant = f.get("t") or None
        self.subject = f.get("s") or None
        self.type = f.get("y") or None

    def frame(self) -> bytes:
        return f"id: {self.id}\nevent: {self.kind}\ndata: {self.json}\n\n".encode()


def _rows(reply: Any) -> list[Row]:
    return [Row(sid, fields) for sid, fields in reply or ()]


class FleetFeed:
    """This worker's mirror of its feed into the fleet's stream, and the readers of that stream."""

    def __init__(self, feed: Feed, url: str) -> None:
        self.feed = feed
        self.url = url
        self.size = feed.size
        self._redis = LeanRedis(url)
        self._pending: list[Entry] = []
        self._due = False
        """A send is scheduled for the end of this turn of the loop."""
        self._inflight: asyncio.Future[Any] | None = None
        """The script call sent and not answered yet (one at a time: its reply gives the fleet ids causes name)."""
        self._fleet_ids: OrderedDict[int, int] = OrderedDict()
        """Local id -> fleet id of the newest mirrored entries (causes name them), at most `size`."""

    def install(self) -> None:
        """Mirror every entry the feed appends from now on (this instance only)."""
        append = self.feed._append
        pending = self._pending

        def mirrored(entry: Entry) -> None:
            append(entry)
            pending.append(entry)
            if not self._due:
                self._due = True
                asyncio.get_running_loop().call_soon(self._send)

        self.feed._append = mirrored  # type: ignore[method-assign]  # the fleet's instance only

    def _send(self) -> None:
        """Send what is pending (what this turn of the loop appended; at most `BATCH`) in one script call, written
        at once on the connection with its reply taken by a callback (`_sent`): no task, no await per batch. While a
        call is in flight the entries wait for its reply, which sends them (a worker's calls go one at a time)."""
        self._due = False
        if self._inflight is not None or not self._pending:
            return
        batch = self._pending[:BATCH]
        del self._pending[:BATCH]
        try:
            args = self._args(batch)
            call = self._redis.send("EVALSHA", _SCRIPT.sha, 2, STREAM, COUNTER, *args)
            if call is None:  # not connected yet (the first entry, or after a drop): connect, then send
                call = asyncio.ensure_future(self._redis.evalsha(_SCRIPT, [STREAM, COUNTER], args))
        except (RedisError, OSError, ValueError) as exc:  # ValueError: what hiredis cannot pack
            self._failed(batch, exc)
            return
        self._inflight = call
        call.add_done_callback(functools.partial(self._sent, batch, args))

    def _args(self, batch: list[Entry]) -> list[Any]:
        """The script's ARGV for `batch`: each entry's JSON around its id and cause, and the fields filters test."""
        args: list[Any] = [self.size, len(batch)]
        index = {e.id: i for i, e in enumerate(batch, 1)}
        known = self._fleet_ids
        dumps, text = _json, _text
        for e in batch:
            d = e.to_json()
            head = dumps({k: d[k] for k in _HEAD}, text)
            cause = e.cause
            ref = "" if cause is None else f"@{index[cause]}" if cause in index else str(known.get(cause, ""))
            args += (
                b"," + head[1:-1] + b',"cause":',
                b',"data":' + dumps(d["data"], text) + b"}",
                ref,
                e.kind,
                e.vendor or "",
                e.tenant or "",
                e.subject or "",
                e.type or "",
            )
        return args

    def _sent(self, batch: list[Entry], args: list[Any] | None, call: asyncio.Future[Any]) -> None:
        """A script call answered: remember the batch's fleet ids, then send what waited meanwhile. A Redis that does
        not know the script (restarted) did not run it: the batch goes again with the script's text (`EVAL`)."""
        self._inflight = None
        exc = None if call.cancelled() else call.exception()
        if call.cancelled():
            self._failed(batch, asyncio.CancelledError())
        elif isinstance(exc, ResponseError) and args is not None and str(exc).startswith("NOSCRIPT"):
            again = self._redis.send("EVAL", _SCRIPT.text, 2, STREAM, COUNTER, *args)
            if again is not None:
                self._inflight = again
                again.add_done_callback(functools.partial(self._sent, batch, None))
                return
            self._failed(batch, exc)
        elif exc is not None:
            self._failed(batch, exc)
        else:
            base = int(call.result()) - len(batch)
            known = self._fleet_ids
            for i, e in enumerate(batch, 1):
                known[e.id] = base + i
            while len(known) > max(self.size, 1):
                known.popitem(last=False)
        if self._pending and not self._due:
            self._send()

    @staticmethod
    def _failed(batch: list[Entry], exc: BaseException) -> None:
        """A batch not mirrored: the local feed keeps it; requests never wait on the mirror."""
        LOG.warning("fleet feed: %d entries not mirrored (%s)", len(batch), exc or type(exc).__name__)

    async def flushed(self, timeout: float = 5.0) -> None:
        """Wait until every entry appended so far is mirrored or dropped (`timeout` seconds at most)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._pending or self._inflight is not None:
            if self._inflight is None:
                self._send()
            call = self._inflight
            if call is None or loop.time() >= deadline:
                break
            await asyncio.wait([call], timeout=deadline - loop.time())

    async def close(self) -> None:
        """Mirror what is pending (best effort, 5 s at most), then close the connection."""
        await self.flushed()
        self._redis.close()

    # -- reading ----------------------------------------------------------------------------------

    async def bounds(self, redis: LeanRedis) -> tuple[int | None, int | None, int]:
        """The oldest and newest fleet ids kept (None when none), and the newest given. The counter is read first
        (in the same write): an entry mirrored in between is then kept past it, never counted as lost."""
        given, first, last = await redis.pipeline(
            [("GET", COUNTER), ("XRANGE", STREAM, "-", "+", "COUNT", 1), ("XREVRANGE", STREAM, "+", "-", "COUNT", 1)]
        )
        first, last = _rows(first), _rows(last)
        return (first[0].id if first else None), (last[0].id if last else None), int(given or 0)

    @staticmethod
    def lost(after: int, oldest: int | None, given: int) -> int:
        """How many ids after `after` are no longer kept (ids are contiguous: each batch takes a range)."""
        below = (oldest - 1) if oldest is not None else given
        return max(0, below - after)

    async def journal(self, match: Match, after: int | None, before: int | None, limit: int) -> dict[str, Any]:
        """`GET /journal` over the fleet's stream: as `Feed.query`, the entries as JSON text. `FleetUnavailable`
        when Redis does not answer (a 503, never a 500)."""
        try:
            return await self._journal(match, after, before, limit)
        except (RedisError, OSError) as exc:
            raise FleetUnavailable(f"the fleet's feed (Redis) did not answer ({exc})") from exc

    async def _journal(self, match: Match, after: int | None, before: int | None, limit: int) -> dict[str, Any]:
        test = match.compiled() or _all
        redis = self._redis
        out: list[Row] = []
        if after is not None:
            start = f"({after}-0"
            end = f"({before}-0" if before is not None else "+"
            while len(out) < limit:
                rows = _rows(await redis.call("XRANGE", STREAM, start, end, "COUNT", CHUNK))
                out += [r for r in rows if test(r)]  # type: ignore[arg-type]  # a Row has the fields tested
                if len(rows) < CHUNK:
                    break
                start = f"({rows[-1].id}-0"
            out = out[:limit]
        else:
            start = f"({before}-0" if before is not None else "+"
            while len(out) < limit:
                rows = _rows(await redis.call("XREVRANGE", STREAM, start, "-", "COUNT", CHUNK))
                out += [r for r in rows if test(r)]  # type: ignore[arg-type]
                if len(rows) < CHUNK:
                    break
                start = f"({rows[-1].id}-0"
            out = out[:limit]
            out.reverse()
        oldest, newest, _ = await self.bounds(redis)
        return {"entries": out, "oldest": oldest, "newest": newest}

    async def _bounds(self) -> tuple[int | None, int | None, int]:
        """`bounds` on the shared connection, before a stream's answer starts: `FleetUnavailable` (a 503 in the
        control plane's shape) when Redis does not answer."""
        try:
            return await self.bounds(self._redis)
        except (RedisError, OSError) as exc:
            raise FleetUnavailable(f"the fleet's feed (Redis) did not answer ({exc})") from exc

    async def stream(self, match: Match, after: int | None, limit: int | None, idle: float) -> AsyncIterator[bytes]:
        """`GET /events` over the fleet's stream (frames, as one server's): what is kept after `after` (a gap
        frame first when some is no longer kept), then what comes, read on a connection of this stream's own.
        `FleetUnavailable` when Redis does not answer at the start; when it stops answering later, the stream
        ends with an `unavailable` frame (`_unavailable`: the reader resumes after its last id)."""
        test = match.compiled() or _all
        feed = self.feed
        oldest, _, given = await self._bounds()  # the point is set before the answer starts

        async def frames() -> AsyncIterator[bytes]:
            feed.open_display()  # counted against the cap of streams (`event_listeners`)
            redis = LeanRedis(self.url)
            point = given if after is None else after
            try:
                yield b": cxemu event stream\n\n"
                if point > given:  # the fleet's ids started again (its Redis restarted empty): from the new ones
                    yield _restarted(point, oldest)
                    point = 0
                lost = self.lost(point, oldest, given) if after is not None else 0
                if lost:
                    yield _gap(point, lost, oldest)
                sent = 0
                loop = asyncio.get_running_loop()
                deadline = loop.time() + idle
                while limit is None or sent < limit:
                    call = redis.call("XREAD", "COUNT", CHUNK, "BLOCK", LOOK, "STREAMS", STREAM, f"{point}-0")
                    try:
                        reply = await (asyncio.wait_for(call, deadline - loop.time()) if idle else call)
                        if not reply and point and int(await redis.call("GET", COUNTER) or 0) < point:
                            yield _restarted(point, None)  # wiped while this stream waited
                            point = 0
                            continue
                    except TimeoutError:
                        return
                    except (RedisError, OSError) as exc:
                        yield _unavailable(point, exc)
                        return
                    rows = _rows(reply[0][1]) if reply else []
                    if not rows:
                        continue
                    point = rows[-1].id
                    hits = [r for r in rows if test(r)]  # type: ignore[arg-type]
                    if limit is not None:
                        hits = hits[: limit - sent]
                    if hits:
                        sent += len(hits)
                        deadline = loop.time() + idle
                        yield b"".join(r.frame() for r in hits)
            finally:
                redis.close()
                feed.close_display()

        return frames()

    async def display(
        self, match: Match, after: int | None, latest: int, interval: float, limit: int | None, idle: float
    ) -> AsyncIterator[bytes]:
        """`GET /events` in display mode over the fleet's stream: every `interval`, what came since the last
        look (`gap`, one `skipped` frame for the matching entries passed over, the newest `latest`). Redis not
        answering: as `stream`."""
        test = match.compiled() or _all
        feed = self.feed
        oldest, _, given = await self._bounds()

        async def frames() -> AsyncIterator[bytes]:
            feed.open_display()
            redis = LeanRedis(self.url)
            point = given if after is None else after
            try:
                yield b": cxemu event stream (display mode)\n\n"
                out: list[bytes] = []
                if point > given:  # the fleet's ids started again (its Redis restarted empty): from the new ones
                    out.append(_restarted(point, oldest))
                    point = 0
                sent = 0
                quiet = 0.0
                while True:
                    keep = latest if limit is None else min(latest, limit - sent)
                    rows: list[Row] = []
                    start = f"({point}-0"
                    try:
                        while True:
                            chunk = _rows(await redis.call("XRANGE", STREAM, start, "+", "COUNT", CHUNK))
                            rows += chunk
                            if len(chunk) < CHUNK:
                                break
                            start = f"({chunk[-1].id}-0"
                        if not rows and point and int(await redis.call("GET", COUNTER) or 0) < point:
                            out.append(_restarted(point, None))  # wiped since the last look
                            point = 0
                            continue
                    except (RedisError, OSError) as exc:
                        yield _unavailable(point, exc)
                        return
                    if rows:
                        first_kept = rows[0].id
                        lost = max(0, first_kept - 1 - point)
                        if lost:
                            out.append(_gap(point, lost, first_kept))
                        hits = [r for r in rows if test(r)]  # type: ignore[arg-type]
                        shown, passed = hits[-keep:] if keep else [], hits[: max(0, len(hits) - keep)]
                        if passed:
                            skip = {"after": passed[0].id - 1, "before": passed[-1].id + 1, "count": len(passed)}
                            skipped = json.dumps(skip, separators=(",", ":"))
                            out.append(f"event: skipped\ndata: {skipped}\n\n".encode())
                        out += [r.frame() for r in shown]
                        point = rows[-1].id
                        sent += len(shown)
                    if out:
                        quiet = 0.0
                        yield b"".join(out)
                        out = []
                    if (limit is not None and sent >= limit) or (idle and quiet >= idle):
                        return
                    await asyncio.sleep(interval)
                    quiet += interval
            finally:
                redis.close()
                feed.close_display()

        return frames()


def _all(_: Any) -> bool:
    return True


def _unavailable(after: int, exc: BaseException) -> bytes:
    """The last frame of a stream whose Redis stopped answering (no `id:`): `after` is the point it had reached,
    where a reader resumes (`Last-Event-ID`/`after`; the dashboard and `cxemu tail` reconnect by themselves, and get
    a 503 until Redis answers again)."""
    message = f"the fleet's feed (Redis) did not answer ({exc}); resume after {after} once it does"
    body = json.dumps({"after": after, "message": message}, separators=(",", ":"))
    return f"event: unavailable\ndata: {body}\n\n".encode()


def _restarted(after: int, oldest: int | None) -> bytes:
    """The `gap` frame of a stream whose point is past every id the fleet's feed has given: its Redis restarted
    empty (or was wiped), so ids started again. `lost` is unknown (null); `restarted` says the stream goes on from
    the new ids, the first kept one next (a reader that skips ids at or below its last must start afresh)."""
    gap = json.dumps({"after": after, "lost": None, "oldest": oldest, "restarted": True}, separators=(",", ":"))
    return f"event: gap\ndata: {gap}\n\n".encode()


def _gap(after: int, lost: int, oldest: int | None) -> bytes:
    gap = json.dumps({"after": after, "lost": lost, "oldest": oldest}, separators=(",", ":"))
    return f"event: gap\ndata: {gap}\n\n".encode()
