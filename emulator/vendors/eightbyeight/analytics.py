"""8x8 Analytics for Contact Center Real-time Metrics API v5 at its real paths (RT-OAS:
`../shared/reference/8x8-cc-realtime-metrics.oas.json`; 8x8 "CC Realtime Statistics",
developer.8x8.com/analytics/docs/cc-realtime-statistics), values from `metrics.py`.

Facts: every path of RT-OAS under `/analytics/cc/v5/realtime-metrics` (US) and the same under `/eu`, `/au` and
`/ca` (RT-OAS `servers`; served here, declared once); bearer token from `/oauth/v2/token` (`oauth.py`); JSON or
XML by `Accept` (RT-OAS `info.description`); `metrics`, `page`/`size` (queues 100, agents of a queue 10, others
100; size 1..1000 per RT-OAS groups), `summary` (id and name only; filters and metrics ignored), `queue-ids` /
`agent-ids` / `group-ids`, `timezone` (TODAY metrics only), `includeTotals`, `showEnabledAgents`; an
`X-Tenant-Info` header that is not the tenant's id is 400 "Bad request: Invalid value for X-Tenant-Info header."
("CC Realtime Statistics" §2; it is never missing here: one credential is one tenant) [inf for the rest].

Chosen here [inf]: the path parameter RT-OAS calls `id` is `queueId` / `groupId` here, as on the paths below
it (the router takes one name per position); list endpoints answer a JSON array (RT-OAS declares the single
object for them; its own `Multi*Response` schemas are arrays); XML lists are
`<UnmodifiableRandomAccessList><item>...` (RT-OAS `xml` names) and a metric list
`<metrics><metrics><key/><value/></metrics>...`; an unknown metric, a bad number or boolean or time zone is
400; an unknown queue, group or agent in the path is 404 (ids in filters that match nothing are ignored);
every parameter is checked even where `summary` ignores it; `includeTotals` appends an item
`{"id": "total", "name": "Total"}` to the page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from emulator.core.api import bind
from emulator.core.contracts import Param, Reply
from emulator.core.web import JsonResponse
from emulator.vendors.eightbyeight import metrics as mx
from emulator.vendors.eightbyeight import models_companion as mc
from emulator.vendors.eightbyeight.companion import JSON, XML, MetricsFailure, to_xml, wants_xml
from emulator.vendors.eightbyeight.http import Ctx
from emulator.vendors.eightbyeight.oauth import BEARER_SECURITY, bearer_state
from emulator.vendors.eightbyeight.operations import API
from emulator.vendors.eightbyeight.state import Agent, EightByEightState, Queue

PREFIX = "/analytics/cc/v5/realtime-metrics"
REGIONS = ("/eu", "/au", "/ca")
TENANT_INFO = "X-Tenant-Info"
BAD_TENANT_INFO = "Bad request: Invalid value for X-Tenant-Info header."
UNKNOWN_METRIC = "Invalid metric: {metric}"
BAD_NUMBER = "Invalid value for {name}: {value}"
BAD_BOOLEAN = "Invalid boolean value for {name}: {value}"
BAD_ZONE = "Invalid timezone: {value}"
DUPLICATE = "Duplicate values in {name}"
FLAGS = ("summary", "includeTotals", "showEnabledAgents")
LISTS = ("queue-ids", "agent-ids", "group-ids")
GROUPS = "/realtime-metrics/groups"
NOT_FOUND = "{kind} {id} not found"
AGENT_NOT_IN = "Agent {agent} not found in {kind} {id}"
MAX_SIZE = 1000
MAX_PAGE = 2**31 - 1  # RT-OAS: int32
TOTAL = {"id": "total", "name": "Total"}
XML_ITEMS = {"UnmodifiableRandomAccessList": "item", "metrics": "metrics", "assignedAgents": "assignedAgents"}
XML_LIST, XML_ONE = "UnmodifiableRandomAccessList", "MetricsResponse"


@dataclass(frozen=True)
class Query:
    """A request's parsed query, after the token and `X-Tenant-Info`."""

    state: EightByEightState
    clock: mx.Clock
    request: Request

    def fail(self, status: int, message: str) -> MetricsFailure:
        return MetricsFailure(status, message, self.clock.now)

    def ids(self, name: str) -> list[str] | None:
        """A list parameter (repeated, or comma-separated), each value once. The group operations declare their
        id lists `uniqueItems` (RT-OAS): there a value named twice is 400."""
        values = [v.strip() for raw in self.request.query_params.getlist(name) for v in raw.split(",") if v.strip()]
        unique = list(dict.fromkeys(values))
        if len(unique) != len(values) and name in LISTS and GROUPS in self.request.url.path:
            raise self.fail(400, DUPLICATE.format(name=name))
        return unique or None

    def flag(self, name: str) -> bool:
        raw = self.request.query_params.get(name)
        if raw is None or raw == "":
            return False
        if raw.lower() not in ("true", "false"):
            raise self.fail(400, BAD_BOOLEAN.format(name=name, value=raw))
        return raw.lower() == "true"

    def number(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.request.query_params.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise self.fail(400, BAD_NUMBER.format(name=name, value=raw)) from None
        if not low <= value <= high:
            raise self.fail(400, BAD_NUMBER.format(name=name, value=raw))
        return value

    def metrics(self, known: Sequence[str], accepted: frozenset[str] | None = None) -> list[str]:
        wanted = self.ids("metrics")
        if wanted is None:
            return list(known)
        allowed = accepted or frozenset(known)
        for metric in wanted:
            if metric not in allowed:
                raise self.fail(400, UNKNOWN_METRIC.format(metric=metric))
        return wanted

    def page(self, items: list[Any], default_size: int) -> list[Any]:
        page = self.number("page", 0, 0, MAX_PAGE)
        size = self.number("size", default_size, 1, MAX_SIZE)
        return items[page * size : (page + 1) * size]


def _query(ctx: Ctx, request: Request) -> Query:
    state = bearer_state(ctx, request)
    now = ctx.emu.scheduler.now(state.tenant)
    wanted = request.headers.get(TENANT_INFO)
    if wanted is not None and wanted != state.tenant_id:
        raise MetricsFailure(400, BAD_TENANT_INFO, now)
    raw_zone = request.query_params.get("timezone") or "UTC"
    try:
        zone = ZoneInfo(raw_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise MetricsFailure(400, BAD_ZONE.format(value=raw_zone), now) from None
    query = Query(state, mx.Clock.at(now, zone), request)
    for name in FLAGS:  # each is checked whether or not the operation reads it, `summary` or not
        query.flag(name)
    for name in LISTS:
        query.ids(name)
    query.page([], 1)
    return query


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def _items(values: dict[str, float]) -> list[dict[str, Any]]:
    return [{"key": key, "value": _number(value)} for key, value in values.items()]


def _reply(request: Request, body: Any, many: bool) -> Response:
    if wants_xml(request):
        return Response(to_xml(XML_LIST if many else XML_ONE, body, XML_ITEMS), media_type=XML)
    return JsonResponse(body)


Row = tuple[dict[str, Any], dict[str, float]]


def _listing(q: Query, rows: list[Row], default_size: int, totals: bool) -> Response:
    page = q.page(rows, default_size)
    body = [{**head, "metrics": _items(values)} for head, values in page]
    if totals and q.flag("includeTotals"):
        body.append({**TOTAL, "metrics": _items(mx.totals([values for _, values in page]))})
    return _reply(q.request, body, many=True)


def _summary(q: Query, heads: list[dict[str, Any]], default_size: int) -> Response:
    return _reply(q.request, q.page(heads, default_size), many=True)


def _queue(q: Query, queue_id: str) -> Queue:
    queue = q.state.queues.get(queue_id)
    if queue is None:
        raise q.fail(404, NOT_FOUND.format(kind="Queue", id=queue_id))
    return queue


def _queue_row(q: Query, queue: Queue, keys: list[str]) -> Row:
    values = {k: mx.queue_metric(q.state, queue, k, q.clock) for k in keys}
    return {"id": queue.id, "name": queue.name}, values


def _agent_row(q: Query, agent: Agent, queue_id: str | None, keys: list[str]) -> Row:
    values = {k: mx.agent_metric(q.state, agent, queue_id, k, q.clock) for k in keys}
    return {"id": agent.id, "name": agent.name}, values


def _filtered(items: list[Any], wanted: list[str] | None, key: Callable[[Any], str]) -> list[Any]:
    return items if wanted is None else [item for item in items if key(item) in wanted]


# -- groups: an agent's first queue [inf, metrics.py] -----------------------------------------------------


def _group_of(state: EightByEightState, agent: Agent) -> Queue | None:
    return next((state.queues[q] for q in agent.queues if q in state.queues), None)


def _members(state: EightByEightState, group_id: str) -> list[Agent]:
    return [a for a in state.agents.values() if (g := _group_of(state, a)) is not None and g.id == group_id]


def _group(q: Query, group_id: str) -> Queue:
    group = q.state.queues.get(group_id)
    if group is None:
        raise q.fail(404, NOT_FOUND.format(kind="Group", id=group_id))
    return group


def _group_row(q: Query, group: Queue, keys: list[str]) -> Row:
    members = _members(q.state, group.id)
    values = {k: mx.staffing(q.state, members, k, q.clock.now) for k in keys}
    return {"id": group.id, "name": group.name}, values


def _member(q: Query, agents: list[Agent], agent_id: str, kind: str, owner: str) -> Agent:
    agent = next((a for a in agents if a.id == agent_id), None)
    if agent is None:
        raise q.fail(404, AGENT_NOT_IN.format(agent=agent_id, kind=kind, id=owner))
    return agent


# -- declarations ---------------------------------------------------------------------------------------------

_ARRAY = {"type": "array", "items": {"type": "string"}}


def _metrics(names: Iterable[str]) -> Param:
    schema = {"type": "array", "items": {"type": "string", "enum": sorted(names)}}
    return Param("metrics", "query", schema, description="metric names (repeat the parameter); default: all")


Q_METRICS, A_METRICS, G_METRICS = _metrics(mx.QUEUE_KNOWN), _metrics(mx.AGENT_METRICS), _metrics(mx.GROUP_METRICS)
GA_METRICS = _metrics(mx.GROUP_AGENT_METRICS)
PAGE = Param(
    "page", "query", {"type": "integer", "minimum": 0, "maximum": MAX_PAGE, "default": 0}, description="from 0"
)
TIMEZONE = Param("timezone", "query", description="IANA time zone of the TODAY metrics (default UTC) [inf]")
SUMMARY = Param("summary", "query", {"type": "boolean"}, description="only id and name; filters and metrics ignored")
TOTALS = Param("includeTotals", "query", {"type": "boolean"}, description="append a `total` item")
TENANT = Param(TENANT_INFO, "header", description="the tenant id; needed only by multi-tenant customers")
QUEUE_IDS = Param("queue-ids", "query", _ARRAY, description="only these queues")
AGENT_IDS = Param("agent-ids", "query", _ARRAY, description="only these agents")
GROUP_IDS = Param("group-ids", "query", _ARRAY, description="only these groups")
QUEUE_ID = Param("queueId", "path", required=True)
GROUP_ID = Param("groupId", "path", required=True)
AGENT_ID = Param("agentId", "path", required=True)


def _size(default: int) -> Param:
    return Param(
        "size", "query", {"type": "integer", "minimum": 1, "maximum": MAX_SIZE, "default": default},
        description="items per page",
    )  # fmt: skip


def _replies(ok: Reply, *, found: bool = False) -> dict[int, Reply]:
    out = {
        200: ok,
        400: Reply("an unknown metric, bad paging, boolean or time zone, a wrong X-Tenant-Info", mc.MetricsError, JSON),
        401: Reply("no, an unknown or an expired bearer token", mc.GatewayFault, JSON),
    }
    if found:
        out[404] = Reply("no such queue, group or agent", mc.MetricsError, JSON)
    return out


LIST = Reply("a page (JSON array; XML with Accept: application/xml)", mc.MetricsEntityList, JSON)
ONE = Reply("one queue, group or agent (XML with Accept: application/xml)", mc.MetricsEntity, JSON)
SEC: list[dict[str, list[str]]] = [{BEARER_SECURITY: []}]


@API.op(
    "GET", f"{PREFIX}/queues", "rtQueues", "Real-time metrics of the tenant's queues",
    _replies(LIST), tags=("Queues",), security=SEC,
    params=(Q_METRICS, PAGE, QUEUE_IDS, _size(100), SUMMARY, TIMEZONE, TOTALS, TENANT),
)  # fmt: skip
async def queues(ctx: Ctx, request: Request) -> Response:
    q = _query(ctx, request)
    chosen = list(q.state.queues.values())
    keys = q.metrics(mx.QUEUE_METRICS, mx.QUEUE_KNOWN)
    if q.flag("summary"):
        return _summary(q, [{"id": x.id, "name": x.name} for x in chosen], 100)
    chosen = _filtered(chosen, q.ids("queue-ids"), lambda x: x.id)
    return _listing(q, [_queue_row(q, x, keys) for x in chosen], 100, totals=True)


@API.op(
    "GET", f"{PREFIX}/queues/{{queueId}}", "rtQueue", "Real-time metrics of one queue",
    _replies(ONE, found=True), tags=("Queues",), security=SEC, params=(QUEUE_ID, Q_METRICS, TIMEZONE, TENANT),
)  # fmt: skip
async def queue(ctx: Ctx, request: Request) -> Response:
    q = _query(ctx, request)
    head, values = _queue_row(q, _queue(q, request.path_params["queueId"]), q.metrics(mx.QUEUE_METRICS, mx.QUEUE_KNOWN))
    return _reply(request, {**head, "metrics": _items(values)}, many=False)


@API.op(
    "GET", f"{PREFIX}/queues/{{queueId}}/agents", "rtQueueAgents", "Real-time metrics of a queue's agents",
    _replies(LIST, found=True), tags=("Agents",), security=SEC,
    params=(QUEUE_ID, AGENT_IDS, A_METRICS, PAGE, _size(10), SUMMARY, TIMEZONE, TOTALS, TENANT),
)  # fmt: skip
async def queue_agents(ctx: Ctx, request: Request) -> Response:
    q = _query(ctx, request)
    target = _queue(q, request.path_params["queueId"])
    agents = [a for a in q.state.agents.values() if target.id in a.queues]
    keys = q.metrics(mx.AGENT_METRICS)
    if q.flag("summary"):
        return _summary(q, [{"id": a.id, "name": a.name} for a in agents], 10)
    agents = _filtered(agents, q.ids("agent-ids"), lambda a: a.id)
    return _listing(q, [_agent_row(q, a, target.id, keys) for a in agents], 10, totals=True)


@API.op(
    "GET", f"{PREFIX}/queues/{{queueId}}/agents/{{agentId}}", "rtQueueAgent", "Metrics of an agent in a queue",
    _replies(ONE, found=True), tags=("Agents",), security=SEC, params=(QUEUE_ID, AGENT_ID, A_METRICS, TIMEZONE, TENANT),
)  # fmt: skip
async def queue_agent(ctx: Ctx, request: Request) -> Response:
    q = _query(ctx, request)
    target = _queue(q, request.path_params["queueId"])
    agents = [a for a in q.state.agents.values() if target.id in a.queues]
    agent = _member(q, agents, request.path_params["agentId"], "queue", target.id)
    head, values = _agent_row(q, agent, target.id, q.metrics(mx.AGENT_METRICS))
    return _reply(request, {**head, "metrics": _items(values)}, many=False)


@API.op(
    "GET", f"{PREFIX}/groups", "rtGroups", "Real-time metrics of the agent groups",
    _replies(LIST), tags=("Groups",), security=SEC,
    params=(G_METRICS, GROUP_IDS, SUMMARY, TIMEZONE, PAGE, _size(100), TENANT),
)  # fmt: skip
async def groups(ctx: Ctx, request: Request) -> Response:
    q = _query(ctx, request)
    chosen = list(q.state.queues.values())
    keys = q.metrics(mx.GROUP_METRICS)
    if q.flag("summary"):
        return _summary(q, [{"id": g.id, "name": g.name} for g in chosen], 100)
    chosen = _filtered(chosen, q.ids("group-ids"), lambda g: g.id)
    return _listing(q, [_group_row(q, g, keys) for g in chosen], 100, totals=False)


@API.op(
    "GET", f"{PREFIX}/groups/{{groupId}}", "rtGroup", "Real-time metrics of one agent group",
    _replies(ONE, found=True), tags=("Groups",), security=SEC, params=(G_METRICS, GROUP_ID, TIMEZONE, TENANT),
)  # fmt: skip
async def group(ctx: Ctx, request: Request) -> Response:
    q = _query(ctx, request)
    head, values = _group_row(q, _group(q, request.path_params["groupId"]), q.metrics(mx.GROUP_METRICS))
    return _reply(request, {**head, "metrics": _items(values)}, many=False)


@API.op(
    "GET", f"{PREFIX}/groups/{{groupId}}/agents", "rtGroupAgents", "Real-time metrics of a group's agents",
    _replies(LIST, found=True), tags=("Agents",), security=SEC,
    params=(GROUP_ID, AGENT_IDS, SUMMARY, GA_METRICS, TIMEZONE, PAGE, _size(100), TOTALS, TENANT),
)  # fmt: skip
async def group_agents(ctx: Ctx, request: Request) -> Response:
    q = _query(ctx, request)
    members = _members(q.state, _group(q, request.path_params["groupId"]).id)
    keys = q.metrics(mx.GROUP_AGENT_METRICS)
    if q.flag("summary"):
        return _summary(q, [{"id": a.id, "name": a.name} for a in members], 100)
    members = _filtered(members, q.ids("agent-ids"), lambda a: a.id)
    return _listing(q, [_agent_row(q, a, None, keys) for a in members], 100, totals=True)


@API.op(
    "GET", f"{PREFIX}/groups/{{groupId}}/agents/{{agentId}}", "rtGroupAgent", "Metrics of an agent of a group",
    _replies(ONE, found=True), tags=("Agents",), security=SEC,
    params=(GROUP_ID, AGENT_ID, GA_METRICS, TIMEZONE, TENANT),
)  # fmt: skip
async def group_agent(ctx: Ctx, request: Request) -> Response:
    q = _query(ctx, request)
    owner = _group(q, request.path_params["groupId"]).id
    agent = _member(q, _members(q.state, owner), request.path_params["agentId"], "group", owner)
    head, values = _agent_row(q, agent, None, q.metrics(mx.GROUP_AGENT_METRICS))
    return _reply(request, {**head, "metrics": _items(values)}, many=False)


@API.op(
    "GET", f"{PREFIX}/agents-in-queue-groups", "rtAgentsInQueues", "Agents at work in several queues",
    _replies(Reply("queues with their active agents, and those agents", mc.AgentsInQueueGroups, JSON)),
    tags=("Agents",), security=SEC,
    params=(
        QUEUE_IDS, A_METRICS, TIMEZONE, TENANT,
        Param("showEnabledAgents", "query", {"type": "boolean", "default": False},
              description="also list the queues' logged-in agents with no current activity"),
    ),
)  # fmt: skip
async def agents_in_queues(ctx: Ctx, request: Request) -> Response:
    q = _query(ctx, request)
    keys = q.metrics(mx.AGENT_METRICS)
    show_enabled = q.flag("showEnabledAgents")
    chosen = _filtered(list(q.state.queues.values()), q.ids("queue-ids"), lambda x: x.id)
    top: dict[str, dict[str, Any]] = {}
    out_queues = []
    for target in chosen:
        assigned = [a for a in q.state.agents.values() if target.id in a.queues]
        active = [a for a in assigned if any(_in(q.state, c, target.id) for c in a.handling)]
        rows = [_in_queue(q, a, target.id, keys) for a in active]
        out_queues.append({"queueId": target.id, "assignedAgents": [a.id for a in assigned], "agentMetrics": rows})
        for a, row in zip(active, rows, strict=True):
            top.setdefault(a.id, row)
        if show_enabled:
            for a in assigned:
                if a.id not in top and mx.agent_status(q.state, a, q.clock.now) != mx.WORKING_OFFLINE:
                    top[a.id] = _in_queue(q, a, None, keys)
    body = {"agents": list(top.values()), "queues": out_queues}
    if wants_xml(request):
        return Response(to_xml("AgentsInQueueGroupsResponse", body, {**XML_ITEMS, "agents": "item"}), media_type=XML)
    return JsonResponse(body)


def _in(state: EightByEightState, conversation: str, queue_id: str) -> bool:
    conv = state.conversations.get(conversation)
    return conv is not None and conv.queue_id == queue_id


def _in_queue(q: Query, agent: Agent, queue_id: str | None, keys: list[str]) -> dict[str, Any]:
    """RT-OAS AgentsInQueueResponse: metric values as strings; `status.rt` as the status's name."""
    values: dict[str, str] = {}
    for key in keys:
        value = mx.agent_metric(q.state, agent, queue_id, key, q.clock)
        values[key] = mx.STATUS_NAMES.get(int(value), "") if key == "status.rt" else str(_number(value))
    return {"id": agent.id, "name": agent.name, "metrics": values}


@API.op(
    "GET", f"{PREFIX}/agents", "rtAgents", "Real-time metrics of every agent of the tenant",
    _replies(Reply("a page of agents with their group", mc.TenantAgentList, JSON)), tags=("Agents",), security=SEC,
    params=(AGENT_IDS, GROUP_IDS, SUMMARY, A_METRICS, TIMEZONE, PAGE, _size(100), TOTALS, TENANT),
)  # fmt: skip
async def agents(ctx: Ctx, request: Request) -> Response:
    q = _query(ctx, request)
    everyone = list(q.state.agents.values())
    heads = {a.id: _agent_head(q.state, a) for a in everyone}
    keys = q.metrics(mx.AGENT_METRICS)
    if q.flag("summary"):
        return _summary(q, [heads[a.id] for a in everyone], 100)
    everyone = _filtered(everyone, q.ids("agent-ids"), lambda a: a.id)
    everyone = _filtered(everyone, q.ids("group-ids"), lambda a: heads[a.id]["groupId"])
    rows = [(heads[a.id], _agent_row(q, a, None, keys)[1]) for a in everyone]
    return _listing(q, rows, 100, totals=True)


def _agent_head(state: EightByEightState, agent: Agent) -> dict[str, Any]:
    group = _group_of(state, agent)
    return {
        "id": agent.id,
        "name": agent.name,
        "groupId": group.id if group else "",
        "groupName": group.name if group else "",
    }


def regional_routes(ctx: Ctx) -> list[BaseRoute]:
    """The same operations under the EU, APAC and Canada prefixes (RT-OAS `servers`), not declared again."""
    declared = [d for d in API.declared if d.operation.path.startswith(PREFIX)]
    return [
        Route(region + d.relative_path, bind(d.handler, ctx), methods=["GET"]) for region in REGIONS for d in declared
    ]
