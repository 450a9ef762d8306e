"""Sangoma CX names, paths, enums and message texts (sangoma.md; Chatwoot facts in §2.4-§2.8)."""

from __future__ import annotations

from enum import StrEnum

SLUG = "sangoma"

API_PREFIX = "/cx/api/v1"
"""Every CX endpoint lives under `https://cpaas.sangoma.com/cx/api/v1/...` (§2.1)."""
OAUTH_PREFIX = "/oauth"
TOKEN_PATH = f"{OAUTH_PREFIX}/token"
"""`POST https://auth.sangoma.com/oauth/token` (§2.1), served on the same port as the API."""
DI = f"{API_PREFIX}/digital-interactions"

SCOPE_AGENT_CALLS = "cx.agent-calls"
SCOPE_QUEUE_CALLS = "cx.queue-calls"
SCOPE_DI = "cx.digital-interactions"
SCOPES = (SCOPE_AGENT_CALLS, SCOPE_QUEUE_CALLS, SCOPE_DI)
"""The only three scopes Sangoma documents (§2.1)."""

DEFAULT_DOMAIN_SUFFIX = ".cx.sangoma.com"
TOKEN_TYPE = "bearer"


class ConversationStatus(StrEnum):
    """Chatwoot conversation status (§2.4): open=0, resolved=1, pending=2, snoozed=3."""

    OPEN = "open"
    RESOLVED = "resolved"
    PENDING = "pending"
    SNOOZED = "snoozed"


PRIORITIES = ("low", "medium", "high", "urgent")
"""Chatwoot priority enum, integer index = DB value (§2.4)."""

MESSAGE_TYPES = ("incoming", "outgoing", "activity", "template")
"""Chatwoot message_type enum, integer index = DB value (§2.4)."""


class CallState(StrEnum):
    """A voice call's life on the clock [inf: Sangoma publishes no call-status API, §2.9]."""

    DIALING = "dialing"
    RINGING = "ringing"
    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    IN_QUEUE = "in-queue"
    CONNECTED = "connected"
    COMPLETED = "completed"


FINAL_CALL_STATES = (CallState.BUSY, CallState.NO_ANSWER, CallState.COMPLETED)

WEBHOOK_SUBSCRIPTIONS = (
    "conversation_status_changed",
    "conversation_updated",
    "conversation_created",
    "contact_created",
    "contact_updated",
    "message_created",
    "message_updated",
    "webwidget_triggered",
    "inbox_created",
    "inbox_updated",
    "conversation_typing_on",
    "conversation_typing_off",
)
"""Allowed account-webhook subscriptions (§2.4, Chatwoot app/models/webhook.rb)."""

AGENT_BOT_EVENTS = (
    "message_created",
    "message_updated",
    "webwidget_triggered",
    "conversation_opened",
    "conversation_resolved",
)
"""What an agent bot's outgoing_url receives, with no subscription filter (§2.4)."""
NEWER_AGENT_BOT_EVENTS = ("conversation_updated", "conversation_status_changed")
"""Also sent to agent bots by Chatwoot from April 2026 (§2.4, CW-PR #13975/#14001/#14002)."""

E164 = r"\+[1-9]\d{1,14}\Z"
"""Chatwoot's contact phone check (§2.8)."""
EMAIL = r"\A[^@\s]+@[^@\s]+\Z"
"""Devise's default email regexp, which Chatwoot's contact model uses."""

# -- Chatwoot signing headers (§2.4, CW-PR #13573/#13892) -----------------------------------------------------
SIGNATURE_HEADER = "X-Chatwoot-Signature"
TIMESTAMP_HEADER = "X-Chatwoot-Timestamp"
DELIVERY_HEADER = "X-Chatwoot-Delivery"

# -- message texts (one place; §2.8 for Chatwoot, DRF wording for the Sangoma layer [inf]) -------------------
NOT_AUTHENTICATED = "Authentication credentials were not provided."
INVALID_TOKEN = "Invalid token."
EXPIRED_TOKEN = "Token has expired."
NO_PERMISSION = "You do not have permission to perform this action."
WRONG_TENANT = "The tenant_domain does not belong to this access token."
FIELD_REQUIRED = "This field is required."
FIELD_BLANK = "This field may not be blank."
FIELD_NULL = "This field may not be null."
NOT_AN_INTEGER = "A valid integer is required."
NOT_A_STRING = "Not a valid string."
NOT_A_LIST = 'Expected a list of items but got type "{type}".'
NOT_A_DICT = "Invalid data. Expected a dictionary, but got {type}."
JSON_PARSE_ERROR = "JSON parse error - {detail}"
UNSUPPORTED_MEDIA = 'Unsupported media type "{media}" in request.'
INVALID_CHOICE = '"{value}" is not a valid choice.'
NOT_FOUND_DETAIL = "Not found."
DRF_INVALID_URL = "Enter a valid URL."
METHOD_NOT_ALLOWED = 'Method "{method}" not allowed.'

CW_NOT_FOUND = "Resource could not be found"
CW_INVALID_EVENTS = "Subscriptions Invalid events"
CW_URL_TAKEN = "Url has already been taken"
CW_URL_INVALID = "Url is invalid"
CW_EMAIL_INVALID = "Email Invalid email"
CW_EMAIL_TAKEN = "Email has already been taken"
CW_PHONE_E164 = "Phone number should be in e164 format"
CW_PHONE_TAKEN = "Phone number has already been taken"
CW_IDENTIFIER_TAKEN = "Identifier has already been taken"
CW_SOURCE_ID_UNIQUE = "source_id should be unique"
CW_INVALID_PRIORITY = "'{value}' is not a valid priority"

AGENT_NOT_FOUND = "Agent {name} was not found in tenant {domain}."
AGENT_NOT_LOGGED_IN = "Agent {name} is not logged in."
QUEUE_NOT_FOUND = "Queue {name} was not found in tenant {domain}."
