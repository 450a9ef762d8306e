"""8x8 Chat Gateway conversation lifecycle, end to end: the vendor API in-process, webhooks to a real HTTP
receiver, everything on the virtual clock (eightbyeight.md §1.6, §1.7; seed 004's workflow).

Delays of the default agent behaviour (config.AgentBehaviour): interaction 0.2 s, join 3 s, typing 1.5 s,
reply 2 s, idle leave 300 s.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from emulator.pytest_plugin import WebhookSink
from tests.vendors.eightbyeight.conftest import (
    AGENT,
    HOOK_PATH,
    SALES_AGENT,
    Ebe,
    EbeFactory,
    agent_of,
    cu,
    events_of,
    members,
    message,
    queue_of,
    queued,
    shape,
    tenant_config,
    transfer,
    typing,
    user_participant,
    vendor_settings,
)
from tests.vendors.eightbyeight.seed import SEED_CREATE_BODY

SEED_CREATE = SEED_CREATE_BODY

SEED_USER = json.loads(SEED_CREATE)["user"]
JAMES = {"name": "James Jones", "language": "en"}
GREETING_JANE = "Hi James, this is Jane. How can I help you today?"
GREETING_SAM = "Hi James, this is Sam. How can I help you today?"
BALANCE_REPLY = "Your balance is 12.34. Anything else I can help with?"


def simple_create(channel: str = "1", **extra: Any) -> dict[str, Any]:
    return {"channelId": channel, "user": dict(JAMES), **extra}


async def channel_id(env: Ebe) -> str:
    resp = await env.api("GET", "/channels")
    assert resp.status_code == 200, resp.text
    return str(resp.json()["_embedded"]["channels"][0]["id"])


# -- 1. the seed's request, verbatim ---------------------------------------------------------------------------


async def test_seed_create_conversation_verbatim(make_ebe: EbeFactory, webhook_sink: WebhookSink) -> None:
    # The captured page shows "[email protected]" where 8x8's page has an address (a web page's e-mail
    # obfuscation); kept verbatim, it passes only with strict_user_fields off (test_user_fields.py has the rest).
    uri = webhook_sink.url_for(HOOK_PATH)
    ebe = await make_ebe(vendors=vendor_settings(tenant_config(uri), strict_user_fields=False))
    assert (await ebe.api("GET", "/webhooks")).status_code == 200
    body = json.loads(SEED_CREATE)

    # The seed's channel id does not exist in this tenant: 8x8's general 400.
    resp = await ebe.api("POST", "/conversations", body)
    assert resp.status_code == 400
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json() == {
        "message": "Internal error.",
        "errors": [{"code": "invalid_channel", "message": "Channel ID f5odm43occnifcdcsa is invalid."}],
    }

    # The same body on the tenant's channel (created by default, listed through the API).
    body["channelId"] = await channel_id(ebe)
    t0 = ebe.now_ms()
    resp = await ebe.api("POST", "/conversations", body)
    assert resp.status_code == 202, resp.text
    assert resp.headers["content-type"] == "application/hal+json"
    created = resp.json()
    assert list(created) == ["conversationId", "createdAt"]
    conv = created["conversationId"]
    assert len(conv) == 22
    assert created["createdAt"] == "2026-01-01T00:00:00Z"

    await ebe.advance(0.2 + 3 + 1.5)
    await ebe.delivered(8, subject=conv)
    jane = AGENT["id"]
    assert events_of(webhook_sink, conv) == [
        cu(conv, t0, "created", queue_of("123"), SEED_USER),
        cu(conv, t0 + 200, "active", queue_of("123"), SEED_USER),
        queued(conv, t0 + 200, "123", "Support"),
        members(conv, t0 + 3200, "agent", "joined", jane),
        cu(conv, t0 + 3200, "active", agent_of(jane), SEED_USER),
        typing(conv, t0 + 3200, jane),
        typing(conv, t0 + 4700, None),
        message(conv, t0 + 4700, echo=False, sender=jane, sender_type="agent", text=GREETING_JANE),
    ]
    assert ebe.now_ms() == t0 + 4700

    # The conversation as GET shows it: the user with its additionalProperties as sent (keys untrimmed).
    resp = await ebe.api("GET", f"/conversations/{conv}")
    assert resp.status_code == 200
    assert resp.json() == {
        "id": conv,
        "channelId": body["channelId"],
        "state": "active",
        "assignment": {"type": "agent", "id": jane},
        "user": SEED_USER,
    }

    # History (6 messages, in order) and the agent's greeting; oldest first with sort=createdAt:asc.
    resp = await ebe.api("GET", f"/conversations/{conv}/messages?sort=createdAt:asc")
    assert resp.status_code == 200
    listing = resp.json()
    msgs = listing["_embedded"]["messages"]
    history = json.loads(SEED_CREATE)["history"]["messages"]
    assert [(m["author"]["type"], m["text"]) for m in msgs] == [
        *[(h["authorType"], h["text"]) for h in history],
        ("agent", GREETING_JANE),
    ]
    assert [m["createdAt"] for m in msgs] == ["2026-01-01T00:00:00Z"] * 6 + ["2026-01-01T00:00:04.700Z"]
    assert listing["page"] == {"size": 20, "number": 0, "totalElements": 7, "totalPages": 1}
    user_id = await user_participant(ebe, conv)
    assert {m["author"]["id"] for m in msgs if m["author"]["type"] == "user"} == {user_id}
    # 8x8's default order is createdAt:desc: the greeting comes first.
    resp = await ebe.api("GET", f"/conversations/{conv}/messages")
    assert resp.json()["_embedded"]["messages"][0]["text"] == GREETING_JANE


# -- 3. a whole conversation, as an integration drives it --------------------------------------------------------


async def test_whole_conversation_on_the_virtual_clock(ebe: Ebe, webhook_sink: WebhookSink) -> None:
    started = time.perf_counter()
    jane, sam = AGENT["id"], SALES_AGENT["id"]
    t0 = ebe.now_ms()
    conv = await ebe.create(simple_create())
    user = await user_participant(ebe, conv)

    async def expect_next(*expected: dict[str, Any]) -> None:
        """The next webhooks the receiver got for this conversation are exactly `expected`."""
        seen = expect_next.seen  # type: ignore[attr-defined]
        await ebe.delivered(seen + len(expected), subject=conv)
        got = events_of(webhook_sink, conv)
        assert got[seen:] == list(expected), [shape(b) for b in got[seen:]]
        expect_next.seen = seen + len(expected)  # type: ignore[attr-defined]

    expect_next.seen = 0  # type: ignore[attr-defined]

    # created -> active -> queued (simulated: the interaction comes up after 0.2 s)
    await ebe.advance(0.2)
    await expect_next(
        cu(conv, t0, "created", queue_of("123"), JAMES),
        cu(conv, t0 + 200, "active", queue_of("123"), JAMES),
        queued(conv, t0 + 200, "123", "Support"),
    )
    # a simulated agent joins after 3 s, types for 1.5 s and greets
    await ebe.advance(3 + 1.5)
    await expect_next(
        members(conv, t0 + 3200, "agent", "joined", jane),
        cu(conv, t0 + 3200, "active", agent_of(jane), JAMES),
        typing(conv, t0 + 3200, jane),
        typing(conv, t0 + 4700, None),
        message(conv, t0 + 4700, echo=False, sender=jane, sender_type="agent", text=GREETING_JANE),
    )
    # the customer replies: echoed; the agent answers by the default "balance" rule after 2 + 1.5 s
    await ebe.say(conv, "Can I check my balance?")
    await ebe.advance(2 + 1.5)
    await expect_next(
        message(conv, t0 + 4700, echo=True, sender=user, sender_type="user", text="Can I check my balance?"),
        typing(conv, t0 + 6700, jane),
        typing(conv, t0 + 8200, None),
        message(conv, t0 + 8200, echo=False, sender=jane, sender_type="agent", text=BALANCE_REPLY),
    )
    # the agent transfers to Sales (by hand): TRANSFER without data, agent left, QUEUED(101)
    out = await ebe.hand(conv, "transfer", queueId="101")
    assert out == {"conversation": conv, "state": "active", "agentId": None}
    await expect_next(
        transfer(conv, t0 + 8200),
        members(conv, t0 + 8200, "agent", "left", jane),
        queued(conv, t0 + 8200, "101", "Sales"),
    )
    # a Sales agent joins (simulated) and greets
    await ebe.advance(3 + 1.5)
    await expect_next(
        members(conv, t0 + 11200, "agent", "joined", sam),
        cu(conv, t0 + 11200, "active", agent_of(sam), JAMES),
        typing(conv, t0 + 11200, sam),
        typing(conv, t0 + 12700, None),
        message(conv, t0 + 12700, echo=False, sender=sam, sender_type="agent", text=GREETING_SAM),
    )
    # the agent ends the interaction (by hand): agent left + idle, assignment back to the last queue
    out = await ebe.hand(conv, "leave")
    assert out == {"conversation": conv, "state": "idle", "agentId": None}
    await expect_next(
        members(conv, t0 + 12700, "agent", "left", sam),
        cu(conv, t0 + 12700, "idle", queue_of("101"), JAMES),
    )

    # from here on every agent action is by hand
    await ebe.behaviour(auto=False)
    await ebe.advance(60)
    t1 = t0 + 72700
    # a new customer message on the idle conversation re-queues it in its last queue
    await ebe.say(conv, "Hello? One more question")
    await expect_next(
        message(conv, t1, echo=True, sender=user, sender_type="user", text="Hello? One more question"),
        cu(conv, t1, "active", queue_of("101"), JAMES),
        queued(conv, t1, "101", "Sales"),
    )
    await ebe.advance(10)  # nobody picks it up by themselves now
    assert len(events_of(webhook_sink, conv)) == expect_next.seen  # type: ignore[attr-defined]
    t2 = t1 + 10_000
    await ebe.hand(conv, "join")
    await ebe.hand(conv, "typing")
    await ebe.advance(2)
    await ebe.hand(conv, "stop_typing")
    await ebe.hand(conv, "say", text="Sure, go ahead.")
    await expect_next(
        members(conv, t2, "agent", "joined", sam),
        cu(conv, t2, "active", agent_of(sam), JAMES),
        typing(conv, t2, sam),
        typing(conv, t2 + 2000, None),
        message(conv, t2 + 2000, echo=False, sender=sam, sender_type="agent", text="Sure, go ahead."),
    )
    # the customer leaves: 204; user left, the agent left, idle
    resp = await ebe.api("PATCH", f"/conversations/{conv}/participants/user", {"removed": True})
    assert resp.status_code == 204
    assert resp.content == b""
    await expect_next(
        members(conv, t2 + 2000, "user", "left", user),
        members(conv, t2 + 2000, "agent", "left", sam),
        cu(conv, t2 + 2000, "idle", queue_of("101"), JAMES),
    )
    # nothing else is pending that would still say something
    await ebe.run_until_idle()
    await ebe.emu.scheduler.settle()
    assert len(events_of(webhook_sink, conv)) == expect_next.seen  # type: ignore[attr-defined]
    elapsed = time.perf_counter() - started
    print(f"\nwhole 8x8 conversation: {expect_next.seen} webhooks, {elapsed * 1000:.0f} ms wall")  # type: ignore[attr-defined]

    # every webhook carried this tenant's ids and a first-attempt retry header
    for req in webhook_sink.requests:
        assert req.path == HOOK_PATH
        assert req.headers["x-8x8-tenant-id"] == "acme-tid"
        assert req.headers["x-8x8-customer-id"] == "acme-cid"
        assert req.headers["x-8x8-retry"] == "0"
        assert req.headers["content-type"] == "application/json"
    assert len({r.headers["x-8x8-event-id"] for r in webhook_sink.requests}) == len(webhook_sink.requests)

    resp = await ebe.api("GET", f"/conversations/{conv}/interactions")
    spans = sorted((i["startTime"], i.get("endTime")) for i in resp.json()["_embedded"]["interactions"])
    assert spans == [
        ("2026-01-01T00:00:00.200Z", "2026-01-01T00:00:12.700Z"),
        ("2026-01-01T00:01:12.700Z", "2026-01-01T00:01:24.700Z"),
    ]


# -- 6. simulated agents -----------------------------------------------------------------------------------------


async def test_no_free_agent_waits_until_the_agent_frees_up(make_ebe: EbeFactory, webhook_sink: WebhookSink) -> None:
    one_seat = tenant_config(webhook_sink.url_for(HOOK_PATH))
    one_seat["queues"] = [{"id": "123", "name": "Support", "agents": [{**AGENT, "capacity": 1}]}]
    env = await make_ebe(vendors=vendor_settings(one_seat))
    jane = AGENT["id"]
    t0 = env.now_ms()
    first = await env.create(simple_create())
    second = await env.create(simple_create())
    await env.advance(0.2 + 3 + 1.5)
    await env.delivered(8 + 3)
    assert [shape(b) for b in events_of(webhook_sink, first)][3:] == [
        "MC(agent joined)",
        "CU(active,agent)",
        "TYPING(1)",
        "TYPING(0)",
        "MSG(agent,live)",
    ]
    assert events_of(webhook_sink, second) == [
        cu(second, t0, "created", queue_of("123"), JAMES),
        cu(second, t0 + 200, "active", queue_of("123"), JAMES),
        queued(second, t0 + 200, "123", "Support"),
    ]
    resp = await env.http.get("/_emulator/vendors/eightbyeight/tenants/acme")
    world = resp.json()
    assert world["waiting"] == [second]
    assert [(a["id"], a["handling"]) for a in world["agents"]] == [(jane, [first])]

    await env.hand(first, "leave")  # the agent frees up at t0 + 4.7 s; the waiting one is offered after join_delay
    await env.advance(2.9)
    await env.delivered(3, subject=second)
    assert len(events_of(webhook_sink, second)) == 3
    await env.advance(0.1)
    await env.delivered(6, subject=second)
    assert events_of(webhook_sink, second)[3:6] == [
        members(second, t0 + 7700, "agent", "joined", jane),
        cu(second, t0 + 7700, "active", agent_of(jane), JAMES),
        typing(second, t0 + 7700, jane),
    ]


async def test_idle_agent_leaves_after_leave_after_idle(ebe: Ebe, webhook_sink: WebhookSink) -> None:
    await ebe.behaviour(leave_after_idle=60)
    jane = AGENT["id"]
    t0 = ebe.now_ms()
    conv = await ebe.create(simple_create())
    await ebe.advance(3.2 + 30)
    await ebe.say(conv, "hmm, let me think")  # a customer message at +33.2 s restarts the idle timer
    await ebe.advance(60 - 0.1)
    await ebe.delivered(11, subject=conv)
    assert [shape(b) for b in events_of(webhook_sink, conv)][-4:] == [
        "MSG(user,echo)",
        "TYPING(1)",
        "TYPING(0)",
        "MSG(agent,live)",
    ]
    await ebe.advance(0.1)
    await ebe.delivered(13, subject=conv)
    assert events_of(webhook_sink, conv)[-2:] == [
        members(conv, t0 + 93200, "agent", "left", jane),
        cu(conv, t0 + 93200, "idle", queue_of("123"), JAMES),
    ]
    assert ebe.state.agents[jane].handling == []


@pytest.mark.parametrize(
    ("rule", "said", "tail"),
    [
        pytest.param(
            {"match": r"\bsales\b", "reply": "Let me get you to Sales.", "transfer_to": "101"},
            "I'd like to talk to sales",
            ["TYPING(1)", "TYPING(0)", "MSG(agent,live)", "TRANSFER", "MC(agent left)", "QUEUED(101)"],
            id="reply-then-transfer_to",
        ),
        pytest.param(
            {"match": r"\bsales\b", "transfer_to": "101"},
            "sales please",
            ["TRANSFER", "MC(agent left)", "QUEUED(101)"],
            id="transfer_to-without-reply",
        ),
        pytest.param(
            {"match": r"\bbye\b", "leave": True},
            "ok bye",
            ["MC(agent left)", "CU(idle,queue)"],
            id="leave",
        ),
    ],
)
async def test_reply_rules(
    ebe: Ebe, webhook_sink: WebhookSink, rule: dict[str, Any], said: str, tail: list[str]
) -> None:
    await ebe.behaviour(rules=[rule])
    conv = await ebe.create(simple_create())
    await ebe.advance(4.7)
    await ebe.delivered(8, subject=conv)
    t = ebe.now_ms()
    await ebe.say(conv, said)
    await ebe.advance(2 + 1.5)
    await ebe.delivered(9 + len(tail), subject=conv)
    got = events_of(webhook_sink, conv)
    assert [shape(b) for b in got[8:]] == ["MSG(user,echo)", *tail]
    first_action = t + 2000
    assert got[9]["timestamp"] == first_action
    if "TRANSFER" in tail:
        assert transfer(conv, got[-3]["timestamp"]) == got[-3]
        assert got[-1] == queued(conv, got[-1]["timestamp"], "101", "Sales")
        await ebe.advance(3)
        await ebe.delivered(12 + len(tail), subject=conv)
        assert events_of(webhook_sink, conv)[9 + len(tail)] == members(
            conv, got[-1]["timestamp"] + 3000, "agent", "joined", SALES_AGENT["id"]
        )
    if rule.get("reply"):
        assert got[11]["data"]["text"] == rule["reply"]


@pytest.mark.parametrize("echo", [pytest.param(True, id="echo-on"), pytest.param(False, id="echo-off")])
async def test_echo_messages_config(make_ebe: EbeFactory, webhook_sink: WebhookSink, echo: bool) -> None:
    env = await make_ebe(vendors=vendor_settings(tenant_config(webhook_sink.url_for(HOOK_PATH)), echo_messages=echo))
    conv = await env.create(simple_create())
    await env.advance(4.7)
    await env.delivered(8, subject=conv)
    t = env.now_ms()
    await env.say(conv, "my balance please")
    await env.say(conv, "as a bot", author="bot")
    await env.advance(3.5)
    await env.delivered(8 + 3 + (2 if echo else 0), subject=conv)
    user = await user_participant(env, conv)
    echoes = (
        [
            message(conv, t, echo=True, sender=user, sender_type="user", text="my balance please"),
            message(
                conv,
                t,
                echo=True,
                sender=env.state.conversations[conv].bot_participant,
                sender_type="bot",
                text="as a bot",
            ),
        ]
        if echo
        else []
    )
    jane = AGENT["id"]
    assert events_of(webhook_sink, conv)[8:] == [
        *echoes,
        typing(conv, t + 2000, jane),
        typing(conv, t + 3500, None),
        message(conv, t + 3500, echo=False, sender=jane, sender_type="agent", text=BALANCE_REPLY),
    ]


async def test_post_agent_assignment(ebe: Ebe, webhook_sink: WebhookSink) -> None:
    resp = await ebe.api(
        "POST",
        "/webhooks",
        {"name": "survey bot", "uri": webhook_sink.url_for("/post"), "version": "Chat Gateway v1.0"},
    )
    post_hook = resp.json()["id"]
    jane = AGENT["id"]
    t0 = ebe.now_ms()
    conv = await ebe.create(simple_create())
    await ebe.advance(4.7)
    await ebe.delivered(8, subject=conv)
    config = {"notifyChannelWebhookIfExists": "false", "maxTotalMinutes": 20, "userTimeoutInMinutes": 10}
    resp = await ebe.api(
        "POST",
        f"/conversations/{conv}/post-agent-assignment",
        {"type": "webhook", "id": post_hook, "configuration": config},
    )
    assert resp.status_code == 201
    assert resp.content == b""

    await ebe.hand(conv, "leave")  # the agent finishes: the conversation goes to the survey webhook
    await ebe.advance(60)
    await ebe.say(conv, "5 stars")
    await ebe.delivered(2, subject=conv, event="MEMBERS_CHANGED")
    await ebe.delivered(2, subject=conv, event="MESSAGE")
    user = await user_participant(ebe, conv)
    assert events_of(webhook_sink, conv, "/post") == [
        members(conv, t0 + 4700, "agent", "left", jane),
        message(conv, t0 + 64700, echo=True, sender=user, sender_type="user", text="5 stars"),
    ]
    assert len(events_of(webhook_sink, conv, HOOK_PATH)) == 8  # notifyChannelWebhookIfExists "false"
    resp = await ebe.api("GET", f"/conversations/{conv}")
    assert resp.json()["state"] == "active"

    # maxTotalMinutes after the agent left, the conversation ends
    await ebe.advance(20 * 60 - 60 - 0.1)
    assert (await ebe.api("GET", f"/conversations/{conv}")).json()["state"] == "active"
    await ebe.advance(0.1)
    await ebe.delivered(4, subject=conv, event="CONVERSATION_UPDATE")  # created, active, agent, idle
    resp = await ebe.api("GET", f"/conversations/{conv}")
    assert resp.json()["state"] == "idle"
    assert events_of(webhook_sink, conv, "/post")[2:] == [
        cu(conv, t0 + 4700 + 1_200_000, "idle", queue_of("123"), JAMES)
    ]


async def test_post_agent_user_timeout_ends_the_conversation(ebe: Ebe, webhook_sink: WebhookSink) -> None:
    """§1.4: in the post-agent phase the conversation also ends when the user stays silent for
    userTimeoutInMinutes after the bot's last message (well before maxTotalMinutes here)."""
    resp = await ebe.api(
        "POST",
        "/webhooks",
        {"name": "survey bot", "uri": webhook_sink.url_for("/post"), "version": "Chat Gateway v1.0"},
    )
    post_hook = resp.json()["id"]
    conv = await ebe.create(simple_create())
    await ebe.advance(4.7)
    config = {"maxTotalMinutes": 60, "userTimeoutInMinutes": 10}
    resp = await ebe.api(
        "POST",
        f"/conversations/{conv}/post-agent-assignment",
        {"type": "webhook", "id": post_hook, "configuration": config},
    )
    assert resp.status_code == 201
    await ebe.hand(conv, "leave")
    await ebe.say(conv, "How would you rate us, 1-5?", author="bot")
    await ebe.advance(10 * 60 - 0.1)
    assert (await ebe.api("GET", f"/conversations/{conv}")).json()["state"] == "active"
    await ebe.advance(0.1)
    assert (await ebe.api("GET", f"/conversations/{conv}")).json()["state"] == "idle"


async def test_control_plane_knows_a_configured_tenant(make_ebe: EbeFactory, webhook_sink: WebhookSink) -> None:
    """A tenant from the config file can be steered before its first API call (e.g. `auto: false` up front)."""
    env = await make_ebe(vendors=vendor_settings(tenant_config(webhook_sink.url_for(HOOK_PATH))))
    resp = await env.http.put("/_emulator/vendors/eightbyeight/tenants/acme/behaviour", json={"auto": False})
    assert resp.status_code == 200, resp.text
    assert resp.json()["auto"] is False


# -- 8. snapshot and restore mid-conversation -----------------------------------------------------------------------


async def test_snapshot_restore_keeps_the_simulated_agents_pending_actions(
    make_ebe: EbeFactory, webhook_sink: WebhookSink
) -> None:
    settings = {"vendors": vendor_settings(tenant_config(webhook_sink.url_for(HOOK_PATH)))}
    old = await make_ebe(**settings)
    jane = AGENT["id"]
    t0 = old.now_ms()
    conv = await old.create(simple_create())
    await old.advance(3.2)  # the agent joined and is typing its greeting; the message is due at +1.5 s
    await old.delivered(6, subject=conv)

    resp = await old.http.get("/_emulator/state")
    assert resp.status_code == 200
    snapshot = resp.json()
    assert snapshot["clock"] == {"mode": "virtual", "now": (t0 + 3200) / 1000}
    pending = sorted((job["kind"], round(job["due"] * 1000) - t0) for job in snapshot["jobs"])
    assert pending == [("eightbyeight.agent.idle_check", 303_200), ("eightbyeight.agent.say", 4700)]
    assert snapshot["deliveries"]["pending"] == []

    new = await make_ebe(**settings)
    resp = await new.http.post("/_emulator/state", json=snapshot)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"restored": True, "tenants": 1}
    assert new.now_ms() == t0 + 3200
    resp = await new.api("GET", f"/conversations/{conv}")
    assert resp.json()["assignment"] == agent_of(jane)

    # the restored server finishes the greeting, answers by rule, and leaves after 300 s of silence
    await new.advance(1.5)
    await new.say(conv, "balance?")
    await new.advance(3.5)
    await new.advance(300)
    await new.delivered(8, subject=conv)  # the new server logs only its own deliveries
    user = await user_participant(new, conv)
    assert events_of(webhook_sink, conv)[6:] == [
        typing(conv, t0 + 4700, None),
        message(conv, t0 + 4700, echo=False, sender=jane, sender_type="agent", text=GREETING_JANE),
        message(conv, t0 + 4700, echo=True, sender=user, sender_type="user", text="balance?"),
        typing(conv, t0 + 6700, jane),
        typing(conv, t0 + 8200, None),
        message(conv, t0 + 8200, echo=False, sender=jane, sender_type="agent", text=BALANCE_REPLY),
        members(conv, t0 + 304_700, "agent", "left", jane),
        cu(conv, t0 + 304_700, "idle", queue_of("123"), JAMES),
    ]
    assert new.state.agents[jane].handling == []
