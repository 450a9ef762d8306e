"""Save as scenario: what was done by hand in one vendor tenant, as a scenario file that replays it.

`build(entries, ...)` turns unified-journal entries (SPEC §1's JSON shape, oldest first) into a scenario document;
`to_yaml` writes it; `export_tenant(emu, vendor, tenant, after)` reads the journal and delivery log of a running
emulator (the `GET /_emulator/scenarios/export` endpoint).

| journal entry | becomes |
|---|---|
| a vendor `request` (a client's or a console's) | a `request` step: method, path, query, body, `expect: {status}` |
| `control` under `/_emulator/vendors/<vendor>/tenants/<tenant>/` | the same, to the control path (hand actions) |
| the time between two of them, and to the clock's now | `advance: <seconds>` (clock moves are these waits) |
| `delivery` of the vendor | after the last wait, an `expect_webhook` with its body without time fields (`stable`) |
| `POST /_emulator/reset` covering the tenant | the export starts after the last one |

Left out, and named in the file's description: clock moves (they are the waits), chaos, redeliveries, state
restores, tenant provisioning, scenario loads. A vendor's `ScenarioHooks.export_request` may drop or rewrite a
request (Sangoma drops `/oauth/token`: the scenario's own token stands in for it). Credential headers are
never copied: each vendor's `request_headers` adds the scenario tenant's own. URLs webhooks were sent to (and
any URL of cxemu's own sink) become `{{webhook_url}}`, the self-contained run's receiver.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import yaml

from emulator.core.feed import Match
from emulator.scenarios.hooks import ScenarioHooks

if TYPE_CHECKING:
    from emulator.core.runtime import Emulator

CONTROL = "/_emulator"
SINK_URL = re.compile(r"^https?://[^/\s]+/_emulator/sink(?=/|$)")
TIME_KEY = re.compile(r"(?:_at|At|[tT]ime(?:stamp)?|[tT]ime[A-Z_].*|[dD]ate|Utc)$|^(?:time|timestamp|date|ts)$")
"""Keys whose values are instants: left out of the expected bodies (a replay's timeline may start elsewhere)."""
KEPT_HEADERS = frozenset({"content-type"})
WAIT_RESOLUTION = 3
"""Waits are rounded to the millisecond."""

RequestRewrite = Callable[[dict[str, Any]], dict[str, Any] | None]


def _query(entry: Mapping[str, Any]) -> dict[str, list[str]]:
    return parse_qs(str(entry.get("data", {}).get("query") or ""))


def _resets(entry: Mapping[str, Any], vendor: str, tenant: str) -> bool:
    """A `POST /_emulator/reset` whose filters cover the tenant (no filter: everything)."""
    data = entry.get("data", {})
    if entry.get("kind") != "control" or data.get("method") != "POST" or data.get("path") != f"{CONTROL}/reset":
        return False
    q = _query(entry)
    return tenant in q.get("tenant", [tenant]) and vendor in q.get("vendor", [vendor])


def _skip_reason(path: str) -> str:
    for prefix, what in (
        (f"{CONTROL}/clock", "clock move"),
        (f"{CONTROL}/chaos", "chaos change"),
        (f"{CONTROL}/deliveries", "redelivery"),
        (f"{CONTROL}/state", "state restore"),
        (f"{CONTROL}/tenants", "tenant provisioning"),
        (f"{CONTROL}/scenarios", "scenario load"),
        (f"{CONTROL}/sink", "sink change"),
    ):
        if path.startswith(prefix):
            return what
    return "other control call"


def stable(value: Any) -> Any:
    """`value` without the instants in it (keys matching `TIME_KEY`, at any depth)."""
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if not (isinstance(k, str) and TIME_KEY.search(k))}
    if isinstance(value, list):
        return [stable(v) for v in value]
    return value


def _retarget(value: Any, targets: Sequence[str]) -> Any:
    """`value` with every URL webhooks went to (and cxemu's sink) replaced by `{{webhook_url}}`."""
    if isinstance(value, str):
        for target in targets:
            if value == target or value.startswith(target + "/") or value.startswith(target + "?"):
                return "{{webhook_url}}" + value[len(target) :]
        return SINK_URL.sub("{{webhook_url}}", value, count=1)
    if isinstance(value, dict):
        return {k: _retarget(v, targets) for k, v in value.items()}
    if isinstance(value, list):
        return [_retarget(v, targets) for v in value]
    return value


def _request_step(entry: Mapping[str, Any], targets: Sequence[str]) -> dict[str, Any]:
    data = entry.get("data", {})
    query = str(data.get("query") or "")
    spec: dict[str, Any] = {"method": str(data.get("method", "GET")), "path": data.get("path", "/")}
    if query:
        spec["path"] += "?" + query
    headers = {k.lower(): str(v) for k, v in (data.get("headers") or {}).items() if k.lower() in KEPT_HEADERS}
    if headers:
        spec["headers"] = headers
    body = data.get("body")
    if isinstance(body, dict | list) or (body is not None and not isinstance(body, str)):
        spec["json"] = _retarget(body, targets)
    elif isinstance(body, str) and body:
        spec["body"] = body
    if isinstance(data.get("status"), int):
        spec["expect"] = {"status": data["status"]}
    return spec


def build(
    entries: Sequence[Mapping[str, Any]],
    *,
    vendor: str,
    tenant: str,
    seed: int,
    now: float | None,
    bodies: Mapping[str, Any],
    setup: Mapping[str, Any] | None = None,
    rewrite: RequestRewrite | None = None,
) -> dict[str, Any]:
    """The scenario document for `entries` (journal entries of the tenant, oldest first; others are ignored).

    `now` is the tenant's clock at export (the last wait runs up to it; None: no trailing wait), `bodies` the
    delivered webhook bodies by delivery id, `setup` the vendor's setup section, `rewrite` the vendor's
    `export_request` (None drops the request)."""
    console = f"{CONTROL}/vendors/{vendor}/tenants/{tenant}/"

    def ours(e: Mapping[str, Any]) -> bool:
        """The tenant's entries; a control call is the tenant's by its path or query too."""
        if e.get("tenant") == tenant:
            return True
        path = str(e.get("data", {}).get("path", ""))
        return e.get("kind") == "control" and (path.startswith(console) or _resets(e, vendor, tenant))

    mine = [e for e in entries if ours(e)]
    start = 0
    for i, entry in enumerate(mine):
        if _resets(entry, vendor, tenant):
            start = i + 1
    mine = mine[start:]
    targets = sorted(
        {str(e["data"]["url"]) for e in mine if e.get("kind") == "delivery" and e.get("data", {}).get("url")},
        key=len,
        reverse=True,
    )
    steps: list[dict[str, Any]] = []
    expected: list[dict[str, Any]] = []
    skipped: Counter[str] = Counter()
    last_at: float | None = None

    def wait_until(at: float) -> None:
        nonlocal last_at
        if last_at is not None and round(at - last_at, WAIT_RESOLUTION) > 0:
            steps.append({"advance": round(at - last_at, WAIT_RESOLUTION)})
        last_at = at if last_at is None else max(last_at, at)

    for entry in mine:
        kind, data = entry.get("kind"), entry.get("data", {})
        if kind == "delivery" and entry.get("vendor") == vendor:
            body = bodies.get(str(data.get("delivery_id")))
            if body is not None:
                expected.append({"expect_webhook": {"match": stable(body), "within": 0}})
            continue
        if kind == "request" and entry.get("vendor") == vendor:
            spec: dict[str, Any] | None = _request_step(entry, targets)
            if rewrite is not None and spec is not None:
                spec = rewrite(spec)
            if spec is None:
                skipped["vendor request a scenario does itself"] += 1
                continue
        elif kind == "control":
            path = str(data.get("path", ""))
            if not path.startswith(console):
                skipped[_skip_reason(path)] += 1
                continue
            spec = _request_step(entry, targets)
        else:
            continue
        wait_until(float(entry.get("at") or 0.0))
        steps.append({"request": spec})
    if now is not None and last_at is not None:
        wait_until(now)
    left_out = ", ".join(f"{what} ({n})" for what, n in sorted(skipped.items()))
    description = f"Saved from {vendor} tenant {tenant}: {sum('request' in s for s in steps)} requests replayed"
    description += f" with the waits between them, then the {len(expected)} webhooks they produced."
    if left_out:
        description += f" Left out: {left_out}."
    return {
        "name": f"Saved from {vendor}/{tenant}",
        "description": description,
        "vendor": vendor,
        "seed": seed,
        "tenant": tenant,
        "setup": dict(setup or {}),
        "steps": steps + expected,
    }


class _Dumper(yaml.SafeDumper):
    """Block style with long lines; strings that YAML would read as something else are quoted by PyYAML."""


def to_yaml(doc: Mapping[str, Any]) -> str:
    """The document as a scenario file (keys in the documented order, steps one per item)."""
    return yaml.dump(dict(doc), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)


def _entries(emu: Emulator, after: int | None) -> list[dict[str, Any]]:
    wanted = Match(kinds=("request", "control", "delivery"))  # `build` picks the tenant's (by path too)
    return [e.to_json() for e in emu.feed.query(wanted, after=after, limit=0)]


def export_tenant(emu: Emulator, hooks: ScenarioHooks, vendor: str, tenant: str, after: int | None) -> str:
    """The tenant's hand work since `after` (a journal id; default: all the journal keeps) as scenario YAML."""
    entries = _entries(emu, after)
    ids = {str(e["data"].get("delivery_id")) for e in entries if e.get("kind") == "delivery"}
    bodies = {d.id: d.payload() for d in (emu.dispatcher.get(i) for i in ids) if d is not None}
    doc = build(
        entries,
        vendor=vendor,
        tenant=tenant,
        seed=emu.store.seed,
        now=emu.scheduler.now(tenant),
        bodies=bodies,
        setup=hooks.export_setup(emu, tenant),
        rewrite=hooks.export_request,
    )
    return to_yaml(doc)
