"""The control plane's checked-in contract matches the code, and the app conforms to it (schemathesis)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings

from emulator.app import control_contract, create_app
from emulator.core.contracts import to_yaml
from tests.conftest import CONTRACT_BODY_LIMIT, make_settings
from tests.support import echo_vendor

ROOT = Path(__file__).resolve().parents[2]


def test_checked_in_contract_matches_the_code() -> None:
    path = ROOT / "contracts" / "control-plane.openapi.yaml"
    assert path.read_text(encoding="utf-8") == to_yaml(control_contract()), "run `cxemu contracts export`"


def test_every_numeric_parameter_says_its_bounds() -> None:
    """The server checks every number in a query or path against a range; a contract that leaves one open lets a
    client send a value the contract calls valid and get a 400 (schemathesis found one such `after`)."""
    open_ended = [
        f"{method.upper()} {path} {param['name']}"
        for path, operations in control_contract()["paths"].items()
        for method, op in operations.items()
        if isinstance(op, dict)
        for param in op.get("parameters", [])
        if param["schema"].get("type") in ("integer", "number")
        and not {"minimum", "maximum"} <= param["schema"].keys()
    ]
    assert open_ended == []


# the sink keeps as many requests as its `limit` filter may ask for, so every schema-valid limit is accepted
app = create_app(make_settings(sink_size=100_000, max_body_bytes=CONTRACT_BODY_LIMIT), plugins=[echo_vendor.PLUGIN])
schema = schemathesis.openapi.from_asgi("/_emulator/openapi.json", app).exclude(path_regex=r"^/_emulator/events$")


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_control_plane_conforms(case: schemathesis.Case) -> None:
    if case.query and "wait" in case.query:
        case.query["wait"] = 0
    _aim_sink_filters(case)
    _aim_chaos(case)
    case.call_and_validate()


def _aim_chaos(case: schemathesis.Case) -> None:
    """`PUT /chaos` has rules a schema cannot say: only a tenant's own faults (`?tenant=`) expire, and a body's
    `tenant` names the query's tenant; schema-valid requests follow them, the others still get a 400."""
    if case.path != "/_emulator/chaos" or case.method != "PUT" or not isinstance(case.body, dict):
        return
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    tenant = (case.query or {}).get("tenant")
    if tenant is None:
        case.body.pop("expires_in", None)
    elif case.body.get("tenant") is not None:
        case.body["tenant"] = tenant


def _aim_sink_filters(case: schemathesis.Case) -> None:
    """The sink's filters have rules a schema cannot say (the vendor is one the server serves; a `path` filter
    under `/sink/{path}` lies below it): schema-valid requests follow them, the others still get a 400."""
    if not case.path.startswith("/_emulator/sink") or case.meta is None or not case.meta.generation.mode.is_positive:
        return
    query: dict[str, Any] = case.query or {}
    if "vendor" in query and query["vendor"] != echo_vendor.SLUG:
        query["vendor"] = echo_vendor.SLUG
    if "{path}" in case.path:
        query.pop("path", None)
