"""What the 8x8 operation declarations share (`routes.py` declares each one on its handler): the `API` registry,
the problem replies, the parameters and the request bodies. Facts: ``../shared/vendors/eightbyeight.md`` (cited
by section); 8x8's own file ``../shared/reference/8x8-chat-gateway-v1.oas.yml`` ("OAS <name>").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from emulator import __version__
from emulator.core.api import Api
from emulator.core.contracts import REF, Body, Param, Reply
from emulator.vendors.eightbyeight.constants import (
    API_PREFIX,
    CARD_ACTION_PREFIX,
    DEFAULT_MESSAGE_SORT,
    DEFAULT_PAGE_NUMBER,
    DEFAULT_PAGE_SIZE,
    DEFAULT_SORT,
    HAL_JSON,
    PROBLEM_JSON,
    TENANT_HEADER,
    ChannelType,
    ExternalAuthorType,
)
from emulator.vendors.eightbyeight.models_replies import (
    BadRequestProblem,
    EntityNotFoundProblem,
    ForbiddenProblem,
    GenericProblem,
    InvalidParameterProblem,
    ResourceNotFoundProblem,
    UnauthorizedProblem,
)
from emulator.vendors.eightbyeight.paging import MAX_PAGE_SIZE

SECURITY_SCHEME = "8x8ApiKey"

# --- Replies -------------------------------------------------------------------------------------------------


def ok(description: str, model: type[BaseModel]) -> Reply:
    return Reply(description, model, HAL_JSON)


def problem(description: str, model: type[BaseModel]) -> Reply:
    return Reply(description, model, PROBLEM_JSON)


R401 = problem("missing or unknown x-api-key (§1.2, §1.8)", UnauthorizedProblem)
R403 = problem("X-8x8-Tenant is not the key's tenant (§1.2, §1.8)", ForbiddenProblem)
R404 = problem("no such resource (§1.8)", ResourceNotFoundProblem)
R404_NEWER = problem("no such conversation (§1.8, newer endpoints)", EntityNotFoundProblem)
R400 = problem("invalid paging, body or reference (§1.8)", GenericProblem)
R400_SEND = problem("invalid message (§1.8: `errors` is an object)", BadRequestProblem)
R400_NEWER = problem("invalid body (§1.8, newer endpoints)", InvalidParameterProblem)
R415 = problem("the body is not JSON (or, for uploads, not multipart/form-data)", GenericProblem)
R500 = problem("internal error", GenericProblem)
NO_CONTENT = Reply("done; no body")


def replies(ok: Mapping[int, Reply], *errors: tuple[int, Reply]) -> dict[int, Reply]:
    """Success replies plus the listed errors and the ones every authenticated call can get."""
    return {**ok, **dict(errors), 401: R401, 403: R403, 500: R500}


# --- Parameters ----------------------------------------------------------------------------------------------

TENANT = Param(
    TENANT_HEADER,
    "header",
    description="8x8 tenant id; must be the key's tenant when sent (§1.2), else 403.",
)
_INT_AS_TEXT = "integer; a number with no fraction, e.g. `20.0`, is read as that integer"
SIZE = Param(
    "size",
    "query",
    {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": DEFAULT_PAGE_SIZE},
    description=f"page size ({_INT_AS_TEXT})",
)
PAGE = Param(
    "page",
    "query",
    {"type": "integer", "minimum": 0, "maximum": 10_000_000, "default": DEFAULT_PAGE_NUMBER},
    description=f"0-based page index ({_INT_AS_TEXT})",
)
# `field`, `field:asc` or `field:desc`, the direction in any case (an empty one means asc); lists sorted by date
# (messages, cards) sort only on `createdAt` (§1.3).
_DIRECTION = "(:([aA][sS][cC]|[dD][eE][sS][cC])?)?"


def _sort(default: str, field: str = "[^:]+") -> Param:
    return Param(
        "sort",
        "query",
        {"type": "string", "pattern": f"^({field}{_DIRECTION})?$", "default": default},
        description="`field:asc|desc` on a field of the resource as returned",
    )


# FIQL comparisons joined by `;` (and) and `,` (or); parentheses group (paging.py). An argument is one or more
# characters. The pattern covers the flat form; nested groups are accepted as well.
_FIQL_VALUE = r"[A-Za-z0-9_.*@:/+-]+"
_FIQL_CMP = rf"[A-Za-z_][A-Za-z0-9_.]*(==|!=){_FIQL_VALUE}"
FILTER = Param(
    "filter",
    "query",
    {"type": "string", "pattern": rf"^({_FIQL_CMP}([;,]{_FIQL_CMP})*)?$"},
    description="FIQL, e.g. `name==X,(routingOption.id==11)`; also `=lt=` `=le=` `=gt=` `=ge=` on numbers",
)
# Every list takes the paging parameters (routes.listing), also where 8x8's file leaves them out.
LIST = (SIZE, PAGE, _sort(DEFAULT_SORT), FILTER, TENANT)
DATED_LIST = (SIZE, PAGE, _sort(DEFAULT_MESSAGE_SORT, "createdAt"), FILTER, TENANT)


def _path(name: str, description: str) -> Param:
    return Param(name, "path", required=True, description=description)


WEBHOOK_ID = _path("webhookId", "webhook id")
CHANNEL_ID = _path("channelId", "channel id")
CONVERSATION_ID = _path("conversationId", "conversation id")
MESSAGE_ID = _path("messageId", "message id")
ATTACHMENT_ID = _path("attachmentId", "attachment id")
CARD_ID = _path("cardId", "card id")
TENANT_ID = _path("tenantId", "8x8 tenant id; must be the key's tenant, else 403")
JWK_ID = _path("jwkId", "key id (`kid` of the x-8x8-signature header)")

# --- Bodies --------------------------------------------------------------------------------------------------

UPLOAD = Body(
    media_type="multipart/form-data",
    schema={
        "type": "object",
        "properties": {
            "attachment": {"type": "string", "format": "binary", "description": "the file (a part with a filename)"},
            "authorType": {
                "type": "string",
                "enum": [str(a) for a in ExternalAuthorType],
                "default": str(ExternalAuthorType.USER),
            },
        },
        "required": ["attachment"],
    },
)


def ref(component: str) -> dict[str, Any]:
    return {"$ref": REF.format(model=component)}


# §1.3: only `type: ChatAPI` channels can be created through the API (state answers 400 for other types).
CREATE_CHANNEL = Body(
    schema={
        "allOf": [
            ref("ChannelRequest"),
            {"properties": {"type": {"anyOf": [{"const": str(ChannelType.CHAT_API)}, {"type": "null"}]}}},
        ]
    }
)
# §1.4: callers post as `user` or `bot` (`agent`, accepted in history items, is a 400 here), and each
# attachment is referenced by the id of one uploaded to the conversation.
SEND_MESSAGE = Body(
    schema={
        "allOf": [
            ref("SendMessageRequest"),
            {
                "properties": {
                    "authorType": ref("ExternalAuthorType"),
                    "attachments": {
                        "anyOf": [
                            {"type": "array", "items": {"required": ["id"], "properties": {"id": {"type": "string"}}}},
                            {"type": "null"},
                        ]
                    },
                }
            },
        ]
    }
)
DOWNLOAD = Reply(
    "the file's bytes",
    media_type="application/octet-stream",
    schema={"type": "string", "format": "binary"},
    headers={
        "Content-Disposition": {
            "description": 'attachment; filename="<the uploaded file name>"',
            "required": True,
            "schema": {"type": "string"},
        }
    },
)

# --- The registry ---------------------------------------------------------------------------------------------

AUTH: Sequence[Mapping[str, Sequence[str]]] = ({SECURITY_SCHEME: ()},)
CONV = f"{API_PREFIX}/conversations/{{conversationId}}"
CARD_ACTION = f"{CARD_ACTION_PREFIX}/{{tenantId}}/conversations/{{conversationId}}/cards/{{cardId}}"
# Bodies in JSON: a non-JSON media type is a 415, a malformed or invalid body a 400 (http.read_json).
JSON_IN = ((400, R400), (415, R415))
NEWER_IN = ((400, R400_NEWER), (415, R415))
CONV_PARAMS = (CONVERSATION_ID, TENANT)

API: Api[Any] = Api(
    "8x8 Contact Center Chat Gateway v1 (cxemu)",
    __version__,
    "cxemu's emulation of 8x8's Chat Gateway v1 at its real paths. Success bodies are "
    "application/hal+json, errors application/problem+json in the endpoint's own shape. Webhooks named "
    '`legacy.*` are the Chat API v2 profile, sent to webhooks whose version is "v2.0".',
)
