"""The emulated Samespace Call Flow API as an OpenAPI 3.1 document (`contracts/samespace.openapi.yaml`).

Built from `models.py`: the flow request (lenient where the vendor's sample is), the responses and one
webhook per call event. Only `/call/flow` and its body are public (samespace.md §4.1-4.2); the responses,
the metadata endpoint and the events are cxemu's design [inf] (§4.3).
"""

from __future__ import annotations

from typing import Any

from emulator import __version__
from emulator.core.contracts import Body, Operation, Param, Reply, WebhookSpec, build_openapi
from emulator.vendors.samespace import models as m
from emulator.vendors.samespace.constants import CALL_PATH, EVENTS, FLOW_PATH

_ERR_400 = Reply("the body is not JSON, or the flow cannot run (the message names the object at fault)", m.ErrorBody)
_ERR_401 = Reply("missing or wrong `cloud_id` / `auth_token`: `Invalid auth token`", m.ErrorBody)

OPERATIONS = (
    Operation(
        "POST",
        FLOW_PATH,
        "createCallFlow",
        "Place a call and run a call flow",
        {200: Reply("the call is queued", m.FlowAccepted), 400: _ERR_400, 401: _ERR_401},
        tags=("Call Flow",),
        body=Body(m.FlowRequest),
        description="Auth is in the body (`cloud_id`, `auth_token`). Ids may be strings or numbers; a dangling "
        "`next_step` ends the call when reached. The flow needs exactly one `call` object and unique ids.",
    ),
    Operation(
        "GET",
        CALL_PATH,
        "getCall",
        "Metadata of a call: status, timings, executed steps, variables, HTTP results, recording [inf]",
        {200: Reply("the call", m.CallMetadata), 401: _ERR_401, 404: Reply("no such call", m.ErrorBody)},
        tags=("Call Flow",),
        params=(
            Param("call_id", "path", required=True),
            Param("cloud_id", "query", required=True, description="the cloud the call belongs to"),
            Param("auth_token", "query", required=True, description="the cloud's auth token"),
        ),
    ),
)

WEBHOOKS = tuple(
    WebhookSpec(event, m.CallEvent, f"`{event}`: sent to `publish.url` or the cloud's `callback_url` [inf]")
    for event in EVENTS
)


def contract() -> dict[str, Any]:
    return build_openapi(
        title="Samespace Call Flow API (cxemu)",
        version=__version__,
        description="Samespace's Call Flow API as cxemu emulates it: flows are validated and executed on the "
        "emulator's clock against simulated phones; `http` steps make real requests.",
        operations=OPERATIONS,
        webhooks=WEBHOOKS,
    )
