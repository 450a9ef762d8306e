"""The act-as consoles over HTTP, no browser: every console renders, its forms name routes that work when used as
the page uses them (so a console calls what the tests call), its state part shows what the actions did, bad
addresses are the 404/400 pages, the "Save as scenario" link exports, and browsing creates no tenant."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import httpx
import pytest

from tests.ui.conftest import in_process

UI = "/_emulator/ui"
TOKEN = "admin-token-for-the-consoles-0123"
VENDORS = ["eightbyeight", "sangoma", "cmcom", "samespace"]


def form(page: str, form_id: str) -> dict[str, Any]:
    """The `<form id=...>` of a console: its data attributes and its inputs' default values."""
    found = re.search(rf'<form id="{form_id}"(?P<attrs>[^>]*)>(?P<body>.*?)</form>', page, re.S)
    assert found is not None, f"no form {form_id}"
    pairs = re.findall(r"(data-[a-z-]+)=(?:'([^']*)'|\"([^\"]*)\")", found["attrs"])
    attrs = {k: html.unescape(single or double) for k, single, double in pairs}
    values = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', found["body"]))
    return {**attrs, "values": values}


def path_of(spec: dict[str, Any], **params: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: params[m[1]], spec["data-path"])


async def console(client: httpx.AsyncClient, vendor: str, tenant: str, part: str | None = None) -> str:
    r = await client.get(f"{UI}/act/{vendor}/{tenant}", params={"part": part} if part else None)
    assert r.status_code == 200, r.text
    return r.text


async def test_the_index_lists_every_console_and_opens_any_tenant(client: httpx.AsyncClient) -> None:
    assert (await client.post("/_emulator/tenants", json={"tenant": "acme"})).status_code == 201
    index = await client.get(f"{UI}/act")
    assert index.status_code == 200
    for vendor in VENDORS:
        assert f'href="{UI}/act/{vendor}/acme"' in index.text
    opened = await client.get(f"{UI}/act/open", params={"vendor": "cmcom", "tenant": "t-1"})
    assert (opened.status_code, opened.headers["location"]) == (303, "cmcom/t-1")
    assert 'href="/_emulator/ui/act"' in (await client.get(f"{UI}/")).text  # the nav links the consoles


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/act/open?vendor=nope&tenant=a", 400),
        ("/act/open?vendor=cmcom&tenant=", 400),
        ("/act/open?vendor=cmcom&tenant=a%2Fb", 400),
        ("/act/nope/acme", 404),
        ("/act/cmcom/a%20b", 404),
        ("/act/cmcom/acme?part=everything", 400),
    ],
    ids=["unknown-vendor", "no-tenant", "slash-in-tenant", "no-console", "bad-tenant", "bad-part"],
)
async def test_bad_addresses_are_error_pages(client: httpx.AsyncClient, path: str, status: int) -> None:
    r = await client.get(UI + path)
    assert r.status_code == status
    assert r.headers["content-type"].startswith("text/html")
    assert 'class="notice bad"' in r.text


@pytest.mark.parametrize("vendor", VENDORS)
async def test_a_console_renders_for_a_new_tenant_and_creates_nothing(client: httpx.AsyncClient, vendor: str) -> None:
    before = (await client.get("/_emulator/state", params={"secrets": "true"})).json()
    page = await console(client, vendor, "newcomer")
    assert 'src="/_emulator/ui/static/act.js"' in page
    assert 'id="save-scenario"' in page
    assert f'href="/_emulator/scenarios/export?vendor={vendor}&amp;tenant=newcomer"' in page
    assert "This tenant has no state yet" in page
    part = await console(client, vendor, "newcomer", part="state")
    assert "<nav>" not in part
    assert "data-pick" not in part
    assert (await client.get("/_emulator/state", params={"secrets": "true"})).json() == before


async def test_eightbyeight_console_forms_drive_a_chat(client: httpx.AsyncClient) -> None:
    page = await console(client, "eightbyeight", "demo")
    start = form(page, "start-chat")
    body = {**json.loads(start["data-body"]), "user": {"name": start["values"]["user.name"]}}
    body["assignment"]["id"] = "100"
    created = await client.post(start["data-path"], json=body, headers=json.loads(start["data-headers"]))
    assert created.status_code == 202, created.text
    conv = created.json()["conversationId"]
    await client.put("/_emulator/vendors/eightbyeight/tenants/demo/behaviour", json={"auto": False})
    await client.post("/_emulator/clock/run-until-idle", params={"tenant": "demo"})
    agent = path_of(form(page, "agent-act"), subject=conv)
    assert (await client.post(agent, json={"action": "join"})).status_code == 200
    assert (await client.post(agent, json={"action": "say", "text": "Hi from the desk"})).status_code == 200
    said = await client.post(path_of(form(page, "customer-act"), subject=conv), json={"action": "say", "text": "Hi!"})
    assert said.status_code == 200, said.text
    part = await console(client, "eightbyeight", "demo", part="state")
    assert f'data-id="{conv}"' in part
    assert "Hi from the desk" in part
    await follows_timeline(client, part, f"/timeline/eightbyeight/demo/{conv}")
    assert "Hi!" in part


async def follows_timeline(client: httpx.AsyncClient, part: str, path: str) -> None:
    """The item links its timeline on the dashboard, and the link works."""
    assert f'href="{UI}{path}"' in part
    assert (await client.get(UI + path)).status_code == 200


async def provision(client: httpx.AsyncClient, page: str) -> None:
    """What the console's "Create the tenant" button sends."""
    spec = form(page, "provision")
    made = await client.post(spec["data-path"], json=json.loads(spec["data-body"]))
    assert made.status_code == 201, made.text


async def test_sangoma_console_forms_drive_a_widget_conversation(client: httpx.AsyncClient) -> None:
    page = await console(client, "sangoma", "demo")
    await provision(client, page)
    start = form(page, "start-widget")
    values = start["values"]
    started = await client.post(start["data-path"], json={"name": values["name"], "text": values["text"]})
    assert started.status_code == 200, started.text
    part = await console(client, "sangoma", "demo", part="state")
    conv = re.search(r'data-pick="subject" data-id="(\d+)"', part)
    assert conv is not None, part
    agent = path_of(form(page, "agent-act"), subject=conv[1])
    assert (await client.post(agent, json={"action": "assign"})).status_code == 200
    assert (await client.post(agent, json={"action": "say", "text": "Agent here"})).status_code == 200
    customer = path_of(form(page, "customer-act"), subject=conv[1])
    assert (await client.post(customer, json={"action": "say", "text": "Thanks"})).status_code == 200
    part = await console(client, "sangoma", "demo", part="state")
    assert "Agent here" in part
    assert "Thanks" in part
    assert values["text"] in part
    await follows_timeline(client, part, f"/timeline/sangoma/demo/conversation:{conv[1]}")
    missing = await client.post(path_of(form(page, "call-act"), call="nope"), json={"action": "answer"})
    assert missing.status_code == 404


async def test_cmcom_console_forms_drive_a_chat(client: httpx.AsyncClient) -> None:
    page = await console(client, "cmcom", "demo")
    await provision(client, page)
    send = form(page, "end-user-send")
    number = send["values"]["number"]
    sent = await client.post(path_of(send, number=number), json={"channel": "WhatsApp", "text": "Need help"})
    assert sent.status_code == 200, sent.text
    chat = sent.json()["chatId"]
    agent = path_of(form(page, "agent-act"), subject=chat)
    took = await client.post(agent, json={"action": "take_over"})
    assert took.status_code == 200, took.text
    assert (await client.post(agent, json={"action": "say", "text": "Support here"})).status_code == 200
    part = await console(client, "cmcom", "demo", part="state")
    assert "Need help" in part
    assert "Support here" in part


async def test_samespace_console_forms_place_and_answer_a_call(client: httpx.AsyncClient) -> None:
    page = await console(client, "samespace", "demo")
    await provision(client, page)
    page = await console(client, "samespace", "demo")  # now with the cloud's token
    assert 'id="provision"' not in page
    ring = form(page, "ring-by-hand")
    assert (await client.put(path_of(ring, number="5551234"), json={"answer": "no-answer", "dtmf": "none"})).is_success
    place = form(page, "place-call")
    flow = re.search(r'<textarea name="flow"[^>]*>(.*?)</textarea>', page, re.S)
    assert flow is not None
    body = {"cloud_id": "demo", "auth_token": place["values"]["auth_token"], "flow": json.loads(html.unescape(flow[1]))}
    placed = await client.post(place["data-path"], json=body)
    assert placed.status_code == 200, placed.text
    call = placed.json()["call_id"]
    await client.post("/_emulator/clock/advance", params={"tenant": "demo"}, json={"seconds": 2})
    answered = await client.post(path_of(form(page, "answer"), subject=call))
    assert answered.status_code == 200, answered.text
    pressed = await client.post(path_of(form(page, "keypad"), subject=call), json={"digits": "1"})
    assert pressed.status_code == 200, pressed.text
    part = await console(client, "samespace", "demo", part="state")
    assert f'data-id="{call}"' in part
    assert "answered" in part


async def test_the_consoles_need_the_admin_cookie(client: httpx.AsyncClient) -> None:
    app, guarded = await in_process(admin_token=TOKEN)
    try:
        assert (await guarded.get(f"{UI}/act/cmcom/acme")).status_code == 401
        entered = await guarded.get(f"{UI}/act/cmcom/acme", params={"token": TOKEN})
        assert entered.status_code in (302, 303, 307)
        assert (await guarded.get(f"{UI}/act/cmcom/acme")).status_code == 200
    finally:
        await guarded.aclose()
        await app.state.emulator.stop()
