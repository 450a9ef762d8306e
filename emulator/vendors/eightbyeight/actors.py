"""Simulated 8x8 agents: they react to domain events by scheduling persistent jobs on the clock.

With the default behaviour (`config.AgentBehaviour`) a created conversation becomes active and is queued,
a free agent of the queue joins after `join_delay`, greets (typing first), answers each customer message
by the first matching rule (reply, transfer to a queue, or leave) after `reply_delay`, and ends the
interaction after `leave_after_idle` seconds without a customer message. When an agent frees up, the
oldest waiting conversation of its queues is offered to it. With `queue_timeout` set, a conversation no
agent joined within that many seconds of QUEUED leaves the queue and ends idle: one CONVERSATION_UPDATE
(state idle, assignment still the queue) and nothing else [inf].

Open hours (`schedules.py`): a queue naming a tenant schedule is served only while the schedule is open. Outside
it the offer does not go to an agent; by the queue's `out_of_hours` the conversation waits and is offered again
when the schedule opens (`queue`), ends idle at once (`reject`), or is transferred to `treatment_queue`
(`treatment`; when that queue is closed too, it waits) [inf].

Every job re-checks the conversation when it runs (same interaction, same agent), so a job made stale by
something that happened in between (the customer left, a transfer) does nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from emulator.core.events import DomainEvent
from emulator.core.runtime import Emulator
from emulator.core.store import Tx
from emulator.core.tracked import look
from emulator.vendors.eightbyeight import assignment as asg
from emulator.vendors.eightbyeight import state as st
from emulator.vendors.eightbyeight.config import AgentBehaviour, ReplyRule
from emulator.vendors.eightbyeight.constants import SLUG, ConversationState
from emulator.vendors.eightbyeight.schedules import queue_open, queue_opening

ACTIVATE = f"{SLUG}.activate"
OFFER = f"{SLUG}.offer"
TYPE = f"{SLUG}.agent.type"
SAY = f"{SLUG}.agent.say"
IDLE_CHECK = f"{SLUG}.agent.idle_check"
POST_AGENT_END = f"{SLUG}.post_agent.end"
POST_AGENT_USER_TIMEOUT = f"{SLUG}.post_agent.user_timeout"
QUEUE_TIMEOUT = f"{SLUG}.queue_timeout"


def _state(emu: Emulator, tenant: str) -> st.EightByEightState | None:
    """`emu.store.of(SLUG, EightByEightState).peek(tenant)`, without the typed view's two calls (every event)."""
    state = emu.store.peek(SLUG, tenant)
    return state if isinstance(state, st.EightByEightState) else None


def _user_messages(conv: st.Conversation) -> int:
    return sum(1 for m in conv.messages if m.author_type == "user")


def fill(template: str, conv: st.Conversation, agent: st.Agent | None) -> str:
    """`{user}` and `{agent}` in an agent's message, as their first names."""
    user = str(conv.user.get("name") or "there").split(" ")[0]
    agent_name = agent.name.split(" ")[0] if agent else "your agent"
    return template.replace("{user}", user).replace("{agent}", agent_name)


def pick_rule(behaviour: AgentBehaviour, text: str) -> ReplyRule | None:
    for rule in behaviour.rules:
        if re.search(rule.match, text, flags=re.IGNORECASE):
            return rule
    if behaviour.default_reply is not None:
        return ReplyRule(match="", reply=behaviour.default_reply)
    return None


# -- reacting to events -----------------------------------------------------------------------------------


def on_event(emu: Emulator, event: DomainEvent) -> None:
    """Schedule what simulated agents do next (runs inside the commit; must only schedule)."""
    state = _state(emu, event.tenant)
    if state is None:
        return
    behaviour = state.behaviour
    kind = event.kind
    if kind == "message.created":  # every message: nothing to schedule unless one of its two branches below holds
        sender = event.data["message"]["sender"]["type"]
        if sender != "bot" and (sender != "user" or not behaviour.auto):
            return
    conv = look(state.conversations, event.subject)  # reads only: marks nothing for the Redis commit (core.tracked)
    sched = emu.scheduler

    def later(delay: float, kind: str, **args: Any) -> None:
        sched.schedule_job(delay, kind, {"conv": event.subject, **args}, vendor=SLUG, tenant=event.tenant)

    if kind == "conversation.created":
        later(behaviour.interaction_delay, ACTIVATE)
        return
    if conv is None or conv.interaction is None:
        return
    interaction = conv.interaction.id
    if kind == "conversation.queued" and behaviour.queue_timeout:
        later(behaviour.queue_timeout, QUEUE_TIMEOUT, interaction=interaction, queue=event.data["queueId"])
    if kind == "conversation.queued" and behaviour.auto:
        queue = look(state.queues, event.data["queueId"])
        closed = queue is not None and not queue_open(state, queue, emu.scheduler.now(event.tenant))
        at_once = closed and queue is not None and queue.out_of_hours != "queue"
        later(0.0 if at_once else behaviour.join_delay, OFFER, interaction=interaction)
    elif kind == "member.joined" and event.data["memberType"] == "agent" and behaviour.auto:
        agent = event.data["id"]
        if behaviour.greeting:
            greeting = fill(behaviour.greeting, conv, look(state.agents, agent))
            later(0.0, TYPE, interaction=interaction, agent=agent, text=greeting, then=None)
        if behaviour.leave_after_idle:
            later(
                behaviour.leave_after_idle, IDLE_CHECK, interaction=interaction, agent=agent, seen=_user_messages(conv)
            )
    elif kind == "message.created" and event.data["message"]["sender"]["type"] == "user" and behaviour.auto:
        if conv.agent_id is None:
            return
        rule = pick_rule(behaviour, event.data["message"]["text"])
        agent_id = conv.agent_id
        if rule is not None:
            then = f"transfer:{rule.transfer_to}" if rule.transfer_to else ("leave" if rule.leave else None)
            text = fill(rule.reply, conv, look(state.agents, agent_id)) if rule.reply else None
            later(behaviour.reply_delay, TYPE, interaction=interaction, agent=agent_id, text=text, then=then)
        if behaviour.leave_after_idle:
            seen = _user_messages(conv)
            later(behaviour.leave_after_idle, IDLE_CHECK, interaction=interaction, agent=agent_id, seen=seen)
    elif kind == "message.created" and event.data["message"]["sender"]["type"] == "bot":
        post = conv.post_agent
        if post is not None and post.active and post.user_timeout_minutes:
            # eightbyeight.md §1.4: the conversation ends when the user is silent this long after the bot
            later(
                post.user_timeout_minutes * 60.0,
                POST_AGENT_USER_TIMEOUT,
                interaction=interaction,
                seen=_user_messages(conv),
            )
    elif kind == "conversation.post_agent":
        post = conv.post_agent
        if post is not None and post.max_total_minutes:
            later(post.max_total_minutes * 60.0, POST_AGENT_END, interaction=interaction)


def on_agent_freed(emu: Emulator, event: DomainEvent) -> None:
    """An agent left a conversation: offer it the oldest waiting conversation of its queues."""
    if event.kind != "member.left" or event.data["memberType"] != "agent":
        return
    state = _state(emu, event.tenant)
    if state is None or not state.behaviour.auto:
        return
    agent = look(state.agents, event.data["id"])
    if agent is None:
        return
    for conv_id in state.waiting:
        conv = look(state.conversations, conv_id)
        if conv is not None and conv.queue_id in agent.queues and conv.interaction is not None:
            args = {"conv": conv_id, "interaction": conv.interaction.id}
            emu.scheduler.schedule_job(state.behaviour.join_delay, OFFER, args, vendor=SLUG, tenant=event.tenant)
            return


_REACTS_TO = frozenset(
    {"conversation.created", "conversation.queued", "member.joined", "message.created", "conversation.post_agent"}
)
"""The kinds `on_event` schedules something for (`on_agent_freed`'s is `member.left`): other events cost one test."""


def react(emu: Emulator, event: DomainEvent) -> None:
    kind = event.kind
    if kind in _REACTS_TO:
        on_event(emu, event)
    elif kind == "member.left":
        on_agent_freed(emu, event)


# -- jobs -------------------------------------------------------------------------------------------------


def _live(tx: Tx[st.EightByEightState], args: Mapping[str, Any]) -> st.Conversation | None:
    """The conversation if it is still in the interaction (and with the agent) the job was made for."""
    conv = tx.state.conversations.get(args["conv"])
    if conv is None:
        return None
    if "interaction" in args and (conv.interaction is None or conv.interaction.id != args["interaction"]):
        return None
    if "agent" in args and conv.agent_id != args["agent"]:
        return None
    return conv


def jobs(emu: Emulator) -> dict[str, Any]:
    store = emu.store.of(SLUG, st.EightByEightState)

    async def activate(vendor: str, tenant: str, args: Mapping[str, Any]) -> None:
        async with store.tenant(tenant, create=False) as tx:
            conv = tx.state.conversations.get(args["conv"])
            if conv is not None and conv.state == ConversationState.CREATED:
                st.activate(tx, conv)

    async def offer(vendor: str, tenant: str, args: Mapping[str, Any]) -> None:
        async with store.tenant(tenant, create=False) as tx:
            conv = _live(tx, args)
            if conv is None or conv.agent_id is not None or conv.id not in tx.state.waiting or conv.queue_id is None:
                return
            # first come, first served: an older waiting conversation of the same queue goes first
            for older in tx.state.waiting:
                if older == conv.id:
                    break
                other = tx.state.conversations.get(older)
                if other is not None and other.queue_id == conv.queue_id:
                    conv = other
                    break
            if not _serve(emu, tx, conv, args):
                return
            agent = asg.free_agent(tx.state, conv.queue_id) if conv.queue_id else None
            if agent is not None:
                emu.feed.act("agent", "join", vendor, tenant, conv.id, tx.now(), agent=agent.id)
                asg.agent_join(tx, conv, agent)

    async def agent_type(vendor: str, tenant: str, args: Mapping[str, Any]) -> None:
        async with store.tenant(tenant, create=False) as tx:
            conv = _live(tx, args)
            if conv is None:
                return
            if args.get("text"):
                emu.feed.act("agent", "typing", vendor, tenant, conv.id, tx.now(), agent=conv.agent_id)
                asg.agent_typing(tx, conv, True)
                delay = tx.state.behaviour.typing_seconds
                emu.scheduler.schedule_job(delay, SAY, dict(args), vendor=vendor, tenant=tenant)
            else:
                _then(tx, conv, args.get("then"))

    async def agent_say(vendor: str, tenant: str, args: Mapping[str, Any]) -> None:
        async with store.tenant(tenant, create=False) as tx:
            conv = _live(tx, args)
            if conv is None:
                return
            emu.feed.act("agent", "say", vendor, tenant, conv.id, tx.now(), agent=conv.agent_id, text=str(args["text"]))
            asg.agent_typing(tx, conv, False)
            asg.agent_say(tx, conv, str(args["text"]))
            _then(tx, conv, args.get("then"))

    async def idle_check(vendor: str, tenant: str, args: Mapping[str, Any]) -> None:
        async with store.tenant(tenant, create=False) as tx:
            conv = _live(tx, args)
            if conv is not None and _user_messages(conv) == args["seen"]:
                emu.feed.act("agent", "leave", vendor, tenant, conv.id, tx.now(), agent=conv.agent_id)
                asg.agent_leave(tx, conv)

    async def post_agent_end(vendor: str, tenant: str, args: Mapping[str, Any]) -> None:
        async with store.tenant(tenant, create=False) as tx:
            conv = _live(tx, args)
            if conv is not None and conv.post_agent is not None and conv.post_agent.active:
                asg.end_post_agent(tx, conv)

    async def post_agent_user_timeout(vendor: str, tenant: str, args: Mapping[str, Any]) -> None:
        async with store.tenant(tenant, create=False) as tx:
            conv = _live(tx, args)
            post = conv.post_agent if conv is not None else None
            if conv is not None and post is not None and post.active and _user_messages(conv) == args["seen"]:
                asg.end_post_agent(tx, conv)

    async def queue_timeout(vendor: str, tenant: str, args: Mapping[str, Any]) -> None:
        async with store.tenant(tenant, create=False) as tx:
            conv = _live(tx, args)
            if (
                conv is not None
                and conv.agent_id is None
                and conv.id in tx.state.waiting
                and conv.queue_id == args["queue"]
            ):
                asg.end_interaction(tx, conv)  # no agent came: the interaction ends idle, in its queue

    return {
        ACTIVATE: activate,
        QUEUE_TIMEOUT: queue_timeout,
        POST_AGENT_USER_TIMEOUT: post_agent_user_timeout,
        OFFER: offer,
        TYPE: agent_type,
        SAY: agent_say,
        IDLE_CHECK: idle_check,
        POST_AGENT_END: post_agent_end,
    }


def _serve(emu: Emulator, tx: Tx[st.EightByEightState], conv: st.Conversation, args: Mapping[str, Any]) -> bool:
    """Whether the conversation's queue is open now; if not, apply its out-of-hours treatment (module docstring)."""
    state, now = tx.state, tx.now()
    queue = state.queues.get(conv.queue_id or "")
    if queue is None or queue_open(state, queue, now):
        return True
    treatment = state.queues.get(queue.treatment_queue or "")
    if queue.out_of_hours == "reject":
        asg.end_interaction(tx, conv)
    elif queue.out_of_hours == "treatment" and treatment is not None and queue_open(state, treatment, now):
        asg.queue_transfer(tx, conv, treatment.id)
    else:
        opening = queue_opening(state, queue, now)
        if opening is not None:
            delay = opening - now + state.behaviour.join_delay
            emu.scheduler.schedule_job(delay, OFFER, dict(args), vendor=SLUG, tenant=tx.tenant)
    return False


def _then(tx: Tx[st.EightByEightState], conv: st.Conversation, then: str | None) -> None:
    if then == "leave":
        asg.agent_leave(tx, conv)
    elif then and then.startswith("transfer:"):
        queue = then.split(":", 1)[1]
        if queue in tx.state.queues:
            asg.agent_transfer(tx, conv, queue)
