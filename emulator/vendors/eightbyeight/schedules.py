"""8x8 Contact Center Tenant Schedule API, and open hours applied to the queues.

Facts ("8x8 Contact Center Tenant Schedule API", support-portal.8x8.com article 9329221d; the older "8x8 Tenant
Provisioning API" page shows the same):
- read-only, HTTP GET; `GET {tenant url}/api/provisioning/schedules` gives every schedule, each with its week
  days and exceptions; one schedule by name under `/api/provisioning/schedules/{schedule-name}` (spaces as %20);
- HTTP Basic: the tenant name as user, the tenant's authentication token as password;
- answers in XML or JSON (never CSV); the XML is `<schedules><schedule><id/><name/><time-zone/>
  <week-days><week-day><day/><properties><status/><start-time/>...` (the example has `<day>0</day>` with
  `<status>-1</status>` and time zone `PST8DT`).
- Integrations also read `/api/provisioning/schedules/{id}/status` (and `.../status.json`) and take
  `{"schedule-status": {"status": 0}}` as open [code: public 8x8 integrations].

Chosen here [inf]: status -1 closed all day, 0 open from start-time to end-time, 1 open all day; day 0 is Sunday;
an exception (a date) replaces its week day; a schedule is found by name or id; the status is 0 open, -1 closed;
the JSON mirrors the XML; JSON unless the path ends in `.xml` or `Accept` asks for XML; errors are
`{"error": {code, message}}` (`companion.ScheduleFailure`).

Applied: a queue may name a schedule (`QueueConfig.schedule`). Outside its hours simulated agents do not pick up
(`actors.py` asks `out_of_hours`): the conversation waits for opening, is rejected, or is transferred to the
treatment queue; the metrics show the queue's agents working offline (`metrics.py`).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response

from emulator.core.contracts import Param, Reply
from emulator.core.web import JsonResponse
from emulator.vendors.eightbyeight import models_companion as mc
from emulator.vendors.eightbyeight.companion import (
    JSON,
    XML,
    ScheduleFailure,
    basic_credentials,
    path_suffix,
    secret_ok,
    to_xml,
    wants_xml,
)
from emulator.vendors.eightbyeight.config import Hours, ScheduleConfig
from emulator.vendors.eightbyeight.http import Ctx
from emulator.vendors.eightbyeight.operations import API
from emulator.vendors.eightbyeight.state import EightByEightState, Queue

PREFIX = "/api/provisioning/schedules"
SECURITY = "8x8ScheduleBasic"
CLOSED, OPEN_HOURS, OPEN_ALL_DAY = -1, 0, 1
STATUS_OPEN, STATUS_CLOSED = 0, -1
XML_ITEMS = {"week-days": "week-day", "exceptions": "exception"}
UNAUTHORIZED = "Unauthorized"
NOT_FOUND = "Schedule {name} not found"

# -- open hours -------------------------------------------------------------------------------------------


def _hours(schedule: ScheduleConfig, day: date) -> Hours | None:
    for exception in schedule.exceptions:
        if exception.date == day.isoformat():
            return exception
    weekday = (day.weekday() + 1) % 7  # Python: Monday 0; 8x8 [inf]: Sunday 0
    return next((d for d in schedule.week_days if d.day == weekday), None)


def _intervals(schedule: ScheduleConfig, day: date) -> list[tuple[datetime, datetime]]:
    """The open spans that start on `day` (local), as aware datetimes; a span may run past midnight."""
    hours = _hours(schedule, day)
    zone = ZoneInfo(schedule.time_zone)
    midnight = datetime.combine(day, time(), zone)
    if hours is None or hours.status == CLOSED:
        return []
    if hours.status == OPEN_ALL_DAY:
        return [(midnight, datetime.combine(day + timedelta(days=1), time(), zone))]
    start = datetime.combine(day, time.fromisoformat(hours.start_time), zone)
    end = datetime.combine(day, time.fromisoformat(hours.end_time), zone)
    if end <= start:
        end += timedelta(days=1)
    return [(start, end)]


def is_open(schedule: ScheduleConfig, now: float) -> bool:
    local = datetime.fromtimestamp(now, ZoneInfo(schedule.time_zone))
    for day in (local.date() - timedelta(days=1), local.date()):
        if any(start.timestamp() <= now < end.timestamp() for start, end in _intervals(schedule, day)):
            return True
    return False


def next_opening(schedule: ScheduleConfig, now: float) -> float | None:
    """When the schedule next opens (now if open), within two weeks; None if it never does."""
    if is_open(schedule, now):
        return now
    local = datetime.fromtimestamp(now, ZoneInfo(schedule.time_zone)).date()
    for offset in range(15):
        for start, _ in _intervals(schedule, local + timedelta(days=offset)):
            if start.timestamp() > now:
                return start.timestamp()
    return None


def queue_open(state: EightByEightState, queue: Queue, now: float) -> bool:
    """A queue without a schedule (or naming one that does not exist) is always open."""
    schedule = state.schedules.get(queue.schedule) if queue.schedule else None
    return schedule is None or is_open(schedule, now)


def queue_opening(state: EightByEightState, queue: Queue, now: float) -> float | None:
    schedule = state.schedules.get(queue.schedule) if queue.schedule else None
    return now if schedule is None else next_opening(schedule, now)


# -- the API ----------------------------------------------------------------------------------------------


def _day_hours(hours: Hours) -> dict[str, Any]:
    return {"status": hours.status, "start-time": hours.start_time, "end-time": hours.end_time}


def schedule_view(schedule: ScheduleConfig) -> dict[str, Any]:
    week = [{"day": d.day, "properties": _day_hours(d)} for d in sorted(schedule.week_days, key=lambda d: d.day)]
    exceptions = [{"date": e.date, "properties": _day_hours(e)} for e in schedule.exceptions]
    return {
        "id": schedule.id,
        "name": schedule.name,
        "time-zone": schedule.time_zone,
        "week-days": week,
        "exceptions": exceptions,
    }


def _json_view(schedule: ScheduleConfig) -> dict[str, Any]:
    """The JSON form: each XML list element becomes an object holding the list under the item's name."""
    view = schedule_view(schedule)
    view["week-days"] = {"week-day": view["week-days"]}
    view["exceptions"] = {"exception": view["exceptions"]}
    return view


def _reply(request: Request, root: str, xml_value: Any, json_value: Any, suffix: str) -> Response:
    if wants_xml(request, suffix):
        return Response(to_xml(root, xml_value, {"schedules": "schedule", **XML_ITEMS}), media_type=XML)
    return JsonResponse({root: json_value})


def _state(ctx: Ctx, request: Request) -> EightByEightState:
    credentials = basic_credentials(request)
    tenant = ctx.gate.lookup(credentials[0]) if credentials else None
    if credentials is None or tenant is None or not secret_ok(ctx.emu, tenant, "schedule_token", credentials[1]):
        raise ScheduleFailure(401, UNAUTHORIZED)
    return ctx.store.view(tenant)


def _find(state: EightByEightState, name: str) -> ScheduleConfig:
    found = state.schedules.get(name) or next((s for s in state.schedules.values() if str(s.id) == name), None)
    if found is None:
        raise ScheduleFailure(404, NOT_FOUND.format(name=name))
    return found


def _split(raw: str) -> tuple[str, str]:
    suffix = path_suffix(raw)
    return (raw[: -len(suffix) - 1], suffix) if suffix else (raw, "")


NAME = Param("name", "path", required=True, description="the schedule's name (spaces as %20) or id")
ACCEPT = Param("Accept", "header", description="application/xml for XML (or end the path in .xml); else JSON")
R401 = Reply("no Basic credentials, or not the tenant's token [inf]", mc.ScheduleError, JSON)
R404 = Reply("no schedule of that name or id", mc.ScheduleError, JSON)
SCHEDULE_TAGS = ("Tenant Schedules",)


@API.op(
    "GET", PREFIX, "listSchedules", "Every schedule of the tenant, with week days and exceptions",
    {200: Reply("the schedules", mc.Schedules, JSON), 401: R401}, tags=SCHEDULE_TAGS, params=(ACCEPT,),
    security=[{SECURITY: []}],
)  # fmt: skip
async def list_schedules(ctx: Ctx, request: Request) -> Response:
    state = _state(ctx, request)
    ordered = sorted(state.schedules.values(), key=lambda s: s.id or 0)
    xml_value = [schedule_view(s) for s in ordered]
    return _reply(request, "schedules", xml_value, {"schedule": [_json_view(s) for s in ordered]}, "")


@API.op(
    "GET", f"{PREFIX}/{{name}}", "getSchedule", "One schedule (a `.json` or `.xml` suffix picks the format)",
    {200: Reply("the schedule", mc.OneSchedule, JSON), 401: R401, 404: R404}, tags=SCHEDULE_TAGS,
    params=(NAME, ACCEPT), security=[{SECURITY: []}],
)  # fmt: skip
async def get_schedule(ctx: Ctx, request: Request) -> Response:
    state = _state(ctx, request)
    name, suffix = _split(request.path_params["name"])
    schedule = _find(state, name)
    return _reply(request, "schedule", schedule_view(schedule), _json_view(schedule), suffix)


@API.op(
    "GET", f"{PREFIX}/{{name}}/status", "getScheduleStatus", "Whether the schedule is open now (0) or closed (-1)",
    {200: Reply("the status on the tenant's clock", mc.ScheduleStatus, JSON), 401: R401, 404: R404},
    tags=SCHEDULE_TAGS, params=(NAME, ACCEPT), security=[{SECURITY: []}],
)  # fmt: skip
async def schedule_status(ctx: Ctx, request: Request) -> Response:
    return await _status(ctx, request, "")


async def _status(ctx: Ctx, request: Request, suffix: str) -> Response:
    state = _state(ctx, request)
    schedule = _find(state, request.path_params["name"])
    status = STATUS_OPEN if is_open(schedule, ctx.emu.scheduler.now(state.tenant)) else STATUS_CLOSED
    return _reply(request, "schedule-status", {"status": status}, {"status": status}, suffix)


async def status_json(ctx: Ctx, request: Request) -> Response:
    """`.../status.json` (as integrations call it), not declared in the contract: the same as `.../status`."""
    return await _status(ctx, request, "json")


async def status_xml(ctx: Ctx, request: Request) -> Response:
    return await _status(ctx, request, "xml")


ALIASES = ((f"{PREFIX}/{{name}}/status.json", status_json), (f"{PREFIX}/{{name}}/status.xml", status_xml))
