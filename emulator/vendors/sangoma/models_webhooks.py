"""Sangoma CX webhook payloads as pydantic models, for the contract (sangoma.md §2.5): Chatwoot's
`webhook_data` and `push_event_data` objects and every event's body, key by key, with Chatwoot's types
(display ids, integer vs string `message_type`, epoch vs ISO times, the float `updated_at`). The payloads are
built as dicts in `views.py`; `WEBHOOKS` lists every event with its model. The nested push-data objects are
shared with the REST responses in `models.py`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- small objects ------------------------------------------------------------------------------------------------


class Account(Wire):
    id: int
    name: str


class InboxRef(Wire):
    id: int
    name: str


class ContactWebhookData(Wire):
    """Contact#webhook_data (no `type`)."""

    account: Account
    additional_attributes: dict[str, Any]
    avatar: str
    custom_attributes: dict[str, Any]
    email: str | None
    id: int
    identifier: str | None
    name: str
    phone_number: str | None
    thumbnail: str
    blocked: bool


class ContactPushData(Wire):
    additional_attributes: dict[str, Any]
    custom_attributes: dict[str, Any]
    email: str | None
    id: int
    identifier: str | None
    name: str
    phone_number: str | None
    thumbnail: str
    blocked: bool
    type: Literal["contact"]


class UserWebhookData(Wire):
    id: int
    name: str
    email: str
    type: Literal["user"]


class UserPushData(Wire):
    id: int
    name: str
    available_name: str
    avatar_url: str
    type: Literal["user"]
    availability_status: str
    thumbnail: str


class AgentBotWebhookData(Wire):
    id: int
    name: str
    type: Literal["agent_bot"]


class AgentBotPushData(Wire):
    id: int
    name: str
    avatar_url: str
    type: Literal["agent_bot"]


class ContactInboxData(Wire):
    id: int
    contact_id: int
    inbox_id: int
    source_id: str
    created_at: str = Field(description="ISO 8601")
    updated_at: str = Field(description="ISO 8601")
    hmac_verified: bool
    pubsub_token: str


class SourceRef(Wire):
    source_id: str


class NestedConversation(Wire):
    assignee_id: int | None
    unread_count: int
    last_activity_at: int
    contact_inbox: SourceRef


class MessagePushData(Wire):
    """A message nested in a conversation: INTEGER `message_type`, epoch `created_at`, ISO `updated_at`."""

    id: int
    content: str
    account_id: int
    inbox_id: int
    conversation_id: int = Field(description="the conversation's display id")
    message_type: int = Field(ge=0, le=3, description="0 incoming, 1 outgoing, 2 activity, 3 template")
    created_at: int
    updated_at: str
    private: bool
    status: Literal["sent", "delivered", "read", "failed"]
    source_id: str | None
    content_type: str
    content_attributes: dict[str, Any]
    sender_type: Literal["Contact", "User", "AgentBot"] | None
    sender_id: int | None
    external_source_ids: dict[str, Any]
    additional_attributes: dict[str, Any]
    processed_message_content: str
    sentiment: dict[str, Any]
    conversation: NestedConversation
    sender: ContactPushData | UserPushData | AgentBotPushData | None = None


class ConversationMeta(Wire):
    sender: ContactPushData
    assignee: UserPushData | None
    assignee_type: Literal["User"] | None
    team: None
    hmac_verified: bool


class ChangedValue(Wire):
    previous_value: Any
    current_value: Any


class ConversationData(Wire):
    """Conversations::EventDataPresenter#push_data: `id` is the DISPLAY id; epoch ints, float `updated_at`."""

    additional_attributes: dict[str, Any]
    can_reply: bool
    channel: str
    contact_inbox: ContactInboxData
    id: int = Field(description="display id (the id in API bodies)")
    inbox_id: int
    messages: list[MessagePushData] = Field(max_length=1)
    labels: list[str]
    meta: ConversationMeta
    status: Literal["open", "resolved", "pending", "snoozed"]
    custom_attributes: dict[str, Any]
    snoozed_until: int | None
    unread_count: int
    first_reply_created_at: str | None
    priority: Literal["low", "medium", "high", "urgent"] | None
    waiting_since: int
    agent_last_seen_at: int
    contact_last_seen_at: int
    last_activity_at: int
    timestamp: int
    created_at: int
    updated_at: float


# -- webhook payloads -------------------------------------------------------------------------------------------------


class ConversationCreated(ConversationData):
    """Built at commit: a conversation created with an initial message carries it in `messages`."""

    event: Literal["conversation_created"]


class ConversationChanged(ConversationData):
    """`changed_attributes` as Chatwoot's `previous_changes`: `conversation_updated` ends with the save's
    `updated_at` (ISO times); `conversation_status_changed` has no `updated_at`."""

    event: Literal["conversation_updated", "conversation_status_changed"]
    changed_attributes: list[dict[str, ChangedValue]]


class ConversationBotEvent(ConversationData):
    """Agent bot only."""

    event: Literal["conversation_opened", "conversation_resolved"]


class MessageEvent(Wire):
    """Message#webhook_data: STRING `message_type`, ISO `created_at`."""

    event: Literal["message_created", "message_updated"]
    account: Account
    additional_attributes: dict[str, Any]
    content_attributes: dict[str, Any]
    content_type: str
    content: str
    conversation: ConversationData
    created_at: str
    id: int
    inbox: InboxRef
    message_type: Literal["incoming", "outgoing", "template"]
    private: bool
    sender: ContactWebhookData | UserWebhookData | AgentBotWebhookData | None
    source_id: str | None


class ContactEvent(ContactWebhookData):
    event: Literal["contact_created", "contact_updated"]


class Browser(Wire):
    browser_name: str
    browser_version: str
    device_name: str
    platform_name: str
    platform_version: str


class Timestamp(Wire):
    timestamp: str


class EventInfo(Wire):
    initiated_at: Timestamp
    referer: str
    widget_language: str
    browser_language: str
    browser: Browser


class WebwidgetTriggered(Wire):
    event: Literal["webwidget_triggered"]
    id: int = Field(description="the contact inbox id")
    source_id: str
    contact: ContactWebhookData
    inbox: InboxRef
    account: Account
    current_conversation: ConversationData | None
    event_info: EventInfo


class TypingEvent(Wire):
    event: Literal["conversation_typing_on", "conversation_typing_off"]
    user: UserWebhookData
    conversation: ConversationData
    is_private: bool


WEBHOOKS: dict[str, tuple[type[BaseModel], str]] = {
    "conversation_created": (ConversationCreated, "a conversation was created (account webhooks)"),
    "conversation_updated": (ConversationChanged, "a tracked attribute changed, with `changed_attributes`"),
    "conversation_status_changed": (ConversationChanged, "the status changed, with `changed_attributes`"),
    "conversation_opened": (ConversationBotEvent, "agent bot only: the conversation became open"),
    "conversation_resolved": (ConversationBotEvent, "agent bot only: the conversation was resolved"),
    "message_created": (MessageEvent, "a message (incoming/outgoing/template, private notes too)"),
    "message_updated": (MessageEvent, "a message changed: an API inbox could not be told of it (`external_error`)"),
    "contact_created": (ContactEvent, "a contact was created (account webhooks)"),
    "webwidget_triggered": (WebwidgetTriggered, "a visitor opened the web widget"),
    "conversation_typing_on": (TypingEvent, "an agent started typing"),
    "conversation_typing_off": (TypingEvent, "an agent stopped typing"),
}
"""Every event the emulator sends, with its payload model."""
