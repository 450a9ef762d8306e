"""Sangoma CX at its real paths (sangoma.md §2.2): `/oauth/token`, voice calls and Digital Interactions.

Every path answers with and without its trailing slash, and both documented spellings of the agent-bot
paths are served (`agent-bot` / `agents-bot`, `assign-agent-bot` / `agents-bot/assign`). Handlers are thin:
authenticate (token, scope), parse, check `tenant_domain`, call `voice`/`accounts`/`di`, serialise with `views`.
Response bodies are Chatwoot's (§2.3, §2.6) [inf: Sangoma publishes none].
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from emulator.core.plugin import Endpoint, VendorPlugin, route, vendor_endpoint
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
    SLUG,
    TOKEN_PATH,
)
from emulator.vendors.sangoma.http import read_json, respond
from emulator.vendors.sangoma.state import SangomaState

M = TypeVar("M", bound=m.TenantBody)
CALL_ID_HEADER = "X-Cxemu-Call-Id"
"""The emulator's id of a placed call (Sangoma returns none), to find it in the control plane."""


def paths(path: str) -> list[str]:
    """A path with and without its trailing slash (§2.2 notes)."""
    return [path, f"{path}/"]


def routes(emu: Emulator, plugin: VendorPlugin) -> list[BaseRoute]:
    gate = Gate(emu)
    store = emu.store
    cfg = gate.config

    def wrap(fn: Endpoint) -> Endpoint:
        return vendor_endpoint(emu, plugin, fn)

    @asynccontextmanager
    async def session(request: Request, scope: str, model: type[M]) -> AsyncIterator[tuple[Tx[SangomaState], M]]:
        """Token and scope first (as DRF checks permissions before parsing), then the body, then the tenant."""
        tenant = gate.tenant(request, scope)
        body = await read_json(request, model)
        async with store.tenant(SLUG, tenant, create=False) as tx:
            gate.check_domain(tx.state, body.tenant_domain)
            yield tx, body

    # -- voice ------------------------------------------------------------------------------------------------

    async def agent_call(request: Request) -> Response:
        async with session(request, SCOPE_AGENT_CALLS, m.AgentCallRequest) as (tx, body):
            call = voice.agent_call(tx, body.agent_name, body.destination)
        return respond({}, cfg.voice_status, {CALL_ID_HEADER: call.id})

    async def queue_call(request: Request) -> Response:
        async with session(request, SCOPE_QUEUE_CALLS, m.QueueCallRequest) as (tx, body):
            call = voice.queue_call(tx, body.queue_name, body.destination)
        return respond({}, cfg.voice_status, {CALL_ID_HEADER: call.id})

    # -- digital interactions -----------------------------------------------------------------------------------

    async def create_agent_bot(request: Request) -> Response:
        async with session(request, SCOPE_DI, m.AgentBotRequest) as (tx, body):
            bot = accounts.create_agent_bot(tx, body.name, body.description, body.outgoing_url)
            out = v.api_agent_bot(tx.state, bot, secret=cfg.signing)
        return respond(out, cfg.create_status)

    async def list_inboxes(request: Request) -> Response:
        tenant = gate.tenant(request, SCOPE_DI)
        state = store.peek(SLUG, tenant)
        assert isinstance(state, SangomaState)
        return respond({"payload": [v.api_inbox(i) for i in state.inboxes.values()]})

    async def assign_agent_bot(request: Request) -> Response:
        async with session(request, SCOPE_DI, m.AssignAgentBotRequest) as (tx, body):
            accounts.assign_agent_bot(tx, body.inbox_id, body.agent_bot_id)
        return Response(status_code=200)  # Chatwoot's set_agent_bot: `head :ok` (§2.3)

    async def create_webhook(request: Request) -> Response:
        async with session(request, SCOPE_DI, m.WebhookRequest) as (tx, body):
            hook = accounts.create_webhook(tx, body.url, list(body.subscriptions))
            out = v.api_webhook(tx.state, hook, secret=cfg.signing)
        return respond(out, cfg.create_status)

    async def create_contact(request: Request) -> Response:
        async with session(request, SCOPE_DI, m.ContactRequest) as (tx, body):
            contact, ci = accounts.create_contact(
                tx, body.inbox_id, body.name, body.email, body.phone_number, body.identifier
            )
            out = v.api_contact(tx.state, contact, ci)
        return respond(out, cfg.create_status)

    async def create_conversation(request: Request) -> Response:
        async with session(request, SCOPE_DI, m.ConversationRequest) as (tx, body):
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

    async def create_message(request: Request) -> Response:
        async with session(request, SCOPE_DI, m.MessageRequest) as (tx, body):
            conv = di.get_conversation(tx.state, body.conversation_id)
            outgoing = body.message_type == "outgoing"
            msg = di.post_message(tx, conv, body.content, body.message_type, bot=outgoing, private=body.private)
            out = v.api_message(tx.state, conv, msg)
        return respond(out, cfg.create_status)

    def toggle(action: Callable[[Tx[SangomaState], Any], None], name: str) -> Endpoint:
        async def handler(request: Request) -> Response:
            async with session(request, SCOPE_DI, m.ConversationRef) as (tx, body):
                conv = di.get_conversation(tx.state, body.conversation_id)
                action(tx, conv)
                out = v.toggle(conv)
            return respond(out)

        handler.__name__ = name
        return handler

    table: list[tuple[str, dict[str, Callable[[Request], Awaitable[Response]]]]] = [
        (f"{API_PREFIX}/agents/call", {"POST": agent_call}),
        (f"{API_PREFIX}/queues/call", {"POST": queue_call}),
        (f"{DI}/agent-bot", {"POST": create_agent_bot}),
        (f"{DI}/agents-bot", {"POST": create_agent_bot}),
        (f"{DI}/inboxes", {"GET": list_inboxes}),
        (f"{DI}/assign-agent-bot", {"POST": assign_agent_bot}),
        (f"{DI}/agents-bot/assign", {"POST": assign_agent_bot}),
        (f"{DI}/webhooks", {"POST": create_webhook}),
        (f"{DI}/contacts", {"POST": create_contact}),
        (f"{DI}/conversations", {"POST": create_conversation}),
        (f"{DI}/messages", {"POST": create_message}),
        (f"{DI}/conversations/deliver-to-agent", {"POST": toggle(di.deliver_to_agent, "deliver_to_agent")}),
        (f"{DI}/conversations/finish", {"POST": toggle(di.finish, "finish")}),
    ]
    out: list[BaseRoute] = [route(TOKEN_PATH, {"POST": gate.token}, wrap=wrap)]
    for path, handlers in table:
        out += [route(p, handlers, wrap=wrap) for p in paths(path)]
    return out
