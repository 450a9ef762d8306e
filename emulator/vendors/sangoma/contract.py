"""The emulated Sangoma CX as an OpenAPI 3.1 document (`contracts/sangoma.openapi.yaml`).

One operation per served path (both spellings, with and without the trailing slash), every status a handler
can answer, and every webhook payload under `webhooks:` (sangoma.md §2.2, §2.5, §2.6, §2.8).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from emulator import __version__
from emulator.core.contracts import Body, Operation, Param, Reply, WebhookSpec, build_openapi
from emulator.vendors.sangoma import models as m
from emulator.vendors.sangoma.constants import (
    API_PREFIX,
    DELIVERY_HEADER,
    DI,
    SCOPE_AGENT_CALLS,
    SCOPE_DI,
    SCOPE_QUEUE_CALLS,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    TOKEN_PATH,
)
from emulator.vendors.sangoma.models_webhooks import WEBHOOKS
from emulator.vendors.sangoma.routes import CALL_ID_HEADER

FIELD_ERRORS = {
    "type": "object",
    "description": "DRF field errors: each field with its messages",
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
}
TOKEN_FORM = {
    "type": "object",
    "required": ["grant_type"],
    "properties": {
        "grant_type": {"type": "string", "enum": ["client_credentials"]},
        "scope": {"type": "string", "description": "space-separated scopes"},
        "client_id": {"type": "string", "description": "instead of HTTP Basic"},
        "client_secret": {"type": "string", "description": "instead of HTTP Basic"},
    },
}


def _ok(description: str, model: type[BaseModel] | None = None, **kw: Any) -> Reply:
    return Reply(description, model, **kw)


def _errors(*extra: tuple[int, Reply]) -> dict[int, Reply]:
    out = {
        400: Reply(
            "a body field is missing or malformed (DRF field errors), or the JSON cannot be parsed",
            schema={"oneOf": [FIELD_ERRORS, {"$ref": "#/components/schemas/Detail"}]},
        ),
        401: Reply(
            "no, unknown or expired bearer token",
            m.Detail,
            headers={"WWW-Authenticate": {"schema": {"type": "string"}}},
        ),
        403: Reply("the token lacks the endpoint's scope, or `tenant_domain` is not the token's tenant", m.Detail),
        415: Reply("the body is not JSON", m.Detail),
    }
    out.update(dict(extra))
    return out


R404 = (404, Reply("an id names nothing in the tenant (Chatwoot)", m.CwError))
R422 = (
    422,
    Reply(
        "Chatwoot validation",
        schema={"oneOf": [{"$ref": "#/components/schemas/CwInvalid"}, {"$ref": "#/components/schemas/CwError"}]},
    ),
)


def _ops(
    path: str,
    method: str,
    op_id: str,
    summary: str,
    scope: str,
    body: type[BaseModel] | None,
    responses: dict[int, Reply],
    tag: str,
) -> list[Operation]:
    out = []
    for p, suffix in ((path, ""), (f"{path}/", "_slash")):
        out.append(
            Operation(
                method,
                p,
                f"{op_id}{suffix}",
                summary if not suffix else f"{summary} (trailing slash)",
                responses,
                tags=(tag,),
                body=Body(body) if body is not None else None,
                security=[{"oauth2": [scope]}],
            )
        )
    return out


def _operations() -> list[Operation]:
    call_header = {CALL_ID_HEADER: {"schema": {"type": "string"}, "description": "the emulator's call id"}}
    ack = _ok("the call is placed (`{}`) [inf]", m.Ack, headers=call_header)
    voice_404 = (404, Reply("no such agent or queue in the tenant", m.Detail))
    ops = [
        Operation(
            "POST",
            TOKEN_PATH,
            "token",
            "OAuth 2.0 client credentials token",
            {
                200: _ok("an access token", m.TokenResponse),
                400: Reply("invalid_request, unsupported_grant_type or invalid_scope (RFC 6749 §5.2)", m.OAuthError),
                401: Reply("invalid_client", m.OAuthError),
            },
            tags=("auth",),
            body=Body(schema=TOKEN_FORM, media_type="application/x-www-form-urlencoded"),
            security=[{"basic": []}],
        ),
    ]
    ops += _ops(
        f"{API_PREFIX}/agents/call",
        "POST",
        "agent_call",
        "Call a destination on behalf of a logged-in agent",
        SCOPE_AGENT_CALLS,
        m.AgentCallRequest,
        _errors((200, ack), voice_404),
        "voice",
    )
    ops += _ops(
        f"{API_PREFIX}/queues/call",
        "POST",
        "queue_call",
        "CallBack Now: dial out, answered calls queue",
        SCOPE_QUEUE_CALLS,
        m.QueueCallRequest,
        _errors((200, ack), voice_404),
        "voice",
    )
    bot = _errors((200, _ok("the agent bot", m.AgentBotOut)))
    ops += _ops(
        f"{DI}/agent-bot",
        "POST",
        "create_agent_bot",
        "Create an agent bot",
        SCOPE_DI,
        m.AgentBotRequest,
        bot,
        "digital-interactions",
    )
    ops += _ops(
        f"{DI}/agents-bot",
        "POST",
        "create_agents_bot",
        "Create an agent bot (older spelling)",
        SCOPE_DI,
        m.AgentBotRequest,
        bot,
        "digital-interactions",
    )
    inboxes = {
        200: _ok("the account's inboxes", m.InboxList),
        **{k: v for k, v in _errors().items() if k in (401, 403)},
    }
    ops += _ops(f"{DI}/inboxes", "GET", "list_inboxes", "List inboxes", SCOPE_DI, None, inboxes, "digital-interactions")
    assign = _errors((200, _ok("attached (empty body, Chatwoot `head :ok`)")), R404)
    ops += _ops(
        f"{DI}/assign-agent-bot",
        "POST",
        "assign_agent_bot",
        "Attach an agent bot to an inbox",
        SCOPE_DI,
        m.AssignAgentBotRequest,
        assign,
        "digital-interactions",
    )
    ops += _ops(
        f"{DI}/agents-bot/assign",
        "POST",
        "agents_bot_assign",
        "Attach an agent bot (older spelling)",
        SCOPE_DI,
        m.AssignAgentBotRequest,
        assign,
        "digital-interactions",
    )
    ops += _ops(
        f"{DI}/webhooks",
        "POST",
        "create_webhook",
        "Create an account webhook",
        SCOPE_DI,
        m.WebhookRequest,
        _errors((200, _ok("the webhook", m.WebhookOut)), R422),
        "digital-interactions",
    )
    ops += _ops(
        f"{DI}/contacts",
        "POST",
        "create_contact",
        "Create a contact in an inbox",
        SCOPE_DI,
        m.ContactRequest,
        _errors((200, _ok("the contact", m.ContactCreated)), R404, R422),
        "digital-interactions",
    )
    ops += _ops(
        f"{DI}/conversations",
        "POST",
        "create_conversation",
        "Start a conversation",
        SCOPE_DI,
        m.ConversationRequest,
        _errors((200, _ok("the conversation", m.ConversationOut)), R404, R422),
        "digital-interactions",
    )
    ops += _ops(
        f"{DI}/messages",
        "POST",
        "create_message",
        "Send a message (outgoing = bot, incoming = customer)",
        SCOPE_DI,
        m.MessageRequest,
        _errors((200, _ok("the message", m.MessageOut)), R404),
        "digital-interactions",
    )
    toggle = _errors((200, _ok("the new status", m.ToggleOut)), R404)
    ops += _ops(
        f"{DI}/conversations/deliver-to-agent",
        "POST",
        "deliver_to_agent",
        "Hand off to an agent (pending -> open)",
        SCOPE_DI,
        m.ConversationRef,
        toggle,
        "digital-interactions",
    )
    ops += _ops(
        f"{DI}/conversations/finish",
        "POST",
        "finish",
        "Resolve the conversation",
        SCOPE_DI,
        m.ConversationRef,
        toggle,
        "digital-interactions",
    )
    return ops


SIGNING_HEADERS = (
    Param(
        SIGNATURE_HEADER,
        "header",
        {"type": "string", "pattern": "^sha256=[0-9a-f]{64}$"},
        description="when signing is on: HMAC-SHA256 of `{timestamp}.{body}` with the webhook's secret",
    ),
    Param(TIMESTAMP_HEADER, "header", {"type": "string", "pattern": "^[0-9]+$"}, description="when signing is on"),
    Param(DELIVERY_HEADER, "header", {"type": "string"}, description="when signing is on; the same on retries"),
)


def contract() -> dict[str, Any]:
    """The Sangoma CX OpenAPI 3.1 document, with every webhook payload under `webhooks:`."""
    hooks = [WebhookSpec(name, model, summary, SIGNING_HEADERS) for name, (model, summary) in WEBHOOKS.items()]
    # the error models used only through literal `$ref`s must be in components too
    hooks += [
        WebhookSpec(f"_schema.{model.__name__}", model, "not an event: keeps the schema in components")
        for model in (m.Detail, m.CwError, m.CwInvalid)
    ]
    doc = build_openapi(
        title="Sangoma CX (cxemu)",
        version=__version__,
        description=(
            "Sangoma CX voice and Digital Interactions APIs as emulated by cxemu. Digital Interactions behave as "
            "Chatwoot (agent bots, account webhooks, contacts, conversations). `webhooks:` lists the Chatwoot "
            "events sent to agent bots' `outgoing_url` and account webhooks' `url`."
        ),
        operations=_operations(),
        webhooks=hooks,
        security_schemes={
            "oauth2": {
                "type": "oauth2",
                "flows": {
                    "clientCredentials": {
                        "tokenUrl": TOKEN_PATH,
                        "scopes": {
                            SCOPE_AGENT_CALLS: "agent calls",
                            SCOPE_QUEUE_CALLS: "queue calls",
                            SCOPE_DI: "Digital Interactions",
                        },
                    }
                },
            },
            "basic": {"type": "http", "scheme": "basic"},
        },
    )
    for name in [k for k in doc.get("webhooks", {}) if k.startswith("_schema.")]:
        del doc["webhooks"][name]
    return doc
