"""What the kernel now does for every vendor: one declaration per endpoint, wrapping, provisioning,
behaviour, the typed store view (shown on the echo test vendor, the worked example)."""

from __future__ import annotations

import dataclasses

import httpx
import pytest
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from emulator.core.api import route
from emulator.core.plugin import BehaviourSpec, is_wrapped, merge_behaviour, vendor_endpoint
from emulator.core.runtime import Emulator
from tests.conftest import AppFactory
from tests.support import echo_vendor
from tests.support.echo_vendor import EchoBehaviour, EchoState

TENANT = {"x-echo-tenant": "t1"}
BEHAVIOUR = "/_emulator/vendors/echo/tenants/t1/behaviour"


async def test_operations_give_routes_and_a_contract_without_an_emulator() -> None:
    doc = echo_vendor.API.openapi()
    assert list(doc["paths"]) == [
        "/echo/v1/webhook",
        "/echo/v1/items",
        "/echo/v1/items/{item_id}",
        "/echo/v1/items/{item_id}/ping",
    ]
    assert doc["paths"]["/echo/v1/items"]["post"]["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ItemOut"
    }


async def test_a_path_with_several_methods_lists_them_in_allow(client: httpx.AsyncClient) -> None:
    r = await client.post("/_emulator/chaos")
    assert r.status_code == 405
    assert set(r.headers["allow"].replace(" ", "").split(",")) >= {"GET", "PUT", "DELETE"}


async def test_plain_vendor_handlers_are_journaled_and_errors_use_the_vendor_envelope(
    make_app: AppFactory,
) -> None:
    app, client = await make_app()
    r = await client.get("/echo/v1/items/nope", headers=TENANT)
    assert r.status_code == 404
    assert r.json() == {"code": "not_found", "detail": "no item nope"}
    entries = app.state.emulator.journal.query(vendor="echo", limit=0)
    assert [(e.method, e.path, e.status) for e in entries] == [("GET", "/echo/v1/items/nope", 404)]


async def test_a_route_the_vendor_wrapped_itself_is_not_wrapped_again(make_app: AppFactory) -> None:
    async def hello(request: Request) -> Response:
        return JSONResponse({"hello": True})

    def routes(emu: Emulator) -> list[BaseRoute]:
        return [Route("/echo/v1/hello", vendor_endpoint(emu, plugin, hello), methods=["GET"])]

    plugin = dataclasses.replace(echo_vendor.PLUGIN, routes=routes)
    app, client = await make_app(vendor_plugins=[plugin])
    assert (await client.get("/echo/v1/hello")).json() == {"hello": True}
    assert len(app.state.emulator.journal.query(vendor="echo", limit=0)) == 1  # journaled once, not twice
    assert is_wrapped(vendor_endpoint(app.state.emulator, plugin, hello))
    assert not is_wrapped(hello)


async def test_a_vendor_path_of_several_methods_sends_each_to_its_own_handler(make_app: AppFactory) -> None:
    """`VendorRoute`: each method's handler is journaled and renders its errors in the vendor's envelope on its
    own; HEAD is served by GET; other methods get the vendor's 405 with `Allow`."""

    async def read(request: Request) -> Response:
        return JSONResponse({"read": request.path_params["thing"]})

    async def boom(request: Request) -> Response:
        raise RuntimeError("a bug in a handler")

    def routes(emu: Emulator) -> list[BaseRoute]:
        return [route("/echo/v1/things/{thing}", {"GET": read, "DELETE": boom})]

    plugin = dataclasses.replace(echo_vendor.PLUGIN, routes=routes)
    app, client = await make_app(vendor_plugins=[plugin])
    got = await client.get("/echo/v1/things/a1")
    assert (got.status_code, got.json(), got.headers["content-type"]) == (200, {"read": "a1"}, "application/json")
    head = await client.head("/echo/v1/things/a1")
    assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", got.headers["content-length"])
    failed = await client.delete("/echo/v1/things/a1")
    assert (failed.status_code, failed.json()) == (500, {"code": "internal_error", "detail": "Internal error."})
    refused = await client.post("/echo/v1/things/a1")
    assert refused.status_code == 405
    assert set(refused.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "DELETE"}
    entries = app.state.emulator.journal.query(vendor="echo", limit=0)
    assert [(e.method, e.status) for e in entries] == [("GET", 200), ("HEAD", 200), ("DELETE", 500)]


async def test_provisioning_marks_the_tenant_and_returns_its_credentials(make_app: AppFactory) -> None:
    app, client = await make_app(auth="strict")
    assert (await client.get("/echo/v1/items/x", headers=TENANT)).status_code == 401
    r = await client.post("/_emulator/tenants", json={"tenant": "t1"})
    assert r.status_code == 201
    assert r.json()["credentials"] == {"echo": {"header": "x-echo-tenant", "tenant": "t1"}}
    assert (await client.get("/echo/v1/items/x", headers=TENANT)).status_code == 404  # let in now
    snapshot = (await client.get("/_emulator/state")).json()
    assert snapshot["store"]["echo"]["t1"]["provisioned"] is True
    app.state.emulator.reset()
    assert (await client.post("/_emulator/state", json=snapshot)).status_code == 200
    assert app.state.emulator.store.provisioned("echo", "t1")


async def test_behaviour_put_merges_the_fields_given(client: httpx.AsyncClient) -> None:
    await client.post("/_emulator/tenants", json={"tenant": "t1"})
    r = await client.put(BEHAVIOUR, json={"ping_delay": 5})
    assert r.status_code == 200
    assert r.json() == {"ping_delay": 5.0, "greeting": "hello"}
    r = await client.put(BEHAVIOUR, json={"greeting": "hi"})
    assert r.json() == {"ping_delay": 5.0, "greeting": "hi"}


async def test_a_bad_behaviour_body_is_a_400_naming_the_field_and_changes_nothing(
    client: httpx.AsyncClient, make_app: AppFactory
) -> None:
    await client.post("/_emulator/tenants", json={"tenant": "t1"})
    r = await client.put(BEHAVIOUR, json={"ping_delay": -1})
    assert r.status_code == 400
    assert r.json() == {"error": "invalid_request", "message": "ping_delay: Input should be greater than or equal to 0"}
    r = await client.put(BEHAVIOUR, json={"nope": 1})
    assert r.status_code == 400
    assert r.json()["message"].startswith("nope: ")
    r = await client.put(BEHAVIOUR, content=b"[1, 2]")
    assert r.status_code == 400
    assert r.json()["message"] == "the body must be a JSON object"
    r = await client.put(BEHAVIOUR, content=b"[" * 100_000)
    assert r.status_code == 400
    assert "nested too deeply" in r.json()["message"]
    assert (await client.put(BEHAVIOUR, json={})).json() == EchoBehaviour().model_dump()


async def test_behaviour_of_an_unknown_tenant_or_vendor_is_a_json_404(client: httpx.AsyncClient) -> None:
    r = await client.put("/_emulator/vendors/echo/tenants/ghost/behaviour", json={})
    assert r.status_code == 404
    assert r.json() == {"error": "unknown_tenant", "message": "no echo tenant 'ghost'"}
    r = await client.put("/_emulator/vendors/nope/tenants/t1/behaviour", json={})
    assert r.status_code == 404
    assert r.json()["error"] == "not_found"


async def test_behaviour_of_a_configured_tenant_works_before_its_first_request(make_app: AppFactory) -> None:
    app, client = await make_app(vendors={"echo": {"tenants": {"cfg": {}}}})
    emu = app.state.emulator
    assert emu.knows("echo", "cfg")
    assert not emu.store.exists("echo", "cfg")
    r = await client.put("/_emulator/vendors/echo/tenants/cfg/behaviour", json={"ping_delay": 5})
    assert (r.status_code, r.json()["ping_delay"]) == (200, 5)
    assert not emu.knows("echo", "other")
    r = await client.put("/_emulator/vendors/echo/tenants/other/behaviour", json={})
    assert r.status_code == 404


async def test_behaviour_reaches_the_vendor(make_app: AppFactory) -> None:
    app, client = await make_app()
    await client.post("/_emulator/tenants", json={"tenant": "t1"})
    await client.put(BEHAVIOUR, json={"ping_delay": 30})
    item = (await client.post("/echo/v1/items", headers=TENANT, json={"text": "x"})).json()
    assert (
        await client.post(f"/echo/v1/items/{item['id']}/ping", headers=TENANT, json={"delay": 10})
    ).status_code == 202
    assert app.state.emulator.scheduler.next_due() == app.state.emulator.clock.now() + 40


class _Other(BaseModel):
    n: int = 0


async def test_the_typed_store_view(emu: Emulator) -> None:
    view = emu.store.of("echo", EchoState)
    assert view.peek("t9") is None
    assert not view.exists("t9")
    async with view.tenant("t9") as tx:
        tx.state.webhook_url = "http://127.0.0.1:1/hook"
    state = view.peek("t9")
    assert state is not None
    assert state.webhook_url == "http://127.0.0.1:1/hook"
    assert emu.store.of("echo", _Other).peek("t9") is None  # the wrong type is never handed out
    assert not view.provisioned("t9")


def test_merge_behaviour_calls_on_change_only_when_the_merge_succeeds() -> None:
    seen: list[EchoState] = []
    spec = BehaviourSpec(EchoBehaviour, on_change=seen.append)
    state = EchoState()
    merge_behaviour(spec, state, {"ping_delay": 3})
    assert (seen, state.behaviour.ping_delay) == ([state], 3)
    with pytest.raises(ValidationError):
        merge_behaviour(spec, state, {"ping_delay": -1})
    assert (len(seen), state.behaviour.ping_delay) == (1, 3)


def test_a_domain_event_is_a_frozen_dataclass_built_by_position_or_keyword() -> None:
    """`DomainEvent`'s own `__init__` (the slots' setters) builds what the generated one built: the same fields, a
    new `data` dict when none is given, equality, `replace`, and no assignment afterwards."""
    from emulator.core.events import DomainEvent

    by_position = DomainEvent("echo", "t1", "item.created", "it-1", 5.0, {"n": 1})
    by_keyword = DomainEvent(vendor="echo", tenant="t1", kind="item.created", subject="it-1", at=5.0, data={"n": 1})
    assert by_position == by_keyword
    assert by_position.to_json() == {
        "vendor": "echo", "tenant": "t1", "kind": "item.created", "subject": "it-1", "at": 5.0, "data": {"n": 1},
    }  # fmt: skip
    bare, other = DomainEvent("echo", "t1", "k", "s", 1.0), DomainEvent("echo", "t1", "k", "s", 1.0)
    assert bare.data == {}
    assert bare.data is not other.data
    assert dataclasses.replace(by_position, kind="item.deleted").kind == "item.deleted"
    with pytest.raises(dataclasses.FrozenInstanceError):
        by_position.kind = "changed"  # type: ignore[misc]
