"""The Contact Center side of an 8x8 conversation: the assignment machine queue -> agent -> queue
(eightbyeight.md §1.7 rows 5-9). An agent joins, types, says, transfers to another queue or leaves; each
transition validates first, then mutates `tx.state` and records its domain events, as in `state.py`.
The interaction ends here too: the agent or the user leaving, a post-agent assignment running out
(eightbyeight.md §1.4, §1.7 rows 9-10). `actors.py` (simulated agents), `hands.py` (act by hand) and
`routes.py` are the callers.
"""

from __future__ import annotations

from emulator.vendors.eightbyeight import errors, stays, views
from emulator.vendors.eightbyeight import state as st
from emulator.vendors.eightbyeight.constants import ConversationState
from emulator.vendors.eightbyeight.models import CardPayload


def free_agent(state: st.EightByEightState, queue_id: str) -> st.Agent | None:
    """The least busy agent of a queue with room for one more conversation (ties: configuration order)."""
    candidates = [a for a in state.agents.values() if queue_id in a.queues and len(a.handling) < a.capacity]
    return min(candidates, key=lambda a: len(a.handling)) if candidates else None


def get_agent(state: st.EightByEightState, agent_id: str) -> st.Agent:
    agent = state.agents.get(agent_id)
    if agent is None:
        raise errors.general_error(
            errors.CODE_INVALID_AGENT, errors.AGENT_MISSING.format(agent_id=agent_id), status_code=404
        )
    return agent


def _require_agent(conv: st.Conversation) -> str:
    if conv.agent_id is None:
        text = errors.NO_AGENT.format(conversation_id=conv.id)
        raise errors.general_error(errors.CODE_NO_AGENT, text, status_code=409)
    return conv.agent_id


def agent_join(tx: st.S, conv: st.Conversation, agent: st.Agent) -> None:
    """An agent accepts the offer: MEMBERS_CHANGED(agent joined) + CONVERSATION_UPDATE(agent)."""
    if conv.interaction is None or conv.agent_id is not None:
        text = errors.NOT_QUEUED.format(conversation_id=conv.id)
        raise errors.general_error(errors.CODE_NOT_QUEUED, text, status_code=409)
    if len(agent.handling) >= agent.capacity:
        text = errors.AGENT_BUSY.format(agent_id=agent.id)
        raise errors.general_error(errors.CODE_AGENT_BUSY, text, status_code=409)
    state = tx.state
    if conv.id in state.waiting:
        state.waiting.remove(conv.id)
    conv.agent_id = agent.id
    conv.assignment_type, conv.assignment_id = "agent", agent.id
    agent.handling.append(conv.id)
    stays.visit_accepted(tx, conv, agent.id)
    known = next((p for p in conv.participants if p.id == agent.id), None)
    if known is None:
        conv.participants.append(st.Participant(id=agent.id, type="agent", name=agent.name, language="en"))
    else:
        known.removed = False
    tx.emit("member.joined", conv.id, {"memberType": "agent", "id": agent.id, "name": agent.name})
    tx.emit("conversation.updated", conv.id, views.conversation_view(conv))


def agent_typing(tx: st.S, conv: st.Conversation, typing: bool) -> None:
    agent_id = _require_agent(conv)
    users = [{"type": "agent", "id": agent_id}] if typing else []
    tx.emit("activity", conv.id, {"name": "typing", "value": {"users": users}})


def agent_say(tx: st.S, conv: st.Conversation, text: str, cards: list[CardPayload] | None = None) -> st.Message:
    agent_id = _require_agent(conv)
    msg = st.Message(
        id=tx.ids.new("message", st.MESSAGE_ID),
        text=text,
        at=tx.now(),
        author_id=agent_id,
        author_type="agent",
        cards=st.cards_of(tx, cards),
    )
    conv.messages.append(msg)
    agent = tx.state.agents.get(agent_id)
    view = views.message_view(conv, msg, echo=False)
    data = {"message": view, "deliver": True, "messageId": msg.id, "agentName": agent.name if agent else ""}
    tx.emit("message.created", conv.id, data)
    return msg


def agent_transfer(tx: st.S, conv: st.Conversation, queue_id: str) -> None:
    """The agent transfers to another queue: TRANSFER, agent left, QUEUED(new queue) (§1.7 row 7)."""
    _require_agent(conv)
    if queue_id not in tx.state.queues:
        raise errors.invalid_queue(queue_id)
    tx.emit("conversation.transferred", conv.id, {"queueId": queue_id})
    agent_out(tx, conv)
    conv.assignment_type, conv.assignment_id, conv.queue_id = "queue", queue_id, queue_id
    st.enqueue(tx, conv)


def queue_transfer(tx: st.S, conv: st.Conversation, queue_id: str) -> None:
    """A waiting conversation moves to another queue (out-of-hours treatment, schedules.py): TRANSFER, QUEUED."""
    tx.emit("conversation.transferred", conv.id, {"queueId": queue_id})
    conv.assignment_type, conv.assignment_id, conv.queue_id = "queue", queue_id, queue_id
    st.enqueue(tx, conv)


def agent_leave(tx: st.S, conv: st.Conversation) -> None:
    """The agent ends the interaction: agent left + CONVERSATION_UPDATE(idle) (§1.7 row 9)."""
    _require_agent(conv)
    agent_out(tx, conv)
    if conv.post_agent is not None and not conv.post_agent.active and conv.post_agent.ended_at is None:
        conv.post_agent.active = True
        if conv.queue_id is not None:
            conv.assignment_type, conv.assignment_id = "queue", conv.queue_id
        tx.emit("conversation.post_agent", conv.id, {"webhookId": conv.post_agent.webhook_id})
        return
    end_interaction(tx, conv)


def agent_out(tx: st.S, conv: st.Conversation) -> str | None:
    agent_id = conv.agent_id
    if agent_id is None:
        return None
    conv.agent_id = None
    stays.visit_end(tx, conv)
    agent = tx.state.agents.get(agent_id)
    if agent is not None and conv.id in agent.handling:
        agent.handling.remove(conv.id)
    for p in conv.participants:
        if p.id == agent_id:
            p.removed = True
    tx.emit("member.left", conv.id, {"memberType": "agent", "id": agent_id, "name": agent.name if agent else ""})
    return agent_id


def end_interaction(tx: st.S, conv: st.Conversation) -> None:
    if conv.id in tx.state.waiting:
        tx.state.waiting.remove(conv.id)
    stays.visit_end(tx, conv)
    interaction = conv.interaction
    if interaction is not None:
        interaction.end = tx.now()
    if conv.state != ConversationState.IDLE:
        st.move(conv, "end")
    if conv.queue_id is not None:
        conv.assignment_type, conv.assignment_id = "queue", conv.queue_id
    tx.emit("conversation.idle", conv.id, views.conversation_view(conv))


def user_leave(tx: st.S, conv: st.Conversation) -> None:
    """PATCH …/participants/user {removed: true}: user left, agent left if present, idle (§1.7 row 10)."""
    if conv.state == ConversationState.IDLE and conv.interaction is None:
        return
    for p in conv.participants:
        if p.id == conv.user_participant:
            p.removed = True
    tx.emit(
        "member.left", conv.id, {"memberType": "user", "id": conv.user_participant, "name": conv.user.get("name", "")}
    )
    agent_out(tx, conv)
    end_interaction(tx, conv)


def set_post_agent(
    tx: st.S, conv: st.Conversation, webhook_id: str, notify: bool, max_total: int | None, timeout: int | None
) -> None:
    if webhook_id not in tx.state.webhooks:
        text = errors.WEBHOOK_MISSING.format(webhook_id=webhook_id)
        raise errors.invalid_parameter(conv.id, tx.state.tenant_id, text)
    conv.post_agent = st.PostAgent(
        webhook_id=webhook_id, notify_channel=notify, max_total_minutes=max_total, user_timeout_minutes=timeout
    )


def end_post_agent(tx: st.S, conv: st.Conversation) -> None:
    """The post-agent-assignment phase is over (maxTotalMinutes): the interaction ends."""
    if conv.post_agent is not None:
        conv.post_agent.active = False
        conv.post_agent.ended_at = tx.now()  # events.outbound still sends this last update to the bot
    end_interaction(tx, conv)
