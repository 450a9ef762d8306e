"""The Call Flow API at its real paths (samespace.md §4.1-4.3). Thin handlers: parse -> state -> serialise.

| method and path | what it does |
|---|---|
| `POST /api/public/v1/call/flow` | validate the flow, place the call: `{"success": true, "call_id", "status"}` |
| `GET /api/public/v1/call/{call_id}?cloud_id=&auth_token=` | the call's metadata [inf] |
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from emulator.core.plugin import VendorPlugin, route, vendor_endpoint
from emulator.core.runtime import Emulator
from emulator.vendors.samespace import flow as flows
from emulator.vendors.samespace import state as st
from emulator.vendors.samespace.constants import CALL_PATH, FLOW_PATH, SLUG
from emulator.vendors.samespace.http import Gate, ok, read_object
from emulator.vendors.samespace.models import CallMetadata, FlowAccepted
from emulator.vendors.samespace.views import call_info


def routes(emu: Emulator, plugin: VendorPlugin) -> list[BaseRoute]:
    gate = Gate(emu)
    store = emu.store

    def wrap(fn: Any) -> Any:
        return vendor_endpoint(emu, plugin, fn)

    async def create_flow(request: Request) -> Response:
        data = await read_object(request)
        tenant = await gate.tenant(request, data.get("cloud_id"), data.get("auth_token"))
        flow = flows.parse(data)
        async with store.tenant(SLUG, tenant) as tx:
            call = st.create_call(tx, flow)
        return ok(FlowAccepted(call_id=call.id, status=str(call.status)).model_dump())

    async def call_metadata(request: Request) -> Response:
        q = request.query_params
        tenant = await gate.tenant(request, q.get("cloud_id"), q.get("auth_token"))
        async with store.tenant(SLUG, tenant) as tx:
            call = st.get_call(tx.state, request.path_params["call_id"])
            body = CallMetadata.model_validate({"call": call_info(tenant, call)})
        return ok(body.model_dump(mode="json"))

    return [
        route(FLOW_PATH, {"POST": create_flow}, wrap=wrap),
        route(CALL_PATH, {"GET": call_metadata}, wrap=wrap),
    ]
