"""The control plane in a fleet of workers (`core.fleet`): which tenant a control request is about, sending it to
the tenant's owner, and fanning fleet-wide requests out to every live worker (answers merged). Imports no Redis
client (the app imports it on every path)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulator.core.store import Misrouted
from emulator.core.web import error

if TYPE_CHECKING:
    from emulator.core.fleet import Fleet

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


FANNED.update(
    {
        ("POST", "/_emulator/reset"): concat("reset", key=lambda r: (r.get("vendor", ""), r.get("tenant", ""))),
        ("POST", "/_emulator/clock/advance"): _steps,
        ("POST", "/_emulator/clock/run-until-idle"): _steps,
        ("GET", "/_emulator/requests"): concat("requests", key=lambda r: r.get("at", 0)),
        ("GET", "/_emulator/deliveries"): concat("deliveries", key=lambda d: d.get("created_at", 0)),
        ("GET", "/_emulator/tenants"): concat("tenants", key=lambda r: (r.get("vendor", ""), r.get("tenant", ""))),
    }
)

_LOCAL = ("/_emulator/events", "/_emulator/ui", "/_emulator/sink", "/_emulator/health", "/_emulator/openapi.json")
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
        merge = FANNED.get((scope["method"], scope["path"]))
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
