"""8x8 Chat Gateway error responses, endpoint by endpoint (eightbyeight.md §1.2, §1.3, §1.8; 8x8's OAS).

Every rejected request is checked for its status, `application/problem+json`, the exact body in the shape 8x8
uses for that endpoint (``errors`` as a list of objects, a list of strings or a single object; ``referenceId``
where 8x8 sends one), and for having changed nothing: the emulator snapshot (state, id counters, jobs,
deliveries), the event history and the delivery log are identical before and after.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount, Route

from emulator.app import create_app
from emulator.core.routing import PrefixIndex, PrefixRoutes
from emulator.core.runtime import Emulator
from emulator.vendors import eightbyeight
from emulator.vendors.eightbyeight.constants import API_PREFIX, CARD_ACTION_PREFIX
from emulator.vendors.eightbyeight.delivery import signer_for
from emulator.vendors.eightbyeight.state import EightByEightState
from tests.conftest import make_settings

P = API_PREFIX
C = f"{P}/conversations/{{conversationId}}"
CARDS = f"{CARD_ACTION_PREFIX}/{{tenantId}}/conversations/{{conversationId}}/cards/{{cardId}}"
PROBLEM_JSON = "application/problem+json"

KEY = "k-acme"
TENANT_ID = "t-acme"
CUSTOMER_ID = "c-acme"
ACME = {"api_keys": [KEY], "tenant_id": TENANT_ID, "customer_id": CUSTOMER_ID}
BASE_SETTINGS: dict[str, Any] = {
    "vendors": {"eightbyeight": {"tenants": {"acme": ACME}}},
    # deliveries stay in the log but never leave the process (no webhook host is on the allow-list)
    "webhook_allow_hosts": ["allow-list-only.invalid"],
}
MISSING = object()


class Hex:
    """Equal to any lowercase hex string of `length` characters (a referenceId)."""

    def __init__(self, length: int) -> None:
        self.length = length

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and re.fullmatch(f"[0-9a-f]{{{self.length}}}", other) is not None

    def __hash__(self) -> int:
        return hash(self.length)

    def __repr__(self) -> str:
        return f"<{self.length} hex digits>"


REF15 = Hex(15)
REF32 = Hex(32)


# -- the app ----------------------------------------------------------------------------------------------


@dataclass
class Env:
    app: Starlette
    client: httpx.AsyncClient
    ids: dict[str, str] = field(default_factory=dict)

    @property
    def emu(self) -> Emulator:
        emu: Emulator = self.app.state.emulator
        return emu

    def fill(self, value: Any) -> Any:
        """Replace `{conversationId}`-style placeholders (route parameter names) in strings, recursively."""
        if isinstance(value, str):
            for name, real in self.ids.items():
                value = value.replace(f"{{{name}}}", real)
            return value
        if isinstance(value, dict):
            return {k: self.fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.fill(v) for v in value]
        return value

    async def call(
        self,
        method: str,
        path: str,
        body: Any = MISSING,
        *,
        key: str | None = KEY,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
        files: dict[str, Any] | None = None,
    ) -> httpx.Response:
        sent = dict(headers or {})
        if key is not None:
            sent["x-api-key"] = key
        kwargs: dict[str, Any] = {}
        if body is not MISSING:
            kwargs["json"] = self.fill(body)
        if content is not None:
            kwargs["content"] = content
        if files is not None:
            kwargs["files"] = files
        return await self.client.request(method, self.fill(path), headers=sent, **kwargs)

    def fingerprint(self) -> tuple[Any, ...]:
        """Everything a request could change: snapshot (state, counters, jobs, deliveries), events, deliveries."""
        emu = self.emu
        snap = emu.snapshot()
        snap.pop("clock")
        return snap, len(emu.bus.recent), [d.id for d in emu.dispatcher.deliveries()]


EnvFactory = Callable[..., Awaitable[Env]]


@pytest.fixture
async def make_env() -> AsyncIterator[EnvFactory]:
    made: list[Env] = []

    async def factory(**overrides: Any) -> Env:
        values = {**BASE_SETTINGS, **overrides}
        app = create_app(make_settings(**values), plugins=[eightbyeight.PLUGIN])
        await app.state.emulator.start()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cxemu.test")
        env = Env(app, client)
        made.append(env)
        return env

    yield factory
    for env in made:
        await env.client.aclose()
        await env.emu.stop()


@pytest.fixture
async def env(make_env: EnvFactory) -> Env:
    """The `acme` tenant with a conversation (bot history message with a card) and one attachment."""
    e = await make_env()
    created = await e.call(
        "POST",
        f"{P}/conversations",
        {
            "channelId": "1",
            "user": {"name": "Ann Smith"},
            "history": {"messages": [{"authorType": "bot", "text": "pick one", "cards": [{"content": {"a": 1}}]}]},
        },
    )
    assert created.status_code == 202, created.text
    conv = created.json()["conversationId"]
    e.ids.update(conversationId=conv, tenantId=TENANT_ID, webhookId="1", channelId="1")
    upload = await e.call("POST", f"{P}/conversations/{conv}/attachments", files={"attachment": ("a.txt", b"hi")})
    assert upload.status_code == 200, upload.text
    messages = (await e.call("GET", f"{P}/conversations/{conv}/messages")).json()["_embedded"]["messages"]
    e.ids.update(messageId=messages[0]["id"], cardId=messages[0]["cards"][0]["id"], attachmentId=upload.json()["id"])
    await e.emu.scheduler.advance(0)  # let the deliveries due now be attempted, so nothing moves under a test
    return e


def assert_problem(resp: httpx.Response, status: int, expected: dict[str, Any]) -> None:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].split(";")[0] == PROBLEM_JSON
    body = resp.json()
    assert body == expected
    assert list(body) == list(expected), "keys out of 8x8's order"


async def assert_rejected(
    env: Env,
    method: str,
    path: str,
    body: Any = MISSING,
    *,
    status: int,
    expected: dict[str, Any],
    **kwargs: Any,
) -> httpx.Response:
    """Send one request, check the problem response, and check it changed nothing."""
    before = env.fingerprint()
    resp = await env.call(method, path, body, **kwargs)
    assert_problem(resp, status, env.fill(expected))
    assert env.fingerprint() == before, "a rejected request changed state, events or deliveries"
    return resp


# -- expected bodies --------------------------------------------------------------------------------------


def access_denied() -> dict[str, Any]:
    return {
        "message": "Access Denied",
        "errors": [{"message": "Access Denied", "code": "access_denied"}],
        "referenceId": REF15,
    }


def forbidden() -> dict[str, Any]:
    return {
        "message": "The tenant does not belong to customer.",
        "errors": [f"Header X-8x8-Tenant doesn't match tenant information for customerId={CUSTOMER_ID}"],
    }


def legacy_404(kind: str, ident: str) -> dict[str, Any]:
    return {
        "message": f"Resource of type {kind} with id {ident} was not found.",
        "errors": [f"Tenant {TENANT_ID} does not belong to customer {CUSTOMER_ID}."],
    }


def newer_404(kind: str, ident: str) -> dict[str, Any]:
    return {
        "message": "Resource not found",
        "errors": [{"code": "resource_not_found", "message": f"Entity of type {kind} with id {ident} was not found."}],
    }


def general(code: str, message: str, summary: str = "Internal error.") -> dict[str, Any]:
    return {"message": summary, "errors": [{"code": code, "message": message}]}


def violation(*items: tuple[str, str, str], code: str = "invalid_parameter") -> dict[str, Any]:
    """Constraint Violation with one (field, value, message) validation per item."""
    return {
        "message": "Constraint Violation",
        "errors": [{"code": code, "message": msg} for _, _, msg in items],
        "validations": [{"field": f, "value": v, "code": code, "message": msg} for f, v, msg in items],
    }


def send_400(message: str) -> dict[str, Any]:
    return {"message": message, "errors": {"code": "invalid_json_object", "message": message}, "referenceId": REF32}


def invalid_parameter(*details: str) -> dict[str, Any]:
    return {
        "message": f"Invalid parameter exception for conversation {{conversationId}} and tenant {TENANT_ID}.",
        "errors": [{"code": "invalid_parameter", "message": d} for d in details],
        "referenceId": REF15,
    }


MALFORMED = "Malformed JSON request body."

# -- authentication: every authenticated endpoint -----------------------------------------------------------

# (method, route path): every route of the plugin except the unauthenticated JWK endpoint.
ROUTES: list[tuple[str, str]] = [
    ("GET", f"{P}/webhooks"),
    ("POST", f"{P}/webhooks"),
    ("POST", f"{P}/webhooks/verify"),
    ("GET", f"{P}/webhooks/{{webhookId}}"),
    ("PUT", f"{P}/webhooks/{{webhookId}}"),
    ("DELETE", f"{P}/webhooks/{{webhookId}}"),
    ("GET", f"{P}/channels"),
    ("POST", f"{P}/channels"),
    ("GET", f"{P}/channels/{{channelId}}"),
    ("PUT", f"{P}/channels/{{channelId}}"),
    ("DELETE", f"{P}/channels/{{channelId}}"),
    ("GET", f"{P}/conversations"),
    ("POST", f"{P}/conversations"),
    ("GET", C),
    ("PUT", C),
    ("PATCH", C),
    ("GET", f"{C}/interactions"),
    ("POST", f"{C}/post-agent-assignment"),
    ("POST", f"{C}/typing"),
    ("POST", f"{C}/thinking"),
    ("POST", f"{C}/read-receipt"),
    ("GET", f"{C}/participants"),
    ("PATCH", f"{C}/participants/user"),
    ("GET", f"{C}/messages"),
    ("POST", f"{C}/messages"),
    ("GET", f"{C}/messages/{{messageId}}"),
    ("GET", f"{C}/messages/{{messageId}}/cards"),
    ("GET", f"{C}/attachments"),
    ("POST", f"{C}/attachments"),
    ("GET", f"{C}/attachments/{{attachmentId}}"),
    ("GET", f"{C}/attachments/{{attachmentId}}/content"),
    ("PUT", f"{CARDS}/action-submit"),
    ("PUT", f"{CARDS}/action-execute"),
]
ROUTE_IDS = [f"{m} {p.removeprefix(P).removeprefix(CARD_ACTION_PREFIX)}" for m, p in ROUTES]
JWK_ROUTE = ("GET", f"{P}/jwk/{{jwkId}}/public")


async def test_route_table_covers_every_endpoint(make_env: EnvFactory) -> None:
    e = await make_env()

    def flat(routes: list[Any], prefix: str = "") -> list[tuple[str, Route]]:
        out: list[tuple[str, Route]] = []
        for r in routes:
            if isinstance(r, Mount):
                out.extend(flat(r.routes, prefix + r.path))
            elif isinstance(r, PrefixIndex | PrefixRoutes):
                out.extend(flat(r.routes, prefix))
            elif isinstance(r, Route):
                out.append((prefix + r.path, r))
        return out

    served = {
        (method, path)
        for path, r in flat(e.app.routes)
        if path.startswith((P, CARD_ACTION_PREFIX))
        for method in (r.methods or set()) - {"HEAD"}
    }
    assert served == {*ROUTES, JWK_ROUTE}


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=ROUTE_IDS)
async def test_missing_api_key_is_401_everywhere(make_env: EnvFactory, method: str, path: str) -> None:
    e = await make_env()
    e.ids.update(conversationId="c1", webhookId="1", channelId="1", messageId="m1", attachmentId="a1", cardId="k1")
    e.ids["tenantId"] = TENANT_ID
    for key in (None, "", "   "):  # no header, empty, blank
        await assert_rejected(e, method, path, {}, key=key, status=401, expected=access_denied())
    assert e.emu.store.tenants() == [], "a refused request created a tenant"


async def test_jwk_needs_no_api_key(make_env: EnvFactory) -> None:
    e = await make_env()
    kid = signer_for(e.emu).kid
    resp = await e.call("GET", f"{P}/jwk/{kid}/public", key=None)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"  # the OAS documents plain JSON for the JWK
    assert set(resp.json()) == {"kty", "e", "kid", "n"}
    await assert_rejected(
        e,
        "GET",
        f"{P}/jwk/nope/public",
        key=None,
        status=404,
        expected={"message": "Resource of type Jwk with id nope was not found.", "errors": []},
    )


STRICT_CASES = [
    ("missing-key", None, 401),
    ("unknown-key", "k-stranger", 401),
    ("tenant-name-as-key", "acme", 401),
    ("configured-key", KEY, 200),
]


@pytest.mark.parametrize(("key", "status"), [c[1:] for c in STRICT_CASES], ids=[c[0] for c in STRICT_CASES])
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("GET", f"{P}/webhooks", MISSING), ("POST", f"{P}/conversations", {"channelId": "1", "user": {"name": "A"}})],
    ids=["list-webhooks", "create-conversation"],
)
async def test_strict_auth(
    make_env: EnvFactory, key: str | None, status: int, method: str, path: str, body: Any
) -> None:
    e = await make_env(auth="strict")
    if status == 401:
        await assert_rejected(e, method, path, body, key=key, status=401, expected=access_denied())
        assert e.emu.store.tenants() == []
    else:
        resp = await e.call(method, path, body, key=key)
        assert resp.status_code in (200, 202), resp.text
        # a read answers from the configured world without building the tenant (issue 18 §2)
        assert e.emu.store.tenants() == ([] if method == "GET" else [("eightbyeight", "acme")])


async def test_open_auth_unknown_key_is_its_own_tenant(make_env: EnvFactory) -> None:
    e = await make_env()
    resp = await e.call("GET", f"{P}/webhooks", key="k-anyone")
    assert resp.status_code == 200
    assert e.emu.store.tenants() == []  # a read creates no tenant (issue 18 §2); the first write does
    resp = await e.call("POST", f"{P}/conversations", {"channelId": "1", "user": {"name": "A"}}, key="k-anyone")
    assert resp.status_code in (200, 202), resp.text
    assert e.emu.store.tenants() == [("eightbyeight", "k-anyone")]


# -- X-8x8-Tenant ---------------------------------------------------------------------------------------------

TENANT_HEADER_CASES: list[tuple[str, str, str, Any]] = [
    ("list-webhooks", "GET", f"{P}/webhooks", MISSING),
    (
        "create-webhook",
        "POST",
        f"{P}/webhooks",
        {"name": "h", "uri": "https://x.test/h", "version": "Chat Gateway v1.0"},
    ),
    ("delete-webhook", "DELETE", f"{P}/webhooks/{{webhookId}}", MISSING),
    ("get-channel", "GET", f"{P}/channels/{{channelId}}", MISSING),
    ("create-conversation", "POST", f"{P}/conversations", {"channelId": "1", "user": {"name": "B"}}),
    ("get-conversation", "GET", C, MISSING),
    ("patch-conversation", "PATCH", C, {"user": {"name": "C"}}),
    ("send-message", "POST", f"{C}/messages", {"authorType": "user", "text": "hi"}),
    ("typing", "POST", f"{C}/typing", {"authorType": "user"}),
    ("thinking", "POST", f"{C}/thinking", MISSING),
    ("read-receipt", "POST", f"{C}/read-receipt", {"authorType": "bot", "readAt": 1}),
    ("post-agent", "POST", f"{C}/post-agent-assignment", {"type": "webhook", "id": "1"}),
    ("user-leaves", "PATCH", f"{C}/participants/user", {"removed": True}),
    ("get-message", "GET", f"{C}/messages/{{messageId}}", MISSING),
    ("attachment-content", "GET", f"{C}/attachments/{{attachmentId}}/content", MISSING),
    ("action-submit", "PUT", f"{CARDS}/action-submit", {"name": "ok"}),
]


@pytest.mark.parametrize(
    ("method", "path", "body"), [c[1:] for c in TENANT_HEADER_CASES], ids=[c[0] for c in TENANT_HEADER_CASES]
)
async def test_tenant_header_mismatch_is_403_with_string_errors(env: Env, method: str, path: str, body: Any) -> None:
    await assert_rejected(
        env, method, path, body, headers={"X-8x8-Tenant": "t-other"}, status=403, expected=forbidden()
    )


async def test_tenant_header_mismatch_on_upload(env: Env) -> None:
    await assert_rejected(
        env,
        "POST",
        f"{C}/attachments",
        headers={"X-8x8-Tenant": "t-other"},
        files={"attachment": ("b.txt", b"x")},
        status=403,
        expected=forbidden(),
    )


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", f"{P}/webhooks", MISSING, 200),
        ("GET", C, MISSING, 200),
        ("POST", f"{C}/typing", {"authorType": "user"}, 204),
        ("PUT", f"{CARDS}/action-submit", {"name": "ok"}, 204),
    ],
    ids=["list-webhooks", "get-conversation", "typing", "action-submit"],
)
async def test_matching_tenant_header_is_accepted(env: Env, method: str, path: str, body: Any, status: int) -> None:
    resp = await env.call(method, path, body, headers={"X-8x8-Tenant": TENANT_ID})
    assert resp.status_code == status, resp.text


async def test_tenant_header_on_a_new_keys_first_write_is_checked_once_its_tenant_exists(env: Env) -> None:
    """A key never seen before has no state when the key is read: its `X-8x8-Tenant` is checked once the unit of
    work has built the tenant (a mismatch is a 403 and nothing is written; the tenant's own id, or no header, go
    through)."""
    body = {"channelId": "1", "user": {"name": "B"}}
    refused = await env.call("POST", f"{P}/conversations", body, key="k-new", headers={"X-8x8-Tenant": "t-other"})
    assert refused.status_code == 403, refused.text
    assert "X-8x8-Tenant" in refused.json()["errors"][0]
    assert env.emu.store.of("eightbyeight", EightByEightState).view("k-new").conversations == {}
    first = await env.call("POST", f"{P}/conversations", body, key="k-new", headers={"X-8x8-Tenant": "k-new"})
    assert first.status_code == 202, first.text
    second = await env.call("POST", f"{P}/conversations", body, key="k-newer")
    assert second.status_code == 202, second.text


# -- 404: unknown ids -----------------------------------------------------------------------------------------

NOT_FOUND_LEGACY: list[tuple[str, str, str, Any, str, str]] = [
    ("get-webhook", "GET", f"{P}/webhooks/99", MISSING, "WebHook", "99"),
    (
        "put-webhook",
        "PUT",
        f"{P}/webhooks/99",
        {"name": "h", "uri": "https://x.test/h", "version": "Chat Gateway v1.0"},
        "WebHook",
        "99",
    ),
    ("delete-webhook", "DELETE", f"{P}/webhooks/99", MISSING, "WebHook", "99"),
    ("get-channel", "GET", f"{P}/channels/99", MISSING, "Channel", "99"),
    (
        "put-channel",
        "PUT",
        f"{P}/channels/99",
        {"name": "c", "webHookId": "1", "routingOptions": {"type": "queue", "id": "100"}},
        "Channel",
        "99",
    ),
    ("delete-channel", "DELETE", f"{P}/channels/99", MISSING, "Channel", "99"),
    ("get-conversation", "GET", f"{P}/conversations/nope", MISSING, "Conversation", "nope"),
    ("put-conversation", "PUT", f"{P}/conversations/nope", {"user": {"name": "x"}}, "Conversation", "nope"),
    ("patch-conversation", "PATCH", f"{P}/conversations/nope", {"user": {"name": "x"}}, "Conversation", "nope"),
    ("interactions", "GET", f"{P}/conversations/nope/interactions", MISSING, "Conversation", "nope"),
    ("participants", "GET", f"{P}/conversations/nope/participants", MISSING, "Conversation", "nope"),
    ("user-leaves", "PATCH", f"{P}/conversations/nope/participants/user", {"removed": True}, "Conversation", "nope"),
    ("list-messages", "GET", f"{P}/conversations/nope/messages", MISSING, "Conversation", "nope"),
    (
        "send-message",
        "POST",
        f"{P}/conversations/nope/messages",
        {"authorType": "user", "text": "hi"},
        "Conversation",
        "nope",
    ),
    (
        "get-message-of-unknown-conversation",
        "GET",
        f"{P}/conversations/nope/messages/m",
        MISSING,
        "Conversation",
        "nope",
    ),
    ("get-message", "GET", f"{C}/messages/nope", MISSING, "Message", "nope"),
    ("message-cards", "GET", f"{C}/messages/nope/cards", MISSING, "Message", "nope"),
    ("list-attachments", "GET", f"{P}/conversations/nope/attachments", MISSING, "Conversation", "nope"),
    ("get-attachment", "GET", f"{C}/attachments/nope", MISSING, "Attachment", "nope"),
    ("attachment-content", "GET", f"{C}/attachments/nope/content", MISSING, "Attachment", "nope"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "kind", "ident"), [c[1:] for c in NOT_FOUND_LEGACY], ids=[c[0] for c in NOT_FOUND_LEGACY]
)
async def test_unknown_id_legacy_404(env: Env, method: str, path: str, body: Any, kind: str, ident: str) -> None:
    await assert_rejected(env, method, path, body, status=404, expected=legacy_404(kind, ident))


async def test_upload_to_unknown_conversation_is_legacy_404(env: Env) -> None:
    await assert_rejected(
        env,
        "POST",
        f"{P}/conversations/nope/attachments",
        files={"attachment": ("b.txt", b"x")},
        status=404,
        expected=legacy_404("Conversation", "nope"),
    )


NOT_FOUND_NEWER: list[tuple[str, str, str, Any, str, str]] = [
    ("typing", "POST", f"{P}/conversations/nope/typing", {"authorType": "bot"}, "Conversation", "nope"),
    ("thinking", "POST", f"{P}/conversations/nope/thinking", {"maxThinkingTimeSeconds": 5}, "Conversation", "nope"),
    ("thinking-no-body", "POST", f"{P}/conversations/nope/thinking", MISSING, "Conversation", "nope"),
    (
        "read-receipt",
        "POST",
        f"{P}/conversations/nope/read-receipt",
        {"authorType": "bot", "readAt": 1},
        "Conversation",
        "nope",
    ),
    (
        "post-agent",
        "POST",
        f"{P}/conversations/nope/post-agent-assignment",
        {"type": "webhook", "id": "1"},
        "Conversation",
        "nope",
    ),
    # OAS: the card-action endpoints answer 404 with ResourceNotFoundExceptionResponse (the newer shape)
    ("action-submit-unknown-card", "PUT", f"{CARDS.replace('{cardId}', 'nope')}/action-submit", {}, "Card", "nope"),
    ("action-execute-unknown-card", "PUT", f"{CARDS.replace('{cardId}', 'nope')}/action-execute", {}, "Card", "nope"),
    (
        "action-submit-unknown-conversation",
        "PUT",
        f"{CARD_ACTION_PREFIX}/{TENANT_ID}/conversations/nope/cards/{{cardId}}/action-submit",
        {"name": "x"},
        "Conversation",
        "nope",
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "kind", "ident"), [c[1:] for c in NOT_FOUND_NEWER], ids=[c[0] for c in NOT_FOUND_NEWER]
)
async def test_unknown_id_newer_404(env: Env, method: str, path: str, body: Any, kind: str, ident: str) -> None:
    await assert_rejected(env, method, path, body, status=404, expected=newer_404(kind, ident))


# -- send message ---------------------------------------------------------------------------------------------

SEND_CASES: list[tuple[str, Any, str]] = [
    ("bad-author-type", {"authorType": "x", "text": "hi"}, "Invalid authorType=x, has to be one of user, bot, agent"),
    ("missing-author-type", {"text": "hi"}, "Invalid authorType=null, has to be one of user, bot, agent"),
    (
        "text-and-external-provider",
        {"authorType": "user", "text": "hi", "externalProvider": {"name": "X", "externalMessageId": "1"}},
        "text: exactly one of text or externalProvider must be given",
    ),
    (
        "neither-text-nor-provider",
        {"authorType": "user"},
        "text: exactly one of text or externalProvider must be given",
    ),
    (
        "unknown-attachment",
        {"authorType": "user", "text": "hi", "attachments": [{"id": "nope"}]},
        "Attachment nope was not found.",
    ),
    ("not-an-object", [], MALFORMED),
]


@pytest.mark.parametrize(("body", "message"), [c[1:] for c in SEND_CASES], ids=[c[0] for c in SEND_CASES])
async def test_send_message_400_has_single_object_errors(env: Env, body: Any, message: str) -> None:
    resp = await assert_rejected(env, "POST", f"{C}/messages", body, status=400, expected=send_400(message))
    assert isinstance(resp.json()["errors"], dict)


async def test_send_message_malformed_json(env: Env) -> None:
    await assert_rejected(
        env,
        "POST",
        f"{C}/messages",
        content=b'{"authorType": "user", "text": ',
        headers={"content-type": "application/json"},
        status=400,
        expected=send_400(MALFORMED),
    )


# -- create conversation --------------------------------------------------------------------------------------

PROPS_31 = [{"key": f"k{i}", "value": "v"} for i in range(31)]
HISTORY_201 = [{"authorType": "user", "text": "m"} for _ in range(201)]


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


CREATE_CASES: list[tuple[str, Any, dict[str, Any]]] = [
    ("missing-channel-id", {"user": {"name": "A"}}, violation(("channelId", "null", "channelId: May not be empty."))),
    ("missing-user", {"channelId": "1"}, violation(("user", "null", "user: May not be empty."))),
    ("unknown-channel", {"channelId": "999", "user": {}}, general("invalid_channel", "Channel ID 999 is invalid.")),
    (
        "unknown-queue",
        {"channelId": "1", "user": {}, "assignment": {"type": "queue", "id": "999"}},
        general("invalid_queue", "Queue ID 999 is invalid."),
    ),
    (
        "31-additional-properties",
        {"channelId": "1", "user": {"additionalProperties": PROPS_31}},
        violation(
            (
                "user.additionalProperties",
                compact(PROPS_31),
                "user.additionalProperties: List should have at most 30 items after validation, not 31",
            )
        ),
    ),
    (
        "201-history-messages",
        {"channelId": "1", "user": {}, "history": {"messages": HISTORY_201}},
        violation(
            (
                "history.messages",
                compact(HISTORY_201),
                "history.messages: List should have at most 200 items after validation, not 201",
            )
        ),
    ),
    (
        "property-without-value",
        {"channelId": "1", "user": {"additionalProperties": [{"key": "Intent"}]}},
        violation(
            ("user.additionalProperties[0].value", "null", "user.additionalProperties[0].value: May not be empty.")
        ),
    ),
    (
        "assignment-type-agent",
        {"channelId": "1", "user": {}, "assignment": {"type": "agent", "id": "a1"}},
        violation(("assignment.type", "agent", "assignment.type: Input should be 'queue' or 'script'")),
    ),
    ("not-an-object", [], general("invalid_json_object", MALFORMED, MALFORMED)),
    ("json-string", "channelId", general("invalid_json_object", MALFORMED, MALFORMED)),
]


@pytest.mark.parametrize(("body", "expected"), [c[1:] for c in CREATE_CASES], ids=[c[0] for c in CREATE_CASES])
async def test_create_conversation_400(env: Env, body: Any, expected: dict[str, Any]) -> None:
    listed = (await env.call("GET", f"{P}/conversations")).json()
    await assert_rejected(env, "POST", f"{P}/conversations", body, status=400, expected=expected)
    assert (await env.call("GET", f"{P}/conversations")).json() == listed
    assert listed["page"]["totalElements"] == 1


@pytest.mark.parametrize(
    ("content", "ctype", "status", "expected"),
    [
        (b'{"channelId": "1", "user": ', "application/json", 400, general("invalid_json_object", MALFORMED, MALFORMED)),
        (b"", "application/json", 400, general("invalid_json_object", MALFORMED, MALFORMED)),
        (
            b'{"channelId": "1", "user": {}}',
            "text/plain",
            415,
            general("unsupported_media_type", "Content type 'text/plain' not supported"),
        ),
        (
            b"channelId=1",
            "application/x-www-form-urlencoded",
            415,
            general("unsupported_media_type", "Content type 'application/x-www-form-urlencoded' not supported"),
        ),
    ],
    ids=["malformed-json", "empty-body", "text-plain", "form-urlencoded"],
)
async def test_create_conversation_unreadable_body(
    env: Env, content: bytes, ctype: str, status: int, expected: dict[str, Any]
) -> None:
    await assert_rejected(
        env,
        "POST",
        f"{P}/conversations",
        content=content,
        headers={"content-type": ctype},
        status=status,
        expected=expected,
    )


CHANGE_CASES: list[tuple[str, str, Any, dict[str, Any]]] = [
    (
        "put-unknown-queue",
        "PUT",
        {"assignment": {"type": "queue", "id": "999"}},
        general("invalid_queue", "Queue ID 999 is invalid."),
    ),
    (
        "patch-unknown-queue",
        "PATCH",
        {"user": {"name": "Z"}, "assignment": {"type": "queue", "id": "999"}},
        general("invalid_queue", "Queue ID 999 is invalid."),
    ),
    ("put-unknown-channel", "PUT", {"channelId": "999"}, general("invalid_channel", "Channel ID 999 is invalid.")),
    (
        "patch-assignment-agent",
        "PATCH",
        {"assignment": {"type": "agent"}},
        violation(("assignment.type", "agent", "assignment.type: Input should be 'queue' or 'script'")),
    ),
    ("patch-not-an-object", "PATCH", [], general("invalid_json_object", MALFORMED, MALFORMED)),
]


@pytest.mark.parametrize(
    ("method", "body", "expected"), [c[1:] for c in CHANGE_CASES], ids=[c[0] for c in CHANGE_CASES]
)
async def test_update_conversation_400(env: Env, method: str, body: Any, expected: dict[str, Any]) -> None:
    await assert_rejected(env, method, C, body, status=400, expected=expected)


# -- the newer endpoints: typing, thinking, read receipt, post-agent assignment -----------------------------------

NEWER_400: list[tuple[str, str, Any, tuple[str, ...]]] = [
    ("typing-empty-object", "typing", {}, ("authorType: May not be empty.",)),
    ("typing-agent", "typing", {"authorType": "agent"}, ("authorType: Input should be 'bot' or 'user'",)),
    ("typing-not-an-object", "typing", [], (MALFORMED,)),
    (
        "thinking-zero-seconds",
        "thinking",
        {"maxThinkingTimeSeconds": 0},
        ("maxThinkingTimeSeconds: Input should be greater than or equal to 1",),
    ),
    (
        "thinking-601-seconds",
        "thinking",
        {"maxThinkingTimeSeconds": 601},
        ("maxThinkingTimeSeconds: Input should be less than or equal to 600",),
    ),
    ("thinking-user", "thinking", {"authorType": "user"}, ("authorType: Input should be 'bot'",)),
    ("read-receipt-no-read-at", "read-receipt", {"authorType": "user"}, ("readAt: May not be empty.",)),
    (
        "read-receipt-read-at-text",
        "read-receipt",
        {"authorType": "bot", "readAt": "soon"},
        ("readAt: Input should be a valid integer, unable to parse string as an integer",),
    ),
    ("read-receipt-no-body", "read-receipt", MISSING, (MALFORMED,)),
    ("post-agent-empty", "post-agent-assignment", {}, ("type: May not be empty.", "id: May not be empty.")),
    (
        "post-agent-type-queue",
        "post-agent-assignment",
        {"type": "queue", "id": "1"},
        ("type: Input should be 'webhook'",),
    ),
    (
        "post-agent-max-total-19",
        "post-agent-assignment",
        {"type": "webhook", "id": "1", "configuration": {"maxTotalMinutes": 19}},
        ("configuration.maxTotalMinutes: Input should be greater than or equal to 20",),
    ),
    (
        "post-agent-max-total-601",
        "post-agent-assignment",
        {"type": "webhook", "id": "1", "configuration": {"maxTotalMinutes": 601}},
        ("configuration.maxTotalMinutes: Input should be less than or equal to 600",),
    ),
    (
        "post-agent-user-timeout-9",
        "post-agent-assignment",
        {"type": "webhook", "id": "1", "configuration": {"userTimeoutInMinutes": 9}},
        ("configuration.userTimeoutInMinutes: Input should be greater than or equal to 10",),
    ),
    (
        "post-agent-user-timeout-301",
        "post-agent-assignment",
        {"type": "webhook", "id": "1", "configuration": {"userTimeoutInMinutes": 301}},
        ("configuration.userTimeoutInMinutes: Input should be less than or equal to 300",),
    ),
    (
        "post-agent-unknown-webhook",
        "post-agent-assignment",
        {"type": "webhook", "id": "999"},
        ("WebHook 999 does not exist.",),
    ),
]


@pytest.mark.parametrize(("endpoint", "body", "details"), [c[1:] for c in NEWER_400], ids=[c[0] for c in NEWER_400])
async def test_newer_endpoints_400_invalid_parameter(
    env: Env, endpoint: str, body: Any, details: tuple[str, ...]
) -> None:
    await assert_rejected(env, "POST", f"{C}/{endpoint}", body, status=400, expected=invalid_parameter(*details))


async def test_newer_endpoint_malformed_json(env: Env) -> None:
    await assert_rejected(
        env,
        "POST",
        f"{C}/typing",
        content=b"{authorType: bot}",
        headers={"content-type": "application/json"},
        status=400,
        expected=invalid_parameter(MALFORMED),
    )


# -- webhooks and channels ------------------------------------------------------------------------------------

HOOK = {"name": "hook", "uri": "https://example.test/hook", "version": "Chat Gateway v1.0"}
LONG_NAME = "n" * 257

WEBHOOK_CASES: list[tuple[str, Any, dict[str, Any]]] = [
    ("missing-name", {**HOOK, "name": None}, violation(("name", "null", "name: Input should be a valid string"))),
    ("no-name", {k: v for k, v in HOOK.items() if k != "name"}, violation(("name", "null", "name: May not be empty."))),
    ("no-uri", {k: v for k, v in HOOK.items() if k != "uri"}, violation(("uri", "null", "uri: May not be empty."))),
    (
        "no-version",
        {k: v for k, v in HOOK.items() if k != "version"},
        violation(("notificationVersion", "null", "notificationVersion: May not be empty.")),
    ),
    ("relative-uri", {**HOOK, "uri": "/hook"}, violation(("uri", "/hook", "uri: Input should be an absolute URI"))),
    (
        "name-257-chars",
        {**HOOK, "name": LONG_NAME},
        violation(("name", LONG_NAME, "name: String should have at most 256 characters")),
    ),
    (
        "unknown-version",
        {**HOOK, "version": "v9"},
        violation(("version", "v9", "version: Input should be 'Chat Gateway v1.0' or 'v2.0'")),
    ),
    ("not-an-object", [], general("invalid_json_object", MALFORMED, MALFORMED)),
]


@pytest.mark.parametrize(("body", "expected"), [c[1:] for c in WEBHOOK_CASES], ids=[c[0] for c in WEBHOOK_CASES])
@pytest.mark.parametrize(
    ("method", "path"), [("POST", f"{P}/webhooks"), ("PUT", f"{P}/webhooks/1")], ids=["create", "put"]
)
async def test_webhook_400(env: Env, method: str, path: str, body: Any, expected: dict[str, Any]) -> None:
    before = (await env.call("GET", f"{P}/webhooks")).json()
    await assert_rejected(env, method, path, body, status=400, expected=expected)
    assert (await env.call("GET", f"{P}/webhooks")).json() == before


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"uri": "https://example.test/hook"}, violation(("version", "null", "version: May not be empty."))),
        ({"version": "v2.0", "uri": "hook"}, violation(("uri", "hook", "uri: Input should be an absolute URI"))),
    ],
    ids=["no-version", "relative-uri"],
)
async def test_webhook_verify_400(env: Env, body: Any, expected: dict[str, Any]) -> None:
    await assert_rejected(env, "POST", f"{P}/webhooks/verify", body, status=400, expected=expected)


async def test_delete_webhook_used_by_a_channel(env: Env) -> None:
    message = "WebHook 1 is used by channel 1."
    await assert_rejected(
        env,
        "DELETE",
        f"{P}/webhooks/1",
        status=400,
        expected=violation(("webHookId", "1", message), code="in_use"),
    )
    assert (await env.call("GET", f"{P}/webhooks/1")).status_code == 200


CHANNEL = {"name": "chan", "type": "ChatAPI", "webHookId": "1", "routingOptions": {"type": "queue", "id": "100"}}

CHANNEL_CASES: list[tuple[str, str, Any, dict[str, Any]]] = [
    (
        "create-sms",
        "POST",
        {**CHANNEL, "type": "SMS"},
        violation(("type", "SMS", "Only channels of type ChatAPI can be created."), code="invalid_type"),
    ),
    (
        "create-unknown-type",
        "POST",
        {**CHANNEL, "type": "Pigeon"},
        violation(
            (
                "type",
                "Pigeon",
                "type: Input should be 'SMS', 'ChatAPI', 'Facebook', 'Twitter', 'WhatsApp' or 'WebChat'",
            )
        ),
    ),
    (
        "create-unknown-webhook",
        "POST",
        {**CHANNEL, "webHookId": "45"},
        violation(("webHookId", "45", "WebHook 45 does not exist."), code="invalid_webhook"),
    ),
    (
        "create-unknown-queue",
        "POST",
        {**CHANNEL, "routingOptions": {"type": "queue", "id": "999"}},
        general("invalid_queue", "Queue ID 999 is invalid."),
    ),
    (
        "create-no-routing-options",
        "POST",
        {k: v for k, v in CHANNEL.items() if k != "routingOptions"},
        violation(("routingOptions", "null", "routingOptions: May not be empty.")),
    ),
    (
        "put-unknown-webhook",
        "PUT",
        {**CHANNEL, "webHookId": "45"},
        violation(("webHookId", "45", "WebHook 45 does not exist."), code="invalid_webhook"),
    ),
    (
        "put-unknown-queue",
        "PUT",
        {**CHANNEL, "routingOptions": {"type": "queue", "id": "999"}},
        general("invalid_queue", "Queue ID 999 is invalid."),
    ),
]


@pytest.mark.parametrize(
    ("method", "body", "expected"), [c[1:] for c in CHANNEL_CASES], ids=[c[0] for c in CHANNEL_CASES]
)
async def test_channel_400(env: Env, method: str, body: Any, expected: dict[str, Any]) -> None:
    path = f"{P}/channels" if method == "POST" else f"{P}/channels/1"
    before = (await env.call("GET", f"{P}/channels")).json()
    await assert_rejected(env, method, path, body, status=400, expected=expected)
    assert (await env.call("GET", f"{P}/channels")).json() == before


# -- attachments and card actions -----------------------------------------------------------------------------


async def test_upload_without_multipart_is_415(env: Env) -> None:
    await assert_rejected(
        env,
        "POST",
        f"{C}/attachments",
        {"attachment": "aGk="},
        status=415,
        expected=general("unsupported_media_type", "Content type 'application/json' not supported"),
    )


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {"file": ("a.txt", b"hi")},
            violation(("attachment", "null", "attachment: May not be empty.")),
        ),
        (
            {"attachment": (None, "just text")},
            violation(("attachment", "null", "attachment: May not be empty.")),
        ),
        (
            {"attachment": ("a.txt", b"hi"), "authorType": (None, "agent")},
            violation(("authorType", "agent", "authorType: must be user or bot")),
        ),
    ],
    ids=["no-attachment-part", "attachment-is-a-field", "author-agent"],
)
async def test_upload_bad_multipart_is_400(env: Env, files: dict[str, Any], expected: dict[str, Any]) -> None:
    await assert_rejected(env, "POST", f"{C}/attachments", files=files, status=400, expected=expected)


@pytest.mark.parametrize("action", ["action-submit", "action-execute"])
async def test_card_action_with_another_tenant_in_path_is_403(env: Env, action: str) -> None:
    path = f"{CARD_ACTION_PREFIX}/t-other/conversations/{{conversationId}}/cards/{{cardId}}/{action}"
    await assert_rejected(env, "PUT", path, {"name": "x"}, status=403, expected=forbidden())


# -- paging, sorting, filtering -------------------------------------------------------------------------------

LISTS = [
    f"{P}/webhooks",
    f"{P}/channels",
    f"{P}/conversations",
    f"{C}/interactions",
    f"{C}/participants",
    f"{C}/messages",
    f"{C}/messages/{{messageId}}/cards",
    f"{C}/attachments",
]

PAGING_CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("size-0", "size=0", general("invalid_parameter", "Invalid value '0' for parameter size.")),
    ("size-abc", "size=abc", general("invalid_parameter", "Invalid value 'abc' for parameter size.")),
    ("size-1.5", "size=1.5", general("invalid_parameter", "Invalid value '1.5' for parameter size.")),
    ("size-1001", "size=1001", general("invalid_parameter", "Invalid value '1001' for parameter size.")),
    ("page-minus-1", "page=-1", general("invalid_parameter", "Invalid value '-1' for parameter page.")),
    ("sort-sideways", "sort=bogus:sideways", general("invalid_sort", "Invalid sort parameter 'bogus:sideways'.")),
    ("sort-no-field", "sort=:asc", general("invalid_sort", "Invalid sort parameter ':asc'.")),
    ("filter-no-value", "filter=name==", general("invalid_filter", "Invalid filter expression 'name=='.")),
    ("filter-open-paren", "filter=(name==a", general("invalid_filter", "Invalid filter expression '(name==a'.")),
    ("filter-dangling-and", "filter=name==a;", general("invalid_filter", "Invalid filter expression 'name==a;'.")),
    ("filter-no-operator", "filter=name", general("invalid_filter", "Invalid filter expression 'name'.")),
    ("filter-bad-number", "filter=id=gt=x", general("invalid_filter", "Invalid filter expression 'id=gt=x'.")),
    ("filter-unknown-op", "filter=id=like=1", general("invalid_filter", "Invalid filter expression 'id=like=1'.")),
]


@pytest.mark.parametrize(("query", "expected"), [c[1:] for c in PAGING_CASES], ids=[c[0] for c in PAGING_CASES])
async def test_bad_paging_parameters_are_400_on_every_list(env: Env, query: str, expected: dict[str, Any]) -> None:
    for path in LISTS:
        await assert_rejected(env, "GET", f"{path}?{query}", status=400, expected=expected)


# -- unknown paths and methods --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [f"{P}/nothing", f"{P}/conversations/{{conversationId}}/nothing", f"{CARD_ACTION_PREFIX}/{TENANT_ID}/nothing"],
    ids=["top-level", "under-conversation", "card-action-prefix"],
)
async def test_unknown_path_is_404_problem(env: Env, path: str) -> None:
    real = env.fill(path)
    await assert_rejected(env, "GET", path, status=404, expected=newer_404("Resource", real))


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", f"{P}/conversations", {"GET", "POST"}),
        ("DELETE", C, {"GET", "PUT", "PATCH"}),
        ("POST", f"{C}/participants", {"GET"}),
        ("PATCH", f"{P}/webhooks/1", {"GET", "PUT", "DELETE"}),
        ("GET", f"{C}/typing", {"POST"}),
        ("POST", f"{CARDS}/action-submit", {"PUT"}),
    ],
    ids=[
        "delete-conversations",
        "delete-conversation",
        "post-participants",
        "patch-webhook",
        "get-typing",
        "post-action",
    ],
)
async def test_wrong_method_is_405_with_allow(env: Env, method: str, path: str, allow: set[str]) -> None:
    resp = await assert_rejected(
        env,
        method,
        path,
        {},
        status=405,
        expected=general("method_not_allowed", "Method Not Allowed", "Method Not Allowed"),
    )
    allowed = {m.strip() for m in resp.headers["allow"].split(",")}
    assert allowed - {"HEAD"} == allow
