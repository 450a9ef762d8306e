"""8x8 Chat Gateway v1 wire models: field types, bases and request bodies (REST responses: ``models_replies.py``;
webhook payloads: ``models_webhooks.py``).

Field names are the vendor's own (camelCase) so a model reads like the JSON it stands for; the only aliases
are the HAL keys ``_embedded``/``_links``/``self``. Field declaration order is the order keys appear in the
vendor's JSON. Facts: ``../shared/vendors/eightbyeight.md`` (cited by section) and 8x8's OpenAPI file
``../shared/reference/8x8-chat-gateway-v1.oas.yml`` (cited as "OAS <schema name>").

* Request models (``RequestModel``) ignore unknown keys and coerce numbers to strings, as 8x8's JSON
  binding does, but enforce the enums, required fields, lengths and item limits the OAS declares.
* Response and webhook models (``WireModel``) render the vendor JSON with ``wire()``: aliases on, ``None``
  fields left out (8x8 omits absent optional fields rather than sending ``null``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeAlias, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    PlainSerializer,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from emulator.vendors.eightbyeight.constants import (
    CHANNEL_NAME_MAX_LENGTH,
    INT64_MAX,
    INT64_MIN,
    MAX_ADDITIONAL_PROPERTIES,
    MAX_HISTORY_MESSAGES,
    POST_AGENT_MAX_TOTAL_MINUTES_MAX,
    POST_AGENT_MAX_TOTAL_MINUTES_MIN,
    POST_AGENT_USER_TIMEOUT_MINUTES_MAX,
    POST_AGENT_USER_TIMEOUT_MINUTES_MIN,
    THINKING_DEFAULT_SECONDS,
    THINKING_MAX_SECONDS,
    THINKING_MIN_SECONDS,
    WEBHOOK_NAME_MAX_LENGTH,
    AssignmentType,
    CardContentType,
    ChannelType,
    EventVersion,
    ExternalAuthorType,
    ExternalProviderName,
    Language,
    PostAgentAssignmentType,
    RequestAssignmentType,
    RoutingOptionType,
    SendMessageAuthorType,
)
from emulator.vendors.eightbyeight.errors import INVALID_EMAIL, INVALID_LANGUAGE

# --- Field types ---------------------------------------------------------------------------------------------

_T = TypeVar("_T")
_NULL_SCHEMA: dict[str, Any] = {"type": "null"}


@dataclass(frozen=True)
class _OmittedWhenNone:
    """JSON-schema marker: the field is left out rather than sent as ``null``, so the contract shows no null."""

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = handler(schema)
        if "default" in json_schema and json_schema["default"] is None:
            del json_schema["default"]
        options = json_schema.get("anyOf")
        if not isinstance(options, list) or _NULL_SCHEMA not in options:
            return json_schema
        rest = [option for option in options if option != _NULL_SCHEMA]
        json_schema = {key: value for key, value in json_schema.items() if key != "anyOf"}
        return {**rest[0], **json_schema} if len(rest) == 1 else {"anyOf": rest, **json_schema}


# An optional field 8x8 omits when it has no value (``wire()`` drops None).
Omittable: TypeAlias = Annotated[_T | None, _OmittedWhenNone()]

Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]


def _format_instant(value: datetime) -> str:
    """ISO-8601 UTC with millisecond precision, fraction dropped when zero (how a Java Instant prints)."""
    moment = (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).astimezone(UTC)
    millis = moment.microsecond // 1000
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{millis:03d}Z" if millis else f"{stamp}Z"


# Resource timestamps are ISO-8601 strings, e.g. "2021-01-30T08:30:00Z" (eightbyeight.md §1.4);
# webhook timestamps are epoch milliseconds instead (§1.6).
IsoInstant = Annotated[
    datetime,
    PlainSerializer(_format_instant, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]

_URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$")


def _absolute_uri(value: str) -> str:
    # OAS format: uri ("Absolute URI"); the string is kept verbatim, not normalised.
    if not _URI_SCHEME.match(value):
        raise PydanticCustomError("uri_parsing", "Input should be an absolute URI")
    return value


AbsoluteUri = Annotated[str, AfterValidator(_absolute_uri), WithJsonSchema({"type": "string", "format": "uri"})]


def _number(value: object) -> int | float:
    # Numeric strings bind to a JSON number field; booleans and other types do not.
    if isinstance(value, str):
        for parse in (int, float):
            try:
                number: int | float = parse(value.strip())
            except ValueError:
                continue
            if math.isfinite(number):
                return number
        raise PydanticCustomError("float_parsing", "Input should be a valid number, unable to parse string as a number")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PydanticCustomError("float_type", "Input should be a valid number")
    return value


# A JSON number kept as given (120 stays 120, -1.5 stays -1.5): user.timezoneOffset (eightbyeight.md §1.6).
JsonNumber = Annotated[int | float, BeforeValidator(_number), WithJsonSchema({"type": "number"})]


def _bool_to_text(value: object) -> object:
    # eightbyeight.md §1.4: notifyChannelWebhookIfExists is a string; a JSON boolean binds to "true"/"false".
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


# --- Bases ---------------------------------------------------------------------------------------------------


class WireModel(BaseModel):
    """Base of every 8x8 wire model; ``wire()`` gives the JSON body exactly as 8x8 sends it."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    def wire(self) -> dict[str, Any]:
        """The vendor JSON: aliased keys, declaration order, absent (None) fields omitted."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class RequestModel(WireModel):
    """Base of request bodies: unknown keys ignored, numbers accepted where strings are expected."""

    model_config = ConfigDict(coerce_numbers_to_str=True)


class EventModel(WireModel):
    """Base of webhook payload envelopes: constant fields (``eventType``) count as required in the contract."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)


# --- Shared building blocks ----------------------------------------------------------------------------------


class AdditionalProperty(RequestModel):
    """One ``{key, value}`` pair of ``user.additionalProperties``; both parts are required (§1.4)."""

    key: str
    value: str
    # Only seen in CONVERSATION_UPDATE events (eightbyeight.md §1.6).
    id: Omittable[str] = None


# Validation context key: when true, ``user.email`` and ``user.language`` are checked as the OAS declares them.
STRICT_USER_FIELDS = "strict_user_fields"
# OAS ConversationUserData ``email: {type: string, format: email}``: an RFC 5321 mailbox (dot-atom local part,
# host name or address literal). 8x8 documents no server-side rule, so the pattern is the emulator's own.
_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
    r"|\[[A-Za-z0-9:.]+\])"
)
_LANGUAGES = frozenset(Language)


class ConversationUser(RequestModel):
    """The ``user`` object: predefined fields plus up to 30 additional properties (OAS ``ConversationUserData``).

    Used unchanged in requests, in ``ConversationResult`` and in CONVERSATION_UPDATE events. With the
    ``strict_user_fields`` setting (default on, [inf]) ``email`` must be an address (OAS ``format: email``) and
    ``language`` one of the OAS ``Language`` codes; the schema keeps both free text, as with the setting off.
    """

    name: Omittable[str] = None
    userId: Omittable[str] = None
    customerId: Omittable[str] = None
    email: Omittable[str] = None
    phone: Omittable[str] = None
    company: Omittable[str] = None
    caseId: Omittable[str] = None
    # OAS Language is a plain string (the codes are only listed in its description); see constants.Language.
    language: Omittable[str] = None
    ipaddress: Omittable[str] = None
    timezoneOffset: Omittable[JsonNumber] = None
    additionalProperties: Omittable[list[AdditionalProperty]] = Field(
        default=None, max_length=MAX_ADDITIONAL_PROPERTIES
    )

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and _strict(info) and not _EMAIL.fullmatch(value):
            raise PydanticCustomError("value_error", INVALID_EMAIL)
        return value

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and _strict(info) and value not in _LANGUAGES:
            raise PydanticCustomError("value_error", INVALID_LANGUAGE)
        return value


def _strict(info: ValidationInfo) -> bool:
    return isinstance(info.context, dict) and bool(info.context.get(STRICT_USER_FIELDS))


class Assignment(RequestModel):
    """Requested routing: a queue (default) or a social script, by id (OAS ``AssignmentField``)."""

    type: RequestAssignmentType = RequestAssignmentType.QUEUE
    # Kept verbatim: the seed sends "id":" 123" with a leading space.
    id: Omittable[str] = None


class AssignmentResult(WireModel):
    """Assignment as reported by results and events; ``type`` may also be ``agent`` (§1.6, §1.7)."""

    type: AssignmentType
    id: Omittable[str] = None
    resourceId: Omittable[str] = None


class AttachmentRef(RequestModel):
    """Reference to an uploaded attachment inside a message (OAS ``Attachments``)."""

    id: Omittable[str] = None


class CardPayload(RequestModel):
    """A card as sent with a message (OAS ``AdaptiveCards``, request side)."""

    contentType: CardContentType = CardContentType.ADAPTIVE_CARD
    content: Omittable[dict[str, Any]] = None


class ExternalProvider(RequestModel):
    """Source of a rehydrated message, e.g. an X post (OAS ``ExternalProviderPayload``)."""

    name: ExternalProviderName
    externalMessageId: str


# --- Requests: conversations ---------------------------------------------------------------------------------


class SendMessageRequest(RequestModel):
    """POST …/messages body, also one ``history.messages`` item: exactly one of ``text``/``externalProvider``."""

    authorType: SendMessageAuthorType
    text: str | None = None
    externalProvider: ExternalProvider | None = None
    attachments: list[AttachmentRef] | None = None
    cards: list[CardPayload] | None = None

    @model_validator(mode="after")
    def _text_xor_external_provider(self) -> SendMessageRequest:
        # OAS ExternalProviderPayload: required when text is absent, forbidden together with text.
        fields = self.__dict__  # (read once: each attribute read goes through pydantic's `__getattr__` hook)
        if (fields["text"] is None) == (fields["externalProvider"] is None):
            raise PydanticCustomError(
                "text_or_external_provider",
                "{field}: exactly one of text or externalProvider must be given",
                {"field": "text"},
            )
        return self


HistoryMessage = SendMessageRequest


class History(RequestModel):
    """Earlier bot/user exchange handed to the agent (at most 200 messages)."""

    messages: list[HistoryMessage] = Field(max_length=MAX_HISTORY_MESSAGES)


class CreateConversationRequest(RequestModel):
    """POST /conversations body (OAS ``CreateTransactionRequest``)."""

    channelId: str
    assignment: Assignment | None = None
    user: ConversationUser
    history: History | None = None


class UpdateConversationRequest(RequestModel):
    """PUT /conversations/{id} body: full update; the OAS marks no field required (``UpdateTransactionRequest``)."""

    channelId: str | None = None
    assignment: Assignment | None = None
    user: ConversationUser | None = None


class PatchConversationRequest(RequestModel):
    """PATCH /conversations/{id} body: ``assignment`` and/or ``user`` (OAS ``PatchTransactionRequest``)."""

    assignment: Assignment | None = None
    user: ConversationUser | None = None


class PatchUserParticipantRequest(RequestModel):
    """PATCH …/participants/user body; ``removed: true`` ends the interaction (§1.3)."""

    removed: bool | None = None


class PostAgentAssignmentConfiguration(RequestModel):
    """``configuration`` of a post-agent assignment (OAS ``PostAgentAssignmentConfigurationRequest``)."""

    # eightbyeight.md §1.4: a string "true"/"false", not a boolean.
    notifyChannelWebhookIfExists: Annotated[str, BeforeValidator(_bool_to_text)] | None = None
    maxTotalMinutes: int | None = Field(
        default=None, ge=POST_AGENT_MAX_TOTAL_MINUTES_MIN, le=POST_AGENT_MAX_TOTAL_MINUTES_MAX
    )
    userTimeoutInMinutes: int | None = Field(
        default=None, ge=POST_AGENT_USER_TIMEOUT_MINUTES_MIN, le=POST_AGENT_USER_TIMEOUT_MINUTES_MAX
    )

    @property
    def notify_channel_webhook(self) -> bool:
        """The string read as a Java boolean would be: only "true" (any case) is true."""
        return (self.notifyChannelWebhookIfExists or "").lower() == "true"


class PostAgentAssignmentRequest(RequestModel):
    """POST …/post-agent-assignment body: hand the conversation to a webhook after the agent (§1.4)."""

    type: PostAgentAssignmentType
    id: str
    configuration: PostAgentAssignmentConfiguration | None = None


class TypingRequest(RequestModel):
    """POST …/typing body (OAS ``TypingRequest``)."""

    authorType: ExternalAuthorType


class ThinkingRequest(RequestModel):
    """POST …/thinking body; the whole body is optional, ``ThinkingRequest()`` gives the defaults."""

    authorType: Literal["bot"] = "bot"
    maxThinkingTimeSeconds: int = Field(
        default=THINKING_DEFAULT_SECONDS, ge=THINKING_MIN_SECONDS, le=THINKING_MAX_SECONDS
    )


class ReadReceiptRequest(RequestModel):
    """POST …/read-receipt body; ``user`` is only allowed on Chat API channels (checked by state)."""

    authorType: ExternalAuthorType
    readAt: Int64


class AttachmentUploadForm(RequestModel):
    """Non-file part of the multipart attachment upload (the file itself is the ``attachment`` part)."""

    authorType: ExternalAuthorType = ExternalAuthorType.USER


class CardActionRequest(RequestModel):
    """PUT …/cards/{cardId}/action-submit and action-execute body (OAS ``AdaptiveCardAction*Payload``)."""

    name: str | None = None


# --- Requests: webhooks and channels -------------------------------------------------------------------------


class WebhookRequest(RequestModel):
    """POST /webhooks and PUT /webhooks/{id} body (OAS ``WebHookV2CreateRequest`` / ``WebHookV2PutRequest``).

    The OAS requires ``notificationVersion`` but only defines ``version`` (eightbyeight.md §1.4): either key
    is accepted and at least one must be present.
    """

    name: str = Field(max_length=WEBHOOK_NAME_MAX_LENGTH)
    uri: AbsoluteUri
    version: EventVersion | None = None
    notificationVersion: EventVersion | None = None

    @model_validator(mode="after")
    def _one_version_key(self) -> WebhookRequest:
        if self.version is None and self.notificationVersion is None:
            raise PydanticCustomError("missing", "{field}: May not be empty.", {"field": "notificationVersion"})
        return self

    @property
    def effective_version(self) -> EventVersion:
        """The notification version, whichever key carried it."""
        return self.version or self.notificationVersion or EventVersion.CHAT_GATEWAY_V1


WebhookCreateRequest = WebhookRequest
WebhookPutRequest = WebhookRequest


class WebhookVerifyRequest(RequestModel):
    """POST /webhooks/verify body; ``version`` is free text here, e.g. "v2.0" (OAS ``WebHookV2VerifyRequest``)."""

    version: str
    uri: AbsoluteUri


class RoutingOptions(RequestModel):
    """Channel routing: the queue new conversations go to (OAS ``ChannelRoutingOptions``)."""

    type: RoutingOptionType
    id: str


class ChannelRequest(RequestModel):
    """POST /channels and PUT /channels/{id} body; state rejects types other than ChatAPI on create (§1.4)."""

    name: str = Field(max_length=CHANNEL_NAME_MAX_LENGTH)
    type: ChannelType | None = None
    webHookId: str
    routingOptions: RoutingOptions


ChannelCreateRequest = ChannelRequest
ChannelPutRequest = ChannelRequest
