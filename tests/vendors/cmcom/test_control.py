"""The act-by-hand routes, configuration, end user rules, ChatIds, snapshot/restore and determinism."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from emulator.app import create_app
from emulator.core.errors import ConfigError
from emulator.pytest_plugin import WebhookSink
from emulator.vendors import cmcom
from emulator.vendors.cmcom import numbers
from tests.conftest import make_settings
from tests.vendors.cmcom.conftest import (
    BOT_PATH,
    CHAT,
    CONTROL,
    TENANT,
    Cm,
    CmFactory,
    bodies,
    envelope,
    msg,
    tenant_config,
    vendor_settings,
)


async def test_the_chat_id_is_the_same_in_both_directions(cm: Cm) -> None:
    resp = await cm.bmproxy(
        envelope(msg("Hi", "0031612345678", sender="003197010254321", allowedChannels=["WhatsApp"]))
    )
    assert resp.status_code == 200
    view = await cm.customer(text="Hello back")
    assert view["chatId"] == CHAT
    chats = (await cm.http.get(f"{CONTROL}/{TENANT}/chats")).json()["chats"]
    assert [c["chatId"] for c in chats] == [CHAT]


async def test_the_chat_id_algorithm_is_configurable(make_cm: CmFactory) -> None:
    env = await make_cm(vendors=vendor_settings(tenant_config(), chat_id="uuid5"))
    view = await env.customer(text="Hi")
    namespace = uuid.UUID("6f2b2f0e-3c1c-4a8e-9d0e-0c6d636d636d")
    assert view["chatId"] == str(uuid.uuid5(namespace, "WhatsApp|31612345678|3197010254321"))


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        (f"{CONTROL}/nobody/end-users/+31612345678/messages", {"text": "x"}, 404, "no CM.com tenant 'nobody'"),
        (f"{CONTROL}/{TENANT}/end-users/+31612345678/messages", {}, 400, "send text, media, location or button"),
        (
            f"{CONTROL}/{TENANT}/end-users/+31612345678/messages",
            {"text": "x", "channel": "Fax"},
            400,
            "unknown channel 'Fax'",
        ),
        (
            f"{CONTROL}/{TENANT}/end-users/+31612345678/messages",
            {"text": "x", "media": {"mediaUri": "u"}, "location": {"latitude": 1, "longitude": 2}},
            400,
            "send one of media, location or button",
        ),
        (f"{CONTROL}/{TENANT}/end-users/hello/messages", {"text": "x"}, 400, "'hello' is not a phone number"),
        # as the contract's pattern says: nothing around the number (it once was stripped, then taken)
        (f"{CONTROL}/{TENANT}/end-users/%2031612345678/messages", {"text": "x"}, 400, "' 31612345678' is not a"),
        (f"{CONTROL}/{TENANT}/end-users/+31612345678%09/messages", {"text": "x"}, 400, "'+31612345678\\t' is not a"),
        (
            f"{CONTROL}/{TENANT}/end-users/+31612345678/messages",
            b'{"location": {"latitude": NaN, "longitude": 4.77}}',  # NaN would make the MO invalid JSON
            400,
            "the body is not valid JSON (NaN is not a JSON number)",
        ),
        (
            f"{CONTROL}/{TENANT}/end-users/+31612345678/messages",
            {"location": {"latitude": 51.6, "longitude": 181}},
            400,
            "location.longitude: Input should be less than or equal to 180",
        ),
        (f"{CONTROL}/{TENANT}/chats/{CHAT}/agent", {"action": "dance"}, 400, "action: Input should be"),
        (f"{CONTROL}/{TENANT}/chats/{CHAT}/agent", {"action": "say"}, 400, "say needs text"),
        (
            f"{CONTROL}/{TENANT}/chats/{CHAT}/agent",
            {"action": "hand_back", "flowId": "main"},
            400,
            "hand_back needs both flowId and stepId, or neither",
        ),
        (
            f"{CONTROL}/{TENANT}/chats/{CHAT}/agent",
            {"action": "say", "text": "hi"},
            409,
            f"no agent holds chat {CHAT}; take it over first",
        ),
        (
            f"{CONTROL}/{TENANT}/chats/{CHAT}/agent",
            {"action": "hand_back"},
            409,
            f"chat {CHAT} is with the bot already",
        ),
        (
            f"{CONTROL}/{TENANT}/chats/{CHAT}/agent",
            {"action": "take_over", "agentId": "ghost"},
            409,
            "no Customer Contact agent 'ghost'",
        ),
        (
            f"{CONTROL}/{TENANT}/chats/00000000-0000-0000-0000-000000000000/agent",
            {"action": "take_over"},
            404,
            "no chat '00000000-0000-0000-0000-000000000000'",
        ),
    ],
    ids=[
        "unknown-tenant",
        "empty",
        "unknown-channel",
        "two-kinds",
        "not-a-number",
        "number-after-a-blank",
        "number-before-a-tab",
        "latitude-nan",
        "longitude-out-of-range",
        "bad-action",
        "say-without-text",
        "hand-back-half-position",
        "say-unheld",
        "hand-back-bot",
        "unknown-agent",
        "unknown-chat",
    ],
)
async def test_hand_actions_are_validated(cm: Cm, path: str, body: Any, status: int, message: str) -> None:
    await cm.customer(text="Hi")  # the chat exists
    before = await cm.chat(CHAT)
    resp = await (cm.http.post(path, content=body) if isinstance(body, bytes) else cm.http.post(path, json=body))
    assert resp.status_code == status, resp.text
    assert message in resp.json()["message"]
    assert await cm.chat(CHAT) == before


async def test_a_channel_the_account_lacks_is_refused(make_cm: CmFactory) -> None:
    env = await make_cm(vendors=vendor_settings(tenant_config(channels=["SMS"])))
    resp = await env.http.post(f"{CONTROL}/{TENANT}/end-users/+31612345678/messages", json={"text": "x"})
    assert resp.status_code == 409
    assert resp.json()["message"] == "channel 'WhatsApp' is not configured on this account (SMS)"


async def test_webhooks_can_be_set_by_hand(cm: Cm, webhook_sink: WebhookSink) -> None:
    resp = await cm.http.put(f"{CONTROL}/{TENANT}/webhooks", json={"bot": webhook_sink.url_for("/other")})
    assert resp.status_code == 200
    assert resp.json()["bot"] == webhook_sink.url_for("/other")
    assert resp.json()["status"] == webhook_sink.url_for("/status")  # left as it was
    bad = await cm.http.put(f"{CONTROL}/{TENANT}/webhooks", json={"bot": "ftp://x"})
    assert bad.status_code == 400
    await cm.customer(text="Hi")
    await cm.delivered(1, event="MO")
    assert bodies(webhook_sink, "/other")[0]["message"]["text"] == "Hi"
    assert bodies(webhook_sink, BOT_PATH) == []


async def test_the_account_view_lists_teams_agents_and_flows(cm: Cm) -> None:
    view = (await cm.http.get(f"{CONTROL}/{TENANT}")).json()
    assert view["botRouterAccountId"] == "e17acdef-c918-423d-a01b-1000cd084f6a"
    assert view["defaultComponents"] == ["CmBot", "CustomerContact", "BMProxy"]
    assert [(a["name"], a["team"]) for a in view["agents"]][:2] == [("Sam Sales", "Sales"), ("Sue Support", "Support")]
    assert view["agents"][2]["team"] == "Generic inbox"
    assert [f["id"] for f in view["flows"]] == ["main", "feedback"]


async def test_end_user_rules_answer_messages(make_cm: CmFactory, webhook_sink: WebhookSink) -> None:
    behaviour = {"end_user_rules": [{"match": "code", "reply": "Got it, thanks", "after": 4}]}
    env = await make_cm(vendors=vendor_settings(tenant_config(webhook_sink, behaviour=behaviour)))
    resp = await env.send(
        envelope(msg("Your code is 1234", "0031612345678", sender="003197010254321", allowedChannels=["WhatsApp"]))
    )
    assert resp.status_code == 200
    await env.advance(3.9)
    assert bodies(webhook_sink, BOT_PATH) == []
    await env.advance(0.1)
    await env.delivered(1, event="MO")
    (got,) = bodies(webhook_sink, BOT_PATH)
    assert (got["message"]["text"], got["conversationalRouter"]["chatId"]) == ("Got it, thanks", CHAT)


async def test_behaviour_can_be_changed_by_hand(cm: Cm, webhook_sink: WebhookSink) -> None:
    rules = [{"match": "code", "reply": "Got it, thanks", "after": 4}]
    resp = await cm.http.put(f"{CONTROL}/{TENANT}/behaviour", json={"end_user_rules": rules})
    assert resp.status_code == 200, resp.text
    assert (resp.json()["end_user_rules"], resp.json()["pickup_delay"]) == (rules, 5.0)  # the others stay
    bad = await cm.http.put(f"{CONTROL}/{TENANT}/behaviour", json={"pickup_delay": -1, "agents_auto": False})
    assert (bad.status_code, bad.json()["error"]) == (400, "invalid_request")
    assert (await cm.http.put(f"{CONTROL}/nobody/behaviour", json={})).status_code == 404
    sent = await cm.send(
        envelope(msg("Your code is 1234", "0031612345678", sender="003197010254321", allowedChannels=["WhatsApp"]))
    )
    assert sent.status_code == 200
    await cm.advance(4)
    await cm.delivered(1, event="MO")
    (got,) = bodies(webhook_sink, BOT_PATH)
    assert got["message"]["text"] == "Got it, thanks"


def test_unknown_default_components_fail_at_start() -> None:
    with pytest.raises(ConfigError, match=r"vendors\.cmcom: .*unknown component 'Robot'"):
        create_app(make_settings(vendors={"cmcom": {"default_components": ["Robot"]}}), plugins=[cmcom.PLUGIN])


async def _play(env: Cm) -> tuple[list[bytes], list[bytes]]:
    """Responses and webhook bodies of one run (their ids, reference and timestamps come from the seed)."""
    view = await env.http.post(f"{CONTROL}/{TENANT}/end-users/+31612345678/messages", json={"text": "Hi", "name": "A"})
    sent = await env.bmproxy(envelope(msg("Hello", "0031612345678", sender="003197010254321")))
    await env.control(
        "mutationrequests", {"ChatId": CHAT, "Mutations": [{"$type": "disableComponent", "ComponentId": "CmBot"}]}
    )
    await env.advance(30)
    await env.emu.scheduler.settle()
    state = await env.http.get(f"{CONTROL}/{TENANT}/chats/{CHAT}")
    return [view.content, sent.content, state.content], [d.body for d in env.emu.dispatcher.deliveries()]


async def test_same_seed_same_bytes(make_cm: CmFactory) -> None:
    hook = "http://webhooks.invalid/hook"
    settings = {
        "vendors": vendor_settings(tenant_config(bot_webhook=hook, status_webhook=hook)),
        "webhook_allow_hosts": ("webhooks.invalid",),
    }
    responses, first = await _play(await make_cm(**settings))
    again, second = await _play(await make_cm(**settings))
    assert (responses, first) == (again, second)
    assert len(first) == 4  # the MO, and the reply's status reports: accepted, delivered, read
    transcript = json.loads(responses[2])["transcript"]  # the reply, the agent's seeded name and greeting
    assert [e["by"] for e in transcript][:2] == ["+31612345678", "BMProxy"]
    assert transcript[2]["text"].startswith("Hi A, this is ")
    other, _ = await _play(await make_cm(seed=8, **settings))
    assert json.loads(other[2])["agent"] != json.loads(responses[2])["agent"]  # another seed, other ids and names


async def test_state_survives_a_snapshot(cm: Cm, make_cm: CmFactory) -> None:
    await cm.customer(text="Hi", name="Ada")
    await cm.control(
        "mutationrequests",
        {
            "ChatId": CHAT,
            "Mutations": [{"$type": "disableComponent", "ComponentId": "CmBot"}],
            "Context": {"team": "sales"},
        },
    )
    await cm.advance(5)
    before = await cm.chat(CHAT)
    snapshot = json.loads(json.dumps(cm.emu.snapshot()))
    other = await make_cm(vendors=vendor_settings(tenant_config()))
    other.emu.restore(snapshot)
    assert await other.chat(CHAT) == before


async def test_a_held_chat_is_not_taken_over_again_but_can_move_to_another_agent(cm: Cm) -> None:
    await cm.customer(text="Hi")
    held = await cm.agent(CHAT, "take_over")
    agents = {a["name"]: a["id"] for a in (await cm.http.get(f"{CONTROL}/{TENANT}")).json()["agents"]}
    again = await cm.http.post(f"{CONTROL}/{TENANT}/chats/{CHAT}/agent", json={"action": "take_over"})
    assert again.status_code == 409
    assert again.json()["message"] == f"{held['agent']['name']} holds chat {CHAT} already"
    moved = await cm.agent(CHAT, "take_over", agentId=agents["Sue Support"])
    assert moved["agent"] == {"id": agents["Sue Support"], "name": "Sue Support"}
    assert (moved["components"], moved["customerContact"]) == (["CustomerContact", "BMProxy"], "active")


@pytest.mark.parametrize(
    "ts", [0.0, 1767225600.0, 1767225600.4999996, 1767225600.9999996, 1767225600.9999994, -0.3, -1e-7, 1e9 + 0.5]
)
def test_plain_times_show_the_second_datetime_shows(ts: float) -> None:
    """`time_plain` keeps whole seconds' texts; it must still show what `datetime.fromtimestamp` rounds to."""
    assert numbers.time_plain(ts) == datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
