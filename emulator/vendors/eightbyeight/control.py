"""Act by hand as an 8x8 agent, and steer the simulated ones: `/_emulator/vendors/eightbyeight/...`, declared
on `API` (the kernel mounts it and puts it in the control plane's contract).

| method and path | what it does |
|---|---|
| `GET /tenants/{tenant}` | the tenant's world: ids, queues, agents (and what they handle), webhooks, channels |
| `POST /tenants/{tenant}/conversations/{id}/agent` | one agent action (see `AgentAction`) |
| `PUT /tenants/{tenant}/schedules` | replace the tenant schedules (`{"schedules": [ScheduleConfig, ...]}`) |
| `POST /tenants/{tenant}/conversations/{id}/customer` | one customer action (see `CustomerAction`) |

The kernel serves `PUT /tenants/{tenant}/behaviour` (`config.BEHAVIOUR`) and `POST /_emulator/tenants`
(whose 8x8 answer is `credentials`). Agent actions are `hands.agent_act`'s: `join` (optional `agentId`, else
a free agent of the queue), `typing`, `stop_typing`, `say` (`text`, optional `cards`), `transfer` (`queueId`),
`leave`. Customer actions are `hands.customer_act`'s: `say` (`text`; echoed as an API-posted message is, per
`echo_messages`) and `leave`, what the integration's chat does for its customer through the API.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Strict
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from emulator.core.contracts import Body, Param, Reply
from emulator.core.errors import EmulatorError
from emulator.core.plugin import CONTROL_ERRORS, TENANT_PATH, control_api, strictly
from emulator.core.runtime import Emulator
from emulator.core.store import Tx
from emulator.core.types import AS_STR
from emulator.core.web import json_body
from emulator.vendors.eightbyeight import hands
from emulator.vendors.eightbyeight import state as st
from emulator.vendors.eightbyeight.companion import tenant_secret
from emulator.vendors.eightbyeight.config import ScheduleConfig
from emulator.vendors.eightbyeight.constants import SLUG
from emulator.vendors.eightbyeight.errors import EightByEightError, problem_body
from emulator.vendors.eightbyeight.models import CardPayload

Text = Annotated[str, Strict(), Field(min_length=1, max_length=10_000), AS_STR]


class AgentAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: hands.AgentVerb
    agentId: Annotated[str, Strict(), AS_STR] | None = Field(
        None, description="join: which agent (default: a free one)"
    )
    text: Text | None = Field(None, description="say: the message")
    cards: list[CardPayload] | None = Field(None, description="say: cards sent with the message")
    queueId: Annotated[str, Strict(), AS_STR] | None = Field(None, description="transfer: the target queue")


class CustomerAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: hands.CustomerVerb
    text: Text | None = Field(None, description="say: the message")


def _summary(state: st.EightByEightState) -> dict[str, Any]:
    return {
        "tenant": state.tenant,
        "tenantId": state.tenant_id,
        "customerId": state.customer_id,
        "queues": [asdict(q) for q in state.queues.values()],
        "agents": [asdict(a) for a in state.agents.values()],
        "webhooks": [asdict(w) for w in state.webhooks.values()],
        "channels": [asdict(c) for c in state.channels.values()],
        "behaviour": state.behaviour.model_dump(),
        "waiting": list(state.waiting),
        "schedules": [s.model_dump() for s in state.schedules.values()],
    }


class SchedulesBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schedules: list[ScheduleConfig] = Field(description="the schedules (unique names)")


def replace_schedules(state: st.EightByEightState, schedules: list[ScheduleConfig]) -> None:
    """The tenant's schedules from now on (queues keep naming theirs; a missing one means always open)."""
    names = [s.name for s in schedules]
    if len(set(names)) != len(names):
        raise ValueError("schedules: names must be unique")
    state.schedules = {s.name: s.model_copy(update={"id": s.id or n}) for n, s in enumerate(schedules, start=1)}


def credentials(emu: Emulator, tx: Tx[st.EightByEightState]) -> dict[str, Any]:
    """What `POST /_emulator/tenants` answers for 8x8: the key, the OAuth client and the schedule API's user and
    token (`companion.py`), and the ids a client needs. The credentials name the channel and queues, so they are
    the tenant's from now on (no open-auth binding)."""
    s = tx.state
    s.channel_open = s.queue_open = False
    channel = next(iter(s.channels.values()), None)
    return {
        "apiKey": tx.tenant,
        "clientId": tx.tenant,
        "clientSecret": tenant_secret(emu, tx.tenant, "client_secret"),
        "scheduleUser": tx.tenant,
        "scheduleToken": tenant_secret(emu, tx.tenant, "schedule_token"),
        "tenantId": s.tenant_id,
        "customerId": s.customer_id,
        "channelId": channel.id if channel else None,
        "webhookId": channel.webHookId if channel else None,
        "queues": [q.id for q in s.queues.values()],
    }


API = control_api(SLUG, "8x8")
CONVERSATION_ID = Param("conversation_id", "path", required=True, description="a conversation id")
VIEW = {"type": "object", "description": "ids, queues, agents, webhooks, channels, behaviour, waiting, schedules"}


class ActOut(BaseModel):
    """The conversation after an action."""

    conversation: str
    state: str
    agentId: str | None


class SchedulesOut(BaseModel):
    schedules: list[ScheduleConfig]


@API.op(
    "GET",
    "/tenants/{tenant}",
    "eightbyeightTenant",
    "An 8x8 tenant's world",
    {200: Reply("the tenant", schema=VIEW), 404: CONTROL_ERRORS[404]},
    params=[TENANT_PATH],
)
async def tenant_view(emu: Emulator, request: Request) -> Response:
    """The tenant's world."""
    tenant = request.path_params["tenant"]
    async with emu.store.of(SLUG, st.EightByEightState).tenant(tenant) as tx:
        return JSONResponse(_summary(tx.state))


async def _act(
    emu: Emulator, request: Request, do: Callable[[Tx[st.EightByEightState], st.Conversation], None]
) -> Response:
    """`do` on the path's conversation; a refusal in the `rejected` shape with 8x8's problem as `detail`."""
    tenant = request.path_params["tenant"]
    try:
        async with emu.store.of(SLUG, st.EightByEightState).tenant(tenant) as tx:
            conv = st.get_conversation(tx.state, request.path_params["conversation_id"])
            do(tx, conv)
            out = {"conversation": conv.id, "state": str(conv.state), "agentId": conv.agent_id}
    except EmulatorError as exc:
        detail = problem_body(exc) if isinstance(exc, EightByEightError) else {"message": exc.message}
        return JSONResponse(
            {"error": "rejected", "message": _reason(exc), "detail": detail}, status_code=exc.status_code
        )
    return JSONResponse(out)


@API.op(
    "PUT",
    "/tenants/{tenant}/schedules",
    "eightbyeightPutSchedules",
    "Replace an 8x8 tenant's schedules",
    {200: Reply("the schedules, ids given", SchedulesOut), 400: CONTROL_ERRORS[400], 404: CONTROL_ERRORS[404]},
    params=[TENANT_PATH],
    body=Body(SchedulesBody),
)
async def schedules(emu: Emulator, request: Request) -> Response:
    """Body: `{"schedules": [...]}`. Replaces the tenant's schedules at once; answers them."""
    tenant = request.path_params["tenant"]
    data = await json_body(request)
    body = SchedulesBody.model_validate(data)
    strictly(data, body)
    async with emu.store.of(SLUG, st.EightByEightState).tenant(tenant) as tx:
        replace_schedules(tx.state, body.schedules)
        return JSONResponse({"schedules": [s.model_dump() for s in tx.state.schedules.values()]})


async def _agent_action(request: Request) -> AgentAction:
    """The body of an agent action (checked before the tenant: a bad one is a 400 for any tenant)."""
    return AgentAction.model_validate(await json_body(request))


async def _customer_action(request: Request) -> CustomerAction:
    """The body of a customer action (checked before the tenant: a bad one is a 400 for any tenant)."""
    body = CustomerAction.model_validate(await json_body(request))
    if body.action == "say" and body.text is None:
        raise ValueError("say needs text")
    return body


@API.op(
    "POST",
    "/tenants/{tenant}/conversations/{conversation_id}/agent",
    "eightbyeightAgentAction",
    "An 8x8 agent acts in a conversation",
    {200: Reply("the conversation", ActOut), **CONTROL_ERRORS},
    params=[TENANT_PATH, CONVERSATION_ID],
    body=Body(AgentAction),
    body_first=_agent_action,
)
async def agent(emu: Emulator, request: Request) -> Response:
    """Body: an AgentAction. Acts at once, as a real agent would in 8x8's agent console."""
    body = await _agent_action(request)

    def do(tx: Tx[st.EightByEightState], conv: st.Conversation) -> None:
        hands.agent_act(
            tx, conv, body.action, agent_id=body.agentId, text=body.text, cards=body.cards, queue_id=body.queueId
        )

    return await _act(emu, request, do)


@API.op(
    "POST",
    "/tenants/{tenant}/conversations/{conversation_id}/customer",
    "eightbyeightCustomerAction",
    "The customer of an 8x8 conversation writes or leaves",
    {200: Reply("the conversation", ActOut), **CONTROL_ERRORS},
    params=[TENANT_PATH, CONVERSATION_ID],
    body=Body(CustomerAction),
    body_first=_customer_action,
)
async def customer(emu: Emulator, request: Request) -> Response:
    """Body: a CustomerAction. The customer writes or leaves, as the integration's chat would post it."""
    body = await _customer_action(request)
    echo = bool(emu.vendor_config(SLUG).echo_messages)

    def do(tx: Tx[st.EightByEightState], conv: st.Conversation) -> None:
        hands.customer_act(tx, conv, body.action, text=body.text, echo=echo)

    return await _act(emu, request, do)


def _reason(exc: EmulatorError) -> str:
    """What a refusal says to the person who acted: 8x8 tops many of its problems with "Internal error." and puts
    the reason in `errors`, so the first coded error's message is the one to show."""
    errors = exc.errors if isinstance(exc, EightByEightError) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict) and errors[0].get("message"):
        return errors[0]["message"]
    return exc.message
