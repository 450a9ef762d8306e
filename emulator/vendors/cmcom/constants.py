"""CM.com Business Messaging + Conversational (Bot) Router: paths, names, codes and texts (cmcom.md §3).

Every message text the emulator answers with is a constant here. Where CM does not document a text the
wording is the emulator's own and says so.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Literal, get_args

SLUG = "cmcom"

# -- paths (cmcom.md §3.1, §3.3) ------------------------------------------------------------------------------

GATEWAY_PATH = "/v1.0/message"
ROUTER_PREFIX = "/conversational"
BMPROXY_PATH = "/conversational/bmproxy/v1/accounts/{account_id}"
# CM's JavaScript SDK appends the gateway's path to a base URL, so pointed at BMProxy it posts here [inf].
BMPROXY_SDK_PATH = f"{BMPROXY_PATH}{GATEWAY_PATH}"
CONTROL_PREFIX = "/conversational/control/v1/accounts/{account_id}/sessions"
MUTATION_PATH = f"{CONTROL_PREFIX}/mutationrequests"
POSITION_PATH = f"{CONTROL_PREFIX}/positionrequests"
RESET_PATH = f"{CONTROL_PREFIX}/{{chat_id}}/resetrequests"
RESET_QUERY_PATH = f"{CONTROL_PREFIX}/resetrequests"
PRODUCT_TOKEN_HEADER = "X-CM-PRODUCTTOKEN"
PROBLEM_JSON = "application/problem+json"

# -- channels (cmcom.md §3.1 allowedChannels) ---------------------------------------------------------------

ChannelName = Literal[
    "SMS",
    "WhatsApp",
    "Push",
    "RCS",
    "Viber",
    "Voice",
    "Apple Messages for Business",
    "Line",
    "Twitter",
    "MobilePush",
    "Facebook Messenger",
    "Google Business Messages",
    "Instagram",
    "Telegram Messenger",
]
CHANNELS: tuple[str, ...] = get_args(ChannelName)
# Older and SDK spellings of the same channels; names are matched case-insensitively ("Whatsapp" in the SDK).
CHANNEL_ALIASES = {"apple business chat": "Apple Messages for Business", "imessage": "Apple Messages for Business"}
CANONICAL_CHANNEL = {name.lower(): name for name in CHANNELS} | CHANNEL_ALIASES
# Channels that report a Read status (over-the-top apps); SMS and Voice stop at Delivered [inf].
READ_RECEIPT_CHANNELS = frozenset(
    {"WhatsApp", "RCS", "Viber", "Apple Messages for Business", "Facebook Messenger", "Instagram", "Telegram Messenger"}
)

BODY_TYPES = ("auto", "text", "binary")

# -- send API codes and texts (cmcom.md §3.1, TextClientStatusCodes) ----------------------------------------


class Code(IntEnum):
    OK = 0
    AUTHENTICATION_FAILED = 101
    BALANCE_INSUFFICIENT = 102
    TOKEN_INCORRECT = 103
    NOT_ALL_SENT = 201
    REQUEST_MALFORMED = 202
    MSG_ARRAY_INCORRECT = 203
    INVALID_FROM = 301
    INVALID_TO = 302
    INVALID_MSISDN = 303
    INVALID_BODY = 304
    INVALID_FIELD = 305
    SPAM = 401
    BLACKLISTED = 402
    REJECTED = 403
    INTERNAL_ERROR = 500


CREATED = "Created {n} message(s)"
NO_ACCOUNT = "No account found for the given authentication"  # cmcom.md §3.1 (documented text)
EMPTY_BODY = "A body without content was found"  # documented text
NOT_A_NUMBER = "Gsm '{number}' is not a number."  # documented text
# Not documented by CM; the emulator's own wording.
BALANCE = "Your balance is insufficient"
TOKEN_INCORRECT = "The product token '{token}' is incorrect"
MALFORMED = "The request is malformed: {reason}"
MSG_ARRAY = "The 'msg' array is missing, empty or not an array"
INVALID_FROM = "Invalid sender '{sender}': use at most 16 digits or 11 alphanumeric characters"
NO_RECIPIENTS = "No recipients were given"
INVALID_TO = "Invalid recipient: every 'to' entry needs a 'number'"
INVALID_FIELD = "Invalid value for field '{field}': {reason}"
SPAM = "The message was filtered as spam"
BLACKLISTED = "The recipient '{number}' is blacklisted"
NO_CHANNEL = "None of the allowed channels ({channels}) is configured on this account"
COMPONENT_DISABLED = "The component '{component}' is disabled for chat {chat_id}; its messages are not routed"
TOO_LONG = "The body needs {parts} message parts, more than maximumNumberOfMessageParts ({maximum})"
INTERNAL = "Internal server error"

# -- router (cmcom.md §3.3, §3.5) -----------------------------------------------------------------------------


class Component(StrEnum):
    CM_BOT = "CmBot"
    CUSTOMER_CONTACT = "CustomerContact"


class MutationType(StrEnum):
    ENABLE = "enableComponent"
    DISABLE = "disableComponent"


GENERIC_INBOX = "Generic inbox"
NOTIFICATION_TYPE = "mutationNotification"
RESET_NOTIFICATION_TYPE = "resetNotification"

# Router control errors: ASP.NET Core problem details, CM's stack [inf]; texts are the emulator's own.
VALIDATION_TITLE = "One or more validation errors occurred."
VALIDATION_TYPE = "https://tools.ietf.org/html/rfc7231#section-6.5.1"
NOT_FOUND_TYPE = "https://tools.ietf.org/html/rfc7231#section-6.5.4"
UNAUTHORIZED_TYPE = "https://tools.ietf.org/html/rfc7235#section-3.1"
UNAUTHORIZED_TITLE = "Unauthorized"
NOT_FOUND_TITLE = "Not Found"
REQUIRED = "The {field} field is required."
NOT_A_GUID = "The value '{value}' is not a valid Guid."
UNKNOWN_MUTATION = "Unknown mutation type '{value}'; use enableComponent or disableComponent."
UNKNOWN_COMPONENT = "Unknown component '{value}'; known: {known}."
CONTEXT_OBJECT = "Context must be an object of string values."
UNKNOWN_ACCOUNT = "No bot router account '{account_id}' for this product token."
UNKNOWN_CHAT = "No chat '{chat_id}' on bot router account '{account_id}'."
UNKNOWN_FLOW = "CmBot has no flow '{flow}'."
UNKNOWN_STEP = "CmBot flow '{flow}' has no step '{step}'."
MISSING_TOKEN = "A valid product token is required in the X-CM-PRODUCTTOKEN header."
BODY_NOT_JSON = "The request body is not a JSON object."

# -- status reports (cmcom.md §3.2; numeric codes [inf]) ------------------------------------------------------


class Status(StrEnum):
    """What a status report says of a sent message; the `status.code` of each is in `status_codes`."""

    ACCEPTED = "Accepted"
    SENT = "Sent"
    DELIVERED = "Delivered"
    FAILED = "Failed"
    READ = "Read"


ACCEPTED, SENT, DELIVERED, FAILED, READ = Status.ACCEPTED, Status.SENT, Status.DELIVERED, Status.FAILED, Status.READ
"""The members, read once: in Python 3.11 each `Status.X` goes through `EnumType`'s `__getattr__` hook (~1,000
instructions; every sent message and status report asks)."""


FAILED_DESCRIPTION = "Message could not be delivered to the recipient"  # the emulator's own wording
