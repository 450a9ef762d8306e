"""Simulated Sangoma people on the clock: CX agents (chats and queue calls), web-widget customers, callees.

They react to committed domain events (`react`) by scheduling persistent jobs; every job re-checks the
conversation or call when it runs, so a job made stale by something in between does nothing.

- Chats: a conversation that becomes `open` without an assignee (a hand-off, or a new conversation in an
  inbox without a bot) is assigned to the least busy logged-in agent after `assign_delay` when the inbox has
  auto-assignment; the agent greets after `greet_delay` (typing first) and answers each customer message by
  the first matching rule after `reply_delay`; a rule may resolve the conversation.
- Customers of widget conversations answer outgoing messages by their own rules (none by default).
- Calls: the callee rings after `ring_after`, then answers / is busy / does not answer per its behaviour; a
  connected call completes after `talk_seconds`; a queued call is answered by a free agent of the queue after
  `queue_answer_delay` (and again whenever an agent frees up).
- A failed agent-bot delivery of a message event opens the bot's pending conversation; a failed API-inbox
  delivery of one marks the message failed (`delivery.py`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from emulator.core.clock import JobHandler
from emulator.core.events import DomainEvent
from emulator.core.runtime import Emulator
from emulator.core.tracked import look
from emulator.vendors.sangoma import di, voice
from emulator.vendors.sangoma.config import ReplyRule
from emulator.vendors.sangoma.constants import SLUG, CallState, ConversationStatus
from emulator.vendors.sangoma.delivery import BOT_FAILED, MESSAGE_FAILED
from emulator.vendors.sangoma.state import Conversation, SangomaState

ASSIGN = f"{SLUG}.agent.assign"
TYPE = f"{SLUG}.agent.type"
SAY = f"{SLUG}.agent.say"
CUSTOMER_SAY = f"{SLUG}.customer.say"
RING = f"{SLUG}.call.ring"
OUTCOME = f"{SLUG}.call.outcome"
QUEUE_ANSWER = f"{SLUG}.call.queue_answer"
HANG_UP = f"{SLUG}.call.hang_up"


def pick_rule(rules: list[ReplyRule], default: str | None, text: str) -> ReplyRule | None:
    for rule in rules:
        if re.search(rule.match, text, flags=re.IGNORECASE):
            return rule
    return ReplyRule(match="", reply=default) if default is not None else None


def fill(template: str, state: SangomaState, conv: Conversation | None, agent_id: int | None) -> str:
    contact = look(state.contacts, conv.contact_id) if conv is not None else None
    agent = look(state.agents, agent_id) if agent_id is not None else None
    customer = (contact.name.split(" ")[0] if contact and contact.name else "") or "there"
    return template.replace("{customer}", customer).replace(
        "{agent}", agent.display_name.split(" ")[0] if agent else "your agent"
    )


# -- reacting to events -------------------------------------------------------------------------------------------


def react(emu: Emulator, event: DomainEvent) -> None:
    """Schedule what simulated people do next (runs inside the commit; only schedules)."""
    state = emu.store.of(SLUG, SangomaState).peek(event.tenant)
    if state is None:
        return

    def later(delay: float, kind: str, **args: Any) -> None:
        emu.scheduler.schedule_job(delay, kind, args, vendor=SLUG, tenant=event.tenant)

    if event.kind.startswith("call."):
        _react_call(state, event, later)
        return
    payload = event.data.get("payload")
    if not isinstance(payload, dict):
        return
    conv_data = payload.get("conversation", payload)
    display = conv_data.get("id") if isinstance(conv_data, dict) else None
    # reads only (look: marks nothing for the Redis commit, core.tracked)
    conv = look(state.conversations, display) if isinstance(display, int) and event.subject.startswith("conv") else None
    if conv is None:
        return
    behaviour = state.behaviour
    kind = event.kind
    opened = kind == "conversation_opened" or (kind == "conversation_created" and conv.status == "open")
    if opened and behaviour.auto and conv.assignee_id is None and state.inboxes[conv.inbox_id].enable_auto_assignment:
        later(behaviour.assign_delay, ASSIGN, conv=conv.display_id)
    elif kind == "conversation_updated" and behaviour.auto and behaviour.greeting:
        for change in payload.get("changed_attributes", []):
            assignee = change.get("assignee_id", {}).get("current_value") if isinstance(change, dict) else None
            if assignee is not None:
                greeting = fill(behaviour.greeting, state, conv, assignee)
                later(behaviour.greet_delay, TYPE, conv=conv.display_id, agent=assignee, text=greeting, resolve=False)
    elif kind == "message_created" and payload.get("message_type") == "incoming":
        if behaviour.auto and conv.assignee_id is not None and conv.status == ConversationStatus.OPEN:
            rule = pick_rule(behaviour.rules, behaviour.default_reply, str(payload.get("content", "")))
            if rule is not None and (rule.reply or rule.resolve):
                text: str | None = fill(rule.reply, state, conv, conv.assignee_id) if rule.reply else None
                later(
                    behaviour.reply_delay,
                    TYPE,
                    conv=conv.display_id,
                    agent=conv.assignee_id,
                    text=text,
                    resolve=rule.resolve,
                )
    elif kind == "message_created" and payload.get("message_type") == "outgoing" and not payload.get("private"):
        rule = pick_rule(state.customers.rules, None, str(payload.get("content", "")))
        if conv.widget and not conv.customer_idle and rule is not None and rule.reply:
            later(state.customers.reply_delay, CUSTOMER_SAY, conv=conv.display_id, text=rule.reply)


def _react_call(state: SangomaState, event: DomainEvent, later: Any) -> None:
    call = look(state.calls, str(event.data.get("id")))
    if call is None:
        return
    callee = voice.callee_for(state, call.destination)
    if event.kind == "call.dialing":
        later(callee.ring_after, RING, call=call.id)
    elif event.kind == "call.connected" and callee.talk_seconds:
        later(callee.talk_seconds, HANG_UP, call=call.id)
    elif event.kind == "call.in-queue" and state.behaviour.auto:
        later(state.behaviour.queue_answer_delay, QUEUE_ANSWER, call=call.id)
    elif event.kind == "call.completed" and state.behaviour.auto:
        for queue in state.queues.values():
            if queue.waiting:
                later(state.behaviour.queue_answer_delay, QUEUE_ANSWER, call=queue.waiting[0])


# -- jobs -------------------------------------------------------------------------------------------------------------


def jobs(emu: Emulator) -> dict[str, JobHandler]:
    store = emu.store.of(SLUG, SangomaState)

    async def assign(vendor: str, tenant: str, args: Mapping[str, Any]) -> None:
        async with store.tenant(tenant, create=False) as tx:
            conv = tx.state.conversations.get(args["conv"])
            if conv is None or conv.status != ConversationStatus.OPEN or conv.assignee_id is not None:
                return
            agent = di.free_agent(tx.state)
            if agent is not None:
                emu.feed.act("agent", "assign", vendor, tenant, str(conv.id), tx.now(), agent=agent.id)
                di.assign(tx, conv, agent)

    def live(state: SangomaState, args: Mapping[str, Any]) -> Conversation | None:
        conv = state.conversations.get(args["conv"])
        if conv is None or conv.status != ConversationStatus.OPEN or conv.assignee_id != args["agent"]:
            return None
        return conv

    async def agent_type(vendor: str, tenant: str, args: Mapping[str, Any]) -> None:
        async with store.tenant(tenant, create=False) as tx:
            conv = live(tx.state, args)
            if conv is None:
                return
            if args.get("text"):
                emu.feed.act("agent", "typing", vendor, tenant, str(conv.id), tx.now(), agent=args["agent"])
                di.typing(tx, conv, tx.state.agents[args["agent"]], True)
                emu.scheduler.schedule_job(
                    tx.state.behaviour.typing_seconds, SAY, dict(args), vendor=vendor, tenant=tenant
                )
            elif args.get("resolve"):
                di.finish(tx, conv, tx.state.agents[args["agent"]].display_name)

    async def agent_say(vendor: str, tenant: str, args: Mapping[str, Any]) -> None:
        async with store.tenant(tenant, create=False) as tx:
            conv = live(tx.state, args)
            if conv is None:
                return
            agent = tx.state.agents[args["agent"]]
            emu.feed.act("agent", "say", vendor, tenant, str(conv.id), tx.now(), agent=agent.id, text=str(args["text"]))
            di.typing(tx, conv, agent, False)
            di.post_message(tx, conv, str(args["text"]), "outgoing", agent=agent)
            if args.get("resolve"):
                di.finish(tx, conv, agent.display_name)

    async def customer_say(vendor: str, tenant: str, args: Mapping[str, Any]) -> None:
        async with store.tenant(tenant, create=False) as tx:
            conv = tx.state.conversations.get(args["conv"])
            if conv is not None and conv.widget and not conv.customer_idle:
                emu.feed.act("customer", "say", vendor, tenant, str(conv.id), tx.now(), text=str(args["text"]))
                di.post_message(tx, conv, str(args["text"]), "incoming")

    async def ring(vendor: str, tenant: str, args: Mapping[str, Any]) -> None:
        async with store.tenant(tenant, create=False) as tx:
            call = tx.state.calls.get(args["call"])
            if call is None or call.state != CallState.DIALING:
                return
            voice.move(tx, call, CallState.RINGING)
            callee = voice.callee_for(tx.state, call.destination)
            delay = {"answer": callee.answer_after, "busy": callee.busy_after}.get(callee.outcome, callee.ring_timeout)
            emu.scheduler.schedule_job(delay, OUTCOME, {"call": call.id}, vendor=vendor, tenant=tenant)

    async def outcome(vendor: str, tenant: str, args: Mapping[str, Any]) -> None:
        async with store.tenant(tenant, create=False) as tx:
            call = tx.state.calls.get(args["call"])
            if call is None or call.state != CallState.RINGING:
                return
            result = voice.callee_for(tx.state, call.destination).outcome
            emu.feed.act("customer", result, vendor, tenant, call.id, tx.now())  # the callee answers, or does not
            if result == "answer":
                voice.answered(tx, call)
            else:
                voice.move(tx, call, CallState.BUSY if result == "busy" else CallState.NO_ANSWER)

    async def queue_answer(vendor: str, tenant: str, args: Mapping[str, Any]) -> None:
        async with store.tenant(tenant, create=False) as tx:
            call = tx.state.calls.get(args["call"])
            if call is None or call.state != CallState.IN_QUEUE or not tx.state.behaviour.auto:
                return
            queue = tx.state.queues.get(call.queue or "")
            if queue is not None and queue.waiting and queue.waiting[0] != call.id:
                call = tx.state.calls[queue.waiting[0]]  # first come, first served
            agent = voice.free_queue_agent(tx.state, call)
            if agent is not None:
                emu.feed.act("agent", "answer", vendor, tenant, call.id, tx.now(), agent=agent.id)
                voice.agent_answers(tx, call, agent)

    async def bot_failed(vendor: str, tenant: str, args: Mapping[str, Any]) -> None:
        async with store.tenant(tenant, create=False) as tx:
            conv = tx.state.conversations.get(args["conv"])
            if conv is not None:
                di.bot_failed(tx, conv)

    async def message_failed(vendor: str, tenant: str, args: Mapping[str, Any]) -> None:
        async with store.tenant(tenant, create=False) as tx:
            conv = tx.state.conversations.get(args["conv"])
            if conv is not None:
                di.message_failed(tx, conv, int(args["message"]), str(args["error"]))

    async def hang_up(vendor: str, tenant: str, args: Mapping[str, Any]) -> None:
        async with store.tenant(tenant, create=False) as tx:
            call = tx.state.calls.get(args["call"])
            if call is not None and call.state == CallState.CONNECTED:
                emu.feed.act("customer", "hang_up", vendor, tenant, call.id, tx.now())
                voice.hang_up(tx, call)

    return {
        ASSIGN: assign,
        TYPE: agent_type,
        SAY: agent_say,
        CUSTOMER_SAY: customer_say,
        RING: ring,
        OUTCOME: outcome,
        QUEUE_ANSWER: queue_answer,
        HANG_UP: hang_up,
        BOT_FAILED: bot_failed,
        MESSAGE_FAILED: message_failed,
    }
