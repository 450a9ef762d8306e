"""A new client's first requests with no config (issue 11 §1): the first BotRouterAccountId a product token
presents becomes its account, router control calls without the token header (as the seed prints them) work in
`open` auth, product tokens are GUIDs as CM issues them (cmcom.md §3.1 errorCode 101/103), and the tenant view
names every agent."""

from __future__ import annotations

from typing import Any

import pytest

from emulator.core.errors import ConfigError
from emulator.vendors.cmcom.numbers import product_token
from tests.vendors.cmcom.conftest import CONTROL, CUSTOMER, Cm, CmFactory, envelope, msg, reply, vendor_settings

PAGE_ACCOUNT = "e17acdef-c918-423d-a01b-1000cd084f6a"  # the accountId of the seed's router webhook example
NEW_TOKEN = "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d"
OTHER_TOKEN = "1c6a3f0e-52d4-4c1b-a0f5-7e2b9d8c4a31"
OTHER_ACCOUNT = "0f0f0f0f-0000-4000-8000-000000000000"


def sessions(account: str) -> str:
    return f"/conversational/control/v1/accounts/{account}/sessions"


async def view(env: Cm, tenant: str) -> dict[str, Any]:
    resp = await env.http.get(f"{CONTROL}/{tenant}")
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


async def first_chat(env: Cm, tenant: str) -> str:
    """The end user writes; the chat id the router gives the conversation."""
    resp = await env.http.post(f"{CONTROL}/{tenant}/end-users/{CUSTOMER}/messages", json={"text": "Hi"})
    assert resp.status_code == 200, resp.text
    return str(resp.json()["chatId"])


async def test_the_first_account_id_a_new_token_presents_becomes_its_own(make_cm: CmFactory) -> None:
    env = await make_cm()
    resp = await env.bmproxy(envelope(msg("Hello"), token=NEW_TOKEN), account=PAGE_ACCOUNT)
    assert (resp.status_code, resp.json()["errorCode"]) == (200, 0), resp.text
    assert (await view(env, NEW_TOKEN))["botRouterAccountId"] == PAGE_ACCOUNT
    chat = await first_chat(env, NEW_TOKEN)
    assert (await env.http.get(f"{CONTROL}/{NEW_TOKEN}/chats/{chat}")).json()["accountId"] == PAGE_ACCOUNT
    resp = await env.bmproxy(envelope(msg("Again"), token=NEW_TOKEN), account=OTHER_ACCOUNT)  # settled now
    assert resp.status_code == 400
    assert resp.json() == {"details": "No account found for the given authentication", "errorCode": 101, "messages": []}


async def test_a_control_call_binds_the_account_too(make_cm: CmFactory) -> None:
    env = await make_cm()
    resp = await env.http.post(
        f"{sessions(PAGE_ACCOUNT)}/{OTHER_ACCOUNT}/resetrequests", headers={"X-CM-PRODUCTTOKEN": NEW_TOKEN}
    )
    assert resp.status_code == 404  # no such chat yet, but the account is the token's from now on
    assert resp.json()["detail"] == f"No chat '{OTHER_ACCOUNT}' on bot router account '{PAGE_ACCOUNT}'."
    assert (await view(env, NEW_TOKEN))["botRouterAccountId"] == PAGE_ACCOUNT


async def test_an_account_another_tenant_owns_is_not_taken(make_cm: CmFactory) -> None:
    env = await make_cm()
    assert (await env.bmproxy(envelope(msg(), token=NEW_TOKEN), account=PAGE_ACCOUNT)).status_code == 200
    resp = await env.bmproxy(envelope(msg(), token=OTHER_TOKEN), account=PAGE_ACCOUNT)
    assert (resp.status_code, resp.json()["errorCode"]) == (400, 101)
    assert (await view(env, OTHER_TOKEN))["botRouterAccountId"] != PAGE_ACCOUNT


async def test_a_configured_account_id_is_never_rebound(make_cm: CmFactory) -> None:
    tenant = {"product_tokens": [NEW_TOKEN], "bot_router_account_id": OTHER_ACCOUNT}
    env = await make_cm(vendors=vendor_settings(tenant))
    resp = await env.bmproxy(envelope(msg(), token=NEW_TOKEN), account=PAGE_ACCOUNT)
    assert (resp.status_code, resp.json()["errorCode"]) == (400, 101)


async def test_strict_auth_binds_nothing(make_cm: CmFactory) -> None:
    env = await make_cm(auth="strict", vendors=vendor_settings({"product_tokens": [NEW_TOKEN]}))
    seeded = (await view(env, "acme"))["botRouterAccountId"]
    resp = await env.bmproxy(envelope(msg(), token=NEW_TOKEN), account=PAGE_ACCOUNT)
    assert (resp.status_code, resp.json()["errorCode"]) == (400, 101)
    assert (await env.bmproxy(envelope(msg(), token=NEW_TOKEN), account=seeded)).status_code == 200


async def test_the_bound_account_survives_restore_and_goes_with_a_reset(make_cm: CmFactory) -> None:
    env = await make_cm()
    assert (await env.bmproxy(envelope(msg(), token=NEW_TOKEN), account=PAGE_ACCOUNT)).status_code == 200
    snapshot = (await env.http.get("/_emulator/state")).json()
    fresh = await make_cm()
    assert (await fresh.http.post("/_emulator/state", json=snapshot)).status_code == 200
    assert (await view(fresh, NEW_TOKEN))["botRouterAccountId"] == PAGE_ACCOUNT
    resp = await fresh.bmproxy(envelope(msg(), token=NEW_TOKEN), account=OTHER_ACCOUNT)
    assert resp.json()["errorCode"] == 101  # restored as settled
    assert (await fresh.http.post("/_emulator/reset", params={"tenant": NEW_TOKEN})).status_code == 200
    assert (await fresh.bmproxy(envelope(msg(), token=NEW_TOKEN), account=OTHER_ACCOUNT)).status_code == 200
    assert (await view(fresh, NEW_TOKEN))["botRouterAccountId"] == OTHER_ACCOUNT


async def test_the_same_seed_gives_the_same_unbound_account(make_cm: CmFactory) -> None:
    ids = []
    for seed in (7, 7, 8):
        env = await make_cm(seed=seed)
        assert (await env.send(envelope(msg(), token=NEW_TOKEN))).status_code == 200
        ids.append((await view(env, NEW_TOKEN))["botRouterAccountId"])
    assert ids[0] == ids[1] != ids[2]


# -- router control without the token header --------------------------------------------------------------


async def test_open_auth_takes_control_calls_without_the_header_for_an_existing_account(make_cm: CmFactory) -> None:
    env = await make_cm()
    assert (await env.bmproxy(envelope(msg(), token=NEW_TOKEN), account=PAGE_ACCOUNT)).status_code == 200
    chat = await first_chat(env, NEW_TOKEN)
    body = {"ChatId": chat, "Mutations": [{"$type": "disableComponent", "ComponentId": "CmBot"}]}
    resp = await env.http.post(f"{sessions(PAGE_ACCOUNT)}/mutationrequests", json=body)
    assert resp.status_code == 204, resp.text
    chat_view = (await env.http.get(f"{CONTROL}/{NEW_TOKEN}/chats/{chat}")).json()
    assert chat_view["customerContact"] == "active"
    resp = await env.http.post(f"{sessions(OTHER_ACCOUNT)}/mutationrequests", json=body)  # no such account
    assert (resp.status_code, resp.headers["content-type"]) == (404, "application/problem+json")
    assert resp.json()["detail"] == f"No bot router account '{OTHER_ACCOUNT}' for this product token."


async def test_strict_auth_refuses_control_calls_without_the_header(make_cm: CmFactory) -> None:
    tenant = {"product_tokens": [NEW_TOKEN], "bot_router_account_id": PAGE_ACCOUNT}
    env = await make_cm(auth="strict", vendors=vendor_settings(tenant))
    chat = await first_chat(env, "acme")
    body = {"ChatId": chat, "Mutations": [{"$type": "disableComponent", "ComponentId": "CmBot"}]}
    resp = await env.http.post(f"{sessions(PAGE_ACCOUNT)}/mutationrequests", json=body)
    assert (resp.status_code, resp.headers["content-type"]) == (401, "application/problem+json")
    assert resp.json()["title"] == "Unauthorized"
    headers = {"X-CM-PRODUCTTOKEN": NEW_TOKEN}
    assert (
        await env.http.post(f"{sessions(PAGE_ACCOUNT)}/mutationrequests", json=body, headers=headers)
    ).status_code == 204


async def test_control_calls_with_a_token_that_is_not_a_guid_are_unauthorized(make_cm: CmFactory) -> None:
    env = await make_cm()
    headers = {"X-CM-PRODUCTTOKEN": "acme"}
    resp = await env.http.post(f"{sessions(PAGE_ACCOUNT)}/mutationrequests", json={}, headers=headers)
    assert (resp.status_code, resp.json()["title"]) == (401, "Unauthorized")
    assert not env.emu.store.tenants("cmcom")  # no tenant was made of it


# -- product tokens are GUIDs -----------------------------------------------------------------------------


@pytest.mark.parametrize("auth", ["open", "strict"])
@pytest.mark.parametrize(
    ("token", "code", "details"),
    [
        ("acme", 103, "The product token 'acme' is incorrect"),
        ("5a1c7b7e-2b2f-4a55-9c1d", 103, "The product token '5a1c7b7e-2b2f-4a55-9c1d' is incorrect"),
        ("", 101, "No account found for the given authentication"),
        (None, 101, "No account found for the given authentication"),
    ],
)
async def test_a_token_that_is_not_a_guid_is_refused_in_any_auth(
    make_cm: CmFactory, auth: str, token: str | None, code: int, details: str
) -> None:
    env = await make_cm(auth=auth)
    resp = await env.send(envelope(msg(), token=token))
    assert resp.status_code == 400
    assert resp.json() == {"details": details, "errorCode": code, "messages": []}
    assert not env.emu.store.tenants("cmcom")


@pytest.mark.parametrize("token", ["acme", "not-a-guid", "5a1c7b7e2b2f4a559c1d1b2c3d4e5f6"])
async def test_a_configured_token_that_is_not_a_guid_is_a_config_error(make_cm: CmFactory, token: str) -> None:
    with pytest.raises(ConfigError) as caught:
        await make_cm(vendors=vendor_settings({"product_tokens": [token]}))
    assert str(caught.value) == (
        f"vendors.cmcom.tenants.acme.product_tokens: product token {token!r} is not a GUID; CM issues "
        "product tokens as GUIDs (e.g. 5a1c7b7e-2b2f-4a55-9c1d-1b2c3d4e5f60) and refuses any other with errorCode 103"
    )


async def test_a_tenant_provisioned_by_name_gets_a_guid_token_that_works(make_cm: CmFactory) -> None:
    env = await make_cm(auth="strict")
    resp = await env.http.post("/_emulator/tenants", json={"tenant": "acme-shop", "vendors": ["cmcom"]})
    assert resp.status_code == 201, resp.text
    creds = resp.json()["credentials"]["cmcom"]
    assert creds["productToken"] == product_token("acme-shop") != "acme-shop"
    sent = await env.send(envelope(msg(), token=creds["productToken"].upper()))  # .NET reads GUIDs in any case
    assert (sent.status_code, sent.json()["errorCode"]) == (200, 0), sent.text
    assert [t for _, t in env.emu.store.tenants("cmcom")] == ["acme-shop"]


async def test_a_configured_tenant_without_tokens_answers_to_its_derived_token(make_cm: CmFactory) -> None:
    env = await make_cm(auth="strict", vendors=vendor_settings({}))
    sent = await env.send(envelope(msg(), token=product_token("acme")))
    assert (sent.status_code, sent.json()["errorCode"]) == (200, 0), sent.text


async def test_the_tenant_view_names_the_seeded_agents_of_each_team(make_cm: CmFactory) -> None:
    env = await make_cm()
    assert (await env.send(envelope(msg(), token=NEW_TOKEN))).status_code == 200
    out = await view(env, NEW_TOKEN)
    agents = {a["team"]: a["name"] for a in out["agents"]}
    assert [(t["name"], t["agents"]) for t in out["teams"]] == [
        ("Sales", [agents["Sales"]]),
        ("Support", [agents["Support"]]),
    ]
    assert all(isinstance(name, str) and name for name in agents.values())


async def test_a_reply_through_bmproxy_reaches_the_chat_of_the_page_account(make_cm: CmFactory) -> None:
    env = await make_cm()
    assert (await env.bmproxy(envelope(msg(), token=NEW_TOKEN), account=PAGE_ACCOUNT)).status_code == 200
    chat = await first_chat(env, NEW_TOKEN)
    body = reply("Hello there")
    body["messages"]["authentication"] = {"productToken": NEW_TOKEN}
    resp = await env.http.post(f"/conversational/bmproxy/v1/accounts/{PAGE_ACCOUNT}/v1.0/message", json=body)
    assert (resp.status_code, resp.json()["errorCode"]) == (200, 0), resp.text  # the JS SDK's path
    transcript = (await env.http.get(f"{CONTROL}/{NEW_TOKEN}/chats/{chat}")).json()["transcript"]
    assert [(e["direction"], e["text"]) for e in transcript][-1] == ("MT", "Hello there")
