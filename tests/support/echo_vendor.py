"""A tiny test-only vendor that exercises the kernel (never shipped in `emulator/`).

It is also the worked example of the kernel's vendor mechanisms: its operations are declared once on an
`Api` (routes and contract from the same declarations), its handlers are plain (`create_app` wraps them),
it reads state through a typed store view (`store.of`), the kernel provisions it from `credentials` and
serves `PUT /_emulator/vendors/echo/tenants/{tenant}/behaviour` from `behaviour`.

`/echo/v1`: the tenant comes from the `x-echo-tenant` header (`strict` auth only accepts tenants that were
provisioned). A tenant registers one webhook URL; creating an item sends an `item.created` webhook, and
`POST /items/{id}/ping` schedules a persistent job that sends `item.pinged` after a delay on the clock.
Webhooks carry `x-echo-event-id`, `x-echo-attempt` and an HMAC-SHA256 `x-echo-signature` of the body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from emulator.core.api import Api
from emulator.core.contracts import Body, Param, Reply, WebhookSpec
from emulator.core.errors import EmulatorError, NotFound
from emulator.core.ids import fmt_sequence
from emulator.core.plugin import BehaviourSpec, VendorPlugin, set_tenant
from emulator.core.runtime import Emulator
from emulator.core.store import Outbound, Tx, VendorStore
from emulator.core.web import first_error, reply
from emulator.core.webhooks import AttemptContext, WebhookPolicy

SLUG = "echo"
M = TypeVar("M", bound=BaseModel)
SECRET = b"echo-secret"


class Item(BaseModel):
    id: str
    text: str
    createdAt: float
    pings: int = 0


class EchoBehaviour(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ping_delay: float = Field(0, ge=0, le=86400, description="added to every ping's delay")
    greeting: str = Field("hello", min_length=1, max_length=50)


class EchoState(BaseModel):
    webhook_url: str | None = None
    items: dict[str, Item] = Field(default_factory=dict)
    provisioned: bool = False
    """A plain field the store tests use (provisioning itself is the kernel's `Store.provisioned`)."""
    behaviour: EchoBehaviour = Field(default_factory=EchoBehaviour)


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=200)


class ItemOut(BaseModel):
    id: str
    text: str
    createdAt: float
    pings: int


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(pattern=r"^https?://")


class PingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    delay: float = Field(0, ge=0, le=86400)


class ErrorOut(BaseModel):
    code: str
    detail: str


class ItemEvent(BaseModel):
    event: str
    id: str
    text: str
    pings: int
    at: float


class EchoUnauthorized(EmulatorError):
    """No tenant header, or (strict auth) a tenant that was never provisioned: the echo vendor's 401."""

    status_code = 401
    code = "unauthorized"


def render_error(exc: EmulatorError, request: Request) -> Response:
    return JSONResponse({"code": exc.code, "detail": exc.message}, status_code=exc.status_code)


def signature(body: bytes) -> str:
    return hmac.new(SECRET, body, hashlib.sha256).hexdigest()


def headers(ctx: AttemptContext) -> dict[str, str]:
    return {
        "x-echo-event-id": ctx.event_id,
        "x-echo-attempt": str(ctx.attempt),
        "x-echo-signature": signature(ctx.body),
        "x-echo-sent-at": f"{ctx.transmission_time:.3f}",
    }


def store(emu: Emulator) -> VendorStore[EchoState]:
    return emu.store.of(SLUG, EchoState)


def _tenant(emu: Emulator, request: Request) -> str:
    tenant = request.headers.get("x-echo-tenant")
    if not tenant:
        raise EchoUnauthorized("missing x-echo-tenant")
    if emu.settings.auth == "strict" and not store(emu).provisioned(tenant):
        raise EchoUnauthorized(f"unknown tenant {tenant}")
    set_tenant(request, tenant)
    return tenant


async def _json(request: Request, model: type[M]) -> M:
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        raise EmulatorError(first_error(exc), code="invalid") from None


def _notify(tx: Tx[EchoState], item: Item, event: str) -> None:
    tx.emit(f"item.{event}", item.id, {"text": item.text})
    if tx.state.webhook_url:
        payload = ItemEvent(event=event, id=item.id, text=item.text, pings=item.pings, at=tx.now()).model_dump()
        event_id = tx.ids.new("event")
        tx.send(Outbound(tx.state.webhook_url, payload, event, item.id, event_id))


API: Api[Emulator] = Api("echo (test vendor)", "1", "test-only vendor")
TENANT = Param("x-echo-tenant", "header", required=True, schema={"type": "string", "minLength": 1})
ITEM_ID = Param("item_id", "path", required=True)
ERR = Reply("error", ErrorOut)


@API.op(
    "PUT",
    "/echo/v1/webhook",
    "putWebhook",
    "Set the webhook",
    {204: Reply("set"), 400: ERR, 401: ERR},
    params=[TENANT],
    body=Body(WebhookIn),
)
async def put_webhook(emu: Emulator, request: Request) -> Response:
    tenant = _tenant(emu, request)
    body = await _json(request, WebhookIn)
    async with store(emu).tenant(tenant) as tx:
        tx.state.webhook_url = body.url
    return Response(status_code=204)


@API.op(
    "POST",
    "/echo/v1/items",
    "createItem",
    "Create an item",
    {201: Reply("created", ItemOut), 400: ERR, 401: ERR},
    params=[TENANT],
    body=Body(ItemIn),
)
async def create_item(emu: Emulator, request: Request) -> Response:
    tenant = _tenant(emu, request)
    body = await _json(request, ItemIn)
    async with store(emu).tenant(tenant) as tx:
        item = Item(id=tx.ids.new("item", fmt_sequence(1, "it-")), text=body.text, createdAt=tx.now())
        tx.state.items[item.id] = item
        _notify(tx, item, "created")
    return reply(ItemOut(**item.model_dump()), 201)


@API.op(
    "GET",
    "/echo/v1/items/{item_id}",
    "getItem",
    "Get an item",
    {200: Reply("item", ItemOut), 401: ERR, 404: ERR},
    params=[TENANT, ITEM_ID],
)
async def get_item(emu: Emulator, request: Request) -> Response:
    state = store(emu).peek(_tenant(emu, request))
    item = state.items.get(request.path_params["item_id"]) if state is not None else None
    if item is None:
        raise NotFound(f"no item {request.path_params['item_id']}")
    return reply(ItemOut(**item.model_dump()))


@API.op(
    "POST",
    "/echo/v1/items/{item_id}/ping",
    "pingItem",
    "Ping later",
    {202: Reply("scheduled"), 400: ERR, 401: ERR, 404: ERR},
    params=[TENANT, ITEM_ID],
    body=Body(PingIn),
)
async def ping(emu: Emulator, request: Request) -> Response:
    tenant = _tenant(emu, request)
    body = await _json(request, PingIn)
    item_id = request.path_params["item_id"]
    async with store(emu).tenant(tenant) as tx:
        if item_id not in tx.state.items:
            raise NotFound(f"no item {item_id}")
        delay = body.delay + tx.state.behaviour.ping_delay
    emu.scheduler.schedule_job(delay, "echo.ping", {"item": item_id}, vendor=SLUG, tenant=tenant)
    return Response(status_code=202)


def jobs(emu: Emulator) -> Mapping[str, Any]:
    async def do_ping(vendor: str, tenant: str, args: Mapping[str, Any]) -> None:
        async with store(emu).tenant(tenant) as tx:
            item = tx.state.items.get(args["item"])
            if item is None:
                return
            item.pings += 1
            _notify(tx, item, "pinged")

    return {"echo.ping": do_ping}


def credentials(emu: Emulator, tx: Tx[EchoState]) -> dict[str, Any]:
    return {"header": "x-echo-tenant", "tenant": tx.tenant}


def contract() -> dict[str, Any]:
    return API.openapi(webhooks=[WebhookSpec("item.created", ItemEvent, "an item was created")])


PLUGIN = VendorPlugin(
    slug=SLUG,
    title="Echo (test vendor)",
    state_type=EchoState,
    new_state=lambda emu, tenant, ids: EchoState(),
    routes=API.routes,
    base_paths=("/echo/v1",),
    render_error=render_error,
    webhook_policy=lambda emu: WebhookPolicy(retry_ladder=(1.0, 10.0, 30.0, 90.0), headers=headers),
    jobs=jobs,
    credentials=credentials,
    behaviour=BehaviourSpec(EchoBehaviour),
    contract=contract,
)


def verify(body: bytes, sig: str) -> bool:
    return hmac.compare_digest(signature(body), sig)


def loads(body: bytes) -> Any:
    return json.loads(body)
