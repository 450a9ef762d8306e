"""`user.email` and `user.language` checked as 8x8's OAS declares them (`strict_user_fields`, default on, [inf]),
and every curl of 8x8's seed page run as written against a zero-config server."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from emulator.pytest_plugin import WebhookSink
from tests.vendors.eightbyeight.conftest import HOOK_PATH, Ebe, EbeFactory, tenant_config, vendor_settings

SEED = "seeds/004_4a22890e16aec957.txt"
HOST = "https://api.8x8.com"


def create(**user: Any) -> dict[str, Any]:
    return {"channelId": "1", "user": {"name": "James Jones", **user}}


def constraint_violation(field: str, value: str, problem: str) -> dict[str, Any]:
    """8x8's general 400 of conversation create for one bad field (as for any other bad field there)."""
    text = f"{field}: {problem}"
    return {
        "message": "Constraint Violation",
        "errors": [{"code": "invalid_parameter", "message": text}],
        "validations": [{"field": field, "value": value, "code": "invalid_parameter", "message": text}],
    }


@pytest.fixture
async def lax(make_ebe: EbeFactory, webhook_sink: WebhookSink) -> Ebe:
    cfg = vendor_settings(tenant_config(webhook_sink.url_for(HOOK_PATH)), strict_user_fields=False)
    env = await make_ebe(vendors=cfg)
    assert (await env.api("GET", "/webhooks")).status_code == 200
    return env


async def test_a_valid_email_and_language_are_accepted(ebe: Ebe) -> None:
    conv = await ebe.create(create(email="james.jones+chat@example.co.uk", language="zh-TW"))

    got = (await ebe.api("GET", f"/conversations/{conv}")).json()
    assert got["user"] == {"name": "James Jones", "email": "james.jones+chat@example.co.uk", "language": "zh-TW"}


@pytest.mark.parametrize("email", ["james.jones", "james@", "@example.com", "james jones@example.com", "a@b@c"])
async def test_a_malformed_email_is_8x8s_400_and_creates_nothing(ebe: Ebe, email: str) -> None:
    resp = await ebe.api("POST", "/conversations", create(email=email))

    assert resp.status_code == 400
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json() == constraint_violation("user.email", email, "must be a well-formed email address")
    listed = (await ebe.api("GET", "/conversations")).json()
    assert listed["_embedded"]["conversations"] == []
    assert ebe.emu.dispatcher.deliveries() == []


@pytest.mark.parametrize("language", ["english", "EN", "zh-cn", "", "xx"])
async def test_a_language_outside_the_oas_codes_is_8x8s_400(ebe: Ebe, language: str) -> None:
    resp = await ebe.api("POST", "/conversations", create(language=language))

    assert resp.status_code == 400
    codes = "en, ru, de, ja, es, fr, pt, it, pl, hr, nl, ar, da, ko, no, sv, vi, cy, th, zh-CN, zh-TW"
    assert resp.json() == constraint_violation("user.language", language, f"must be one of {codes}")
    assert (await ebe.api("GET", "/conversations")).json()["_embedded"]["conversations"] == []


async def test_put_and_patch_check_the_user_too_and_leave_it_unchanged(ebe: Ebe) -> None:
    conv = await ebe.create(create(email="j@example.com"))

    for method in ("PUT", "PATCH"):
        resp = await ebe.api(method, f"/conversations/{conv}", {"user": {"email": "not an address"}})
        assert resp.status_code == 400, method
        assert resp.json()["errors"] == [
            {"code": "invalid_parameter", "message": "user.email: must be a well-formed email address"}
        ]
    got = (await ebe.api("GET", f"/conversations/{conv}")).json()
    assert got["user"] == {"name": "James Jones", "email": "j@example.com"}


async def test_switched_off_any_string_is_kept(lax: Ebe) -> None:
    conv = await lax.create(create(email="[email protected]", language="klingon"))

    got = (await lax.api("GET", f"/conversations/{conv}")).json()
    assert got["user"]["email"] == "[email protected]"
    assert got["user"]["language"] == "klingon"


# -- the seed page's curls, as written -----------------------------------------------------------------------

CURL = re.compile(r"curl --request (?P<method>[A-Z]+)\s+--url <(?P<url>[^>]+)>(?P<rest>.*?)--data '\s*", re.S)


def seed_curls(text: str) -> list[tuple[str, str, dict[str, str], str]]:
    """(method, url, headers, body) of every curl on the page. The page never prints the closing quote of
    `--data`, so the body is the one JSON document that follows it."""
    out = []
    for match in CURL.finditer(text):
        headers = dict(h.split(": ", 1) for h in re.findall(r"--header '([^']+)'", match["rest"]))
        _, end = json.JSONDecoder().raw_decode(text, match.end())
        out.append((match["method"], match["url"], headers, text[match.end() : end]))
    return out


@pytest.mark.shared
async def test_every_seed_curl_runs_as_written_on_a_zero_config_server(shared_dir: Path, make_ebe: EbeFactory) -> None:
    curls = seed_curls((shared_dir / SEED).read_text(encoding="utf-8"))
    assert [(method, url) for method, url, _, _ in curls] == [("POST", f"{HOST}/chat-gateway/v1/conversations")]
    env = await make_ebe()  # no vendor configuration: any x-api-key is a tenant with the default world
    ((method, url, headers, data),) = curls
    body = json.loads(data)
    path = url.removeprefix(HOST)

    sent = {**headers, "x-api-key": "any-key-at-all"}

    async def run(payload: str) -> Any:
        resp = await env.http.request(method, path, content=payload.encode(), headers=sent)
        return resp.status_code, resp.json()

    # As written, 8x8's general 400 for the captured page's "[email protected]": a web page's e-mail obfuscation
    # placeholder where 8x8's live page shows a real address, the first thing 8x8's validation would see.
    assert await run(data) == (
        400,
        constraint_violation("user.email", body["user"]["email"], "must be a well-formed email address"),
    )
    # With an address in its place (the only change), the page's request creates the conversation: this new
    # tenant's default channel and queue take the page's `f5odm43occnifcdcsa` and " 123" (open auth).
    body["user"]["email"] = "james.jones@example.com"
    status, created = await run(json.dumps(body))
    assert (status, list(created)) == (202, ["conversationId", "createdAt"])
    resp = await env.http.get(f"{path}/{created['conversationId']}", headers=sent)
    assert (resp.json()["channelId"], resp.json()["assignment"]) == (body["channelId"], {"type": "queue", "id": "123"})
