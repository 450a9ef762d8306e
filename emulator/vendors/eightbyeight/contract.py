"""The emulated 8x8 Chat Gateway v1 as an OpenAPI 3.1 document (`contracts/eightbyeight.openapi.yaml`).

Built from the wire models (`models.py`) and the problem shapes below, one `Operation` per route in
`routes.py` with every status code the handler can answer. Facts: ``../shared/vendors/eightbyeight.md``
(cited by section); 8x8's own file ``../shared/reference/8x8-chat-gateway-v1.oas.yml`` ("OAS <name>").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from emulator import __version__
from emulator.core.contracts import REF, Body, Operation, Param, Reply, WebhookSpec, build_openapi
from emulator.vendors.eightbyeight import models as m
from emulator.vendors.eightbyeight import payloads as p
from emulator.vendors.eightbyeight import results as r
from emulator.vendors.eightbyeight.constants import (
    API_KEY_HEADER,
    API_PREFIX,
    CARD_ACTION_PREFIX,
    DEFAULT_MESSAGE_SORT,
    DEFAULT_PAGE_NUMBER,
    DEFAULT_PAGE_SIZE,
    DEFAULT_SORT,
    HAL_JSON,
    PROBLEM_JSON,
    TENANT_HEADER,
    WEBHOOK_CUSTOMER_HEADER,
    WEBHOOK_EVENT_ID_HEADER,
    WEBHOOK_RETRY_HEADER,
    WEBHOOK_SIGNATURE_HEADER,
    WEBHOOK_TENANT_HEADER,
    WEBHOOK_TRANSMISSION_TIME_HEADER,
    ChannelType,
    ExternalAuthorType,
)
from emulator.vendors.eightbyeight.paging import MAX_PAGE_SIZE

SECURITY_SCHEME = "8x8ApiKey"

# --- Problem bodies (application/problem+json; eightbyeight.md §1.8, the shapes of `errors.py`) ------------


class CodedError(m.WireModel):
    """One ``{code, message}`` entry of ``errors``."""

    code: str
    message: str


class FieldViolation(m.WireModel):
    """One ``validations`` entry: the field, the submitted value, a code and a sentence."""

    field: str
    value: str
    code: str
    message: str


class GenericProblem(m.WireModel):
    """400/415/500 of most endpoints (OAS ``GenericExceptionPayload``); body validation adds ``validations``
    (OAS ``ValidationExceptionPayload``)."""

    message: str
    errors: list[CodedError]
    validations: m.Omittable[list[FieldViolation]] = None


class UnauthorizedProblem(m.WireModel):
    """401: missing or unknown ``x-api-key`` (OAS ``UnauthorizedProblem``)."""

    message: str
    errors: list[CodedError]
    referenceId: str


class ForbiddenProblem(m.WireModel):
    """403: ``X-8x8-Tenant`` (or the card-action path's tenant) is not the key's tenant; ``errors`` are strings
    (OAS ``ForbiddenViolationProblem``)."""

    message: str
    errors: list[str]


class ResourceNotFoundProblem(m.WireModel):
    """404 of the original endpoints: "Resource of type … was not found." with strings in ``errors``
    (OAS ``ResourceNotFoundProblem``)."""

    message: str
    errors: list[str]


class EntityNotFoundProblem(m.WireModel):
    """404 of the newer endpoints: "Resource not found" with coded objects (OAS
    ``ResourceNotFoundExceptionPayload``)."""

    message: str
    errors: list[CodedError]


class BadRequestProblem(m.WireModel):
    """400 of send-message: ``errors`` is one object, not a list (§1.8; OAS ``BadRequestProblem``)."""

    message: str
    errors: CodedError
    referenceId: str


class InvalidParameterProblem(m.WireModel):
    """400 of the newer endpoints (OAS ``InvalidParameterExceptionPayload``)."""

    message: str
    errors: list[CodedError]
    referenceId: str


# --- Replies -------------------------------------------------------------------------------------------------


def _ok(description: str, model: type[BaseModel]) -> Reply:
    return Reply(description, model, HAL_JSON)


def _problem(description: str, model: type[BaseModel]) -> Reply:
    return Reply(description, model, PROBLEM_JSON)


R401 = _problem("missing or unknown x-api-key (§1.2, §1.8)", UnauthorizedProblem)
R403 = _problem("X-8x8-Tenant is not the key's tenant (§1.2, §1.8)", ForbiddenProblem)
R404 = _problem("no such resource (§1.8)", ResourceNotFoundProblem)
R404_NEWER = _problem("no such conversation (§1.8, newer endpoints)", EntityNotFoundProblem)
R400 = _problem("invalid paging, body or reference (§1.8)", GenericProblem)
R400_SEND = _problem("invalid message (§1.8: `errors` is an object)", BadRequestProblem)
R400_NEWER = _problem("invalid body (§1.8, newer endpoints)", InvalidParameterProblem)
R415 = _problem("the body is not JSON (or, for uploads, not multipart/form-data)", GenericProblem)
R500 = _problem("internal error", GenericProblem)
NO_CONTENT = Reply("done; no body")


def _replies(ok: Mapping[int, Reply], *errors: tuple[int, Reply]) -> dict[int, Reply]:
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


def _ref(component: str) -> dict[str, Any]:
    return {"$ref": REF.format(model=component)}


# §1.3: only `type: ChatAPI` channels can be created through the API (state answers 400 for other types).
CREATE_CHANNEL = Body(
    schema={
        "allOf": [
            _ref("ChannelRequest"),
            {"properties": {"type": {"anyOf": [{"const": str(ChannelType.CHAT_API)}, {"type": "null"}]}}},
        ]
    }
)
# §1.4: callers post as `user` or `bot` (`agent`, accepted in history items, is a 400 here), and each
# attachment is referenced by the id of one uploaded to the conversation.
SEND_MESSAGE = Body(
    schema={
        "allOf": [
            _ref("SendMessageRequest"),
            {
                "properties": {
                    "authorType": _ref("ExternalAuthorType"),
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

# --- Operations ----------------------------------------------------------------------------------------------

AUTH: Sequence[Mapping[str, Sequence[str]]] = ({SECURITY_SCHEME: ()},)
CONV = f"{API_PREFIX}/conversations/{{conversationId}}"
CARD_ACTION = f"{CARD_ACTION_PREFIX}/{{tenantId}}/conversations/{{conversationId}}/cards/{{cardId}}"


def _op(
    method: str,
    path: str,
    operation_id: str,
    summary: str,
    responses: Mapping[int, Reply],
    tag: str,
    params: Sequence[Param] = (TENANT,),
    body: Body | None = None,
) -> Operation:
    return Operation(method, path, operation_id, summary, responses, (tag,), params, body, AUTH)


def _operations() -> list[Operation]:
    conv_params = (CONVERSATION_ID, TENANT)
    # Bodies in JSON: a non-JSON media type is a 415, a malformed or invalid body a 400 (http.read_json).
    json_in = ((400, R400), (415, R415))
    newer_in = ((400, R400_NEWER), (415, R415))
    return [
        # -- webhooks (§1.3) --
        _op(
            "GET",
            f"{API_PREFIX}/webhooks",
            "listWebhooks",
            "List webhooks",
            _replies({200: _ok("a page of webhooks", r.WebhookList)}, (400, R400)),
            "WebHooks",
            LIST,
        ),
        _op(
            "POST",
            f"{API_PREFIX}/webhooks",
            "createWebhook",
            "Create a webhook (sends WEB_HOOK_VERIFY to it)",
            _replies({200: _ok("the webhook", r.WebhookResult)}, *json_in),
            "WebHooks",
            body=Body(m.WebhookRequest),
        ),
        _op(
            "POST",
            f"{API_PREFIX}/webhooks/verify",
            "verifyWebhook",
            "Send WEB_HOOK_VERIFY to a URI",
            _replies({204: NO_CONTENT}, *json_in),
            "WebHooks",
            body=Body(m.WebhookVerifyRequest),
        ),
        _op(
            "GET",
            f"{API_PREFIX}/webhooks/{{webhookId}}",
            "getWebhook",
            "Get a webhook",
            _replies({200: _ok("the webhook", r.WebhookResult)}, (404, R404)),
            "WebHooks",
            (WEBHOOK_ID, TENANT),
        ),
        _op(
            "PUT",
            f"{API_PREFIX}/webhooks/{{webhookId}}",
            "replaceWebhook",
            "Replace a webhook",
            _replies({200: _ok("the webhook", r.WebhookResult)}, *json_in, (404, R404)),
            "WebHooks",
            (WEBHOOK_ID, TENANT),
            Body(m.WebhookRequest),
        ),
        _op(
            "DELETE",
            f"{API_PREFIX}/webhooks/{{webhookId}}",
            "deleteWebhook",
            "Delete a webhook no channel uses",
            _replies({204: NO_CONTENT}, (400, _problem("a channel uses the webhook", GenericProblem)), (404, R404)),
            "WebHooks",
            (WEBHOOK_ID, TENANT),
        ),
        Operation(
            "GET",
            f"{API_PREFIX}/jwk/{{jwkId}}/public",
            "getJwk",
            "The public key that signs webhooks (no auth)",
            {200: Reply("an RSA JWK", r.Jwk, "application/json"), 404: R404, 500: R500},
            ("JwkKeys",),
            (JWK_ID,),
            security=[],
        ),
        # -- channels (§1.3, §1.4: only ChatAPI channels can be created) --
        _op(
            "GET",
            f"{API_PREFIX}/channels",
            "listChannels",
            "List channels",
            _replies({200: _ok("a page of channels", r.ChannelList)}, (400, R400)),
            "Channels",
            LIST,
        ),
        _op(
            "POST",
            f"{API_PREFIX}/channels",
            "createChannel",
            "Create a ChatAPI channel",
            _replies({200: _ok("the channel", r.ChannelResult)}, *json_in),
            "Channels",
            body=CREATE_CHANNEL,
        ),
        _op(
            "GET",
            f"{API_PREFIX}/channels/{{channelId}}",
            "getChannel",
            "Get a channel",
            _replies({200: _ok("the channel", r.ChannelResult)}, (404, R404)),
            "Channels",
            (CHANNEL_ID, TENANT),
        ),
        _op(
            "PUT",
            f"{API_PREFIX}/channels/{{channelId}}",
            "replaceChannel",
            "Replace a channel",
            _replies({200: _ok("the channel", r.ChannelResult)}, *json_in, (404, R404)),
            "Channels",
            (CHANNEL_ID, TENANT),
            Body(m.ChannelRequest),
        ),
        _op(
            "DELETE",
            f"{API_PREFIX}/channels/{{channelId}}",
            "deleteChannel",
            "Delete a channel",
            _replies({204: NO_CONTENT}, (404, R404)),
            "Channels",
            (CHANNEL_ID, TENANT),
        ),
        # -- conversations (§1.3, §1.4, §1.7) --
        _op(
            "GET",
            f"{API_PREFIX}/conversations",
            "listConversations",
            "List conversations",
            _replies({200: _ok("a page of conversations", r.ConversationList)}, (400, R400)),
            "Conversations",
            LIST,
        ),
        _op(
            "POST",
            f"{API_PREFIX}/conversations",
            "createConversation",
            "Create a conversation; its interaction starts asynchronously",
            _replies({202: _ok("the new conversation's id", r.CreateConversationResponse)}, *json_in),
            "Conversations",
            body=Body(m.CreateConversationRequest),
        ),
        _op(
            "GET",
            CONV,
            "getConversation",
            "Get a conversation",
            _replies({200: _ok("the conversation", r.ConversationResult)}, (404, R404)),
            "Conversations",
            conv_params,
        ),
        _op(
            "PUT",
            CONV,
            "replaceConversation",
            "Update channel, user and assignment",
            _replies({202: _ok("the conversation", r.ConversationResult)}, *json_in, (404, R404)),
            "Conversations",
            conv_params,
            Body(m.UpdateConversationRequest),
        ),
        _op(
            "PATCH",
            CONV,
            "patchConversation",
            "Update user and/or assignment",
            _replies({202: _ok("the conversation", r.ConversationResult)}, *json_in, (404, R404)),
            "Conversations",
            conv_params,
            Body(m.PatchConversationRequest),
        ),
        _op(
            "GET",
            f"{CONV}/interactions",
            "listInteractions",
            "The conversation's Contact Center interactions",
            _replies({200: _ok("a page of interactions", r.InteractionList)}, (400, R400), (404, R404)),
            "Conversations",
            (CONVERSATION_ID, *LIST),
        ),
        _op(
            "POST",
            f"{CONV}/post-agent-assignment",
            "createPostAgentAssignment",
            "Hand the conversation to a webhook after the agent",
            _replies({201: NO_CONTENT}, *newer_in, (404, R404_NEWER)),
            "Conversations",
            conv_params,
            Body(m.PostAgentAssignmentRequest),
        ),
        _op(
            "POST",
            f"{CONV}/typing",
            "sendTyping",
            "Show a typing indicator to the agent",
            _replies({204: NO_CONTENT}, *newer_in, (404, R404_NEWER)),
            "Conversations",
            conv_params,
            Body(m.TypingRequest),
        ),
        _op(
            "POST",
            f"{CONV}/thinking",
            "sendThinking",
            "Show a thinking indicator (the body is optional)",
            _replies({204: NO_CONTENT}, *newer_in, (404, R404_NEWER)),
            "Conversations",
            conv_params,
            Body(m.ThinkingRequest, required=False),
        ),
        _op(
            "POST",
            f"{CONV}/read-receipt",
            "sendReadReceipt",
            "Mark messages read up to `readAt`",
            _replies({204: NO_CONTENT}, *newer_in, (404, R404_NEWER)),
            "Conversations",
            conv_params,
            Body(m.ReadReceiptRequest),
        ),
        # -- participants --
        _op(
            "GET",
            f"{CONV}/participants",
            "listParticipants",
            "Everyone who ever joined the conversation",
            _replies({200: _ok("a page of participants", r.ParticipantList)}, (400, R400), (404, R404)),
            "Participants",
            (CONVERSATION_ID, *LIST),
        ),
        _op(
            "PATCH",
            f"{CONV}/participants/user",
            "userLeaves",
            '`{"removed": true}`: the user leaves and the interaction ends (§1.7 row 10)',
            _replies({204: NO_CONTENT}, *json_in, (404, R404)),
            "Participants",
            conv_params,
            Body(m.PatchUserParticipantRequest),
        ),
        # -- messages --
        _op(
            "GET",
            f"{CONV}/messages",
            "listMessages",
            "The conversation's messages (no `_links`)",
            _replies({200: _ok("a page of messages", r.MessageList)}, (400, R400), (404, R404)),
            "Messages",
            (CONVERSATION_ID, *DATED_LIST),
        ),
        _op(
            "POST",
            f"{CONV}/messages",
            "sendMessage",
            "Post a message; 202 without a body (§1.4)",
            _replies({202: Reply("accepted; no body, no message id")}, (400, R400_SEND), (415, R415), (404, R404)),
            "Messages",
            conv_params,
            SEND_MESSAGE,
        ),
        _op(
            "GET",
            f"{CONV}/messages/{{messageId}}",
            "getMessage",
            "Get a message",
            _replies({200: _ok("the message", r.MessageResult)}, (404, R404)),
            "Messages",
            (CONVERSATION_ID, MESSAGE_ID, TENANT),
        ),
        _op(
            "GET",
            f"{CONV}/messages/{{messageId}}/cards",
            "listMessageCards",
            "A message's cards",
            _replies({200: _ok("a page of cards", r.CardList)}, (400, R400), (404, R404)),
            "Cards",
            (CONVERSATION_ID, MESSAGE_ID, *DATED_LIST),
        ),
        # -- attachments --
        _op(
            "GET",
            f"{CONV}/attachments",
            "listAttachments",
            "The conversation's attachments",
            _replies({200: _ok("a page of attachments", r.AttachmentList)}, (400, R400), (404, R404)),
            "Attachments",
            (CONVERSATION_ID, *LIST),
        ),
        _op(
            "POST",
            f"{CONV}/attachments",
            "uploadAttachment",
            "Upload a file to reference from a message",
            _replies({200: _ok("the attachment", r.AttachmentResult)}, (400, R400), (415, R415), (404, R404)),
            "Attachments",
            conv_params,
            UPLOAD,
        ),
        _op(
            "GET",
            f"{CONV}/attachments/{{attachmentId}}",
            "getAttachment",
            "Get an attachment's details",
            _replies({200: _ok("the attachment", r.AttachmentResult)}, (404, R404)),
            "Attachments",
            (CONVERSATION_ID, ATTACHMENT_ID, TENANT),
        ),
        _op(
            "GET",
            f"{CONV}/attachments/{{attachmentId}}/content",
            "downloadAttachment",
            "Download an attachment",
            _replies({200: DOWNLOAD}, (404, R404)),
            "Attachments",
            (CONVERSATION_ID, ATTACHMENT_ID, TENANT),
        ),
        # -- card actions: a different path prefix (§1.3) --
        *(
            _op(
                "PUT",
                f"{CARD_ACTION}/{action}",
                f"cardAction{kind}",
                f"Action.{kind} on a card (ACTIVITY)",
                _replies(
                    {204: NO_CONTENT},
                    *json_in,
                    (404, _problem("no such conversation or card (§1.8, newer shape)", EntityNotFoundProblem)),
                ),
                "Cards",
                (TENANT_ID, CONVERSATION_ID, CARD_ID, TENANT),
                Body(m.CardActionRequest, required=False),
            )
            for action, kind in (("action-submit", "Submit"), ("action-execute", "Execute"))
        ),
    ]


# --- Webhooks (§1.5, §1.6, §1.9) -----------------------------------------------------------------------------

_DIGITS = {"type": "string", "pattern": "^[0-9]+$"}
WEBHOOK_HEADERS = (
    Param(WEBHOOK_TENANT_HEADER, "header", required=True, description="the 8x8 tenant id"),
    Param(WEBHOOK_CUSTOMER_HEADER, "header", required=True, description="the 8x8 customer id"),
    Param(
        WEBHOOK_EVENT_ID_HEADER,
        "header",
        {"type": "string", "format": "uuid"},
        required=True,
        description="unique per event; the same on every retry",
    ),
    Param(
        WEBHOOK_TRANSMISSION_TIME_HEADER,
        "header",
        _DIGITS,
        required=True,
        description="epoch milliseconds of this attempt",
    ),
    Param(WEBHOOK_RETRY_HEADER, "header", _DIGITS, required=True, description="attempt number, 0 first"),
    Param(
        WEBHOOK_SIGNATURE_HEADER,
        "header",
        {"type": "string", "pattern": r"^[A-Za-z0-9_-]+\.\.[A-Za-z0-9_-]+$"},
        description="JWS with detached unencoded payload (RS256, `b64: false`); absent when signing is off",
    ),
)


def _summary(model: type[BaseModel]) -> str:
    return (model.__doc__ or model.__name__).strip().splitlines()[0]


# Rules of the request models that pydantic validators enforce and JSON Schema can still say.
COMPONENT_RULES: dict[str, dict[str, Any]] = {
    # §1.4: exactly one of `text` / `externalProvider` (a null counts as absent).
    "SendMessageRequest": {
        "oneOf": [
            {"required": ["text"], "properties": {"text": {"not": {"type": "null"}}}},
            {"required": ["externalProvider"], "properties": {"externalProvider": _ref("ExternalProvider")}},
        ]
    },
    # §1.4: the OAS requires `notificationVersion` but defines `version`; either (not null) will do.
    "WebhookRequest": {
        "anyOf": [
            {"required": ["version"], "properties": {"version": _ref("EventVersion")}},
            {"required": ["notificationVersion"], "properties": {"notificationVersion": _ref("EventVersion")}},
        ]
    },
}


# Request models take a JSON number where a string is expected ("123" and 123 alike), as 8x8's JSON binding
# does (models.RequestModel); plain string fields of their components say so. `ConversationUser` is one component
# for requests and responses alike, so its reading in responses is that lenient too.
LENIENT_COMPONENTS = frozenset(
    name for name, obj in vars(m).items() if isinstance(obj, type) and issubclass(obj, m.RequestModel)
)


def _accept_numbers(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _accept_numbers(item)
        return
    if not isinstance(node, dict):
        return
    if node.get("type") == "string" and not {"format", "enum", "const", "pattern"} & node.keys():
        node["type"] = ["string", "number"]
    for key in ("properties", "items", "anyOf", "oneOf", "allOf"):
        child = node.get(key)
        _accept_numbers(list(child.values()) if key == "properties" and isinstance(child, dict) else child)


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def contract() -> dict[str, Any]:
    """The 8x8 Chat Gateway v1 OpenAPI 3.1 document, with every webhook payload under `webhooks:`."""
    hooks = [WebhookSpec(name, model, _summary(model), WEBHOOK_HEADERS) for name, model in p.WEBHOOK_EVENTS.items()]
    doc = build_openapi(
        title="8x8 Contact Center Chat Gateway v1 (cxemu)",
        version=__version__,
        description=(
            "cxemu's emulation of 8x8's Chat Gateway v1 at its real paths. Success bodies are "
            "application/hal+json, errors application/problem+json in the endpoint's own shape. Webhooks named "
            '`legacy.*` are the Chat API v2 profile, sent to webhooks whose version is "v2.0".'
        ),
        operations=_operations(),
        webhooks=hooks,
        security_schemes={SECURITY_SCHEME: {"type": "apiKey", "name": API_KEY_HEADER, "in": "header"}},
    )
    schemas = doc["components"]["schemas"]
    for name in LENIENT_COMPONENTS & schemas.keys():
        _accept_numbers(schemas[name])
    for name, rules in COMPONENT_RULES.items():
        schemas[name].update(rules)
    prefix = REF.format(model="")
    missing = sorted({r for r in _refs(doc) if r.removeprefix(prefix) not in schemas})
    if missing:
        raise RuntimeError(f"the 8x8 contract refers to undefined schemas: {missing}")
    return doc
