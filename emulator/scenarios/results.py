"""Results of scenario runs: per step (with near misses), per actor rule, and for the whole run.

They are live while a scenario runs (the control plane serves them) and render as JSON, text and JUnit XML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from emulator.scenarios.report import render

StepStatus = Literal["pending", "running", "passed", "failed", "skipped"]
RunStatus = Literal["running", "passed", "failed", "error"]


@dataclass
class NearMiss:
    """A webhook that arrived but did not satisfy an expectation, and why."""

    delivery_id: str
    event: str
    subject: str
    status: str
    at: float
    body: Any
    problems: list[str]
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "delivery_id": self.delivery_id,
            "event": self.event,
            "subject": self.subject,
            "status": self.status,
            "at": self.at,
            "body": self.body,
            "problems": list(self.problems),
            "note": self.note,
        }


@dataclass
class StepResult:
    index: int
    kind: str
    title: str
    line: int | None
    status: StepStatus = "pending"
    at: float | None = None
    """Clock time when the step ended."""
    message: str | None = None
    expected: Any = None
    near_misses: list[NearMiss] = field(default_factory=list)

    def to_json(self, started: float) -> dict[str, Any]:
        return {
            "index": self.index,
            "kind": self.kind,
            "title": self.title,
            "line": self.line,
            "status": self.status,
            "at": self.at,
            "offset": None if self.at is None else round(self.at - started, 6),
            "message": self.message,
            "expected": self.expected,
            "near_misses": [n.to_json() for n in self.near_misses],
        }


@dataclass
class ActorStat:
    index: int
    name: str | None
    event: str
    line: int | None
    fired: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "name": self.name, "event": self.event, "line": self.line, "fired": self.fired}


@dataclass
class ActorError:
    rule: int
    action: int
    line: int | None
    at: float
    subject: str | None
    message: str

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "action": self.action,
            "line": self.line,
            "at": self.at,
            "subject": self.subject,
            "message": self.message,
        }


@dataclass
class ScenarioResult:
    """Progress and outcome of one run; live while it runs (the control plane serves it)."""

    id: str
    name: str
    source: str
    vendor: str
    tenant: str
    seed: int
    virtual: bool = True
    status: RunStatus = "running"
    active: bool = False
    """The actors still react to events."""
    started_at: float = 0.0
    now: float = 0.0
    steps: list[StepResult] = field(default_factory=list)
    actors: list[ActorStat] = field(default_factory=list)
    actor_errors: list[ActorError] = field(default_factory=list)
    variables: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    """Why the scenario could not run at all (a file that does not load, a setup that fails)."""
    wall_seconds: float = 0.0
    webhooks: int = 0
    webhook_bodies: list[bytes] = field(default_factory=list, repr=False)
    """Bodies of the tenant's deliveries in the order they were sent (self-contained runs)."""

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def elapsed(self) -> float:
        return max(0.0, self.now - self.started_at)

    def failed_step(self) -> StepResult | None:
        return next((s for s in self.steps if s.status == "failed"), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "source": self.source,
            "vendor": self.vendor,
            "tenant": self.tenant,
            "seed": self.seed,
            "clock": "virtual" if self.virtual else "system",
            "status": self.status,
            "active": self.active,
            "started_at": self.started_at,
            "now": self.now,
            "elapsed": round(self.elapsed, 6),
            "steps": [s.to_json(self.started_at) for s in self.steps],
            "actors": [a.to_json() for a in self.actors],
            "actor_errors": [e.to_json() for e in self.actor_errors],
            "variables": _jsonable(self.variables),
            "error": self.error,
            "webhooks": self.webhooks,
            "report": render(self, wall=False),
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def error_result(
    source: str, message: str, *, name: str | None = None, vendor: str = "", tenant: str = ""
) -> ScenarioResult:
    """The result of a file that could not run at all (`vendor`/`tenant` empty when the file never said)."""
    return ScenarioResult(
        id="-", name=name or Path(source).stem, source=source, vendor=vendor, tenant=tenant, seed=0, status="error",
        error=message,
    )  # fmt: skip
