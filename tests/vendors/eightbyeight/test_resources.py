"""8x8 Chat Gateway resources: CRUD, lists (HAL, paging, sorting, FIQL filters) and the small conversation
endpoints, as a client sees them (eightbyeight.md §1.3, §1.4; 8x8's OAS). Errors are in test_errors.py.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from emulator.app import create_app
from emulator.core.runtime import Emulator
from emulator.vendors import eightbyeight
from emulator.vendors.eightbyeight import state as st
from emulator.vendors.eightbyeight.constants import API_PREFIX, CARD_ACTION_PREFIX
from tests.conftest import make_settings

P = API_PREFIX
HAL_JSON = "application/hal+json"
KEY = "k-acme"
TENANT_ID = "t-acme"
ACME = {"api_keys": [KEY], "tenant_id": TENANT_ID, "customer_id": "c-acme"}
BASE_SETTINGS: dict[str, Any] = {
    "vendors": {"eightbyeight": {"tenants": {"acme": ACME}}},
    # deliveries stay in the log but never leave the process (no webhook host is on the allow-list)
    "webhook_allow_hosts": ["allow-list-only.invalid"],
}
V1 = "Chat Gateway v1.0"
START = "2026-01-01T00:00:00"  # the virtual clock's start (Settings.virtual_start)
USER = {"name": "Ann Smith", "email": "ann@example.test", "language": "en"}
CARD = {"contentType": "application/vnd.microsoft.card.adaptive", "content": {"type": "AdaptiveCard", "body": []}}
QUICK = {"contentType": "application/8x8.quick.replies", "content": {"options": [{"title": "one"}]}}


@dataclass
class Env:
    app: Starlette
    client: httpx.AsyncClient

    @property
    def emu(self) -> Emulator:
        emu: Emulator = self.app.state.emulator
        return emu

    @property
    def state(self) -> st.EightByEightState:
        found = self.emu.store.peek("eightbyeight", "acme")
        assert isinstance(found, st.EightByEightState)
        return found

    async def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        headers = {"x-api-key": KEY, **kwargs.pop("headers", {})}
        if body is not None:
            kwargs["json"] = body
        return await self.client.request(method, path, headers=headers, **kwargs)

    async def ok(self, method: str, path: str, body: Any = None, *, status: int = 200, **kwargs: Any) -> Any:
        """Send, check the status (and the HAL media type of bodies), return the JSON body or None."""
        resp = await self.call(method, path, body, **kwargs)
        assert resp.status_code == status, resp.text
        if not resp.content:
            return None
        assert resp.headers["content-type"] == HAL_JSON
        return resp.json()

    async def conversation(self, **body: Any) -> str:
        created = await self.ok("POST", f"{P}/conversations", {"channelId": "1", "user": USER, **body}, status=202)
        conv: str = created["conversationId"]
        return conv

    async def messages(self, conv: str, query: str = "") -> list[dict[str, Any]]:
        body = await self.ok("GET", f"{P}/conversations/{conv}/messages{query}")
        items: list[dict[str, Any]] = body["_embedded"]["messages"]
        return items

    def kinds(self) -> list[str]:
        return [e.kind for e in self.emu.bus.recent]


EnvFactory = Callable[..., Awaitable[Env]]


@pytest.fixture
async def make_env() -> AsyncIterator[EnvFactory]:
    made: list[Env] = []

    async def factory(**overrides: Any) -> Env:
        app = create_app(make_settings(**{**BASE_SETTINGS, **overrides}), plugins=[eightbyeight.PLUGIN])
        await app.state.emulator.start()
        env = Env(app, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cxemu.test"))
        made.append(env)
        return env

    yield factory
    for env in made:
        await env.client.aclose()
        await env.emu.stop()


@pytest.fixture
async def env(make_env: EnvFactory) -> Env:
    return await make_env()


def page(size: int, number: int, total: int) -> dict[str, int]:
    return {"size": size, "number": number, "totalElements": total, "totalPages": math.ceil(total / size)}


# -- webhooks -------------------------------------------------------------------------------------------------

SINK = "http://127.0.0.1:8080/_emulator/sink/eightbyeight/acme"  # the built-in sink, in-process on the default port
DEFAULT_HOOK = {"id": "1", "name": "default", "uri": SINK, "version": V1}


@pytest.mark.parametrize(
    ("version_key", "version"),
    [("version", V1), ("notificationVersion", V1), ("version", "v2.0")],
    ids=["version", "notificationVersion", "legacy-v2"],
)
async def test_webhook_crud(env: Env, version_key: str, version: str) -> None:
    listed = await env.ok("GET", f"{P}/webhooks")
    assert listed == {
        "_embedded": {"webhooks": [DEFAULT_HOOK]},
        "_links": {"self": {"href": f"{P}/webhooks"}},
        "page": page(20, 0, 1),
    }

    body = {"name": "bot", "uri": "https://cxemu-tests.invalid/bot", version_key: version}
    created = await env.ok("POST", f"{P}/webhooks", body)
    assert created == {"id": "2", "name": "bot", "uri": "https://cxemu-tests.invalid/bot", "version": version}
    assert list(created) == ["id", "name", "uri", "version"]
    # adding a webhook verifies it: WEB_HOOK_VERIFY goes to its uri
    verify = [d for d in env.emu.dispatcher.deliveries() if d.event_type == "WEB_HOOK_VERIFY"]
    assert [(d.url, d.body) for d in verify] == [
        (
            "https://cxemu-tests.invalid/bot",
            f'{{"notificationVersion":"{version}","eventType":"WEB_HOOK_VERIFY"}}'.encode(),
        )
    ]

    assert await env.ok("GET", f"{P}/webhooks/2") == created

    replaced = {"name": "bot-2", "uri": "https://cxemu-tests.invalid/bot2", "version": V1}
    put = await env.ok("PUT", f"{P}/webhooks/2", replaced)
    assert put == {"id": "2", **replaced}
    assert await env.ok("GET", f"{P}/webhooks/2") == put

    listed = await env.ok("GET", f"{P}/webhooks")
    assert listed["_embedded"]["webhooks"] == [DEFAULT_HOOK, put]
    assert listed["page"] == page(20, 0, 2)

    deleted = await env.call("DELETE", f"{P}/webhooks/2")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert (await env.call("GET", f"{P}/webhooks/2")).status_code == 404
    assert (await env.ok("GET", f"{P}/webhooks"))["_embedded"]["webhooks"] == [DEFAULT_HOOK]


async def test_webhook_verify_sends_web_hook_verify(env: Env) -> None:
    resp = await env.call("POST", f"{P}/webhooks/verify", {"version": "v2.0", "uri": "https://cxemu-tests.invalid/v"})
    assert (resp.status_code, resp.content) == (204, b"")
    [d] = env.emu.dispatcher.deliveries()
    assert (d.event_type, d.url) == ("WEB_HOOK_VERIFY", "https://cxemu-tests.invalid/v")
    assert (await env.ok("GET", f"{P}/webhooks"))["page"]["totalElements"] == 1  # verify adds nothing


# -- channels -------------------------------------------------------------------------------------------------

DEFAULT_CHANNEL = {
    "id": "1",
    "name": "default",
    "type": "ChatAPI",
    "webHookId": "1",
    "routingOptions": {"type": "queue", "id": "100"},
}


@pytest.mark.parametrize("channel_type", ["ChatAPI", None], ids=["type-ChatAPI", "type-omitted"])
async def test_channel_crud(env: Env, channel_type: str | None) -> None:
    assert await env.ok("GET", f"{P}/channels") == {
        "_embedded": {"channels": [DEFAULT_CHANNEL]},
        "_links": {"self": {"href": f"{P}/channels"}},
        "page": page(20, 0, 1),
    }
    body: dict[str, Any] = {"name": "sales", "webHookId": "1", "routingOptions": {"type": "queue", "id": "101"}}
    if channel_type:
        body["type"] = channel_type
    created = await env.ok("POST", f"{P}/channels", body)
    expected = {
        "id": "2",
        "name": "sales",
        "type": "ChatAPI",
        "webHookId": "1",
        "routingOptions": {"type": "queue", "id": "101"},
    }
    assert created == expected
    assert list(created) == list(expected)
    assert await env.ok("GET", f"{P}/channels/2") == expected

    hook = await env.ok("POST", f"{P}/webhooks", {"name": "h2", "uri": "https://cxemu-tests.invalid/2", "version": V1})
    put = await env.ok(
        "PUT",
        f"{P}/channels/2",
        {
            "name": "sales-2",
            "type": "ChatAPI",
            "webHookId": hook["id"],
            "routingOptions": {"type": "queue", "id": "100"},
        },
    )
    assert put == {
        **expected,
        "name": "sales-2",
        "webHookId": hook["id"],
        "routingOptions": {"type": "queue", "id": "100"},
    }
    assert await env.ok("GET", f"{P}/channels/2") == put
    # a conversation on the new channel goes to the channel's queue
    conv = await env.ok("POST", f"{P}/conversations", {"channelId": "2", "user": USER}, status=202)
    got = await env.ok("GET", f"{P}/conversations/{conv['conversationId']}")
    assert (got["channelId"], got["assignment"]) == ("2", {"type": "queue", "id": "100"})

    deleted = await env.call("DELETE", f"{P}/channels/2")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert (await env.call("GET", f"{P}/channels/2")).status_code == 404
    assert (await env.ok("GET", f"{P}/channels"))["_embedded"]["channels"] == [DEFAULT_CHANNEL]
    # the webhook is free again once no channel uses it
    assert (await env.call("DELETE", f"{P}/webhooks/{hook['id']}")).status_code == 204


# -- conversations --------------------------------------------------------------------------------------------


async def test_conversation_list_and_get(env: Env) -> None:
    assert (await env.ok("GET", f"{P}/conversations"))["_embedded"] == {"conversations": []}
    first = await env.conversation()
    second = await env.conversation(assignment={"type": "queue", "id": " 101"}, user={"name": "Bo"})
    got = await env.ok("GET", f"{P}/conversations/{first}")
    assert got == {
        "id": first,
        "channelId": "1",
        "state": "created",
        "assignment": {"type": "queue", "id": "100"},
        "user": USER,
    }
    assert list(got) == ["id", "channelId", "state", "assignment", "user"]
    second_got = await env.ok("GET", f"{P}/conversations/{second}")
    assert second_got["assignment"] == {"type": "queue", "id": "101"}  # the seed's " 101" is trimmed
    listed = await env.ok("GET", f"{P}/conversations")
    assert listed["_embedded"]["conversations"] == sorted([got, second_got], key=lambda c: c["id"])
    assert listed["_links"] == {"self": {"href": f"{P}/conversations"}}
    assert listed["page"] == page(20, 0, 2)


async def test_create_conversation_response(env: Env) -> None:
    created = await env.ok("POST", f"{P}/conversations", {"channelId": "1", "user": USER}, status=202)
    assert list(created) == ["conversationId", "createdAt"]
    assert created["createdAt"] == f"{START}Z"
    assert len(created["conversationId"]) == 22


CHANGES: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    (
        "patch-merges-user",
        "PATCH",
        {"user": {"phone": "0123", "name": "Ann B"}},
        {"name": "Ann B", "email": "ann@example.test", "language": "en", "phone": "0123"},
    ),
    ("put-replaces-user", "PUT", {"user": {"phone": "0123", "name": "Ann B"}}, {"name": "Ann B", "phone": "0123"}),
    (
        "put-with-channel",
        "PUT",
        {"channelId": "1", "user": {"name": "Cy"}, "assignment": {"type": "queue", "id": "100"}},
        {"name": "Cy"},
    ),
    ("patch-assignment-only", "PATCH", {"assignment": {"type": "queue", "id": "100"}}, USER),
]


@pytest.mark.parametrize(("method", "body", "user"), [c[1:] for c in CHANGES], ids=[c[0] for c in CHANGES])
async def test_put_and_patch_conversation(env: Env, method: str, body: dict[str, Any], user: dict[str, Any]) -> None:
    conv = await env.conversation()
    result = await env.ok(method, f"{P}/conversations/{conv}", body, status=202)
    expected = {"id": conv, "channelId": "1", "state": "created", "assignment": {"type": "queue", "id": "100"}}
    assert result == {**expected, "user": user}
    assert await env.ok("GET", f"{P}/conversations/{conv}") == result


async def test_patch_assignment_to_another_queue_requeues(env: Env) -> None:
    conv = await env.conversation()
    await env.emu.scheduler.advance(1)  # the interaction is up and queued in 100; no agent yet (join_delay 3 s)
    assert (await env.ok("GET", f"{P}/conversations/{conv}"))["state"] == "active"
    queued = [e.data for e in env.emu.bus.recent if e.kind == "conversation.queued"]
    assert queued == [{"queueId": "100", "queueName": "Support"}]

    result = await env.ok(
        "PATCH", f"{P}/conversations/{conv}", {"assignment": {"type": "queue", "id": "101"}}, status=202
    )
    assert result["assignment"] == {"type": "queue", "id": "101"}
    assert env.kinds()[-2:] == ["conversation.updated", "conversation.queued"]
    assert env.emu.bus.recent[-1].data == {"queueId": "101", "queueName": "Sales"}
    hooks = [d for d in env.emu.dispatcher.deliveries() if d.event_type == "QUEUED"]
    assert [d.body.count(b'"queueId":"101"') for d in hooks] == [0, 1]

    # the same queue again does not queue it a second time
    await env.ok("PATCH", f"{P}/conversations/{conv}", {"assignment": {"type": "queue", "id": "101"}}, status=202)
    assert env.kinds()[-1] == "conversation.updated"

    # the agent who picks it up is one of queue 101's
    await env.emu.scheduler.advance(4)
    agent_id = env.state.conversations[conv].agent_id
    assert agent_id is not None
    assert "101" in env.state.agents[agent_id].queues


async def test_patch_assignment_before_activation_does_not_queue(env: Env) -> None:
    conv = await env.conversation()
    await env.ok("PATCH", f"{P}/conversations/{conv}", {"assignment": {"type": "queue", "id": "101"}}, status=202)
    assert "conversation.queued" not in env.kinds()
    await env.emu.scheduler.advance(1)  # activation queues it in the new queue
    assert [e.data["queueId"] for e in env.emu.bus.recent if e.kind == "conversation.queued"] == ["101"]


async def test_interactions_after_activation(env: Env) -> None:
    conv = await env.conversation()
    path = f"{P}/conversations/{conv}/interactions"
    assert await env.ok("GET", path) == {
        "_embedded": {"interactions": []},
        "_links": {"self": {"href": path}},
        "page": page(20, 0, 0),
    }
    await env.emu.scheduler.advance(1)
    [interaction] = (await env.ok("GET", path))["_embedded"]["interactions"]
    assert interaction == {"id": env.state.conversations[conv].interactions[0].id, "startTime": f"{START}.200Z"}

    # the user leaves: the interaction ends
    left = await env.call("PATCH", f"{P}/conversations/{conv}/participants/user", {"removed": True})
    assert left.status_code == 204
    [interaction] = (await env.ok("GET", path))["_embedded"]["interactions"]
    assert interaction["endTime"] == f"{START[:-1]}1Z"  # advance(1) left the clock at t0 + 1 s
    assert (await env.ok("GET", f"{P}/conversations/{conv}"))["state"] == "idle"


@pytest.mark.parametrize(
    ("history", "types"),
    [
        ([], ["user"]),
        ([{"authorType": "user", "text": "hi"}], ["user"]),
        ([{"authorType": "user", "text": "hi"}, {"authorType": "bot", "text": "hello"}], ["user", "bot"]),
    ],
    ids=["no-history", "user-history", "bot-in-history"],
)
async def test_participants(env: Env, history: list[dict[str, Any]], types: list[str]) -> None:
    conv = await env.conversation(history={"messages": history})
    path = f"{P}/conversations/{conv}/participants"
    state = env.state.conversations[conv]
    ids = {"user": state.user_participant, "bot": state.bot_participant}
    expected: list[dict[str, Any]] = [
        {"id": ids[t], "type": t, "removed": False} | ({"language": "en"} if t == "user" else {}) for t in types
    ]
    body = await env.ok("GET", path)
    assert body == {
        "_embedded": {"participants": sorted(expected, key=lambda p: p["id"])},
        "_links": {"self": {"href": path}},
        "page": page(20, 0, len(types)),
    }

    await env.emu.scheduler.advance(4)  # active at 0.2 s, an agent joins at 3.2 s
    agent_id = env.state.conversations[conv].agent_id
    assert agent_id is not None
    participants = (await env.ok("GET", path))["_embedded"]["participants"]
    agent: dict[str, Any] = {"id": agent_id, "type": "agent", "removed": False, "language": "en"}
    assert participants == sorted([*expected, agent], key=lambda p: p["id"])


async def test_bot_message_adds_the_bot_participant(env: Env) -> None:
    conv = await env.conversation()
    await env.ok("POST", f"{P}/conversations/{conv}/messages", {"authorType": "bot", "text": "hi"}, status=202)
    types = [
        p["type"] for p in (await env.ok("GET", f"{P}/conversations/{conv}/participants"))["_embedded"]["participants"]
    ]
    assert sorted(types) == ["bot", "user"]


# -- messages -------------------------------------------------------------------------------------------------


async def _three_messages(env: Env) -> tuple[str, list[str]]:
    """A conversation with messages h1 (history, t0), m2 (t0+0.05 s), m3 (t0+0.1 s); no agent yet."""
    conv = await env.conversation(history={"messages": [{"authorType": "user", "text": "h1"}]})
    await env.emu.scheduler.advance(0.05)
    await env.ok("POST", f"{P}/conversations/{conv}/messages", {"authorType": "user", "text": "m2"}, status=202)
    await env.emu.scheduler.advance(0.05)
    await env.ok("POST", f"{P}/conversations/{conv}/messages", {"authorType": "bot", "text": "m3"}, status=202)
    return conv, ["h1", "m2", "m3"]


@pytest.mark.parametrize(
    ("query", "order"),
    [
        ("", ["m3", "m2", "h1"]),
        ("?sort=createdAt:desc", ["m3", "m2", "h1"]),
        ("?sort=createdAt:asc", ["h1", "m2", "m3"]),
        ("?sort=createdAt", ["h1", "m2", "m3"]),
        ("?size=2", ["m3", "m2"]),
        ("?size=2&page=1", ["h1"]),
        ("?size=2&page=2", []),
        ("?sort=createdAt:asc&size=1&page=1", ["m2"]),
    ],
    ids=["default-desc", "desc", "asc", "asc-by-default-direction", "size-2", "page-1", "past-the-end", "asc-paged"],
)
async def test_list_messages_sorting_and_paging(env: Env, query: str, order: list[str]) -> None:
    conv, _ = await _three_messages(env)
    body = await env.ok("GET", f"{P}/conversations/{conv}/messages{query}")
    assert list(body) == ["_embedded", "page"]  # the one list without _links (OAS MessageListResult)
    assert [m["text"] for m in body["_embedded"]["messages"]] == order
    size = 2 if "size=2" in query else 1 if "size=1" in query else 20
    number = int(query.split("page=")[1]) if "page=" in query else 0
    assert body["page"] == page(size, number, 3)


async def test_get_message(env: Env) -> None:
    conv, _ = await _three_messages(env)
    state = env.state.conversations[conv]
    for listed in await env.messages(conv):
        assert await env.ok("GET", f"{P}/conversations/{conv}/messages/{listed['id']}") == listed
    by_text = {m["text"]: m for m in await env.messages(conv)}
    assert by_text["m3"] == {
        "id": state.messages[2].id,
        "text": "m3",
        "createdAt": f"{START}.100Z",
        "author": {"id": state.bot_participant, "type": "bot", "removed": False},
        "attachments": [],
        "cards": [],
    }
    assert by_text["m2"]["author"] == {"id": state.user_participant, "type": "user", "removed": False, "language": "en"}
    assert by_text["m2"]["createdAt"] == f"{START}.050Z"
    assert list(by_text["m2"]) == ["id", "text", "createdAt", "author", "attachments", "cards"]


async def test_message_with_external_provider(env: Env) -> None:
    conv = await env.conversation()
    body = {"authorType": "user", "externalProvider": {"name": "X", "externalMessageId": "1234567890123456789"}}
    await env.ok("POST", f"{P}/conversations/{conv}/messages", body, status=202)
    [msg] = await env.messages(conv)
    assert msg["externalProvider"] == {"name": "X", "externalMessageId": "1234567890123456789"}
    assert msg["text"] == ""


async def test_cards_of_a_message(env: Env) -> None:
    conv = await env.conversation()
    await env.ok(
        "POST",
        f"{P}/conversations/{conv}/messages",
        {"authorType": "bot", "text": "pick", "cards": [CARD, QUICK]},
        status=202,
    )
    [msg] = await env.messages(conv)
    cards = env.state.conversations[conv].messages[0].cards
    expected = [
        {"id": card.id, **sent, "actionSubmitted": False, "actionExecuted": False}
        for card, sent in zip(cards, [CARD, QUICK], strict=True)
    ]
    assert msg["cards"] == expected
    path = f"{P}/conversations/{conv}/messages/{msg['id']}/cards"
    assert await env.ok("GET", path) == {
        "_embedded": {"cards": expected},
        "_links": {"self": {"href": path}},
        "page": page(20, 0, 2),
    }


@pytest.mark.parametrize(
    ("action", "flags", "activity"),
    [
        ("action-submit", (True, False), "Action.Submit"),
        ("action-execute", (False, True), "Action.Execute"),
    ],
    ids=["submit", "execute"],
)
async def test_card_action_flips_the_flag(env: Env, action: str, flags: tuple[bool, bool], activity: str) -> None:
    conv = await env.conversation(
        history={
            "messages": [{"authorType": "bot", "text": "form", "cards": [CARD]}, {"authorType": "user", "text": "x"}]
        }
    )
    msg = env.state.conversations[conv].messages[0]
    card_id = msg.cards[0].id
    path = f"{CARD_ACTION_PREFIX}/{TENANT_ID}/conversations/{conv}/cards/{card_id}/{action}"
    resp = await env.call("PUT", path, {"name": "ok"})
    assert (resp.status_code, resp.content) == (204, b"")
    got = await env.ok("GET", f"{P}/conversations/{conv}/messages/{msg.id}")
    assert (got["cards"][0]["actionSubmitted"], got["cards"][0]["actionExecuted"]) == flags
    event = env.emu.bus.recent[-1]
    assert (event.kind, event.data) == (
        "client.activity",
        {"name": "adaptiveCard/action", "value": {"type": activity, "data": {"name": "ok"}}},
    )
    # an empty body is accepted too
    assert (await env.call("PUT", path)).status_code == 204


# -- attachments ----------------------------------------------------------------------------------------------

ALL_BYTES = bytes(range(256)) * 4


@pytest.mark.parametrize(
    ("filename", "content", "media_type", "author"),
    [
        ("note.txt", b"hello, agent", "text/plain", None),
        ("blob.bin", ALL_BYTES, "application/octet-stream", "bot"),
        ("empty.pdf", b"", "application/pdf", "user"),
    ],
    ids=["text", "binary-from-bot", "empty"],
)
async def test_attachment_upload_list_get_content(
    env: Env, filename: str, content: bytes, media_type: str, author: str | None
) -> None:
    conv = await env.conversation()
    base = f"{P}/conversations/{conv}/attachments"
    data = {"authorType": author} if author else None
    uploaded = await env.ok("POST", base, files={"attachment": (filename, content, media_type)}, data=data)
    assert uploaded == {
        "id": uploaded["id"],
        "filename": filename,
        "sizeInBytes": len(content),
        "size": len(content),
        "type": media_type,
        "createdAt": f"{START}Z",
    }
    assert len(uploaded["id"]) == 22
    assert await env.ok("GET", f"{base}/{uploaded['id']}") == uploaded
    assert await env.ok("GET", base) == {
        "_embedded": {"attachments": [uploaded]},
        "_links": {"self": {"href": base}},
        "page": page(20, 0, 1),
    }

    download = await env.call("GET", f"{base}/{uploaded['id']}/content")
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"] == f'attachment; filename="{filename}"'
    assert download.content == content

    # the attachment can be referenced by a message
    msg = {"authorType": "user", "text": "see attached", "attachments": [{"id": uploaded["id"]}]}
    await env.ok("POST", f"{P}/conversations/{conv}/messages", msg, status=202)
    [sent] = await env.messages(conv)
    assert sent["attachments"] == [{"id": uploaded["id"]}]


# -- paging, sorting and FIQL filters on webhooks and channels -------------------------------------------------

HOOK_NAMES = ["foo", "foobar", "bar", "a", "b"]  # ids 2..6; id 1 is "default"


async def _hooks(env: Env) -> None:
    for name in HOOK_NAMES:
        await env.ok(
            "POST", f"{P}/webhooks", {"name": name, "uri": f"https://cxemu-tests.invalid/{name}", "version": V1}
        )


WEBHOOK_FILTERS = [
    ("equals", "name==foo", ["foo"]),
    ("wildcard", "name==f*", ["foo", "foobar"]),
    ("wildcard-middle", "name==*o*", ["foo", "foobar"]),
    ("or", "name==a,name==b", ["a", "b"]),
    ("and", "name==f*;id==3", ["foobar"]),
    ("not-equals", "name!=foo;name!=default", ["foobar", "bar", "a", "b"]),
    ("quoted", 'name=="bar"', ["bar"]),
    ("parentheses", "(name==a,name==b);id=gt=5", ["b"]),
    ("numeric", "id=ge=5", ["a", "b"]),
    ("no-match", "name==nobody", []),
    ("unknown-field", "colour==red", []),
    ("version", "version==Chat Gateway v1.0;name==bar", ["bar"]),
]


@pytest.mark.parametrize(("fiql", "names"), [c[1:] for c in WEBHOOK_FILTERS], ids=[c[0] for c in WEBHOOK_FILTERS])
async def test_webhook_filters(env: Env, fiql: str, names: list[str]) -> None:
    await _hooks(env)
    resp = await env.call("GET", f"{P}/webhooks", params={"filter": fiql})
    body = resp.json()
    assert resp.status_code == 200, body
    assert [h["name"] for h in body["_embedded"]["webhooks"]] == names
    assert body["page"] == page(20, 0, len(names))
    assert body["_links"]["self"]["href"] == f"{P}/webhooks?{resp.request.url.query.decode()}"


CHANNEL_FILTERS = [
    ("routing-and-name", "(routingOption.id==100);name==x", ["x"]),
    ("routing-plural-path", "routingOptions.id==101", ["y", "x2"]),
    ("routing-or", "routingOption.id==101,name==default", ["default", "y", "x2"]),
    ("name-wildcard", "name==x*", ["x", "x2"]),
    ("webhook", "webHookId==2", ["y"]),
    ("type", "type==ChatAPI;name==y", ["y"]),
]


@pytest.mark.parametrize(("fiql", "names"), [c[1:] for c in CHANNEL_FILTERS], ids=[c[0] for c in CHANNEL_FILTERS])
async def test_channel_filters(env: Env, fiql: str, names: list[str]) -> None:
    await env.ok("POST", f"{P}/webhooks", {"name": "h", "uri": "https://cxemu-tests.invalid/h", "version": V1})
    for name, hook, queue in [("x", "1", "100"), ("y", "2", "101"), ("x2", "1", "101")]:
        body = {"name": name, "type": "ChatAPI", "webHookId": hook, "routingOptions": {"type": "queue", "id": queue}}
        await env.ok("POST", f"{P}/channels", body)
    resp = await env.call("GET", f"{P}/channels", params={"filter": fiql})
    assert resp.status_code == 200, resp.text
    assert [c["name"] for c in resp.json()["_embedded"]["channels"]] == names
    assert resp.json()["page"]["totalElements"] == len(names)


@pytest.mark.parametrize(
    ("query", "names", "size", "number", "total"),
    [
        ("", ["default", *HOOK_NAMES], 20, 0, 6),
        ("?size=4", ["default", "foo", "foobar", "bar"], 4, 0, 6),
        ("?size=4&page=1", ["a", "b"], 4, 1, 6),
        ("?size=4&page=2", [], 4, 2, 6),
        ("?size=1&page=5", ["b"], 1, 5, 6),
        ("?size=6", ["default", *HOOK_NAMES], 6, 0, 6),
        ("?sort=name:asc", ["a", "b", "bar", "default", "foo", "foobar"], 20, 0, 6),
        ("?sort=name:desc&size=2", ["foobar", "foo"], 2, 0, 6),
        ("?sort=id:desc&size=3&page=1", ["foobar", "foo", "default"], 3, 1, 6),
        ("?sort=name&filter=name==f*", ["foo", "foobar"], 20, 0, 2),
        ("?filter=name==*a*&size=1&page=1", ["foobar"], 1, 1, 4),
    ],
    ids=[
        "defaults",
        "size-4",
        "page-1",
        "past-the-end",
        "last-page-of-1",
        "exact-fit",
        "sort-name",
        "sort-name-desc",
        "sort-id-desc-paged",
        "sort-and-filter",
        "filter-then-page",
    ],
)
async def test_webhook_paging_and_sorting(
    env: Env, query: str, names: list[str], size: int, number: int, total: int
) -> None:
    await _hooks(env)
    body = await env.ok("GET", f"{P}/webhooks{query}")
    assert [h["name"] for h in body["_embedded"]["webhooks"]] == names
    assert body["page"] == page(size, number, total)
    assert body["_links"] == {"self": {"href": f"{P}/webhooks{query}"}}


async def test_numeric_ids_sort_as_numbers(env: Env) -> None:
    for n in range(2, 12):
        hook = {"name": f"h{n}", "uri": f"https://cxemu-tests.invalid/{n}", "version": V1}
        await env.ok("POST", f"{P}/webhooks", hook)
    body = await env.ok("GET", f"{P}/webhooks")
    assert [h["id"] for h in body["_embedded"]["webhooks"]] == [str(n) for n in range(1, 12)]
    body = await env.ok("GET", f"{P}/webhooks?sort=id:desc&size=3")
    assert [h["id"] for h in body["_embedded"]["webhooks"]] == ["11", "10", "9"]


async def test_conversation_list_paging(env: Env) -> None:
    convs = sorted([await env.conversation() for _ in range(5)])
    body = await env.ok("GET", f"{P}/conversations?size=2&page=2")
    assert [c["id"] for c in body["_embedded"]["conversations"]] == convs[4:]
    assert body["page"] == {"size": 2, "number": 2, "totalElements": 5, "totalPages": 3}
    body = await env.ok("GET", f"{P}/conversations", params={"filter": f"id=={convs[1]}"})
    assert [c["id"] for c in body["_embedded"]["conversations"]] == [convs[1]]


# -- typing, thinking, read receipts, post-agent assignment -----------------------------------------------------

ACTIVITIES: list[tuple[str, str, Any, int, str | None, Any]] = [
    ("thinking-no-body", "thinking", None, 204, "thinking", {"maxThinkingTimeSeconds": 60}),
    ("thinking-empty-object", "thinking", {}, 204, "thinking", {"maxThinkingTimeSeconds": 60}),
    (
        "thinking-600",
        "thinking",
        {"authorType": "bot", "maxThinkingTimeSeconds": 600},
        204,
        "thinking",
        {"maxThinkingTimeSeconds": 600},
    ),
    ("typing-user", "typing", {"authorType": "user"}, 204, "typing", "user"),
    ("typing-bot", "typing", {"authorType": "bot"}, 204, "typing", "bot"),
    (
        "read-receipt-user",
        "read-receipt",
        {"authorType": "user", "readAt": 1770200431963},
        204,
        "read-receipts",
        {"authorType": "user", "readAt": 1770200431963},
    ),
    (
        "read-receipt-bot",
        "read-receipt",
        {"authorType": "bot", "readAt": 1},
        204,
        "read-receipts",
        {"authorType": "bot", "readAt": 1},
    ),
    ("post-agent-minimal", "post-agent-assignment", {"type": "webhook", "id": "1"}, 201, None, None),
    (
        "post-agent-full",
        "post-agent-assignment",
        {
            "type": "webhook",
            "id": "1",
            "configuration": {
                "notifyChannelWebhookIfExists": "true",
                "maxTotalMinutes": 20,
                "userTimeoutInMinutes": 300,
            },
        },
        201,
        None,
        None,
    ),
]


@pytest.mark.parametrize(
    ("endpoint", "body", "status", "activity", "value"), [c[1:] for c in ACTIVITIES], ids=[c[0] for c in ACTIVITIES]
)
async def test_conversation_activities(
    env: Env, endpoint: str, body: Any, status: int, activity: str | None, value: Any
) -> None:
    conv = await env.conversation()
    deliveries = len(env.emu.dispatcher.deliveries())
    resp = await env.call("POST", f"{P}/conversations/{conv}/{endpoint}", body)
    assert (resp.status_code, resp.content) == (status, b"")
    assert len(env.emu.dispatcher.deliveries()) == deliveries  # shown to the agent, not sent back to the webhook
    state = env.state.conversations[conv]
    if activity is None:
        assert state.post_agent is not None
        assert state.post_agent.webhook_id == "1"
        return
    event = env.emu.bus.recent[-1]
    if endpoint == "typing":
        who = state.bot_participant if value == "bot" else state.user_participant
        value = {"users": [{"type": value, "id": who}]}
    assert (event.kind, event.data) == ("client.activity", {"name": activity, "value": value})
    if endpoint == "read-receipt":
        assert state.read_at == {body["authorType"]: body["readAt"]}
