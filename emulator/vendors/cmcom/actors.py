"""Simulated people on the CM side, as persistent jobs on the clock (cmcom.md §3.5).

- **End users' phones and apps**: each accepted message gets status reports: Accepted (by the operator)
  after `accepted_after`, Delivered (or Failed for an `unreachable` number) after `delivered_after`, Read
  after `read_after` on channels with read receipts. End users *send* by hand or by scenario (`control.py`),
  and by `end_user_rules` (an automatic answer to a matching message they receive).
- **Customer Contact agents**: after a hand-over an agent of the chat's team (or the generic inbox) takes
  the chat after `pickup_delay`, greets, answers each customer message by the first matching rule after
  `reply_delay`, and may hand back to the CmBot at a flow step.
- **The CmBot**: when enabled and positioned (a position request, a hand-back), it says its step after
  `bot_delay` and follows the customer's answers through its flow; a step may hand over with a Context.

Every job re-checks the chat when it runs, so a job made stale by something in between does nothing.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Mapping
from typing import Any

from emulator.core.clock import inline
from emulator.core.events import DomainEvent
from emulator.core.runtime import Emulator
from emulator.core.tracked import look
from emulator.vendors.cmcom import constants as c
from emulator.vendors.cmcom import router as rt
from emulator.vendors.cmcom import state as st
from emulator.vendors.cmcom.config import AgentRule, Behaviour

SLUG = c.SLUG
STATUS = f"{SLUG}.status"
PICKUP = f"{SLUG}.agent.pickup"
AGENT_SAY = f"{SLUG}.agent.say"
AGENT_REPLY = f"{SLUG}.agent.reply"
BOT_STEP = f"{SLUG}.bot.step"
BOT_ANSWER = f"{SLUG}.bot.answer"
END_USER_SAY = f"{SLUG}.end_user.say"
# Messages that reach an end user (their chat is the subject, or `chatId` for API sends).
TO_END_USER = ("message.sent", "agent.message", "bot.message")
STATUSES: dict[str, c.Status] = {str(status): status for status in c.Status}
"""A job's status (its text) as the enum member, found without `Status(...)`'s lookup (an `EnumType` call)."""


def pick_rule(behaviour: Behaviour, text: str) -> AgentRule | None:
    for rule in behaviour.agent_rules:
        if re.search(rule.match, text, flags=re.IGNORECASE):
            return rule
    if behaviour.agent_default_reply is not None:
        return AgentRule(match="", reply=behaviour.agent_default_reply)
    return None


def first_name(name: str) -> str:
    """The first word of a name that is not a title (Faker names may start with "Mr." or "Dr.")."""
    words = [w for w in name.split() if not w.endswith(".")]
    return words[0] if words else name


def fill(template: str, state: st.CmComState, chat: st.Chat) -> str:
    user = first_name(chat.client_name or "there")
    agent = look(state.agents, chat.agent or "")
    name = first_name(agent.name) if agent else "your agent"
    return template.replace("{user}", user).replace("{agent}", name).replace("{team}", chat.team or c.GENERIC_INBOX)


_REACTS_TO = frozenset((*TO_END_USER, "mo.received", "mo.plain", "router.position", "chat.handed_over", "agent.joined"))
"""The event kinds anyone reacts to: the others (a status report, a chat created, a mutation) schedule nothing, so
`react` returns before it reads anything (a sent message's two reports are two of its three events)."""


def react(emu: Emulator, event: DomainEvent) -> None:
    """Schedule what the simulated people do next (runs inside the commit; only schedules)."""
    kind = event.kind
    if kind not in _REACTS_TO:
        return
    state = st.store(emu).peek(event.tenant)
    if state is None:
        return
    behaviour = state.behaviour

    def later(delay: float, kind: str, **args: Any) -> None:
        emu.scheduler.schedule_job(delay, kind, args, vendor=SLUG, tenant=event.tenant)

    data = event.data
    if kind in TO_END_USER and behaviour.end_user_rules:
        text = str(data.get("text") or "")
        rule = next((r for r in behaviour.end_user_rules if re.search(r.match, text, flags=re.IGNORECASE)), None)
        if rule is not None:
            chat_id = data.get("chatId", event.subject)
            later(rule.after, END_USER_SAY, chat=chat_id, text=rule.reply)
    if kind == "message.sent":
        sent = look(state.sent, event.subject)  # reads only: marks nothing for the Redis commit (core.tracked)
        if sent is None:
            return
        reports = [(behaviour.accepted_after, c.ACCEPTED)]
        if behaviour.sent_after is not None:
            reports.append((behaviour.sent_after, c.SENT))
        final = c.FAILED if sent.number in state.unreachable else c.DELIVERED
        reports.append((behaviour.delivered_after, final))
        if final == c.DELIVERED and behaviour.read_after is not None and sent.channel in c.READ_RECEIPT_CHANNELS:
            reports.append((behaviour.read_after, c.READ))
        schedule = emu.scheduler.schedule_job
        for delay, statuses in status_batches(reports):
            schedule(delay, STATUS, {"msg": sent.id, "statuses": statuses}, vendor=SLUG, tenant=event.tenant)
        return
    chat = look(state.chats, event.subject)
    if chat is None:
        return
    seen = len(chat.transcript)
    if kind in ("mo.received", "mo.plain"):
        text = data["body"]["message"].get("text") or ""
        if chat.enabled(rt.BOT) and chat.position is not None:
            later(behaviour.bot_delay, BOT_ANSWER, chat=chat.id, text=text, seen=seen)
        elif chat.agent is not None and not chat.enabled(rt.BOT) and behaviour.agents_auto:
            later(behaviour.reply_delay, AGENT_REPLY, chat=chat.id, agent=chat.agent, text=text, seen=seen)
    elif kind == "router.position" and chat.enabled(rt.BOT):
        later(behaviour.bot_delay, BOT_STEP, chat=chat.id, flow=data["flowId"], step=data["stepId"])
    elif kind == "chat.handed_over" and behaviour.agents_auto:
        later(behaviour.pickup_delay, PICKUP, chat=chat.id, team=data["team"])
    elif kind == "agent.joined" and behaviour.agents_auto and behaviour.greeting:
        later(0.0, AGENT_SAY, chat=chat.id, agent=data["agent"], text=fill(behaviour.greeting, state, chat))


def status_batches(reports: list[tuple[float, c.Status]]) -> list[tuple[float, list[str]]]:
    """The status reports of one message as clock jobs: reports due after the same delay share one job (one unit
    of work, its reports in the order given), as the separate jobs at one instant would have run them."""
    batches: dict[float, list[str]] = {}
    for delay, status in reports:
        batches.setdefault(max(0.0, delay), []).append(str(status))
    return list(batches.items())


def jobs(emu: Emulator) -> dict[str, Any]:
    store = st.store(emu)

    async def reports(tenant: str, args: Mapping[str, Any]) -> None:
        statuses = args["statuses"] if "statuses" in args else [args["status"]]  # one report per job before
        async with store.tenant(tenant, create=False) as tx:
            st.advance_status(tx, str(args["msg"]), [STATUSES.get(s) or c.Status(s) for s in statuses])

    def status(vendor: str, tenant: str, args: Mapping[str, Any]) -> Awaitable[None] | None:
        return inline(reports(tenant, args))  # a message's reports wait for nothing: no task per message

    async def pickup(vendor: str, tenant: str, args: Mapping[str, Any]) -> None:
        async with store.tenant(tenant, create=False) as tx:
            chat = tx.state.chats.get(args["chat"])
            if chat is not None and chat.agent is None and not chat.enabled(rt.BOT) and chat.team == args["team"]:
                agent = rt.free_agent(tx.state, chat.team)
                if agent is not None:
                    emu.feed.act("agent", "take_over", vendor, tenant, chat.id, tx.now(), agent=agent)
                    rt.take_over(tx, chat, agent)

    async def agent_say(vendor: str, tenant: str, args: Mapping[str, Any]) -> None:
        async with store.tenant(tenant, create=False) as tx:
            chat = tx.state.chats.get(args["chat"])
            if chat is not None and chat.agent == args["agent"] and not chat.enabled(rt.BOT):
                emu.feed.act("agent", "say", vendor, tenant, chat.id, tx.now(), agent=chat.agent, text=args["text"])
                rt.agent_say(tx, chat, str(args["text"]))

    async def agent_reply(vendor: str, tenant: str, args: Mapping[str, Any]) -> None:
        async with store.tenant(tenant, create=False) as tx:
            chat = tx.state.chats.get(args["chat"])
            if chat is None or chat.agent != args["agent"] or chat.enabled(rt.BOT):
                return
            rule = pick_rule(tx.state.behaviour, str(args["text"]))
            if rule is None:
                return
            emu.feed.act("agent", "reply", vendor, tenant, chat.id, tx.now(), agent=chat.agent, text=rule.reply)
            if rule.reply:
                rt.agent_say(tx, chat, fill(rule.reply, tx.state, chat))
            if rule.hand_back:
                rt.hand_back(tx, chat, rule.flow, rule.step if rule.flow else None)

    async def bot_step(vendor: str, tenant: str, args: Mapping[str, Any]) -> None:
        async with store.tenant(tenant, create=False) as tx:
            chat = tx.state.chats.get(args["chat"])
            if chat is not None and chat.position == [args["flow"], args["step"]]:
                rt.bot_step(tx, chat)

    async def bot_answer(vendor: str, tenant: str, args: Mapping[str, Any]) -> None:
        async with store.tenant(tenant, create=False) as tx:
            chat = tx.state.chats.get(args["chat"])
            if chat is not None and rt.bot_answer(tx, chat, str(args["text"])):
                rt.bot_step(tx, chat)

    async def end_user_say(vendor: str, tenant: str, args: Mapping[str, Any]) -> None:
        async with store.tenant(tenant, create=False) as tx:
            chat = tx.state.chats.get(args["chat"])
            if chat is not None and chat.channel in tx.state.channels:
                emu.feed.act("customer", "say", vendor, tenant, chat.id, tx.now(), text=str(args["text"]))
                rt.customer_message(
                    tx, channel=chat.channel, client=chat.client, name=None, kind="text", text=str(args["text"])
                )

    return {
        END_USER_SAY: end_user_say,
        STATUS: status,
        PICKUP: pickup,
        AGENT_SAY: agent_say,
        AGENT_REPLY: agent_reply,
        BOT_STEP: bot_step,
        BOT_ANSWER: bot_answer,
    }
