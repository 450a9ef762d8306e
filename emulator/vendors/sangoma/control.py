"""Act by hand as a Sangoma customer, agent or callee, and see calls and conversations:
`/_emulator/vendors/sangoma/...`, declared on `API` (the kernel mounts it and puts it in the control plane's
contract).

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

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from emulator.core.contracts import Body, Param, Reply
from emulator.core.errors import EmulatorError
from emulator.core.plugin import CONTROL_ERRORS, TENANT_PATH, control_api, merge_behaviour, strictly
from emulator.core.runtime import Emulator
from emulator.core.store import Tx
from emulator.core.types import AS_BOOL, AS_INT, AS_STR
from emulator.core.web import json_body, json_object, reply
from emulator.vendors.sangoma import di, hands
from emulator.vendors.sangoma.auth import new_secret
from emulator.vendors.sangoma.config import CUSTOMERS, CalleeBehaviour, CustomerBehaviour
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


Params = Mapping[str, str]
Act = Callable[[Tx[SangomaState], Params, Any], Any]

API = control_api(SLUG, "Sangoma CX", "Sangoma tenant")
NUMBER = Param("number", "path", required=True, description="a dialled number")
AGENT_NAME = Param("name", "path", required=True, description="a CX agent's name")
CONVERSATION_ID = Param("conversation_id", "path", required=True, description="a conversation's display id")
CALL_ID = Param("call_id", "path", required=True, description="a call id")
VIEW = {"type": "object", "description": "agents, queues, inboxes, bots, webhooks, calls, conversations, behaviour"}


class MessageOut(BaseModel):
    id: int
    type: str = Field(description="incoming, outgoing, activity...")
    sender_type: str | None
    content: str


class ConversationOut(BaseModel):
    """A conversation as the control plane shows it (`conversation_summary`)."""

    id: int = Field(description="the display id")
    db_id: int
    inbox_id: int
    contact_id: int
    status: str
    priority: str | None
    assignee: str | None
    widget: bool
    customer_idle: bool
    messages: list[MessageOut]


class CallOut(BaseModel):
    id: str
    kind: str
    destination: str
    state: str
    agent: str | None
    queue: str | None
    created_at: float
    updated_at: float
    history: list[dict[str, Any]]


class AgentOut(BaseModel):
    id: int
    name: str
    display_name: str
    email: str
    logged_in: bool
    chats: list[int]
    call: str | None


class CustomerStartOut(BaseModel):
    contact_id: int
    source_id: str
    inbox_id: int
    conversation_id: int | None = Field(description="the conversation its first message created")


def _acting(
    model: type[BaseModel], act: Act, *, strict: bool = False
) -> Callable[[Emulator, Request], Awaitable[Response]]:
    """A handler validating the body as `model` (`strictly` too for a lax config model) and calling `act` in the
    tenant's unit of work; a refusal is `rejected`."""

    async def endpoint(emu: Emulator, request: Request) -> Response:
        tenant = request.path_params["tenant"]
        data = await json_body(request)
        body = model.model_validate(data)
        if strict:
            strictly(data, body)
        try:
            async with emu.store.of(SLUG, SangomaState).tenant(tenant) as tx:
                out = act(tx, request.path_params, body)
        except EmulatorError as exc:
            return _rejected(exc)
        return JSONResponse(out)

    endpoint.__name__ = act.__name__
    endpoint.__doc__ = act.__doc__
    return endpoint


BASE = "/tenants/{tenant}"


@API.op(
    "GET",
    BASE,
    "sangomaTenant",
    "A Sangoma tenant's world, calls and conversations",
    {200: Reply("the tenant", schema=VIEW), 404: CONTROL_ERRORS[404]},
    params=[TENANT_PATH],
)
async def tenant_view(emu: Emulator, request: Request) -> Response:
    """The tenant's world, calls and conversations."""
    tenant = request.path_params["tenant"]
    async with emu.store.of(SLUG, SangomaState).tenant(tenant) as tx:
        return JSONResponse(summary(tx.state))


@API.op(
    "PUT",
    f"{BASE}/customer-behaviour",
    "sangomaPutCustomerBehaviour",
    "Change how simulated widget customers answer",
    {200: Reply("the whole customer behaviour", CustomerBehaviour), 400: CONTROL_ERRORS[400], 404: CONTROL_ERRORS[404]},
    params=[TENANT_PATH],
    body=Body(CustomerBehaviour),
    description="Fields not named stay; the result is validated as a whole (a 400 leaves it as it was).",
    body_first=json_object,
)
async def customer_behaviour(emu: Emulator, request: Request) -> Response:
    """Change how simulated widget customers answer (fields of `CustomerBehaviour`; the others stay)."""
    changes = await json_object(request)
    tenant = request.path_params["tenant"]
    async with emu.store.of(SLUG, SangomaState).tenant(tenant) as tx:
        merged = merge_behaviour(CUSTOMERS, tx.state, changes, strict=True)
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


API.op(
    "PUT",
    f"{BASE}/callees/{{number}}",
    "sangomaPutCallee",
    "What the person at a number does when called",
    {200: Reply("the callee's behaviour", CalleeBehaviour), 400: CONTROL_ERRORS[400], 404: CONTROL_ERRORS[404]},
    params=[TENANT_PATH, NUMBER],
    body=Body(CalleeBehaviour),
)(_acting(CalleeBehaviour, callee, strict=True))
API.op(
    "PUT",
    f"{BASE}/agents/{{name}}",
    "sangomaPutAgent",
    "Log a CX agent in or out",
    {200: Reply("the agent", AgentOut), **CONTROL_ERRORS},
    params=[TENANT_PATH, AGENT_NAME],
    body=Body(AgentLogin),
)(_acting(AgentLogin, login))
API.op(
    "POST",
    f"{BASE}/customers",
    "sangomaCustomerStart",
    "A visitor opens the web widget (and maybe writes)",
    {200: Reply("the visitor", CustomerStartOut), **CONTROL_ERRORS},
    params=[TENANT_PATH],
    body=Body(CustomerStart),
)(_acting(CustomerStart, customer_start))
API.op(
    "POST",
    f"{BASE}/conversations/{{conversation_id}}/customer",
    "sangomaCustomerAction",
    "The widget customer says something, goes idle, or comes back",
    {200: Reply("the conversation", ConversationOut), **CONTROL_ERRORS},
    params=[TENANT_PATH, CONVERSATION_ID],
    body=Body(CustomerAction),
)(_acting(CustomerAction, customer))
API.op(
    "POST",
    f"{BASE}/conversations/{{conversation_id}}/agent",
    "sangomaAgentAction",
    "A CX agent acts in a conversation",
    {200: Reply("the conversation", ConversationOut), **CONTROL_ERRORS},
    params=[TENANT_PATH, CONVERSATION_ID],
    body=Body(AgentAction),
)(_acting(AgentAction, agent))
API.op(
    "POST",
    f"{BASE}/calls/{{call_id}}",
    "sangomaCallAction",
    "The callee or an agent acts on a call",
    {200: Reply("the call", CallOut), **CONTROL_ERRORS},
    params=[TENANT_PATH, CALL_ID],
    body=Body(CallAction),
)(_acting(CallAction, call))
