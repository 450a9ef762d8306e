"""A webhook delivery, in one module: the record the dispatcher keeps, and its JSON shapes.

- `Attempt`, `Delivery`: the dataclasses the dispatcher works on (plain dataclasses: they are on the hot
  path); vendors' `on_failed`/`ladder_for` hooks and scenarios read them.
- `Delivery.to_json()` is the log entry (`GET /_emulator/deliveries`); `DeliveryOut`/`AttemptOut` are its
  contract.
- `Delivery.persist()` is a pending delivery in the snapshot; `SnapshotDelivery` validates it on the way
  back (`WebhookDispatcher.restore`, `POST /_emulator/state`) and `Delivery.restored()` rebuilds it.

An attempt has the same fields in all three places. The field sets of the dataclasses, the two dicts
and the models are held equal by `tests/unit/test_delivery.py`, so a field added in one place and not
in the others fails a test instead of drifting.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, Strict

from emulator.core.types import AS_INT, AS_NUMBER, JsonFloat, JsonInt, JsonStr
from emulator.core.web import RequestModel

DeliveryStatus = Literal["pending", "delivered", "failed"]
MAX_TS = 253_402_300_799.0  # 9999-12-31T23:59:59Z: the last instant ISO-8601 can show
Ts = Annotated[float, Strict(), Field(ge=0, le=MAX_TS), AS_NUMBER]


@dataclass
class Attempt:
    n: int
    at: float
    url: str
    headers: dict[str, str]
    status: int | None = None
    response_excerpt: str = ""
    latency_ms: float = 0.0
    error: str | None = None
    chaos: str | None = None

    @property
    def sent(self) -> bool:
        """Its request was built and handed to the receiver's connection (not dropped or timed out by chaos,
        not refused by the outbound policy before its headers were built)."""
        return bool(self.headers) and self.chaos not in ("drop_first", "timeout")

    def to_json(self) -> dict[str, Any]:
        """An `AttemptOut` (field by field: `dataclasses.asdict` costs the state file's saver seconds)."""
        return {
            "n": self.n,
            "at": self.at,
            "url": self.url,
            "headers": dict(self.headers),
            "status": self.status,
            "response_excerpt": self.response_excerpt,
            "latency_ms": self.latency_ms,
            "error": self.error,
            "chaos": self.chaos,
        }


@dataclass
class Delivery:
    id: str
    seq: int
    vendor: str
    tenant: str
    event_id: str
    event_type: str
    subject: str
    url: str
    body: bytes
    profile: dict[str, Any]
    created_at: float
    not_before: float
    status: DeliveryStatus = "pending"
    attempts: list[Attempt] = field(default_factory=list)
    redelivery_of: str | None = None
    chaos: list[str] = field(default_factory=list)
    headers_as_was: dict[str, str] | None = None
    """The headers every attempt sends as they are (a redelivery `as_was`); None: built for each attempt."""

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.url, self.vendor, self.tenant, self.subject)

    def payload(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return self.body.decode(errors="replace")

    def to_json(self, *, with_body: bool = True) -> dict[str, Any]:
        """The log entry: a `DeliveryOut` (without `body` unless `with_body`)."""
        out: dict[str, Any] = {
            "id": self.id,
            "vendor": self.vendor,
            "tenant": self.tenant,
            "event_id": self.event_id,
            "event": self.event_type,
            "subject": self.subject,
            "url": self.url,
            "status": self.status,
            "created_at": self.created_at,
            "next_attempt_at": self.not_before if self.status == "pending" else None,
            "attempts": [a.to_json() for a in self.attempts],
            "redelivery_of": self.redelivery_of,
            "chaos": list(self.chaos),
            "headers_as_was": None if self.headers_as_was is None else dict(self.headers_as_was),
        }
        if with_body:
            out["body"] = self.payload()
        return out

    def persist(self) -> dict[str, Any]:
        """The snapshot entry: a `SnapshotDelivery`."""
        out = self.to_json(with_body=False)
        out["body_text"] = self.body.decode()
        out["profile"] = self.profile
        out["seq"] = self.seq
        return out

    @classmethod
    def restored(cls, s: SnapshotDelivery) -> Delivery:
        """A delivery back from its (validated) snapshot entry."""
        return cls(
            id=s.id,
            seq=s.seq,
            vendor=s.vendor,
            tenant=s.tenant,
            event_id=s.event_id,
            event_type=s.event,
            subject=s.subject,
            url=s.url,
            body=s.body_text.encode(),
            profile=dict(s.profile),
            created_at=s.created_at,
            not_before=s.next_attempt_at or s.created_at,
            attempts=[Attempt(**a.model_dump()) for a in s.attempts],
            redelivery_of=s.redelivery_of,
            chaos=list(s.chaos),
            headers_as_was=None if s.headers_as_was is None else dict(s.headers_as_was),
        )


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
    status: DeliveryStatus
    created_at: float
    next_attempt_at: float | None
    attempts: list[AttemptOut]
    redelivery_of: str | None
    chaos: list[str]
    headers_as_was: dict[str, str] | None = Field(
        description="a redelivery `as_was`: the headers (signature included) every attempt sends unchanged"
    )
    body: Any = None


class DeliveriesOut(BaseModel):
    deliveries: list[DeliveryOut]


class SnapshotAttempt(RequestModel):
    n: JsonInt
    at: Ts
    url: JsonStr
    headers: dict[JsonStr, JsonStr]
    status: JsonInt | None = None
    response_excerpt: JsonStr = ""
    latency_ms: JsonFloat = 0.0
    error: JsonStr | None = None
    chaos: JsonStr | None = None


class SnapshotDelivery(RequestModel):
    id: JsonStr
    seq: Annotated[int, Strict(), Field(ge=1), AS_INT]
    vendor: JsonStr
    tenant: JsonStr
    event_id: JsonStr
    event: JsonStr
    subject: JsonStr
    url: JsonStr
    status: DeliveryStatus = "pending"
    created_at: Ts
    next_attempt_at: Ts | None = None
    attempts: list[SnapshotAttempt] = Field(default_factory=list)
    redelivery_of: JsonStr | None = None
    chaos: list[JsonStr] = Field(default_factory=list)
    headers_as_was: dict[JsonStr, JsonStr] | None = None
    body_text: JsonStr
    profile: dict[JsonStr, Any] = Field(default_factory=dict)


class SnapshotDeliveries(RequestModel):
    next_seq: Annotated[int, Strict(), Field(ge=1), AS_INT] = 1
    pending: list[SnapshotDelivery] = Field(default_factory=list)
