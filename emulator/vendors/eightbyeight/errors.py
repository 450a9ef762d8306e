"""8x8 Chat Gateway v1 error envelopes (``application/problem+json``).

8x8 changes the shape of ``errors`` from endpoint to endpoint (eightbyeight.md §1.8): a list of objects, a
list of strings, or a single object. Each shape is one small class below; the route picks the class (or the
constructor function) that matches the endpoint, raises it, and renders it with ``problem_body``.

All message texts are the constants in the first section. Reference ids are deterministic: the caller passes
one in, or one is derived by hashing the error's own content (``derive_reference_id``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any, ClassVar, Literal, TypeAlias

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from emulator.core.errors import EmulatorError
from emulator.vendors.eightbyeight.constants import Language

# --- Message texts and codes (eightbyeight.md §1.8; OAS problem schemas) -------------------------------------

ACCESS_DENIED = "Access Denied"
TENANT_NOT_OF_CUSTOMER = "The tenant does not belong to customer."
TENANT_HEADER_MISMATCH = "Header X-8x8-Tenant doesn't match tenant information for customerId={customer_id}"
RESOURCE_NOT_FOUND_LEGACY = "Resource of type {resource_type} with id {resource_id} was not found."
TENANT_OF_OTHER_CUSTOMER = "Tenant {tenant_id} does not belong to customer {customer_id}."
RESOURCE_NOT_FOUND = "Resource not found"
ENTITY_NOT_FOUND = "Entity of type {resource_type} with id {resource_id} was not found."
INVALID_AUTHOR_TYPE = "Invalid authorType={value}, has to be one of user, bot, agent"
INVALID_PARAMETER = "Invalid parameter exception for conversation {conversation_id} and tenant {tenant}."
INTERNAL_ERROR = "Internal error."
INVALID_QUEUE = "Queue ID {queue_id} is invalid."
CONSTRAINT_VIOLATION = "Constraint Violation"
MAY_NOT_BE_EMPTY = "{field}: May not be empty."
FIELD_PROBLEM = "{field}: {problem}"
# Not documented by 8x8; the wording is the emulator's own.
MALFORMED_JSON = "Malformed JSON request body."
UNSUPPORTED_GRANT_TYPE = "Unsupported grant type : {grant_type}"
UNSUPPORTED_MEDIA_TYPE = "Content type '{media}' not supported"
INVALID_MULTIPART = "The multipart body cannot be read."
UPLOAD_AUTHOR_TYPE = "authorType: must be user or bot"
READ_RECEIPT_USER = "authorType user is only allowed on ChatAPI channels"
INVALID_STATE = "Conversation {conversation_id} is {state}; cannot {action}."
WEBHOOK_IN_USE = "WebHook {webhook_id} is used by channel {channel_id}."
WEBHOOK_MISSING = "WebHook {webhook_id} does not exist."
CHAT_API_ONLY = "Only channels of type ChatAPI can be created."
INVALID_CHANNEL = "Channel ID {channel_id} is invalid."
ATTACHMENT_MISSING = "Attachment {attachment_id} was not found."
AGENT_MISSING = "Agent {agent_id} does not exist."
NO_AGENT = "No agent is in conversation {conversation_id}."
NOT_QUEUED = "Conversation {conversation_id} is not waiting for an agent."
AGENT_BUSY = "Agent {agent_id} has no capacity left."
INVALID_EMAIL = "must be a well-formed email address"
INVALID_LANGUAGE = "must be one of " + ", ".join(Language)

CODE_ACCESS_DENIED = "access_denied"
CODE_RESOURCE_NOT_FOUND = "resource_not_found"
CODE_INVALID_JSON_OBJECT = "invalid_json_object"
CODE_INVALID_PARAMETER = "invalid_parameter"
CODE_INVALID_QUEUE = "invalid_queue"
CODE_INVALID_REQUEST = "invalid_request"
CODE_UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
CODE_INVALID_MULTIPART = "invalid_multipart"
CODE_INVALID_STATE = "invalid_state"
CODE_IN_USE = "in_use"
CODE_INVALID_WEBHOOK = "invalid_webhook"
CODE_INVALID_TYPE = "invalid_type"
CODE_INVALID_CHANNEL = "invalid_channel"
CODE_INVALID_AGENT = "invalid_agent"
CODE_NO_AGENT = "no_agent"
CODE_NOT_QUEUED = "not_queued"
CODE_AGENT_BUSY = "agent_busy"

# Reference ids in the OAS examples are 15 hex digits, except send-message's, which has 32.
REFERENCE_ID_LENGTH = 15
LONG_REFERENCE_ID_LENGTH = 32

# --- Shapes --------------------------------------------------------------------------------------------------

ErrorObject: TypeAlias = dict[str, str]
ErrorsPayload: TypeAlias = list[ErrorObject] | list[str] | ErrorObject
NotFoundStyle: TypeAlias = Literal["legacy", "newer"]
# Which 400 envelope an endpoint uses: GeneralErrorResponse, BadRequestResponse (send message) or
# InvalidParameterExceptionResponse (typing, thinking, read-receipt, post-agent-assignment).
ValidationStyle: TypeAlias = Literal["general", "send_message", "newer"]


def derive_reference_id(source: str, length: int = REFERENCE_ID_LENGTH) -> str:
    """A hex reference id derived from ``source``; the same source always gives the same id."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:length]


def coded(code: str, message: str) -> ErrorObject:
    """One ``{code, message}`` error object."""
    return {"code": code, "message": message}


class EightByEightError(EmulatorError):
    """An 8x8 problem response: HTTP status, top-level ``message``, ``errors`` in the endpoint's shape."""

    status_code: int = 500
    # Whether 8x8 always sends a referenceId with this error (one is derived when the caller gives none).
    always_has_reference: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        errors: ErrorsPayload,
        *,
        reference_id: str | None = None,
        validations: list[ErrorObject] | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors
        self.validations = validations
        if status_code is not None:
            self.status_code = status_code
        if reference_id is None and self.always_has_reference:
            reference_id = derive_reference_id(json.dumps([self.status_code, message, errors]))
        self.referenceId = reference_id

    @property
    def first_code(self) -> str | None:
        """The first error code, when ``errors`` carries codes."""
        first: object = self.errors[0] if isinstance(self.errors, list) and self.errors else self.errors
        return first.get("code") if isinstance(first, dict) else None

    def body(self) -> dict[str, Any]:
        """The problem+json body, keys in 8x8's order."""
        body: dict[str, Any] = {"message": self.message, "errors": self.errors}
        if self.validations is not None:
            body["validations"] = self.validations
        if self.referenceId is not None:
            body["referenceId"] = self.referenceId
        return body


class Unauthorized(EightByEightError):
    """401: missing or unknown ``x-api-key``; ``errors`` objects are ``{message, code}``."""

    status_code = 401
    always_has_reference = True


class TenantMismatch(EightByEightError):
    """403: ``X-8x8-Tenant`` names a tenant of another customer; ``errors`` is a list of strings."""

    status_code = 403


class ResourceNotFound(EightByEightError):
    """404 of the original endpoints: "Resource of type …" with a list of strings."""

    status_code = 404


class EntityNotFound(EightByEightError):
    """404 of the newer endpoints (typing, thinking, read-receipt, post-agent-assignment): coded objects."""

    status_code = 404


class SendMessageBadRequest(EightByEightError):
    """400 of send-message: ``errors`` is a single object, not a list (eightbyeight.md §1.8)."""

    status_code = 400
    always_has_reference = True


class InvalidParameter(EightByEightError):
    """400 of the newer endpoints: "Invalid parameter exception for conversation … and tenant …"."""

    status_code = 400
    always_has_reference = True


class GeneralError(EightByEightError):
    """400 or 500 ``GenericExceptionPayload``: a message and coded objects, optionally ``validations``."""

    status_code = 400


class OAuthError(EightByEightError):
    """OAuth token endpoint error: ``{"ErrorCode": ..., "Error": ...}``, no problem envelope."""

    status_code = 400

    def body(self) -> dict[str, Any]:
        return {"ErrorCode": self.first_code or CODE_INVALID_REQUEST, "Error": self.message}


def problem_body(err: EightByEightError) -> dict[str, Any]:
    """The JSON body 8x8 sends for ``err``."""
    return err.body()


# --- Constructors for the common cases -----------------------------------------------------------------------


def unauthorized(reference_id: str | None = None) -> Unauthorized:
    """401 Access Denied."""
    return Unauthorized(
        ACCESS_DENIED, [{"message": ACCESS_DENIED, "code": CODE_ACCESS_DENIED}], reference_id=reference_id
    )


def tenant_mismatch(customer_id: str) -> TenantMismatch:
    """403 for an ``X-8x8-Tenant`` header that does not belong to the key's customer."""
    return TenantMismatch(TENANT_NOT_OF_CUSTOMER, [TENANT_HEADER_MISMATCH.format(customer_id=customer_id)])


def not_found(
    resource_type: str,
    resource_id: str,
    style: NotFoundStyle = "legacy",
    *,
    tenant_id: str | None = None,
    customer_id: str | None = None,
) -> ResourceNotFound | EntityNotFound:
    """404 for a missing resource, e.g. ``not_found("Conversation", cid)``; ``style="newer"`` for new endpoints.

    8x8's legacy 404 lists a tenant/customer string in ``errors`` (OAS ``ResourceNotFoundProblem`` example);
    it is included when both ids are given, otherwise ``errors`` is empty.
    """
    if style == "newer":
        detail = ENTITY_NOT_FOUND.format(resource_type=resource_type, resource_id=resource_id)
        return EntityNotFound(RESOURCE_NOT_FOUND, [coded(CODE_RESOURCE_NOT_FOUND, detail)])
    notes: list[str] = []
    if tenant_id is not None and customer_id is not None:
        notes.append(TENANT_OF_OTHER_CUSTOMER.format(tenant_id=tenant_id, customer_id=customer_id))
    return ResourceNotFound(
        RESOURCE_NOT_FOUND_LEGACY.format(resource_type=resource_type, resource_id=resource_id), notes
    )


def bad_request_send_message(message: str, reference_id: str | None = None) -> SendMessageBadRequest:
    """400 of send-message with ``message`` repeated inside the single ``errors`` object."""
    if reference_id is None:
        reference_id = derive_reference_id(message, LONG_REFERENCE_ID_LENGTH)
    return SendMessageBadRequest(message, coded(CODE_INVALID_JSON_OBJECT, message), reference_id=reference_id)


def invalid_author_type(value: object, reference_id: str | None = None) -> SendMessageBadRequest:
    """400 of send-message for an ``authorType`` outside user/bot/agent (``None`` prints as ``null``)."""
    shown = "null" if value is None else str(value)
    return bad_request_send_message(INVALID_AUTHOR_TYPE.format(value=shown), reference_id)


def invalid_parameter(
    conversation_id: str,
    tenant: str,
    detail: str | Sequence[str] | None = None,
    reference_id: str | None = None,
) -> InvalidParameter:
    """400 of the newer endpoints; each ``detail`` becomes one ``invalid_parameter`` object."""
    message = INVALID_PARAMETER.format(conversation_id=conversation_id, tenant=tenant)
    details = [detail] if isinstance(detail, str) else list(detail or [message.rstrip(".")])
    return InvalidParameter(
        message, [coded(CODE_INVALID_PARAMETER, item) for item in details], reference_id=reference_id
    )


def general_error(code: str, message: str, *, status_code: int = 400, summary: str = INTERNAL_ERROR) -> GeneralError:
    """``GenericExceptionPayload`` with one coded object; 8x8 puts "Internal error." on top even for 400s."""
    return GeneralError(summary, [coded(code, message)], status_code=status_code)


def invalid_queue(queue_id: str, status_code: int = 400) -> GeneralError:
    """400 for an assignment or routing option naming an unknown queue."""
    return general_error(CODE_INVALID_QUEUE, INVALID_QUEUE.format(queue_id=queue_id), status_code=status_code)


def unsupported_media_type(media: str) -> GeneralError:
    """415 for a body that is neither JSON (JSON endpoints) nor multipart (attachment upload)."""
    return general_error(CODE_UNSUPPORTED_MEDIA_TYPE, UNSUPPORTED_MEDIA_TYPE.format(media=media), status_code=415)


def internal_error() -> GeneralError:
    """500 with no details."""
    return GeneralError(INTERNAL_ERROR, [], status_code=500)


def validation_error(
    field: str, value: str, code: str, message: str, *, summary: str = CONSTRAINT_VIOLATION
) -> GeneralError:
    """400 ``GenericExceptionPayload`` plus one ``validations`` entry, e.g. an unknown ``webHookId``."""
    return GeneralError(
        summary,
        [coded(code, message)],
        validations=[{"field": field, "value": value, "code": code, "message": message}],
    )


def oauth_error(grant_type: str) -> OAuthError:
    """Token endpoint error for an unsupported ``grant_type`` (eightbyeight.md §1.2)."""
    return OAuthError(UNSUPPORTED_GRANT_TYPE.format(grant_type=grant_type), [coded(CODE_INVALID_REQUEST, grant_type)])


# --- From request-parsing failures ---------------------------------------------------------------------------


def _field_path(loc: tuple[int | str, ...], ctx: dict[str, Any] | None) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path or str((ctx or {}).get("field", ""))


def _shown_value(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), default=str)


def _describe(error: ErrorDetails) -> tuple[str, str, str]:
    """(field path, submitted value, vendor-style sentence) for one pydantic error."""
    ctx = error.get("ctx")
    field = _field_path(tuple(error["loc"]), ctx)
    if error["type"] == "missing":
        return field, "null", MAY_NOT_BE_EMPTY.format(field=field)
    message = str(error["msg"])
    if ctx and "field" in ctx:  # custom errors already name their field
        return field, _shown_value(error.get("input")), message
    return field, _shown_value(error.get("input")), FIELD_PROBLEM.format(field=field, problem=message)


def from_validation_error(
    exc: ValidationError,
    *,
    style: ValidationStyle = "general",
    conversation_id: str = "",
    tenant: str = "",
    reference_id: str | None = None,
) -> EightByEightError:
    """The 8x8 400 for a request body that failed model validation, in the endpoint's envelope."""
    errors = exc.errors()
    described = [_describe(error) for error in errors]
    if style == "send_message":
        # eightbyeight.md §1.8: a bad authorType has its own sentence; the first problem wins otherwise.
        for error in errors:
            if tuple(error["loc"]) == ("authorType",):
                return invalid_author_type(None if error["type"] == "missing" else error["input"], reference_id)
        return bad_request_send_message(described[0][2], reference_id)
    if style == "newer":
        return invalid_parameter(conversation_id, tenant, [text for _, _, text in described], reference_id)
    return GeneralError(
        CONSTRAINT_VIOLATION,
        [coded(CODE_INVALID_PARAMETER, text) for _, _, text in described],
        validations=[
            {"field": field, "value": value, "code": CODE_INVALID_PARAMETER, "message": text}
            for field, value, text in described
        ],
    )


def malformed_json(
    *, style: ValidationStyle = "general", conversation_id: str = "", tenant: str = "", reference_id: str | None = None
) -> EightByEightError:
    """The 8x8 400 for a body that is not a JSON object, in the endpoint's envelope."""
    if style == "send_message":
        return bad_request_send_message(MALFORMED_JSON, reference_id)
    if style == "newer":
        return invalid_parameter(conversation_id, tenant, MALFORMED_JSON, reference_id)
    return general_error(CODE_INVALID_JSON_OBJECT, MALFORMED_JSON, summary=MALFORMED_JSON)
