"""Voice calls on the clock (sangoma.md §2.2): agent calls and queue callbacks. No I/O.

Sangoma publishes no call-status API and no call webhooks (§2.9), so a call's life is emulator behaviour
[inf], visible as domain events (`call.<state>`, in the control plane's SSE stream and state):

    agent call: dialing -> ringing -> answered -> connected -> completed   (or ringing -> busy / no-answer)
    queue call: dialing -> ringing -> answered -> in-queue -> connected (an agent answers) -> completed

What the callee does is configured per number (`callees`, else `callee`); `actors.py` drives the timers.
"""

from __future__ import annotations

from typing import Any

from emulator.vendors.sangoma import errors
from emulator.vendors.sangoma.config import CalleeBehaviour
from emulator.vendors.sangoma.constants import FINAL_CALL_STATES, CallState
from emulator.vendors.sangoma.state import CALL_ID, Agent, Call, S, SangomaState, agent_by_name

ALLOWED: dict[CallState, tuple[CallState, ...]] = {
    CallState.DIALING: (CallState.RINGING, CallState.BUSY, CallState.COMPLETED),
    CallState.RINGING: (CallState.ANSWERED, CallState.BUSY, CallState.NO_ANSWER, CallState.COMPLETED),
    CallState.ANSWERED: (CallState.CONNECTED, CallState.IN_QUEUE, CallState.COMPLETED),
    CallState.IN_QUEUE: (CallState.CONNECTED, CallState.COMPLETED),
    CallState.CONNECTED: (CallState.COMPLETED,),
}
"""The transitions a call may take (a hang-up may complete it from any live state)."""


def call_view(call: Call) -> dict[str, Any]:
    return {
        "id": call.id,
        "kind": call.kind,
        "destination": call.destination,
        "state": str(call.state),
        "agent": call.agent,
        "queue": call.queue,
        "created_at": call.created_at,
        "updated_at": call.updated_at,
        "history": list(call.history),
    }


def callee_for(state: SangomaState, number: str) -> CalleeBehaviour:
    return state.callees.get(number, state.callee)


def get_call(state: SangomaState, call_id: str) -> Call:
    call = state.calls.get(call_id)
    if call is None:
        raise errors.detail(404, f"Call {call_id} was not found.", code="not_found")
    return call


def move(tx: S, call: Call, to: CallState) -> None:
    if to not in ALLOWED.get(call.state, ()):
        raise errors.detail(409, f"Call {call.id} is {call.state}; it cannot become {to}.", code="invalid_state")
    call.state = to
    call.updated_at = tx.now()
    call.history.append({"state": str(to), "at": tx.now()})
    if to in FINAL_CALL_STATES:
        _release(tx.state, call)
    tx.emit(f"call.{to}", f"call:{call.id}", call_view(call))


def _release(state: SangomaState, call: Call) -> None:
    for agent in state.agents.values():
        if agent.call == call.id:
            agent.call = None
    if call.queue and call.queue in state.queues and call.id in state.queues[call.queue].waiting:
        state.queues[call.queue].waiting.remove(call.id)


def _new_call(tx: S, kind: str, destination: str, *, agent: str | None, queue: str | None) -> Call:
    now = tx.now()
    call = Call(
        id=tx.ids.new("call", CALL_ID),
        kind=kind,
        destination=destination,
        created_at=now,
        updated_at=now,
        agent=agent,
        queue=queue,
        history=[{"state": str(CallState.DIALING), "at": now}],
    )
    tx.state.calls[call.id] = call
    tx.emit("call.dialing", f"call:{call.id}", call_view(call))
    return call


def agent_call(tx: S, agent_name: str, destination: str) -> Call:
    """POST /agents/call/: the agent must exist and be logged in; the call is placed on their behalf."""
    state = tx.state
    agent = agent_by_name(state, agent_name)
    if agent is None:
        raise errors.agent_not_found(agent_name, state.tenant_domain)
    if not agent.logged_in:
        raise errors.agent_not_logged_in(agent_name)
    call = _new_call(tx, "agent", destination, agent=agent.name, queue=None)
    agent.call = call.id
    return call


def queue_call(tx: S, queue_name: str, destination: str) -> Call:
    """POST /queues/call/ ("CallBack Now"): dial out; once answered the call waits in the queue."""
    if queue_name not in tx.state.queues:
        raise errors.queue_not_found(queue_name, tx.state.tenant_domain)
    return _new_call(tx, "queue", destination, agent=None, queue=queue_name)


def answered(tx: S, call: Call) -> None:
    """The callee picks up: an agent call connects the agent, a queue call joins the queue."""
    move(tx, call, CallState.ANSWERED)
    if call.kind == "agent":
        move(tx, call, CallState.CONNECTED)
    else:
        move(tx, call, CallState.IN_QUEUE)
        assert call.queue is not None
        tx.state.queues[call.queue].waiting.append(call.id)


def free_queue_agent(state: SangomaState, call: Call) -> Agent | None:
    queue = state.queues.get(call.queue or "")
    if queue is None:
        return None
    for name in queue.agents:
        agent = agent_by_name(state, name)
        if agent is not None and agent.logged_in and agent.call is None:
            return agent
    return None


def agent_answers(tx: S, call: Call, agent: Agent) -> None:
    """An agent takes the queued call."""
    if call.state != CallState.IN_QUEUE:
        raise errors.detail(409, f"Call {call.id} is {call.state}, not waiting in a queue.", code="invalid_state")
    if agent.call is not None or not agent.logged_in:
        raise errors.detail(409, f"Agent {agent.name} cannot take a call now.", code="agent_busy")
    queue = tx.state.queues.get(call.queue or "")
    if queue is not None and call.id in queue.waiting:
        queue.waiting.remove(call.id)
    call.agent = agent.name
    agent.call = call.id
    move(tx, call, CallState.CONNECTED)


def hang_up(tx: S, call: Call) -> None:
    if call.state in FINAL_CALL_STATES:
        raise errors.detail(409, f"Call {call.id} is already over ({call.state}).", code="invalid_state")
    move(tx, call, CallState.COMPLETED)
