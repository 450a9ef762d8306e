"""Seeded delivery faults ("chaos"): what `PUT /_emulator/chaos` and the `chaos` setting configure, and how a
delivery gets its faults.

- `ChaosConfig`: the probabilities (0..1) of each fault, the delay and reorder window, and an optional vendor
  and tenant the faults are limited to.
- `TenantChaos`: a tenant's own config, in force until `expires_at` on that tenant's timeline (None: until
  cleared); `in_force(global, tenants, tenant, now)` picks what applies to a delivery of `tenant` (its own
  config while it has one that has not expired, else the global one; expired ones are forgotten as they are met).
- `decide(chaos, seed, d)` runs when a delivery is submitted: it draws every fault from the seed, the vendor,
  tenant, event id and URL (the same seed and events give the same faults), marks the delivery (`d.chaos`)
  and moves its `not_before` for `delay` and `reorder`.
- `dropped(d, n, now)` and `timed_out(d, n, now, headers)` are the failed first attempts of a delivery
  marked `drop_first` or `timeout` (never sent). The dispatcher (`core.webhooks`) keeps the rest: a
  `duplicate` is sent a second time after it succeeds, and a `reorder`ed one keeps its queue sorted by time.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from emulator.core.delivery import Attempt, Delivery
from emulator.core.ids import global_random

FAULTS = ("duplicate", "drop_first", "delay", "timeout", "reorder")
"""Drawn in this order from each delivery's random stream (changing it changes every seeded run)."""


class ChaosConfig(BaseModel):
    """Seeded faults injected into deliveries, to test how robust a receiver is.

    Probabilities are 0..1 and decided per delivery from the seed and its event id, so the same seed and
    the same events give the same faults.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    duplicate: float = Field(0.0, ge=0, le=1, description="deliver a successful event a second time")
    drop_first: float = Field(0.0, ge=0, le=1, description="drop the first attempt (never sent), forcing a retry")
    delay: float = Field(0.0, ge=0, le=1, description="hold the delivery back by `delay_seconds`")
    delay_seconds: float = Field(5.0, ge=0, le=3600)
    reorder_window: float = Field(
        0.0, ge=0, le=3600, description="hold each delivery up to this many seconds, so a subject's events may swap"
    )
    timeout: float = Field(0.0, ge=0, le=1, description="treat the first attempt as a receiver timeout")
    vendor: str | None = Field(None, description="only deliveries of this vendor (default all)")
    tenant: str | None = Field(None, description="only deliveries of this tenant (default all)")

    @property
    def active(self) -> bool:
        return any((self.duplicate, self.drop_first, self.delay, self.reorder_window, self.timeout))


@dataclass(frozen=True)
class TenantChaos:
    config: ChaosConfig
    expires_at: float | None
    """On the tenant's timeline; None: until cleared."""

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at


def in_force(default: ChaosConfig, tenants: dict[str, TenantChaos], tenant: str, now: float) -> ChaosConfig:
    """The config a delivery of `tenant` gets at `now` (its tenant's time); drops the tenant's expired one."""
    own = tenants.get(tenant)
    if own is None:
        return default
    if own.expired(now):
        del tenants[tenant]
        return default
    return own.config


def decide(chaos: ChaosConfig, seed: int, d: Delivery) -> None:
    """Mark the faults of a newly submitted delivery (nothing when chaos is off or limited to others)."""
    if not chaos.active:
        return
    if (chaos.vendor and chaos.vendor != d.vendor) or (chaos.tenant and chaos.tenant != d.tenant):
        return
    rng = global_random(seed, "chaos", d.vendor, d.tenant, d.event_id, d.url)
    draws = {name: rng.random() for name in FAULTS}
    if draws["drop_first"] < chaos.drop_first:
        d.chaos.append("drop_first")
    if draws["timeout"] < chaos.timeout:
        d.chaos.append("timeout")
    if draws["duplicate"] < chaos.duplicate:
        d.chaos.append("duplicate")
    if draws["delay"] < chaos.delay:
        d.chaos.append("delay")
        d.not_before += chaos.delay_seconds
    if chaos.reorder_window > 0:
        d.chaos.append("reorder")
        d.not_before += draws["reorder"] * chaos.reorder_window


def dropped(d: Delivery, n: int, now: float) -> Attempt | None:
    """The first attempt of a `drop_first` delivery: never sent."""
    if n == 0 and "drop_first" in d.chaos:
        return Attempt(n=0, at=now, url=d.url, headers={}, error="dropped by chaos", chaos="drop_first")
    return None


def timed_out(d: Delivery, n: int, now: float, headers: dict[str, str]) -> Attempt | None:
    """The first attempt of a `timeout` delivery: its headers are built, then the receiver "times out"."""
    if n == 0 and "timeout" in d.chaos:
        return Attempt(n=0, at=now, url=d.url, headers=headers, error="receiver timed out (chaos)", chaos="timeout")
    return None
