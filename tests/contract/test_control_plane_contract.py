"""The control plane's checked-in contract matches the code, and the app conforms to it (schemathesis)."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.core.parameters import ParameterLocation
from schemathesis.python import asgi

from emulator.app import control_contract, create_app
from emulator.core.contracts import to_yaml
from emulator.vendors import VENDORS
from emulator.vendors.eightbyeight.constants import API_PREFIX as EBE
from emulator.vendors.samespace.constants import FLOW_PATH
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
        if param["schema"].get("type") in ("integer", "number") and not {"minimum", "maximum"} <= param["schema"].keys()
    ]
    assert open_ended == []


# the sink keeps as many requests as its `limit` filter may ask for, so every schema-valid limit is accepted
app = create_app(make_settings(sink_size=100_000, max_body_bytes=CONTRACT_BODY_LIMIT), plugins=[echo_vendor.PLUGIN])
schema = schemathesis.openapi.from_asgi("/_emulator/openapi.json", app).exclude(
    path_regex=r"^/_emulator/(events|vendors/.*)$"
)


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


# -- the vendors' act-by-hand routes ------------------------------------------------------------------------------

TENANT = "alpha"
"""Configured in every built-in vendor."""
SAMESPACE_TOKEN = "a" * 32
V = "/_emulator/vendors"

vendor_app = create_app(
    make_settings(
        max_body_bytes=CONTRACT_BODY_LIMIT,
        webhook_allow_hosts=("webhooks.invalid",),  # whatever URL a generated body names, nothing is sent
        vendors={
            plugin.slug: {"tenants": {TENANT: {"auth_token": SAMESPACE_TOKEN} if plugin.slug == "samespace" else {}}}
            for plugin in VENDORS
        },
    ),
    plugins=VENDORS,
)
vendor_schema = schemathesis.openapi.from_asgi("/_emulator/openapi.json", vendor_app).include(
    path_regex=r"^/_emulator/vendors/"
)


def test_every_vendor_route_is_fuzzed() -> None:
    """The contract's `/vendors/` operations are what the run below covers: one per act-by-hand route (and the
    kernel's behaviour routes) of every built-in vendor."""
    operations = [result.ok() for result in vendor_schema.get_all_operations()]
    assert len(operations) == 30
    assert {op.path.split("/")[3] for op in operations} == {p.slug for p in VENDORS}


def _post(path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    with asgi.get_client(vendor_app) as http:  # schemathesis's own: the app's lifespan started once, as for the run
        answer = http.post(path, json=body, headers=headers or {})
    assert answer.status_code < 300, answer.text
    return answer.json()


@pytest.fixture(scope="module")
def subjects() -> dict[str, dict[str, str]]:
    """A conversation, chat and call of each vendor's configured tenant, for the generated requests to act on (the
    run never resets the tenant: `/reset` is not among the fuzzed operations)."""
    base = f"{V}/{{}}/tenants/{TENANT}"
    channel = {"channelId": "1", "user": {"name": "Ada"}}
    ebe = _post(f"{EBE}/conversations", channel, headers={"x-api-key": TENANT})
    sangoma = _post(base.format("sangoma") + "/customers", {"text": "hello"})
    cm = _post(base.format("cmcom") + "/end-users/+31612345678/messages", {"text": "hello"})
    flow = [{"id": 0, "type": "call", "number": "15550007777", "next_step": 1}, {"id": 1, "type": "play", "text": "hi"}]
    call = _post(FLOW_PATH, {"cloud_id": TENANT, "auth_token": SAMESPACE_TOKEN, "flow": flow})
    return {
        "eightbyeight": {"conversation_id": ebe["conversationId"]},
        "sangoma": {"conversation_id": str(sangoma["conversation_id"])},
        "cmcom": {"chat_id": cm["chatId"], "number": "+31612345678"},
        "samespace": {"call_id": call["call_id"], "number": "15550007777"},
    }


@vendor_schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_vendor_control_conforms(case: schemathesis.Case, subjects: dict[str, dict[str, str]]) -> None:
    _aim_vendor(case, subjects)
    case.call_and_validate()


def _most(value: Any) -> bool:
    """Three in four generated values (decided by the value itself, so a failing example replays)."""
    return zlib.crc32(repr(value).encode()) % 4 != 0


def _aim_vendor(case: schemathesis.Case, subjects: dict[str, dict[str, str]]) -> None:
    """Point most requests at the configured tenant and its real conversations, chats and calls (the others name
    ones that do not exist: 404), so the handlers see their bodies and act, and make schema-valid bodies follow
    the rules a schema cannot say (checked by the handlers, a 400 when broken: say needs text, transfer a queue, a
    regular expression compiles, a URL has a host, DTMF keys are 0-9 * #, ...)."""
    if case.meta is None or case.path_parameters is None:
        return
    params = case.path_parameters
    if not case.meta.is_negative_at(ParameterLocation.PATH):  # a bad path parameter stays as it was made
        if _most(params.get("tenant")):
            params["tenant"] = TENANT
        for name, real in subjects[case.path.split("/")[3]].items():
            if name in params and _most(params[name]):
                params[name] = real
    if not case.meta.generation.mode.is_positive:
        return
    body = case.body
    if not isinstance(body, dict):
        return
    _follow_rules(body)
    if body.get("action") in ("say", "note") and body.get("text") is None:
        body["text"] = "hello"
    if body.get("action") == "transfer" and body.get("queueId") is None:  # 8x8: to its configured queue
        body["queueId"] = "100"
    if ("flowId" in body or "stepId" in body) and (body.get("flowId") is None) != (body.get("stepId") is None):
        body["flowId"] = body["stepId"] = None
    if case.path.endswith("/messages"):  # a CM.com end user: one of media, location, button, else text
        body["channel"] = "WhatsApp"
        sent = [key for key in ("media", "location", "button") if body.get(key) is not None]
        for key in sent[1:]:
            body[key] = None
        if not sent and body.get("text") is None:
            body["text"] = "hello"
    if isinstance(body.get("schedules"), list):  # unique names
        for n, schedule in enumerate(body["schedules"]):
            if isinstance(schedule, dict):
                schedule["name"] = f"s{n}"


URLS = frozenset({"bot", "status", "customerContact", "notifications", "mo", "callback_url"})
"""Webhook and callback URL fields of the act-by-hand bodies."""


def _follow_rules(value: Any) -> None:
    """The field rules (at any depth) a schema-valid body may break."""
    if isinstance(value, list):
        for item in value:
            _follow_rules(item)
        return
    if not isinstance(value, dict):
        return
    for key, item in value.items():
        if key in URLS and isinstance(item, str):
            value[key] = f"https://webhooks.invalid/{key}"
        elif key == "match" and isinstance(item, str):
            value[key] = "hello"
        elif key == "dtmf" and isinstance(item, list):
            value[key] = ["1" for _ in item]
        elif key in ("start_time", "end_time") and isinstance(item, str):
            value[key] = "09:00" if key == "start_time" else "17:00"
        elif key == "time_zone" and isinstance(item, str):
            value[key] = "UTC"
        else:
            _follow_rules(item)
