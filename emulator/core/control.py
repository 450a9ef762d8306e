"""The control plane at `/_emulator`: see, wait for, steer and reset everything the emulator did.

| method and path | what it does |
|---|---|
| `GET /health` | liveness, version, vendors, clock mode |
| `POST /reset?vendor=&tenant=` | drop state, timers, deliveries, journal (and `reset_hooks`: the sink) |
| `GET /state`, `POST /state` | snapshot as JSON (secrets redacted [1]); restore one (not a redacted one) |
| `GET /clock`, `POST /clock/advance`, `POST /clock/run-until-idle` | read, move the clock; `tenant=`: a tenant's own |
| `GET /requests` | the inbound request journal (filters: vendor, tenant, method, path prefix, status, limit) [1] |
| `GET /deliveries` | delivery log (filters: vendor, tenant, event, subject, status, event_id; long-poll `wait`) |
| `GET /deliveries/{id}`, `POST .../redeliver` | one delivery; send it again (re-signed, as it was, elsewhere) |
| `GET /deliveries/{id}/signature` | how a receiver verifies it, and cxemu's own check of its last sent attempt |
| `GET /chaos`, `PUT /chaos`, `DELETE /chaos?tenant=` | seeded delivery faults: global, a tenant's own with expiry |
| `GET /tenants`, `POST /tenants` | list tenants; provision one in every vendor and get its credentials |
| `GET /journal` | the feed (`core.feed`): requests, control calls, events, deliveries, attempts, timers, actions |
| `GET /events` | the feed as server-sent events, with ids: resume, gap, heartbeat, filters; display mode for pages |
| `/scenarios`, `/scenarios/{id}` | scenario files loaded into the server: in `emulator.scenarios.control` |
| `GET /openapi.json`, `GET /contracts/{slug}` | this contract; a vendor's contract |
| `PUT /vendors/{slug}/tenants/{tenant}/behaviour` | a vendor's behaviour knobs (plugins declaring `behaviour`) |
| `/vendors/{slug}/...` | each vendor's act-by-hand routes (agents, customers, callees): its `control` `Api` |

[1] with an admin token set, credentials are redacted (`core.redact`) unless the admin asks (`secrets=true`).

Each operation is declared once on `API` (`core.api`), next to its handler: the routes and the contract
(`app.control_contract`, with the scenario operations and each built-in vendor's `vendor_api`) come from the same
declarations. With an admin token (`--admin-token`), `core.guard` decides who may call each route before it runs
(`guard.POLICY`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Literal
from urllib.parse import parse_qsl

from pydantic import ValidationError
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulator import __version__
from emulator.core.api import Api
from emulator.core.bigwork import Slicer, collector_paused, parse_snapshot, read_body, snapshot_stream
from emulator.core.chaos import ChaosConfig, TenantChaos
from emulator.core.clock import IdleResult, SchedulerRunaway, Timer, iso
from emulator.core.contracts import Body, Param, Reply
from emulator.core.control_models import (
    MAX_ID,
    MAX_TIMERS,
    MAX_WAIT,
    AdvanceIn,
    ChaosOut,
    ClockOut,
    ClockStepOut,
    HealthOut,
    IdleIn,
    JournalPageOut,
    RedeliverIn,
    RequestsOut,
    ResetOut,
    RestoredOut,
    Snapshot,
    SnapshotOut,
    SnapshotSlot,
    TenantChaosIn,
    TenantChaosOut,
    TenantIn,
    TenantOut,
    TenantRef,
    TenantsOut,
    TimerOut,
    VendorOut,
)
from emulator.core.delivery import DeliveriesOut, Delivery, DeliveryOut
from emulator.core.errors import EmulatorError
from emulator.core.feed import KINDS_PATTERN, Match, TooManyStreams, parse_kinds, restarted_gap
from emulator.core.fleet_control import JOINED, FleetUnavailable
from emulator.core.guard import caller
from emulator.core.journal import BODY_BYTES
from emulator.core.plugin import TENANT_PATH, VendorPlugin, control_api, merge_behaviour, tenant_noun
from emulator.core.redact import is_redacted, redact_delivery, redact_entry, redact_url
from emulator.core.runtime import Emulator
from emulator.core.signatures import SignatureOut
from emulator.core.sink import PREFIX as SINK_PREFIX
from emulator.core.web import (
    ErrorOut,
    error,
    guarded,
    json_body,
    json_object,
    parse_json,
    q_bool,
    q_float,
    q_int,
    reply,
)
from emulator.core.webhooks import DeliveryFilter, NothingSent

# -- the operations ---------------------------------------------------------------------------------------

API: Api[Emulator] = Api(
    "cxemu control plane",
    __version__,
    "See, wait for, steer and reset what the emulator did. Served under /_emulator.",
    mount="/_emulator",
    tags=["control"],
    wrap=guarded,
)
ERR = {
    400: Reply("bad input", ErrorOut),
    404: Reply("not found", ErrorOut),
    409: Reply("not possible in this mode", ErrorOut),
}
DELIVERY_ID = Param("delivery_id", "path", required=True, description="a delivery id from the log")
VENDOR = Param("vendor", "query", description="vendor slug")
TENANT = Param("tenant", "query", description="tenant id")


MAX_TENANT = 256
"""Longest tenant name the clock endpoints take."""


def q(name: str, description: str, schema: dict[str, Any] | None = None) -> Param:
    """A query parameter for the contract (a string unless `schema` says otherwise)."""
    return Param(name, "query", schema or {"type": "string"}, description=description)


def _mode(emu: Emulator) -> Literal["system", "virtual"]:
    return "virtual" if emu.clock.virtual else "system"


@API.op("GET", "/health", "health", "Liveness and what is served", {200: Reply("ok", HealthOut)})
async def health(emu: Emulator, request: Request) -> Response:
    """Liveness, version, the vendors served and the clock mode."""
    vendors = [VendorOut(slug=p.slug, title=p.title, base_paths=list(p.base_paths)) for p in emu.plugins.values()]
    return reply(HealthOut(status="ok", version=__version__, clock=_mode(emu), now=emu.clock.now(), vendors=vendors))


@API.op(
    "POST",
    "/reset",
    "reset",
    "Reset tenants (all when no filter)",
    {
        200: Reply("what was reset", ResetOut),
        404: ERR[404],
        503: Reply(
            "a fleet: some tenants' worker did not answer and still holds them (`unreached`); the rest was reset "
            "(`reset`)",
            ErrorOut,
        ),
    },
    params=[VENDOR, TENANT],
)
async def reset(emu: Emulator, request: Request) -> Response:
    """Query `vendor`, `tenant` (both optional): reset the matching tenants, or everything."""
    vendor = request.query_params.get("vendor") or None
    tenant = request.query_params.get("tenant") or None
    if vendor is not None and vendor not in emu.plugins:
        return error(404, "unknown_vendor", f"no vendor {vendor!r}")
    dropped = emu.reset(vendor, tenant)
    return reply(ResetOut(reset=[TenantRef(vendor=v, tenant=t) for v, t in dropped]))


SECRETS = q(
    "secrets",
    "show credentials (default: shown when no admin token is set, redacted when one is; `true` is the admin's)",
    {"type": "boolean"},
)


def _secrets(emu: Emulator, request: Request) -> bool | Response:
    """Whether a view shows secrets (`secrets=`, default: only when no admin token is set), or the 403 for a
    tenant credential asking for them."""
    shown = q_bool(request, "secrets", emu.settings.admin_token is None)
    if shown and not caller(request).admin:
        return error(403, "forbidden", "secrets=true needs the admin token")
    return shown


@API.op(
    "GET",
    "/state",
    "getState",
    "Snapshot of all state",
    {200: Reply("snapshot", SnapshotOut), 400: ERR[400], 403: Reply("secrets=true without the admin token", ErrorOut)},
    params=[SECRETS],
)
async def get_state(emu: Emulator, request: Request) -> Response:
    """The whole state (tenants, id counters, pending jobs and deliveries) as a JSON snapshot (a dict: no
    second validation of every tenant's state on the way out). Query `secrets`: redacted, each vendor's
    declared secrets are `[redacted]` and the snapshot says `"redacted": true` (`POST /state` refuses it)."""
    shown = _secrets(emu, request)
    if isinstance(shown, Response):
        return shown
    join = request.scope.get(JOINED)  # a fleet: the other workers' snapshots (`core.fleet_control`)
    return StreamingResponse(snapshot_stream(emu, redacted=not shown, join=join), media_type="application/json")


@API.op(
    "POST",
    "/state",
    "restoreState",
    "Restore a snapshot",
    {200: Reply("restored", RestoredOut), 400: ERR[400]},
    body=Body(Snapshot),
)
async def put_state(emu: Emulator, request: Request) -> Response:
    """Body: a snapshot from `GET /state` (with its secrets: a redacted one is refused). Replaces the whole
    state."""
    body = await read_body(request.stream())
    if not body or body.isspace():
        raise ValueError("a JSON body is required")
    with collector_paused():  # the whole of it: reading, checking and validating make millions of objects
        raw = await parse_snapshot(body)
        if (isinstance(raw, dict) and raw.get("redacted") is True) or await _redacted(emu, raw):
            return error(
                400,
                "redacted_snapshot",
                "this snapshot's secrets were redacted, so it cannot be restored as it was taken; "
                "take it with GET /_emulator/state?secrets=true (the admin token's)",
            )
        data = await _snapshot(raw)
        try:
            await emu.restore_sliced(data)
        except (KeyError, TypeError, ValidationError) as exc:
            return error(400, "invalid_snapshot", f"the snapshot cannot be restored: {exc}")
    return reply(RestoredOut(restored=True, tenants=len(emu.store.live())))  # (`tenants()` sorts them)


async def _redacted(emu: Emulator, raw: Any) -> bool:
    """`is_redacted`, a tenant at a time."""
    store = raw.get("store") if isinstance(raw, dict) else None
    if not isinstance(store, dict):
        return False
    slicer = Slicer()
    for vendor, tenants in store.items():
        for tenant, entry in tenants.items() if isinstance(tenants, dict) else ():
            if is_redacted({"store": {vendor: {tenant: entry}}}, emu.plugins):
                return True
            await slicer.tick()
    return False


async def _snapshot(raw: Any) -> dict[str, Any]:
    """`Snapshot.model_validate(raw).model_dump()`, a tenant at a time (`core.bigwork`); a problem is raised as
    the whole model's validation raises it."""
    store = raw.get("store") if isinstance(raw, dict) else None
    if not isinstance(store, dict) or not all(isinstance(t, dict) for t in store.values()):
        return Snapshot.model_validate(raw).model_dump()
    data = Snapshot.model_validate({**raw, "store": {}}).model_dump()
    slicer = Slicer()
    checked: dict[str, dict[str, Any]] = {}
    for vendor, tenants in store.items():
        checked[vendor] = {}
        for tenant, entry in tenants.items():
            try:
                checked[vendor][tenant] = SnapshotSlot.model_validate(entry).model_dump()
            except ValidationError:
                return Snapshot.model_validate(raw).model_dump()  # raises, naming where
            await slicer.tick()
    data["store"] = checked
    return data


ONE_TENANT = Param(
    "tenant",
    "query",
    {"type": "string", "minLength": 1, "maxLength": MAX_TENANT},
    description="a tenant: its own timeline (a tenant not seen yet is at the virtual start)",
)
TENANTS = Param(
    "tenant",
    "query",
    {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": MAX_TENANT}, "maxItems": 1000},
    description="move only these tenants' timelines: repeat the parameter for several (`?tenant=a&tenant=b`); "
    "without it every timeline moves",
)


def _tenants(request: Request) -> list[str] | None:
    """The repeated `tenant` query parameter (None when absent); an empty or too long name is bad input."""
    names = request.query_params.getlist("tenant")
    if not names:
        return None
    if len(names) > 1000:
        raise ValueError("tenant: at most 1000")
    for name in names:
        if not 0 < len(name) <= MAX_TENANT:
            raise ValueError(f"tenant: 1 to {MAX_TENANT} characters")
    return names


@API.op(
    "GET", "/clock", "getClock", "Read the clock", {200: Reply("clock", ClockOut), 400: ERR[400]}, params=[ONE_TENANT]
)
async def get_clock(emu: Emulator, request: Request) -> Response:
    """The clock's mode; with `tenant` that tenant's time and pending timers (what each will do), without it
    the shared timeline's time and the totals of every timeline."""
    names = _tenants(request)
    if names is not None and len(names) > 1:
        raise ValueError("tenant: one tenant per read")
    sched = emu.scheduler
    tenant = names[0] if names else None
    scope = names if names else None
    now = sched.now(tenant)
    timers = [_timer(t) for t in sched.pending(names)[:MAX_TIMERS]] if names else []
    return reply(
        ClockOut(
            mode=_mode(emu),
            tenant=tenant,
            now=now,
            iso=iso(now, millis=True),
            pending_timers=sched.pending_count(scope),
            next_due=sched.next_due(scope),
            busy=sched.is_busy(scope),
            timelines=len(sched.tenants()),
            timers=timers,
        )
    )


def _timer(t: Timer) -> TimerOut:
    args = dict(t.job["args"]) if t.job else None
    return TimerOut(due=t.when, iso=iso(t.when, millis=True), vendor=t.vendor, what=t.describe(), args=args)


def _step(result: IdleResult) -> Response:
    now = result.now
    return reply(
        ClockStepOut(now=now, iso=iso(now, millis=True), timers_run=result.timers_run, timelines=result.timelines)
    )


@API.op(
    "POST",
    "/clock/advance",
    "advanceClock",
    "Advance the virtual clock",
    {200: Reply("advanced", ClockStepOut), 400: ERR[400], 409: ERR[409]},
    body=Body(AdvanceIn),
    params=[TENANTS],
)
async def advance(emu: Emulator, request: Request) -> Response:
    """Body `{"seconds": N}` (or query `seconds`): move the virtual clock, running due timers; query `tenant`
    (repeated for several) moves only those tenants' timelines, each by N seconds."""
    tenants = _tenants(request)
    if "seconds" in request.query_params:
        body = AdvanceIn(seconds=q_float(request, "seconds", 0, 0, 10 * 365 * 86400))
    else:
        body = AdvanceIn.model_validate(await json_body(request))
    if not emu.clock.virtual:
        return error(409, "system_clock", "the clock is the system clock; start with --clock virtual to advance it")
    try:
        result = await emu.scheduler.advance(body.seconds, tenants=tenants)
    except SchedulerRunaway as exc:
        return error(409, "runaway", str(exc))
    return _step(result)


@API.op(
    "POST",
    "/clock/run-until-idle",
    "runUntilIdle",
    "Run timers until idle",
    {200: Reply("idle", ClockStepOut), 400: ERR[400], 409: ERR[409]},
    body=Body(IdleIn, required=False),
    params=[TENANTS],
)
async def run_until_idle(emu: Emulator, request: Request) -> Response:
    """Optional body `{"max_steps": N}`: run timers until nothing is scheduled or running; query `tenant`
    (repeated for several): only those tenants' timelines."""
    tenants = _tenants(request)
    body = IdleIn.model_validate(await json_body(request, optional=True))
    if not emu.clock.virtual:
        return error(409, "system_clock", "run-until-idle needs the virtual clock (start with --clock virtual)")
    try:
        result = await emu.scheduler.run_until_idle(max_steps=body.max_steps, tenants=tenants)
    except SchedulerRunaway as exc:
        return error(409, "runaway", str(exc))
    return _step(result)


@API.op(
    "GET",
    "/requests",
    "listRequests",
    "The inbound request journal",
    {200: Reply("journal", RequestsOut), 400: ERR[400], 403: Reply("secrets=true without the admin token", ErrorOut)},
    params=[
        VENDOR,
        TENANT,
        q("method", "HTTP method"),
        q("path", "path prefix"),
        q("status", "status code", {"type": "integer", "minimum": 100, "maximum": 599}),
        q("limit", "newest N (0 = all)", {"type": "integer", "minimum": 0, "maximum": 1_000_000}),
        SECRETS,
    ],
)
async def requests_(emu: Emulator, request: Request) -> Response:
    """Query `vendor`, `tenant`, `method`, `path` (prefix), `status`, `limit` (default 100, 0 = all), `secrets`
    (as `GET /state`: credentials in headers, query and body redacted). Entries go out as the journal's dicts
    (up to a million; no model per entry)."""
    shown = _secrets(emu, request)
    if isinstance(shown, Response):
        return shown
    if emu.journal is None:
        return reply(RequestsOut(requests=[]))
    p = request.query_params
    entries = emu.journal.query(
        vendor=p.get("vendor") or None,
        tenant=p.get("tenant") or None,
        method=p.get("method") or None,
        path=p.get("path") or None,
        status=q_int(request, "status", None, 100, 599),
        limit=q_int(request, "limit", 100, 0, 1_000_000) or 0,
    )
    if shown:
        return JSONResponse({"requests": [e.to_json() for e in entries]})
    return JSONResponse({"requests": [redact_entry(e.to_json(), emu.plugins.get(e.vendor)) for e in entries]})


@API.op(
    "GET",
    "/deliveries",
    "listDeliveries",
    "The webhook delivery log (long-poll with `wait`)",
    {
        200: Reply("deliveries", DeliveriesOut),
        400: ERR[400],
        403: Reply("secrets=true without the admin token", ErrorOut),
    },
    params=[
        VENDOR,
        TENANT,
        q("event", "event type"),
        q("subject", "ordering key (conversation, chat, call id)"),
        q("status", "delivery status", {"type": "string", "enum": ["pending", "delivered", "failed"]}),
        q("event_id", "event id"),
        q("wait", "seconds to wait for `count` matches", {"type": "number", "minimum": 0, "maximum": MAX_WAIT}),
        q("count", "matches to wait for", {"type": "integer", "minimum": 1, "maximum": 100_000}),
        q("settled", "wait until matches are no longer pending", {"type": "boolean"}),
        q("body", "include bodies", {"type": "boolean"}),
        SECRETS,
    ],
)
async def deliveries(emu: Emulator, request: Request) -> Response:
    """Query `vendor`, `tenant`, `event`, `subject`, `status`, `event_id` filter; `wait` (seconds, max 60)
    long-polls until `count` (default 1) matching deliveries have finished (or `settled=false`: exist);
    `body=false` leaves bodies out; `secrets` as `GET /requests` (receiver URLs' user info and query values, the
    credentials in headers and bodies redacted)."""
    shown = _secrets(emu, request)
    if isinstance(shown, Response):
        return shown
    p = request.query_params
    status = p.get("status")
    if status is not None and status not in ("pending", "delivered", "failed"):
        raise ValueError("status: must be one of pending, delivered, failed")
    match = DeliveryFilter(
        vendor=p.get("vendor") or None,
        tenant=p.get("tenant") or None,
        event=p.get("event") or None,
        subject=p.get("subject") or None,
        status=status,
        event_id=p.get("event_id") or None,
    )
    wait = q_float(request, "wait", 0.0, 0.0, MAX_WAIT)
    count = q_int(request, "count", 1, 1, 100_000) or 1
    settled = q_bool(request, "settled", True)
    with_body = q_bool(request, "body", True)
    if wait > 0:
        found = await emu.dispatcher.wait(match, count=count, timeout=wait, settled=settled)
    else:
        found = emu.dispatcher.deliveries(match)
    return JSONResponse({"deliveries": [_delivery_json(emu, d, shown, with_body=with_body) for d in found]})


def _delivery_json(emu: Emulator, d: Delivery, shown: bool, *, with_body: bool = True) -> dict[str, Any]:
    """A delivery's log entry, its credentials redacted unless `shown` (`_secrets`)."""
    out = d.to_json(with_body=with_body)
    return out if shown else redact_delivery(out, emu.plugins.get(d.vendor))


@API.op(
    "GET",
    "/deliveries/{delivery_id}",
    "getDelivery",
    "One delivery and its attempts",
    {
        200: Reply("delivery", DeliveryOut),
        400: ERR[400],
        403: Reply("secrets=true without the admin token", ErrorOut),
        404: ERR[404],
    },
    params=[DELIVERY_ID, SECRETS],
)
async def delivery(emu: Emulator, request: Request) -> Response:
    """One delivery with all its attempts (`secrets` as `GET /deliveries`)."""
    shown = _secrets(emu, request)
    if isinstance(shown, Response):
        return shown
    d = emu.dispatcher.get(request.path_params["delivery_id"])
    if d is None:
        return error(404, "unknown_delivery", f"no delivery {request.path_params['delivery_id']!r}")
    return JSONResponse(_delivery_json(emu, d, shown))


@API.op(
    "POST",
    "/deliveries/{delivery_id}/redeliver",
    "redeliver",
    "Send a delivery again: re-signed now or as it was, to its URL or another",
    {
        202: Reply("queued", DeliveryOut),
        400: Reply("bad body, or a URL the outbound policy refuses", ErrorOut),
        404: ERR[404],
        409: Reply("`as_was` of a delivery none of whose attempts was sent", ErrorOut),
    },
    params=[DELIVERY_ID],
    body=Body(RedeliverIn, required=False),
)
async def redeliver(emu: Emulator, request: Request) -> Response:
    """Optional body `{"mode": "re_sign" | "as_was", "url": "..."}` (no body: re-signed, to its own URL): a new
    delivery with the same event id and body. `as_was` sends the headers of the last attempt that was sent as
    they were (signature and its timestamp included; 409 when none was); `url` sends it there instead, through
    the same outbound policy (400 when it refuses the URL)."""
    body = RedeliverIn.model_validate(await json_body(request, optional=True))
    delivery_id = request.path_params["delivery_id"]
    if emu.dispatcher.get(delivery_id) is None:
        return error(404, "unknown_delivery", f"no delivery {delivery_id!r}")
    if body.url is not None:
        refused = await emu.dispatcher.refusal(body.url)
        if refused is not None:
            return error(400, "refused_url", f"url: {refused}")
    try:
        d = emu.dispatcher.redeliver(delivery_id, as_was=body.mode == "as_was", url=body.url)
    except NothingSent as exc:
        return error(409, "nothing_sent", str(exc))
    if d is None:
        return error(404, "unknown_delivery", f"no delivery {delivery_id!r}")
    shown = emu.settings.admin_token is None  # as `GET /deliveries/{id}` shows it by default
    return JSONResponse(_delivery_json(emu, d, shown), status_code=202)


@API.op(
    "GET",
    "/deliveries/{delivery_id}/signature",
    "getDeliverySignature",
    "How a receiver verifies a delivery, and cxemu's own check of it",
    {200: Reply("signature", SignatureOut), 404: ERR[404]},
    params=[DELIVERY_ID],
)
async def signature(emu: Emulator, request: Request) -> Response:
    """The signature scheme of the delivery's vendor, the signature headers of its last sent attempt, the exact
    text they cover, what the receiver verifies with, and whether cxemu's own check of that attempt passes
    (`verified`: null when the vendor does not sign)."""
    d = emu.dispatcher.get(request.path_params["delivery_id"])
    if d is None:
        return error(404, "unknown_delivery", f"no delivery {request.path_params['delivery_id']!r}")
    return reply(emu.dispatcher.signature(d, f"{request.url.scheme}://{request.url.netloc}"))


CHAOS_TENANT = Param(
    "tenant",
    "query",
    {"type": "string", "minLength": 1, "maxLength": MAX_TENANT},
    description="a tenant's own faults (in place of the global ones for its deliveries) instead of the global ones",
)


CHAOS_TENANT_REQUIRED = Param(
    "tenant",
    "query",
    {"type": "string", "minLength": 1, "maxLength": MAX_TENANT},
    required=True,
    description="the tenant whose own faults to clear",
)


def _chaos_tenant(request: Request) -> str | None:
    names = request.query_params.getlist("tenant")
    if not names:
        return None
    if len(names) > 1 or not 0 < len(names[0]) <= MAX_TENANT:
        raise ValueError(f"tenant: one name of 1 to {MAX_TENANT} characters")
    return names[0]


def _tenant_chaos(entry: TenantChaos) -> TenantChaosOut:
    return TenantChaosOut(**entry.config.model_dump(), expires_at=entry.expires_at)


def _chaos(emu: Emulator) -> ChaosOut:
    own = {t: _tenant_chaos(e) for t, e in emu.dispatcher.tenants_chaos().items()}
    return ChaosOut(**emu.dispatcher.chaos.model_dump(), tenants=own)


@API.op("GET", "/chaos", "getChaos", "Delivery faults in force", {200: Reply("chaos", ChaosOut)})
async def get_chaos(emu: Emulator, request: Request) -> Response:
    """The global delivery faults, and under `tenants` each tenant's own (with when they expire)."""
    return reply(_chaos(emu))


@API.op(
    "PUT",
    "/chaos",
    "setChaos",
    "Set delivery faults: global, or a tenant's own (`tenant`) with an expiry",
    {
        200: Reply("chaos (a tenant's: with `expires_at`)", TenantChaosOut),
        400: ERR[400],
        503: Reply("Redis (a fleet's, a Redis-backed server's) did not take it: the faults were not changed", ErrorOut),
    },
    body=Body(TenantChaosIn),
    params=[CHAOS_TENANT],
)
async def put_chaos(emu: Emulator, request: Request) -> Response:
    """Body: a ChaosConfig (all fields optional; `{}` turns chaos off). With query `tenant`: that tenant's own
    faults, in place of the global ones for its deliveries, and optional `expires_in` (seconds on its timeline;
    without it, until `DELETE /chaos?tenant=`); its `tenant` field, if given, must name the same tenant."""
    tenant = _chaos_tenant(request)
    raw = await json_body(request)
    if tenant is None:
        if isinstance(raw, dict) and "expires_in" in raw:
            raise ValueError("expires_in: only a tenant's own faults expire (add ?tenant=)")
        chaos = ChaosConfig.model_validate(raw)
        if emu.fleet is not None:  # kept in Redis: every worker's deliveries, workers started later too
            try:
                await emu.fleet.share_chaos(chaos)
            except FleetUnavailable as exc:
                return error(503, "unavailable", str(exc))
        emu.dispatcher.set_chaos(chaos)
        return reply(chaos)
    body = TenantChaosIn.model_validate(raw)
    if body.tenant not in (None, tenant):
        raise ValueError(f"tenant: the body names {body.tenant!r}, the query {tenant!r}")
    config = ChaosConfig(**body.model_dump(exclude={"expires_in"}))
    before = emu.dispatcher.tenant_chaos.get(tenant)
    entry = emu.dispatcher.set_tenant_chaos(tenant, config, body.expires_in)
    refused = await _keep_tenant_chaos(emu, tenant, before)
    return refused or reply(_tenant_chaos(entry))


async def _keep_tenant_chaos(emu: Emulator, tenant: str, before: TenantChaos | None) -> Response | None:
    """With Redis: the tenant's own faults, as the dispatcher now holds them, written before the answer under the
    tenant's hash tag (`RedisRuntime.chaos_changed`, fenced by the owner's lease), so a worker that takes the
    tenant over applies them. When Redis does not take the write (or another worker owns the tenant now) the
    faults are put back as they were and the answer is a 503: nothing changed."""
    runtime = emu.runtime
    if runtime is None:
        return None
    runtime.chaos_changed(tenant)
    try:
        await runtime.flush()
    except EmulatorError as exc:
        unwritten = getattr(exc, "unwritten", None)  # `PartlyUnwritten`: only those tenants' parts failed
        if unwritten is None or tenant in unwritten:
            _put_back(emu, tenant, before)
            return error(503, "unavailable", f"the tenant's faults were not changed: {exc.message}")
    if emu.fleet is not None and tenant not in emu.fleet.owned:  # refused by the fence: let go here
        return error(503, "unavailable", f"tenant {tenant!r} is served by another worker now; try again")
    return None


def _put_back(emu: Emulator, tenant: str, before: TenantChaos | None) -> None:
    if before is None:
        emu.dispatcher.tenant_chaos.pop(tenant, None)
    else:
        emu.dispatcher.tenant_chaos[tenant] = before


@API.op(
    "DELETE",
    "/chaos",
    "clearTenantChaos",
    "Clear a tenant's own delivery faults",
    {
        200: Reply("chaos in force now", ChaosOut),
        400: ERR[400],
        404: ERR[404],
        503: Reply("Redis (a fleet's, a Redis-backed server's) did not take it: the faults were not changed", ErrorOut),
    },
    params=[CHAOS_TENANT_REQUIRED],
)
async def delete_chaos(emu: Emulator, request: Request) -> Response:
    """Query `tenant` (required): drop that tenant's own faults (404 when it has none in force); the global
    ones are turned off with `PUT /chaos {}`."""
    tenant = _chaos_tenant(request)
    if tenant is None:
        raise ValueError("tenant: required (turn the global faults off with PUT /chaos {})")
    before = emu.dispatcher.tenant_chaos.get(tenant)
    if not emu.dispatcher.clear_tenant_chaos(tenant):
        return error(404, "unknown_chaos", f"tenant {tenant!r} has no faults of its own")
    refused = await _keep_tenant_chaos(emu, tenant, before)
    return refused or reply(_chaos(emu))


@API.op("GET", "/tenants", "listTenants", "Tenants with state", {200: Reply("tenants", TenantsOut)})
async def tenants(emu: Emulator, request: Request) -> Response:
    """Every (vendor, tenant) that has state."""
    return reply(TenantsOut(tenants=[TenantRef(vendor=v, tenant=t) for v, t in emu.store.tenants()]))


@API.op(
    "POST",
    "/tenants",
    "provisionTenant",
    "Create a tenant in every vendor and return its credentials",
    {201: Reply("provisioned", TenantOut), 400: ERR[400], 404: ERR[404]},
    body=Body(TenantIn),
)
async def provision(emu: Emulator, request: Request) -> Response:
    """Body `{"tenant": "...", "vendors": [...]}`: create the tenant and return each vendor's credentials."""
    body = TenantIn.model_validate(await json_body(request))
    slugs = body.vendors if body.vendors is not None else list(emu.plugins)
    unknown = [s for s in slugs if s not in emu.plugins]
    if unknown:
        return error(404, "unknown_vendor", f"no vendor {unknown[0]!r}")
    creds = {slug: await emu.provision(slug, body.tenant) for slug in slugs}
    return reply(TenantOut(tenant=body.tenant, credentials=creds), 201)


DISPLAY_LATEST = 100
"""A display stream's default `latest`: entries per write."""
DISPLAY_INTERVAL = 0.5
"""A display stream's default `interval`: seconds between writes."""
WRITE_FRAMES = 256
"""Most frames an event stream sends in one write (what arrived since its last write, or a replay's slice)."""
STALLED_READER = 60.0
"""Seconds one write to an event stream may wait for its reader before the stream is closed."""
FEED_FILTERS = [
    VENDOR,
    TENANT,
    q("subject", "the conversation, chat or call id"),
    Param(
        "kind",
        "query",
        {"type": "array", "items": {"type": "string", "pattern": KINDS_PATTERN}},
        description="entry kinds (repeat or comma-separate): request, control, event, delivery, attempt, timer, action",
    ),
    q("type", "entry type (`POST /path`, an event kind, a webhook's event type, a job, a verb)"),
]


def _feed_match(request: Request) -> Match:
    """The feed filters of a query (`FEED_FILTERS`); an unknown kind is bad input."""
    p = request.query_params
    kinds = parse_kinds(p.getlist("kind"))
    return Match(
        p.get("vendor") or None, p.get("tenant") or None, p.get("subject") or None, kinds, p.get("type") or None
    )


@API.op(
    "GET",
    "/journal",
    "getJournal",
    "The feed: everything that happened, with causes",
    {200: Reply("entries", JournalPageOut), 400: ERR[400]},
    params=[
        *FEED_FILTERS,
        q(
            "after",
            "entries after this id (exclusive): the first `limit` of them",
            {"type": "integer", "minimum": 0, "maximum": MAX_ID},
        ),
        q(
            "before",
            "entries before this id (exclusive): without `after`, the newest `limit`",
            {"type": "integer", "minimum": 0, "maximum": MAX_ID},
        ),
        q("limit", "at most N entries (default 100)", {"type": "integer", "minimum": 1, "maximum": 1000}),
    ],
)
async def journal(emu: Emulator, request: Request) -> Response:
    """Query `vendor`, `tenant`, `subject`, `kind` (repeated or comma-separated), `type` filter; `after` gives
    the first `limit` entries after that id (paging forward), otherwise the newest `limit` (before `before`,
    when given: "load more" going back); `limit` 1 to 1000, default 100. Oldest first either way."""
    match = _feed_match(request)
    after = q_int(request, "after", None, 0, MAX_ID)
    before = q_int(request, "before", None, 0, MAX_ID)
    limit = q_int(request, "limit", 100, 1, 1000) or 100
    if emu.fleet_feed is not None:  # a fleet: every worker's entries, fleet-wide ids (`core.fleetfeed`)
        try:
            if emu.fleet is not None:  # every worker mirrors what it holds first
                await emu.fleet.mirror_feed(request, watch=False)
            page = await emu.fleet_feed.journal(match, after, before, limit)
        except FleetUnavailable as exc:
            return error(503, "unavailable", str(exc))
        body = f'{{"entries":[{",".join(r.json for r in page["entries"])}],"oldest":{json.dumps(page["oldest"])}'
        body += f',"newest":{json.dumps(page["newest"])}}}'
        return Response(body, media_type="application/json")
    feed = emu.feed
    entries = feed.query(match, after=after, before=before, limit=limit)
    return JSONResponse({"entries": [e.to_json() for e in entries], "oldest": feed.oldest, "newest": feed.newest})


@API.op(
    "GET",
    "/events",
    "streamEvents",
    "Server-sent stream of the feed (resume with `Last-Event-ID` or `after`)",
    {
        200: Reply("event stream", media_type="text/event-stream", schema={"type": "string"}),
        400: ERR[400],
        503: Reply("too many event streams open (the `event_listeners` setting)", ErrorOut),
    },
    params=[
        *FEED_FILTERS,
        q(
            "after",
            "resume after this entry id (as the `Last-Event-ID` header)",
            {"type": "integer", "minimum": 0, "maximum": MAX_ID},
        ),
        q(
            "heartbeat",
            "seconds between heartbeat comments (default: the `feed_heartbeat` setting)",
            {"type": "number", "minimum": 0.001, "maximum": 3600},
        ),
        q("limit", "end after N entries", {"type": "integer", "minimum": 1, "maximum": 1_000_000}),
        q("timeout", "end after N idle seconds", {"type": "number", "minimum": 0, "maximum": 3600}),
        q(
            "latest",
            "display mode: at most the newest N matching entries per write; the older ones in between are passed "
            f"over and announced by one `event: skipped` frame (default with `interval`: {DISPLAY_LATEST})",
            {"type": "integer", "minimum": 1, "maximum": 1000},
        ),
        q(
            "interval",
            f"display mode: seconds between writes (default with `latest`: {DISPLAY_INTERVAL})",
            {"type": "number", "minimum": 0.05, "maximum": 60},
        ),
    ],
)
async def events(emu: Emulator, request: Request) -> Response:
    """The feed as server-sent events: each frame `id:`, `event: <kind>`, `data: <entry JSON>` (`/journal`'s
    entries). Filters as `/journal`. Resume with the `Last-Event-ID` header or `after`: the entries after it
    still kept are sent first, then live ones, none missed or repeated; when some after it are no longer kept,
    an `event: gap` frame first says how many (`{"after", "lost", "oldest"}`); resumed past every id given (the
    server restarted without a state file since), the gap frame says `"restarted": true` and `"lost": null`, and the
    stream goes on from the new ids (what is kept, then live), as a fleet's does. A `: ping` comment every
    `heartbeat` seconds; `limit` ends the stream after that many entries, `timeout` after that many idle
    seconds. Streams are capped in number (503 past it); one that falls a buffer behind is dropped (its
    stream ends with a comment saying so).

    Display mode (`latest`, `interval`, either one; `_display_stream`) is for pages, which need not show every
    entry at any rate: each write comes at most every `interval` seconds and carries at most the newest
    `latest` matching entries since the last one."""
    match = _feed_match(request)
    after = _resume_point(request)
    heartbeat = q_float(request, "heartbeat", emu.settings.feed_heartbeat, 0.001, 3600.0)
    limit = q_int(request, "limit", None, 1, 1_000_000)
    idle = q_float(request, "timeout", 0.0, 0.0, 3600.0)
    latest = q_int(request, "latest", None, 1, 1000)
    interval = q_float(request, "interval", 0.0, 0.05, 60.0)
    fleet = emu.fleet_feed
    if fleet is not None:  # a fleet: the fleet's stream, every worker's entries (`core.fleetfeed`)
        try:
            emu.feed.room()
        except TooManyStreams as exc:
            return error(503, "too_many_listeners", str(exc))
        try:
            if emu.fleet is not None:  # every worker mirrors what it holds, then each entry as it comes
                await emu.fleet.mirror_feed(request, watch=True)
            if latest is not None or interval:
                shown = latest or DISPLAY_LATEST
                frames = await fleet.display(match, after, shown, interval or DISPLAY_INTERVAL, limit, idle)
            else:
                frames = await fleet.stream(match, after, limit, idle)
        except FleetUnavailable as exc:
            return error(503, "unavailable", str(exc))
        return EventSourceResponse(
            frames, ping=heartbeat, ping_message_factory=_ping, sep="\n", send_timeout=STALLED_READER
        )
    if latest is not None or interval:
        return _display_stream(
            emu, match, after, latest or DISPLAY_LATEST, interval or DISPLAY_INTERVAL, heartbeat, limit, idle
        )
    feed = emu.feed
    restarted = after is not None and feed.restarted(after)  # an id of the process before a restart
    point = 0 if restarted else after
    try:
        listener, backlog, lost = feed.listen(match, point)
    except TooManyStreams as exc:
        return error(503, "too_many_listeners", str(exc))
    oldest = feed.oldest

    async def stream() -> AsyncIterator[bytes]:
        try:
            yield b": cxemu event stream\n\n"
            if restarted and after is not None:
                yield restarted_gap(after, oldest)
            if lost:
                gap = json.dumps({"after": point, "lost": lost, "oldest": oldest}, separators=(",", ":"))
                yield f"event: gap\ndata: {gap}\n\n".encode()
            kept = backlog[:limit] if limit is not None else backlog
            for start in range(0, len(kept), WRITE_FRAMES):
                yield b"".join(e.frame() for e in kept[start : start + WRITE_FRAMES])
            sent = len(kept)
            while limit is None or sent < limit:
                room = WRITE_FRAMES if limit is None else min(WRITE_FRAMES, limit - sent)
                try:
                    batch = await (asyncio.wait_for(listener.batch(room), idle) if idle else listener.batch(room))
                except TimeoutError:
                    return
                if batch is None:
                    yield b": dropped: this stream fell too far behind\n\n"
                    return
                sent += len(batch)
                yield b"".join(e.frame() for e in batch)
        finally:
            feed.unlisten(listener)

    return EventSourceResponse(
        stream(), ping=heartbeat, ping_message_factory=_ping, sep="\n", send_timeout=STALLED_READER
    )


def _display_stream(
    emu: Emulator,
    match: Match,
    after: int | None,
    latest: int,
    interval: float,
    heartbeat: float,
    limit: int | None,
    idle: float,
) -> Response:
    """`GET /events` in display mode. The stream is not told of entries as they are appended: every `interval`
    it looks at the journal (`Feed.latest`: nothing when no id was given since, one filter test per new entry
    otherwise, and a JSON encoding only for the entries it sends). A write is, in id order: a `gap` frame when
    entries after its point were evicted meanwhile (as on resume), ONE `event: skipped` frame without an `id:`
    (`{"after", "before", "count"}`: the matching entries it passed over are exactly the `count` kept ones
    between the two exclusive bounds, `GET /journal?after=&before=` with the same filters lists them), then the
    entries' frames. Resuming (`Last-Event-ID`, `after`) starts with such a write for what came after the point
    (past every id given: a restarted `gap` frame first, then the write from the new ids, as `events` does); the
    entries a reader got plus the ranges it was told it skipped are every matching entry, each once."""
    feed = emu.feed
    try:
        feed.room()
    except TooManyStreams as exc:
        return error(503, "too_many_listeners", str(exc))
    test = match.compiled()

    async def stream() -> AsyncIterator[bytes]:
        feed.open_display()  # counted in here: a stream whose reader leaves before it starts never counts
        try:
            yield b": cxemu event stream (display mode)\n\n"
            point = feed.last_id if after is None else after
            if feed.restarted(point):  # an id of the process before a restart: from the new ids
                yield restarted_gap(point, feed.oldest)
                point = 0
            sent = 0
            quiet = 0.0
            while True:
                if feed.last_id != point:
                    keep = latest if limit is None else min(latest, limit - sent)
                    found = feed.latest(test, point, keep)
                    frames = []
                    if found.lost:
                        gap = {"after": point, "lost": found.lost, "oldest": feed.oldest}
                        frames.append(f"event: gap\ndata: {json.dumps(gap, separators=(',', ':'))}\n\n".encode())
                    if found.skipped is not None:
                        low, high, count = found.skipped
                        skipped = json.dumps({"after": low, "before": high, "count": count}, separators=(",", ":"))
                        frames.append(f"event: skipped\ndata: {skipped}\n\n".encode())
                    frames.extend(e.frame() for e in found.entries)
                    point = found.through
                    if frames:
                        sent += len(found.entries)
                        quiet = 0.0
                        yield b"".join(frames)
                if (limit is not None and sent >= limit) or (idle and quiet >= idle):
                    return
                await asyncio.sleep(interval)
                quiet += interval
        finally:
            feed.close_display()

    return EventSourceResponse(
        stream(), ping=heartbeat, ping_message_factory=_ping, sep="\n", send_timeout=STALLED_READER
    )


def _ping() -> ServerSentEvent:
    return ServerSentEvent(comment="ping", sep="\n")


def _resume_point(request: Request) -> int | None:
    """`after`, else the `Last-Event-ID` header (an entry id), else None (live entries only)."""
    if "after" in request.query_params:
        return q_int(request, "after", None, 0, MAX_ID)
    header = request.headers.get("last-event-id")
    if header is None or not header.strip():
        return None
    if not header.strip().isdigit() or int(header) > MAX_ID:
        raise ValueError("Last-Event-ID: must be an entry id (a whole number)")
    return int(header)


def vendor_api(plugin: VendorPlugin) -> Api[Emulator] | None:
    """A vendor's operations under `/vendors/<slug>`: the kernel's `PUT /tenants/{tenant}/behaviour` (for a plugin
    declaring `behaviour`), then its act-by-hand ones (`VendorPlugin.control`); None when it has neither."""
    if plugin.behaviour is None and plugin.control is None:
        return None
    api = control_api(plugin.slug, plugin.title, tenant_noun(plugin))  # an unknown tenant in the vendor's words
    if plugin.behaviour is not None:
        spec = plugin.behaviour

        @api.op(
            "PUT",
            "/tenants/{tenant}/behaviour",
            f"{plugin.slug}PutBehaviour",
            f"Change some of a {plugin.title} tenant's behaviour knobs",
            {200: Reply("the whole behaviour", spec.model), 400: ERR[400], 404: Reply("no such tenant", ErrorOut)},
            params=[TENANT_PATH],
            body=Body(spec.model),
            description="Fields not named stay; the result is validated as a whole (a 400 leaves it as it was).",
        )
        async def put_behaviour(emu: Emulator, request: Request) -> Response:
            """Body: some fields of the vendor's behaviour model; the others stay. 200 with the whole behaviour."""
            changes = await json_object(request)
            async with emu.store.tenant(plugin.slug, request.path_params["tenant"]) as tx:
                merged = merge_behaviour(spec, tx.state, changes, strict=True)
            return reply(merged)

    if plugin.control is not None:
        if plugin.control.mount != api.mount:
            raise ValueError(f"{plugin.slug}: its control Api must be mounted at {api.mount}")
        api.declared.extend(plugin.control.declared)
    return api


# -- the feed's `control` entries ----------------------------------------------------------------------------

RECORDED = frozenset({"POST", "PUT", "PATCH", "DELETE"})
"""Methods whose `/_emulator` calls the feed records (never a read)."""


class ControlEntries:
    """ASGI middleware of the `/_emulator` mount (inside the guard: calls it lets through, without credential
    query parameters): a `control` entry for each mutating call, except the sink's receiving routes (they are
    webhooks arriving, already `attempt` entries), on the lane of who acts (`HANDS`). The entry holds what the
    call caused until it completes."""

    def __init__(self, app: ASGIApp, emu: Emulator) -> None:
        self.app = app
        self.emu = emu

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope.get("method", "")
        path: str = scope.get("path", "")
        if scope["type"] != "http" or method not in RECORDED or _sink_receiving(method, path):
            await self.app(scope, receive, send)
            return
        body = bytearray()
        size = status = 0

        async def received() -> Message:
            nonlocal size
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if len(body) < BODY_BYTES:
                body.extend(chunk[: BODY_BYTES - len(body)])
            return message

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        vendor, tenant = _owner(path, scope.get("query_string", b""))
        feed = self.emu.feed
        call, token = feed.open("control", f"{method} {path}", vendor, _party(path))
        try:
            await self.app(scope, received, sending)
        finally:
            query = scope.get("query_string", b"").decode("latin-1")
            source = (method, path, query, bytes(body), size, status or 499)
            build = _control_data if self.emu.settings.admin_token is None else _redacted_control_data
            feed.close(call, token, tenant, self.emu.scheduler.now(tenant), source, build)


HANDS = (
    (re.compile(r"/vendors/[^/]+/tenants/[^/]+/.*/agent$"), "agent"),
    (re.compile(r"/vendors/[^/]+/tenants/[^/]+/(.*/customer|customers|end-users/[^/]+/messages)$"), "customer"),
    (re.compile(r"/vendors/[^/]+/tenants/[^/]+/calls/[^/]+(/digits|/hangup)?$"), "customer"),
)
"""Act-by-hand routes and whose lane their `control` entry is on (a callee is the customer's); other calls are
the integration's."""


def _party(path: str) -> str:
    return next((party for pattern, party in HANDS if pattern.search(path)), "integration")


def _sink_receiving(method: str, path: str) -> bool:
    return method != "DELETE" and path.startswith(f"{SINK_PREFIX}/")


def _owner(path: str, query: bytes) -> tuple[str | None, str | None]:
    """The vendor and tenant a control call is about: `vendor=`/`tenant=` (the first tenant named), or a path
    `/vendors/<vendor>/tenants/<tenant>/...` or `/sink/<vendor>/<tenant>`."""
    params = dict(parse_qsl(query.decode("latin-1")))
    parts = path.split("/")
    if len(parts) > 5 and parts[2] == "vendors" and parts[4] == "tenants":
        return parts[3], parts[5]
    if len(parts) > 4 and parts[2] == "sink":
        return parts[3], parts[4]
    return params.get("vendor") or None, params.get("tenant") or None


def _control_data(source: tuple[str, str, str, bytes, int, int]) -> dict[str, Any]:
    method, path, query, body, size, status = source
    shown: Any = body.decode(errors="replace")
    if path == f"{API.mount}/state":
        shown = None  # a snapshot: the tenants' credentials (restoring it is the entry; its content is not shown)
    elif size and size == len(body):
        with contextlib.suppress(ValueError):  # not JSON: shown as text
            shown = parse_json(body)
    return {
        "method": method,
        "path": path,
        "query": query,
        "body": shown,
        "size": size,
        "truncated": size > len(body),
        "status": status,
    }


def _redacted_control_data(source: tuple[str, str, str, bytes, int, int]) -> dict[str, Any]:
    """`_control_data` with an admin token set: a redelivery's receiver URL masked as the deliveries' views mask
    it (`redact_url`)."""
    out = _control_data(source)
    body = out["body"]
    if out["path"].endswith("/redeliver") and isinstance(body, dict) and isinstance(body.get("url"), str):
        out["body"] = {**body, "url": redact_url(body["url"])}
    return out


# -- routes -----------------------------------------------------------------------------------------------

Contract = Callable[[], dict[str, Any]]


def control_routes(emu: Emulator, contract: Contract, more: Sequence[BaseRoute] = ()) -> list[BaseRoute]:
    """All `/_emulator` routes (mounted by `create_app`): the declared operations, then `more` (the scenario
    endpoints), `/openapi.json` serving `contract()`, the vendors' contracts, then each vendor's `vendor_api`
    (the kernel's behaviour route and its act-by-hand ones) mounted at `/vendors/<slug>` (last: a mount takes
    every path under it)."""

    async def openapi(request: Request) -> Response:
        """This control plane's OpenAPI document."""
        return JSONResponse(contract())

    async def vendor_contract(request: Request) -> Response:
        """A vendor's OpenAPI document."""
        plugin = emu.plugins.get(request.path_params["slug"])
        if plugin is None or plugin.contract is None:
            return error(404, "unknown_vendor", f"no contract for {request.path_params['slug']!r}")
        return JSONResponse(plugin.contract())

    routes: list[BaseRoute] = [*API.routes(emu), *more]
    routes += [
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/contracts/{slug}", vendor_contract, methods=["GET"]),
    ]
    for plugin in emu.plugins.values():
        api = vendor_api(plugin)
        if api is not None:
            routes.append(Mount(f"/vendors/{plugin.slug}", routes=api.routes(emu)))
    return routes
