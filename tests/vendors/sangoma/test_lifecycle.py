"""Conversation states and who hears about them (sangoma.md §2.4, §2.7), simulated agents and customers, and
the control plane's hand routes."""

from __future__ import annotations

from emulator.pytest_plugin import WebhookSink
from tests.vendors.sangoma.conftest import CONTROL, DI, Sng, SngFactory, bot_inbox, names, received, vendor_settings
from tests.vendors.sangoma.support import webhook_problems

STATUS_EVENTS = ["conversation_status_changed", "conversation_updated"]


async def test_a_customer_message_reopens_a_resolved_bot_conversation_as_pending(
    make_sng: SngFactory, webhook_sink: WebhookSink
) -> None:
    env = await make_sng(vendors=vendor_settings(behaviour={"auto": False}))
    await bot_inbox(env, webhook_sink, hook_events=STATUS_EVENTS)
    conv = (await env.hand("/customers", {"text": "hello"}))["conversation_id"]
    await env.ok(f"{DI}/conversations/finish/", {"conversation_id": conv})
    await env.settle()
    webhook_sink.clear()
    await env.hand(f"/conversations/{conv}/customer", {"action": "say", "text": "one more thing"})
    await env.settle()
    assert names(webhook_sink, "/bot") == ["message_created"]  # no conversation_opened: it is pending again
    hook = received(webhook_sink, "/hook")
    assert [b["event"] for b in hook] == ["conversation_status_changed", "conversation_updated"]
    assert hook[0]["changed_attributes"][0] == {"status": {"previous_value": "resolved", "current_value": "pending"}}
    assert env.state.conversations[conv].status == "pending"


async def test_without_a_bot_conversations_start_open_and_reopen_open(sng: Sng, webhook_sink: WebhookSink) -> None:
    await sng.ok(f"{DI}/webhooks/", {"url": webhook_sink.url_for("/hook"), "subscriptions": STATUS_EVENTS})
    contact = (await sng.ok(f"{DI}/contacts/", {"name": "Ada", "inbox_id": 1}))["payload"]["contact"]
    conv = await sng.ok(f"{DI}/conversations/", {"contact_id": contact["id"], "inbox_id": 1})
    assert conv["status"] == "open"
    await sng.advance(3)  # auto-assignment
    assert sng.state.conversations[conv["id"]].assignee_id is not None
    await sng.ok(f"{DI}/conversations/finish/", {"conversation_id": conv["id"]})
    await sng.ok(f"{DI}/messages/", {"conversation_id": conv["id"], "content": "back", "message_type": "incoming"})
    assert sng.state.conversations[conv["id"]].status == "open"
    await sng.settle()
    changes = [
        b["changed_attributes"][0]["status"]
        for b in received(webhook_sink, "/hook")
        if b["event"] == "conversation_status_changed"
    ]
    assert changes == [
        {"previous_value": "open", "current_value": "resolved"},
        {"previous_value": "resolved", "current_value": "open"},
    ]


async def test_finish_twice_and_deliver_when_open_change_nothing(sng: Sng, webhook_sink: WebhookSink) -> None:
    await bot_inbox(sng, webhook_sink)
    conv = (await sng.hand("/customers", {"text": "hi"}))["conversation_id"]
    await sng.ok(f"{DI}/conversations/deliver-to-agent/", {"conversation_id": conv})
    again = await sng.ok(f"{DI}/conversations/deliver-to-agent/", {"conversation_id": conv})
    assert again["payload"]["current_status"] == "open"
    await sng.ok(f"{DI}/conversations/finish/", {"conversation_id": conv})
    await sng.ok(f"{DI}/conversations/finish/", {"conversation_id": conv})
    await sng.settle()
    assert names(webhook_sink, "/bot").count("conversation_opened") == 1
    assert names(webhook_sink, "/bot").count("conversation_resolved") == 1


async def test_a_priority_is_applied_after_create(sng: Sng, webhook_sink: WebhookSink) -> None:
    events = ["conversation_created", "conversation_updated", "message_created"]
    await sng.ok(f"{DI}/webhooks/", {"url": webhook_sink.url_for("/hook"), "subscriptions": events})
    contact = (await sng.ok(f"{DI}/contacts/", {"name": "Ada", "inbox_id": 2}))["payload"]["contact"]
    await sng.ok(
        f"{DI}/conversations/",
        {"contact_id": contact["id"], "inbox_id": 2, "priority": 3, "initial_message": "Hello world"},
    )
    await sng.settle()
    hook = received(webhook_sink, "/hook")
    assert [b["event"] for b in hook][:3] == events
    assert (hook[0]["priority"], hook[1]["priority"]) == (None, "urgent")
    stamp = "2026-01-01T00:00:00.000Z"  # the same instant as the create: the clock did not move
    assert hook[1]["changed_attributes"] == [
        {"priority": {"previous_value": None, "current_value": "urgent"}},
        {"updated_at": {"previous_value": stamp, "current_value": stamp}},
    ]
    assert (hook[2]["message_type"], hook[2]["sender"]["name"]) == ("incoming", "Ada")


async def test_an_api_inbox_webhook_gets_every_event_unfiltered(
    make_sng: SngFactory, webhook_sink: WebhookSink
) -> None:
    inboxes = [{"name": "API", "channel_type": "Channel::Api", "webhook_url": webhook_sink.url_for("/api-inbox")}]
    env = await make_sng(vendors=vendor_settings(inboxes=inboxes, behaviour={"auto": False}))
    contact = (await env.ok(f"{DI}/contacts/", {"name": "Ada", "inbox_id": 1}))["payload"]["contact"]
    conv = await env.ok(f"{DI}/conversations/", {"contact_id": contact["id"], "inbox_id": 1, "initial_message": "x"})
    await env.ok(f"{DI}/conversations/finish/", {"conversation_id": conv["id"]})
    await env.settle()
    assert names(webhook_sink, "/api-inbox") == [
        "conversation_created",
        "message_created",
        "conversation_status_changed",
        "conversation_updated",
    ]


async def test_a_scripted_customer_answers_the_bot(make_sng: SngFactory, webhook_sink: WebhookSink) -> None:
    customers = {"reply_delay": 2, "rules": [{"match": "(?i)order number", "reply": "It is 12345"}]}
    env = await make_sng(vendors=vendor_settings(customers=customers))
    await bot_inbox(env, webhook_sink)
    conv = (await env.hand("/customers", {"text": "where is my order?"}))["conversation_id"]
    await env.ok(f"{DI}/messages/", {"conversation_id": conv, "content": "What is your order number?"})
    await env.advance(2)
    (hit,) = await webhook_sink.async_wait_for({"event": "message_created", "content": "It is 12345"}, path="/bot")
    assert hit.json["message_type"] == "incoming"
    await env.hand(f"/conversations/{conv}/customer", {"action": "idle"})
    await env.ok(f"{DI}/messages/", {"conversation_id": conv, "content": "And your order number again?"})
    await env.advance(5)
    incoming = [m.content for m in env.state.conversations[conv].messages if m.message_type == "incoming"]
    assert incoming == ["where is my order?", "It is 12345"]  # an idle customer does not answer


async def test_an_agent_rule_resolves_the_conversation(sng: Sng, webhook_sink: WebhookSink) -> None:
    await bot_inbox(sng, webhook_sink)
    conv = (await sng.hand("/customers", {"text": "hi"}))["conversation_id"]
    await sng.ok(f"{DI}/conversations/deliver-to-agent/", {"conversation_id": conv})
    await sng.advance(10)
    await sng.hand(f"/conversations/{conv}/customer", {"action": "say", "text": "that's all, goodbye"})
    await sng.advance(10)
    assert sng.state.conversations[conv].status == "resolved"
    await webhook_sink.async_wait_for({"event": "conversation_resolved"}, path="/bot")
    last_agent = [m.content for m in sng.state.conversations[conv].messages if m.sender_type == "User"][-1]
    assert last_agent == "Thanks for chatting. Goodbye!"


async def test_hand_agent_actions(make_sng: SngFactory, webhook_sink: WebhookSink) -> None:
    env = await make_sng(vendors=vendor_settings(behaviour={"auto": False}))
    await bot_inbox(env, webhook_sink, hook_events=["conversation_typing_on", "conversation_updated"])
    conv = (await env.hand("/customers", {"text": "hi"}))["conversation_id"]
    out = await env.hand(f"/conversations/{conv}/agent", {"action": "assign", "agent": "agent.test"})
    assert out["assignee"] == "agent.test"
    await env.hand(f"/conversations/{conv}/agent", {"action": "typing"})
    out = await env.hand(f"/conversations/{conv}/agent", {"action": "say", "text": "Hello from a person"})
    assert out["messages"][-1] == {
        "id": out["messages"][-1]["id"],
        "type": "outgoing",
        "sender_type": "User",
        "content": "Hello from a person",
    }
    out = await env.hand(f"/conversations/{conv}/agent", {"action": "pending"})
    assert out["status"] == "pending"
    await env.hand(f"/conversations/{conv}/agent", {"action": "say"}, status=400)
    await env.hand(f"/conversations/{conv}/agent", {"action": "assign", "agent": "nobody"}, status=404)
    await env.hand("/conversations/99/agent", {"action": "typing"}, status=404)
    await env.settle()
    assert "conversation_typing_on" in names(webhook_sink, "/hook")


async def test_control_plane_errors(sng: Sng) -> None:
    assert (await sng.http.get(f"{CONTROL}/nobody")).status_code == 404
    bad = await sng.http.post(f"{CONTROL}/acme/customers", json={"text": 5})
    assert bad.status_code == 400
    bad = await sng.http.put(f"{CONTROL}/acme/behaviour", json={"assign_delay": -1})
    assert bad.status_code == 400
    for path in ("behaviour", "customer-behaviour"):  # a bad pattern is refused up front, not when a message meets it
        bad = await sng.http.put(f"{CONTROL}/acme/{path}", json={"rules": [{"match": "(", "reply": "x"}]})
        assert (bad.status_code, bad.json()["error"]) == (400, "invalid_request")
        assert "not a regular expression" in bad.json()["message"]
    ok = await sng.http.put(f"{CONTROL}/acme/behaviour", json={"assign_delay": 7})
    assert ok.json()["assign_delay"] == 7
    assert ok.json()["greet_delay"] == 2
    ok = await sng.http.put(f"{CONTROL}/acme/customer-behaviour", json={"reply_delay": 1})
    assert ok.json()["reply_delay"] == 1
    missing = await sng.http.post(f"{CONTROL}/acme/customers", json={"inbox_id": 99})
    assert missing.status_code == 404
    api_inbox = await sng.http.post(f"{CONTROL}/acme/customers", json={"inbox_id": 2})
    assert api_inbox.status_code == 422


async def test_state_survives_a_snapshot_round_trip(sng: Sng, webhook_sink: WebhookSink) -> None:
    await bot_inbox(sng, webhook_sink)
    await sng.hand("/customers", {"text": "hi"})
    snap = sng.emu.snapshot()
    sng.emu.restore(snap)
    assert sng.emu.snapshot()["store"] == snap["store"]
    assert (await sng.call("GET", f"{DI}/inboxes/")).status_code == 200  # the token survived too


async def test_an_unreachable_bot_opens_its_pending_conversation(sng: Sng, webhook_sink: WebhookSink) -> None:
    """sangoma.md §2.4: Chatwoot flips a pending conversation to open when the bot's message delivery fails."""
    await bot_inbox(sng, webhook_sink, hook_events=STATUS_EVENTS)
    webhook_sink.respond_with(500, times=2)  # the bot's webwidget_triggered and message_created fail
    conv = (await sng.hand("/customers", {"text": "anyone?"}))["conversation_id"]
    await sng.settle()
    await sng.advance(0)
    await sng.settle()
    state = sng.state.conversations[conv]
    assert state.status == "open"
    assert state.messages[-1].content == "Conversation was marked open by system due to an error with the agent bot."
    hook = [b for b in received(webhook_sink, "/hook") if b["event"] == "conversation_status_changed"]
    assert hook[0]["changed_attributes"] == [{"status": {"previous_value": "pending", "current_value": "open"}}]


async def test_detaching_the_bot_makes_new_conversations_open(sng: Sng, webhook_sink: WebhookSink) -> None:
    await bot_inbox(sng, webhook_sink)
    first = (await sng.hand("/customers", {"text": "with bot"}))["conversation_id"]
    await sng.ok(f"{DI}/assign-agent-bot/", {"inbox_id": 1, "agent_bot_id": None})
    second = (await sng.hand("/customers", {"text": "without bot"}))["conversation_id"]
    assert (sng.state.conversations[first].status, sng.state.conversations[second].status) == ("pending", "open")
    await sng.settle()
    assert [b["content"] for b in received(webhook_sink, "/bot") if "content" in b] == ["with bot"]


async def test_an_unreachable_api_inbox_fails_the_message(make_sng: SngFactory, webhook_sink: WebhookSink) -> None:
    """sangoma.md §2.4: when an API inbox's delivery of a message event fails, Chatwoot marks the message `failed`
    with the error in `content_attributes.external_error`, and `message_updated` follows (a failure of that one
    changes nothing more)."""
    inboxes = [{"name": "API", "channel_type": "Channel::Api", "webhook_url": webhook_sink.url_for("/api-inbox")}]
    env = await make_sng(vendors=vendor_settings(inboxes=inboxes, behaviour={"auto": False}))
    contact = (await env.ok(f"{DI}/contacts/", {"name": "Ada", "inbox_id": 1}))["payload"]["contact"]
    webhook_sink.respond_with(200, times=1)  # conversation_created
    webhook_sink.respond_with(500, times=2)  # message_created, then message_updated
    conv = await env.ok(f"{DI}/conversations/", {"contact_id": contact["id"], "inbox_id": 1, "initial_message": "x"})
    await env.settle()
    await env.advance(0)
    await env.settle()
    assert names(webhook_sink, "/api-inbox") == ["conversation_created", "message_created", "message_updated"]
    updated = received(webhook_sink, "/api-inbox")[2]
    assert updated["content_attributes"] == {"external_error": "500 Internal Server Error"}
    assert (updated["content"], updated["message_type"]) == ("x", "incoming")
    assert updated["conversation"]["messages"][0]["status"] == "failed"
    assert webhook_problems(updated) == []
    (message,) = env.state.conversations[conv["id"]].messages
    assert (message.status, message.external_error) == ("failed", "500 Internal Server Error")
    await env.advance(5)
    assert len(webhook_sink.requests) == 3


async def test_the_api_inbox_failure_rule_can_be_switched_off(make_sng: SngFactory, webhook_sink: WebhookSink) -> None:
    inboxes = [{"name": "API", "channel_type": "Channel::Api", "webhook_url": webhook_sink.url_for("/api-inbox")}]
    config = vendor_settings(inboxes=inboxes, behaviour={"auto": False})["sangoma"]
    env = await make_sng(vendors={"sangoma": {**config, "api_inbox_failure_fails_message": False}})
    contact = (await env.ok(f"{DI}/contacts/", {"name": "Ada", "inbox_id": 1}))["payload"]["contact"]
    webhook_sink.respond_with(500)
    conv = await env.ok(f"{DI}/conversations/", {"contact_id": contact["id"], "inbox_id": 1, "initial_message": "x"})
    await env.settle()
    await env.advance(0)
    await env.settle()
    assert names(webhook_sink, "/api-inbox") == ["conversation_created", "message_created"]
    assert env.state.conversations[conv["id"]].messages[0].status == "sent"


async def test_a_configured_tenant_takes_behaviour_before_its_first_request(make_sng: SngFactory) -> None:
    """The kernel serves `PUT .../behaviour`; like every hand route it accepts a configured tenant with no state yet."""
    env = await make_sng(token=False)
    for path, body, field in (
        ("behaviour", {"assign_delay": 9}, "assign_delay"),
        ("customer-behaviour", {"reply_delay": 4}, "reply_delay"),
    ):
        resp = await env.http.put(f"{CONTROL}/acme/{path}", json=body)
        assert (resp.status_code, resp.json()[field]) == (200, body[field])
    world = await env.world()
    assert (world["behaviour"]["assign_delay"], world["customers"]["reply_delay"]) == (9, 4)
    ghost = await env.http.put(f"{CONTROL}/ghost/behaviour", json={"assign_delay": 1})
    assert (ghost.status_code, ghost.json()["error"]) == (404, "unknown_tenant")


async def test_auto_assignment_weighs_open_conversations_only_and_a_reopened_one_again(make_sng: SngFactory) -> None:
    """An agent's `chats` are its unresolved conversations, so weighing agents never walks every conversation
    they ever had (it did: a long-running tenant's assignments got slower with every conversation)."""
    sng = await make_sng(vendors=vendor_settings(agents=[{"name": "ann"}, {"name": "bob"}]))
    contact = (await sng.ok(f"{DI}/contacts/", {"name": "Ada", "inbox_id": 1}))["payload"]["contact"]

    async def start() -> int:
        conv = await sng.ok(f"{DI}/conversations/", {"contact_id": contact["id"], "inbox_id": 1})
        await sng.advance(3)  # auto-assignment
        return int(conv["id"])

    def agent_of(conv: int) -> int:
        return int(sng.state.conversations[conv].assignee_id)

    first, second = await start(), await start()
    assert agent_of(first) != agent_of(second)
    await sng.ok(f"{DI}/conversations/finish/", {"conversation_id": first})
    assert first not in sng.state.agents[agent_of(first)].chats
    third = await start()
    assert agent_of(third) == agent_of(first)  # its first conversation no longer weighs on it
    await sng.ok(f"{DI}/messages/", {"conversation_id": first, "content": "back", "message_type": "incoming"})
    assert first in sng.state.agents[agent_of(first)].chats
    fourth = await start()
    assert agent_of(fourth) == agent_of(second)  # two open conversations weigh more than one
