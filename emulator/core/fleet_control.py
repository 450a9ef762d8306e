"""The control plane in a fleet of workers (`core.fleet`): which tenant a control request is about, sending it to
the tenant's owner, and fanning fleet-wide requests out to every live worker (answers merged). Imports no Redis
client (the app imports it on every path)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulator.core.bigwork import parse_snapshot
from emulator.core.clock import VirtualClock
from emulator.core.control_models import MAX_WAIT
from emulator.core.errors import ConfigError, EmulatorError
from emulator.core.httpclient import HttpError
from emulator.core.rediskeys import tenant_key
from emulator.core.store import Misrouted
from emulator.core.web import error, q_bool, q_float, q_int

if TYPE_CHECKING:
    from emulator.core.fleet import Fleet

LOG = logging.getLogger(__name__)

FORWARDED = "x-cxemu-forwarded"
"""Header of a request one worker forwards to another: the forwarder's id (it is served, never forwarded again)."""
FORWARDED_BY = "cxemu.forwarded"
"""The scope key holding the forwarder's id once `Forwarded` took the header out (journals never show it)."""
MISROUTED = "x-cxemu-misrouted"
"""Header of the 421 a worker answers a forwarded request for a tenant it does not own."""


class FleetUnavailable(Exception):
    """The tenant's owner could not be found or reached in time (rendered as the vendor's 503)."""


def misrouted(tenant: str) -> Response:
    response = error(421, Misrouted.code, Misrouted(tenant).message)
    response.headers[MISROUTED] = "1"
    return response


def unavailable(message: str) -> Response:
    return error(503, "unavailable", message)


# -- the control plane ----------------------------------------------------------------------------------

FANNED: dict[tuple[str, str], Callable[[dict[str, Any], list[dict[str, Any]]], dict[str, Any]]] = {}
"""Fleet-wide control requests (no tenant) sent to every live worker, and how their answers merge."""


TenantFinder = Callable[[Scope, bytes], Awaitable[str | None]]
FINDERS: list[TenantFinder] = []
"""More ways to tell the tenant of a control request (`control_tenant` knows the core's): the scenario endpoints
register theirs (a scenario file names its tenant; a scenario's id in a fleet carries it)."""


def concat(field: str, key: Callable[[dict[str, Any]], Any] | None = None) -> Any:
    """A merge of fleet-wide answers: the list in `field` of every answer, each item once, sorted by `key`."""

    def merge(mine: dict[str, Any], others: list[dict[str, Any]]) -> dict[str, Any]:
        items = [*mine.get(field, [])]
        seen = {json.dumps(i, sort_keys=True) for i in items}
        for other in others:
            for item in other.get(field, []):
                text = json.dumps(item, sort_keys=True)
                if text not in seen:
                    seen.add(text)
                    items.append(item)
        if key is not None:
            items.sort(key=key)
        return {**mine, field: items}

    return merge


def _steps(mine: dict[str, Any], others: list[dict[str, Any]]) -> dict[str, Any]:
    out = dict(mine)
    out["timers_run"] = mine.get("timers_run", 0) + sum(o.get("timers_run", 0) for o in others)
    lines = dict(mine.get("timelines", {}))
    for other in others:
        lines.update(other.get("timelines", {}))
    out["timelines"] = dict(sorted(lines.items()))
    return out


def _chaos(mine: dict[str, Any], others: list[dict[str, Any]]) -> dict[str, Any]:
    """`GET /chaos` of a fleet: the global faults (every worker holds the same) and each owner's tenants' own."""
    tenants = dict(mine.get("tenants") or {})
    for other in others:
        tenants.update(other.get("tenants") or {})
    return {**mine, "tenants": dict(sorted(tenants.items()))}


def _same(mine: dict[str, Any], others: list[dict[str, Any]]) -> dict[str, Any]:
    """A fleet-wide change every worker answers alike (global chaos): this worker's answer."""
    return mine


FANNED.update(
    {
        ("POST", "/_emulator/reset"): concat("reset", key=lambda r: (r.get("vendor", ""), r.get("tenant", ""))),
        ("POST", "/_emulator/clock/advance"): _steps,
        ("POST", "/_emulator/clock/run-until-idle"): _steps,
        ("GET", "/_emulator/requests"): concat("requests", key=lambda r: r.get("at", 0)),
        ("GET", "/_emulator/deliveries"): concat("deliveries", key=lambda d: d.get("created_at", 0)),
        ("GET", "/_emulator/tenants"): concat("tenants", key=lambda r: (r.get("vendor", ""), r.get("tenant", ""))),
        ("GET", "/_emulator/chaos"): _chaos,
        ("PUT", "/_emulator/chaos"): _same,
    }
)

_LOCAL = (
    "/_emulator/events",
    "/_emulator/journal",
    "/_emulator/ui",
    "/_emulator/sink",
    "/_emulator/health",
    "/_emulator/openapi.json",
)
"""Control paths always served by the worker that gets them (streams, pages, the sink, this worker's health)."""


def control_tenant(scope: Scope, body: bytes) -> str | None:
    """The tenant a control-plane request is about: `?tenant=` (one), `/vendors/<slug>/tenants/<tenant>/...`, or
    the body's `tenant` of `POST /tenants`."""
    path: str = scope["path"]
    rest = path.removeprefix("/_emulator")
    parts = rest.split("/")
    if len(parts) >= 5 and parts[1] == "vendors" and parts[3] == "tenants" and parts[4]:
        return unquote(parts[4])
    if rest == "/tenants" and scope["method"] == "POST":
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return None
        tenant = data.get("tenant") if isinstance(data, dict) else None
        return tenant if isinstance(tenant, str) and tenant else None
    named = [v for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1")) if k == "tenant"]
    return named[0] if len(named) == 1 and named[0] else None


class FleetControl:
    """ASGI middleware of the control plane in a fleet: tenant-scoped requests go to the tenant's owner (claimed
    here when free), fleet-wide ones in `FANNED` are fanned out and merged; the rest are served here."""

    def __init__(self, app: ASGIApp, fleet: Fleet) -> None:
        self.app = app
        self.fleet = fleet

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in FEED_READS and scope.get(FORWARDED_BY) is not None:
            await self._mirror(scope, receive, send)
            return
        if scope["type"] != "http" or scope["path"].startswith(_LOCAL):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        body = await request.body()
        replay = _replay(body, receive)
        tenant = control_tenant(scope, body)
        for find in FINDERS:
            if tenant is not None:
                break
            tenant = await find(scope, body)
        forwarded = scope.get(FORWARDED_BY) is not None
        if tenant is not None:
            try:
                response, here = await self.fleet.serve(request, tenant, _nothing)
            except FleetUnavailable as exc:
                await unavailable(str(exc))(scope, replay, send)
                return
            if here and response is _NOTHING:
                await self.app(scope, replay, send)
            else:
                await response(scope, replay, send)
            return
        if scope["path"] == STATE and scope["method"] in ("GET", "POST"):
            if scope["method"] == "GET" and not forwarded:
                await self._state(request, scope, replay, send)
                return
            if scope["method"] == "POST":
                await (self._reload(body, scope, replay, send) if forwarded else self._restore(scope, replay, send))
                return
        if scope["path"] == RESET and scope["method"] == "POST" and not forwarded:
            await self._reset(request, scope, replay, send)
            return
        merge = FANNED.get((scope["method"], scope["path"]))
        if merge is not None and not forwarded and _waits(scope) and scope["path"] == DELIVERIES:
            await self._wait_deliveries(scope, replay, send)
            return
        if merge is None or forwarded or _waits(scope):
            await self.app(scope, replay, send)
            return
        mine = await _capture(self.app, scope, replay)
        try:
            others = await self.fleet.fan_out(request)
        except FleetUnavailable as exc:
            await unavailable(str(exc))(scope, replay, send)
            return
        await _merged(mine, others, merge)(scope, replay, send)

    async def _mirror(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A read of the fleet's feed forwarded by the worker serving it (`Fleet.mirror_feed`): this worker hands the
        mirror what it holds past its watermark and answers once that is in Redis (`{"mirrored": <entries>}`); for a
        stream (`/events`) it also mirrors each entry as it comes, for the lease ttl (its beat extends that while
        the stream is open)."""
        fleet = self.fleet
        feed = fleet.emu.fleet_feed
        count = 0
        if feed is not None:  # (none with `feed_size` 0: nothing to mirror)
            watch = fleet.ttl if scope["path"] == EVENTS else None
            count = await feed.mirror(watch, max(FEED_ASK, fleet.ttl))
        await JSONResponse({"mirrored": count})(scope, receive, send)

    async def _reset(self, request: Request, scope: Scope, receive: Receive, send: Send) -> None:
        """`POST /_emulator/reset` without a tenant in a fleet: reset here (this worker's tenants and the stored ones
        nobody holds), sent to every other live worker (each resets its own), and then the tenants left behind by
        a worker that did not answer (killed a moment ago: its leases are still held; or cut off) are reset by
        whoever owns them once those leases lapse, this worker taking them over if free (`Fleet.reset_left`: at most
        about two ttls). A tenant whose lease is still renewed by a worker that did not answer cannot be reset: the
        answer is then a 503 naming them (`unreached`) and what was reset (`reset`); a reset may be sent again."""
        mine = await _capture(self.app, scope, receive)
        if mine.status_code != 200:  # bad input: refused as one server refuses it
            await mine(scope, receive, send)
            return
        fleet = self.fleet
        vendor = Request(scope).query_params.get("vendor") or None
        try:
            asked = await fleet.ask_workers(request)
            answered = {fleet.id}
            others: list[dict[str, Any]] = []
            for worker, address, answer in asked:
                if isinstance(answer, BaseException) or answer.status_code != 200:
                    why = answer if isinstance(answer, BaseException) else f"status {answer.status_code}"
                    LOG.warning("fleet: the worker at %s did not answer a fleet-wide reset (%s)", address, why)
                    continue
                answered.add(worker)
                with contextlib.suppress(ValueError):
                    others.append(json.loads(bytes(answer.body)))
            done, missed = await fleet.reset_left(request, vendor, answered)
        except FleetUnavailable as exc:
            await unavailable(str(exc))(scope, receive, send)
            return
        merged = FANNED[("POST", RESET)](json.loads(bytes(mine.body)), [*others, {"reset": done}])
        if missed:
            shown = ", ".join(map(repr, missed[:20])) + (f" and {len(missed) - 20} more" if len(missed) > 20 else "")
            message = (
                f"not reset: tenant(s) {shown}, whose worker did not answer and still holds them; the others were "
                "reset (`reset`); send the reset again"
            )
            body = {"error": "unavailable", "message": message, "reset": merged["reset"], "unreached": missed}
            await JSONResponse(body, status_code=503)(scope, receive, send)
            return
        await JSONResponse(merged)(scope, receive, send)

    async def _state(self, request: Request, scope: Scope, receive: Receive, send: Send) -> None:
        """`GET /_emulator/state` of the fleet: stored tenants nobody owns claimed here first, then every other
        live worker's snapshot (of the tenants it owns), read whole, joined to this worker's as it streams
        (`core.bigwork`); a worker that does not answer makes it a 503 (a snapshot missing its tenants would
        restore as if they never were)."""
        try:
            await self._claim_orphans()
            others = await self.fleet.ask_every_worker(request)
        except FleetUnavailable as exc:
            await unavailable(str(exc))(scope, receive, send)
            return
        parts: list[dict[str, Any]] = []
        for address, answer in others:
            if isinstance(answer, BaseException):
                await unavailable(f"the worker at {address} did not answer ({answer})")(scope, receive, send)
                return
            if 400 <= answer.status_code < 500:  # refused there as it will be here (secrets=true without the token)
                await self.app(scope, receive, send)
                return
            try:
                part = await parse_snapshot(bytes(answer.body)) if answer.status_code == 200 else None
            except ValueError:
                part = None
            if not isinstance(part, dict):
                message = f"the worker at {address} did not give its snapshot (status {answer.status_code})"
                await unavailable(message)(scope, receive, send)
                return
            parts.append(part)
        scope[JOINED] = partial(join_snapshots, parts)
        await self.app(scope, receive, send)

    async def _claim_orphans(self) -> None:
        """Claim every stored tenant nobody holds a lease on (its owner died and nothing came for it since), so
        the snapshot holds it: one pipelined read of the leases, then a claim (and adoption) of each free one. One
        this worker's sweeper is adopting is waited for (before, it was left out of the snapshot)."""
        from redis.exceptions import RedisError  # a fleet runs with the Redis extra; the app imports this module

        fleet, emu = self.fleet, self.fleet.emu
        names = sorted({t for vendor in emu.plugins for t in emu.store.known(vendor)} - set(fleet.owned))
        if not names:
            return
        pipe = fleet.redis().pipeline(transaction=False)
        for tenant in names:
            pipe.get(tenant_key(tenant, "owner"))
        try:
            leases = await pipe.execute()
        except RedisError as exc:
            raise FleetUnavailable(f"the fleet's Redis did not answer ({exc})") from exc
        for tenant, lease in zip(names, leases, strict=True):
            # free, or claimed by this worker and still being adopted (its sweeper took it a moment ago): waited for
            if lease is None or lease.rpartition(":")[0] == fleet.id:
                try:
                    await fleet.claim_free(tenant)
                except ConfigError as exc:
                    raise FleetUnavailable(str(exc)) from exc

    async def _wait_deliveries(self, scope: Scope, receive: Receive, send: Send) -> None:
        """`GET /_emulator/deliveries?wait=` without a tenant in a fleet: the matches of every worker, waited for
        as one server waits (until `count` of them have settled, or exist with `settled=false`, or the wait is
        over). Each round asks every worker what it has now, then waits until any one of them has one more
        (each worker's own long poll, `count` one past what it had); the first to answer ends the round."""
        params = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        loop = asyncio.get_running_loop()
        now = _query(scope, params, wait=None)
        asked = Request(scope)  # read as the endpoint reads it
        try:
            wait = q_float(asked, "wait", 0.0, 0.0, MAX_WAIT)
            count = q_int(asked, "count", 1, 1, 100_000) or 1
            settled = q_bool(asked, "settled", True)
        except ValueError:
            await self.app(scope, receive, send)  # bad input: refused as one server refuses it
            return
        mine = await _capture(self.app, now, receive)
        if mine.status_code != 200:  # bad input in the filters: answered as one server answers it
            await mine(scope, receive, send)
            return
        deadline = loop.time() + wait
        while True:
            try:
                others = await self.fleet.ask_every_worker(Request(now, _replay(b"", _gone)))
            except FleetUnavailable as exc:
                await unavailable(str(exc))(scope, receive, send)
                return
            lists: list[tuple[str | None, list[dict[str, Any]]]] = [(None, _deliveries(mine))]
            for address, answer in others:
                if isinstance(answer, BaseException) or answer.status_code != 200:
                    continue  # a worker gone meanwhile: its tenants are another's soon
                lists.append((address, _deliveries(answer)))
            done = {a: [d for d in ds if not settled or d.get("status") != "pending"] for a, ds in lists}
            found = concat("deliveries", key=lambda d: d.get("created_at", 0))(
                {"deliveries": []}, [{"deliveries": ds} for ds in done.values()]
            )["deliveries"]
            left = deadline - loop.time()
            if len(found) >= count or left <= 0:
                await JSONResponse({"deliveries": found})(scope, receive, send)
                return
            rounds = [
                asyncio.ensure_future(self._one_more(_query(scope, params, wait=left, count=len(ds) + 1), address))
                for address, ds in done.items()
            ]
            try:
                await asyncio.wait(rounds, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in rounds:
                    task.cancel()
                await asyncio.gather(*rounds, return_exceptions=True)
            mine = await _capture(self.app, now, receive)

    async def _one_more(self, scope: Scope, address: str | None) -> None:
        """The long poll `scope` asks for (one more match than the worker had) at the worker at `address` (None:
        this one), until it answers."""
        if address is None:
            await _capture(self.app, scope, _replay(b"", _gone))
        else:
            try:
                await self.fleet.forward(Request(scope, _replay(b"", _gone)), address)
            except HttpError:  # gone: the round ends with another worker's answer (this one's, at the latest)
                await asyncio.get_running_loop().create_future()

    async def _restore(self, scope: Scope, receive: Receive, send: Send) -> None:
        """`POST /_emulator/state` in a fleet: restored here (the state of every tenant in Redis, and their
        runtime: jobs, pending deliveries, timelines); then each tenant it names that another worker owns is
        forgotten here, one that nobody owns is claimed, and every other worker takes the tenants it owns afresh
        from Redis (a worker that cannot be told makes it a 503: Redis holds the snapshot, that worker's
        tenants are read afresh at their next commit, which is refused once with a 409)."""
        answer = await _capture(self.app, scope, receive)
        if answer.status_code != 200:
            await answer(scope, receive, send)
            return
        emu, fleet = self.fleet.emu, self.fleet
        try:
            if emu.runtime is not None:
                await emu.runtime.flush()  # what the restore wrote of the runtime is in Redis before anyone reads it
            named = {t for _, t in emu.store.tenants()} | set(emu.scheduler.tenants())
            for tenant in sorted((named | {d.tenant for d in emu.dispatcher.deliveries()}) - set(fleet.owned)):
                emu.drop(tenant)
                await fleet.claim_free(tenant)
        except (ConfigError, EmulatorError) as exc:
            await unavailable(f"restored in Redis, but this worker could not take its tenants on ({exc})")(
                scope, receive, send
            )
            return
        finally:  # nothing of a tenant it does not hold is written later (a write that failed is not kept)
            for tenant in emu.runtime.held() if emu.runtime is not None else []:
                if tenant in fleet.owned:  # its lease was another's when the restore read it: this worker's is gone
                    fleet.lose(tenant)
                else:
                    emu.drop(tenant)
        clock = emu.clock.now() if emu.clock.virtual else None
        message = json.dumps({RELOAD: True, "now": clock}).encode()
        reload = Request({**scope, "query_string": b""}, _replay(message, _gone))
        try:
            others = await fleet.ask_every_worker(reload)
        except FleetUnavailable as exc:
            others = [("the fleet's Redis", exc)]
        failed = [a for a, r in others if isinstance(r, BaseException) or r.status_code != 200]
        if failed:
            text = f"restored in Redis, but the workers at {', '.join(failed)} did not take their tenants afresh"
            await unavailable(text)(scope, receive, send)
            return
        await answer(scope, receive, send)

    async def _reload(self, body: bytes, scope: Scope, receive: Receive, send: Send) -> None:
        """A forwarded `POST /_emulator/state` from the worker that restored a snapshot: the tenants owned here are
        taken afresh from Redis, and a virtual clock moves on to the restorer's (never back)."""
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            data = None
        if not (isinstance(data, dict) and data.get(RELOAD) is True):
            await self.app(scope, receive, send)  # a snapshot sent on by hand: restored as it says
            return
        emu = self.fleet.emu
        now = data.get("now")
        if isinstance(emu.clock, VirtualClock) and isinstance(now, int | float):
            emu.clock.set(max(emu.clock.now(), float(now)))
        try:
            count = await self.fleet.reload()
        except (ConfigError, EmulatorError) as exc:
            await unavailable(f"could not take its tenants afresh ({exc})")(scope, receive, send)
            return
        await JSONResponse({"reloaded": count})(scope, receive, send)


DELIVERIES = "/_emulator/deliveries"
EVENTS = "/_emulator/events"
FEED_READS = frozenset({"/_emulator/journal", EVENTS})
"""Reads of the fleet's feed: served by the worker that gets them; forwarded (`Fleet.mirror_feed`), a request to
mirror what the receiving worker holds."""
FEED_ASK = 5.0
"""Seconds (at least; the lease ttl when longer) a read of the fleet's feed waits for each worker to mirror what
it holds (`Fleet.mirror_feed`)."""
RESET = "/_emulator/reset"


def _query(scope: Scope, params: list[tuple[str, str]], **values: Any) -> Scope:
    """The scope with query parameters set (`None`: taken out)."""
    kept = [(k, v) for k, v in params if k not in values]
    kept += [(k, str(v)) for k, v in values.items() if v is not None]
    return {**scope, "query_string": urlencode(kept).encode("latin-1")}


def _deliveries(answer: Response) -> list[dict[str, Any]]:
    try:
        data = json.loads(bytes(answer.body))
    except ValueError:
        return []
    found = data.get("deliveries") if isinstance(data, dict) else None
    return [d for d in found if isinstance(d, dict)] if isinstance(found, list) else []


RELOAD = "cxemu.reload"
"""The body of the forwarded `POST /_emulator/state` a restoring worker sends every other worker."""


async def _gone() -> Message:
    return {"type": "http.disconnect"}


STATE = "/_emulator/state"
JOINED = "cxemu.joined"
"""The scope key of `GET /state`'s join of the other workers' snapshots (`core.bigwork.snapshot_stream`)."""


def join_snapshots(
    parts: list[dict[str, Any]], frame: dict[str, Any], entries: dict[tuple[str, str], dict[str, Any]]
) -> None:
    """Other workers' snapshots joined to this one's `frame` and `entries` (in place) as one server's snapshot
    of the same tenants reads: tenants by (vendor, name), timelines by name (the furthest wins: a worker that
    does not own a tenant can only lag behind its owner), jobs by (due, tenant, vendor) keeping each worker's
    order within, pending deliveries by (seq, tenant) (numbers are per tenant with Redis), the clock and
    `next_seq` the largest."""
    timelines: dict[str, float] = dict(frame.get("timelines") or {})
    jobs: list[dict[str, Any]] = list(frame.get("jobs") or [])
    deliveries: dict[str, Any] = dict(frame.get("deliveries") or {})
    pending: list[dict[str, Any]] = list(deliveries.get("pending") or [])
    for part in parts:
        for vendor, tenants in (part.get("store") or {}).items():
            for tenant, entry in tenants.items():
                entries.setdefault((vendor, tenant), entry)
        for tenant, now in (part.get("timelines") or {}).items():
            timelines[tenant] = max(now, timelines.get(tenant, now))
        jobs.extend(part.get("jobs") or [])
        theirs = part.get("deliveries") or {}
        pending.extend(theirs.get("pending") or [])
        if "next_seq" in theirs:
            deliveries["next_seq"] = max(deliveries.get("next_seq", 1), theirs["next_seq"])
        clock, other = frame.get("clock") or {}, part.get("clock") or {}
        if clock.get("mode") == other.get("mode") == "virtual":
            clock["now"] = max(clock["now"], other["now"])
        if part.get("epoch", 0) > frame.get("epoch", 0):
            frame["epoch"] = part["epoch"]
    ordered = sorted(entries.items())
    entries.clear()
    entries.update(ordered)
    frame["timelines"] = dict(sorted(timelines.items()))
    frame["jobs"] = sorted(jobs, key=lambda j: (j["due"], j.get("tenant") or "", j.get("vendor") or ""))
    pending.sort(key=lambda d: (d["seq"], d["tenant"]))
    frame["deliveries"] = {**deliveries, "pending": pending}


_NOTHING = Response(status_code=204)


async def _nothing() -> Response:
    return _NOTHING


def _waits(scope: Scope) -> bool:
    """A long poll (`deliveries?wait=`) without a tenant is answered by the worker that gets it."""
    return any(k == "wait" for k, _ in parse_qsl(scope.get("query_string", b"").decode("latin-1")))


def _replay(body: bytes, receive: Receive) -> Receive:
    """The request's body, read once already, then the connection's own messages: a streamed answer (Starlette
    listens for the client going away while it streams) ends only when the client really goes."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _capture(app: ASGIApp, scope: Scope, receive: Receive) -> Response:
    """Run the app for the request and keep its answer (status, headers, body) as a Response."""
    status = 500
    headers: list[tuple[bytes, bytes]] = []
    chunks: list[bytes] = []

    async def send(message: Message) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status = message["status"]
            headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    body = b"".join(chunks)
    response = Response(body, status_code=status)
    kept = [h for h in headers if h[0].lower() != b"content-length"]
    response.raw_headers = [*kept, (b"content-length", str(len(body)).encode())]
    return response


def _merged(
    mine: Response, others: list[Response], merge: Callable[[dict[str, Any], list[dict[str, Any]]], dict[str, Any]]
) -> Response:
    if not 200 <= mine.status_code < 300:
        return mine
    try:
        data = json.loads(bytes(mine.body))
        rest = [json.loads(bytes(o.body)) for o in others if 200 <= o.status_code < 300]
    except ValueError:
        return mine
    if not isinstance(data, dict):
        return mine
    return JSONResponse(merge(data, [r for r in rest if isinstance(r, dict)]), status_code=mine.status_code)


class Forwarded:
    """ASGI middleware (a fleet only): takes `x-cxemu-forwarded` out of a request's headers into the scope
    (`FORWARDED_BY`), so the owner journals a forwarded request exactly as the client sent it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.name = FORWARDED.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = scope["headers"]
            for i, (name, value) in enumerate(headers):
                if name == self.name:
                    scope = {**scope, "headers": headers[:i] + headers[i + 1 :], FORWARDED_BY: value.decode("latin-1")}
                    break
        await self.app(scope, receive, send)
