"""The control plane with an admin token (issue 18 §4, `core.guard`): the admin-token matrix, generated from the
control contract and the vendors' act-by-hand routes, so a new route cannot escape it.

For every route, four callers: nobody (401), the admin (let through), a tenant's own vendor credential for its
own tenant (let through where the route is tenant-scoped, 403 where it is global), and another tenant's
credential aimed at the first tenant (403). "Let through" means the guard did not answer: the handler may still
say 400 or 404 for the matrix's minimal inputs.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.routing import Mount, Route

from emulator.app import control_contract, create_app
from emulator.core.delivery import Delivery
from emulator.core.guard import POLICY, Access, access_of
from emulator.core.redact import MASK, redact_delivery
from emulator.core.settings import Settings
from emulator.vendors.cmcom.constants import GATEWAY_PATH
from emulator.vendors.eightbyeight.constants import API_PREFIX as EBE
from emulator.vendors.samespace.constants import CALL_PATH, FLOW_PATH
from emulator.vendors.sangoma import PLUGIN as SANGOMA
from emulator.vendors.sangoma.constants import DI as SANGOMA_DI
from emulator.vendors.sangoma.constants import TOKEN_PATH
from tests.support.echo_vendor import PLUGIN as ECHO

ADMIN_TOKEN = "admin-token-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
MOUNT = "/_emulator"


def _contract_routes(*, vendors: bool) -> list[tuple[str, str]]:
    """(method, path under /_emulator) of the contract's operations: the vendors' (`/vendors/...`) or the others."""
    doc = control_contract()
    routes = [(m.upper(), p.removeprefix(MOUNT)) for p, ops in doc["paths"].items() for m in ops]
    return [(m, p) for m, p in routes if p.startswith("/vendors/") == vendors]


def _vendor_routes() -> list[tuple[str, str, str]]:
    """(vendor, method, path under /_emulator) of every act-by-hand and behaviour route."""
    app = create_app(Settings())
    mount = next(r for r in app.routes if isinstance(r, Mount) and r.path == MOUNT)
    out = []
    for r in mount.routes:
        if isinstance(r, Mount) and r.path.startswith("/vendors/"):
            vendor = r.path.split("/")[2]
            out += [
                (vendor, m, r.path + sub.path) for sub in r.routes if isinstance(sub, Route) for m in sub.methods or ()
            ]
        elif isinstance(r, Route) and r.path.startswith("/vendors/"):
            out += [(r.path.split("/")[2], m, r.path) for m in r.methods or ()]
    return [(v, m, p) for v, m, p in out if m != "HEAD"]


CONTRACT = _contract_routes(vendors=False)
VENDOR_ROUTES = _vendor_routes()


def test_every_contract_route_is_classified() -> None:
    """A new control route must be put in `guard.POLICY` on purpose (else it is the admin's and this fails)."""
    missing = [f"{m} {p}" for m, p in CONTRACT if (m, p) not in POLICY]
    assert missing == []
    assert {(m, p) for m, p in POLICY if m != "*" and p not in ("/openapi.json", "/contracts/{slug}")} == set(CONTRACT)


def test_every_vendor_route_is_in_the_contract() -> None:
    """The act-by-hand and behaviour routes the built-in vendors serve are the contract's `/vendors/` operations."""
    assert sorted(_contract_routes(vendors=True)) == sorted((m, p) for _vendor, m, p in VENDOR_ROUTES)


def test_vendor_routes_are_tenant_paths() -> None:
    assert VENDOR_ROUTES, "the vendors declare act-by-hand routes"
    for _vendor, method, path in VENDOR_ROUTES:
        concrete = path.replace("{tenant}", "alpha").replace("{slug}", "x")
        assert access_of(method, concrete)[0] is Access.PATH, path


@dataclass
class World:
    client: httpx.AsyncClient
    creds: dict[str, dict[str, dict[str, Any]]]
    """tenant -> vendor -> how a request presents that vendor's credential (headers, params)."""
    delivery: str
    sink_request: str


async def _world() -> tuple[Any, World]:
    app = create_app(Settings.load({}, {"clock": "virtual", "admin_token": ADMIN_TOKEN}))
    await app.state.emulator.start()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cxemu.test")
    creds: dict[str, dict[str, dict[str, Any]]] = {}
    for tenant in ("alpha", "beta"):
        out = (await client.post(f"{MOUNT}/tenants", json={"tenant": tenant}, headers=ADMIN)).json()["credentials"]
        ss = out["sangoma"]
        basic = base64.b64encode(f"{ss['client_id']}:{ss['client_secret']}".encode()).decode()
        token = await client.post(
            TOKEN_PATH,
            content="grant_type=client_credentials",
            headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert token.status_code == 200, token.text
        creds[tenant] = {
            "eightbyeight": {"headers": {"x-api-key": out["eightbyeight"]["apiKey"]}},
            "cmcom": {"headers": {"X-CM-PRODUCTTOKEN": out["cmcom"]["productToken"]}},
            "samespace": {"params": {"cloud_id": tenant, "auth_token": out["samespace"]["auth_token"]}},
            "sangoma": {"headers": {"Authorization": f"Bearer {token.json()['access_token']}"}},
        }
    created = await client.post(
        f"{EBE}/conversations",
        json={"channelId": "1", "user": {"name": "A"}},
        headers=creds["alpha"]["eightbyeight"]["headers"],
    )
    assert created.status_code in (200, 201, 202), created.text
    await client.post(f"{MOUNT}/clock/run-until-idle", json={}, headers=ADMIN)
    found = (await client.get(f"{MOUNT}/deliveries", params={"tenant": "alpha"}, headers=ADMIN)).json()["deliveries"]
    sunk = (await client.get(f"{MOUNT}/sink/eightbyeight/alpha", headers=ADMIN)).json()["requests"]
    assert found, "the matrix needs one of alpha's deliveries"
    assert sunk, "the matrix needs one of alpha's sink requests"
    return app, World(client, creds, found[0]["id"], sunk[0]["id"])


@pytest.fixture
async def world() -> Any:
    app, w = await _world()
    yield w
    await w.client.aclose()
    await app.state.emulator.stop()


def _concrete(w: World, path: str, vendor: str) -> str:
    return (
        path.replace("{delivery_id}", w.delivery)
        .replace("{request_id}", w.sink_request)
        .replace("{scenario_id}", "nope")
        .replace("{slug}", "eightbyeight")
        .replace("{path}", "eightbyeight/alpha")
        .replace("{tenant}", "alpha")
        .replace("{vendor}", vendor)
        .replace("{conversation_id}", "c1")
        .replace("{chat_id}", "x")
        .replace("{call_id}", "x")
        .replace("{number}", "1")
        .replace("{name}", "x")
    )


async def _call(w: World, method: str, path: str, vendor: str, who: str) -> httpx.Response:
    access, _ = access_of(method, path.replace("{path}", "eightbyeight/alpha"))
    params: dict[str, Any] = {}
    if access in (Access.TENANT, Access.VENDOR_TENANT):
        params["tenant"] = "alpha"
    if path == "/events":
        params.update(limit=1, timeout=0.001)
    headers: dict[str, str] = {}
    if who == "admin":
        headers = dict(ADMIN)
    elif who in ("own", "other"):
        cred = w.creds["alpha" if who == "own" else "beta"][vendor]
        headers = dict(cred.get("headers", {}))
        params.update(cred.get("params", {}))
    body = {} if method in ("POST", "PUT", "PATCH") else None
    return await w.client.request(method, MOUNT + _concrete(w, path, vendor), params=params, headers=headers, json=body)


def _cases() -> Iterator[Any]:
    for method, path in CONTRACT:
        yield pytest.param(method, path, "eightbyeight", id=f"{method} {path}")
    for vendor, method, path in VENDOR_ROUTES:
        yield pytest.param(method, path, vendor, id=f"{method} {path.replace('{slug}', vendor)}")


@pytest.mark.parametrize(("method", "path", "vendor"), list(_cases()))
async def test_admin_token_matrix(world: World, method: str, path: str, vendor: str) -> None:
    access, _ = access_of(method, _concrete(world, path, vendor))
    nobody = await _call(world, method, path, vendor, "nobody")
    other = await _call(world, method, path, vendor, "other")
    own = await _call(world, method, path, vendor, "own")
    admin = await _call(world, method, path, vendor, "admin")
    if access is Access.OPEN:
        assert nobody.status_code not in (401, 403), nobody.text
        return
    assert nobody.status_code == 401, nobody.text
    assert nobody.headers["www-authenticate"].startswith("Bearer")
    assert nobody.json()["error"] == "unauthorized"
    assert other.status_code == 403, other.text
    assert admin.status_code not in (401, 403), admin.text
    if access is Access.ADMIN:
        assert own.status_code == 403, own.text
    else:
        assert own.status_code not in (401, 403), own.text


async def test_a_wrong_admin_token_or_unknown_credential_is_401(world: World) -> None:
    for headers in ({"Authorization": "Bearer not-the-admin-token-at-all"}, {"x-api-key": "never-seen"}):
        r = await world.client.get(f"{MOUNT}/requests", params={"tenant": "never-seen"}, headers=headers)
        assert r.status_code == 401, r.text
    assert ("eightbyeight", "never-seen") not in world.client._transport.app.state.emulator.store.tenants()  # type: ignore[attr-defined]


async def test_a_tenant_sees_only_its_own_vendor_and_tenant(world: World) -> None:
    own = world.creds["alpha"]["eightbyeight"]["headers"]
    r = await world.client.get(f"{MOUNT}/requests", params={"tenant": "alpha"}, headers=own)
    assert r.status_code == 200
    entries = r.json()["requests"]
    assert entries
    assert {(e["vendor"], e["tenant"]) for e in entries} == {("eightbyeight", "alpha")}
    r = await world.client.get(f"{MOUNT}/requests", params={"tenant": "alpha", "vendor": "sangoma"}, headers=own)
    assert r.status_code == 403
    r = await world.client.get(f"{MOUNT}/deliveries", headers=own)
    assert r.status_code == 403
    assert "tenant=alpha" in r.json()["message"]
    r = await world.client.post(
        f"{MOUNT}/clock/advance", params={"tenant": "alpha,beta"}, json={"seconds": 1}, headers=own
    )
    assert r.status_code == 403


async def test_a_sink_path_prefix_reaches_no_other_tenant(world: World) -> None:
    """`/sink/eightbyeight/alpha` is a path prefix: it must not list what `alphabet` received."""
    await world.client.post(f"{MOUNT}/sink/eightbyeight/alphabet/hook", json={"secret": 1})
    own = world.creds["alpha"]["eightbyeight"]["headers"]
    r = await world.client.get(f"{MOUNT}/sink/eightbyeight/alpha", headers=own)
    assert r.status_code == 200
    assert {x["tenant"] for x in r.json()["requests"]} == {"alpha"}
    r = await world.client.delete(f"{MOUNT}/sink/eightbyeight/alpha", headers=own)
    assert r.status_code == 200
    left = (await world.client.get(f"{MOUNT}/sink", params={"tenant": "alphabet"}, headers=ADMIN)).json()
    assert left["total"] == 1


async def test_health_reveals_no_secret(world: World) -> None:
    r = await world.client.get(f"{MOUNT}/health")
    assert r.status_code == 200
    assert ADMIN_TOKEN not in r.text


async def test_no_admin_token_leaves_the_control_plane_open() -> None:
    app = create_app(Settings.load({}, {"clock": "virtual"}), plugins=[ECHO])
    await app.state.emulator.start()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cxemu.test") as c:
        assert (await c.get(f"{MOUNT}/state")).status_code == 200
        assert (await c.post(f"{MOUNT}/tenants", json={"tenant": "t1"})).status_code == 201
    await app.state.emulator.stop()


async def test_strict_auth_provisioning_needs_the_admin_token() -> None:
    app = create_app(Settings.load({}, {"clock": "virtual", "auth": "strict", "admin_token": ADMIN_TOKEN}))
    await app.state.emulator.start()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cxemu.test") as c:
        r = await c.post(f"{MOUNT}/tenants", json={"tenant": "mint"})
        assert r.status_code == 401
        r = await c.post(f"{MOUNT}/tenants", json={"tenant": "mint"}, headers={"x-api-key": "mint"})
        assert r.status_code == 401  # not provisioned: strict auth knows no such key
        assert app.state.emulator.store.tenants() == []
        r = await c.post(f"{MOUNT}/tenants", json={"tenant": "mint"}, headers=ADMIN)
        assert r.status_code == 201
        r = await c.post(f"{MOUNT}/tenants", json={"tenant": "mint2"}, headers={"x-api-key": "mint"})
        assert r.status_code == 403  # a tenant credential cannot mint another tenant
    await app.state.emulator.stop()


# -- redaction (issue 18 §4: secrets out of /state and /requests unless the admin asks) ----------------------


async def test_state_is_redacted_and_a_redacted_snapshot_is_refused(world: World) -> None:
    emu = world.client._transport.app.state.emulator  # type: ignore[attr-defined]
    secret = world.creds["alpha"]["samespace"]["params"]["auth_token"]
    bearer = world.creds["alpha"]["sangoma"]["headers"]["Authorization"].split()[1]
    full = await world.client.get(f"{MOUNT}/state", params={"secrets": "true"}, headers=ADMIN)
    assert secret in full.text
    assert bearer in full.text
    assert "redacted" not in full.json()
    shown = await world.client.get(f"{MOUNT}/state", headers=ADMIN)
    assert shown.status_code == 200
    assert secret not in shown.text
    assert bearer not in shown.text
    snap = shown.json()
    assert snap["redacted"] is True
    sangoma = snap["store"]["sangoma"]["alpha"]["state"]
    assert sangoma["client_secret"] == sangoma["tokens"] == "[redacted]"
    assert snap["store"]["samespace"]["alpha"]["state"]["auth_token"] == "[redacted]"
    before = emu.snapshot()
    refused = await world.client.post(f"{MOUNT}/state", json=snap, headers=ADMIN)
    assert refused.status_code == 400
    assert refused.json()["error"] == "redacted_snapshot"
    del snap["redacted"]  # a placeholder left where a secret was is refused too
    refused = await world.client.post(f"{MOUNT}/state", json=snap, headers=ADMIN)
    assert refused.status_code == 400
    assert refused.json()["error"] == "redacted_snapshot"
    assert emu.snapshot() == before
    restored = await world.client.post(f"{MOUNT}/state", json=full.json(), headers=ADMIN)
    assert restored.status_code == 200, restored.text
    assert emu.snapshot()["store"] == before["store"]


async def test_requests_are_redacted_unless_the_admin_asks(world: World) -> None:
    key = world.creds["alpha"]["eightbyeight"]["headers"]["x-api-key"]
    basic = "Basic "
    r = await world.client.get(f"{MOUNT}/requests", params={"limit": 0}, headers=ADMIN)
    entries = r.json()["requests"]
    token_calls = [e for e in entries if e["path"] == TOKEN_PATH]
    assert token_calls
    assert all(e["headers"]["authorization"] == "[redacted]" for e in token_calls)
    ebe = [e for e in entries if e["vendor"] == "eightbyeight"]
    assert ebe
    assert all(e["headers"]["x-api-key"] == "[redacted]" for e in ebe)
    full = await world.client.get(f"{MOUNT}/requests", params={"limit": 0, "secrets": "true"}, headers=ADMIN)
    assert basic in full.text
    assert key in {e["headers"].get("x-api-key") for e in full.json()["requests"]}
    own = world.creds["alpha"]["eightbyeight"]["headers"]
    r = await world.client.get(f"{MOUNT}/requests", params={"tenant": "alpha", "secrets": "true"}, headers=own)
    assert r.status_code == 403


async def test_journal_bodies_and_queries_lose_their_credentials(world: World) -> None:
    alpha = world.creds["alpha"]
    cm = alpha["cmcom"]["headers"]["X-CM-PRODUCTTOKEN"]
    body = {"messages": {"authentication": {"producttoken": cm}, "msg": []}}
    assert (await world.client.post(GATEWAY_PATH, json=body)).status_code < 500
    ss = alpha["samespace"]["params"]
    assert (await world.client.get(CALL_PATH.format(call_id="nope"), params=ss)).status_code == 404
    assert (await world.client.post(FLOW_PATH, json={**ss, "flow": []})).status_code == 400
    r = await world.client.get(f"{MOUNT}/requests", params={"limit": 0}, headers=ADMIN)
    assert cm not in r.text
    assert ss["auth_token"] not in r.text
    assert "[redacted]" in r.text


# -- read-only requests never create tenants (issue 18 §2) ---------------------------------------------------

GHOSTS = 40


async def test_reads_with_fresh_credentials_create_no_tenant() -> None:
    app = create_app(Settings.load({}, {"clock": "virtual"}))
    await app.state.emulator.start()
    store = app.state.emulator.store
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cxemu.test") as c:
        before = (await c.get(f"{MOUNT}/tenants")).json()
        for i in range(GHOSTS):
            r = await c.get(f"{EBE}/webhooks", headers={"x-api-key": f"ghost-{i}"})
            assert r.status_code == 200, r.text  # the world a new account reads
            r = await c.get(CALL_PATH.format(call_id="c1"), params={"cloud_id": f"ghost-{i}", "auth_token": "t"})
            assert r.status_code == 404, r.text  # a new cloud has no such call
            r = await c.get(f"{SANGOMA_DI}/inboxes", headers={"Authorization": f"Bearer ghost-{i}.x"})
            assert r.status_code == 401, r.text
            r = await c.get(GATEWAY_PATH, headers={"X-CM-PRODUCTTOKEN": f"00000000-0000-0000-0000-{i:012d}"})
            assert r.status_code == 405, r.text
        assert (await c.get(f"{MOUNT}/tenants")).json() == before == {"tenants": []}
        assert store.tenants() == []
        # the first write builds the tenant
        fresh = await c.get(f"{EBE}/webhooks", headers={"x-api-key": "k1"})
        made = await c.post(
            f"{EBE}/conversations", json={"channelId": "1", "user": {"name": "A"}}, headers={"x-api-key": "k2"}
        )
        assert made.status_code in (200, 201, 202), made.text
        built = await c.get(f"{EBE}/webhooks", headers={"x-api-key": "k2"})
        assert fresh.status_code == built.status_code == 200
        assert store.tenants() == [("eightbyeight", "k2")]
    await app.state.emulator.stop()


async def test_deliveries_hide_a_receivers_credentials_unless_the_admin_asks(world: World) -> None:
    """A receiver URL's user info and query values (cxemu cannot tell which is a token) are masked in the delivery
    log, a delivery, a redelivery's answer, the journal's delivery and attempt entries and a snapshot's pending
    deliveries, as `/requests` masks credentials; the admin sees them with `secrets=true`."""
    c = world.client
    url = "http://ada:hunter2@127.0.0.1:8080/_emulator/sink/eightbyeight/alpha?token=sekrit&lang=en"
    masked = "http://[redacted]@127.0.0.1:8080/_emulator/sink/eightbyeight/alpha?token=[redacted]&lang=[redacted]"
    r = await c.post(f"{MOUNT}/deliveries/{world.delivery}/redeliver", json={"url": url}, headers=ADMIN)
    assert r.status_code == 202, r.text
    assert r.json()["url"] == masked
    again = r.json()["id"]
    snap = (await c.get(f"{MOUNT}/state", headers=ADMIN)).json()
    [pending] = [d for d in snap["deliveries"]["pending"] if d["id"] == again]
    assert pending["url"] == masked
    await c.post(f"{MOUNT}/clock/run-until-idle", json={}, headers=ADMIN)
    listed = await c.get(f"{MOUNT}/deliveries", params={"tenant": "alpha"}, headers=ADMIN)
    one = await c.get(f"{MOUNT}/deliveries/{again}", headers=ADMIN)
    journal = await c.get(f"{MOUNT}/journal", params={"limit": 1000}, headers=ADMIN)
    for view in (listed, one, journal):
        assert view.status_code == 200, view.text
        assert "hunter2" not in view.text
        assert "sekrit" not in view.text
    sent = one.json()
    assert sent["url"] == masked
    assert sent["attempts"]
    assert {a["url"] for a in sent["attempts"]} == {masked}
    entries = [
        e for e in journal.json()["entries"] if e["kind"] in ("delivery", "attempt") and "lang=" in e["data"]["url"]
    ]
    assert {e["kind"] for e in entries} == {"delivery", "attempt"}
    assert {e["data"]["url"] for e in entries} == {masked}
    full = await c.get(f"{MOUNT}/deliveries/{again}", params={"secrets": "true"}, headers=ADMIN)
    assert full.json()["url"] == url
    assert url in (await c.get(f"{MOUNT}/deliveries", params={"secrets": "true"}, headers=ADMIN)).text
    own = world.creds["alpha"]["eightbyeight"]["headers"]
    r = await c.get(f"{MOUNT}/deliveries", params={"tenant": "alpha", "secrets": "true"}, headers=own)
    assert r.status_code == 403


async def test_a_receiver_url_in_a_request_body_is_masked_as_the_deliveries_mask_it(world: World) -> None:
    """The request that registers a receiver (8x8's webhook `uri`) carries the credentials `/deliveries` hides: the
    request journal (`/requests`, the journal's `request` entries) masks every URL in a body the same way unless
    the admin asks (`secrets=true`); the state keeps the URL as it came, so the admin's snapshot restores it."""
    c = world.client
    url = "http://ada:hunter2@127.0.0.1:8080/_emulator/sink/eightbyeight/alpha?token=sekrit&lang=en"
    masked = "http://[redacted]@127.0.0.1:8080/_emulator/sink/eightbyeight/alpha?token=[redacted]&lang=[redacted]"
    own = world.creds["alpha"]["eightbyeight"]["headers"]
    hook = {"name": "creds", "uri": url, "version": "Chat Gateway v1.0"}
    assert (await c.put(f"{EBE}/webhooks/1", json=hook, headers=own)).status_code == 200
    requests = await c.get(f"{MOUNT}/requests", params={"tenant": "alpha", "path": f"{EBE}/webhooks"}, headers=ADMIN)
    journal = await c.get(f"{MOUNT}/journal", params={"kind": "request", "limit": 1000}, headers=ADMIN)
    for view in (requests, journal):
        assert view.status_code == 200, view.text
        assert "hunter2" not in view.text
        assert "sekrit" not in view.text
    [put] = [e for e in requests.json()["requests"] if e["method"] == "PUT"]
    assert put["body"]["uri"] == masked
    [entry] = [e for e in journal.json()["entries"] if e["type"] == f"PUT {EBE}/webhooks/1"]
    assert entry["data"]["body"]["uri"] == masked
    full = await c.get(f"{MOUNT}/requests", params={"tenant": "alpha", "secrets": "true"}, headers=ADMIN)
    assert url in {e["body"]["uri"] for e in full.json()["requests"] if e["method"] == "PUT"}
    snapshot = await c.get(f"{MOUNT}/state", params={"secrets": "true"}, headers=ADMIN)
    assert (await c.post(f"{MOUNT}/state", content=snapshot.content, headers=ADMIN)).status_code == 200
    hooks = (await c.get(f"{EBE}/webhooks", headers=own)).json()
    assert url in json.dumps(hooks)


def test_a_snapshots_pending_delivery_loses_the_webhook_secret_that_signs_it() -> None:
    """Sangoma signs with the receiver's secret, kept in the delivery's profile for its retries: a redacted snapshot
    masks it (`Secrets.delivery`), as it masks the same secret in the tenant's state."""
    d = Delivery("dlv_1", 1, "sangoma", "alpha", "e1", "message_created", "1", "https://h/x?k=v", b"{}", {}, 0.0, 0.0)
    d.profile = {"secret": "whsec-123", "role": "account", "conversation": 1}
    out = redact_delivery(d.persist(), SANGOMA)
    assert out["profile"] == {"secret": MASK, "role": "account", "conversation": 1}
    assert out["url"] == f"https://h/x?k={MASK}"
