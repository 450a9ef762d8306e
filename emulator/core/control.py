"""The control plane at `/_emulator`: see, wait for, steer and reset everything the emulator did.

| method and path | what it does |
|---|---|
| `GET /health` | liveness, version, vendors, clock mode |
| `POST /reset?vendor=&tenant=` | drop state, timers, deliveries and journal of the matching tenants |
| `GET /state`, `POST /state` | snapshot as JSON; restore one |
| `GET /clock`, `POST /clock/advance`, `POST /clock/run-until-idle` | read and move the (virtual) clock |
| `GET /requests` | the inbound request journal (filters: vendor, tenant, method, path prefix, status, limit) |
| `GET /deliveries` | delivery log (filters: vendor, tenant, event, subject, status, event_id; long-poll `wait`) |
| `GET /deliveries/{id}`, `POST /deliveries/{id}/redeliver` | one delivery; send it again |
| `GET /chaos`, `PUT /chaos` | seeded delivery faults |
| `GET /tenants`, `POST /tenants` | list tenants; provision one in every vendor and get its credentials |
| `GET /events` | server-sent events: every domain event as it is committed |
| `POST /scenarios`, `GET /scenarios` | load a scenario file (its actors meet the app under test); list them |
| `GET /scenarios/{id}`, `DELETE /scenarios/{id}` | a scenario's progress and step results; unload it |
| `GET /openapi.json`, `GET /contracts/{slug}` | this contract; a vendor's contract |
| `/vendors/{slug}/...` | each vendor's act-by-hand routes (agents, customers, callees) |
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route

from emulator import __version__
from emulator.core.clock import SchedulerRunaway, iso
from emulator.core.contracts import Body, Operation, Param, Reply, build_openapi
from emulator.core.plugin import route
from emulator.core.runtime import Emulator
from emulator.core.types import AS_INT, AS_NUMBER, AS_STR, JsonFloat, JsonInt, JsonStr
from emulator.core.web import error, guarded, json_body, q_bool, q_float, q_int
from emulator.core.webhooks import ChaosConfig, DeliveryFilter

MAX_WAIT = 60.0
MAX_TS = 253_402_300_799.0  # 9999-12-31T23:59:59Z: the last instant ISO-8601 can show
Ts = Annotated[float, Strict(), Field(ge=0, le=MAX_TS), AS_NUMBER]

# -- wire models ------------------------------------------------------------------------------------------


class _In(BaseModel):
    """Request bodies: JSON types as JSON Schema reads them (see `core.types`) and no unknown fields."""

    model_config = ConfigDict(extra="forbid")


class ErrorOut(BaseModel):
    error: str = Field(description="machine-readable code")
    message: str


class VendorOut(BaseModel):
    slug: str
    title: str
    base_paths: list[str]


class HealthOut(BaseModel):
    status: Literal["ok"]
    version: str
    clock: Literal["system", "virtual"]
    now: float
    vendors: list[VendorOut]


class TenantRef(BaseModel):
    vendor: str
    tenant: str


class ResetOut(BaseModel):
    reset: list[TenantRef]


class ClockOut(BaseModel):
    mode: Literal["system", "virtual"]
    now: float = Field(description="epoch seconds")
    iso: str
    pending_timers: int
    next_due: float | None
    busy: bool = Field(description="background work (webhook attempts, actor actions) is running")


class AdvanceIn(_In):
    seconds: Annotated[float, Strict(), Field(ge=0, le=10 * 365 * 86400), AS_NUMBER]


class IdleIn(_In):
    max_steps: Annotated[int, Strict(), Field(ge=1, le=1_000_000), AS_INT] | None = None


class ClockStepOut(BaseModel):
    now: float
    iso: str
    timers_run: int


class JournalOut(BaseModel):
    seq: int
    at: float
    vendor: str
    tenant: str | None
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any
    status: int
    latency_ms: float


class RequestsOut(BaseModel):
    requests: list[JournalOut]


class AttemptOut(BaseModel):
    n: int
    at: float
    url: str
    headers: dict[str, str]
    status: int | None
    response_excerpt: str
    latency_ms: float
    error: str | None
    chaos: str | None


class DeliveryOut(BaseModel):
    id: str
    vendor: str
    tenant: str
    event_id: str
    event: str
    subject: str
    url: str
    status: Literal["pending", "delivered", "failed"]
    created_at: float
    next_attempt_at: float | None
    attempts: list[AttemptOut]
    redelivery_of: str | None
    chaos: list[str]
    body: Any = None


class DeliveriesOut(BaseModel):
    deliveries: list[DeliveryOut]


class TenantIn(_In):
    tenant: Annotated[str, Strict(), Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._-]+$"), AS_STR]
    vendors: list[JsonStr] | None = Field(None, description="default: every vendor")


class TenantOut(BaseModel):
    tenant: str
    credentials: dict[str, dict[str, Any]]


class TenantsOut(BaseModel):
    tenants: list[TenantRef]


class SnapshotClock(_In):
    mode: Literal["system", "virtual"]
    now: Ts


class SnapshotSlot(_In):
    state: dict[JsonStr, Any] = Field(description="the vendor's state model, as JSON")
    counters: dict[JsonStr, JsonInt]


class SnapshotJob(_In):
    due: Ts
    vendor: JsonStr
    tenant: JsonStr
    kind: JsonStr
    args: dict[JsonStr, Any]


class SnapshotAttempt(_In):
    n: JsonInt
    at: Ts
    url: JsonStr
    headers: dict[JsonStr, JsonStr]
    status: JsonInt | None = None
    response_excerpt: JsonStr = ""
    latency_ms: JsonFloat = 0.0
    error: JsonStr | None = None
    chaos: JsonStr | None = None


class SnapshotDelivery(_In):
    id: JsonStr
    seq: Annotated[int, Strict(), Field(ge=1), AS_INT]
    vendor: JsonStr
    tenant: JsonStr
    event_id: JsonStr
    event: JsonStr
    subject: JsonStr
    url: JsonStr
    status: Literal["pending", "delivered", "failed"] = "pending"
    created_at: Ts
    next_attempt_at: Ts | None = None
    attempts: list[SnapshotAttempt] = Field(default_factory=list)
    redelivery_of: JsonStr | None = None
    chaos: list[JsonStr] = Field(default_factory=list)
    body_text: JsonStr
    profile: dict[JsonStr, Any] = Field(default_factory=dict)


class SnapshotDeliveries(_In):
    next_seq: Annotated[int, Strict(), Field(ge=1), AS_INT] = 1
    pending: list[SnapshotDelivery] = Field(default_factory=list)


class Snapshot(_In):
    """What `GET /state` returns and `POST /state` takes back."""

    version: Literal[1]
    seed: Annotated[int, Strict(), Field(ge=0), AS_INT]
    clock: SnapshotClock
    store: dict[JsonStr, dict[JsonStr, SnapshotSlot]] = Field(description="vendor -> tenant -> slot")
    jobs: list[SnapshotJob]
    deliveries: SnapshotDeliveries


class RestoredOut(BaseModel):
    restored: bool
    tenants: int


class ScenarioIn(_In):
    """A scenario file as JSON (YAML text is accepted too); the full format is in `scenarios/README.md`."""

    name: Annotated[str, Strict(), Field(min_length=1, max_length=200), AS_STR]
    description: JsonStr = ""
    vendor: Annotated[str, Strict(), Field(description="a vendor slug with scenario support"), AS_STR]
    seed: Annotated[int, Strict(), Field(ge=0), AS_INT] = 0
    tenant: (
        Annotated[str, Strict(), Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$"), AS_STR] | None
    ) = None
    variables: dict[JsonStr, Any] = Field(default_factory=dict)
    setup: dict[JsonStr, Any] = Field(default_factory=dict, description="the vendor's world")
    actors: list[dict[JsonStr, Any]] = Field(default_factory=list, description="behaviour rules")
    steps: list[dict[JsonStr, Any]] = Field(default_factory=list, description="the timeline")


class ScenarioNearMissOut(BaseModel):
    delivery_id: str
    event: str
    subject: str
    status: str
    at: float
    body: Any = None
    problems: list[str] = Field(description="why it did not match")
    note: str | None


class ScenarioStepOut(BaseModel):
    index: int
    kind: str = Field(description="request, expect_webhook, advance, wait_until_idle, or a vendor kind")
    title: str
    line: int | None = Field(description="line of the step in the file")
    status: Literal["pending", "running", "passed", "failed", "skipped"]
    at: float | None = Field(description="clock time when the step ended")
    offset: float | None = Field(description="seconds since the scenario started")
    message: str | None
    expected: Any = None
    near_misses: list[ScenarioNearMissOut]


class ScenarioActorOut(BaseModel):
    index: int
    name: str | None
    event: str
    line: int | None
    fired: int


class ScenarioActorErrorOut(BaseModel):
    rule: int
    action: int
    line: int | None
    at: float
    subject: str | None
    message: str


class ScenarioOut(BaseModel):
    id: str
    name: str
    source: str
    vendor: str
    tenant: str
    seed: int
    clock: Literal["system", "virtual"]
    status: Literal["running", "passed", "failed", "error"]
    active: bool = Field(description="its actors still react to events")
    started_at: float
    now: float
    elapsed: float
    steps: list[ScenarioStepOut]
    actors: list[ScenarioActorOut]
    actor_errors: list[ScenarioActorErrorOut]
    variables: dict[str, Any]
    error: str | None
    webhooks: int
    report: str = Field(description="the human-readable step-by-step report")


class ScenariosOut(BaseModel):
    scenarios: list[ScenarioOut]


# -- routes -----------------------------------------------------------------------------------------------


def control_routes(emu: Emulator) -> list[BaseRoute]:
    """All `/_emulator` routes (mounted by `create_app`)."""

    async def health(request: Request) -> Response:
        """Liveness, version, the vendors served and the clock mode."""
        vendors = [{"slug": p.slug, "title": p.title, "base_paths": list(p.base_paths)} for p in emu.plugins.values()]
        return JSONResponse(
            {
                "status": "ok",
                "version": __version__,
                "clock": "virtual" if emu.clock.virtual else "system",
                "now": emu.clock.now(),
                "vendors": vendors,
            }
        )

    @guarded
    async def reset(request: Request) -> Response:
        """Query `vendor`, `tenant` (both optional): reset the matching tenants, or everything."""
        vendor = request.query_params.get("vendor") or None
        tenant = request.query_params.get("tenant") or None
        if vendor is not None and vendor not in emu.plugins:
            return error(404, "unknown_vendor", f"no vendor {vendor!r}")
        dropped = emu.reset(vendor, tenant)
        return JSONResponse({"reset": [{"vendor": v, "tenant": t} for v, t in dropped]})

    async def get_state(request: Request) -> Response:
        """The whole state (tenants, id counters, pending jobs and deliveries) as a JSON snapshot."""
        return JSONResponse(emu.snapshot())

    @guarded
    async def put_state(request: Request) -> Response:
        """Body: a snapshot from `GET /state`. Replaces the whole state."""
        data = Snapshot.model_validate(await json_body(request)).model_dump()
        try:
            emu.restore(data)
        except (KeyError, TypeError, ValidationError) as exc:
            return error(400, "invalid_snapshot", f"the snapshot cannot be restored: {exc}")
        return JSONResponse({"restored": True, "tenants": len(emu.store.tenants())})

    def clock_out() -> dict[str, Any]:
        now = emu.clock.now()
        return {
            "mode": "virtual" if emu.clock.virtual else "system",
            "now": now,
            "iso": iso(now, millis=True),
            "pending_timers": len(emu.scheduler.pending()),
            "next_due": emu.scheduler.next_due(),
            "busy": emu.scheduler.busy,
        }

    async def get_clock(request: Request) -> Response:
        """The clock's mode and time, pending timers and whether background work is running."""
        return JSONResponse(clock_out())

    @guarded
    async def advance(request: Request) -> Response:
        """Body `{"seconds": N}` (or query `seconds`): move the virtual clock, running due timers."""
        if "seconds" in request.query_params:
            body = AdvanceIn(seconds=q_float(request, "seconds", 0, 0, 10 * 365 * 86400))
        else:
            body = AdvanceIn.model_validate(await json_body(request))
        if not emu.clock.virtual:
            return error(409, "system_clock", "the clock is the system clock; start with --clock virtual to advance it")
        try:
            result = await emu.scheduler.advance(body.seconds)
        except SchedulerRunaway as exc:
            return error(409, "runaway", str(exc))
        return JSONResponse({"now": result.now, "iso": iso(result.now, millis=True), "timers_run": result.timers_run})

    @guarded
    async def run_until_idle(request: Request) -> Response:
        """Optional body `{"max_steps": N}`: run timers until nothing is scheduled or running."""
        body = IdleIn.model_validate(await json_body(request, optional=True))
        if not emu.clock.virtual:
            return error(409, "system_clock", "run-until-idle needs the virtual clock (start with --clock virtual)")
        try:
            result = await emu.scheduler.run_until_idle(max_steps=body.max_steps)
        except SchedulerRunaway as exc:
            return error(409, "runaway", str(exc))
        return JSONResponse({"now": result.now, "iso": iso(result.now, millis=True), "timers_run": result.timers_run})

    @guarded
    async def requests_(request: Request) -> Response:
        """Query `vendor`, `tenant`, `method`, `path` (prefix), `status`, `limit` (default 100, 0 = all)."""
        if emu.journal is None:
            return JSONResponse({"requests": []})
        p = request.query_params
        entries = emu.journal.query(
            vendor=p.get("vendor") or None,
            tenant=p.get("tenant") or None,
            method=p.get("method") or None,
            path=p.get("path") or None,
            status=q_int(request, "status", None, 100, 599),
            limit=q_int(request, "limit", 100, 0, 1_000_000) or 0,
        )
        return JSONResponse({"requests": [e.to_json() for e in entries]})

    @guarded
    async def deliveries(request: Request) -> Response:
        """Query `vendor`, `tenant`, `event`, `subject`, `status`, `event_id` filter; `wait` (seconds, max 60)
        long-polls until `count` (default 1) matching deliveries have finished (or `settled=false`: exist);
        `body=false` leaves bodies out."""
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
        return JSONResponse({"deliveries": [d.to_json(with_body=with_body) for d in found]})

    async def delivery(request: Request) -> Response:
        """One delivery with all its attempts."""
        d = emu.dispatcher.get(request.path_params["delivery_id"])
        if d is None:
            return error(404, "unknown_delivery", f"no delivery {request.path_params['delivery_id']!r}")
        return JSONResponse(d.to_json())

    async def redeliver(request: Request) -> Response:
        """Send a delivery again (a new delivery, same event id and body)."""
        d = emu.dispatcher.redeliver(request.path_params["delivery_id"])
        if d is None:
            return error(404, "unknown_delivery", f"no delivery {request.path_params['delivery_id']!r}")
        return JSONResponse(d.to_json(), status_code=202)

    async def get_chaos(request: Request) -> Response:
        """The delivery faults in force."""
        return JSONResponse(emu.dispatcher.chaos.model_dump())

    @guarded
    async def put_chaos(request: Request) -> Response:
        """Body: a ChaosConfig (all fields optional; `{}` turns chaos off)."""
        chaos = ChaosConfig.model_validate(await json_body(request))
        emu.dispatcher.set_chaos(chaos)
        return JSONResponse(chaos.model_dump())

    async def tenants(request: Request) -> Response:
        """Every (vendor, tenant) that has state."""
        return JSONResponse({"tenants": [{"vendor": v, "tenant": t} for v, t in emu.store.tenants()]})

    @guarded
    async def provision(request: Request) -> Response:
        """Body `{"tenant": "...", "vendors": [...]}`: create the tenant and return each vendor's credentials."""
        body = TenantIn.model_validate(await json_body(request))
        slugs = body.vendors if body.vendors is not None else list(emu.plugins)
        unknown = [s for s in slugs if s not in emu.plugins]
        if unknown:
            return error(404, "unknown_vendor", f"no vendor {unknown[0]!r}")
        creds: dict[str, dict[str, Any]] = {}
        for slug in slugs:
            plugin = emu.plugins[slug]
            if plugin.provision is not None:
                creds[slug] = await plugin.provision(emu, body.tenant)
            else:
                async with emu.store.tenant(slug, body.tenant):
                    pass
                creds[slug] = {}
        return JSONResponse({"tenant": body.tenant, "credentials": creds}, status_code=201)

    @guarded
    async def events(request: Request) -> Response:
        """Server-sent events of domain events. Query `vendor`, `tenant` filter; `limit` ends the stream
        after that many events and `timeout` after that many idle seconds (both optional)."""
        vendor = request.query_params.get("vendor") or None
        tenant = request.query_params.get("tenant") or None
        limit = q_int(request, "limit", None, 1, 1_000_000)
        idle = q_float(request, "timeout", 0.0, 0.0, 3600.0)
        queue = emu.bus.listen()

        async def stream() -> AsyncIterator[bytes]:
            sent = 0
            try:
                yield b": cxemu event stream\n\n"
                while limit is None or sent < limit:
                    try:
                        ev = await (asyncio.wait_for(queue.get(), idle) if idle else queue.get())
                    except TimeoutError:
                        return
                    if (vendor and ev.vendor != vendor) or (tenant and ev.tenant != tenant):
                        continue
                    sent += 1
                    data = json.dumps(ev.to_json(), separators=(",", ":"))
                    yield f"event: {ev.kind}\ndata: {data}\n\n".encode()
            finally:
                emu.bus.unlisten(queue)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"cache-control": "no-cache"})

    async def scenarios(request: Request) -> Response:
        """Every scenario loaded into this server, with its progress."""
        from emulator.scenarios.service import manager_for

        runs = manager_for(emu).runs.values()
        return JSONResponse({"scenarios": [run.result.to_json() for run in runs]})

    @guarded
    async def load_scenario(request: Request) -> Response:
        """Body: a scenario file (YAML, or JSON of the same structure). Query `tenant`, `webhook_url` override
        the file's tenant and the target of its webhooks. Sets up its world and actors, then runs its steps in
        the background; 201 with its id."""
        from emulator.scenarios.errors import LoadError, ScenarioError
        from emulator.scenarios.loader import load_text
        from emulator.scenarios.service import manager_for

        tenant = request.query_params.get("tenant") or None
        if tenant is not None and not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", tenant):
            raise ValueError("tenant: letters, digits, `.`, `_` and `-` only (at most 64)")
        hook = request.query_params.get("webhook_url") or None
        if hook is not None and not hook.startswith(("http://", "https://")):
            raise ValueError("webhook_url: must be an http:// or https:// URL")
        raw = await request.body()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("the body must be UTF-8 text (YAML or JSON)") from None
        if not text.strip():
            raise ValueError("the body must be a scenario file (YAML or JSON)")
        source = request.query_params.get("source") or "request body"
        try:
            loaded = load_text(text, source, emu.plugins)
        except LoadError as exc:
            status = 404 if exc.problems and exc.problems[0].code == "unknown_vendor" else 400
            return error(status, exc.problems[0].code if exc.problems else "invalid_scenario", str(exc))
        try:
            run = await manager_for(emu).start(loaded, request.app, tenant=tenant, webhook_url=hook)
        except ScenarioError as exc:
            return error(400, "invalid_scenario", str(exc))
        return JSONResponse(run.result.to_json(), status_code=201)

    @guarded
    async def scenario(request: Request) -> Response:
        """One scenario's progress: status, each step's result (with near misses), actor firings and errors.
        Query `wait` (seconds, max 60) long-polls until its steps have finished."""
        from emulator.scenarios.service import manager_for

        wait = q_float(request, "wait", 0.0, 0.0, MAX_WAIT)
        run = manager_for(emu).get(request.path_params["scenario_id"])
        if run is None:
            return error(404, "unknown_scenario", f"no scenario {request.path_params['scenario_id']!r}")
        if wait > 0:
            await run.wait(wait)
        return JSONResponse(run.result.to_json())

    async def unload_scenario(request: Request) -> Response:
        """Unload a scenario: its actors stop and its pending actions are cancelled (its tenant stays)."""
        from emulator.scenarios.service import manager_for

        run = await manager_for(emu).unload(request.path_params["scenario_id"])
        if run is None:
            return error(404, "unknown_scenario", f"no scenario {request.path_params['scenario_id']!r}")
        return JSONResponse(run.result.to_json())

    async def openapi(request: Request) -> Response:
        """This control plane's OpenAPI document."""
        return JSONResponse(control_contract())

    async def vendor_contract(request: Request) -> Response:
        """A vendor's OpenAPI document."""
        plugin = emu.plugins.get(request.path_params["slug"])
        if plugin is None or plugin.contract is None:
            return error(404, "unknown_vendor", f"no contract for {request.path_params['slug']!r}")
        return JSONResponse(plugin.contract())

    routes: list[BaseRoute] = [
        Route("/health", health, methods=["GET"]),
        Route("/reset", reset, methods=["POST"]),
        route("/state", {"GET": get_state, "POST": put_state}),
        Route("/clock", get_clock, methods=["GET"]),
        Route("/clock/advance", advance, methods=["POST"]),
        Route("/clock/run-until-idle", run_until_idle, methods=["POST"]),
        Route("/requests", requests_, methods=["GET"]),
        Route("/deliveries", deliveries, methods=["GET"]),
        Route("/deliveries/{delivery_id}", delivery, methods=["GET"]),
        Route("/deliveries/{delivery_id}/redeliver", redeliver, methods=["POST"]),
        route("/chaos", {"GET": get_chaos, "PUT": put_chaos}),
        route("/tenants", {"GET": tenants, "POST": provision}),
        Route("/events", events, methods=["GET"]),
        route("/scenarios", {"GET": scenarios, "POST": load_scenario}),
        route("/scenarios/{scenario_id}", {"GET": scenario, "DELETE": unload_scenario}),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/contracts/{slug}", vendor_contract, methods=["GET"]),
    ]
    for plugin in emu.plugins.values():
        if plugin.control_routes is not None:
            routes.append(Mount(f"/vendors/{plugin.slug}", routes=plugin.control_routes(emu)))
    return routes


# -- contract ---------------------------------------------------------------------------------------------

_ERR = {
    400: Reply("bad input", ErrorOut),
    404: Reply("not found", ErrorOut),
    409: Reply("not possible in this mode", ErrorOut),
}


def _q(name: str, description: str, schema: dict[str, Any] | None = None) -> Param:
    return Param(name, "query", schema or {"type": "string"}, description=description)


def control_contract() -> dict[str, Any]:
    """The control plane's OpenAPI 3.1 document (`contracts/control-plane.openapi.yaml`)."""
    tag = ["control"]
    delivery_id = Param("delivery_id", "path", required=True, description="a delivery id from the log")
    ops = [
        Operation(
            "GET", "/_emulator/health", "health", "Liveness and what is served", {200: Reply("ok", HealthOut)}, tag
        ),
        Operation(
            "POST",
            "/_emulator/reset",
            "reset",
            "Reset tenants (all when no filter)",
            {200: Reply("what was reset", ResetOut), 404: _ERR[404]},
            tag,
            params=[_q("vendor", "vendor slug"), _q("tenant", "tenant id")],
        ),
        Operation(
            "GET", "/_emulator/state", "getState", "Snapshot of all state", {200: Reply("snapshot", Snapshot)}, tag
        ),
        Operation(
            "POST",
            "/_emulator/state",
            "restoreState",
            "Restore a snapshot",
            {200: Reply("restored", RestoredOut), 400: _ERR[400]},
            tag,
            body=Body(Snapshot),
        ),
        Operation("GET", "/_emulator/clock", "getClock", "Read the clock", {200: Reply("clock", ClockOut)}, tag),
        Operation(
            "POST",
            "/_emulator/clock/advance",
            "advanceClock",
            "Advance the virtual clock",
            {200: Reply("advanced", ClockStepOut), 400: _ERR[400], 409: _ERR[409]},
            tag,
            body=Body(AdvanceIn),
        ),
        Operation(
            "POST",
            "/_emulator/clock/run-until-idle",
            "runUntilIdle",
            "Run timers until idle",
            {200: Reply("idle", ClockStepOut), 400: _ERR[400], 409: _ERR[409]},
            tag,
            body=Body(IdleIn, required=False),
        ),
        Operation(
            "GET",
            "/_emulator/requests",
            "listRequests",
            "The inbound request journal",
            {200: Reply("journal", RequestsOut), 400: _ERR[400]},
            tag,
            params=[
                _q("vendor", "vendor slug"),
                _q("tenant", "tenant id"),
                _q("method", "HTTP method"),
                _q("path", "path prefix"),
                _q("status", "status code", {"type": "integer", "minimum": 100, "maximum": 599}),
                _q("limit", "newest N (0 = all)", {"type": "integer", "minimum": 0, "maximum": 1_000_000}),
            ],
        ),
        Operation(
            "GET",
            "/_emulator/deliveries",
            "listDeliveries",
            "The webhook delivery log (long-poll with `wait`)",
            {200: Reply("deliveries", DeliveriesOut), 400: _ERR[400]},
            tag,
            params=[
                _q("vendor", "vendor slug"),
                _q("tenant", "tenant id"),
                _q("event", "event type"),
                _q("subject", "ordering key (conversation, chat, call id)"),
                _q("status", "delivery status", {"type": "string", "enum": ["pending", "delivered", "failed"]}),
                _q("event_id", "event id"),
                _q(
                    "wait", "seconds to wait for `count` matches", {"type": "number", "minimum": 0, "maximum": MAX_WAIT}
                ),
                _q("count", "matches to wait for", {"type": "integer", "minimum": 1, "maximum": 100_000}),
                _q("settled", "wait until matches are no longer pending", {"type": "boolean"}),
                _q("body", "include bodies", {"type": "boolean"}),
            ],
        ),
        Operation(
            "GET",
            "/_emulator/deliveries/{delivery_id}",
            "getDelivery",
            "One delivery and its attempts",
            {200: Reply("delivery", DeliveryOut), 404: _ERR[404]},
            tag,
            params=[delivery_id],
        ),
        Operation(
            "POST",
            "/_emulator/deliveries/{delivery_id}/redeliver",
            "redeliver",
            "Send a delivery again",
            {202: Reply("queued", DeliveryOut), 404: _ERR[404]},
            tag,
            params=[delivery_id],
        ),
        Operation(
            "GET", "/_emulator/chaos", "getChaos", "Delivery faults in force", {200: Reply("chaos", ChaosConfig)}, tag
        ),
        Operation(
            "PUT",
            "/_emulator/chaos",
            "setChaos",
            "Set delivery faults",
            {200: Reply("chaos", ChaosConfig), 400: _ERR[400]},
            tag,
            body=Body(ChaosConfig),
        ),
        Operation(
            "GET", "/_emulator/tenants", "listTenants", "Tenants with state", {200: Reply("tenants", TenantsOut)}, tag
        ),
        Operation(
            "POST",
            "/_emulator/tenants",
            "provisionTenant",
            "Create a tenant in every vendor and return its credentials",
            {201: Reply("provisioned", TenantOut), 400: _ERR[400], 404: _ERR[404]},
            tag,
            body=Body(TenantIn),
        ),
        Operation(
            "GET",
            "/_emulator/events",
            "streamEvents",
            "Server-sent stream of domain events",
            {
                200: Reply("event stream", media_type="text/event-stream", schema={"type": "string"}),
                400: _ERR[400],
            },
            tag,
            params=[
                _q("vendor", "vendor slug"),
                _q("tenant", "tenant id"),
                _q("limit", "end after N events", {"type": "integer", "minimum": 1, "maximum": 1_000_000}),
                _q("timeout", "end after N idle seconds", {"type": "number", "minimum": 0, "maximum": 3600}),
            ],
        ),
    ]
    scenario_id = Param("scenario_id", "path", required=True, description="a scenario id from POST /scenarios")
    ops += [
        Operation(
            "GET",
            "/_emulator/scenarios",
            "listScenarios",
            "Scenarios loaded into this server",
            {200: Reply("scenarios", ScenariosOut)},
            tag,
        ),
        Operation(
            "POST",
            "/_emulator/scenarios",
            "loadScenario",
            "Load a scenario file: set up its world and actors, run its steps in the background",
            {
                201: Reply("loaded", ScenarioOut),
                400: Reply("not a valid scenario (file:line: step: problem), or its setup failed", ErrorOut),
                404: Reply("the vendor is not served here or has no scenario support", ErrorOut),
            },
            tag,
            params=[
                _q(
                    "tenant",
                    "run it in this tenant instead of the file's",
                    {"type": "string", "pattern": "^[A-Za-z0-9._-]{0,64}$"},
                ),
                _q(
                    "webhook_url",
                    "send its tenant's webhooks here (default: --webhook-url, else a built-in receiver)",
                    {"type": "string", "pattern": "^(https?://.*)?$"},
                ),
                _q("source", "what to call the file in reports (default `request body`)"),
            ],
            body=Body(ScenarioIn),
        ),
        Operation(
            "GET",
            "/_emulator/scenarios/{scenario_id}",
            "getScenario",
            "A scenario's progress and per-step results (long-poll with `wait`)",
            {200: Reply("scenario", ScenarioOut), 400: _ERR[400], 404: _ERR[404]},
            tag,
            params=[
                scenario_id,
                _q(
                    "wait",
                    "seconds to wait for its steps to finish",
                    {"type": "number", "minimum": 0, "maximum": MAX_WAIT},
                ),
            ],
        ),
        Operation(
            "DELETE",
            "/_emulator/scenarios/{scenario_id}",
            "unloadScenario",
            "Unload a scenario (its actors stop)",
            {200: Reply("unloaded", ScenarioOut), 404: _ERR[404]},
            tag,
            params=[scenario_id],
        ),
    ]
    return build_openapi(
        title="cxemu control plane",
        version=__version__,
        description="See, wait for, steer and reset what the emulator did. Served under /_emulator.",
        operations=ops,
    )
