"""Act by hand as an 8x8 agent, and steer the simulated ones: `/_emulator/vendors/eightbyeight/...`.

| method and path | what it does |
|---|---|
| `GET /tenants/{tenant}` | the tenant's world: ids, queues, agents (and what they handle), webhooks, channels |
| `PUT /tenants/{tenant}/behaviour` | change how simulated agents act (fields of `AgentBehaviour`; others stay) |
| `POST /tenants/{tenant}/conversations/{id}/agent` | one agent action (see `AgentAction`) |

Agent actions are `hands.agent_act`'s: `join` (optional `agentId`, else a free agent of the queue), `typing`,
`stop_typing`, `say` (`text`, optional `cards`), `transfer` (`queueId`), `leave`.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Strict
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from emulator.core.errors import EmulatorError
from emulator.core.runtime import Emulator
from emulator.core.types import AS_STR
from emulator.core.web import error, guarded, json_body
from emulator.vendors.eightbyeight import hands
from emulator.vendors.eightbyeight import state as st
from emulator.vendors.eightbyeight.config import AgentBehaviour
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
    }


def control_routes(emu: Emulator) -> list[BaseRoute]:
    store = emu.store

    configured = set(emu.vendor_config(SLUG).tenants)

    def known(tenant: str) -> Response | None:
        """404 unless the tenant exists or is configured (a configured one is built on first use)."""
        if not store.exists(SLUG, tenant) and tenant not in configured:
            return error(404, "unknown_tenant", f"no 8x8 tenant {tenant!r}")
        return None

    async def tenant_view(request: Request) -> Response:
        """The tenant's world."""
        tenant = request.path_params["tenant"]
        missing = known(tenant)
        if missing:
            return missing
        async with store.tenant(SLUG, tenant) as tx:
            return JSONResponse(_summary(tx.state))

    @guarded
    async def behaviour(request: Request) -> Response:
        """Body: any fields of AgentBehaviour; the rest stay as they are."""
        tenant = request.path_params["tenant"]
        missing = known(tenant)
        if missing:
            return missing
        changes = await json_body(request)
        if not isinstance(changes, dict):
            raise ValueError("the body must be a JSON object")
        async with store.tenant(SLUG, tenant) as tx:
            merged = AgentBehaviour.model_validate({**tx.state.behaviour.model_dump(), **changes})
            tx.state.behaviour = merged
        return JSONResponse(merged.model_dump())

    @guarded
    async def agent(request: Request) -> Response:
        """Body: an AgentAction. Acts at once, as a real agent would in 8x8's agent console."""
        tenant = request.path_params["tenant"]
        missing = known(tenant)
        if missing:
            return missing
        body = AgentAction.model_validate(await json_body(request))
        try:
            async with store.tenant(SLUG, tenant) as tx:
                conv = st.get_conversation(tx.state, request.path_params["conversation_id"])
                hands.agent_act(
                    tx,
                    conv,
                    body.action,
                    agent_id=body.agentId,
                    text=body.text,
                    cards=body.cards,
                    queue_id=body.queueId,
                )
                out = {"conversation": conv.id, "state": str(conv.state), "agentId": conv.agent_id}
        except EmulatorError as exc:
            detail = problem_body(exc) if isinstance(exc, EightByEightError) else {"message": exc.message}
            return JSONResponse(
                {"error": "rejected", "message": exc.message, "detail": detail}, status_code=exc.status_code
            )
        return JSONResponse(out)

    return [
        Route("/tenants/{tenant}", tenant_view, methods=["GET"]),
        Route("/tenants/{tenant}/behaviour", behaviour, methods=["PUT"]),
        Route("/tenants/{tenant}/conversations/{conversation_id}/agent", agent, methods=["POST"]),
    ]
