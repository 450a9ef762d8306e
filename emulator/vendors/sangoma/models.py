"""Sangoma CX request bodies (sangoma.md §2.2), validated the way the Sangoma (DRF) layer does.

Ids are accepted as JSON integers or as digit strings: the seed's assign-agent-bot body quotes
`"inbox_id": "<inbox_id>"` while the others send bare numbers. Unknown keys are ignored. Every failure
becomes a DRF field error (`http.validation_error`). Response and webhook shapes are in `wire.py`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, WithJsonSchema

from emulator.core.types import AS_BOOL, AS_STR, JsonStr
from emulator.vendors.sangoma.constants import WEBHOOK_SUBSCRIPTIONS


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
