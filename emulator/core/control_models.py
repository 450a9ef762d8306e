"""The control plane's wire models: what `core.control`'s handlers take and return (and its contract shows).

The delivery shapes live with the delivery record, in `core.delivery`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, Strict

from emulator.core.chaos import ChaosConfig
from emulator.core.delivery import SnapshotDeliveries, Ts
from emulator.core.journal import BODY_BYTES, HEADER_BYTES, MAX_HEADERS
from emulator.core.types import AS_INT, AS_NUMBER, AS_STR, JsonBool, JsonInt, JsonStr
from emulator.core.web import RequestModel

MAX_WAIT = 60.0
"""Longest long-poll (`wait`) in seconds."""
MAX_ID = 2**53
"""Largest journal or feed entry id a query takes (JSON's safe integers)."""
MAX_TIMERS = 1000
"""Most timers `GET /clock?tenant=` lists."""


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


class TimerOut(BaseModel):
    due: float = Field(description="epoch seconds on the tenant's timeline")
    iso: str
    vendor: str | None
    what: str = Field(description="what it will do: a job kind (e.g. `eightbyeight.offer`) or a callback's name")
    args: dict[str, Any] | None = Field(description="a persistent job's arguments (null for an in-memory timer)")


class ClockOut(BaseModel):
    mode: Literal["system", "virtual"]
    tenant: str | None = Field(description="whose timeline this is (null: the shared timeline, totals of all)")
    now: float = Field(description="epoch seconds")
    iso: str
    pending_timers: int
    next_due: float | None
    busy: bool = Field(description="background work (webhook attempts, actor actions) is running")
    timelines: int = Field(description="tenants with a timeline of their own")
    timers: list[TimerOut] = Field(
        description=f"with `tenant`: its pending timers in due order (the first {MAX_TIMERS}); without: empty"
    )


class AdvanceIn(RequestModel):
    seconds: Annotated[float, Strict(), Field(ge=0, le=10 * 365 * 86400), AS_NUMBER]


class IdleIn(RequestModel):
    max_steps: Annotated[int, Strict(), Field(ge=1, le=1_000_000), AS_INT] | None = None


class ClockStepOut(BaseModel):
    now: float = Field(description="the first named tenant's time (without `tenant`: the shared timeline's)")
    iso: str
    timers_run: int
    timelines: dict[str, float] = Field(description="each named tenant's time after the move (empty without `tenant`)")


class JournalOut(BaseModel):
    seq: int
    at: float
    vendor: str
    tenant: str | None
    method: str
    path: str
    query: str
    headers: dict[str, str] = Field(description=f"an excerpt: {HEADER_BYTES} bytes and {MAX_HEADERS} headers at most")
    body: Any = Field(description=f"JSON when the whole body is strict JSON, else text (its first {BODY_BYTES} bytes)")
    size: int = Field(description="bytes in the whole body")
    truncated: bool = Field(description=f"the body kept is its first {BODY_BYTES} bytes")
    status: int
    latency_ms: float


class RequestsOut(BaseModel):
    requests: list[JournalOut]


class FeedEntryOut(BaseModel):
    """One entry of the feed (`core.feed`): the same JSON in `GET /journal` and on `GET /events`."""

    id: int = Field(description="grows in append order; never reused")
    kind: Literal["request", "control", "event", "delivery", "attempt", "timer", "action"]
    type: str = Field(description="`METHOD /path`, the vendor's event kind, the webhook's event type, a job, a verb")
    vendor: str | None
    tenant: str | None
    subject: str | None = Field(description="the conversation, chat or call it is about")
    party: Literal["customer", "agent", "integration", "cxemu"] | None = Field(description="its lane on a timeline")
    at: float = Field(description="epoch seconds on the tenant's timeline")
    cause: int | None = Field(description="id of the entry that caused it")
    data: Any = Field(description="kind-specific (README, control plane: the journal)")


class JournalPageOut(BaseModel):
    entries: list[FeedEntryOut] = Field(description="oldest first")
    oldest: int | None = Field(description="id of the oldest entry kept (null: none)")
    newest: int | None = Field(description="id of the newest entry kept (null: none)")


class TenantIn(RequestModel):
    tenant: Annotated[str, Strict(), Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._-]+$"), AS_STR]
    vendors: list[JsonStr] | None = Field(None, description="default: every vendor")


class TenantOut(BaseModel):
    tenant: str
    credentials: dict[str, dict[str, Any]]


class TenantsOut(BaseModel):
    tenants: list[TenantRef]


class SnapshotClock(RequestModel):
    mode: Literal["system", "virtual"]
    now: Ts


class SnapshotSlot(RequestModel):
    state: dict[JsonStr, Any] = Field(description="the vendor's state model, as JSON")
    counters: dict[JsonStr, JsonInt]
    provisioned: JsonBool = Field(False, description="provisioned through POST /tenants (left out when false)")


class SnapshotJob(RequestModel):
    due: Ts
    vendor: JsonStr
    tenant: JsonStr
    kind: JsonStr
    args: dict[JsonStr, Any]


class Snapshot(RequestModel):
    """What `GET /state` returns and `POST /state` takes back."""

    version: Literal[1]
    seed: Annotated[int, Strict(), Field(ge=0), AS_INT]
    clock: SnapshotClock
    timelines: dict[JsonStr, Ts] | None = Field(
        None, description="each tenant's time on a virtual clock (a snapshot without it: every tenant at `clock.now`)"
    )
    store: dict[JsonStr, dict[JsonStr, SnapshotSlot]] = Field(description="vendor -> tenant -> slot")
    jobs: list[SnapshotJob]
    deliveries: SnapshotDeliveries
    epoch: Annotated[int, Strict(), Field(ge=0), AS_INT] = Field(
        0,
        description="id epoch (core.ids): moved on by restoring the state file of a server that died; left out when 0",
    )


class SnapshotOut(Snapshot):
    """What `GET /state` returns: a snapshot, marked when its secrets were redacted (`POST /state` refuses it)."""

    redacted: JsonBool = Field(False, description="its secrets are `[redacted]`: not restorable (left out when false)")


class RestoredOut(BaseModel):
    restored: bool
    tenants: int


class RedeliverIn(RequestModel):
    mode: Literal["as_was", "re_sign"] = Field(
        "re_sign",
        description="`re_sign`: sign again now (fresh timestamp and signature); `as_was`: the exact body and headers "
        "of the delivery's last sent attempt, signature and its timestamp included",
    )
    url: Annotated[str, Strict(), Field(min_length=1, max_length=2048), AS_STR] | None = Field(
        None, description="send it here instead of the delivery's own URL (the outbound policy applies)"
    )


MAX_CHAOS_SECONDS = 10 * 365 * 86400.0


class TenantChaosIn(ChaosConfig):
    """`PUT /chaos?tenant=T`: that tenant's faults, for `expires_in` seconds of its timeline."""

    expires_in: float | None = Field(
        None, gt=0, le=MAX_CHAOS_SECONDS, description="seconds on the tenant's timeline (default: until cleared)"
    )


class TenantChaosOut(ChaosConfig):
    """A tenant's own faults (in place of the global ones while in force)."""

    expires_at: float | None = Field(None, description="on the tenant's timeline (null: until cleared)")


class ChaosOut(ChaosConfig):
    """The global faults, and the tenants' own."""

    tenants: dict[str, TenantChaosOut] = Field(
        default_factory=dict, description="tenant name -> its own faults still in force"
    )
