"""8x8 webhook payload models: Chat Gateway v1 events (eightbyeight.md §1.6), the legacy Chat API v2 profile
(§1.9) and the event catalogue (``WEBHOOK_EVENTS``, the contract's ``webhooks:`` section).

``events.py`` builds these bodies as plain dicts on the hot path; the models are their schema, and parse a
received body back (``CHAT_GATEWAY_EVENT_ADAPTER``, ``LEGACY_EVENT_ADAPTER``) in tests and sinks.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Field,
    TypeAdapter,
)

from emulator.vendors.eightbyeight.constants import (
    LEGACY_NOTIFICATION_VERSION,
    NOTIFICATION_VERSION,
    AttachmentKind,
    AuthorType,
    CardActionType,
    CardContentType,
    ChannelDisplayType,
    ConversationState,
    LegacyMessageType,
    MemberChange,
    MemberType,
)
from emulator.vendors.eightbyeight.models import (
    AssignmentResult,
    ConversationUser,
    EventModel,
    Omittable,
    WireModel,
)

# --- Webhook payloads: Chat Gateway v1 (eightbyeight.md §1.6) ------------------------------------------------


class WebhookVerifyEvent(EventModel):
    """WEB_HOOK_VERIFY: sent when a webhook is added or verified; it has no conversationId and no timestamp."""

    notificationVersion: str = NOTIFICATION_VERSION
    eventType: Literal["WEB_HOOK_VERIFY"] = "WEB_HOOK_VERIFY"


class ConversationUpdateData(WireModel):
    state: ConversationState
    assignment: Omittable[AssignmentResult] = None
    user: Omittable[ConversationUser] = None
    msisdn: Omittable[str] = None
    channel: Omittable[ChannelDisplayType] = None


class ConversationUpdateEvent(EventModel):
    """CONVERSATION_UPDATE: the conversation was created, became active or idle, or its assignment/user changed."""

    eventType: Literal["CONVERSATION_UPDATE"] = "CONVERSATION_UPDATE"
    conversationId: str
    timestamp: int
    data: ConversationUpdateData


class QueuedData(WireModel):
    queueId: str
    queueName: str


class QueuedEvent(EventModel):
    """QUEUED: the conversation's interaction entered a queue."""

    eventType: Literal["QUEUED"] = "QUEUED"
    conversationId: str
    timestamp: int
    data: QueuedData


class MembersChangedData(WireModel):
    memberType: MemberType
    change: MemberChange
    # The agent's id for agents (eightbyeight.md §1.6).
    id: Omittable[str] = None


class MembersChangedEvent(EventModel):
    """MEMBERS_CHANGED: a user or an agent joined or left (replaces the legacy AGENT_JOINED/AGENT_LEFT)."""

    eventType: Literal["MEMBERS_CHANGED"] = "MEMBERS_CHANGED"
    conversationId: str
    timestamp: int
    data: MembersChangedData


class MessageSender(WireModel):
    id: str
    # A plain string: the seed's MESSAGE example has "type": "" (eightbyeight.md §1.6).
    type: str


class EventAttachment(WireModel):
    id: str
    type: AttachmentKind
    preSignedUrl: Omittable[str] = None
    fileName: Omittable[str] = None


class EventCard(WireModel):
    contentType: CardContentType = CardContentType.ADAPTIVE_CARD
    content: dict[str, Any] = Field(default_factory=dict)


class MessageData(WireModel):
    isEcho: bool
    sender: MessageSender
    text: Omittable[str] = None
    attachments: list[EventAttachment] = Field(default_factory=list)
    cards: list[EventCard] = Field(default_factory=list)


class MessageEvent(EventModel):
    """MESSAGE: a participant added a message; ``isEcho`` marks messages the integration itself posted."""

    eventType: Literal["MESSAGE"] = "MESSAGE"
    conversationId: str
    timestamp: int
    data: MessageData


class TypingUser(WireModel):
    type: AuthorType
    id: str


class TypingValue(WireModel):
    """``value`` of a ``typing`` activity; an empty ``users`` list means typing stopped."""

    users: list[TypingUser]


class CardActionValue(WireModel):
    """``value`` of an ``adaptiveCard/action`` activity: the card's form values."""

    type: CardActionType
    data: dict[str, Any] = Field(default_factory=dict)


class QuickReplyData(WireModel):
    title: str
    payload: str


class QuickReplyActionValue(WireModel):
    """``value`` of a ``quickReply/action`` activity."""

    type: Literal["postback"] = "postback"
    data: QuickReplyData


class ReadReceiptUser(WireModel):
    id: str
    type: AuthorType


class ReadReceiptValue(WireModel):
    """One entry of a ``read-receipts`` activity ``value`` (which is a list)."""

    timestamp: int
    users: list[ReadReceiptUser]


ActivityValue = TypingValue | CardActionValue | QuickReplyActionValue | list[ReadReceiptValue] | dict[str, Any]


class ActivityData(WireModel):
    # Known names are in constants.ActivityName; channel-specific names (e.g. interactive/reply) also occur.
    name: str
    value: ActivityValue = Field(union_mode="left_to_right")


class ActivityEvent(EventModel):
    """ACTIVITY: a non-message action (typing, card or quick-reply action, read receipts), named in ``data.name``."""

    eventType: Literal["ACTIVITY"] = "ACTIVITY"
    conversationId: str
    timestamp: int
    data: ActivityData


class TransferEvent(EventModel):
    """TRANSFER: the handling agent transferred the conversation to another queue; there is no ``data``."""

    eventType: Literal["TRANSFER"] = "TRANSFER"
    conversationId: str
    timestamp: int


# --- Webhook payloads: legacy Chat API v2 profile (eightbyeight.md §1.9) -------------------------------------


class LegacyWebhookVerifyEvent(EventModel):
    """Legacy WEB_HOOK_VERIFY, with notification version "v2.0"."""

    notificationVersion: str = LEGACY_NOTIFICATION_VERSION
    eventType: Literal["WEB_HOOK_VERIFY"] = "WEB_HOOK_VERIFY"


class LegacyQueuedEvent(EventModel):
    """Legacy QUEUED: flat queue fields, no ``data`` envelope."""

    eventType: Literal["QUEUED"] = "QUEUED"
    messageType: LegacyMessageType = LegacyMessageType.SYSTEM
    conversationId: str
    timestamp: int
    queueId: str
    queueName: str


class LegacyAgentJoinedEvent(EventModel):
    """Legacy AGENT_JOINED: an agent took the conversation (the shape in the seed's workflow page)."""

    eventType: Literal["AGENT_JOINED"] = "AGENT_JOINED"
    messageType: LegacyMessageType = LegacyMessageType.SYSTEM
    conversationId: str
    timestamp: int
    agentId: str
    agentName: str


class LegacyAgentLeftEvent(EventModel):
    """Legacy AGENT_LEFT: the agent left; a later message re-queues to the last queue."""

    eventType: Literal["AGENT_LEFT"] = "AGENT_LEFT"
    messageType: LegacyMessageType = LegacyMessageType.SYSTEM
    conversationId: str
    timestamp: int
    agentId: str
    agentName: str


class LegacyTransferEvent(EventModel):
    """Legacy TRANSFER: the agent transferred the conversation."""

    eventType: Literal["TRANSFER"] = "TRANSFER"
    messageType: LegacyMessageType = LegacyMessageType.SYSTEM
    conversationId: str
    timestamp: int


class LegacyTextEvent(EventModel):
    """Legacy TEXT: an agent's chat message, text in ``message``."""

    eventType: Literal["TEXT"] = "TEXT"
    messageType: LegacyMessageType = LegacyMessageType.AGENT
    conversationId: str
    timestamp: int
    agentId: str
    agentName: str
    message: str


# --- Event catalogue -----------------------------------------------------------------------------------------

ChatGatewayEvent = Annotated[
    WebhookVerifyEvent
    | ConversationUpdateEvent
    | QueuedEvent
    | MembersChangedEvent
    | MessageEvent
    | ActivityEvent
    | TransferEvent,
    Field(discriminator="eventType"),
]
LegacyEvent = Annotated[
    LegacyWebhookVerifyEvent
    | LegacyQueuedEvent
    | LegacyAgentJoinedEvent
    | LegacyAgentLeftEvent
    | LegacyTransferEvent
    | LegacyTextEvent,
    Field(discriminator="eventType"),
]

# Parse a received webhook body back into its model (tests, webhook sinks).
CHAT_GATEWAY_EVENT_ADAPTER: TypeAdapter[ChatGatewayEvent] = TypeAdapter(ChatGatewayEvent)
LEGACY_EVENT_ADAPTER: TypeAdapter[LegacyEvent] = TypeAdapter(LegacyEvent)

# Every outbound webhook payload, by contract name (the OpenAPI ``webhooks:`` section).
WEBHOOK_EVENTS: dict[str, type[BaseModel]] = {
    "WEB_HOOK_VERIFY": WebhookVerifyEvent,
    "CONVERSATION_UPDATE": ConversationUpdateEvent,
    "QUEUED": QueuedEvent,
    "MEMBERS_CHANGED": MembersChangedEvent,
    "MESSAGE": MessageEvent,
    "ACTIVITY": ActivityEvent,
    "TRANSFER": TransferEvent,
    "legacy.WEB_HOOK_VERIFY": LegacyWebhookVerifyEvent,
    "legacy.QUEUED": LegacyQueuedEvent,
    "legacy.AGENT_JOINED": LegacyAgentJoinedEvent,
    "legacy.AGENT_LEFT": LegacyAgentLeftEvent,
    "legacy.TRANSFER": LegacyTransferEvent,
    "legacy.TEXT": LegacyTextEvent,
}
