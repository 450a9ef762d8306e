"""Act by hand in an 8x8 tenant: what a Contact Center agent or the customer does, one action at a time.

Used by both the control plane (`control.py`, `POST …/conversations/{id}/agent`) and scenario files
(`scenario.py`, the `agent` and `customer` actor actions), so both go through the same state functions and
emit the same events and webhooks. Errors are `EmulatorError`s (8x8's own where state raises them); each
caller renders them in its own envelope.

| agent action | what it does |
|---|---|
| `join` | the agent `agent_id`, else the least busy free agent of the conversation's queue, joins |
| `typing` / `stop_typing` | the typing indicator on / off |
| `say` | a message (`text`, optional `cards`) |
| `transfer` | to the queue `queue_id` |
| `leave` | the agent ends the interaction |

Customer actions: `say` (a user message, as POST …/messages) and `leave` (as PATCH …/participants/user).
"""

from __future__ import annotations

from typing import Final, Literal

from emulator.core.errors import EmulatorError
from emulator.core.store import Tx
from emulator.vendors.eightbyeight import assignment as asg
from emulator.vendors.eightbyeight import state as st
from emulator.vendors.eightbyeight.models import CardPayload, SendMessageRequest

AgentVerb = Literal["join", "typing", "stop_typing", "say", "transfer", "leave"]
CustomerVerb = Literal["say", "leave"]
NO_FREE_AGENT: Final = "no free agent in queue {queue} for conversation {conversation}"


def agent_act(
    tx: Tx[st.EightByEightState],
    conv: st.Conversation,
    verb: AgentVerb,
    *,
    agent_id: str | None = None,
    text: str | None = None,
    cards: list[CardPayload] | None = None,
    queue_id: str | None = None,
) -> None:
    """One agent action on `conv` (see the module docstring)."""
    if verb == "join":
        asg.agent_join(tx, conv, _joining(tx.state, conv, agent_id))
    elif verb in ("typing", "stop_typing"):
        asg.agent_typing(tx, conv, verb == "typing")
    elif verb == "say":
        if text is None:
            raise EmulatorError("say needs text", status_code=400, code="invalid_request")
        asg.agent_say(tx, conv, text, cards)
    elif verb == "transfer":
        if queue_id is None:
            raise EmulatorError("transfer needs queueId", status_code=400, code="invalid_request")
        asg.agent_transfer(tx, conv, queue_id)
    else:
        asg.agent_leave(tx, conv)


def _joining(state: st.EightByEightState, conv: st.Conversation, agent_id: str | None) -> st.Agent:
    if agent_id is not None:
        return asg.get_agent(state, agent_id)
    free = asg.free_agent(state, conv.queue_id) if conv.queue_id else None
    if free is None:
        text = NO_FREE_AGENT.format(queue=conv.queue_id, conversation=conv.id)
        raise EmulatorError(text, status_code=409, code="no_agent")
    return free


def customer_act(
    tx: Tx[st.EightByEightState], conv: st.Conversation, verb: CustomerVerb, *, text: str | None, echo: bool
) -> None:
    """One customer action on `conv`: `say` posts a user message, `leave` removes the user."""
    if verb == "say":
        message = SendMessageRequest.model_validate({"authorType": "user", "text": text})
        st.post_message(tx, conv, message, echo=echo)
    else:
        asg.user_leave(tx, conv)
