"""Every validation error of every endpoint, in its layer's shape (sangoma.md §2.8): DRF field errors for a
malformed body, Chatwoot 404/422 for what the Chatwoot layer refuses. A refused request changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.vendors.sangoma.conftest import API, DI, DOMAIN, Sng

BOT = {"outgoing_url": "https://bot.example.com/hook", "name": "b"}
CONTACT = {"name": "Ada", "email": "ada@example.com", "inbox_id": 1, "phone_number": "+14155550100"}


async def _post(sng: Sng, path: str, body: Any) -> tuple[int, Any]:
    resp = await sng.call("POST", path, body)
    return resp.status_code, resp.json() if resp.content else None


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        (
            f"{API}/agents/call/",
            {"destination": "1", "tenant_domain": DOMAIN},
            {"agent_name": ["This field is required."]},
        ),
        (
            f"{API}/agents/call/",
            {"agent_name": "", "destination": 5, "tenant_domain": DOMAIN},
            {"agent_name": ["This field may not be blank."], "destination": ["Not a valid string."]},
        ),
        (
            f"{API}/queues/call/",
            {"queue_name": "q", "destination": "1"},
            {"tenant_domain": ["This field is required."]},
        ),
        (f"{DI}/agent-bot/", {"tenant_domain": DOMAIN, "name": "b"}, {"outgoing_url": ["This field is required."]}),
        (
            f"{DI}/assign-agent-bot/",
            {"tenant_domain": DOMAIN, "inbox_id": "one", "agent_bot_id": 1},
            {"inbox_id": ["A valid integer is required."]},
        ),
        (
            f"{DI}/assign-agent-bot/",
            {"tenant_domain": DOMAIN, "inbox_id": True, "agent_bot_id": 1},
            {"inbox_id": ["A valid integer is required."]},
        ),
        (
            f"{DI}/webhooks/",
            {"tenant_domain": DOMAIN, "url": "https://x.example.com", "subscriptions": "message_created"},
            {"subscriptions": ['Expected a list of items but got type "str".']},
        ),
        (f"{DI}/contacts/", {"tenant_domain": DOMAIN, "name": "Ada"}, {"inbox_id": ["This field is required."]}),
        (f"{DI}/conversations/", {"tenant_domain": DOMAIN, "inbox_id": 1}, {"contact_id": ["This field is required."]}),
        (
            f"{DI}/messages/",
            {"tenant_domain": DOMAIN, "conversation_id": 1, "content": "x", "message_type": "note"},
            {"message_type": ['"note" is not a valid choice.']},
        ),
        (f"{DI}/messages/", {"tenant_domain": DOMAIN, "conversation_id": 1}, {"content": ["This field is required."]}),
        (
            f"{DI}/messages/",
            {"tenant_domain": DOMAIN, "conversation_id": None, "content": "x"},
            {"conversation_id": ["This field may not be null."]},
        ),
        (f"{DI}/conversations/finish/", {"tenant_domain": DOMAIN}, {"conversation_id": ["This field is required."]}),
        (
            f"{DI}/conversations/deliver-to-agent/",
            [1],
            {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]},
        ),
    ],
    ids=[
        "agent-missing",
        "agent-blank",
        "no-tenant",
        "bot-no-url",
        "inbox-not-int",
        "inbox-bool",
        "subs-not-list",
        "contact-no-inbox",
        "conv-no-contact",
        "bad-message-type",
        "no-content",
        "null-id",
        "finish-no-id",
        "not-an-object",
    ],
)
async def test_malformed_bodies_get_drf_field_errors(sng: Sng, path: str, body: Any, expected: dict[str, Any]) -> None:
    assert await _post(sng, path, body) == (400, expected)


async def test_unparsable_json_and_wrong_media_type(sng: Sng) -> None:
    headers = {"Authorization": f"Bearer {sng.token}", "Content-Type": "application/json"}
    resp = await sng.http.post(f"{DI}/contacts/", content=b'{"inbox_id": ', headers=headers)
    assert resp.status_code == 400
    assert resp.json()["detail"].startswith("JSON parse error - ")
    headers["Content-Type"] = "text/plain"
    resp = await sng.http.post(f"{DI}/contacts/", content=b"inbox_id=1", headers=headers)
    assert (resp.status_code, resp.json()) == (415, {"detail": 'Unsupported media type "text/plain" in request.'})


async def test_ids_may_be_digit_strings(sng: Sng) -> None:
    """The seed quotes `"inbox_id": "<inbox_id>"` in assign-agent-bot and sends bare numbers elsewhere."""
    bot = await sng.ok(f"{DI}/agent-bot/", BOT)
    status, _ = await _post(
        sng, f"{DI}/assign-agent-bot/", {"tenant_domain": DOMAIN, "inbox_id": "1", "agent_bot_id": str(bot["id"])}
    )
    assert status == 200
    assert sng.state.inboxes[1].agent_bot_id == bot["id"]


# -- Chatwoot layer -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message", "attribute"),
    [
        ({"email": "not-an-email"}, "Email Invalid email", "email"),
        ({"phone_number": "4155550100"}, "Phone number should be in e164 format", "phone_number"),
        ({"phone_number": "+0123"}, "Phone number should be in e164 format", "phone_number"),
        (
            {"email": "a b@x", "phone_number": "12"},
            "Email Invalid email, Phone number should be in e164 format",
            "email phone_number",
        ),
    ],
    ids=["email", "phone-no-plus", "phone-zero", "both"],
)
async def test_contact_validation(sng: Sng, body: dict[str, Any], message: str, attribute: str) -> None:
    status, out = await _post(sng, f"{DI}/contacts/", {"tenant_domain": DOMAIN, **CONTACT, **body})
    assert (status, out) == (422, {"message": message, "attributes": attribute.split()})
    assert sng.state.contacts == {}


async def test_duplicate_contacts(sng: Sng) -> None:
    """Email (case-insensitively), identifier and phone are unique per account; Rails reports every failed
    validation at once, messages joined with ", " (sangoma.md §2.8)."""
    await sng.ok(f"{DI}/contacts/", {**CONTACT, "identifier": "crm-1"})
    status, out = await _post(sng, f"{DI}/contacts/", {"tenant_domain": DOMAIN, **CONTACT, "email": "ADA@example.com"})
    assert (status, out) == (
        422,
        {
            "message": "Email has already been taken, Phone number has already been taken",
            "attributes": ["email", "phone_number"],
        },
    )
    again = {"tenant_domain": DOMAIN, **CONTACT, "email": "other@example.com"}
    status, out = await _post(sng, f"{DI}/contacts/", again)
    assert (status, out) == (422, {"message": "Phone number has already been taken", "attributes": ["phone_number"]})
    same_id = {"tenant_domain": DOMAIN, "inbox_id": 1, "identifier": "crm-1", "email": "bad"}
    status, out = await _post(sng, f"{DI}/contacts/", same_id)
    assert (status, out) == (
        422,
        {"message": "Email Invalid email, Identifier has already been taken", "attributes": ["email", "identifier"]},
    )
    assert len(sng.state.contacts) == 1


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"subscriptions": []}, {"message": "Subscriptions Invalid events", "attributes": ["subscriptions"]}),
        (
            {"subscriptions": ["message_created", "call_started"]},
            {"message": "Subscriptions Invalid events", "attributes": ["subscriptions"]},
        ),
        ({"url": "ftp://x.example.com"}, {"message": "Url is invalid", "attributes": ["url"]}),
        (
            {"url": "x", "subscriptions": []},
            {"message": "Url is invalid, Subscriptions Invalid events", "attributes": ["url", "subscriptions"]},
        ),
    ],
    ids=["empty", "unknown-event", "not-http", "both"],
)
async def test_webhook_validation(sng: Sng, body: dict[str, Any], expected: dict[str, Any]) -> None:
    hook = {"tenant_domain": DOMAIN, "url": "https://x.example.com/h", "subscriptions": ["message_created"], **body}
    assert await _post(sng, f"{DI}/webhooks/", hook) == (422, expected)


async def test_a_webhook_url_is_unique_per_account(sng: Sng) -> None:
    hook = {"url": "https://x.example.com/h", "subscriptions": ["message_created"]}
    await sng.ok(f"{DI}/webhooks/", hook)
    status, out = await _post(sng, f"{DI}/webhooks", {"tenant_domain": DOMAIN, **hook})
    assert (status, out) == (422, {"message": "Url has already been taken", "attributes": ["url"]})
    assert len(sng.state.webhooks) == 1


async def test_an_agent_bot_needs_an_http_url(sng: Sng) -> None:
    """Chatwoot does not check `outgoing_url`; the Sangoma layer's URL field does [inf]."""
    status, out = await _post(sng, f"{DI}/agent-bot/", {"tenant_domain": DOMAIN, "name": "b", "outgoing_url": "bot"})
    assert (status, out) == (400, {"outgoing_url": ["Enter a valid URL."]})
    assert sng.state.agent_bots == {}


NOT_FOUND = (404, {"error": "Resource could not be found"})


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (f"{DI}/assign-agent-bot/", {"inbox_id": 99, "agent_bot_id": None}),
        (f"{DI}/assign-agent-bot/", {"inbox_id": 1, "agent_bot_id": 99}),
        (f"{DI}/contacts/", {**CONTACT, "inbox_id": 99}),
        (f"{DI}/conversations/", {"contact_id": 99, "inbox_id": 1}),
        (f"{DI}/messages/", {"conversation_id": 99, "content": "x"}),
        (f"{DI}/conversations/deliver-to-agent/", {"conversation_id": 99}),
        (f"{DI}/conversations/finish/", {"conversation_id": 99}),
    ],
    ids=["assign-inbox", "assign-bot", "contact-inbox", "conv-contact", "message", "deliver", "finish"],
)
async def test_unknown_ids_are_chatwoot_404s(sng: Sng, path: str, body: dict[str, Any]) -> None:
    assert await _post(sng, path, {"tenant_domain": DOMAIN, **body}) == NOT_FOUND


async def test_conversation_create_errors(sng: Sng) -> None:
    contact = (await sng.ok(f"{DI}/contacts/", CONTACT))["payload"]["contact"]
    other = (await sng.ok(f"{DI}/contacts/", {"name": "Bob", "inbox_id": 1}))["payload"]["contact"]
    base = {"tenant_domain": DOMAIN, "contact_id": contact["id"], "inbox_id": 1}
    for bad, shown in ((7, "7"), (True, "true"), ("²", "²"), ([1], "[1]"), (1.5, "1.5"), ("HIGH", "HIGH")):
        assert await _post(sng, f"{DI}/conversations/", {**base, "priority": bad}) == (
            422,
            {"error": f"'{shown}' is not a valid priority"},
        )
    assert await _post(sng, f"{DI}/conversations/", {**base, "inbox_id": 99}) == NOT_FOUND
    await sng.ok(f"{DI}/conversations/", {**base, "source_id": "shared-source"} | {"tenant_domain": DOMAIN})
    clash = {**base, "contact_id": other["id"], "source_id": "shared-source"}
    assert await _post(sng, f"{DI}/conversations/", clash) == (422, {"error": "source_id should be unique"})
    assert list(sng.state.conversations) == [1]


@pytest.mark.parametrize(
    ("priority", "expected"),
    [(0, "low"), (3, "urgent"), (1.0, "medium"), ("2", "high"), ("high", "high"), (None, None)],
    ids=str,
)
async def test_priority_ints_and_names(sng: Sng, priority: Any, expected: str | None) -> None:
    contact = (await sng.ok(f"{DI}/contacts/", CONTACT))["payload"]["contact"]
    conv = await sng.ok(f"{DI}/conversations/", {"contact_id": contact["id"], "inbox_id": 1, "priority": priority})
    assert conv["priority"] == expected


# -- voice ------------------------------------------------------------------------------------------------------------


async def test_voice_errors(sng: Sng) -> None:
    call = {"tenant_domain": DOMAIN, "destination": "9001"}
    assert await _post(sng, f"{API}/agents/call/", {**call, "agent_name": "nobody"}) == (
        404,
        {"detail": "Agent nobody was not found in tenant acme.cx.sangoma.com."},
    )
    assert await _post(sng, f"{API}/queues/call/", {**call, "queue_name": "nowhere"}) == (
        404,
        {"detail": "Queue nowhere was not found in tenant acme.cx.sangoma.com."},
    )
    await sng.http.put("/_emulator/vendors/sangoma/tenants/acme/agents/agent.test", json={"logged_in": False})
    assert await _post(sng, f"{API}/agents/call/", {**call, "agent_name": "agent.test"}) == (
        400,
        {"detail": "Agent agent.test is not logged in."},
    )
    assert sng.state.calls == {}


# -- paths ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [f"{DI}/agent-bot", f"{DI}/agent-bot/", f"{DI}/agents-bot", f"{DI}/agents-bot/"])
async def test_both_spellings_with_and_without_slash(sng: Sng, path: str) -> None:
    bot = await sng.ok(path, {**BOT, "description": "docs variant"})
    assign = f"{DI}/agents-bot/assign" if "agents" in path else f"{DI}/assign-agent-bot"
    status, _ = await _post(
        sng,
        assign + ("/" if path.endswith("/") else ""),
        {"tenant_domain": DOMAIN, "inbox_id": 1, "agent_bot_id": bot["id"]},
    )
    assert status == 200
    assert sng.state.inboxes[1].agent_bot_id == bot["id"]


async def test_unknown_paths_and_methods_in_drf_words(sng: Sng) -> None:
    resp = await sng.call("GET", f"{DI}/nothing/")
    assert (resp.status_code, resp.json()) == (404, {"detail": "Not found."})
    resp = await sng.call("GET", f"{DI}/contacts/")
    assert (resp.status_code, resp.json()) == (405, {"detail": 'Method "GET" not allowed.'})
    resp = await sng.http.get("/oauth/token")
    assert resp.status_code == 405
