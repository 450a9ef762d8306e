"""Digital Interactions transitions with Chatwoot semantics (sangoma.md §2.4, §2.7). No I/O.

Each function validates, then mutates `tx.state`, then records Chatwoot events with `tx.emit(<event name>,
<subject>, {"inbox_id", "payload"})`, where `payload` is exactly the body Chatwoot would POST. `events.py`
decides who receives each event (account webhooks by subscription, the inbox's agent bot, an API inbox's
webhook); `actors.py` makes simulated agents and customers react.

State machine (§2.7): a conversation in an inbox with an agent bot starts `pending` (else `open`);
deliver-to-agent is `pending -> open` then auto-assignment; finish resolves; a customer message on a
resolved conversation reopens it (`pending` with a bot, else `open`). Every status change creates an
activity message, which is never webhooked.
"""

from __future__ import annotations

import json
from typing import Any

from emulator.vendors.sangoma import errors
from emulator.vendors.sangoma import views as v
from emulator.vendors.sangoma.accounts import bot_of, emit, find_or_create_contact_inbox, get_inbox
from emulator.vendors.sangoma.constants import (
    CW_INVALID_PRIORITY,
    PRIORITIES,
    ConversationStatus,
)
from emulator.vendors.sangoma.state import (
    CONVERSATION_DB_ID,
    DISPLAY_ID,
    MESSAGE_ID,
    UUID,
    Agent,
    ContactInbox,
    Conversation,
    Message,
    S,
    SangomaState,
)

Status = ConversationStatus


def subject(conv: Conversation) -> str:
    return f"conversation:{conv.display_id}"


def _emit_conversation(tx: S, event: str, conv: Conversation, changed: list[dict[str, Any]] | None = None) -> None:
    payload = v.conversation_webhook(tx.state, conv)
    if changed is not None:
        payload["changed_attributes"] = changed
    emit(tx, event, subject(conv), conv.inbox_id, payload)


def _change(name: str, before: Any, after: Any) -> dict[str, Any]:
    return {name: {"previous_value": before, "current_value": after}}


def _emit_updated(tx: S, conv: Conversation, changed: list[dict[str, Any]], since: float) -> None:
    """`conversation_updated` carries Chatwoot's `previous_changes`: the tracked attributes, then the save's
    `updated_at` (from `since`, ISO times as Rails sends them), which `conversation_status_changed` lacks."""
    stamp = _change("updated_at", v.iso(since), v.iso(conv.updated_at))
    _emit_conversation(tx, "conversation_updated", conv, [*changed, stamp])


def _ts(value: float | None) -> int | None:
    return int(value) if value is not None else None


# -- lookups ------------------------------------------------------------------------------------------------------


def get_conversation(state: SangomaState, display_id: int) -> Conversation:
    conv = state.conversations.get(display_id)
    if conv is None:
        raise errors.cw_not_found()
    return conv


# -- conversations --------------------------------------------------------------------------------------------------


def parse_priority(value: Any) -> str | None:
    """Chatwoot's priority enum takes its integer (also as a digit string) or its name; anything else is a 422
    naming the value as Ruby prints it."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():  # JSON `3.0` is the number 3
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(PRIORITIES):
        return PRIORITIES[value]
    if isinstance(value, str) and value in PRIORITIES:
        return value
    if isinstance(value, str) and value in [str(n) for n in range(len(PRIORITIES))]:
        return PRIORITIES[int(value)]
    shown = value if isinstance(value, str) else json.dumps(value)
    raise errors.cw_error(CW_INVALID_PRIORITY.format(value=shown))


def open_conversation(
    tx: S, ci: ContactInbox, *, widget: bool = False, referer: str | None = None, announce: bool = True
) -> Conversation:
    """A new conversation: `pending` in an inbox with an agent bot, else `open` (§2.7 rows 1, 1b); without
    `announce` the caller sends `conversation_created` itself."""
    state = tx.state
    now = tx.now()
    status = Status.PENDING if bot_of(state, ci.inbox_id) is not None else Status.OPEN
    conv = Conversation(
        id=int(tx.ids.new("conversation", CONVERSATION_DB_ID)),
        display_id=int(tx.ids.new("display_id", DISPLAY_ID)),
        uuid=tx.ids.new("uuid", UUID),
        inbox_id=ci.inbox_id,
        contact_id=ci.contact_id,
        contact_inbox_id=ci.id,
        created_at=now,
        updated_at=now,
        last_activity_at=now,
        status=status,
        waiting_since=now,
        widget=widget,
        referer=referer,
    )
    state.conversations[conv.display_id] = conv
    if announce:
        _emit_conversation(tx, "conversation_created", conv)
    return conv


def create_conversation(
    tx: S,
    contact_id: int,
    inbox_id: int,
    source_id: str | None,
    priority: Any,
    initial_message: str | None,
    *,
    initial_type: str,
    priority_event: bool,
) -> Conversation:
    """POST conversations: created with `initial_message` as its first message in one transaction, so
    `conversation_created` carries that message; then `priority` applied as a second step (Chatwoot's builder
    ignores it, §2.9); then the message's `message_created`."""
    state = tx.state
    level = parse_priority(priority)
    contact = state.contacts.get(contact_id)
    if contact is None:
        raise errors.cw_not_found()
    inbox = get_inbox(state, inbox_id)
    ci = find_or_create_contact_inbox(tx, contact, inbox, source_id)
    conv = open_conversation(tx, ci, announce=False)
    first = None
    if initial_message:
        sender = contact.id if initial_type == "incoming" else None
        outgoing = initial_type == "outgoing"
        first = post_message(tx, conv, initial_message, initial_type, sender_id=sender, bot=outgoing, announce=False)
    _emit_conversation(tx, "conversation_created", conv)
    if level is not None:
        since = conv.updated_at
        conv.priority = level
        if priority_event:
            _emit_updated(tx, conv, [_change("priority", None, level)], since)
    if first is not None:
        message_created(tx, conv, first)
    return conv


def _activity(tx: S, conv: Conversation, text: str) -> None:
    conv.messages.append(
        Message(
            id=int(tx.ids.new("message", MESSAGE_ID)),
            content=text,
            message_type="activity",
            created_at=tx.now(),
            sender_type=None,
            sender_id=None,
        )
    )


def set_status(
    tx: S,
    conv: Conversation,
    status: Status,
    by: str,
    extra: list[dict[str, Any]] | None = None,
    activity: str | None = None,
) -> bool:
    """Move to `status`; emits conversation_status_changed + conversation_updated (account webhooks) and
    conversation_opened/_resolved (agent bot). No change, no events."""
    if conv.status == status:
        return False
    before, since = conv.status, conv.updated_at
    conv.status = status
    conv.updated_at = tx.now()
    changed = [_change("status", str(before), str(status))]
    if status == Status.RESOLVED and conv.waiting_since is not None:
        changed.append(_change("waiting_since", _ts(conv.waiting_since), None))
        conv.waiting_since = None
    changed += extra or []
    _track(tx.state, conv, before)
    _activity(tx, conv, activity or f"Conversation was marked {status} by {by}")
    _emit_conversation(tx, "conversation_status_changed", conv, changed)
    _emit_updated(tx, conv, changed, since)
    if status == Status.OPEN:
        _emit_conversation(tx, "conversation_opened", conv)
    elif status == Status.RESOLVED:
        _emit_conversation(tx, "conversation_resolved", conv)
    return True


def _track(state: SangomaState, conv: Conversation, before: Status) -> None:
    """An agent's `chats` are its unresolved conversations (what `free_agent` weighs): a resolved one leaves them,
    a reopened one comes back; so weighing an agent never walks every conversation it ever had."""
    agent = state.agents.get(conv.assignee_id) if conv.assignee_id is not None else None
    if agent is None:
        return
    if conv.status == Status.RESOLVED and conv.display_id in agent.chats:
        agent.chats.remove(conv.display_id)
    elif before == Status.RESOLVED and conv.display_id not in agent.chats:
        agent.chats.append(conv.display_id)


def deliver_to_agent(tx: S, conv: Conversation) -> None:
    """Hand-off: toggle_status open with the bot's token (§2.3): `pending -> open`; auto-assignment follows."""
    bot = bot_of(tx.state, conv.inbox_id)
    set_status(tx, conv, Status.OPEN, bot.name if bot else "system")


BOT_ERROR_ACTIVITY = "Conversation was marked open by system due to an error with the agent bot."


def bot_failed(tx: S, conv: Conversation) -> None:
    """The agent bot could not be reached about a message while the conversation was pending (§2.4)."""
    if conv.status == Status.PENDING:
        set_status(tx, conv, Status.OPEN, "system", activity=BOT_ERROR_ACTIVITY)


def finish(tx: S, conv: Conversation, by: str = "system") -> None:
    set_status(tx, conv, Status.RESOLVED, by)


# -- messages -------------------------------------------------------------------------------------------------------


def post_message(
    tx: S,
    conv: Conversation,
    content: str,
    message_type: str,
    *,
    sender_id: int | None = None,
    agent: Agent | None = None,
    bot: bool = False,
    private: bool = False,
    announce: bool = True,
) -> Message:
    """A message on a conversation. `incoming` is the contact's; `outgoing` is the agent's (`agent`), the inbox
    bot's (`bot`) or the API's. A contact message on a resolved (or snoozed) conversation reopens it first
    (§2.7 rows 6, 7). Without `announce` (the first message of a conversation created with it, which changes no
    tracked attribute) nothing is sent: the caller sends its `message_created` with `message_created()`."""
    state = tx.state
    now = tx.now()
    sender_type: str | None
    sender: int | None
    if message_type == "incoming":
        sender_type, sender = "Contact", conv.contact_id
        if conv.status in (Status.RESOLVED, Status.SNOOZED):
            reopen = Status.PENDING if bot_of(state, conv.inbox_id) and conv.status == Status.RESOLVED else Status.OPEN
            extra = [] if conv.waiting_since is not None else [_change("waiting_since", None, int(now))]
            conv.waiting_since = conv.waiting_since or now
            set_status(tx, conv, reopen, "system", extra)
    elif agent is not None:
        sender_type, sender = "User", agent.id
    elif bot:
        found = bot_of(state, conv.inbox_id)
        sender_type, sender = ("AgentBot", found.id) if found else (None, None)
    else:
        sender_type, sender = None, sender_id
    msg = Message(
        id=int(tx.ids.new("message", MESSAGE_ID)),
        content=content,
        message_type=message_type,
        created_at=now,
        sender_type=sender_type,
        sender_id=sender,
        private=private,
    )
    conv.messages.append(msg)
    since = conv.updated_at
    conv.last_activity_at = now
    conv.updated_at = now
    changed: list[dict[str, Any]] = []
    if message_type == "incoming":
        conv.unread_count += 1
        contact = state.contacts.get(conv.contact_id)
        if contact is not None:
            contact.last_activity_at = now
        if conv.waiting_since is None:
            conv.waiting_since = now
            changed.append(_change("waiting_since", None, int(now)))
    elif agent is not None and not private:
        conv.unread_count = 0
        if conv.first_reply_created_at is None:
            conv.first_reply_created_at = now
            changed.append(_change("first_reply_created_at", None, v.iso(now)))
        if conv.waiting_since is not None:
            changed.append(_change("waiting_since", _ts(conv.waiting_since), None))
            conv.waiting_since = None
    if announce:
        message_created(tx, conv, msg)
        if changed:
            _emit_updated(tx, conv, changed, since)
    return msg


def message_created(tx: S, conv: Conversation, msg: Message) -> None:
    emit(tx, "message_created", subject(conv), conv.inbox_id, v.message_webhook(tx.state, conv, msg))


def message_failed(tx: S, conv: Conversation, message_id: int, error: str) -> None:
    """An API inbox could not be told of a message (§2.4): it becomes `failed` with the error, which Chatwoot
    announces as `message_updated`. Already failed: nothing changes, nothing is sent."""
    msg = next((m for m in conv.messages if m.id == message_id), None)
    if msg is None or msg.status == "failed":
        return
    msg.status = "failed"
    msg.external_error = error
    emit(tx, "message_updated", subject(conv), conv.inbox_id, v.message_webhook(tx.state, conv, msg))


def typing(tx: S, conv: Conversation, agent: Agent, on: bool) -> None:
    event = "conversation_typing_on" if on else "conversation_typing_off"
    payload = {
        "user": v.user_webhook(agent),
        "conversation": v.conversation_webhook(tx.state, conv),
        "is_private": False,
    }
    emit(tx, event, subject(conv), conv.inbox_id, payload)


# -- agents ---------------------------------------------------------------------------------------------------------


def free_agent(state: SangomaState) -> Agent | None:
    """The logged-in agent with the fewest open chats (ties: configuration order)."""
    candidates = [a for a in state.agents.values() if a.logged_in]
    if not candidates:
        return None

    def load(a: Agent) -> int:
        return sum(1 for d in a.chats if d in state.conversations and state.conversations[d].status == Status.OPEN)

    return min(candidates, key=load)


def assign(tx: S, conv: Conversation, agent: Agent) -> None:
    if conv.assignee_id == agent.id:
        return
    before, since = conv.assignee_id, conv.updated_at
    old = tx.state.agents.get(before) if before is not None else None
    if old is not None and conv.display_id in old.chats:
        old.chats.remove(conv.display_id)
    conv.assignee_id = agent.id
    conv.updated_at = tx.now()
    if conv.display_id not in agent.chats:
        agent.chats.append(conv.display_id)
    _activity(tx, conv, f"Assigned to {agent.display_name} by system")
    _emit_updated(tx, conv, [_change("assignee_id", before, agent.id)], since)


# -- the web widget -------------------------------------------------------------------------------------------------


def widget_message(tx: S, ci: ContactInbox, text: str, referer: str) -> Conversation:
    """The visitor writes: into their latest unresolved conversation, or a new one (§2.7 rows 1, 2, 6)."""
    mine = [c for c in tx.state.conversations.values() if c.contact_inbox_id == ci.id]
    conv = mine[-1] if mine else None
    if conv is None:
        conv = open_conversation(tx, ci, widget=True, referer=referer)
    post_message(tx, conv, text, "incoming")
    return conv
