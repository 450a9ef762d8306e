"""The Call Flow API at its real paths (samespace.md §4.1-4.3). Thin handlers: parse -> state -> reply.

| method and path | what it does |
|---|---|
| `POST /api/public/v1/call/flow` | validate the flow, place the call: `{"success": true, "call_id", "status"}` |
| `GET /api/public/v1/call/{call_id}?cloud_id=&auth_token=` | the call's metadata [inf] |

Each operation is declared once, on its handler (`API.op`): the routes and `contracts/samespace.openapi.yaml`
both come from these declarations (`contract.py` adds the webhooks). Only `/call/flow` and its body are public
(§4.1-4.2); the responses and the metadata endpoint are cxemu's design [inf] (§4.3). Both handlers answer
with their reply model (`web.reply`); for `POST /call/flow`, the `samespace-post-flow` benchmark row, that is
also the cheapest way to write the body (pydantic serialises it in one step, no dict in between).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from emulator import __version__
from emulator.core.api import Api
from emulator.core.contracts import Body, Param, Reply
from emulator.core.runtime import Emulator
from emulator.core.web import reply
from emulator.vendors.samespace import flow as flows
from emulator.vendors.samespace import models as m
from emulator.vendors.samespace import state as st
from emulator.vendors.samespace.constants import CALL_PATH, FLOW_PATH
from emulator.vendors.samespace.http import Gate, read_object
from emulator.vendors.samespace.views import call_model

API: Api[Gate] = Api(
    "Samespace Call Flow API (cxemu)",
    __version__,
    "Samespace's Call Flow API as cxemu emulates it: flows are validated and executed on the emulator's clock "
    "against simulated phones; `http` steps make real requests.",
    tags=("Call Flow",),
)

ERR_400 = Reply("the body is not JSON, or the flow cannot run (the message names the object at fault)", m.ErrorBody)
ERR_401 = Reply("missing or wrong `cloud_id` / `auth_token`: `Invalid auth token`", m.ErrorBody)


@API.op(
    "POST",
    FLOW_PATH,
    "createCallFlow",
    "Place a call and run a call flow",
    {200: Reply("the call is queued", m.FlowAccepted), 400: ERR_400, 401: ERR_401},
    body=Body(m.FlowRequest),
    description="Auth is in the body (`cloud_id`, `auth_token`). Ids may be strings or numbers; a dangling "
    "`next_step` ends the call when reached. The flow needs exactly one `call` object and unique ids.",
)
async def create_flow(gate: Gate, request: Request) -> Response:
    data = await read_object(request)
    tenant = await gate.tenant(request, data.get("cloud_id"), data.get("auth_token"))
    flow = flows.parse(data)
    async with gate.store.tenant(tenant) as tx:
        call = st.create_call(tx, flow)
    return reply(m.FlowAccepted(call_id=call.id, status=str(call.status)))


@API.op(
    "GET",
    CALL_PATH,
    "getCall",
    "Metadata of a call: status, timings, executed steps, variables, HTTP results, recording [inf]",
    {200: Reply("the call", m.CallMetadata), 401: ERR_401, 404: Reply("no such call", m.ErrorBody)},
    params=(
        Param("call_id", "path", required=True),
        Param("cloud_id", "query", required=True, description="the cloud the call belongs to"),
        Param("auth_token", "query", required=True, description="the cloud's auth token"),
    ),
)
async def call_metadata(gate: Gate, request: Request) -> Response:
    q = request.query_params
    state = gate.read(request, q.get("cloud_id"), q.get("auth_token"))
    call = st.get_call(state, request.path_params["call_id"])
    return reply(m.CallMetadata(call=call_model(state.tenant, call)))


def routes(emu: Emulator) -> list[BaseRoute]:
    return API.routes(Gate(emu))
