"""Act by hand as a Sangoma customer, agent or callee, and see calls and conversations:
`/_emulator/vendors/sangoma/...`.

| method and path | what it does |
|---|---|
| `GET /tenants/{tenant}` | the tenant's world: agents, queues, inboxes, bots, webhooks, calls, conversations |
| `PUT /tenants/{tenant}/behaviour` | change how simulated agents act (`AgentBehaviour`; served by the kernel) |
| `PUT /tenants/{tenant}/customer-behaviour` | change how simulated widget customers answer (`CustomerBehaviour`) |
| `PUT /tenants/{tenant}/callees/{number}` | what the person at `number` does (`CalleeBehaviour`) |
| `PUT /tenants/{tenant}/agents/{name}` | `{"logged_in": bool}`: log a CX agent in or out |
| `POST /tenants/{tenant}/customers` | a visitor opens the web widget (`inbox_id`, `name`, `email`, `text`, `referer`) |
| `POST /tenants/{tenant}/conversations/{id}/customer` | `{"action": "say"\\|"idle"\\|"active", "text"}` |
| `POST /tenants/{tenant}/conversations/{id}/agent` | `{"action", "agent", "text"}`: an agent action (below) |
| `POST /tenants/{tenant}/calls/{id}` | `{"action", "agent"}`: answer, busy, no_answer, agent_answer, hang_up |

Bots, webhooks and API inboxes are shown with their signing secrets.

Agent actions: assign, typing, stop_typing, say, note (a private note), resolve, pending (back to the bot).

`{id}` of a conversation is its display id (`conversation.id` in webhooks).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from emulator.core.api import Endpoint
from emulator.core.errors import EmulatorError
from emulator.core.plugin import merge_behaviour
from emulator.core.runtime import Emulator
from emulator.core.store import Tx
from emulator.core.types import AS_BOOL, AS_INT, AS_STR
from emulator.core.web import error, guarded, json_body, json_object, reply
from emulator.vendors.sangoma import di, hands
from emulator.vendors.sangoma.auth import new_secret
from emulator.vendors.sangoma.config import CUSTOMERS, CalleeBehaviour
from emulator.vendors.sangoma.constants import API_PREFIX, DI, SLUG, TOKEN_PATH
from emulator.vendors.sangoma.errors import SangomaError
from emulator.vendors.sangoma.state import Conversation, SangomaState, agent_by_name
from emulator.vendors.sangoma.voice import call_view

Str = Annotated[str, Strict(), Field(min_length=1, max_length=10_000), AS_STR]
Int = Annotated[int, Strict(), AS_INT]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CustomerStart(_In):
    inbox_id: Int | None = Field(None, description="a web widget inbox (default: the first one)")
    name: Str | None = Field(None, description="the visitor's name (a seeded fake name when omitted)")
    email: Str | None = Field(None, description="the visitor's email (a seeded fake one when omitted)")
    text: Str | None = Field(None, description="the first message; creates the conversation")
    referer: Str | None = Field(None, description="the page the widget is on")


class CustomerAction(_In):
    action: Literal["say", "idle", "active"]
    text: Str | None = None


class AgentAction(_In):
    action: Literal["assign", "typing", "stop_typing", "say", "note", "resolve", "pending"]
    agent: Str | None = Field(None, description="the CX agent name (default: the assignee, else a free agent)")
    text: Str | None = None


class CallAction(_In):
    action: Literal["answer", "busy", "no_answer", "agent_answer", "hang_up"]
    agent: Str | None = Field(None, description="agent_answer: which agent (default: a free one of the queue)")


class AgentLogin(_In):
    logged_in: Annotated[bool, Strict(), AS_BOOL]


def conversation_summary(state: SangomaState, display_id: int) -> dict[str, Any]:
    conv = state.conversations[display_id]
    agent = state.agents.get(conv.assignee_id) if conv.assignee_id is not None else None
    return {
        "id": conv.display_id,
        "db_id": conv.id,
        "inbox_id": conv.inbox_id,
        "contact_id": conv.contact_id,
        "status": str(conv.status),
        "priority": conv.priority,
        "assignee": agent.name if agent else None,
        "widget": conv.widget,
        "customer_idle": conv.customer_idle,
        "messages": [
            {"id": msg.id, "type": msg.message_type, "sender_type": msg.sender_type, "content": msg.content}
            for msg in conv.messages
        ],
    }


def summary(state: SangomaState) -> dict[str, Any]:
    return {
        "tenant": state.tenant,
        "tenant_domain": state.tenant_domain,
        "client_id": state.client_id,
        "account": {"id": state.account_id, "name": state.account_name},
        "agents": [asdict(a) for a in state.agents.values()],
        "queues": [asdict(q) for q in state.queues.values()],
        "inboxes": [asdict(i) for i in state.inboxes.values()],
        "agent_bots": [
            {"id": b.id, "name": b.name, "outgoing_url": b.outgoing_url, "secret": b.secret}
            for b in state.agent_bots.values()
        ],
        "webhooks": [
            {"id": h.id, "url": h.url, "subscriptions": h.subscriptions, "secret": h.secret}
            for h in state.webhooks.values()
        ],
        "calls": [call_view(c) for c in state.calls.values()],
        "conversations": [conversation_summary(state, d) for d in state.conversations],
        "behaviour": state.behaviour.model_dump(),
        "customers": state.customers.model_dump(),
        "callees": {k: b.model_dump() for k, b in state.callees.items()},
    }


def tenant_credentials(s: SangomaState) -> dict[str, Any]:
    """What a client needs to talk to this tenant."""
    return {
        "client_id": s.client_id,
        "client_secret": s.client_secret,
        "tenant_domain": s.tenant_domain,
        "scopes": list(s.allowed_scopes),
        "token_url": TOKEN_PATH,
        "api_base": API_PREFIX,
        "di_base": DI,
        "agents": [a.name for a in s.agents.values()],
        "queues": list(s.queues),
        "inboxes": {i.name: i.id for i in s.inboxes.values()},
        "web_widget_inbox_id": next((i.id for i in s.inboxes.values() if i.channel_type == "Channel::WebWidget"), None),
    }


def credentials(emu: Emulator, tx: Tx[SangomaState]) -> dict[str, Any]:
    """`POST /_emulator/tenants`: the tenant is known from now on (strict auth accepts its client), its domain is
    the one the credentials name, and its secret is minted if it had none."""
    s = tx.state
    s.tenant_domain_open = False
    if s.client_secret is None:
        s.client_secret = new_secret(tx.ids)
    return tenant_credentials(s)


def _rejected(exc: EmulatorError) -> Response:
    detail = exc.body if isinstance(exc, SangomaError) else {"message": exc.message}
    return JSONResponse({"error": "rejected", "message": exc.message, "detail": detail}, status_code=exc.status_code)


def _unknown(tenant: str) -> Response:
    return error(404, "unknown_tenant", f"no Sangoma tenant {tenant!r}")


Params = Mapping[str, str]
Act = Callable[[Tx[SangomaState], Params, Any], Any]


def control_routes(emu: Emulator) -> list[BaseRoute]:
    store = emu.store.of(SLUG, SangomaState)

    def handler(model: type[BaseModel], act: Act) -> Endpoint:
        @guarded
        async def endpoint(request: Request) -> Response:
            tenant = request.path_params["tenant"]
            if not emu.knows(SLUG, tenant):
                return _unknown(tenant)
            body = model.model_validate(await json_body(request))
            try:
                async with store.tenant(tenant) as tx:
                    out = act(tx, request.path_params, body)
            except EmulatorError as exc:
                return _rejected(exc)
            return JSONResponse(out)

        endpoint.__doc__ = act.__doc__
        return endpoint

    async def tenant_view(request: Request) -> Response:
        """The tenant's world, calls and conversations."""
        tenant = request.path_params["tenant"]
        if not emu.knows(SLUG, tenant):
            return _unknown(tenant)
        async with store.tenant(tenant) as tx:
            return JSONResponse(summary(tx.state))

    @guarded
    async def customer_behaviour(request: Request) -> Response:
        """Change how simulated widget customers answer (fields of `CustomerBehaviour`; the others stay)."""
        changes = await json_object(request)
        tenant = request.path_params["tenant"]
        if not emu.knows(SLUG, tenant):
            return _unknown(tenant)
        async with store.tenant(tenant) as tx:
            merged = merge_behaviour(CUSTOMERS, tx.state, changes)
        return reply(merged)

    def callee(tx: Tx[SangomaState], params: Params, body: CalleeBehaviour) -> Any:
        """Set what the person at a number does."""
        tx.state.callees[params["number"]] = body
        return body.model_dump()

    def login(tx: Tx[SangomaState], params: Params, body: AgentLogin) -> Any:
        """Log a CX agent in or out."""
        agent = agent_by_name(tx.state, params["name"])
        if agent is None:
            raise hands.HandError(f"no agent {params['name']!r}", status_code=404, code="not_found")
        agent.logged_in = body.logged_in
        return asdict(agent)

    def customer_start(tx: Tx[SangomaState], params: Params, body: CustomerStart) -> Any:
        """A visitor opens the web widget and maybe writes."""
        return hands.start_customer(tx, body.inbox_id, body.name, body.email, body.text, body.referer)

    def conv_of(tx: Tx[SangomaState], params: Params) -> Conversation:
        try:
            return di.get_conversation(tx.state, int(params["conversation_id"]))
        except ValueError:
            raise hands.HandError("conversation ids are numbers", status_code=404, code="not_found") from None

    def customer(tx: Tx[SangomaState], params: Params, body: CustomerAction) -> Any:
        """The widget customer says something, goes idle, or comes back."""
        conv = conv_of(tx, params)
        hands.customer_act(tx, conv, body.action, body.text)
        return conversation_summary(tx.state, conv.display_id)

    def agent(tx: Tx[SangomaState], params: Params, body: AgentAction) -> Any:
        """A CX agent acts in the conversation."""
        conv = conv_of(tx, params)
        hands.agent_act(tx, conv, body.action, body.agent, body.text)
        return conversation_summary(tx.state, conv.display_id)

    def call(tx: Tx[SangomaState], params: Params, body: CallAction) -> Any:
        """The callee or an agent acts on a call."""
        return hands.call_act(tx, params["call_id"], body.action, body.agent)

    base = "/tenants/{tenant}"
    return [
        Route(base, tenant_view, methods=["GET"]),
        Route(f"{base}/customer-behaviour", customer_behaviour, methods=["PUT"]),
        Route(f"{base}/callees/{{number}}", handler(CalleeBehaviour, callee), methods=["PUT"]),
        Route(f"{base}/agents/{{name}}", handler(AgentLogin, login), methods=["PUT"]),
        Route(f"{base}/customers", handler(CustomerStart, customer_start), methods=["POST"]),
        Route(
            f"{base}/conversations/{{conversation_id}}/customer", handler(CustomerAction, customer), methods=["POST"]
        ),
        Route(f"{base}/conversations/{{conversation_id}}/agent", handler(AgentAction, agent), methods=["POST"]),
        Route(f"{base}/calls/{{call_id}}", handler(CallAction, call), methods=["POST"]),
    ]
