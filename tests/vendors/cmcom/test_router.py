"""A partner bot end to end through the Bot Router (the seed's hand-over / take-over / hand-back; cmcom.md §3.3).

Plays the partner bot of the seed: it gets MO at its webhook, answers through BMProxy, hands over with a
mutation (and a Context for team routing), hands back with a mutation plus a position request, is told of an
agent's take-over, disables itself, and resets the chat. Every webhook body and the routing state are checked.
"""

from __future__ import annotations

import re
from typing import Any

from emulator.pytest_plugin import WebhookSink
from tests.vendors.cmcom.conftest import (
    ACCOUNT,
    BOT_PATH,
    BUSINESS,
    CC_PATH,
    CHAT,
    CUSTOMER,
    STATUS_PATH,
    Cm,
    CmFactory,
    bodies,
    envelope,
    msg,
    mutation,
    reply,
    tenant_config,
    vendor_settings,
)

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
T0 = "2026-01-01T00:00:0"


def mo(
    text: str | None, reference: str, at: str, *, name: str | None = "Ada Lovelace", **message: Any
) -> dict[str, Any]:
    assert UUID.match(reference), reference
    return {
        "from": {"number": CUSTOMER, "name": name},
        "to": {"number": BUSINESS, "name": None},
        "message": {"text": text, "media": {"mediaUri": None, "contentType": None, "title": None}, "custom": {}}
        | message,
        "reference": reference,
        "groupings": [],
        "timeUtc": at,
        "channel": "WhatsApp",
        "conversationalRouter": {"chatId": CHAT, "accountId": ACCOUNT},
    }


def notification(kind: str, source: str, mutations: list[tuple[str, str]], at: str, **extra: Any) -> dict[str, Any]:
    listed = [{"$type": t, "ComponentId": comp} for t, comp in mutations]
    body = {"$type": kind, "ChatId": CHAT, "AccountId": ACCOUNT, "SourceComponentId": source, "Mutations": listed}
    return body | extra | {"timeUtc": at}


def routing(state: dict[str, Any]) -> tuple[Any, ...]:
    agent = state["agent"]["name"] if state["agent"] else None
    return state["components"], state["customerContact"], state["team"], agent, state["position"], state["context"]


async def test_partner_bot_hand_over_take_over_hand_back_reset(cm: Cm, webhook_sink: WebhookSink) -> None:
    # 1. The customer writes; the partner bot gets the MO with the router's chatId, Customer Contact a copy.
    view = await cm.customer(text="Hi", name="Ada Lovelace")
    assert view["chatId"] == CHAT
    await cm.delivered(2)
    (first,) = bodies(webhook_sink, BOT_PATH)
    assert first == mo("Hi", first["reference"], f"{T0}0.0000000+00:00")
    assert bodies(webhook_sink, CC_PATH) == [first]
    assert routing(await cm.chat(CHAT)) == (["CmBot", "CustomerContact", "BMProxy"], "dormant", None, None, None, {})

    # 2. The bot answers through BMProxy: same chat (the id is the same in both directions).
    resp = await cm.bmproxy(reply("Hello Ada, how can I help?"))
    assert resp.status_code == 200, resp.text
    assert resp.json()["messages"][0]["status"] == "Accepted"
    chat = await cm.chat(CHAT)
    assert [(e["direction"], e["by"], e["text"]) for e in chat["transcript"]] == [
        ("MO", CUSTOMER, "Hi"),
        ("MT", "BMProxy", "Hello Ada, how can I help?"),
    ]

    # 3. Hand-over with a Context: CmBot off, Customer Contact wakes and routes to the Sales team.
    resp = await cm.control("mutationrequests", mutation(("disableComponent", "CmBot"), context={"team": "sales"}))
    assert resp.status_code == 204
    assert resp.content == b""
    assert routing(await cm.chat(CHAT)) == (
        ["CustomerContact", "BMProxy"],
        "active",
        "Sales",
        None,
        None,
        {"team": "sales"},
    )
    await cm.delivered(1, event="mutationNotification")
    assert bodies(webhook_sink, CC_PATH)[-1] == notification(
        "mutationNotification",
        "BMProxy",
        [("disableComponent", "CmBot")],
        f"{T0}0.0000000+00:00",
        Context={"team": "sales"},
    )
    await cm.advance(5)  # an agent of the team picks the chat up and greets
    chat = await cm.chat(CHAT)
    assert routing(chat)[3] == "Sam Sales"
    assert chat["transcript"][-1]["text"] == "Hi Ada, this is Sam from Sales. How can I help?"

    # 4. The customer writes again (the partner still listens), the agent replies by hand.
    await cm.customer(text="Where is my order?")
    await cm.agent(CHAT, "say", text="It ships today.")
    assert [e["text"] for e in (await cm.chat(CHAT))["transcript"][-2:]] == ["Where is my order?", "It ships today."]

    # 5. Hand-back: enable CmBot, then a position request; the CmBot says that step.
    resp = await cm.control("mutationrequests", mutation(("enableComponent", "CmBot")))
    assert resp.status_code == 204
    resp = await cm.control("positionrequests", {"ChatId": CHAT, "FlowId": "feedback", "StepId": "ask"})
    assert resp.status_code == 204
    position = {"flowId": "feedback", "stepId": "ask"}
    assert routing(await cm.chat(CHAT)) == (
        ["CmBot", "CustomerContact", "BMProxy"],
        "dormant",
        None,
        None,
        position,
        {"team": "sales"},
    )
    await cm.delivered(2, event="mutationNotification", url=webhook_sink.url_for(CC_PATH))
    assert bodies(webhook_sink, CC_PATH)[-1] == notification(
        "mutationNotification", "BMProxy", [("enableComponent", "CmBot")], f"{T0}5.0000000+00:00"
    )
    await cm.advance(1)
    last = (await cm.chat(CHAT))["transcript"][-1]
    assert (last["by"], last["text"]) == ("CmBot", "How did we do? Reply with a score from 1 to 5.")

    # 6. Take-over: an agent grabs the chat in Customer Contact; the partner bot is notified.
    await cm.agent(CHAT, "take_over")
    await cm.delivered(1, event="mutationNotification", url=webhook_sink.url_for(BOT_PATH))
    assert bodies(webhook_sink, BOT_PATH)[-1] == notification(
        "mutationNotification", "CustomerContact", [("disableComponent", "CmBot")], f"{T0}6.0000000+00:00"
    )
    assert routing(await cm.chat(CHAT))[:4] == (["CustomerContact", "BMProxy"], "active", "Sales", "Sam Sales")

    # 7. The partner disables itself: it receives nothing and its replies are refused.
    assert (await cm.control("mutationrequests", mutation(("disableComponent", "BMProxy")))).status_code == 204
    before = len(bodies(webhook_sink, BOT_PATH))
    await cm.customer(text="Hello?")
    await cm.delivered(3, event="MO.CustomerContact")
    assert len(bodies(webhook_sink, BOT_PATH)) == before
    refused = await cm.bmproxy(reply("Still here"))
    assert refused.status_code == 400
    assert refused.json()["messages"][0] | {"to": None} == {
        "to": None,
        "status": "Rejected",
        "reference": None,
        "parts": 0,
        "messageErrorCode": 403,
        "messageDetails": f"The component 'BMProxy' is disabled for chat {CHAT}; its messages are not routed",
    }

    # 8. Reset: every mutation is cancelled; Customer Contact is told; the partner gets MO again.
    assert (await cm.control(f"{CHAT}/resetrequests")).status_code == 204
    assert routing(await cm.chat(CHAT)) == (["CmBot", "CustomerContact", "BMProxy"], "dormant", None, None, None, {})
    await cm.delivered(1, event="resetNotification")
    assert bodies(webhook_sink, CC_PATH)[-1] == notification("resetNotification", "BMProxy", [], f"{T0}6.0000000+00:00")
    await cm.customer(text="Thanks")
    await cm.delivered(3, event="MO", url=webhook_sink.url_for(BOT_PATH))
    partner = bodies(webhook_sink, BOT_PATH)
    assert [b.get("message", {}).get("text") or b.get("$type") for b in partner] == [
        "Hi",
        "Where is my order?",
        "mutationNotification",
        "Thanks",
    ]
    assert partner[-1] == mo("Thanks", partner[-1]["reference"], f"{T0}6.0000000+00:00")
    await cm.delivered(4, event="MO.CustomerContact")
    copies = bodies(webhook_sink, CC_PATH)  # Customer Contact: every MO, and the mutations it did not make
    assert [b.get("$type") or b["message"]["text"] for b in copies] == [
        "Hi",
        "mutationNotification",
        "Where is my order?",
        "mutationNotification",
        "mutationNotification",
        "Hello?",
        "resetNotification",
        "Thanks",
    ]
    assert copies[4] == notification(
        "mutationNotification", "BMProxy", [("disableComponent", "BMProxy")], f"{T0}6.0000000+00:00"
    )
    partner_mo = [b for b in partner if "message" in b]
    assert [b for b in copies if "message" in b] == [*partner_mo[:2], copies[5], partner_mo[-1]]
    # The partner's one reply (step 2) was reported on the clock: accepted, delivered, read (WhatsApp).
    await cm.delivered(3, event="StatusReport")
    reports = [b["messages"]["msg"] for b in bodies(webhook_sink, STATUS_PATH)]
    assert [(r["to"], r["status"]["code"]) for r in reports] == [("0031612345678", c) for c in "024"]


async def test_team_routing_falls_back_to_the_generic_inbox(cm: Cm) -> None:
    await cm.customer(text="Hi")
    resp = await cm.control("mutationrequests", mutation(("disableComponent", "CmBot"), context={"team": "legal"}))
    assert resp.status_code == 204
    await cm.advance(5)
    state = await cm.chat(CHAT)
    assert (state["team"], state["customerContact"]) == ("Generic inbox", "active")
    assert state["agent"] is not None  # the generic inbox's agent took it


async def test_the_cmbot_follows_its_flow_and_hands_over_with_context(cm: Cm) -> None:
    await cm.customer(text="Hi")
    assert (
        await cm.control("positionrequests", {"ChatId": CHAT, "FlowId": "main", "StepId": "welcome"})
    ).status_code == 204
    await cm.advance(1)
    await cm.customer(text="2")
    await cm.advance(1)
    state = await cm.chat(CHAT)
    assert [e["text"] for e in state["transcript"] if e["by"] == "CmBot"] == [
        "Welcome back! Reply 1 for sales, 2 for support.",
        "Connecting you to our support team.",
    ]
    assert (state["customerContact"], state["team"], state["context"]) == ("active", "Support", {"team": "support"})


async def test_media_location_and_button_replies_reach_the_partner(cm: Cm, webhook_sink: WebhookSink) -> None:
    media = {"mediaUri": "https://cdn-1.messaging.cm.com/a.jpg", "contentType": "image/jpeg", "title": "a.jpg"}
    await cm.customer(media=media, text="look")
    await cm.customer(location={"latitude": 51.603802, "longitude": 4.770821, "label": "CM HQ"})
    await cm.customer(button={"id": "yes", "title": "Yes"})
    await cm.delivered(3, event="MO", url=webhook_sink.url_for(BOT_PATH))
    messages = [b["message"] for b in bodies(webhook_sink, BOT_PATH)]
    assert messages == [
        {"text": "look", "media": media, "custom": {}},
        {
            "text": None,
            "media": {"mediaUri": None, "contentType": None, "title": None},
            "custom": {"location": {"latitude": 51.603802, "longitude": 4.770821, "label": "CM HQ"}},
        },
        {
            "text": "Yes",
            "media": {"mediaUri": None, "contentType": None, "title": None},
            "custom": {"interactive": {"type": "button_reply", "button_reply": {"id": "yes", "title": "Yes"}}},
        },
    ]


async def test_plain_mo_without_the_router(make_cm: CmFactory, webhook_sink: WebhookSink) -> None:
    env = await make_cm(vendors=vendor_settings(tenant_config(router=False, mo_webhook=webhook_sink.url_for("/mo"))))
    body = envelope(
        msg(
            "Your code",
            "0031612345678",
            sender="003197010254321",
            reference="otp-1",
            customGrouping="g1",
            allowedChannels=["SMS"],
        )
    )
    assert (await env.send(body)).status_code == 200
    await env.customer(channel="SMS", text="Thanks")
    await env.delivered(1, event="MO.plain")
    (got,) = bodies(webhook_sink, "/mo")
    assert got == {
        "reference": "otp-1",
        "from": {"number": CUSTOMER, "name": None},
        "to": {"number": BUSINESS, "name": None},
        "message": {"text": "Thanks", "media": {"mediaUri": None, "contentType": None, "title": None}, "custom": {}},
        "groupings": ["g1", "", ""],
        "timeUtc": "2026-01-01T00:00:00",
        "channel": "SMS",
    }


async def test_webhooks_need_200_and_are_retried_every_5_minutes(cm: Cm, webhook_sink: WebhookSink) -> None:
    webhook_sink.respond_with(201, times=2)  # 201 is not 200: CM retries (MO to the bot and the CC copy)
    await cm.customer(text="Hi")
    await webhook_sink.async_wait_for(count=2)
    await cm.emu.scheduler.settle()
    await cm.advance(299)
    assert len(bodies(webhook_sink, BOT_PATH)) == 1
    await cm.advance(1)
    await cm.delivered(1, event="MO", status="delivered", url=webhook_sink.url_for(BOT_PATH))
    received = bodies(webhook_sink, BOT_PATH)
    assert len(received) == 2
    assert received[0] == received[1]
    (delivery,) = cm.emu.dispatcher.deliveries(lambda d: d.event_type == "MO")
    assert [a.status for a in delivery.attempts] == [201, 200]
    assert delivery.attempts[1].at - delivery.attempts[0].at == 300
