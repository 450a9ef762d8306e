"""Sangoma CX REST response and error bodies as pydantic models, for the contract (sangoma.md §2.1, §2.6, §2.8)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from emulator.vendors.sangoma.wire import (
    AgentBotPushData,
    ContactPushData,
    MessagePushData,
    UserPushData,
    Wire,
)


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


OMITTED = Field(None, json_schema_extra=_no_default)
"""A key left out when it has no value: the contract shows it optional and never null (`X | SkipJsonSchema[None]`)."""


class TokenResponse(Wire):
    access_token: str
    scope: str = Field(description="granted scopes, space-separated")
    token_type: Literal["bearer"]
    expires_in: int


class OAuthError(Wire):
    error: Literal["invalid_request", "invalid_client", "unsupported_grant_type", "invalid_scope"]
    error_description: str


class Detail(Wire):
    detail: str


class CwError(Wire):
    error: str


class CwInvalid(Wire):
    message: str
    attributes: list[str]


class Ack(BaseModel):
    """The voice endpoints' body: `{}` [inf]."""

    model_config = ConfigDict(extra="allow")


class AgentBotOut(Wire):
    id: int
    name: str
    description: str
    thumbnail: str
    outgoing_url: str
    bot_type: Literal["webhook"]
    bot_config: dict[str, Any]
    account_id: int
    access_token: str
    system_bot: bool
    secret: str | None = Field(None, description="present when webhook signing is on")


class InboxOut(Wire):
    id: int
    avatar_url: str
    channel_id: int
    name: str
    channel_type: str
    greeting_enabled: bool
    greeting_message: str | None
    working_hours_enabled: bool
    enable_email_collect: bool
    csat_survey_enabled: bool
    enable_auto_assignment: bool
    out_of_office_message: str | None
    timezone: str
    lock_to_single_conversation: bool
    allow_messages_after_resolved: bool
    website_url: str | None
    widget_color: str | None
    webhook_url: str | None


class InboxList(Wire):
    payload: list[InboxOut]


class WebhookBody(Wire):
    id: int
    name: str | None
    url: str
    account_id: int
    subscriptions: list[str]
    secret: str | None = Field(None, description="present when webhook signing is on")


class WebhookWrapped(Wire):
    webhook: WebhookBody


class WebhookOut(Wire):
    payload: WebhookWrapped


class ContactInboxOut(Wire):
    source_id: str
    inbox: InboxOut


class ContactModel(Wire):
    """Chatwoot's contact model partial: `availability_status`, no `type`; `last_activity_at` once active."""

    additional_attributes: dict[str, Any]
    availability_status: str
    email: str | None
    id: int
    name: str
    phone_number: str | None
    blocked: bool
    identifier: str | None
    thumbnail: str
    custom_attributes: dict[str, Any]
    last_activity_at: int | SkipJsonSchema[None] = OMITTED
    created_at: int


class AgentOut(Wire):
    """Chatwoot's agent model partial (community edition)."""

    id: int
    account_id: int
    availability_status: Literal["online", "offline", "busy"]
    auto_offline: bool
    confirmed: bool
    email: str
    provider: str
    available_name: str
    name: str
    role: Literal["agent", "administrator"]
    thumbnail: str


class ContactOut(ContactModel):
    contact_inboxes: list[ContactInboxOut]


class ContactPayload(Wire):
    contact: ContactOut
    contact_inbox: ContactInboxOut


class ContactCreated(Wire):
    payload: ContactPayload


class ApiConversationMeta(Wire):
    """`assignee` and `assignee_type` only when the conversation is assigned (`team`: the emulator has none)."""

    sender: ContactModel
    channel: str
    assignee: AgentOut | SkipJsonSchema[None] = OMITTED
    assignee_type: Literal["User"] | SkipJsonSchema[None] = OMITTED
    hmac_verified: bool


class ConversationOut(Wire):
    meta: ApiConversationMeta
    id: int = Field(description="display id")
    messages: list[MessagePushData]
    account_id: int
    uuid: str
    additional_attributes: dict[str, Any]
    agent_last_seen_at: int
    assignee_last_seen_at: int
    can_reply: bool
    contact_last_seen_at: int
    custom_attributes: dict[str, Any]
    inbox_id: int
    labels: list[str]
    muted: bool
    snoozed_until: int | None
    status: Literal["open", "resolved", "pending", "snoozed"]
    created_at: int
    updated_at: float
    timestamp: int
    first_reply_created_at: int
    unread_count: int
    last_non_activity_message: MessagePushData | None
    last_activity_at: int
    priority: Literal["low", "medium", "high", "urgent"] | None
    waiting_since: int
    sla_policy_id: int | None


class MessageOut(Wire):
    """API message: INTEGER `message_type`, epoch `created_at`; `conversation_id` is the display id."""

    id: int
    content: str
    inbox_id: int
    conversation_id: int
    message_type: int = Field(ge=0, le=3)
    content_type: str
    status: str
    content_attributes: dict[str, Any]
    created_at: int
    private: bool
    source_id: str | None
    sender: ContactPushData | UserPushData | AgentBotPushData | None = None
    attachments: list[dict[str, Any]]


class TogglePayload(Wire):
    success: bool
    conversation_id: int
    current_status: Literal["open", "resolved", "pending", "snoozed"]
    snoozed_until: int | None


class ToggleOut(Wire):
    meta: dict[str, Any]
    payload: TogglePayload
