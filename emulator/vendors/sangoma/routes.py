"""Sangoma CX at its real paths (sangoma.md §2.2): `/oauth/token`, voice calls and Digital Interactions.

Each operation is declared once, on its handler (`API.op`): the routes and `contracts/sangoma.openapi.yaml`
both come from these declarations. Every API path answers with and without its trailing slash (`op` declares
both), and both documented spellings of the agent-bot paths are served (`agent-bot` / `agents-bot`,
`assign-agent-bot` / `agents-bot/assign`: `older=`); the contract lists each served path. Handlers are thin:
authenticate (token, scope), parse, check `tenant_domain`, call `voice`/`accounts`/`di`, serialise with
`views` (hand-built dicts: `GET .../inboxes/` is the `sangoma-get` benchmark row, and the other bodies are
the same Chatwoot dicts the webhooks carry). Response bodies are Chatwoot's (§2.3, §2.6) [inf: Sangoma
publishes none].
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from emulator import __version__
from emulator.core.api import Api, Handler
from emulator.core.contracts import Body, Reply
from emulator.core.runtime import Emulator
from emulator.core.store import Tx
from emulator.vendors.sangoma import accounts, di, voice
from emulator.vendors.sangoma import models as m
from emulator.vendors.sangoma import views as v
from emulator.vendors.sangoma.auth import Gate
from emulator.vendors.sangoma.constants import (
    API_PREFIX,
    DI,
    SCOPE_AGENT_CALLS,
    SCOPE_DI,
    SCOPE_QUEUE_CALLS,
    TOKEN_PATH,
)
from emulator.vendors.sangoma.http import read_json, respond
from emulator.vendors.sangoma.state import Conversation, SangomaState

M = TypeVar("M", bound=m.TenantBody)
CALL_ID_HEADER = "X-Cxemu-Call-Id"
"""The emulator's id of a placed call (Sangoma returns none), to find it in the control plane."""

API: Api[Gate] = Api(
    "Sangoma CX (cxemu)",
    __version__,
    "Sangoma CX voice and Digital Interactions APIs as emulated by cxemu. Digital Interactions behave as "
    "Chatwoot (agent bots, account webhooks, contacts, conversations). `webhooks:` lists the Chatwoot "
    "events sent to agent bots' `outgoing_url` and account webhooks' `url`.",
)

# -- replies ----------------------------------------------------------------------------------------------------

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


def drf_errors() -> dict[int, Reply]:
    """What any authenticated JSON endpoint may answer (DRF layer, §2.8); built afresh for each operation, as
    the checked-in contract's YAML anchors show."""
    return {
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


CW_404 = {404: Reply("an id names nothing in the tenant (Chatwoot)", m.CwError)}
CW_422 = {
    422: Reply(
        "Chatwoot validation",
        schema={"oneOf": [{"$ref": "#/components/schemas/CwInvalid"}, {"$ref": "#/components/schemas/CwError"}]},
    )
}
VOICE_404 = {404: Reply("no such agent or queue in the tenant", m.Detail)}
PLACED = Reply(
    "the call is placed (`{}`) [inf]",
    m.Ack,
    headers={CALL_ID_HEADER: {"schema": {"type": "string"}, "description": "the emulator's call id"}},
)


def errors(ok: Reply, *extra: dict[int, Reply]) -> dict[int, Reply]:
    """The DRF errors, then the 200 `ok`, then `extra` (in the contract's order)."""
    out = {**drf_errors(), 200: ok}
    for more in extra:
        out.update(more)
    return out


def op(
    path: str,
    op_id: str,
    summary: str,
    scope: str,
    body: type[BaseModel] | None,
    responses: dict[int, Reply],
    tag: str,
    *,
    method: str = "POST",
    older: tuple[str, str, str] | None = None,
) -> Callable[[Handler[Gate]], Handler[Gate]]:
    """Declare `path` and `path/` (operation `<op_id>_slash`); with `older=(path, op_id, summary)` also the
    older spelling of the path, both ways."""
    names = [(path, op_id, summary), *([older] if older else [])]

    def register(handler: Handler[Gate]) -> Handler[Gate]:
        for p, name, text in names:
            for suffix, note in (("", ""), ("/", " (trailing slash)")):
                API.op(
                    method,
                    p + suffix,
                    name + ("_slash" if suffix else ""),
                    text + note,
                    responses,
                    body=Body(body) if body is not None else None,
                    security=[{"oauth2": [scope]}],
                    tags=(tag,),
                )(handler)
        return handler

    return register


@asynccontextmanager
async def session(
    gate: Gate, request: Request, scope: str, model: type[M]
) -> AsyncIterator[tuple[Tx[SangomaState], M]]:
    """Token and scope first (as DRF checks permissions before parsing), then the body, then the tenant."""
    tenant = gate.tenant(request, scope)
    body = await read_json(request, model)
    async with gate.store.tenant(tenant, create=False) as tx:
        state = tx.state
        bound = state.tenant_domain, state.tenant_domain_open
        gate.check_domain(state, body.tenant_domain)
        try:
            yield tx, body
        except BaseException:
            state.tenant_domain, state.tenant_domain_open = bound  # a request that fails binds no domain
            raise


# -- OAuth ------------------------------------------------------------------------------------------------------


@API.op(
    "POST",
    TOKEN_PATH,
    "token",
    "OAuth 2.0 client credentials token",
    {
        200: Reply("an access token", m.TokenResponse),
        400: Reply("invalid_request, unsupported_grant_type or invalid_scope (RFC 6749 §5.2)", m.OAuthError),
        401: Reply("invalid_client", m.OAuthError),
    },
    body=Body(schema=TOKEN_FORM, media_type="application/x-www-form-urlencoded"),
    security=[{"basic": []}],
    tags=("auth",),
)
async def token(gate: Gate, request: Request) -> Response:
    return await gate.token(request)


# -- voice ------------------------------------------------------------------------------------------------------


@op(
    f"{API_PREFIX}/agents/call",
    "agent_call",
    "Call a destination on behalf of a logged-in agent",
    SCOPE_AGENT_CALLS,
    m.AgentCallRequest,
    errors(PLACED, VOICE_404),
    "voice",
)
async def agent_call(gate: Gate, request: Request) -> Response:
    async with session(gate, request, SCOPE_AGENT_CALLS, m.AgentCallRequest) as (tx, body):
        call = voice.agent_call(tx, body.agent_name, body.destination)
    return respond({}, gate.config.voice_status, {CALL_ID_HEADER: call.id})


@op(
    f"{API_PREFIX}/queues/call",
    "queue_call",
    "CallBack Now: dial out, answered calls queue",
    SCOPE_QUEUE_CALLS,
    m.QueueCallRequest,
    errors(PLACED, VOICE_404),
    "voice",
)
async def queue_call(gate: Gate, request: Request) -> Response:
    async with session(gate, request, SCOPE_QUEUE_CALLS, m.QueueCallRequest) as (tx, body):
        call = voice.queue_call(tx, body.queue_name, body.destination)
    return respond({}, gate.config.voice_status, {CALL_ID_HEADER: call.id})


# -- digital interactions ---------------------------------------------------------------------------------------

DIGITAL = "digital-interactions"


@op(
    f"{DI}/agent-bot",
    "create_agent_bot",
    "Create an agent bot",
    SCOPE_DI,
    m.AgentBotRequest,
    errors(Reply("the agent bot", m.AgentBotOut)),
    DIGITAL,
    older=(f"{DI}/agents-bot", "create_agents_bot", "Create an agent bot (older spelling)"),
)
async def create_agent_bot(gate: Gate, request: Request) -> Response:
    async with session(gate, request, SCOPE_DI, m.AgentBotRequest) as (tx, body):
        bot = accounts.create_agent_bot(tx, body.name, body.description, body.outgoing_url)
        out = v.api_agent_bot(tx.state, bot, secret=gate.config.signing)
    return respond(out, gate.config.create_status)


@op(
    f"{DI}/inboxes",
    "list_inboxes",
    "List inboxes",
    SCOPE_DI,
    None,
    {200: Reply("the account's inboxes", m.InboxList), **{k: r for k, r in drf_errors().items() if k in (401, 403)}},
    DIGITAL,
    method="GET",
)
async def list_inboxes(gate: Gate, request: Request) -> Response:
    """The `sangoma-get` benchmark path: the token's state is the one listed (no second look-up)."""
    state = gate.authorize(request, SCOPE_DI)
    return respond({"payload": [v.api_inbox(i) for i in state.inboxes.values()]})


@op(
    f"{DI}/assign-agent-bot",
    "assign_agent_bot",
    "Attach an agent bot to an inbox",
    SCOPE_DI,
    m.AssignAgentBotRequest,
    errors(Reply("attached (empty body, Chatwoot `head :ok`)"), CW_404),
    DIGITAL,
    older=(f"{DI}/agents-bot/assign", "agents_bot_assign", "Attach an agent bot (older spelling)"),
)
async def assign_agent_bot(gate: Gate, request: Request) -> Response:
    async with session(gate, request, SCOPE_DI, m.AssignAgentBotRequest) as (tx, body):
        accounts.assign_agent_bot(tx, body.inbox_id, body.agent_bot_id)
    return Response(status_code=200)  # Chatwoot's set_agent_bot: `head :ok` (§2.3)


@op(
    f"{DI}/webhooks",
    "create_webhook",
    "Create an account webhook",
    SCOPE_DI,
    m.WebhookRequest,
    errors(Reply("the webhook", m.WebhookOut), CW_422),
    DIGITAL,
)
async def create_webhook(gate: Gate, request: Request) -> Response:
    async with session(gate, request, SCOPE_DI, m.WebhookRequest) as (tx, body):
        hook = accounts.create_webhook(tx, body.url, list(body.subscriptions))
        out = v.api_webhook(tx.state, hook, secret=gate.config.signing)
    return respond(out, gate.config.create_status)


@op(
    f"{DI}/contacts",
    "create_contact",
    "Create a contact in an inbox",
    SCOPE_DI,
    m.ContactRequest,
    errors(Reply("the contact", m.ContactCreated), CW_404, CW_422),
    DIGITAL,
)
async def create_contact(gate: Gate, request: Request) -> Response:
    async with session(gate, request, SCOPE_DI, m.ContactRequest) as (tx, body):
        contact, ci = accounts.create_contact(
            tx, body.inbox_id, body.name, body.email, body.phone_number, body.identifier
        )
        out = v.api_contact(tx.state, contact, ci)
    return respond(out, gate.config.create_status)


@op(
    f"{DI}/conversations",
    "create_conversation",
    "Start a conversation",
    SCOPE_DI,
    m.ConversationRequest,
    errors(Reply("the conversation", m.ConversationOut), CW_404, CW_422),
    DIGITAL,
)
async def create_conversation(gate: Gate, request: Request) -> Response:
    cfg = gate.config
    async with session(gate, request, SCOPE_DI, m.ConversationRequest) as (tx, body):
        conv = di.create_conversation(
            tx,
            body.contact_id,
            body.inbox_id,
            body.source_id,
            body.priority,
            body.initial_message,
            initial_type=cfg.initial_message_type,
            priority_event=cfg.priority_update_event,
        )
        out = v.api_conversation(tx.state, conv)
    return respond(out, cfg.create_status)


@op(
    f"{DI}/messages",
    "create_message",
    "Send a message (outgoing = bot, incoming = customer)",
    SCOPE_DI,
    m.MessageRequest,
    errors(Reply("the message", m.MessageOut), CW_404),
    DIGITAL,
)
async def create_message(gate: Gate, request: Request) -> Response:
    async with session(gate, request, SCOPE_DI, m.MessageRequest) as (tx, body):
        conv = di.get_conversation(tx.state, body.conversation_id)
        outgoing = body.message_type == "outgoing"
        msg = di.post_message(tx, conv, body.content, body.message_type, bot=outgoing, private=body.private)
        out = v.api_message(tx.state, conv, msg)
    return respond(out, gate.config.create_status)


TOGGLE = errors(Reply("the new status", m.ToggleOut), CW_404)


async def _toggle(gate: Gate, request: Request, action: Callable[[Tx[SangomaState], Conversation], None]) -> Response:
    async with session(gate, request, SCOPE_DI, m.ConversationRef) as (tx, body):
        conv = di.get_conversation(tx.state, body.conversation_id)
        action(tx, conv)
        out = v.toggle(conv)
    return respond(out)


@op(
    f"{DI}/conversations/deliver-to-agent",
    "deliver_to_agent",
    "Hand off to an agent (pending -> open)",
    SCOPE_DI,
    m.ConversationRef,
    TOGGLE,
    DIGITAL,
)
async def deliver_to_agent(gate: Gate, request: Request) -> Response:
    return await _toggle(gate, request, di.deliver_to_agent)


@op(f"{DI}/conversations/finish", "finish", "Resolve the conversation", SCOPE_DI, m.ConversationRef, TOGGLE, DIGITAL)
async def finish(gate: Gate, request: Request) -> Response:
    return await _toggle(gate, request, di.finish)


def routes(emu: Emulator) -> list[BaseRoute]:
    """The declared operations bound to this emulator's `Gate` (built once: no per-request set-up)."""
    return API.routes(Gate(emu))
