"""8x8 open auth: a new tenant takes the ids of its first request [inf]; used by `state.py`'s transitions.

A tenant open auth created (never a configured or provisioned one) has no channel or queue ids of its own
yet: the first unknown `channelId` it presents names its default channel, the first unknown queue id of an
assignment its default queue, so a client with the ids of 8x8's pages (or of its real tenant) works with no
config. The entity is renamed, with every reference to it, so every view shows the bound id; later unknown
ids are 8x8's errors. Binding happens in the tenant's unit of work, after every check of the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from emulator.vendors.eightbyeight import errors

if TYPE_CHECKING:
    from emulator.vendors.eightbyeight.state import Channel, EightByEightState


@dataclass(slots=True)
class Binding:
    """A rename the request will make once all its checks have passed."""

    old: str
    new: str


def channel_for(
    state: EightByEightState, channel_id: str | None, current: str | None = None
) -> tuple[Channel, Binding | None]:
    """The channel a request names (`channel_id`) or, naming none, the conversation's `current` one."""
    channel = state.channels.get(channel_id or current or "")
    if channel is not None:
        return channel, None
    if channel_id and state.channel_open and state.channels:
        default = next(iter(state.channels.values()))
        return default, Binding(default.id, channel_id)
    raise errors.general_error(errors.CODE_INVALID_CHANNEL, errors.INVALID_CHANNEL.format(channel_id=channel_id))


def queue_for(
    state: EightByEightState, assignment_type: str, assignment_id: str | None, channel: Channel
) -> tuple[str | None, Binding | None]:
    """The queue a conversation goes to, or None for a script assignment. Ids are matched after trimming
    spaces, as the seed sends `"id":" 123"` (eightbyeight.md §1.4)."""
    if assignment_type != "queue":
        return None, None
    if assignment_id is None:
        return channel.queue_id, None
    queue_id = assignment_id.strip()
    if queue_id in state.queues:
        return queue_id, None
    if state.queue_open and queue_id and state.queues:
        return queue_id, Binding(next(iter(state.queues)), queue_id)
    raise errors.invalid_queue(assignment_id)


def bind(state: EightByEightState, channel: Binding | None, queue: Binding | None) -> None:
    if channel is not None:
        bind_channel(state, channel.old, channel.new)
    if queue is not None:
        bind_queue(state, queue.old, queue.new)


def _renamed(entries: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    return {(new if key == old else key): value for key, value in entries.items()}


def bind_channel(state: EightByEightState, old: str, new: str) -> None:
    """The channel `old` is `new` from now on (see above)."""
    state.channels[old].id = new
    state.channels = _renamed(state.channels, old, new)
    for conv in state.conversations.values():
        if conv.channelId == old:
            conv.channelId = new
    state.channel_open = False


def bind_queue(state: EightByEightState, old: str, new: str) -> None:
    """The queue `old` is `new` from now on, for its agents, channels and conversations (see above)."""
    state.queues[old].id = new
    state.queues = _renamed(state.queues, old, new)
    for agent in state.agents.values():
        agent.queues = [new if q == old else q for q in agent.queues]
    for channel in state.channels.values():
        if channel.queue_id == old:
            channel.queue_id = new
    for conv in state.conversations.values():
        if conv.queue_id == old:
            conv.queue_id = new
        if conv.assignment_type == "queue" and conv.assignment_id == old:
            conv.assignment_id = new
    state.queue_open = False
