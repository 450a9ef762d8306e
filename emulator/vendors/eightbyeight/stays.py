"""Queue stays, what the real-time metrics count (`metrics.py`): a conversation's stay in a queue starts on QUEUED,
is accepted when an agent joins, and ends when the agent leaves or the interaction ends without one.

A conversation's current stay is on the conversation (`Conversation.visit`); when it ends it moves to the tenant's
`queue_log`, which keeps ended stays in the order they ended for two days, so every step is O(1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from emulator.core.store import Tx

if TYPE_CHECKING:
    from emulator.vendors.eightbyeight.state import Conversation, EightByEightState

QUEUE_LOG_SECONDS = 2 * 86_400.0  # long enough for any `today` in any time zone


@dataclass(slots=True)
class QueueVisit:
    """One stay of a conversation in a queue, for the real-time metrics (metrics.py): entered on QUEUED,
    accepted when an agent joins, ended when the agent leaves or the interaction ends without one."""

    queue_id: str
    conversation: str
    entered: float
    accepted: float | None = None
    agent_id: str | None = None
    ended: float | None = None


def visit_start(tx: Tx[EightByEightState], conv: Conversation, queue_id: str) -> None:
    visit_end(tx, conv)
    conv.visit = QueueVisit(queue_id, conv.id, tx.now())


def visit_accepted(tx: Tx[EightByEightState], conv: Conversation, agent_id: str) -> None:
    if conv.visit is not None and conv.visit.accepted is None:
        conv.visit.accepted, conv.visit.agent_id = tx.now(), agent_id


def visit_end(tx: Tx[EightByEightState], conv: Conversation) -> None:
    visit, conv.visit = conv.visit, None
    if visit is None:
        return
    now = tx.now()
    visit.ended = now
    log: list[QueueVisit] = tx.state.queue_log
    while log and (log[0].ended or 0.0) < now - QUEUE_LOG_SECONDS:
        log.pop(0)
    log.append(visit)


def queue_visits(state: EightByEightState) -> list[QueueVisit]:
    """Every stay the metrics can count: the ended ones, then the ongoing ones (waiting or with an agent)."""
    ongoing = [*state.waiting, *(c for a in state.agents.values() for c in a.handling)]
    current = [v for c in dict.fromkeys(ongoing) if (conv := state.conversations.get(c)) and (v := conv.visit)]
    return [*state.queue_log, *current]
