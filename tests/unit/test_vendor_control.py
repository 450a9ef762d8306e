"""The vendors' act-by-hand routes as the control plane's contract declares them: served from the same declarations,
bad input a 400 in the control plane's envelope that changes nothing (a value the config models would coerce
included), unknown tenants a 404."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from emulator.app import control_contract
from emulator.vendors import VENDORS
from tests.conftest import AppFactory

V = "/_emulator/vendors"


@pytest.fixture
async def client(make_app: AppFactory) -> httpx.AsyncClient:
    _, c = await make_app(vendor_plugins=VENDORS)
    r = await c.post("/_emulator/tenants", json={"tenant": "alpha"})
    assert r.status_code == 201, r.text
    return c


async def _view(client: httpx.AsyncClient, vendor: str) -> dict[str, Any]:
    r = await client.get(f"{V}/{vendor}/tenants/alpha")
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def test_the_contract_declares_each_vendor_route_with_its_body_and_errors() -> None:
    paths = control_contract()["paths"]
    op = paths[f"{V}/eightbyeight/tenants/{{tenant}}/conversations/{{conversation_id}}/agent"]["post"]
    assert [p["name"] for p in op["parameters"]] == ["tenant", "conversation_id"]
    assert op["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/eightbyeight_AgentAction"
    }
    assert set(op["responses"]) == {"200", "400", "404", "408", "409", "413", "431"}  # 408, 413, 431: the server's
    assert op["tags"] == ["eightbyeight"]
    behaviour = paths[f"{V}/samespace/tenants/{{tenant}}/behaviour"]["put"]
    assert behaviour["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/FlowBehaviour"
    }


@pytest.mark.parametrize(
    ("vendor", "path", "body", "message"),
    [
        ("eightbyeight", "behaviour", {"auto": 1}, "auto: Input should be a valid boolean"),
        ("sangoma", "behaviour", {"reply_delay": False}, "reply_delay: Input should be a valid number"),
        ("sangoma", "customer-behaviour", {"reply_delay": "5"}, "reply_delay: Input should be a valid number"),
        ("cmcom", "behaviour", {"agents_auto": 0}, "agents_auto: Input should be a valid boolean"),
        ("samespace", "behaviour", {"max_steps": True}, "max_steps: Input should be a valid number"),
    ],
)
async def test_a_behaviour_coerced_from_another_json_type_is_refused_and_kept(
    client: httpx.AsyncClient, vendor: str, path: str, body: dict[str, Any], message: str
) -> None:
    before = await _view(client, vendor)
    r = await client.put(f"{V}/{vendor}/tenants/alpha/{path}", json=body)
    assert r.status_code == 400
    assert r.json() == {"error": "invalid_request", "message": message}
    assert await _view(client, vendor) == before


async def test_a_whole_number_for_an_integer_is_taken(client: httpx.AsyncClient) -> None:
    r = await client.put(f"{V}/samespace/tenants/alpha/behaviour", json={"max_steps": 40.0})
    assert r.status_code == 200, r.text
    assert r.json()["max_steps"] == 40
    assert (await _view(client, "samespace"))["behaviour"]["max_steps"] == 40


async def test_a_callee_coerced_from_another_json_type_is_refused_and_not_set(client: httpx.AsyncClient) -> None:
    r = await client.put(f"{V}/samespace/tenants/alpha/numbers/+15550001", json={"rings": True})
    assert r.status_code == 400
    assert r.json() == {"error": "invalid_request", "message": "rings: Input should be a valid number"}
    assert "+15550001" not in (await _view(client, "samespace"))["numbers"]
    r = await client.put(f"{V}/sangoma/tenants/alpha/callees/+15550001", json={"outcome": "busy", "ring_after": "1"})
    assert r.status_code == 400
    assert r.json() == {"error": "invalid_request", "message": "ring_after: Input should be a valid number"}
    assert "+15550001" not in (await _view(client, "sangoma"))["callees"]


async def test_a_schedule_coerced_from_another_json_type_is_refused_and_kept(client: httpx.AsyncClient) -> None:
    before = (await _view(client, "eightbyeight"))["schedules"]
    bad = {"schedules": [{"name": "x", "exceptions": [{"date": "2026-12-25", "status": False}]}]}
    r = await client.put(f"{V}/eightbyeight/tenants/alpha/schedules", json=bad)
    assert r.status_code == 400
    assert r.json() == {
        "error": "invalid_request",
        "message": "schedules.0.exceptions.0.status: Input should be a valid number",
    }
    assert (await _view(client, "eightbyeight"))["schedules"] == before


@pytest.mark.parametrize("vendor", [p.slug for p in VENDORS])
async def test_an_unknown_tenant_is_a_404_in_the_control_planes_shape(client: httpx.AsyncClient, vendor: str) -> None:
    r = await client.get(f"{V}/{vendor}/tenants/nobody")
    assert r.status_code == 404
    assert r.json()["error"] == "unknown_tenant"
    r = await client.put(f"{V}/{vendor}/tenants/nobody/behaviour", json={})
    assert r.status_code == 404
    assert r.json()["error"] == "unknown_tenant"


async def test_a_wrong_method_on_a_vendor_route_is_a_405_listing_the_allowed_one(client: httpx.AsyncClient) -> None:
    r = await client.delete(f"{V}/cmcom/tenants/alpha/chats")
    assert r.status_code == 405
    assert set(r.headers["allow"].split(", ")) == {"GET", "HEAD"}
    assert r.json()["error"] == "method_not_allowed"


BODY_FIRST = {
    ("eightbyeight", "post", "/tenants/{tenant}/conversations/{conversation_id}/agent"): (400, 400),
    ("eightbyeight", "post", "/tenants/{tenant}/conversations/{conversation_id}/customer"): (400, 400),
    ("sangoma", "put", "/tenants/{tenant}/customer-behaviour"): (400, 400),
}
"""The act-by-hand routes that look at their body before the tenant: (status for a body that is not JSON, status for
JSON of the wrong kind) for an unknown tenant. Every other route names the unknown tenant first (404, 404)."""
FILLED = {
    "conversation_id": "1",
    "name": "ann",
    "call_id": "c1",
    "chat_id": "2a9c1b5e-7d1f-4a6b-9c1d-0e2f3a4b5c6d",
    "number": "+31612345678",
}


def _vendor_ops() -> list[tuple[str, str, str]]:
    """Every vendor act-by-hand operation naming a tenant: (vendor, method, path under the vendor)."""
    found = []
    for path, ops in control_contract()["paths"].items():
        if path.startswith(f"{V}/") and "{tenant}" in path:
            vendor, rest = path[len(V) + 1 :].split("/", 1)
            found += [(vendor, method, "/" + rest) for method in ops if method in {"get", "put", "post"}]
    return found


async def test_an_unknown_tenant_with_a_bad_body_is_answered_in_each_routes_order(client: httpx.AsyncClient) -> None:
    """Which comes first for an unknown tenant and a bad body (the order each route had when the check moved into
    the control `Api`): the 404 naming the tenant in the vendor's words, or the body's 400."""
    nouns = {"eightbyeight": "8x8 tenant", "cmcom": "CM.com tenant", "sangoma": "Sangoma tenant"}
    ops = _vendor_ops()
    assert {(v, m, p) for v, m, p in ops} >= set(BODY_FIRST)
    assert len(ops) > 20
    seen = {}
    for vendor, method, path in ops:
        url = V + f"/{vendor}" + path.format(tenant="nobody", **FILLED)
        statuses = []
        for bad in (b"{", b"[1]"):
            r = await client.request(method, url, content=bad if method != "get" else None)
            statuses.append(r.status_code)
            if r.status_code == 404:
                noun = nouns.get(vendor, "Samespace cloud")
                assert r.json() == {"error": "unknown_tenant", "message": f"no {noun} 'nobody'"}, (vendor, path)
            else:
                assert r.json()["error"] == "invalid_request", (vendor, path)
        seen[(vendor, method, path)] = tuple(statuses)
    assert seen == {op: BODY_FIRST.get(op, (404, 404)) for op in ops}
    # Sangoma's customer behaviour reads a JSON object first, but checks its knobs only once the tenant is known
    r = await client.put(f"{V}/sangoma/tenants/nobody/customer-behaviour", json={"reply_delay": "soon"})
    assert (r.status_code, r.json()["error"]) == (404, "unknown_tenant")
