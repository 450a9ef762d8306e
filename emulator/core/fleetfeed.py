"""One feed for a fleet (`--state redis://`): every worker's feed entries in one Redis stream, with fleet-wide ids.

Each worker keeps its own `core.feed.Feed` (local ids, what its requests, timers and deliveries record), and
mirrors its entries into the capped stream `cxemu:feed`, lazily: only while some reader needs them. A worker keeps
a watermark (`_mark`, the newest local id handed to the mirror). Before a read, every live worker is asked to
mirror what it holds past its watermark (`catch_up`: the entries its local feed still keeps, in order; those
evicted before they were mirrored leave a hole of as many fleet ids, which readers report as a `gap`). A stream
also makes every worker mirror each entry as it is appended (`watch`: `Feed._append` replaced on this instance
only, the memory backend's feed untouched) for the watch's time, which the beat (`core.fleet`) extends while the
key `cxemu:feed:watch` lives; the worker serving the stream renews that key in its beat. Unwatched, appending an
entry costs what it costs one server. Entries handed to the mirror during one turn of the loop go in one script
call, one batch at a time per worker: `INCRBY cxemu:feed:n <batch>` gives the batch its fleet ids and each entry
is `XADD`ed under `<id>-0` (`MAXLEN ~ feed_size`) with its JSON assembled around its id and cause (a cause in the
same batch named by its index, an older one by the fleet id this worker remembers for it), beside the fields the
filters test (kind, vendor, tenant, subject, type). A worker's entries keep their order; a `cause` names an
earlier id of the stream (or null when the worker no longer remembers it).

In a fleet `GET /_emulator/events` reads the stream (`stream`: `XRANGE` for what follows `Last-Event-ID`, then
`XREAD BLOCK` on a connection of its own; a `gap` frame when the id asked for is below the stream's first, or for
a hole in the ids) and `GET /_emulator/journal` pages it (`journal`: `XRANGE`/`XREVRANGE`), so any worker shows
every worker's entries (each read first has every worker mirror what it holds: `core.fleet.Fleet.mirror_feed`).
Display mode (`display`) reads what came since its last look every `interval`, as one server's does.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any, Final, cast

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
WATCH: Final = f"{PREFIX}:feed:watch"
"""Set (with a ttl: `lease_ttl`) while a stream of the fleet's feed is open on some worker, by that worker's beat:
every worker's beat reads its time to live and mirrors its entries as they come until then (`FleetFeed.beat`)."""
BATCH: Final = 500
"""Most entries one script call mirrors."""
CHUNK: Final = 1000
"""Stream entries read per `XRANGE`/`XREVRANGE` while paging with a filter."""
LOOK: Final = 5000
"""Milliseconds an idle stream's `XREAD` blocks before it looks whether the fleet's ids started again (a Redis
wiped while the stream waited: its connection stays, and ids below the stream's point would never reach it)."""
_FIELDS: Final = 8

# KEYS: stream, counter; ARGV: maxlen, n, skip, then per entry: mid, tail, cause, kind, vendor, tenant, subject,
# type. `skip` ids are taken before the entries' and never written: entries of this worker evicted from its local
# feed before they were mirrored (a hole that readers report as a gap).
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
local last = redis.call('INCRBY', KEYS[2], n + tonumber(ARGV[3]))
local base = last - n
for i = 1, n do
  local o = 3 + (i - 1) * 8
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


class _Hole:
    """Fleet ids to take, and leave unwritten, before the next entry handed to the mirror: as many as this worker's
    entries that its local feed evicted before they were mirrored (readers report the hole as a `gap`)."""

    __slots__ = ("count", "mark")

    def __init__(self, count: int, mark: int) -> None:
        self.count = count
        self.mark = mark
        """The watermark before the hole (where a failed send goes back to)."""


class FleetFeed:
    """This worker's mirror of its feed into the fleet's stream, and the readers of that stream."""

    def __init__(self, feed: Feed, url: str) -> None:
        self.feed = feed
        self.url = url
        self.size = feed.size
        self._redis = LeanRedis(url)
        self._pending: list[Entry | _Hole] = []
        self._holes = 0
        """`_Hole`s in `_pending` (none: a batch is a plain slice)."""
        self._due = False
        """A send is scheduled for the end of this turn of the loop."""
        self._inflight: asyncio.Future[Any] | None = None
        """The script call sent and not answered yet (one at a time: its reply gives the fleet ids causes name)."""
        self._fleet_ids: OrderedDict[int, int] = OrderedDict()
        """Local id -> fleet id of the newest mirrored entries (causes name them), at most `size`."""
        self._plain = feed._append
        """The feed's own append: what an entry costs while nobody watches."""
        self._mirrored = self._plain
        """The feed's append that also hands the entry to the mirror (`install`)."""
        self._mark = 0
        """The watermark: the newest local id handed to the mirror (`catch_up` goes on after it)."""
        self._until = 0.0
        """Loop time until which every entry is mirrored as it is appended (`watch`)."""
        self.live = False
        """Entries are mirrored as they are appended (a stream is open somewhere in the fleet)."""
        self.readers = 0
        """Streams of the fleet's feed open on this worker: while there are any, its beat keeps `WATCH` set."""
        self._closed = False

    def install(self) -> None:
        """Make this feed's entries mirrorable (this instance only): nothing is mirrored until `catch_up` or `watch`
        asks for it."""
        append = self._plain
        pending = self._pending

        def mirrored(entry: Entry) -> None:
            append(entry)
            pending.append(entry)
            if not self._due:
                self._due = True
                asyncio.get_running_loop().call_soon(self._send)

        self._mirrored = mirrored

    # -- when to mirror ---------------------------------------------------------------------------

    def catch_up(self) -> int:
        """Hand the mirror what the local feed keeps past the watermark, oldest first (after a hole of the entries it
        evicted before they were mirrored); how many entries. Nothing while live (every entry was handed over)."""
        feed = self.feed
        if self.live or feed.last_id == self._mark or self._closed:
            return 0
        backlog = feed.query(after=self._mark, limit=0)
        lost = feed.lost_after(self._mark)
        if lost:
            self._pending.append(_Hole(lost, self._mark))
            self._holes += 1
        self._pending += backlog
        self._mark = feed.last_id
        if self._pending and not self._due:
            self._due = True
            asyncio.get_running_loop().call_soon(self._send)
        return len(backlog)

    def watch(self, seconds: float) -> None:
        """Mirror what this worker holds now, and every entry as it is appended for at least `seconds` more."""
        until = asyncio.get_running_loop().time() + seconds
        self._until = max(self._until, until)
        if not self.live and not self._closed:
            self.catch_up()
            self.feed._append = self._mirrored  # type: ignore[method-assign]  # the fleet's instance only
            self.live = True

    def unwatch(self, mark: int | None = None) -> None:
        """Stop mirroring entries as they are appended; the watermark is the newest entry handed over (or `mark`)."""
        if self.live:
            self.feed._append = self._plain  # type: ignore[method-assign]
            self.live = False
        self._mark = self.feed.last_id if mark is None else mark

    def beat(self, ttl_ms: int) -> None:
        """What the fleet's beat read of `WATCH` (its time to live in ms, negative when absent): a stream is open
        somewhere, so entries are mirrored as they come until it would lapse; none, and this worker's own watch
        (a stream's fan-out) is over: they are not."""
        if ttl_ms > 0:
            self.watch(ttl_ms / 1000)
        elif self.live and asyncio.get_running_loop().time() >= self._until:
            self.unwatch()

    # -- mirroring --------------------------------------------------------------------------------

    def _send(self) -> None:
        """Send what is pending (at most `BATCH` entries, after the holes before them) in one script call, written
        at once on the connection with its reply taken by a callback (`_sent`): no task, no await per batch. While a
        call is in flight the entries wait for its reply, which sends them (a worker's calls go one at a time)."""
        self._due = False
        if self._inflight is not None or not self._pending:
            return
        skip, batch, mark = self._take()
        try:
            args = self._args(batch, skip)
            call = self._redis.send("EVALSHA", _SCRIPT.sha, 2, STREAM, COUNTER, *args)
            if call is None:  # not connected yet (the first entry, or after a drop): connect, then send
                call = asyncio.ensure_future(self._redis.evalsha(_SCRIPT, [STREAM, COUNTER], args))
        except (RedisError, OSError, ValueError) as exc:  # ValueError: what hiredis cannot pack
            self._failed(batch, mark, exc)
            return
        self._inflight = call
        call.add_done_callback(functools.partial(self._sent, batch, mark, args))

    def _take(self) -> tuple[int, list[Entry], int]:
        """The next batch: the ids to skip before it, its entries, and the watermark before it."""
        pending = self._pending
        if not self._holes:
            batch = cast(list[Entry], pending[:BATCH])
            del pending[:BATCH]
            return 0, batch, batch[0].id - 1
        skip, i, mark = 0, 0, None
        while i < len(pending) and isinstance(hole := pending[i], _Hole):
            skip += hole.count
            mark = hole.mark if mark is None else mark
            i += 1
        self._holes -= i
        j = i
        while j < len(pending) and j - i < BATCH and not isinstance(pending[j], _Hole):
            j += 1
        batch = cast(list[Entry], pending[i:j])
        del pending[:j]
        return skip, batch, mark if mark is not None else batch[0].id - 1

    def _args(self, batch: list[Entry], skip: int) -> list[Any]:
        """The script's ARGV for `batch`: each entry's JSON around its id and cause, and the fields filters test."""
        args: list[Any] = [self.size, len(batch), skip]
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

    def _sent(self, batch: list[Entry], mark: int, args: list[Any] | None, call: asyncio.Future[Any]) -> None:
        """A script call answered: remember the batch's fleet ids, then send what waited meanwhile. A Redis that does
        not know the script (restarted) did not run it: the batch goes again with the script's text (`EVAL`)."""
        self._inflight = None
        exc = None if call.cancelled() else call.exception()
        if call.cancelled():
            self._failed(batch, mark, asyncio.CancelledError())
        elif isinstance(exc, ResponseError) and args is not None and str(exc).startswith("NOSCRIPT"):
            again = self._redis.send("EVAL", _SCRIPT.text, 2, STREAM, COUNTER, *args)
            if again is not None:
                self._inflight = again
                again.add_done_callback(functools.partial(self._sent, batch, mark, None))
                return
            self._failed(batch, mark, exc)
        elif exc is not None:
            self._failed(batch, mark, exc)
        else:
            base = int(call.result()) - len(batch)
            known = self._fleet_ids
            for i, e in enumerate(batch, 1):
                known[e.id] = base + i
            while len(known) > max(self.size, 1):
                known.popitem(last=False)
        if self._pending and not self._due:
            self._send()

    def _failed(self, batch: list[Entry], mark: int, exc: BaseException) -> None:
        """A batch not mirrored (Redis down, or refusing it): requests never wait on the mirror, and the local feed
        keeps the entries. The mirror stops and goes back to the watermark before the batch, so the next catch-up
        (a read, or the beat that sees a stream open) hands them over again, in order, with what followed."""
        LOG.warning(
            "fleet feed: %d entries not mirrored (%s); mirrored at the next catch-up while the local feed keeps them",
            len(batch),
            exc or type(exc).__name__,
        )
        self._pending.clear()
        self._holes = 0
        self.unwatch(mark)

    async def flushed(self, timeout: float = 5.0) -> None:
        """Wait until every entry handed to the mirror so far is mirrored or dropped (`timeout` seconds at most)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._pending or self._inflight is not None:
            if self._inflight is None:
                self._send()
            call = self._inflight
            if call is None or loop.time() >= deadline:
                break
            await asyncio.wait([call], timeout=deadline - loop.time())

    async def mirror(self, watch: float | None = None, timeout: float = 5.0) -> int:
        """This worker's part before a read of the fleet's feed: hand over what it holds past the watermark (and
        with `watch`, mirror every entry as it comes for that many seconds), then wait until it is mirrored. How
        many entries were caught up."""
        caught = self.catch_up()
        if watch is not None:
            self.watch(watch)
        await self.flushed(timeout)
        return caught

    async def close(self) -> None:
        """Mirror what is pending (best effort, 5 s at most), then close the connection. What was never handed
        to the mirror is not (as one server's feed, it goes with the process)."""
        self.unwatch()
        self._closed = True
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
            self.readers += 1  # the beat keeps the fleet mirroring while any is open
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
                    point += lost  # told once: what follows is read from the oldest kept on
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
                    if rows[-1].id - point != len(rows):  # a hole in the ids (trimmed, or never mirrored)
                        out, sent = _with_gaps(rows, point, test, sent, limit)
                        point = rows[-1].id
                        deadline = loop.time() + idle
                        yield out
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
                self.readers -= 1

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
            self.readers += 1
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
                        lost = max(0, rows[-1].id - point - len(rows))  # ids between not kept, or never mirrored
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
                self.readers -= 1

        return frames()


def _all(_: Any) -> bool:
    return True


def _with_gaps(rows: list[Row], point: int, test: Any, sent: int, limit: int | None) -> tuple[bytes, int]:
    """The frames of `rows` read after `point` whose ids have holes: a `gap` frame before each entry whose id does
    not follow the one before (`oldest`: that entry's id), then the entry's frame when `test` wants it (at most
    `limit` in all). The frames and the count sent so far."""
    out: list[bytes] = []
    for r in rows:
        if limit is not None and sent >= limit:
            break
        if r.id > point + 1:
            out.append(_gap(point, r.id - point - 1, r.id))
        point = r.id
        if test(r):
            out.append(r.frame())
            sent += 1
    return b"".join(out), sent


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
