"""8x8 Contact Center real-time metrics, computed from the tenant's live 8x8 state on its clock.

Metric names are 8x8's (RT-OAS: `../shared/reference/8x8-cc-realtime-metrics.oas.json`, the `metrics` parameter
examples): `<name>.rt` is now, `<name>.today` since local midnight of `timezone` (RT-OAS: "applicable for TODAY
metrics only"), `<name>.int-15m` / `.int-30m` (and `slaPercentage.int-1h/4h/8h/12h`) the current interval; agent
metrics of one queue end in `.inQueue`. The inputs are the queue stays (`state.QueueVisit`: QUEUED, an agent
joining, the stay ending), the agents (what they handle) and the queues' open hours (`schedules.py`).

Chosen here, as 8x8 does not say how it computes them [inf]:
- times are seconds; percentages are of the interactions that entered in the window, two decimals;
- an interval is the current clock-aligned one (10:15-10:30 for int-15m at 10:20, UTC-aligned);
- abandoned: left the queue without an agent after waiting `SHORT_ABANDON_SECONDS` or more; shorter is
  `shortAbandoned`; `totalAbandoned` is both; SLA: accepted within `SLA_SECONDS` of the ones that entered and
  stopped waiting (100 when none did), target `SLA_TARGET`;
- an agent is available (status 4) with nothing in hand, busy (5) handling any interaction, working offline (7)
  when every queue of theirs is outside its open hours; agents are logged in since local midnight;
- an agent's group is their first queue (same id and name): cxemu has no separate agent groups;
- what cxemu does not simulate (offering, wrap-up, breaks, holds, transfers by type, calls) is 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from emulator.vendors.eightbyeight.schedules import queue_open
from emulator.vendors.eightbyeight.state import Agent, EightByEightState, Queue
from emulator.vendors.eightbyeight.stays import QueueVisit, queue_visits

SHORT_ABANDON_SECONDS = 5.0
SLA_SECONDS = 20.0
SLA_TARGET = 80.0
AVAILABLE, BUSY, WORKING_OFFLINE = 4, 5, 7
STATUS_NAMES = {AVAILABLE: "Available", BUSY: "Busy", WORKING_OFFLINE: "Working Offline"}
INTERVALS = {"int-15m": 900, "int-30m": 1800, "int-1h": 3600, "int-4h": 14_400, "int-8h": 28_800, "int-12h": 43_200}
W3 = ("int-15m", "int-30m", "today")


def _names(spec: dict[str, tuple[str, ...]], tail: str = "") -> tuple[str, ...]:
    return tuple(f"{base}.{window}{tail}" for base, windows in spec.items() for window in windows)


QUEUE_METRICS = _names(
    {
        **dict.fromkeys(("abandoned", "abandonedPercentage", "accepted", "acceptedPercentage"), W3),
        **dict.fromkeys(("avgDivertedTime", "avgHandlingTime", "avgOfferingTime", "avgProcessingTime"), W3),
        **dict.fromkeys(("avgWorkTime", "avgWrapUpTime", "diverted", "divertedPercentage", "entered"), W3),
        **dict.fromkeys(("interactionsAvgWaitTime", "longestOfferingTimeInQueue", "shortAbandoned"), W3),
        **dict.fromkeys(("shortAbandonedPercentage", "totalAbandoned", "totalAbandonedPercentage"), W3),
        "interactionsLongestWaitInQueue": ("rt", *W3),
        "slaPercentage": ("int-12h", "int-15m", "int-1h", "int-30m", "int-4h", "int-8h", "today"),
        "slaPercentageTarget": ("today",),
        "slaTimeThreshold": ("today",),
        **dict.fromkeys(("availableIdle", "busy", "busyExternal", "busyOther", "eligibl", "enabled"), ("rt",)),
        **dict.fromkeys(("handling", "interactionsHandling", "interactionsWaitInQueue", "interactionsWrapUp"), ("rt",)),
        **dict.fromkeys(("offering", "onBreak", "workingOffline", "wrapUp"), ("rt",)),
    }
)
GROUP_METRICS = _names(
    dict.fromkeys(("availableIdle", "eligible", "enabled", "handling", "onBreak", "workingOffline", "wrapUp"), ("rt",))
)
_IN_QUEUE = (
    "accepted", "averageHandlingTime", "averageOfferingTime", "averageWrapUpTime", "blindTransfers", "conferenceTime",
    "conferences", "consultations", "hold", "longestHold", "longestOffering", "offered", "onHoldTime",
    "rejectTimeout", "rejected", "transfersReceived", "warmTransfers",
)  # fmt: skip
_AGENT_W3 = (
    "availableTime", "availableTimePercentage", "busyTime", "busyTimePercentage", "directInboundTime",
    "directInbounds", "directOutboundTime", "directOutbounds", "handlingTime", "handlingTimePercentage",
    "internalCalls", "internalCallsInitiated", "internalCallsReceived", "internalCallsTime", "offeringTime",
    "onBreakTime", "onBreakTimePercentage", "workingOfflineTime", "workingOfflineTimePercentage", "wrapUpTime",
    "wrapUpTimePercentage",
)  # fmt: skip
AGENT_METRICS = tuple(
    sorted(
        (
            *_names(dict.fromkeys(_IN_QUEUE, W3), ".inQueue"),
            *_names(dict.fromkeys(_AGENT_W3, W3)),
            "loggedInTime.int-15m", "loggedInTime.int-30m", "loggedInTime.rt", "loggedInTime.today",
            *(f"{n}.rt" for n in ("alerting", "lastLogin", "lastLogout", "line1Status", "line1TimeOnStatus")),
            *(f"{n}.rt" for n in ("line2Status", "line2TimeOnStatus", "status", "statusCode", "timeOnStatus")),
        )
    )
)  # fmt: skip
# An agent's metrics by group have the same names without `.inQueue` (RT-OAS, the group agent operations).
GROUP_AGENT_METRICS = tuple(sorted(m.removesuffix(".inQueue") for m in AGENT_METRICS))
# The queue list of 8x8's file spells `eligibl.rt`; the group list `eligible.rt`: a queue takes both.
QUEUE_KNOWN = frozenset((*QUEUE_METRICS, "eligible.rt"))
# Totals (`includeTotals`): these add up; every other metric (percentages, averages, statuses) is averaged.
_SUMMED = ("abandoned", "accepted", "entered", "diverted", "shortAbandoned", "totalAbandoned", "enabled", "busy")
SUMMED = frozenset((*_SUMMED, "availableIdle", "handling", "interactionsHandling", "interactionsWaitInQueue"))


@dataclass(frozen=True)
class Clock:
    """`now` and where `today` starts, for one request."""

    now: float
    today: float

    @classmethod
    def at(cls, now: float, zone: ZoneInfo) -> Clock:
        local = datetime.fromtimestamp(now, zone)
        return cls(now, local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp())

    def start(self, window: str) -> float:
        if window == "today":
            return self.today
        size = INTERVALS[window]
        return math.floor(self.now / size) * size


def _split(key: str) -> tuple[str, str]:
    base, _, rest = key.partition(".")
    return base, rest.removesuffix(".inQueue")


def _pct(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def _mean(values: list[float]) -> float:
    return round(sum(values) / len(values), 2) if values else 0.0


def _wait(v: QueueVisit, now: float) -> float:
    return (v.accepted if v.accepted is not None else v.ended if v.ended is not None else now) - v.entered


def _abandoned(v: QueueVisit) -> bool:
    return v.accepted is None and v.ended is not None


def _handled(v: QueueVisit, now: float) -> float:
    return (v.ended if v.ended is not None else now) - v.accepted if v.accepted is not None else 0.0


def _open_agents(state: EightByEightState, agents: Iterable[Agent], now: float) -> list[Agent]:
    return [a for a in agents if agent_status(state, a, now) != WORKING_OFFLINE]


def agent_status(state: EightByEightState, agent: Agent, now: float) -> int:
    queues = [state.queues[q] for q in agent.queues if q in state.queues]
    if queues and not any(queue_open(state, q, now) for q in queues):
        return WORKING_OFFLINE
    return BUSY if agent.handling else AVAILABLE


def staffing(state: EightByEightState, agents: list[Agent], key: str, now: float) -> float:
    """The `.rt` agent counts of a queue or group (`enabled`, `availableIdle`, ...)."""
    base = _split(key)[0]
    online = _open_agents(state, agents, now)
    counts: dict[str, Callable[[], int]] = {
        "enabled": lambda: len(agents),
        "eligibl": lambda: sum(1 for a in online if len(a.handling) < a.capacity),
        "eligible": lambda: sum(1 for a in online if len(a.handling) < a.capacity),
        "availableIdle": lambda: sum(1 for a in online if not a.handling),
        "handling": lambda: sum(1 for a in online if a.handling),
        "busy": lambda: sum(1 for a in online if len(a.handling) >= a.capacity),
        "workingOffline": lambda: len(agents) - len(online),
    }
    count = counts.get(base)
    return float(count()) if count is not None else 0.0


def queue_metric(state: EightByEightState, queue: Queue, key: str, clock: Clock) -> float:
    base, window = _split(key)
    now = clock.now
    visits = [v for v in queue_visits(state) if v.queue_id == queue.id]
    if window == "rt":
        waiting = [v for v in visits if v.ended is None and v.accepted is None]
        if base == "interactionsWaitInQueue":
            return float(len(waiting))
        if base == "interactionsLongestWaitInQueue":
            return round(max((now - v.entered for v in waiting), default=0.0), 2)
        if base == "interactionsHandling":
            return float(sum(1 for v in visits if v.ended is None and v.accepted is not None))
        return staffing(state, [a for a in state.agents.values() if queue.id in a.queues], key, now)
    if base == "slaPercentageTarget":
        return SLA_TARGET
    if base == "slaTimeThreshold":
        return SLA_SECONDS
    start = clock.start(window)
    entered = [v for v in visits if v.entered >= start]
    accepted = [v for v in visits if v.accepted is not None and v.accepted >= start]
    left = [v for v in visits if _abandoned(v) and v.ended is not None and v.ended >= start]
    short = [v for v in left if _wait(v, now) < SHORT_ABANDON_SECONDS]
    counts = {
        "entered": len(entered),
        "accepted": len(accepted),
        "abandoned": len(left) - len(short),
        "shortAbandoned": len(short),
        "totalAbandoned": len(left),
    }
    name = base.removesuffix("Percentage")
    if name in counts:
        return _pct(counts[name], len(entered)) if base.endswith("Percentage") else float(counts[name])
    if base in ("avgHandlingTime", "avgProcessingTime", "avgWorkTime"):
        done = [v for v in visits if v.accepted is not None and v.ended is not None and v.ended >= start]
        return _mean([_handled(v, now) for v in done])
    if base == "interactionsAvgWaitTime":
        return _mean([_wait(v, now) for v in accepted])
    if base == "interactionsLongestWaitInQueue":
        return round(max((_wait(v, now) for v in entered), default=0.0), 2)
    if base == "slaPercentage":
        finished = [v for v in entered if v.accepted is not None or v.ended is not None]
        in_time = sum(1 for v in finished if v.accepted is not None and _wait(v, now) <= SLA_SECONDS)
        return _pct(in_time, len(finished)) if finished else 100.0
    return 0.0


def agent_metric(state: EightByEightState, agent: Agent, queue_id: str | None, key: str, clock: Clock) -> float:
    """One agent's metric; `.inQueue` metrics count only `queue_id`'s interactions (all queues when None)."""
    base, window = _split(key)
    now = clock.now
    mine = [v for v in queue_visits(state) if v.agent_id == agent.id and v.accepted is not None]
    if base in ("status", "statusCode"):
        return float(agent_status(state, agent, now))
    if base == "timeOnStatus":
        changes = [t for v in mine for t in (v.accepted, v.ended) if t is not None and t <= now]
        return round(now - max([clock.today, *changes]), 2)
    if base == "lastLogin":
        return clock.today * 1000.0
    if window == "rt":
        return round(now - clock.today, 2) if base == "loggedInTime" else 0.0
    start = clock.start(window)
    elapsed = max(now - start, 0.0)
    scoped = [v for v in mine if queue_id is None or v.queue_id == queue_id]
    if base in ("accepted", "offered"):
        return float(sum(1 for v in scoped if v.accepted is not None and v.accepted >= start))
    if base == "averageHandlingTime":
        return _mean([_handled(v, now) for v in scoped if v.ended is not None and v.ended >= start])
    handled = sum(_overlap(v, start, now) for v in mine)
    times = {"handlingTime": handled, "busyTime": handled, "loggedInTime": elapsed, "availableTime": elapsed - handled}
    name = base.removesuffix("Percentage")
    if name in times:
        return _pct(times[name], elapsed) if base.endswith("Percentage") else round(times[name], 2)
    return 0.0


def _overlap(v: QueueVisit, start: float, now: float) -> float:
    if v.accepted is None:
        return 0.0
    end = v.ended if v.ended is not None else now
    return max(0.0, end - max(v.accepted, start))


def totals(rows: list[dict[str, float]]) -> dict[str, float]:
    """`includeTotals`: counts added up, everything else averaged over the rows [inf]."""
    keys = list(rows[0]) if rows else []
    out: dict[str, float] = {}
    for key in keys:
        values = [row[key] for row in rows]
        out[key] = round(sum(values), 2) if _split(key)[0] in SUMMED else _mean(values)
    return out
