"""What the dashboard's pages read, without changing anything: filters from the query (a bad value is
`BadQuery`, a 400 page), a tenant's credentials as a client needs them, the subjects of every tenant, the
clock's timelines and timers.

Credentials come from the vendor's own `credentials` hook, called on a shallow copy of the tenant's state with
ids drawn from a copy of nothing (the real counters never move) and a clock standing still: the hooks only
read, or set top-level flags and secrets, so the copy takes what they write. When the hook had to mint a secret
the tenant was made by traffic, never provisioned (its API is open), and the page says so instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.datastructures import QueryParams

from emulator.core import feed
from emulator.core.clock import Timer, VirtualClock, iso
from emulator.core.ids import TenantIds
from emulator.core.plugin import Subject
from emulator.core.runtime import Emulator
from emulator.core.store import Tx

KINDS = feed.KINDS
"""The journal's kinds (SPEC §1), the live journal's filter."""
PARTIES = ("customer", "integration", "agent", "cxemu")
"""A timeline's lanes, left to right."""
MAX_LIMIT = 1000
MAX_NAME = 256


class BadQuery(ValueError):
    """A query parameter the page cannot take (a 400 page saying which and why)."""


def text(params: QueryParams, name: str, *, choices: tuple[str, ...] | None = None) -> str | None:
    """An optional text filter: at most `MAX_NAME` characters, one of `choices` when given."""
    value = params.get(name) or None
    if value is None:
        return None
    if len(value) > MAX_NAME:
        raise BadQuery(f"{name}: at most {MAX_NAME} characters")
    if choices is not None and value not in choices:
        raise BadQuery(f"{name}: one of {', '.join(choices)}")
    return value


def number(params: QueryParams, name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name) or None
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadQuery(f"{name}: an integer") from None
    if not low <= value <= high:
        raise BadQuery(f"{name}: between {low} and {high}")
    return value


def kinds(params: QueryParams) -> list[str]:
    """`kind`, repeated or comma-separated, each one of `KINDS`."""
    values = [raw for raw in params.getlist("kind") if raw]  # a form's empty choice: every kind
    try:
        chosen = feed.parse_kinds(values)
    except ValueError as exc:
        raise BadQuery(str(exc)) from None
    return [k for k in KINDS if k in chosen]


def vendor(emu: Emulator, params: QueryParams) -> str | None:
    return text(params, "vendor", choices=tuple(emu.plugins))


@dataclass(frozen=True)
class Credentials:
    """A tenant's credentials for the tenants page: `values` when it has them, else why not."""

    values: dict[str, Any]
    provisioned: bool
    minted: bool
    """The hook had to mint a secret: the tenant has none yet (made by traffic; its API is open)."""


def credentials(emu: Emulator, slug: str, tenant: str) -> Credentials | None:
    """What `POST /_emulator/tenants` gives a client of this tenant, read without changing anything (see the
    module docstring); None when the vendor has no credentials hook or the tenant has no state."""
    plugin = emu.plugins[slug]
    state = emu.store.peek(slug, tenant)
    if plugin.credentials is None or state is None:
        return None
    ids = TenantIds(emu.store.seed, slug, tenant, {}, emu.store.epoch)
    tx: Tx[Any] = Tx(slug, tenant, state.model_copy(), ids, VirtualClock(emu.scheduler.now(tenant)))
    values = plugin.credentials(emu, tx)
    return Credentials(values, emu.store.provisioned(slug, tenant), minted=bool(ids.saved))


def subjects(emu: Emulator, slug: str, tenant: str) -> list[Subject]:
    """A tenant's conversations, chats and calls (`VendorPlugin.subjects`), newest first."""
    plugin = emu.plugins[slug]
    if plugin.subjects is None or not emu.store.exists(slug, tenant):
        return []
    return plugin.subjects(emu.store.view(slug, tenant))


@dataclass(frozen=True)
class TimerRow:
    due: float
    iso: str
    vendor: str | None
    what: str
    args: dict[str, Any] | None


def timers(emu: Emulator, tenant: str, limit: int = 200) -> list[TimerRow]:
    """A tenant's pending timers in due order, with what each will do."""
    found: list[Timer] = emu.scheduler.pending([tenant])[:limit]
    return [
        TimerRow(t.when, iso(t.when, millis=True), t.vendor, t.describe(), dict(t.job["args"]) if t.job else None)
        for t in found
    ]


def tenant_names(emu: Emulator) -> list[str]:
    """Every tenant name with state in some vendor or a timeline of its own."""
    return sorted({t for _, t in emu.store.tenants()} | set(emu.scheduler.tenants()))
