"""8x8 Chat Gateway v1: closed value sets, limits, paths and header names.

Facts come from ``../shared/vendors/eightbyeight.md`` (cited by section) and 8x8's own OpenAPI file
``../shared/reference/8x8-chat-gateway-v1.oas.yml`` (cited as "OAS <schema name>").
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

SLUG: Final = "eightbyeight"

# --- Paths and media types (eightbyeight.md §1.2, §1.3) ------------------------------------------------------

API_PREFIX: Final = "/chat-gateway/v1"
# eightbyeight.md §1.3: the two card-action endpoints live under a different prefix.
CARD_ACTION_PREFIX: Final = "/api/v1/tenant"
# The companion APIs (companion.py): real-time metrics (US, EU, APAC, Canada), tenant schedules, OAuth.
METRICS_PREFIXES: Final = tuple(f"{region}/analytics/cc" for region in ("", "/eu", "/au", "/ca"))
SCHEDULES_PREFIX: Final = "/api/provisioning/schedules"
OAUTH_PREFIX: Final = "/oauth/v2"
COMPANION_PATHS: Final = (*METRICS_PREFIXES, SCHEDULES_PREFIX, OAUTH_PREFIX)
HAL_JSON: Final = "application/hal+json"
PROBLEM_JSON: Final = "application/problem+json"

# --- Request headers (eightbyeight.md §1.2) ------------------------------------------------------------------

API_KEY_HEADER: Final = "x-api-key"
TENANT_HEADER: Final = "X-8x8-Tenant"

# --- Outbound webhook headers and signature (eightbyeight.md §1.5) ---------------------------------------------

WEBHOOK_TENANT_HEADER: Final = "x-8x8-tenant-id"
WEBHOOK_CUSTOMER_HEADER: Final = "x-8x8-customer-id"
WEBHOOK_EVENT_ID_HEADER: Final = "x-8x8-event-id"
WEBHOOK_TRANSMISSION_TIME_HEADER: Final = "x-8x8-transmission-time"
WEBHOOK_RETRY_HEADER: Final = "x-8x8-retry"
WEBHOOK_SIGNATURE_HEADER: Final = "x-8x8-signature"
# Keys of the detached JWS payload, in the order 8x8 serialises them.
SIGNATURE_PAYLOAD_KEYS: Final = ("checksum", "cid", "eid", "retry", "tid", "tt")
SIGNATURE_ALGORITHM: Final = "RS256"

# --- Paging (OAS parameters PageSizeFilterOptional, PageIndexFilterOptional, SortBy*) -------------------------

DEFAULT_PAGE_SIZE: Final = 20
DEFAULT_PAGE_NUMBER: Final = 0
DEFAULT_SORT: Final = "id:asc"
# eightbyeight.md §1.3: messages and cards sort only on createdAt.
DEFAULT_MESSAGE_SORT: Final = "createdAt:desc"

# --- Limits (OAS schemas; eightbyeight.md §1.4) --------------------------------------------------------------

MAX_ADDITIONAL_PROPERTIES: Final = 30
MAX_HISTORY_MESSAGES: Final = 200
WEBHOOK_NAME_MAX_LENGTH: Final = 256  # OAS WebHookV2CreateRequest / PutRequest
WEBHOOK_RESULT_NAME_MAX_LENGTH: Final = 255  # OAS WebHookV2Result (one less than the request)
CHANNEL_NAME_MAX_LENGTH: Final = 255
CHANNEL_TYPE_MAX_LENGTH: Final = 25
THINKING_MIN_SECONDS: Final = 1
THINKING_MAX_SECONDS: Final = 600
THINKING_DEFAULT_SECONDS: Final = 60
POST_AGENT_MAX_TOTAL_MINUTES_MIN: Final = 20
POST_AGENT_MAX_TOTAL_MINUTES_MAX: Final = 600
POST_AGENT_USER_TIMEOUT_MINUTES_MIN: Final = 10
POST_AGENT_USER_TIMEOUT_MINUTES_MAX: Final = 300
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1

# --- Versions (OAS EventVersion; eightbyeight.md §1.6, §1.9) -------------------------------------------------

NOTIFICATION_VERSION: Final = "Chat Gateway v1.0"
LEGACY_NOTIFICATION_VERSION: Final = "v2.0"


class EventVersion(StrEnum):
    """Webhook notification version accepted on webhook create/put (OAS ``EventVersion`` has one value)."""

    CHAT_GATEWAY_V1 = NOTIFICATION_VERSION
    # Not in 8x8's OAS: cxemu accepts the legacy Chat API v2 version string on a webhook to select the
    # legacy flat event profile (eightbyeight.md §1.9) that the seed's workflow shows.
    LEGACY_V2 = LEGACY_NOTIFICATION_VERSION


# --- Conversations ---------------------------------------------------------------------------------------------


class ConversationState(StrEnum):
    """``state`` of a conversation resource (eightbyeight.md §1.4, §1.7)."""

    CREATED = "created"
    ACTIVE = "active"
    IDLE = "idle"


class AssignmentType(StrEnum):
    """Assignment types seen on results and events; ``agent`` is never accepted as input (§1.4)."""

    QUEUE = "queue"
    SCRIPT = "script"
    AGENT = "agent"


class RequestAssignmentType(StrEnum):
    """Assignment types a caller may request (OAS ``AssignmentField``; default ``queue``)."""

    QUEUE = "queue"
    SCRIPT = "script"


class Language(StrEnum):
    """Language codes listed by OAS ``Language`` (default ``en``)."""

    EN = "en"
    RU = "ru"
    DE = "de"
    JA = "ja"
    ES = "es"
    FR = "fr"
    PT = "pt"
    IT = "it"
    PL = "pl"
    HR = "hr"
    NL = "nl"
    AR = "ar"
    DA = "da"
    KO = "ko"
    NO = "no"
    SV = "sv"
    VI = "vi"
    CY = "cy"
    TH = "th"
    ZH_CN = "zh-CN"
    ZH_TW = "zh-TW"


DEFAULT_LANGUAGE: Final = Language.EN

# --- Authors and participants (OAS ExternalAuthorType, AuthorType) -------------------------------------------


class AuthorType(StrEnum):
    """Every participant/author type the API reports."""

    USER = "user"
    BOT = "bot"
    AGENT = "agent"
    SYSTEM = "system"


class SendMessageAuthorType(StrEnum):
    """``authorType`` accepted by send-message and history items.

    The documented caller values are ``user`` (default) and ``bot``, but 8x8's own 400 text for a bad value
    lists ``user, bot, agent`` (OAS ``BadRequestProblem`` example), so ``agent`` is accepted too.
    """

    USER = "user"
    BOT = "bot"
    AGENT = "agent"


class ExternalAuthorType(StrEnum):
    """``authorType`` of typing, read-receipt and attachment-upload requests (OAS ``ExternalAuthorType``)."""

    BOT = "bot"
    USER = "user"


# --- Cards (OAS ContentType; eightbyeight.md §1.4) -----------------------------------------------------------


class CardContentType(StrEnum):
    """Card ``contentType``; the default is the adaptive card."""

    ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
    QUICK_REPLIES = "application/8x8.quick.replies"
    INTERACTIVE = "Interactive"
    LOCATION = "Location"
    TEMPLATE = "Template"
    SUGGESTIONS = "Suggestions"
    BUTTONS = "Buttons"
    CAROUSEL = "Carousel"


class ExternalProviderName(StrEnum):
    """Providers a message can be rehydrated from (OAS ``ExternalProviderPayload``)."""

    X = "X"


# --- Channels and webhooks -------------------------------------------------------------------------------------


class ChannelType(StrEnum):
    """Channel ``type`` (OAS ``ChannelTypeField``); only ``ChatAPI`` may be created through the API."""

    SMS = "SMS"
    CHAT_API = "ChatAPI"
    FACEBOOK = "Facebook"
    TWITTER = "Twitter"
    WHATSAPP = "WhatsApp"
    WEB_CHAT = "WebChat"


CREATABLE_CHANNEL_TYPES: Final = frozenset({ChannelType.CHAT_API})


class RoutingOptionType(StrEnum):
    """Channel ``routingOptions.type`` (OAS ``ChannelRoutingOptions``)."""

    QUEUE = "queue"


class PostAgentAssignmentType(StrEnum):
    """Post-agent assignment ``type`` (OAS ``PostAgentAssignmentType``)."""

    WEBHOOK = "webhook"


class ChannelDisplayType(StrEnum):
    """``data.channel`` of CONVERSATION_UPDATE events (eightbyeight.md §1.6)."""

    WHATSAPP = "WhatsApp"
    SMS = "SMS"
    WEB_CHAT = "WebChat"
    FACEBOOK = "Facebook"
    VIBER = "Viber"
    RCS = "RCS"
    EMAIL = "Email"
    CHAT_API = "ChatAPI"


# --- Webhook events (eightbyeight.md §1.6, §1.9) -------------------------------------------------------------


class EventType(StrEnum):
    """Chat Gateway v1 ``eventType`` values."""

    WEB_HOOK_VERIFY = "WEB_HOOK_VERIFY"
    CONVERSATION_UPDATE = "CONVERSATION_UPDATE"
    QUEUED = "QUEUED"
    MEMBERS_CHANGED = "MEMBERS_CHANGED"
    MESSAGE = "MESSAGE"
    ACTIVITY = "ACTIVITY"
    TRANSFER = "TRANSFER"


class LegacyEventType(StrEnum):
    """``eventType`` values of the legacy Chat API v2 profile (eightbyeight.md §1.9)."""

    WEB_HOOK_VERIFY = "WEB_HOOK_VERIFY"
    QUEUED = "QUEUED"
    AGENT_JOINED = "AGENT_JOINED"
    AGENT_LEFT = "AGENT_LEFT"
    TRANSFER = "TRANSFER"
    TEXT = "TEXT"


class LegacyMessageType(StrEnum):
    """``messageType`` of legacy v2 events."""

    SYSTEM = "SYSTEM"
    AGENT = "AGENT"


class MemberType(StrEnum):
    """``data.memberType`` of MEMBERS_CHANGED."""

    USER = "user"
    AGENT = "agent"


class MemberChange(StrEnum):
    """``data.change`` of MEMBERS_CHANGED."""

    JOINED = "joined"
    LEFT = "left"


class ActivityName(StrEnum):
    """Known ``data.name`` values of ACTIVITY events; channel-specific names also occur (§1.6)."""

    TYPING = "typing"
    ADAPTIVE_CARD_ACTION = "adaptiveCard/action"
    QUICK_REPLY_ACTION = "quickReply/action"
    READ_RECEIPTS = "read-receipts"
    INTERACTIVE_REPLY = "interactive/reply"


class CardActionType(StrEnum):
    """``data.value.type`` of an ``adaptiveCard/action`` activity."""

    SUBMIT = "Action.Submit"
    EXECUTE = "Action.Execute"


QUICK_REPLY_ACTION_TYPE: Final = "postback"


class AttachmentKind(StrEnum):
    """``type`` of an attachment inside a MESSAGE event."""

    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    FILE = "file"
