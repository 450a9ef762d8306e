"""The built-in webhook sink: where a webhook goes when cxemu picks its target, so every delivery can be seen.

- Targets: `default_target(emu, vendor, tenant)` is `--webhook-url` when set, else this server's own
  `/_emulator/sink/<vendor>/<tenant>`. A vendor calls it only where it picks a target itself (8x8's default
  webhook `1`, CM.com's status, MO and bot webhooks); a URL set through a vendor's API or config stays.
- Base URL: the sink is `http://<host>:<port>` of this server. `cxemu serve` (and the pytest plugin's server)
  call `listening(emu, host, port)` once the socket is bound (port 0: the port it got; a wildcard host
  `0.0.0.0`/`::` is reached at the loopback address), and deliveries to the sink are then real HTTP requests
  over loopback. Until then (an app run in-process, e.g. over httpx's ASGI transport, or a bare `Emulator`)
  the base is the address the settings name (`http://127.0.0.1:<port>`), no socket listens there, and the
  dispatcher hands the sink's URLs to `Sink.receive` itself, the same function the HTTP route calls.
  Either way the URL depends only on the settings (and, for port 0, the bound port): the same seed and
  settings give byte-identical REST and webhook bodies.
- Records: every request under `/_emulator/sink/...` (method, path, query, headers, the first
  `BODY_BYTES` of the body, its size, the time of its tenant's timeline), the newest `settings.sink_size` of them.
  `POST /_emulator/reset?vendor=&tenant=` forgets the matching tenants' records too (all of them, those
  outside any vendor's path included, when no filter is given).
- Allow-list: the sink's URLs are exempt from `webhook_allow_hosts` and the private-target guard
  (`core.outbound`; the dispatcher's `local` prefixes). The list keeps webhooks from reaching other hosts; a
  URL under the sink's prefix names this server's own host and port, so whatever its path, the request lands
  here.

| method and path | what it does |
|---|---|
| `POST`/`PUT`/`PATCH /sink/{path}` | receive: record the request, answer 200 `{"received": id}` |
| `GET /sink`, `GET /sink/{path}` | what was received (under that path), newest first [1] |
| `DELETE /sink`, `DELETE /sink/{path}` | forget what was received (under that path) |
| `GET /sink-requests/{id}` | one received request |

[1] filters `vendor`, `tenant`, `method`, `path` (prefix), `limit` (default 100), `body` (false: no bodies);
an unknown or bad filter is 400.

Each route is declared once on `API` (`core.api`, bound to the `Sink`): `routes(emu)` serves them under the
`/_emulator` mount and `app.control_contract` puts them in the control plane's contract (tag `sink`).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from emulator import __version__
from emulator.core.api import Api
from emulator.core.clock import Clock, iso
from emulator.core.contracts import Body, Param, Reply
from emulator.core.httpclient import Answer
from emulator.core.web import ErrorOut, error, parse_json, q_bool, q_int, reply

if TYPE_CHECKING:  # the emulator owns its sink (`Emulator.sink`), so only its type is named here
    from emulator.core.runtime import Emulator

PREFIX = "/_emulator/sink"
BODY_BYTES = 64 * 1024
"""Bytes of a received body kept (the size of the whole body is recorded too)."""
DEFAULT_LIMIT = 100
RECEIVE_METHODS = ("POST", "PUT", "PATCH")
FILTERS = frozenset({"vendor", "tenant", "method", "path", "limit", "body"})

# -- the store --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SinkRequest:
    """One request the sink received."""

    id: str
    at: float
    method: str
    path: str
    query: str
    vendor: str | None
    tenant: str | None
    headers: dict[str, str]
    body: bytes
    size: int

    def to_json(self, *, with_body: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "at": self.at,
            "iso": iso(self.at, millis=True),
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "vendor": self.vendor,
            "tenant": self.tenant,
            "headers": self.headers,
            "size": self.size,
            "truncated": self.size > len(self.body),
        }
        if with_body:
            out["body"] = self.payload()
        return out

    def payload(self) -> Any:
        """The body as JSON when it is JSON (and whole), else as text."""
        if self.size == len(self.body):
            try:
                return parse_json(self.body)
            except ValueError:
                pass
        return self.body.decode(errors="replace")


@dataclass(frozen=True)
class SinkFilter:
    vendor: str | None = None
    tenant: str | None = None
    method: str | None = None
    path: str | None = None
    """Absolute path prefix (`/_emulator/sink/...`)."""

    def __call__(self, r: SinkRequest) -> bool:
        return (
            (self.vendor is None or r.vendor == self.vendor)
            and (self.tenant is None or r.tenant == self.tenant)
            and (self.method is None or r.method == self.method)
            and (self.path is None or r.path == self.path or r.path.startswith(self.path.rstrip("/") + "/"))
        )


class Sink:
    """The received requests of one server, and the URL it is reached at; see the module docstring."""

    def __init__(
        self,
        clock: Clock,
        *,
        size: int,
        base_url: str,
        vendors: Iterable[str],
        now_of: Callable[[str | None], float] | None = None,
    ) -> None:
        self.clock = clock
        self.now_of = now_of or (lambda tenant: clock.now())
        """The time of the tenant a request is for (its own timeline in a server, `Scheduler.now`)."""
        self.base_url = base_url
        self.listening = False
        self.vendors = tuple(vendors)
        """The vendor slugs, in the server's order (a path's first segment names one of them)."""
        self.size = size
        self._items: deque[SinkRequest] = deque(maxlen=size)
        self._seq = 0

    def url_for(self, vendor: str, tenant: str) -> str:
        return f"{self.base_url}{PREFIX}/{quote(vendor, safe='')}/{quote(tenant, safe='')}"

    def receive(
        self, method: str, raw_path: str, query: str, headers: Mapping[str, str], body: bytes, size: int
    ) -> str:
        """Record one request (`raw_path` still percent-encoded, `body` already cut to `BODY_BYTES`)."""
        self._seq += 1
        segments = [unquote(s) for s in raw_path[len(PREFIX) :].split("/")[1:]]
        vendor = segments[0] if segments and segments[0] in self.vendors else None
        tenant = segments[1] if vendor is not None and len(segments) > 1 and segments[1] else None
        item = SinkRequest(
            id=f"snk_{self._seq:07d}",
            at=self.now_of(tenant),
            method=method,
            path=unquote(raw_path),
            query=query,
            vendor=vendor,
            tenant=tenant,
            headers={k.lower(): v for k, v in headers.items()},
            body=body[:BODY_BYTES],
            size=size,
        )
        self._items.append(item)
        return item.id

    def query(self, match: SinkFilter, limit: int = DEFAULT_LIMIT) -> tuple[list[SinkRequest], int]:
        """The newest `limit` matching requests, newest first, and how many matched in all."""
        found = [r for r in reversed(self._items) if match(r)]
        return found[:limit], len(found)

    def get(self, request_id: str) -> SinkRequest | None:
        return next((r for r in self._items if r.id == request_id), None)

    def clear(self, match: SinkFilter) -> int:
        kept = [r for r in self._items if not match(r)]
        cleared = len(self._items) - len(kept)
        self._items = deque(kept, maxlen=self.size)
        return cleared

    def reset(self, vendor: str | None, tenant: str | None) -> None:
        """Forget what the matching tenants received (`POST /_emulator/reset`; None matches every one)."""
        if vendor is None and tenant is None:
            self._items.clear()
        else:
            self.clear(SinkFilter(vendor=vendor, tenant=tenant))

    async def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
        """A delivery to the sink while no socket listens: received here, as the HTTP route would."""
        path, _, query = url[len(self.base_url) :].partition("?")
        sent = {"host": self.base_url.split("://", 1)[1], "content-length": str(len(body)), **headers}
        received = self.receive("POST", path, query, sent, body, len(body))
        return Answer(
            status=200, excerpt=json.dumps({"received": received}, separators=(",", ":")).encode(), keep_alive=True
        )


def _loopback(host: str) -> str:
    """Where a client on this machine reaches a server bound to `host`."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def loopback_url(host: str, port: int) -> str:
    """The base URL a client on this machine uses for a server bound to `host:port`."""
    return f"http://{_loopback(host)}:{port}"


def listening(emu: Emulator, host: str, port: int) -> str:
    """Tell the sink the server now listens on `host:port`: its URLs use that address and deliveries to it
    are real HTTP requests. Call before any tenant exists (tenants keep the URL they were made with).
    Returns the sink's base URL."""
    sink = emu.sink
    emu.dispatcher.forget_local(f"{sink.base_url}{PREFIX}/")
    sink.base_url = loopback_url(host, port)
    emu.dispatcher.local(f"{sink.base_url}{PREFIX}/")
    sink.listening = True
    return sink.base_url


def default_target(emu: Emulator, vendor: str, tenant: str) -> str:
    """Where a vendor sends webhooks when the user named no target: `--webhook-url`, else the sink."""
    return emu.settings.webhook_url or emu.sink.url_for(vendor, tenant)


# -- routes -----------------------------------------------------------------------------------------------

API: Api[Sink] = Api("sink", __version__, "", mount="/_emulator", tags=["sink"])


class SinkRequestOut(BaseModel):
    id: str
    at: float = Field(description="clock time it was received (epoch seconds)")
    iso: str
    method: str
    path: str
    query: str
    vendor: str | None = Field(description="the first path segment under /_emulator/sink, when it is a vendor")
    tenant: str | None = Field(description="the second path segment, when the first is a vendor")
    headers: dict[str, str]
    size: int = Field(description="bytes in the whole body")
    truncated: bool = Field(description=f"the body kept is its first {BODY_BYTES} bytes")
    body: Any = Field(None, description="JSON when the body is JSON, else text")


class SinkRequestsOut(BaseModel):
    requests: list[SinkRequestOut] = Field(description="newest first")
    total: int = Field(description="how many matched (before `limit`)")


class SinkReceivedOut(BaseModel):
    received: str = Field(description="the id of the recorded request")


class SinkClearedOut(BaseModel):
    cleared: int


ANY_CASE = "^(?:" + "|".join("".join(f"[{c}{c.lower()}]" for c in m) for m in RECEIVE_METHODS) + ")?$"
"""The `method` filter's values: a receiving method in any case (empty: no filter)."""


def _q(name: str, description: str, schema: dict[str, Any] | None = None) -> Param:
    return Param(name, "query", schema or {"type": "string"}, description=description)


FILTER_PARAMS = (
    _q("vendor", "vendor slug (the first path segment)"),
    _q("tenant", "tenant (the second path segment)"),
    _q("method", f"HTTP method: {', '.join(RECEIVE_METHODS)} (any case)", {"type": "string", "pattern": ANY_CASE}),
    _q("path", "path prefix (absolute, or relative to /_emulator/sink)"),
    _q("limit", "newest N", {"type": "integer", "minimum": 1, "maximum": 100_000}),
    _q("body", "include bodies", {"type": "boolean"}),
)
PATH = Param(
    "path",
    "path",
    {"type": "string", "pattern": "^[^\\n]*$"},
    required=True,
    description="any path under /_emulator/sink, e.g. `cmcom/acme` (no line break: that is a 404)",
)
BAD = Reply("bad filter", ErrorOut)
NO_ROUTE = {404: Reply("the path has a line break (no route takes it)", ErrorOut)}
LISTED = {200: Reply("received, newest first", SinkRequestsOut), 400: BAD}
CLEARED = {200: Reply("how many were forgotten", SinkClearedOut), 400: BAD}


def _filter(sink: Sink, request: Request, path: str | None) -> tuple[SinkFilter, int, bool]:
    """The query's filters; raises ValueError naming the first bad one."""
    p = request.query_params
    unknown = sorted(set(p) - FILTERS)
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown filter (use {', '.join(sorted(FILTERS))})")
    vendor = p.get("vendor") or None
    if vendor is not None and vendor not in sink.vendors:
        raise ValueError(f"vendor: no vendor {vendor!r} (one of {', '.join(sink.vendors)})")
    method = (p.get("method") or "").upper() or None
    if method is not None and method not in RECEIVE_METHODS:
        raise ValueError(f"method: must be one of {', '.join(RECEIVE_METHODS)}")
    prefix = p.get("path") or None
    if prefix is not None and not prefix.startswith("/"):
        prefix = f"{PREFIX}/{prefix}"
    if path is not None:
        if prefix is not None and not prefix.startswith(path):
            raise ValueError(f"path: {prefix!r} is not under {path!r}")
        prefix = prefix or path
    limit = q_int(request, "limit", min(DEFAULT_LIMIT, sink.size), 1, sink.size) or DEFAULT_LIMIT
    with_body = q_bool(request, "body", True)
    match = SinkFilter(vendor=vendor, tenant=p.get("tenant") or None, method=method, path=prefix)
    return match, limit, with_body


def _raw_path(request: Request) -> str:
    raw: bytes = request.scope.get("raw_path", b"")
    return raw.decode("latin-1") or request.url.path


def _under(request: Request) -> str:
    """The absolute path a `/sink/{path}` request names (the listing's prefix)."""
    return unquote(_raw_path(request)).rstrip("/")


async def _list(sink: Sink, request: Request, path: str | None) -> Response:
    try:
        match, limit, with_body = _filter(sink, request, path)
    except ValueError as exc:
        return error(400, "invalid_request", str(exc))
    found, total = sink.query(match, limit)
    return JSONResponse({"requests": [r.to_json(with_body=with_body) for r in found], "total": total})


async def _clear(sink: Sink, request: Request, path: str | None) -> Response:
    try:
        match, _, _ = _filter(sink, request, path)
    except ValueError as exc:
        return error(400, "invalid_request", str(exc))
    return reply(SinkClearedOut(cleared=sink.clear(match)))


@API.op("GET", "/sink", "listSinkRequests", "What the built-in webhook sink received", LISTED, params=FILTER_PARAMS)
async def list_all(sink: Sink, request: Request) -> Response:
    """Query `vendor`, `tenant`, `method`, `path` (prefix), `limit`, `body`: what the sink received."""
    return await _list(sink, request, None)


@API.op("DELETE", "/sink", "clearSink", "Forget what the sink received", CLEARED, params=FILTER_PARAMS)
async def clear_all(sink: Sink, request: Request) -> Response:
    """The same filters as the listing: forget the matching requests."""
    return await _clear(sink, request, None)


@API.op(
    "GET",
    "/sink/{path:path}",
    "listSinkRequestsAt",
    "What the sink received under one path",
    {**LISTED, **NO_ROUTE},
    params=[PATH, *FILTER_PARAMS],
)
async def list_at(sink: Sink, request: Request) -> Response:
    """What the sink received under this path (the listing's filters apply too)."""
    return await _list(sink, request, _under(request))


@API.op(
    "DELETE",
    "/sink/{path:path}",
    "clearSinkAt",
    "Forget what the sink received under one path",
    {**CLEARED, **NO_ROUTE},
    params=[PATH, *FILTER_PARAMS],
)
async def clear_at(sink: Sink, request: Request) -> Response:
    """Forget what the sink received under this path."""
    return await _clear(sink, request, _under(request))


async def receive(sink: Sink, request: Request) -> Response:
    """Receive a webhook: record the request (its body cut to `BODY_BYTES`) and answer 200."""
    body, size = bytearray(), 0
    async for chunk in request.stream():
        size += len(chunk)
        if len(body) < BODY_BYTES:
            body += chunk[: BODY_BYTES - len(body)]
    received = sink.receive(request.method, _raw_path(request), request.url.query, request.headers, bytes(body), size)
    return reply(SinkReceivedOut(received=received))


for _method in RECEIVE_METHODS:
    API.op(
        _method,
        "/sink/{path:path}",
        f"sinkReceive{_method.title()}",
        "Receive a webhook: record it and answer 200",
        {200: Reply("recorded", SinkReceivedOut), **NO_ROUTE},
        params=[PATH],
        body=Body(schema={}, required=False),
    )(receive)


@API.op(
    "GET",
    "/sink-requests/{request_id}",
    "getSinkRequest",
    "One request the sink received",
    {200: Reply("received", SinkRequestOut), 404: Reply("no such request", ErrorOut)},
    params=[Param("request_id", "path", required=True, description="an id from the listing")],
)
async def one(sink: Sink, request: Request) -> Response:
    """One received request, with its body."""
    request_id = request.path_params["request_id"]
    found = sink.get(request_id)
    if found is None:
        return error(404, "unknown_sink_request", f"no sink request {request_id!r}")
    return JSONResponse(found.to_json())


def routes(emu: Emulator) -> list[BaseRoute]:
    """The sink's routes, relative to the `/_emulator` mount (the sink is made now, before any delivery)."""
    return API.routes(emu.sink)
