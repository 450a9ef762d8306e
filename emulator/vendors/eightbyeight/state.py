"""8x8 Chat Gateway state per tenant, and every transition (eightbyeight.md §1.7).

Functions here validate first and then mutate `tx.state`; they record what happened as domain events on
the unit of work (`tx.emit`) and never do I/O. `events.py` turns those events into webhook payloads and
`actors.py` makes simulated agents react to them on the clock.

Conversation states move along `TRANSITIONS` (created -> active -> idle -> active ...); the assignment
moves queue|script -> agent -> queue (transfer) independently, by the transitions in `assignment.py` (agents, post-agent
assignment, the end of an interaction). In open auth a new tenant's first channel and queue ids bind to its default
ones (`binding.py`).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import BaseModel, Field

from emulator.core.ids import TenantIds, fmt_alnum, fmt_b64url22, fmt_sequence, fmt_uuid
from emulator.core.retention import Ended, Limits, Retained
from emulator.core.runtime import Emulator
from emulator.core.sink import default_target
from emulator.core.store import Tx
from emulator.core.tracked import FROZEN_ITEMS
from emulator.vendors.eightbyeight import errors, views
from emulator.vendors.eightbyeight.binding import Binding, bind, channel_for, queue_for
from emulator.vendors.eightbyeight.config import (
    DEFAULT_QUEUES,
    DEFAULT_WEBHOOK_URI,
    AgentBehaviour,
    EightByEightConfig,
    QueueConfig,
    ScheduleConfig,
    TenantConfig,
)
from emulator.vendors.eightbyeight.constants import (
    LEGACY_NOTIFICATION_VERSION,
    NOTIFICATION_VERSION,
    SLUG,
    ConversationState,
)
from emulator.vendors.eightbyeight.models import (
    AttachmentRef,
    CardPayload,
    ConversationUser,
    SendMessageRequest,
)
from emulator.vendors.eightbyeight.stays import QueueVisit, visit_start

# -- entities ---------------------------------------------------------------------------------------------
# Slotted dataclasses, not pydantic models: a conversation is kept for every chat a server ever saw, and
# slots make it several times smaller. Pydantic still validates them when a snapshot is restored.


@dataclass(slots=True)
class Webhook:
    id: str
    name: str
    uri: str
    version: str = NOTIFICATION_VERSION

    @property
    def legacy(self) -> bool:
        return self.version == LEGACY_NOTIFICATION_VERSION


@dataclass(slots=True)
class Channel:
    id: str
    name: str
    webHookId: str
    queue_id: str
    type: str = "ChatAPI"


@dataclass(slots=True)
class Queue:
    id: str
    name: str
    schedule: str | None = None  # a tenant schedule's name: the queue's open hours (schedules.py)
    out_of_hours: str = "queue"  # config.OutOfHours
    treatment_queue: str | None = None


@dataclass(slots=True)
class Agent:
    id: str
    name: str
    queues: list[str]
    capacity: int = 3
    handling: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Participant:
    id: str
    type: str
    removed: bool = False
    language: str | None = None
    name: str | None = None


@dataclass(slots=True)
class Card:
    id: str
    contentType: str
    content: dict[str, Any] = field(default_factory=dict)
    actionSubmitted: bool = False
    actionExecuted: bool = False


@dataclass(slots=True)
class Message:
    id: str
    text: str
    at: float
    author_id: str
    author_type: str
    attachments: list[str] = field(default_factory=list)
    cards: list[Card] = field(default_factory=list)
    external: dict[str, str] | None = None


@dataclass(slots=True)
class Attachment:
    id: str
    filename: str
    size: int
    media_type: str
    at: float
    data: str  # base64 of the content
    author_type: str = "user"


@dataclass(slots=True)
class Interaction:
    id: str
    start: float
    end: float | None = None


@dataclass(slots=True)
class PostAgent:
    webhook_id: str
    notify_channel: bool = False
    max_total_minutes: int | None = None
    user_timeout_minutes: int | None = None
    active: bool = False
    ended_at: float | None = None


@dataclass(slots=True)
class Conversation:
    id: str
    channelId: str
    created: float
    user_participant: str
    bot_participant: str
    state: ConversationState = ConversationState.CREATED
    assignment_type: str = "queue"
    assignment_id: str | None = None
    queue_id: str | None = None
    agent_id: str | None = None
    user: dict[str, Any] = field(default_factory=dict)
    interactions: list[Interaction] = field(default_factory=list)
    participants: list[Participant] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list, metadata={FROZEN_ITEMS: True})  # changed: replaced
    attachments: dict[str, Attachment] = field(default_factory=dict)
    post_agent: PostAgent | None = None
    read_at: dict[str, int] = field(default_factory=dict)
    visit: QueueVisit | None = None  # the stay in a queue now (QUEUED until the agent leaves), for metrics.py

    @property
    def interaction(self) -> Interaction | None:
        """The open interaction, if any."""
        last = self.interactions[-1] if self.interactions else None
        return last if last is not None and last.end is None else None


class EightByEightState(BaseModel):
    """One tenant's whole 8x8 world."""

    tenant: str
    tenant_id: str
    customer_id: str
    behaviour: AgentBehaviour = Field(default_factory=AgentBehaviour)
    webhooks: dict[str, Webhook] = Field(default_factory=dict)
    channels: dict[str, Channel] = Field(default_factory=dict)
    queues: dict[str, Queue] = Field(default_factory=dict)
    agents: dict[str, Agent] = Field(default_factory=dict)
    conversations: dict[str, Conversation] = Field(default_factory=dict)
    waiting: list[str] = Field(default_factory=list, description="queued conversation ids, oldest first")
    channel_open: bool = Field(False, description="open auth: the first unknown channelId binds the default channel")
    queue_open: bool = Field(False, description="open auth: the first unknown queue id binds the default queue")
    schedules: dict[str, ScheduleConfig] = Field(default_factory=dict, description="tenant schedules by name")
    oauth_tokens: dict[str, float] = Field(default_factory=dict, description="bearer token -> expiry (oauth.py)")
    queue_log: list[QueueVisit] = Field(
        default_factory=list, description="ended queue stays of the last two days, in the order they ended (metrics.py)"
    )


S = Tx[EightByEightState]

# -- id formats (eightbyeight.md §1.4: conversation ids are 22-char base64url; OAS examples) -------------------

CONVERSATION_ID = fmt_b64url22
MESSAGE_ID = fmt_b64url22
PARTICIPANT_ID = fmt_alnum(24)
INTERACTION_ID = fmt_uuid
ATTACHMENT_ID = fmt_b64url22
CARD_ID = fmt_b64url22
EVENT_ID = fmt_uuid

# -- conversation state machine ---------------------------------------------------------------------------

TRANSITIONS: dict[tuple[ConversationState, str], ConversationState] = {
    (ConversationState.CREATED, "activate"): ConversationState.ACTIVE,
    (ConversationState.ACTIVE, "end"): ConversationState.IDLE,
    (ConversationState.CREATED, "end"): ConversationState.IDLE,
    (ConversationState.IDLE, "requeue"): ConversationState.ACTIVE,
}
_IDLE = ConversationState.IDLE
"""Read once: in Python 3.11 `ConversationState.IDLE` goes through `EnumType`'s `__getattr__` hook (~1,000
instructions; every message asks)."""


def move(conv: Conversation, action: str) -> None:
    nxt = TRANSITIONS.get((conv.state, action))
    if nxt is None:
        text = errors.INVALID_STATE.format(conversation_id=conv.id, state=conv.state, action=action)
        raise errors.general_error(errors.CODE_INVALID_STATE, text)
    conv.state = nxt


# -- building a tenant ------------------------------------------------------------------------------------


def new_state(
    tenant: str,
    ids: Any,
    cfg: TenantConfig | None,
    behaviour: AgentBehaviour,
    webhook_uri: str | None,
    with_webhook: bool,
    open_ids: bool = False,
) -> EightByEightState:
    """A tenant's initial world: configured queues/agents or the default ones, one webhook and one channel.
    With `open_ids` (a tenant open auth created) the first unknown channel and queue ids it presents bind."""
    state = EightByEightState(
        tenant=tenant,
        channel_open=open_ids,
        queue_open=open_ids,
        tenant_id=(cfg.tenant_id if cfg and cfg.tenant_id else tenant),
        customer_id=(cfg.customer_id if cfg and cfg.customer_id else ids.new("customer", fmt_alnum(12))),
        behaviour=(cfg.behaviour if cfg and cfg.behaviour else behaviour),
    )
    queues: list[QueueConfig] = cfg.queues if cfg and cfg.queues is not None else DEFAULT_QUEUES
    for q in queues:
        state.queues[q.id] = Queue(q.id, q.name, q.schedule, q.out_of_hours, q.treatment_queue)
        for a in q.agents:
            agent_id = a.id or ids.new("agent", PARTICIPANT_ID)
            if agent_id in state.agents:
                state.agents[agent_id].queues.append(q.id)
                continue
            name = a.name or ids.fake("agent").name()
            state.agents[agent_id] = Agent(id=agent_id, name=name, queues=[q.id], capacity=a.capacity)
    for n, schedule in enumerate(cfg.schedules if cfg and cfg.schedules else [], start=1):
        state.schedules[schedule.name] = schedule.model_copy(update={"id": schedule.id or n})
    if with_webhook and state.queues:
        uri = (cfg.webhook_uri if cfg and cfg.webhook_uri else None) or webhook_uri or DEFAULT_WEBHOOK_URI
        hook = Webhook(id=ids.new("webhook", fmt_sequence(1)), name="default", uri=uri)
        state.webhooks[hook.id] = hook
        first_queue = next(iter(state.queues))
        channel = Channel(
            id=ids.new("channel", fmt_sequence(1)), name="default", webHookId=hook.id, queue_id=first_queue
        )
        state.channels[channel.id] = channel
    return state


def tenant_state(emu: Emulator, tenant: str, ids: TenantIds) -> EightByEightState:
    """The store's constructor: a configured tenant as configured, any other with the default world, its
    default webhook to `--webhook-url` or the built-in sink; in `open` auth an unconfigured tenant's channel
    and queue ids are open until its first requests name them."""
    cfg: EightByEightConfig = emu.vendor_config(SLUG)
    configured = tenant in cfg.tenants
    return new_state(
        tenant,
        ids,
        cfg.tenants.get(tenant),
        cfg.behaviour,
        default_target(emu, SLUG, tenant),
        cfg.default_webhook,
        open_ids=emu.settings.auth == "open" and not configured,
    )


# -- conversations ----------------------------------------------------------------------------------------


def get_conversation(state: EightByEightState, conversation_id: str, *, newer: bool = False) -> Conversation:
    conv = state.conversations.get(conversation_id)
    if conv is None:
        if newer:
            raise errors.not_found("Conversation", conversation_id, style="newer")
        raise errors.not_found(
            "Conversation", conversation_id, tenant_id=state.tenant_id, customer_id=state.customer_id
        )
    return conv


def get_message(state: EightByEightState, conv: Conversation, message_id: str) -> Message:
    for msg in conv.messages:
        if msg.id == message_id:
            return msg
    raise errors.not_found("Message", message_id, tenant_id=state.tenant_id, customer_id=state.customer_id)


def get_attachment(state: EightByEightState, conv: Conversation, attachment_id: str) -> Attachment:
    att = conv.attachments.get(attachment_id)
    if att is None:
        raise errors.not_found("Attachment", attachment_id, tenant_id=state.tenant_id, customer_id=state.customer_id)
    return att


def create_conversation(
    tx: S,
    channel_id: str,
    user: ConversationUser,
    assignment_type: str,
    assignment_id: str | None,
    history: list[SendMessageRequest],
) -> Conversation:
    """POST /conversations: state `created`; the interaction starts asynchronously (actors.activate)."""
    state = tx.state
    channel, channel_binding = channel_for(state, channel_id)
    queue_id, queue_binding = queue_for(state, assignment_type, assignment_id, channel)
    bind(state, channel_binding, queue_binding)
    now = tx.now()
    conv = Conversation(
        id=tx.ids.new("conversation", CONVERSATION_ID),
        channelId=channel_id,
        assignment_type=assignment_type,
        assignment_id=queue_id if queue_id is not None else assignment_id,
        queue_id=queue_id,
        user=user.wire(),
        created=now,
        user_participant=tx.ids.new("participant", PARTICIPANT_ID),
        bot_participant=tx.ids.new("participant", PARTICIPANT_ID),
    )
    conv.participants.append(Participant(id=conv.user_participant, type="user", language=user.language or "en"))
    if any(m.authorType == "bot" for m in history):
        conv.participants.append(Participant(id=conv.bot_participant, type="bot"))
    for msg in history:
        conv.messages.append(_message(tx, conv, msg, now))
    state.conversations[conv.id] = conv
    tx.emit("conversation.created", conv.id, views.conversation_view(conv))
    return conv


def activate(tx: S, conv: Conversation) -> None:
    """The interaction is up: `active`, then QUEUED for a queue assignment."""
    if conv.state != ConversationState.CREATED:
        return
    move(conv, "activate")
    open_interaction(tx, conv)


def open_interaction(tx: S, conv: Conversation) -> None:
    conv.interactions.append(Interaction(id=tx.ids.new("interaction", INTERACTION_ID), start=tx.now()))
    tx.emit("conversation.active", conv.id, views.conversation_view(conv))
    enqueue(tx, conv)


def enqueue(tx: S, conv: Conversation) -> None:
    if conv.queue_id is None:
        return
    queue = tx.state.queues[conv.queue_id]
    if conv.id not in tx.state.waiting:
        tx.state.waiting.append(conv.id)
    visit_start(tx, conv, queue.id)
    tx.emit("conversation.queued", conv.id, {"queueId": queue.id, "queueName": queue.name})


def update_conversation(
    tx: S,
    conv: Conversation,
    *,
    channel_id: str | None,
    user: ConversationUser | None,
    assignment_type: str | None,
    assignment_id: str | None,
    replace: bool,
) -> Conversation:
    """PUT (replace=True) / PATCH: change user and/or assignment; a new queue while queued re-queues."""
    state = tx.state
    channel, channel_binding = channel_for(state, channel_id, conv.channelId)
    new_queue: str | None = None
    queue_binding: Binding | None = None
    if assignment_type is not None:
        new_queue, queue_binding = queue_for(state, assignment_type, assignment_id, channel)
    # all checks passed: mutate
    bind(state, channel_binding, queue_binding)
    if channel_id is not None:
        conv.channelId = channel_id
    if user is not None:
        conv.user = user.wire() if replace else {**conv.user, **user.wire()}
    requeue = False
    if assignment_type is not None and conv.agent_id is None:
        requeue = new_queue != conv.queue_id and conv.state == ConversationState.ACTIVE
        conv.assignment_type = assignment_type
        conv.assignment_id = new_queue if new_queue is not None else assignment_id
        if new_queue is not None:
            conv.queue_id = new_queue
        elif conv.id in state.waiting:
            state.waiting.remove(conv.id)
    tx.emit("conversation.updated", conv.id, views.conversation_view(conv))
    if requeue:
        enqueue(tx, conv)
    return conv


# -- messages ---------------------------------------------------------------------------------------------


def _check_attachments(conv: Conversation, refs: list[AttachmentRef] | None) -> None:
    for ref in refs or []:
        if ref.id is None or ref.id not in conv.attachments:
            raise errors.bad_request_send_message(errors.ATTACHMENT_MISSING.format(attachment_id=ref.id))


def cards_of(tx: S, cards: list[CardPayload] | None) -> list[Card]:
    return [
        Card(id=tx.ids.new("card", CARD_ID), contentType=str(c.contentType), content=c.content or {})
        for c in cards or []
    ]


def _message(tx: S, conv: Conversation, req: SendMessageRequest, at: float) -> Message:
    """The message `req` posts. The fields are read from the model's `__dict__` (where pydantic keeps them), once:
    each attribute read of a pydantic model goes through its `__getattr__` hook (~400 instructions), a key of its
    `__dict__` costs a tenth of that."""
    fields = req.__dict__
    author_type = str(fields["authorType"])
    refs = fields["attachments"]
    author = conv.bot_participant if author_type == "bot" else conv.user_participant
    external = None
    provider = fields["externalProvider"]
    if provider is not None:
        external = {"name": str(provider.name), "externalMessageId": provider.externalMessageId}
    cards = fields["cards"]
    return Message(  # by position (every message): id, text, at, author_id, author_type, attachments, cards, external
        tx.ids.new("message", MESSAGE_ID),
        fields["text"] or "",
        at,
        author,
        author_type,
        [a.id for a in refs if a.id] if refs else [],
        cards_of(tx, cards) if cards else [],
        external,
    )


def post_message(tx: S, conv: Conversation, req: SendMessageRequest, *, echo: bool) -> Message:
    """POST …/messages by the integration (user or bot). A message on an idle conversation re-queues it
    in its last queue (eightbyeight.md §1.7 row 11)."""
    fields = req.__dict__  # (read from where pydantic keeps them: `_message`)
    if str(fields["authorType"]) == "agent":
        raise errors.invalid_author_type("agent")
    refs = fields["attachments"]
    if refs:
        _check_attachments(conv, refs)
    msg = _message(tx, conv, req, tx.now())
    if msg.author_type == "bot" and not any(p.id == conv.bot_participant for p in conv.participants):
        conv.participants.append(Participant(id=conv.bot_participant, type="bot"))
    conv.messages.append(msg)
    view = views.message_view(conv, msg, echo=True)
    tx.emit("message.created", conv.id, {"message": view, "deliver": echo, "messageId": msg.id})
    if conv.state == _IDLE:
        move(conv, "requeue")
        if conv.queue_id is not None:
            conv.assignment_type, conv.assignment_id = "queue", conv.queue_id
        open_interaction(tx, conv)
    return msg


# -- activities from the integration ----------------------------------------------------------------------


def client_activity(tx: S, conv: Conversation, name: str, value: dict[str, Any]) -> None:
    """typing / thinking / read receipts sent by the integration: shown to the agent, not echoed."""
    tx.emit("client.activity", conv.id, {"name": name, "value": value})


def read_receipt(tx: S, conv: Conversation, author_type: str, read_at: int) -> None:
    """POST …/read-receipt: a `user` receipt only on Chat API channels (OAS ``ReadReceiptRequest``)."""
    channel = tx.state.channels.get(conv.channelId)
    if author_type == "user" and channel is not None and channel.type != "ChatAPI":
        raise errors.invalid_parameter(conv.id, tx.state.tenant_id, errors.READ_RECEIPT_USER)
    conv.read_at[author_type] = read_at
    client_activity(tx, conv, "read-receipts", {"authorType": author_type, "readAt": read_at})


def card_action(tx: S, conv: Conversation, card_id: str, kind: str, data: dict[str, Any]) -> Card:
    for n, msg in enumerate(conv.messages):
        for k, card in enumerate(msg.cards):
            if card.id == card_id:
                if kind == "Action.Submit":
                    card = replace(card, actionSubmitted=True)
                else:
                    card = replace(card, actionExecuted=True)
                # a new message in its place, never a change in place: a conversation's messages are FROZEN_ITEMS
                conv.messages[n] = replace(msg, cards=[*msg.cards[:k], card, *msg.cards[k + 1 :]])
                tx.emit(
                    "client.activity", conv.id, {"name": "adaptiveCard/action", "value": {"type": kind, "data": data}}
                )
                return card
    raise errors.not_found("Card", card_id, style="newer")


def add_attachment(
    tx: S, conv: Conversation, filename: str, media_type: str, content: bytes, author: str
) -> Attachment:
    att = Attachment(
        id=tx.ids.new("attachment", ATTACHMENT_ID),
        filename=filename,
        size=len(content),
        media_type=media_type,
        at=tx.now(),
        data=base64.b64encode(content).decode(),
        author_type=author,
    )
    conv.attachments[att.id] = att
    return att


# -- retention (core.retention) -----------------------------------------------------------------------------
# [inf] 8x8 publishes no retention for ended conversations: an idle conversation (its interaction over, not
# waiting, no agent, no post-agent phase running) is kept up to 1,000 per tenant and for 24 h after it ended.


def ended_conversations(state: EightByEightState) -> list[Ended]:
    busy = set(state.waiting).union(*(a.handling for a in state.agents.values()))
    out = []
    for conv in state.conversations.values():
        if conv.state != ConversationState.IDLE or conv.interaction is not None or conv.id in busy:
            continue
        if conv.post_agent is not None and conv.post_agent.active:
            continue
        last = conv.interactions[-1].end if conv.interactions else None
        at = max(last or conv.created, conv.messages[-1].at if conv.messages else conv.created)
        out.append(Ended(conv.id, at, (conv.id,)))
    return out


def evict_conversations(state: EightByEightState, ids: list[str]) -> None:
    for conversation_id in ids:
        del state.conversations[conversation_id]


RETAINED = (Retained("conversations", Limits(1_000, 86_400.0), ended_conversations, evict_conversations),)
