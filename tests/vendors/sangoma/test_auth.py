"""OAuth client credentials at /oauth/token, bearer tokens with scopes and expiry on the clock, and tenants
(sangoma.md §2.1; error bodies [inf]: RFC 6749 §5.2 for OAuth, DRF `{"detail"}` for the API)."""

from __future__ import annotations

import asyncio

import pytest

from tests.vendors.sangoma.conftest import (
    ALL_SCOPES,
    API,
    CLIENT,
    DI,
    DOMAIN,
    SECRET,
    TOKEN,
    Sng,
    SngFactory,
    basic,
    vendor_settings,
)

FORM = {"grant_type": "client_credentials", "scope": ALL_SCOPES}


async def test_token_body_is_the_documented_one(sng: Sng) -> None:
    resp = await sng.http.post(
        TOKEN,
        data={"grant_type": "client_credentials", "scope": "cx.agent-calls cx.queue-calls"},
        headers={"Authorization": basic()},
    )
    assert resp.status_code == 200
    body = resp.json()
    assert list(body) == ["access_token", "scope", "token_type", "expires_in"]
    assert (body["scope"], body["token_type"], body["expires_in"]) == (
        "cx.agent-calls cx.queue-calls",
        "bearer",
        31_536_000,
    )
    assert resp.headers["cache-control"] == "no-store"


async def test_no_scope_asked_grants_every_allowed_scope(sng: Sng) -> None:
    resp = await sng.http.post(TOKEN, data={"grant_type": "client_credentials"}, headers={"Authorization": basic()})
    assert resp.json()["scope"] == ALL_SCOPES


async def test_client_credentials_in_the_form_body_work_too(sng: Sng) -> None:
    resp = await sng.http.post(TOKEN, data={**FORM, "client_id": CLIENT, "client_secret": SECRET})
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize(
    ("data", "headers", "status", "error"),
    [
        (FORM, {}, 401, "invalid_client"),
        (FORM, {"Authorization": basic(secret="wrong")}, 401, "invalid_client"),
        (FORM, {"Authorization": "Basic !!!"}, 401, "invalid_client"),
        (FORM, {"Authorization": "Bearer abc"}, 401, "invalid_client"),
        ({"scope": ALL_SCOPES}, {"Authorization": basic()}, 400, "invalid_request"),
        ({**FORM, "grant_type": "password"}, {"Authorization": basic()}, 400, "unsupported_grant_type"),
        ({**FORM, "scope": "cx.agent-calls cx.admin"}, {"Authorization": basic()}, 400, "invalid_scope"),
        ({**FORM, "client_id": CLIENT}, {"Authorization": basic()}, 400, "invalid_request"),
    ],
    ids=["no-client", "wrong-secret", "bad-basic", "not-basic", "no-grant", "bad-grant", "bad-scope", "two-auths"],
)
async def test_token_errors_are_rfc6749(
    sng: Sng, data: dict[str, str], headers: dict[str, str], status: int, error: str
) -> None:
    resp = await sng.http.post(TOKEN, data=data, headers=headers)
    assert resp.status_code == status, resp.text
    assert list(resp.json()) == ["error", "error_description"]
    assert resp.json()["error"] == error
    if status == 401:
        assert resp.headers["www-authenticate"].startswith("Basic")


async def test_a_json_token_request_is_invalid(sng: Sng) -> None:
    resp = await sng.http.post(TOKEN, json=FORM, headers={"Authorization": basic()})
    assert (resp.status_code, resp.json()["error"]) == (400, "invalid_request")


async def test_a_client_may_only_get_its_configured_scopes(make_sng: SngFactory) -> None:
    env = await make_sng(vendors=vendor_settings(scopes=["cx.agent-calls"]), token=False)
    resp = await env.http.post(TOKEN, data=FORM, headers={"Authorization": basic()})
    assert (resp.status_code, resp.json()["error"]) == (400, "invalid_scope")


async def test_open_auth_provisions_an_unknown_client_as_a_tenant(sng: Sng) -> None:
    token = await sng.get_token(auth=basic("globex", "pw"))
    resp = await sng.call(
        "POST",
        f"{API}/agents/call/",
        {"agent_name": "agent.test", "destination": "1", "tenant_domain": "globex.cx.sangoma.com"},
        token=token,
    )
    assert resp.status_code == 200, resp.text
    again = await sng.http.post(TOKEN, data=FORM, headers={"Authorization": basic("globex", "other")})
    assert again.status_code == 401  # the first secret it used is its secret now


async def test_strict_auth_refuses_unknown_clients(make_sng: SngFactory) -> None:
    env = await make_sng(auth="strict")
    resp = await env.http.post(TOKEN, data=FORM, headers={"Authorization": basic("globex", "pw")})
    assert (resp.status_code, resp.json()["error"]) == (401, "invalid_client")
    assert (await env.http.post(TOKEN, data=FORM, headers={"Authorization": basic()})).status_code == 200


async def test_strict_auth_accepts_a_provisioned_tenant(make_sng: SngFactory) -> None:
    env = await make_sng(auth="strict", token=False)
    resp = await env.http.post("/_emulator/tenants", json={"tenant": "initech", "vendors": ["sangoma"]})
    creds = resp.json()["credentials"]["sangoma"]
    assert creds["tenant_domain"] == "initech.cx.sangoma.com"
    assert creds["agents"][0] == "agent.test"
    token = await env.get_token(auth=basic(creds["client_id"], creds["client_secret"]))
    listed = await env.call("GET", f"{DI}/inboxes/", token=token)
    assert listed.status_code == 200
    assert creds["inboxes"] == {"Website": 1, "API": 2}


# -- bearer tokens on the API -------------------------------------------------------------------------------------

CALL = {"agent_name": "agent.test", "destination": "9001", "tenant_domain": DOMAIN}


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        (None, "Authentication credentials were not provided."),
        ("Bearer nonsense", "Invalid token."),
        ("Bearer YWNtZQ.notatoken", "Invalid token."),
        ("Token abc", "Invalid token."),
        ("Bearer ", "Invalid token."),
    ],
    ids=["missing", "unknown", "unknown-in-tenant", "wrong-scheme", "empty"],
)
async def test_bad_bearer_is_401(sng: Sng, header: str | None, detail: str) -> None:
    headers = {"Authorization": header} if header is not None else {}
    resp = await sng.http.post(f"{API}/agents/call/", json=CALL, headers=headers)
    assert resp.status_code == 401
    assert resp.json() == {"detail": detail}
    assert resp.headers["www-authenticate"].startswith("Bearer")


async def test_a_token_expires_on_the_clock(sng: Sng) -> None:
    assert (await sng.call("GET", f"{DI}/inboxes/")).status_code == 200
    await sng.advance(31_536_000)
    resp = await sng.call("GET", f"{DI}/inboxes/")
    assert (resp.status_code, resp.json()) == (401, {"detail": "Token has expired."})


@pytest.mark.parametrize(
    ("scope", "method", "path", "body"),
    [
        ("cx.queue-calls", "POST", f"{API}/agents/call/", CALL),
        (
            "cx.agent-calls",
            "POST",
            f"{API}/queues/call/",
            {"queue_name": "queue_test", "destination": "1", "tenant_domain": DOMAIN},
        ),
        ("cx.agent-calls cx.queue-calls", "GET", f"{DI}/inboxes/", None),
        ("cx.agent-calls", "POST", f"{DI}/conversations/finish/", {"tenant_domain": DOMAIN, "conversation_id": 1}),
    ],
    ids=["agent-call", "queue-call", "inboxes", "finish"],
)
async def test_a_token_without_the_scope_is_403(sng: Sng, scope: str, method: str, path: str, body: object) -> None:
    token = await sng.get_token(scope)
    resp = await sng.call(method, path, body, token=token)
    assert (resp.status_code, resp.json()) == (403, {"detail": "You do not have permission to perform this action."})


async def test_scope_is_checked_before_the_body(sng: Sng) -> None:
    token = await sng.get_token("cx.digital-interactions")
    resp = await sng.http.post(
        f"{API}/agents/call/", content=b"{not json", headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status_code == 403


async def test_a_token_acts_only_on_its_own_tenant(sng: Sng) -> None:
    other = await sng.get_token(auth=basic("globex", "pw"))
    for token, domain in ((sng.token, "globex.cx.sangoma.com"), (other, DOMAIN), (sng.token, "unknown.example")):
        resp = await sng.call("POST", f"{API}/agents/call/", {**CALL, "tenant_domain": domain}, token=token)
        assert resp.status_code == 403
        assert resp.json() == {"detail": "The tenant_domain does not belong to this access token."}
    assert sng.events("call.") == []


async def test_tenant_domain_is_case_insensitive(sng: Sng) -> None:
    resp = await sng.call("POST", f"{API}/agents/call/", {**CALL, "tenant_domain": DOMAIN.upper()})
    assert resp.status_code == 200


ENDPOINTS = [
    ("POST", f"{API}/agents/call", "cx.agent-calls"),
    ("POST", f"{API}/queues/call", "cx.queue-calls"),
    *(
        (method, f"{DI}/{path}", "cx.digital-interactions")
        for method, path in [
            ("POST", "agent-bot"),
            ("POST", "agents-bot"),
            ("GET", "inboxes"),
            ("POST", "assign-agent-bot"),
            ("POST", "agents-bot/assign"),
            ("POST", "webhooks"),
            ("POST", "contacts"),
            ("POST", "conversations"),
            ("POST", "messages"),
            ("POST", "conversations/deliver-to-agent"),
            ("POST", "conversations/finish"),
        ]
    ),
]


@pytest.mark.parametrize(("method", "path", "scope"), ENDPOINTS, ids=[f"{m} {p}" for m, p, _ in ENDPOINTS])
async def test_every_endpoint_needs_a_token_with_its_scope(sng: Sng, method: str, path: str, scope: str) -> None:
    """With and without the trailing slash: no token is 401, a token with every other scope is 403."""
    others = " ".join(s for s in ALL_SCOPES.split() if s != scope)
    token = await sng.get_token(others)
    for url in (path, f"{path}/"):
        resp = await sng.http.request(method, url, json={"tenant_domain": DOMAIN})
        assert (resp.status_code, resp.json()) == (401, {"detail": "Authentication credentials were not provided."})
        resp = await sng.call(method, url, {"tenant_domain": DOMAIN}, token=token)
        assert (resp.status_code, resp.json()) == (
            403,
            {"detail": "You do not have permission to perform this action."},
        )


@pytest.mark.parametrize("client_id", ["a/b", "x" * 129, "-leading-dash", "tab\tinside"])
async def test_open_auth_refuses_a_client_id_that_cannot_name_a_tenant(sng: Sng, client_id: str) -> None:
    resp = await sng.http.post(TOKEN, data={**FORM, "client_id": client_id, "client_secret": "pw"})
    assert (resp.status_code, resp.json()["error"]) == (401, "invalid_client")
    assert resp.headers["www-authenticate"].startswith("Basic")
    state = await sng.http.get("/_emulator/state")
    assert client_id not in state.json()["store"].get("sangoma", {}), "no tenant was created"


# -- open auth: a new client's tenant takes the first tenant_domain it sends (issue 11 §1) -----------------------

WRONG_TENANT = {"detail": "The tenant_domain does not belong to this access token."}


async def _call_as(env: Sng, token: str, domain: object) -> tuple[int, object]:
    resp = await env.call("POST", f"{API}/agents/call/", {**CALL, "tenant_domain": domain}, token=token)
    return resp.status_code, resp.json()


async def test_open_auth_binds_the_first_tenant_domain_of_a_new_client(make_sng: SngFactory) -> None:
    env = await make_sng(vendors={}, token=False)
    token = await env.get_token(auth=basic("zz-client", "pw"))
    assert await _call_as(env, token, " Acme.CX.Sangoma.com ") == (200, {})
    assert env.emu.store.peek("sangoma", "zz-client").tenant_domain == DOMAIN  # type: ignore[union-attr]
    assert await _call_as(env, token, DOMAIN.upper()) == (200, {})
    assert await _call_as(env, token, "zz-client.cx.sangoma.com") == (403, WRONG_TENANT)
    assert await _call_as(env, token, "globex.cx.sangoma.com") == (403, WRONG_TENANT)
    world = (await env.http.get("/_emulator/vendors/sangoma/tenants/zz-client")).json()
    assert world["tenant_domain"] == DOMAIN


async def test_two_first_requests_cannot_bind_two_domains(make_sng: SngFactory) -> None:
    env = await make_sng(vendors={}, token=False)
    token = await env.get_token(auth=basic("zz-client", "pw"))
    results = await asyncio.gather(*(_call_as(env, token, f"d{i}.example.com") for i in range(8)))
    assert sorted(status for status, _ in results) == [200] + [403] * 7
    (winner,) = [i for i, (status, _) in enumerate(results) if status == 200]
    assert env.emu.store.peek("sangoma", "zz-client").tenant_domain == f"d{winner}.example.com"  # type: ignore[union-attr]


async def test_a_configured_tenant_keeps_its_domain_and_no_open_client_takes_it(sng: Sng) -> None:
    assert await _call_as(sng, sng.token, "other.example.com") == (403, WRONG_TENANT)
    assert sng.state.tenant_domain == DOMAIN
    other = await sng.get_token(auth=basic("globex", "pw"))
    assert await _call_as(sng, other, DOMAIN) == (403, WRONG_TENANT)  # acme's, by configuration
    assert await _call_as(sng, other, "globex.example.com") == (200, {})  # still free to take its first own
    assert await _call_as(sng, other, "globex.cx.sangoma.com") == (403, WRONG_TENANT)


async def test_strict_auth_keeps_the_provisioned_domain(make_sng: SngFactory) -> None:
    env = await make_sng(auth="strict", vendors={}, token=False)
    resp = await env.http.post("/_emulator/tenants", json={"tenant": "initech", "vendors": ["sangoma"]})
    creds = resp.json()["credentials"]["sangoma"]
    token = await env.get_token(auth=basic(creds["client_id"], creds["client_secret"]))
    assert await _call_as(env, token, DOMAIN) == (403, WRONG_TENANT)
    assert await _call_as(env, token, "initech.cx.sangoma.com") == (200, {})


async def test_open_auth_provisioned_credentials_name_the_domain(make_sng: SngFactory) -> None:
    env = await make_sng(vendors={}, token=False)
    resp = await env.http.post("/_emulator/tenants", json={"tenant": "initech", "vendors": ["sangoma"]})
    creds = resp.json()["credentials"]["sangoma"]
    token = await env.get_token(auth=basic(creds["client_id"], creds["client_secret"]))
    assert await _call_as(env, token, DOMAIN) == (403, WRONG_TENANT)
    assert await _call_as(env, token, creds["tenant_domain"]) == (200, {})


@pytest.mark.parametrize(
    ("domain", "errors"),
    [
        (None, {"tenant_domain": ["This field may not be null."]}),
        ("", {"tenant_domain": ["This field may not be blank."]}),
        (5, {"tenant_domain": ["Not a valid string."]}),
    ],
    ids=["null", "blank", "number"],
)
async def test_a_bad_tenant_domain_is_refused_as_before_and_binds_nothing(
    make_sng: SngFactory, domain: object, errors: dict[str, list[str]]
) -> None:
    env = await make_sng(vendors={}, token=False)
    token = await env.get_token(auth=basic("zz-client", "pw"))
    assert await _call_as(env, token, domain) == (400, errors)
    missing = await env.call(
        "POST", f"{API}/agents/call/", {"agent_name": "agent.test", "destination": "1"}, token=token
    )
    assert (missing.status_code, missing.json()) == (400, {"tenant_domain": ["This field is required."]})
    assert await _call_as(env, token, "   ") == (403, WRONG_TENANT)
    assert await _call_as(env, token, DOMAIN) == (200, {})  # still unbound until now


async def test_a_request_that_fails_after_the_domain_check_binds_nothing(make_sng: SngFactory) -> None:
    """The domain is bound by the first request that succeeds: one answered 404 (an unknown queue) leaves the
    tenant as it was, so its next request may still name its own."""
    env = await make_sng(vendors={}, token=False)
    token = await env.get_token(auth=basic("zz-client", "pw"))
    before = (await env.http.get("/_emulator/state")).json()["store"]["sangoma"]
    body = {"tenant_domain": "typo.example.com", "queue_name": "no-such-queue", "destination": "1"}
    missing = await env.call("POST", f"{API}/queues/call/", body, token=token)
    assert missing.status_code == 404
    assert (await env.http.get("/_emulator/state")).json()["store"]["sangoma"] == before
    assert await _call_as(env, token, DOMAIN) == (200, {})
    assert env.emu.store.peek("sangoma", "zz-client").tenant_domain == DOMAIN  # type: ignore[union-attr]


async def test_the_bound_domain_survives_snapshot_and_restore(make_sng: SngFactory) -> None:
    env = await make_sng(vendors={}, token=False)
    token = await env.get_token(auth=basic("zz-client", "pw"))
    assert (await _call_as(env, token, DOMAIN))[0] == 200
    snapshot = (await env.http.get("/_emulator/state")).json()
    assert snapshot["store"]["sangoma"]["zz-client"]["state"]["tenant_domain_open"] is False
    fresh = await make_sng(vendors={}, token=False)
    assert (await fresh.http.post("/_emulator/state", json=snapshot)).status_code == 200
    assert await _call_as(fresh, token, "other.example.com") == (403, WRONG_TENANT)
    assert await _call_as(fresh, token, DOMAIN) == (200, {})


async def test_a_reset_tenant_binds_again(make_sng: SngFactory) -> None:
    env = await make_sng(vendors={}, token=False)
    token = await env.get_token(auth=basic("zz-client", "pw"))
    assert (await _call_as(env, token, DOMAIN))[0] == 200
    reset = await env.http.post("/_emulator/reset", params={"vendor": "sangoma", "tenant": "zz-client"})
    assert reset.status_code == 200
    token = await env.get_token(auth=basic("zz-client", "new-pw"))
    assert await _call_as(env, token, "second.example.com") == (200, {})
    assert await _call_as(env, token, DOMAIN) == (403, WRONG_TENANT)
