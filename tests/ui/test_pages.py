"""The dashboard over HTTP, no browser (issue 14 §2): every page answers, a missing thing is the 404 page and a
bad query the 400 page, `GET /` sends a browser to the dashboard, the admin cookie (`core.guard`) works as SPEC §3
says, and browsing never changes state (a crawl of every link from the home page, with every vendor's tenants and
traffic, leaves `GET /_emulator/state` as it was)."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.ui.conftest import in_process

ROOT = Path(__file__).resolve().parents[2]
UI = "/_emulator/ui"
TOKEN = "admin-token-for-the-dashboard-0123"
LIBRARY = {
    "eightbyeight": "01_queue_agent_chat_end.yaml",
    "sangoma": "04_queue_callback_answered_by_agent.yaml",
    "cmcom": "02_agent_take_over.yaml",
    "samespace": "02_ivr_menu_routing.yaml",
}
PAGES = ["/", "/subjects", "/journal", "/deliveries", "/clock", "/chaos", "/scenarios"]


@pytest.fixture
async def guarded() -> AsyncIterator[httpx.AsyncClient]:
    app, c = await in_process(admin_token=TOKEN)
    yield c
    await c.aclose()
    await app.state.emulator.stop()


async def _traffic(c: httpx.AsyncClient, headers: dict[str, str] | None = None) -> None:
    """Every vendor's tenants with a conversation, chat or call: one library scenario each, run to its end."""
    provisioned = await c.post("/_emulator/tenants", json={"tenant": "acme"}, headers=headers)
    assert provisioned.status_code == 201, provisioned.text
    for vendor, name in LIBRARY.items():
        text = (ROOT / "scenarios" / vendor / name).read_text(encoding="utf-8")
        loaded = await c.post("/_emulator/scenarios", content=text, headers=headers)
        assert loaded.status_code == 201, loaded.text
        done = await c.get(f"/_emulator/scenarios/{loaded.json()['id']}", params={"wait": 60}, headers=headers)
        assert done.json()["status"] == "passed", done.json()["report"]


def _links(html: str) -> list[str]:
    return [h.replace("&amp;", "&") for h in re.findall(r'href="(/_emulator/ui[^"#]*)"', html) if "/static/" not in h]


async def test_every_page_answers_html(client: httpx.AsyncClient) -> None:
    for path in PAGES:
        r = await client.get(UI + path)
        assert r.status_code == 200, (path, r.text)
        assert r.headers["content-type"].startswith("text/html")
        assert "<nav>" in r.text
        assert 'src="/_emulator/ui/static/live.js"' in r.text


async def test_static_files_are_served(client: httpx.AsyncClient) -> None:
    for name in ("app.css", "live.js", "views.js"):
        r = await client.get(f"{UI}/static/{name}")
        assert r.status_code == 200, name
    assert (await client.get(f"{UI}/static/nope.js")).status_code == 404


@pytest.mark.parametrize(
    ("path", "status", "says"),
    [
        ("/timeline/eightbyeight/ghost/c1", 404, "no 8x8 Chat Gateway v1 tenant 'ghost'"),
        ("/timeline/nope/acme/c1", 404, "no vendor 'nope'"),
        ("/timeline/eightbyeight/acme/never", 404, "no conversation, chat or call 'never'"),
        ("/deliveries/never", 404, "no delivery 'never'"),
        ("/scenarios/never", 404, "no scenario 'never'"),
        ("/clock?tenant=ghost", 404, "no tenant 'ghost'"),
        ("/no/such/page", 404, "no page"),
        ("/subjects?vendor=nope", 400, "vendor: one of"),
        ("/subjects?limit=many", 400, "limit: an integer"),
        ("/subjects?limit=0", 400, "limit: between 1 and 1000"),
        ("/journal?kind=request,nonsense", 400, "kind: 'nonsense' is not one of"),
        ("/deliveries?status=lost", 400, "status: one of pending, delivered, failed"),
        ("/deliveries?tenant=" + "x" * 300, 400, "tenant: at most 256 characters"),
    ],
)
async def test_missing_things_and_bad_queries_are_error_pages(
    client: httpx.AsyncClient, path: str, status: int, says: str
) -> None:
    await client.post("/_emulator/tenants", json={"tenant": "acme"})
    r = await client.get(UI + path)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert says in html.unescape(r.text)


async def test_root_sends_a_browser_to_the_dashboard_and_tells_a_client_where_things_are(
    client: httpx.AsyncClient,
) -> None:
    browser = await client.get("/", headers={"accept": "text/html,application/xhtml+xml"})
    assert browser.status_code == 307
    assert browser.headers["location"] == f"{UI}/"
    plain = await client.get("/")
    assert plain.status_code == 200
    body = plain.json()
    assert body["dashboard"] == f"{UI}/"
    assert set(body["vendors"]) == {"eightbyeight", "sangoma", "cmcom", "samespace"}


async def test_tenants_page_shows_each_vendors_credentials_with_copy_buttons(client: httpx.AsyncClient) -> None:
    creds = (await client.post("/_emulator/tenants", json={"tenant": "acme"})).json()["credentials"]
    page = (await client.get(UI + "/")).text
    for vendor, key in [("cmcom", "productToken"), ("samespace", "auth_token"), ("sangoma", "client_secret")]:
        assert f'data-copy="{creds[vendor][key]}"' in page, vendor
    assert f'data-copy="{creds["eightbyeight"]["apiKey"]}"' in page


async def test_a_tenant_made_by_traffic_shows_no_invented_secret(client: httpx.AsyncClient) -> None:
    """Sangoma mints a tenant's client secret when it is provisioned: a tenant that has state but was never
    provisioned has none to show, and the page must not mint one (a secret the tenant does not know)."""
    emu = client._transport.app.state.emulator  # type: ignore[attr-defined]
    async with emu.store.tenant("sangoma", "walkin"):
        pass
    before = (await client.get("/_emulator/state", params={"secrets": "true"})).json()
    page = (await client.get(UI + "/")).text
    row = page[page.index('data-tenant="walkin"') :]
    assert "none yet: this tenant's API is open" in html.unescape(row[: row.index("</tr>")])
    assert (await client.get("/_emulator/state", params={"secrets": "true"})).json() == before
    assert emu.store.peek("sangoma", "walkin").client_secret is None


async def test_subjects_filter_server_side(client: httpx.AsyncClient) -> None:
    await _traffic(client)
    everything = (await client.get(UI + "/subjects")).text
    for vendor in LIBRARY:
        assert f"<td>{vendor}</td>" in everything, vendor
    calls = (await client.get(UI + "/subjects", params={"vendor": "samespace"})).text
    assert "<td>samespace</td>" in calls
    assert "<td>eightbyeight</td>" not in calls
    assert (await client.get(UI + "/subjects", params={"q": "no-such-needle-anywhere"})).text.count(
        'class="subject"'
    ) == 0


async def test_browsing_every_page_changes_no_state(client: httpx.AsyncClient) -> None:
    await _traffic(client)
    before = (await client.get("/_emulator/state", params={"secrets": "true"})).json()
    seen: set[str] = set()
    todo = [UI + "/"]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        r = await client.get(path)
        assert r.status_code == 200, (path, r.text[:500])
        todo += [link for link in _links(r.text) if link not in seen]
    kinds = {re.sub(r"/_emulator/ui/?([a-z]*).*", r"\1", p) for p in seen}
    assert {"", "subjects", "timeline", "journal", "deliveries", "clock", "scenarios", "chaos"} <= kinds, kinds
    assert len(seen) > 40
    after = (await client.get("/_emulator/state", params={"secrets": "true"})).json()
    assert after == before


async def test_the_clock_page_offers_no_controls_on_the_system_clock() -> None:
    app, c = await in_process(clock="system")
    try:
        await c.post("/_emulator/tenants", json={"tenant": "acme"})
        page = (await c.get(UI + "/clock")).text
        assert "The server runs on the system clock" in page
        assert 'id="clock-controls"' not in page
        assert 'data-tenant="acme"' in page
    finally:
        await c.aclose()
        await app.state.emulator.stop()


async def test_the_clock_page_lists_a_tenants_pending_timers(client: httpx.AsyncClient) -> None:
    ebe = (await client.post("/_emulator/tenants", json={"tenant": "acme"})).json()["credentials"]["eightbyeight"]
    opened = await client.post(
        "/chat-gateway/v1/conversations",
        json={"channelId": ebe["channelId"], "user": {"name": "Ann"}},
        headers={"x-api-key": ebe["apiKey"]},
    )
    assert opened.status_code == 202, opened.text
    timers = (await client.get("/_emulator/clock", params={"tenant": "acme"})).json()["timers"]
    assert timers, "a new conversation has its activation pending on the virtual clock"
    page = html.unescape((await client.get(UI + "/clock", params={"tenant": "acme"})).text)
    assert 'id="clock-controls"' in page
    assert page.count('class="timer"') == len(timers)
    assert timers[0]["what"] in page


# -- the admin cookie (SPEC §3, core.guard) --------------------------------------------------------------------


async def test_without_the_cookie_the_dashboard_is_401(guarded: httpx.AsyncClient) -> None:
    r = await guarded.get(UI + "/")
    assert r.status_code == 401
    assert r.json()["error"] == "unauthorized"


async def test_the_token_sets_the_cookie_and_redirects_without_it(guarded: httpx.AsyncClient) -> None:
    r = await guarded.get(UI + "/clock", params={"token": TOKEN, "tenant": "x"})
    assert r.status_code == 303
    assert r.headers["location"] == f"{UI}/clock?tenant=x"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("cxemu_admin=")
    for part in ("HttpOnly", "SameSite=Strict", "Path=/_emulator"):
        assert part in cookie
    assert TOKEN not in cookie, "the cookie is derived from the token, never the token itself"


async def test_a_wrong_token_sets_no_cookie(guarded: httpx.AsyncClient) -> None:
    r = await guarded.get(UI + "/", params={"token": "not-it"})
    assert r.status_code == 401
    assert "set-cookie" not in r.headers


async def test_the_cookie_opens_gets_and_only_flagged_writes(guarded: httpx.AsyncClient) -> None:
    await guarded.get(UI + "/", params={"token": TOKEN})
    assert "cxemu_admin" in guarded.cookies
    assert (await guarded.get(UI + "/")).status_code == 200
    assert (await guarded.get("/_emulator/tenants")).status_code == 200
    forged = await guarded.post("/_emulator/tenants", json={"tenant": "acme"})
    assert forged.status_code == 401, "a cross-site form carries the cookie but cannot add X-Cxemu-UI"
    from_ui = await guarded.post("/_emulator/tenants", json={"tenant": "acme"}, headers={"X-Cxemu-UI": "1"})
    assert from_ui.status_code == 201, from_ui.text


async def test_a_wrong_cookie_is_401(guarded: httpx.AsyncClient) -> None:
    guarded.cookies.set("cxemu_admin", "0" * 64)
    assert (await guarded.get(UI + "/")).status_code == 401
    assert (await guarded.get("/_emulator/tenants")).status_code == 401


async def test_the_admin_token_still_works_as_a_bearer(guarded: httpx.AsyncClient) -> None:
    r = await guarded.get(UI + "/", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200
