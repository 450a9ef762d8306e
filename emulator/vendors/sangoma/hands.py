"""Acting as a Sangoma person by hand: the web-widget customer, a CX agent, the callee of a call.

Shared by the control-plane routes (`control.py`) and scenario actions (`scenario.py`), so both go through
the same state functions and produce the same events and webhooks as simulated people do.
"""

from __future__ import annotations

from typing import Any

from emulator.core.errors import EmulatorError
from emulator.vendors.sangoma import accounts, di, voice
from emulator.vendors.sangoma.constants import CallState, ConversationStatus
from emulator.vendors.sangoma.state import Agent, Conversation, S, SangomaState, agent_by_name

DEFAULT_REFERER = "https://www.example.com/"


class HandError(EmulatorError):
    status_code = 409
    code = "rejected"


def start_customer(
    tx: S, inbox_id: int | None, name: str | None, email: str | None, text: str | None, referer: str | None
) -> dict[str, Any]:
    """A visitor opens the web widget (contact, webwidget_triggered) and, with `text`, writes the first
    message (which creates the conversation)."""
    state: SangomaState = tx.state
    if inbox_id is None:
        widgets = [i for i in state.inboxes.values() if i.channel_type == "Channel::WebWidget"]
        if not widgets:
            raise HandError("the tenant has no web widget inbox", status_code=404, code="no_inbox")
        inbox = widgets[0]
    else:
        inbox = state.inboxes.get(inbox_id) or _missing(f"no inbox {inbox_id}")
    fake = tx.ids.fake("customer")
    who = name or fake.name()
    mail = email if email is not None else fake.email()
    ci = accounts.widget_open(tx, inbox, who, mail, referer or inbox.website_url or DEFAULT_REFERER)
    conv = di.widget_message(tx, ci, text, referer or inbox.website_url or DEFAULT_REFERER) if text else None
    return {
        "contact_id": ci.contact_id,
        "source_id": ci.source_id,
        "inbox_id": inbox.id,
        "conversation_id": conv.display_id if conv else None,
    }


def _missing(text: str) -> Any:
    raise HandError(text, status_code=404, code="not_found")


def customer_act(tx: S, conv: Conversation, action: str, text: str | None) -> None:
    if action == "say":
        if not text:
            raise HandError("say needs text", status_code=400, code="invalid_request")
        conv.customer_idle = False
        di.post_message(tx, conv, text, "incoming")
    elif action == "idle":
        conv.customer_idle = True
        tx.emit("customer.idle", di.subject(conv), {"conversation_id": conv.display_id})
    else:
        conv.customer_idle = False
        tx.emit("customer.active", di.subject(conv), {"conversation_id": conv.display_id})


def _agent(state: SangomaState, conv: Conversation, name: str | None) -> Agent:
    if name is not None:
        agent = agent_by_name(state, name)
        if agent is None:
            raise HandError(f"no agent {name!r}", status_code=404, code="not_found")
        return agent
    if conv.assignee_id is not None:
        return state.agents[conv.assignee_id]
    free = di.free_agent(state)
    if free is None:
        raise HandError("no logged-in agent", code="no_agent")
    return free


def agent_act(tx: S, conv: Conversation, action: str, name: str | None, text: str | None) -> None:
    state: SangomaState = tx.state
    agent = _agent(state, conv, name)
    if action == "assign":
        di.assign(tx, conv, agent)
    elif action in ("typing", "stop_typing"):
        di.typing(tx, conv, agent, action == "typing")
    elif action in ("say", "note"):
        if not text:
            raise HandError(f"{action} needs text", status_code=400, code="invalid_request")
        if conv.assignee_id is None:
            di.assign(tx, conv, agent)
        di.post_message(tx, conv, text, "outgoing", agent=agent, private=action == "note")
    elif action == "resolve":
        di.finish(tx, conv, agent.display_name)
    else:
        di.set_status(tx, conv, ConversationStatus.PENDING, agent.display_name)


def call_act(tx: S, call_id: str, action: str, agent_name: str | None) -> dict[str, Any]:
    state: SangomaState = tx.state
    call = voice.get_call(state, call_id)
    if action == "answer":
        if call.state == CallState.DIALING:
            voice.move(tx, call, CallState.RINGING)
        voice.answered(tx, call)
    elif action in ("busy", "no_answer"):
        if call.state == CallState.DIALING:
            voice.move(tx, call, CallState.RINGING)
        voice.move(tx, call, CallState.BUSY if action == "busy" else CallState.NO_ANSWER)
    elif action == "agent_answer":
        agent = agent_by_name(state, agent_name) if agent_name else voice.free_queue_agent(state, call)
        if agent is None:
            raise HandError("no free agent for this call", code="no_agent")
        voice.agent_answers(tx, call, agent)
    else:
        voice.hang_up(tx, call)
    return voice.call_view(call)
