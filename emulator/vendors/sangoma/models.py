"""Sangoma CX wire models (sangoma.md §2.2, §2.5, §2.6, §2.8): request bodies, REST responses and webhook
payloads. Requests are validated with them; responses and webhooks are built as dicts in `views.py` and these
models describe them key by key for the contract (a test checks every body the emulator sends against it).

- Requests, validated the way the Sangoma (DRF) layer does: ids are accepted as JSON integers or as digit
  strings (the seed's assign-agent-bot body quotes `"inbox_id": "<inbox_id>"` while the others send bare
  numbers); unknown keys are ignored; every failure becomes a DRF field error (`http.validation_error`).
- REST responses and the error bodies of the three layers, with Chatwoot's types.

Webhook payloads are in `models_webhooks.py` (this module would pass 600 lines with them).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, WithJsonSchema
from pydantic.json_schema import SkipJsonSchema

from emulator.core.types import AS_BOOL, AS_STR, JsonStr
from emulator.vendors.sangoma.constants import WEBHOOK_SUBSCRIPTIONS
from emulator.vendors.sangoma.models_webhooks import (
    AgentBotPushData,
    ContactPushData,
    MessagePushData,
    UserPushData,
    Wire,
)

# -- requests ------------------------------------------------------------------------------------------------------


def _id(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("not_int")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 18:
        return int(value.strip())
    raise ValueError("not_int")


Id = Annotated[
    int,
    BeforeValidator(_id),
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": "^[0-9]{1,18}$"}]}),
]
"""A numeric id sent as an integer or as a digit string."""

Text = Annotated[str, Strict(), Field(min_length=1, max_length=150_000), AS_STR]
Name = Annotated[str, Strict(), Field(min_length=1, max_length=255), AS_STR]
Domain = Annotated[str, Strict(), Field(min_length=1, max_length=255), AS_STR]
Url = Annotated[str, Strict(), Field(min_length=1, max_length=2048), AS_STR]
Flag = Annotated[bool, Strict(), AS_BOOL]


class RequestModel(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TenantBody(RequestModel):
    tenant_domain: Domain = Field(description="the CX tenant, e.g. `acme.cx.sangoma.com`")


class AgentCallRequest(TenantBody):
    """POST /agents/call/ (§2.2): an outbound call on behalf of a logged-in agent."""

    agent_name: Name = Field(description="the CX agent, e.g. `agent.test`")
    destination: Name = Field(description="the number or extension to dial")


class QueueCallRequest(TenantBody):
    """POST /queues/call/ (§2.2): "CallBack Now", answered calls wait in the queue."""

    queue_name: Name = Field(description="the CX queue, e.g. `queue_test`")
    destination: Name = Field(description="the number or extension to dial")


URL_SCHEMA: dict[str, Any] = {"pattern": "^https?://[^\\s/]+"}
"""Documented in the contract; enforced after parsing: a webhook's `url` by the Chatwoot layer (422 "Url is
invalid"), a bot's `outgoing_url` by the Sangoma layer (400 "Enter a valid URL.")."""


class AgentBotRequest(TenantBody):
    """POST /digital-interactions/agent-bot/ (and the `agents-bot` spelling)."""

    name: Name
    outgoing_url: Url = Field(description="where the bot's events are POSTed", json_schema_extra=URL_SCHEMA)
    description: Annotated[str, Strict(), Field(max_length=10_000), AS_STR] | None = None


class AssignAgentBotRequest(TenantBody):
    inbox_id: Id
    agent_bot_id: Id | None = Field(description="the bot to attach; null detaches the inbox's bot")


class WebhookRequest(TenantBody):
    url: Url = Field(json_schema_extra=URL_SCHEMA)
    subscriptions: list[JsonStr] = Field(
        description="Chatwoot event names; an empty list or an unknown name is a 422 (Chatwoot's check)",
        json_schema_extra={"minItems": 1, "items": {"type": "string", "enum": list(WEBHOOK_SUBSCRIPTIONS)}},
    )


class ContactRequest(TenantBody):
    inbox_id: Id
    name: Annotated[str, Strict(), Field(max_length=255), AS_STR] | None = None
    email: Annotated[str, Strict(), Field(max_length=255), AS_STR] | None = Field(
        None, json_schema_extra={"pattern": "^[^@\\s]+@[^@\\s]+$"}, description="unique per account"
    )
    phone_number: Annotated[str, Strict(), Field(max_length=64), AS_STR] | None = Field(
        None, json_schema_extra={"pattern": "^\\+[1-9][0-9]{1,14}$"}, description="E.164, unique per account"
    )
    identifier: Annotated[str, Strict(), Field(max_length=255), AS_STR] | None = None


Priority = Annotated[
    Any,
    WithJsonSchema({"enum": [0, 1, 2, 3, "low", "medium", "high", "urgent", None]}),
]
"""Taken as sent and checked by the Chatwoot layer (`di.parse_priority`): anything else, `true` included, is
Chatwoot's 422 "'x' is not a valid priority"."""


class ConversationRequest(TenantBody):
    contact_id: Id
    inbox_id: Id
    source_id: Annotated[str, Strict(), Field(min_length=1, max_length=255), AS_STR] | None = None
    priority: Priority = Field(None, description="0-3 or low/medium/high/urgent (§2.9)")
    initial_message: Annotated[str, Strict(), Field(max_length=150_000), AS_STR] | None = None


class MessageRequest(TenantBody):
    conversation_id: Id = Field(description="the conversation's display id (`conversation.id` in webhooks)")
    content: Text
    message_type: Literal["incoming", "outgoing"] = Field(
        "outgoing", description="outgoing = shown as the bot's message, incoming = the customer's"
    )
    private: Flag = False


class ConversationRef(TenantBody):
    conversation_id: Id


# -- REST responses ------------------------------------------------------------------------------------------------


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
