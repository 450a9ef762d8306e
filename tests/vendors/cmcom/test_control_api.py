"""The router control API's validation and errors: problem details per field, tokens, accounts, chats, GUIDs
(cmcom.md §3.3; the error shape is an [inf] default, see errors.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.vendors.cmcom.conftest import (
    ACCOUNT,
    CHAT,
    Cm,
    CmFactory,
    mutation,
    reply,
    tenant_config,
    vendor_settings,
)

GOOD = mutation(("disableComponent", "CmBot"))
CONTROL_ERRORS = [
    ("body-not-json", "mutationrequests", "[1]", 400, {"body": ["The request body is not a JSON object."]}),
    (
        "no-chat-id",
        "mutationrequests",
        {"Mutations": GOOD["Mutations"]},
        400,
        {"ChatId": ["The ChatId field is required."]},
    ),
    (
        "chat-id-not-guid",
        "mutationrequests",
        GOOD | {"ChatId": "abc"},
        400,
        {"ChatId": ["The value 'abc' is not a valid Guid."]},
    ),
    ("no-mutations", "mutationrequests", {"ChatId": CHAT}, 400, {"Mutations": ["The Mutations field is required."]}),
    (
        "placeholder-type",
        "mutationrequests",
        mutation(("XXXX", "CmBot")),
        400,
        {"Mutations[0].$type": ["Unknown mutation type 'XXXX'; use enableComponent or disableComponent."]},
    ),
    (
        "unknown-component",
        "mutationrequests",
        mutation(("enableComponent", "Robot")),
        400,
        {"Mutations[0].ComponentId": ["Unknown component 'Robot'; known: CmBot, CustomerContact, BMProxy."]},
    ),
    (
        "context-array",
        "mutationrequests",
        GOOD | {"Context": [{"a": "b"}]},
        400,
        {"Context": ["Context must be an object of string values."]},
    ),
    (
        "no-flow",
        "positionrequests",
        {"ChatId": CHAT, "StepId": "ask"},
        400,
        {"FlowId": ["The FlowId field is required."]},
    ),
    (
        "unknown-flow",
        "positionrequests",
        {"ChatId": CHAT, "FlowId": "nope", "StepId": "ask"},
        400,
        {"FlowId": ["CmBot has no flow 'nope'."]},
    ),
    (
        "unknown-step",
        "positionrequests",
        {"ChatId": CHAT, "FlowId": "main", "StepId": "nope"},
        400,
        {"StepId": ["CmBot flow 'main' has no step 'nope'."]},
    ),
    ("reset-not-guid", "xyz/resetrequests", None, 400, {"chatId": ["The value 'xyz' is not a valid Guid."]}),
    ("reset-query-missing", "resetrequests", None, 400, {"chatId": ["The chatId field is required."]}),
]


@pytest.mark.parametrize(
    ("kind", "body", "status", "errors"), [e[1:] for e in CONTROL_ERRORS], ids=[e[0] for e in CONTROL_ERRORS]
)
async def test_control_requests_are_validated(cm: Cm, kind: str, body: Any, status: int, errors: Any) -> None:
    await cm.customer(text="Hi")
    before = await cm.chat(CHAT)
    if isinstance(body, str):
        resp = await cm.http.post(
            f"/conversational/control/v1/accounts/{ACCOUNT}/sessions/{kind}",
            content=body,
            headers={"X-CM-PRODUCTTOKEN": "5a1c7b7e-2b2f-4a55-9c1d-1b2c3d4e5f60"},
        )
    else:
        resp = await cm.control(kind, body)
    assert resp.status_code == status
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json() == {
        "type": "https://tools.ietf.org/html/rfc7231#section-6.5.1",
        "title": "One or more validation errors occurred.",
        "status": 400,
        "errors": errors,
    }
    assert await cm.chat(CHAT) == before  # nothing changed


async def test_control_requests_need_the_token_the_account_and_the_chat(cm: Cm) -> None:
    await cm.customer(text="Hi")
    resp = await cm.control("mutationrequests", GOOD, token="")
    assert (resp.status_code, resp.json()["title"]) == (401, "Unauthorized")
    other = "0f0f0f0f-0000-4000-8000-000000000000"
    resp = await cm.control("mutationrequests", GOOD, token=other)  # open auth: another tenant, not this account
    assert resp.status_code == 404
    assert resp.json()["detail"] == f"No bot router account '{ACCOUNT}' for this product token."
    resp = await cm.control("mutationrequests", GOOD | {"ChatId": other})
    assert resp.status_code == 404
    assert resp.json()["detail"] == f"No chat '{other}' on bot router account '{ACCOUNT}'."
    resp = await cm.control(f"resetrequests?chatId={CHAT}")
    assert resp.status_code == 204


async def test_guids_are_read_as_dotnet_does(cm: Cm) -> None:
    """Upper case and the `N` format (no hyphens) name the same chat and account."""
    await cm.customer(text="Hi")
    compact = CHAT.replace("-", "").upper()
    resp = await cm.http.post(
        f"/conversational/control/v1/accounts/{ACCOUNT.replace('-', '')}/sessions/mutationrequests",
        json=mutation(("disableComponent", "CmBot")) | {"ChatId": compact},
        headers={"X-CM-PRODUCTTOKEN": "5a1c7b7e-2b2f-4a55-9c1d-1b2c3d4e5f60"},
    )
    assert resp.status_code == 204, resp.text
    assert (await cm.chat(compact))["components"] == ["CustomerContact", "BMProxy"]
    assert (await cm.control(f"{compact}/resetrequests")).status_code == 204
    assert (await cm.chat(CHAT))["components"] == ["CmBot", "CustomerContact", "BMProxy"]


async def test_strict_auth_refuses_an_unknown_control_token(make_cm: CmFactory) -> None:
    env = await make_cm(auth="strict", vendors=vendor_settings(tenant_config()))
    resp = await env.control("mutationrequests", GOOD, token="0f0f0f0f-0000-4000-8000-000000000000")
    assert resp.status_code == 401


async def test_bmproxy_on_another_account_is_refused(cm: Cm) -> None:
    resp = await cm.bmproxy(reply("hi"), account="0f0f0f0f-0000-4000-8000-000000000000")
    assert resp.status_code == 400
    assert resp.json() == {"details": "No account found for the given authentication", "errorCode": 101, "messages": []}
