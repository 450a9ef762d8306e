"""Every curl of the two Sangoma seed documents runs unchanged against the emulator (host swapped, a token from
`/oauth/token`, the documents' own `<placeholders>` filled with real values), and produces the documented
webhooks at a real receiver (sangoma.md §2.2). Each flow runs twice: for the configured tenant `acme`, and for
an arbitrary client id against a zero-config app in open auth, whose tenant takes the documents'
`acme.cx.sangoma.com` as its domain on first use."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from emulator.pytest_plugin import WebhookSink
from tests.vendors.sangoma.conftest import DOMAIN, Sng, SngFactory, basic, names, received
from tests.vendors.sangoma.support import webhook_problems

pytestmark = pytest.mark.shared
SEEDS = ("seeds/000_88c80d1690b691af.txt", "seeds/001_4df556156bafa9d5.txt")
HOST = "https://cpaas.sangoma.com"


@dataclass(frozen=True)
class Curl:
    method: str
    url: str
    headers: dict[str, str]
    data: str | None


CURL = re.compile(r"curl (?:-X(?P<method>[A-Z]+) )?--location '(?P<url>[^']+)'(?P<rest>.*?)(?=curl |\n|$)", re.S)


def curls(text: str) -> list[Curl]:
    out = []
    for match in CURL.finditer(text):
        rest = match["rest"]
        headers = dict(h.split(": ", 1) for h in re.findall(r"--header '([^']+)'", rest))
        data = re.search(r"--data '([^']*)'", rest)
        out.append(Curl(match["method"] or "GET", match["url"], headers, data[1] if data else None))
    return out


ANY_CLIENT = "zz-client"
"""A client id nobody configured, whose name has nothing to do with the documents' tenant domain."""


@pytest.fixture(params=["configured", "any-client"])
async def seed_env(request: pytest.FixtureRequest, make_sng: SngFactory) -> Sng:
    """The configured tenant `acme`, or a zero-config app and a client id of its own with any secret."""
    if request.param == "configured":
        return await make_sng()
    env = await make_sng(vendors={}, token=False)
    env.tenant = ANY_CLIENT
    env.token = await env.get_token(auth=basic(ANY_CLIENT, "any-secret"))
    return env


@pytest.fixture
def seed_curls(shared_dir: Path) -> list[list[Curl]]:
    return [curls((shared_dir / name).read_text(encoding="utf-8")) for name in SEEDS]


def test_the_seeds_have_every_documented_call(seed_curls: list[list[Curl]]) -> None:
    first, second = seed_curls
    assert [c.url.removeprefix(HOST) for c in first] == [
        "/cx/api/v1/agents/call/",
        "/cx/api/v1/queues/call/",
        "/cx/api/v1/digital-interactions/agent-bot/",
        "/cx/api/v1/digital-interactions/inboxes/",
        "/cx/api/v1/digital-interactions/assign-agent-bot/",
        "/cx/api/v1/digital-interactions/messages/",
        "/cx/api/v1/digital-interactions/conversations/deliver-to-agent/",
        "/cx/api/v1/digital-interactions/webhooks/",
        "/cx/api/v1/digital-interactions/inboxes/",
        "/cx/api/v1/digital-interactions/contacts/",
        "/cx/api/v1/digital-interactions/conversations/",
        "/cx/api/v1/digital-interactions/messages/",
        "/cx/api/v1/digital-interactions/conversations/deliver-to-agent/",
        "/cx/api/v1/digital-interactions/conversations/finish/",
    ]
    assert len(second) == 3


class Runner:
    """Runs seed curls as written: only the host, the token and the documents' placeholders change."""

    def __init__(self, env: Sng, values: dict[str, Any]) -> None:
        self.env = env
        self.values = values

    def fill(self, data: str) -> str:
        for placeholder, value in self.values.items():
            data = data.replace(placeholder, str(value))
        assert "<" not in data, f"unfilled placeholder in {data}"
        return data

    async def run(self, curl: Curl) -> Any:
        headers = {k: v.replace("<YOUR_ACCESS_TOKEN>", self.env.token) for k, v in curl.headers.items()}
        content = self.fill(curl.data).encode() if curl.data is not None else None
        resp = await self.env.http.request(curl.method, curl.url.removeprefix(HOST), headers=headers, content=content)
        assert resp.status_code == 200, f"{curl.method} {curl.url}: {resp.status_code} {resp.text}"
        return resp.json() if resp.content else None


async def test_the_chatbot_with_our_widget_seed(
    seed_env: Sng, webhook_sink: WebhookSink, seed_curls: list[list[Curl]]
) -> None:
    """Seed 000, "Creating a Agent Chatbot ... (Our Widget)" and the voice calls: the bot gets the widget
    customer's message, answers, hands over; an agent picks up."""
    env = seed_env
    calls = seed_curls[0]
    runner = Runner(env, {"<your webhook fqdn>": webhook_sink.url_for("/bot")})
    assert await runner.run(calls[0]) == {}  # agent call
    assert await runner.run(calls[1]) == {}  # queue call
    bot = await runner.run(calls[2])
    assert bot["name"] == "My first bot"
    assert bot["outgoing_url"] == webhook_sink.url_for("/bot")
    inboxes = (await runner.run(calls[3]))["payload"]
    widget = next(i for i in inboxes if i["channel_type"] == "Channel::WebWidget")
    runner.values |= {"<inbox_id>": widget["id"], "<agent_bot_id>": bot["id"]}
    assert await runner.run(calls[4]) is None  # assign: 200, empty body
    # "Now you can start your conversation using the web widget": a simulated visitor writes
    await env.hand("/customers", {"name": "Ada Lovelace", "text": "Hi, where is my order?"})
    (hit,) = await webhook_sink.async_wait_for({"event": "message_created", "message_type": "incoming"}, path="/bot")
    runner.values["<conversation.id>"] = hit.json["conversation"]["id"]
    sent = await runner.run(calls[5])
    assert sent["message_type"] == 1
    assert sent["content"] == "My message"
    await webhook_sink.async_wait_for({"event": "message_created", "message_type": "outgoing"}, path="/bot")
    toggled = await runner.run(calls[6])
    assert toggled["payload"] == {
        "success": True,
        "conversation_id": runner.values["<conversation.id>"],
        "current_status": "open",
        "snoozed_until": None,
    }
    await webhook_sink.async_wait_for({"event": "conversation_opened"}, path="/bot")
    await env.advance(10)  # an agent is assigned and greets
    await webhook_sink.async_wait_for({"event": "message_created", "sender": {"type": "user"}}, path="/bot")
    assert names(webhook_sink, "/bot") == [
        "webwidget_triggered",
        "message_created",
        "message_created",
        "conversation_opened",
        "message_created",
    ]
    for body in received(webhook_sink, "/bot"):
        assert webhook_problems(body) == []
    await env.advance(120)
    states = [c["state"] for c in (await env.world())["calls"]]
    assert states == ["completed", "completed"]


async def test_the_self_widget_seed(seed_env: Sng, webhook_sink: WebhookSink, seed_curls: list[list[Curl]]) -> None:
    """Seed 000, "Advanced ... (Self Widget)": webhook, contact, conversation, messages, hand-off, finish; the
    account webhook gets exactly its subscribed `conversation_created` and `message_created`."""
    env = seed_env
    calls = seed_curls[0][7:]
    runner = Runner(env, {"<your webhook fqdn>": webhook_sink.url_for("/hook")})
    hook = await runner.run(calls[0])
    assert hook["payload"]["webhook"]["subscriptions"] == ["conversation_created", "message_created"]
    inboxes = (await runner.run(calls[1]))["payload"]
    runner.values["<inbox_id>"] = inboxes[0]["id"]
    contact = (await runner.run(calls[2]))["payload"]["contact"]
    assert (contact["name"], contact["email"], contact["phone_number"]) == (
        "My Customer Name",
        "my@customer.email",
        "+199999999",
    )
    runner.values |= {"<contact.email>": contact["email"], "<contact.id>": contact["id"], "<priority_int>": 2}
    conv = await runner.run(calls[3])
    assert (conv["status"], conv["priority"], conv["messages"][0]["content"]) == ("open", "high", "Hello world")
    runner.values["<conversation.id>"] = conv["id"]
    runner.values['"incoming|outgoing"'] = '"incoming"'
    assert (await runner.run(calls[4]))["message_type"] == 0
    assert (await runner.run(calls[5]))["payload"]["current_status"] == "open"
    assert (await runner.run(calls[6]))["payload"]["current_status"] == "resolved"
    await env.settle()
    bodies = received(webhook_sink, "/hook")
    assert [(b["event"], b.get("content")) for b in bodies] == [
        ("conversation_created", None),
        ("message_created", "Hello world"),
        ("message_created", "My message"),
    ]
    assert bodies[0]["id"] == conv["id"]
    assert bodies[0]["status"] == "open"
    for body in bodies:
        assert webhook_problems(body) == []


async def test_the_third_party_widget_seed(
    seed_env: Sng, webhook_sink: WebhookSink, seed_curls: list[list[Curl]]
) -> None:
    """Seed 001: webhook, inboxes, contact, as written."""
    env = seed_env
    runner = Runner(env, {"<your webhook fqdn>": webhook_sink.url_for("/hook")})
    hook, inboxes, _ = seed_curls[1]
    await runner.run(hook)
    runner.values["<inbox_id>"] = (await runner.run(inboxes))["payload"][0]["id"]
    data = json.loads(runner.fill(seed_curls[1][2].data or ""))
    assert data["tenant_domain"] == DOMAIN
    contact = await runner.run(seed_curls[1][2])
    assert contact["payload"]["contact_inbox"]["inbox"]["id"] == runner.values["<inbox_id>"]
    assert env.state.tenant_domain == DOMAIN
