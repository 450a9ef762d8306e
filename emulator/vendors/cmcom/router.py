"""The Conversational (Bot) Router per chat: MO fan-out, mutations, positions, resets, agents and the CmBot
(cmcom.md §3.3, §3.5; the seed's hand-over / take-over / hand-back).

- A chat starts with `default_components` enabled. Customer Contact always gets a copy of every MO and is
  dormant while `CmBot` is enabled; disabling CmBot (hand-over, take-over) wakes it: the chat goes to the
  team whose values all appear in the mutation `Context`, else to the generic inbox.
- A disabled component receives nothing and its replies are refused (`state.send`).
- Every mutation and reset is recorded and notified to the other components (bodies: `views.py`; targets:
  `events.py`).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from emulator.core.errors import EmulatorError
from emulator.vendors.cmcom import constants as c
from emulator.vendors.cmcom import errors, views
from emulator.vendors.cmcom.config import Flow, FlowStep
from emulator.vendors.cmcom.numbers import guid_key, host_key, mo
from emulator.vendors.cmcom.state import REFERENCE, Chat, CmComState, Entry, S, components, open_chat

BOT = c.Component.CM_BOT
CC = c.Component.CUSTOMER_CONTACT


class Refused(EmulatorError):
    """A hand action that makes no sense in the chat's state (e.g. an agent speaks in a bot's chat)."""

    status_code = 409
    code = "refused"


def get_chat(state: CmComState, account_id: str, chat_id: str) -> Chat:
    if guid_key(account_id) != guid_key(state.account_id):
        raise errors.not_found(c.UNKNOWN_ACCOUNT.format(account_id=account_id))
    chat = state.chats.get(guid_key(chat_id))
    if chat is None:
        raise errors.not_found(c.UNKNOWN_CHAT.format(chat_id=chat_id, account_id=account_id))
    return chat


# -- customer messages ------------------------------------------------------------------------------------


def customer_message(
    tx: S, *, channel: str, client: str, name: str | None, kind: str, text: str | None,
    media: dict[str, Any] | None = None, custom: dict[str, Any] | None = None,
) -> Chat:  # fmt: skip
    """An end user's message (MO) arrives at the business number on `channel`."""
    state = tx.state
    if channel not in state.channels:
        raise Refused(f"channel {channel!r} is not configured on this account ({', '.join(state.channels)})")
    if name:
        state.names[client] = name
    chat = open_chat(tx, channel, client, _host(state))
    chat.client_name = state.names.get(client, chat.client_name)
    now = tx.now()
    data = {k: v for k, v in (("media", media), ("custom", custom)) if v}
    chat.transcript.append(Entry(now, "MO", mo(client), kind, text, data))
    parts = views.mo_parts(chat, client, text, media, custom)
    if state.router:
        body = views.router_mo(chat, parts, tx.ids.new("reference", REFERENCE), now, state.account_id)
        tx.emit("mo.received", chat.id, {"body": body, "components": list(chat.components), "kind": kind})
    else:
        body = views.plain_mo(chat, parts, chat.last_reference or tx.ids.new("reference", REFERENCE), now)
        tx.emit("mo.plain", chat.id, {"body": body, "kind": kind})
    return chat


def _host(state: CmComState) -> str:
    return host_key(state.business_number)


# -- control requests -------------------------------------------------------------------------------------


def check_mutations(state: CmComState, raw: Any) -> list[tuple[str, str]]:
    """Validate a `Mutations` array: [(type, component)]; raises problem details naming the field."""
    if not isinstance(raw, list) or not raw:
        raise errors.invalid("Mutations", c.REQUIRED.format(field="Mutations"))
    known = components(state)
    out: list[tuple[str, str]] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise errors.invalid(f"Mutations[{i}]", c.REQUIRED.format(field="$type"))
        kind, comp = item.get("$type"), item.get("ComponentId")
        if not isinstance(kind, str) or not kind:
            raise errors.invalid(f"Mutations[{i}].$type", c.REQUIRED.format(field="$type"))
        if kind not in (c.MutationType.ENABLE, c.MutationType.DISABLE):
            raise errors.invalid(f"Mutations[{i}].$type", c.UNKNOWN_MUTATION.format(value=kind))
        if not isinstance(comp, str) or not comp:
            raise errors.invalid(f"Mutations[{i}].ComponentId", c.REQUIRED.format(field="ComponentId"))
        if comp not in known:
            raise errors.invalid(
                f"Mutations[{i}].ComponentId", c.UNKNOWN_COMPONENT.format(value=comp, known=", ".join(known))
            )
        out.append((kind, comp))
    return out


def check_context(raw: Any) -> dict[str, str] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise errors.invalid("Context", c.CONTEXT_OBJECT)
    return {str(k): str(v) for k, v in raw.items()}


def find_step(state: CmComState, flow_id: str, step_id: str) -> tuple[Flow, FlowStep]:
    flow = next((f for f in state.flows if f.id == flow_id), None)
    if flow is None:
        raise errors.invalid("FlowId", c.UNKNOWN_FLOW.format(flow=flow_id))
    step = next((s for s in flow.steps if s.id == step_id), None)
    if step is None:
        raise errors.invalid("StepId", c.UNKNOWN_STEP.format(flow=flow_id, step=step_id))
    return flow, step


def team_for(state: CmComState, context: dict[str, str]) -> str:
    """The first team whose configured values all match the Context exactly, else the generic inbox."""
    for team in state.teams:
        if team.match and all(context.get(k) == v for k, v in team.match.items()):
            return team.name
    return c.GENERIC_INBOX


def mutate(tx: S, chat: Chat, mutations: list[tuple[str, str]], context: dict[str, str] | None, source: str) -> None:
    """Apply mutations from `source`; hand over to Customer Contact / back to the bot as CmBot goes off / on."""
    state = tx.state
    bot_before = chat.enabled(BOT)
    enabled = set(chat.components)
    for kind, comp in mutations:
        if kind == c.MutationType.ENABLE:
            enabled.add(comp)
        else:
            enabled.discard(comp)
    chat.components = [comp for comp in components(state) if comp in enabled]
    if context is not None:
        chat.context = dict(context)
    listed = [{"$type": kind, "ComponentId": comp} for kind, comp in mutations]
    chat.mutations.append({"at": tx.now(), "source": source, "mutations": listed, "context": context})
    body = views.notification(c.NOTIFICATION_TYPE, chat, state.account_id, source, listed, context, tx.now())
    named = [comp for _, comp in mutations]
    tx.emit("router.mutation", chat.id, {"body": body, "source": source, "components": list(chat.components),
                                         "named": named})  # fmt: skip
    bot_after = chat.enabled(BOT)
    if bot_before and not bot_after:
        chat.team, chat.agent = team_for(state, chat.context), None
        tx.emit("chat.handed_over", chat.id, {"team": chat.team, "context": dict(chat.context), "source": source})
    elif bot_after and not bot_before:
        released, chat.team, chat.agent = chat.agent, None, None
        tx.emit("chat.handed_back", chat.id, {"agent": released, "source": source})
    elif context is not None and not bot_after and chat.agent is None:
        chat.team = team_for(state, chat.context)


def position(tx: S, chat: Chat, flow_id: str, step_id: str) -> None:
    find_step(tx.state, flow_id, step_id)
    chat.position = [flow_id, step_id]
    tx.emit("router.position", chat.id, {"flowId": flow_id, "stepId": step_id})


def reset(tx: S, chat: Chat, source: str) -> None:
    """Back to the default routing: every mutation is cancelled (the seed's reset request)."""
    state = tx.state
    chat.components = list(state.default_components)
    chat.context, chat.position, chat.team, chat.agent = {}, None, None, None
    chat.mutations.append({"at": tx.now(), "source": source, "reset": True})
    body = views.notification(c.RESET_NOTIFICATION_TYPE, chat, state.account_id, source, [], None, tx.now())
    tx.emit("router.reset", chat.id, {"body": body, "source": source, "components": list(chat.components),
                                      "named": []})  # fmt: skip


# -- Customer Contact agents and the CmBot ----------------------------------------------------------------


def free_agent(state: CmComState, team: str | None) -> str | None:
    """The least busy agent of a team (the generic inbox's when the team has none)."""
    for wanted in (team, c.GENERIC_INBOX):
        pool = [a for a in state.agents.values() if a.team == wanted]
        if pool:
            load = Counter(ch.agent for ch in state.chats.values() if ch.agent is not None)  # one pass over the chats
            return min(pool, key=lambda a: (load[a.id], a.name)).id
    return None


def take_over(tx: S, chat: Chat, agent_id: str | None = None) -> str:
    """An agent takes the chat in Customer Contact; CmBot is switched off first if it was on (take-over)."""
    state = tx.state
    if agent_id is not None and agent_id not in state.agents:
        raise Refused(f"no Customer Contact agent {agent_id!r}")
    if chat.agent is not None and agent_id in (None, chat.agent):  # another agentId moves the chat to them
        raise Refused(f"{state.agents[chat.agent].name} holds chat {chat.id} already")
    if chat.enabled(BOT):
        mutate(tx, chat, [(c.MutationType.DISABLE, BOT)], None, CC)
    chosen = agent_id or free_agent(state, chat.team)
    if chosen is None:
        raise Refused("Customer Contact has no agents")
    chat.agent = chosen
    agent = state.agents[chosen]
    tx.emit("agent.joined", chat.id, {"agent": chosen, "name": agent.name, "team": chat.team})
    return chosen


def agent_say(tx: S, chat: Chat, text: str) -> None:
    if chat.agent is None or chat.enabled(BOT):
        raise Refused(f"no agent holds chat {chat.id}; take it over first")
    agent = tx.state.agents[chat.agent]
    _say(tx, chat, agent.name, text, "agent.message", {"agent": agent.id})


def hand_back(tx: S, chat: Chat, flow_id: str | None = None, step_id: str | None = None) -> None:
    """The agent hands the chat back to the bot: enable CmBot, then a position request when given."""
    if chat.enabled(BOT):
        raise Refused(f"chat {chat.id} is with the bot already")
    if flow_id is not None:
        find_step(tx.state, flow_id, step_id or "")
    mutate(tx, chat, [(c.MutationType.ENABLE, BOT)], None, CC)
    if flow_id is not None:
        position(tx, chat, flow_id, step_id or "")


def bot_step(tx: S, chat: Chat) -> None:
    """The CmBot says the step it is positioned at (and hands over when the step says so)."""
    if chat.position is None or not chat.enabled(BOT):
        return
    _, step = find_step(tx.state, *chat.position)
    _say(tx, chat, BOT, step.text, "bot.message", {"flowId": chat.position[0], "stepId": step.id})
    if step.handover is not None:
        mutate(tx, chat, [(c.MutationType.DISABLE, BOT)], dict(step.handover), BOT)


def bot_answer(tx: S, chat: Chat, text: str) -> bool:
    """Move the CmBot along its flow on a customer's answer; True when it has something to say."""
    if chat.position is None or not chat.enabled(BOT):
        return False
    flow, step = find_step(tx.state, *chat.position)
    options = {k.strip().lower(): v for k, v in step.options.items()}
    nxt = options.get(text.strip().lower(), step.fallback)
    if nxt is None or not any(s.id == nxt for s in flow.steps):
        return False
    chat.position = [flow.id, nxt]
    return True


def _say(tx: S, chat: Chat, by: str, text: str, kind: str, extra: dict[str, Any]) -> None:
    message_id = tx.ids.new("message", REFERENCE)
    chat.transcript.append(Entry(tx.now(), "MT", by, "text", text, {}, message_id))
    tx.emit(kind, chat.id, {"by": by, "text": text, "messageId": message_id, "channel": chat.channel, **extra})
