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
    assert set(op["responses"]) == {"200", "400", "404", "409"}
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
