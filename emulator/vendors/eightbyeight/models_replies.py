"""8x8 Chat Gateway v1 REST response bodies: resources and their HAL lists (OAS ``*Result``, ``*ListResult``).

Wire models as in ``models.py`` (``WireModel.wire()`` renders the vendor JSON); ``views.py`` builds them from
state, and ``contract.py`` publishes their schemas; the problem bodies at the end are what ``errors.py``
renders, as the contract states them. Facts: ``../shared/vendors/eightbyeight.md`` (by section)
and 8x8's OpenAPI file (cited as "OAS <schema name>").
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import (
    Field,
)

from emulator.vendors.eightbyeight.constants import (
    DEFAULT_PAGE_NUMBER,
    DEFAULT_PAGE_SIZE,
    NOTIFICATION_VERSION,
    AuthorType,
    CardContentType,
    ChannelType,
    ConversationState,
    ExternalProviderName,
    RoutingOptionType,
)
from emulator.vendors.eightbyeight.models import (
    AssignmentResult,
    ConversationUser,
    IsoInstant,
    Omittable,
    WireModel,
)

# --- Responses: resources ------------------------------------------------------------------------------------


class CreateConversationResponse(WireModel):
    """202 body of POST /conversations."""

    conversationId: str
    createdAt: IsoInstant


class ConversationResult(WireModel):
    """A conversation resource (GET, and the 202 body of PUT/PATCH)."""

    id: str
    channelId: str
    state: ConversationState
    assignment: Omittable[AssignmentResult] = None
    user: Omittable[ConversationUser] = None


class InteractionResult(WireModel):
    """One Contact Center interaction of a conversation (OAS ``InteractionInfo``)."""

    id: str
    startTime: Omittable[IsoInstant] = None
    endTime: Omittable[IsoInstant] = None


class ParticipantResult(WireModel):
    """A participant, also a message's ``author`` (OAS ``ConversationParticipant``)."""

    id: str
    type: AuthorType
    removed: bool = False
    language: Omittable[str] = None


class AttachmentRefResult(WireModel):
    """An attachment id inside a message."""

    id: str


class CardResult(WireModel):
    """A stored card with its action flags (OAS ``AdaptiveCards``)."""

    id: str
    contentType: CardContentType = CardContentType.ADAPTIVE_CARD
    content: dict[str, Any] = Field(default_factory=dict)
    actionSubmitted: bool = False
    actionExecuted: bool = False


class ExternalProviderResult(WireModel):
    """``externalProvider`` of a rehydrated message."""

    name: ExternalProviderName
    externalMessageId: str


class MessageResult(WireModel):
    """A stored message (OAS ``MessageResult``); ``text`` is required there, so it is never omitted."""

    id: str
    text: str
    createdAt: IsoInstant
    author: ParticipantResult
    externalProvider: Omittable[ExternalProviderResult] = None
    attachments: list[AttachmentRefResult] = Field(default_factory=list)
    cards: list[CardResult] = Field(default_factory=list)


class AttachmentResult(WireModel):
    """An uploaded attachment's details.

    The OAS lists ``size`` and ``type`` as required but documents only ``sizeInBytes`` (eightbyeight.md §1.4);
    they are optional here and left out unless state fills them.
    """

    id: str
    filename: str
    sizeInBytes: int
    size: Omittable[int] = None
    type: Omittable[str] = None
    createdAt: IsoInstant


class WebhookResult(WireModel):
    """A webhook resource (OAS ``WebHookV2Result``)."""

    id: str
    name: str
    uri: str
    version: str = NOTIFICATION_VERSION


class RoutingOptionsResult(WireModel):
    """``routingOptions`` of a channel resource."""

    type: RoutingOptionType = RoutingOptionType.QUEUE
    id: str


class ChannelResult(WireModel):
    """A channel resource (OAS ``ChannelV2Result``)."""

    id: str
    name: str
    type: ChannelType = ChannelType.CHAT_API
    webHookId: str
    routingOptions: RoutingOptionsResult


class Jwk(WireModel):
    """Public RSA key served by GET /jwk/{jwkId}/public (no auth)."""

    kty: Literal["RSA"] = "RSA"
    e: str
    kid: str
    n: str


# --- Responses: HAL lists ------------------------------------------------------------------------------------


class HalHref(WireModel):
    """``{"href": ...}``."""

    href: str


class HalLinks(WireModel):
    """``_links`` of a list: only ``self``."""

    self_: HalHref = Field(alias="self")

    @classmethod
    def to(cls, href: str) -> HalLinks:
        """Links whose ``self`` points at ``href``."""
        return cls(self_=HalHref(href=href))


class PageInfo(WireModel):
    """``page`` of a list (OAS ``PageResult``)."""

    size: int = DEFAULT_PAGE_SIZE
    number: int = DEFAULT_PAGE_NUMBER
    totalElements: int = 0
    totalPages: int = 0

    @classmethod
    def of(cls, size: int, number: int, total_elements: int) -> PageInfo:
        """Page metadata with ``totalPages`` computed from the total and the page size."""
        pages = math.ceil(total_elements / size) if size > 0 else 0
        return cls(size=size, number=number, totalElements=total_elements, totalPages=pages)


class ConversationsEmbedded(WireModel):
    conversations: list[ConversationResult]


class ConversationList(WireModel):
    """GET /conversations (OAS ``ConversationListResult``)."""

    embedded: ConversationsEmbedded = Field(alias="_embedded")
    links: HalLinks = Field(alias="_links")
    page: PageInfo


class WebhooksEmbedded(WireModel):
    webhooks: list[WebhookResult]


class WebhookList(WireModel):
    """GET /webhooks (OAS ``WebHooksV2ListResult``)."""

    embedded: WebhooksEmbedded = Field(alias="_embedded")
    links: HalLinks = Field(alias="_links")
    page: PageInfo


class ChannelsEmbedded(WireModel):
    channels: list[ChannelResult]


class ChannelList(WireModel):
    """GET /channels (OAS ``ChannelsV2ListResult``)."""

    embedded: ChannelsEmbedded = Field(alias="_embedded")
    links: HalLinks = Field(alias="_links")
    page: PageInfo


class InteractionsEmbedded(WireModel):
    interactions: list[InteractionResult]


class InteractionList(WireModel):
    """GET …/interactions (OAS ``InteractionsListResult``)."""

    embedded: InteractionsEmbedded = Field(alias="_embedded")
    links: HalLinks = Field(alias="_links")
    page: PageInfo


class ParticipantsEmbedded(WireModel):
    participants: list[ParticipantResult]


class ParticipantList(WireModel):
    """GET …/participants (OAS ``ConversationParticipants``)."""

    embedded: ParticipantsEmbedded = Field(alias="_embedded")
    links: HalLinks = Field(alias="_links")
    page: PageInfo


class MessagesEmbedded(WireModel):
    messages: list[MessageResult]


class MessageList(WireModel):
    """GET …/messages (OAS ``MessageListResult``): the only list without ``_links``."""

    embedded: MessagesEmbedded = Field(alias="_embedded")
    page: PageInfo


class CardsEmbedded(WireModel):
    cards: list[CardResult]


class CardList(WireModel):
    """GET …/messages/{messageId}/cards (OAS ``CardsListResult``)."""

    embedded: CardsEmbedded = Field(alias="_embedded")
    links: HalLinks = Field(alias="_links")
    page: PageInfo


class AttachmentsEmbedded(WireModel):
    attachments: list[AttachmentResult]


class AttachmentList(WireModel):
    """GET …/attachments (OAS ``AttachmentsResult``)."""

    embedded: AttachmentsEmbedded = Field(alias="_embedded")
    links: HalLinks = Field(alias="_links")
    page: PageInfo


# --- Problem bodies (application/problem+json; eightbyeight.md §1.8, the shapes of `errors.py`) ------------


class CodedError(WireModel):
    """One ``{code, message}`` entry of ``errors``."""

    code: str
    message: str


class FieldViolation(WireModel):
    """One ``validations`` entry: the field, the submitted value, a code and a sentence."""

    field: str
    value: str
    code: str
    message: str


class GenericProblem(WireModel):
    """400/415/500 of most endpoints (OAS ``GenericExceptionPayload``); body validation adds ``validations``
    (OAS ``ValidationExceptionPayload``)."""

    message: str
    errors: list[CodedError]
    validations: Omittable[list[FieldViolation]] = None


class UnauthorizedProblem(WireModel):
    """401: missing or unknown ``x-api-key`` (OAS ``UnauthorizedProblem``)."""

    message: str
    errors: list[CodedError]
    referenceId: str


class ForbiddenProblem(WireModel):
    """403: ``X-8x8-Tenant`` (or the card-action path's tenant) is not the key's tenant; ``errors`` are strings
    (OAS ``ForbiddenViolationProblem``)."""

    message: str
    errors: list[str]


class ResourceNotFoundProblem(WireModel):
    """404 of the original endpoints: "Resource of type … was not found." with strings in ``errors``
    (OAS ``ResourceNotFoundProblem``)."""

    message: str
    errors: list[str]


class EntityNotFoundProblem(WireModel):
    """404 of the newer endpoints: "Resource not found" with coded objects (OAS
    ``ResourceNotFoundExceptionPayload``)."""

    message: str
    errors: list[CodedError]


class BadRequestProblem(WireModel):
    """400 of send-message: ``errors`` is one object, not a list (§1.8; OAS ``BadRequestProblem``)."""

    message: str
    errors: CodedError
    referenceId: str


class InvalidParameterProblem(WireModel):
    """400 of the newer endpoints (OAS ``InvalidParameterExceptionPayload``)."""

    message: str
    errors: list[CodedError]
    referenceId: str
