"""A tiny test-only vendor that exercises the kernel (never shipped in `emulator/`).

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
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from emulator.core.contracts import Body, Operation, Param, Reply, WebhookSpec, build_openapi
from emulator.core.errors import EmulatorError, NotFound, Unauthorized
from emulator.core.ids import fmt_sequence
from emulator.core.plugin import VendorPlugin, set_tenant, vendor_endpoint
from emulator.core.runtime import Emulator
from emulator.core.store import Outbound, Tx
from emulator.core.webhooks import AttemptContext, WebhookPolicy

SLUG = "echo"
SECRET = b"echo-secret"


class Item(BaseModel):
    id: str
    text: str
    createdAt: float
    pings: int = 0


class EchoState(BaseModel):
    webhook_url: str | None = None
    items: dict[str, Item] = Field(default_factory=dict)
    provisioned: bool = False


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


def _tenant(emu: Emulator, request: Request) -> str:
    tenant = request.headers.get("x-echo-tenant")
    if not tenant:
        raise Unauthorized("missing x-echo-tenant", code="unauthorized")
    if emu.settings.auth == "strict":
        state = emu.store.peek(SLUG, tenant)
        if not isinstance(state, EchoState) or not state.provisioned:
            raise Unauthorized(f"unknown tenant {tenant}", code="unauthorized")
    set_tenant(request, tenant)
    return tenant


async def _json(request: Request, model: type[BaseModel]) -> Any:
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        err = exc.errors()[0]
        raise EmulatorError(f"{'.'.join(map(str, err['loc']))}: {err['msg']}", code="invalid") from None


def _notify(tx: Tx[EchoState], item: Item, event: str) -> None:
    tx.emit(f"item.{event}", item.id, {"text": item.text})
    if tx.state.webhook_url:
        payload = ItemEvent(event=event, id=item.id, text=item.text, pings=item.pings, at=tx.now()).model_dump()
        event_id = tx.ids.new("event")
        tx.send(Outbound(tx.state.webhook_url, payload, event, item.id, event_id))


def routes(emu: Emulator) -> list[BaseRoute]:
    async def put_webhook(request: Request) -> Response:
        tenant = _tenant(emu, request)
        body: WebhookIn = await _json(request, WebhookIn)
        async with emu.store.tenant(SLUG, tenant) as tx:
            tx.state.webhook_url = body.url
        return Response(status_code=204)

    async def create_item(request: Request) -> Response:
        tenant = _tenant(emu, request)
        body: ItemIn = await _json(request, ItemIn)
        async with emu.store.tenant(SLUG, tenant) as tx:
            item = Item(id=tx.ids.new("item", fmt_sequence(1, "it-")), text=body.text, createdAt=tx.now())
            tx.state.items[item.id] = item
            _notify(tx, item, "created")
        return JSONResponse(item.model_dump(), status_code=201)

    async def get_item(request: Request) -> Response:
        tenant = _tenant(emu, request)
        state = emu.store.peek(SLUG, tenant)
        item = state.items.get(request.path_params["item_id"]) if isinstance(state, EchoState) else None
        if item is None:
            raise NotFound(f"no item {request.path_params['item_id']}")
        return JSONResponse(item.model_dump())

    async def ping(request: Request) -> Response:
        tenant = _tenant(emu, request)
        body: PingIn = await _json(request, PingIn)
        item_id = request.path_params["item_id"]
        async with emu.store.tenant(SLUG, tenant) as tx:
            if item_id not in tx.state.items:
                raise NotFound(f"no item {item_id}")
        emu.scheduler.schedule_job(body.delay, "echo.ping", {"item": item_id}, vendor=SLUG, tenant=tenant)
        return Response(status_code=202)

    wrap = [
        Route("/echo/v1/webhook", put_webhook, methods=["PUT"]),
        Route("/echo/v1/items", create_item, methods=["POST"]),
        Route("/echo/v1/items/{item_id}", get_item, methods=["GET"]),
        Route("/echo/v1/items/{item_id}/ping", ping, methods=["POST"]),
    ]
    return [Route(r.path, vendor_endpoint(emu, PLUGIN, r.endpoint), methods=r.methods) for r in wrap]


def jobs(emu: Emulator) -> Mapping[str, Any]:
    async def do_ping(vendor: str, tenant: str, args: Mapping[str, Any]) -> None:
        async with emu.store.tenant(vendor, tenant) as tx:
            item = tx.state.items.get(args["item"])
            if item is None:
                return
            item.pings += 1
            _notify(tx, item, "pinged")

    return {"echo.ping": do_ping}


async def provision(emu: Emulator, tenant: str) -> dict[str, Any]:
    async with emu.store.tenant(SLUG, tenant) as tx:
        tx.state.provisioned = True
    return {"header": "x-echo-tenant", "tenant": tenant}


def contract() -> dict[str, Any]:
    tenant = Param("x-echo-tenant", "header", required=True, schema={"type": "string", "minLength": 1})
    item_id = Param("item_id", "path", required=True)
    err = Reply("error", ErrorOut)
    return build_openapi(
        title="echo (test vendor)",
        version="1",
        description="test-only vendor",
        operations=[
            Operation(
                "PUT",
                "/echo/v1/webhook",
                "putWebhook",
                "Set the webhook",
                {204: Reply("set"), 400: err, 401: err},
                params=[tenant],
                body=Body(WebhookIn),
            ),
            Operation(
                "POST",
                "/echo/v1/items",
                "createItem",
                "Create an item",
                {201: Reply("created", ItemOut), 400: err, 401: err},
                params=[tenant],
                body=Body(ItemIn),
            ),
            Operation(
                "GET",
                "/echo/v1/items/{item_id}",
                "getItem",
                "Get an item",
                {200: Reply("item", ItemOut), 401: err, 404: err},
                params=[tenant, item_id],
            ),
            Operation(
                "POST",
                "/echo/v1/items/{item_id}/ping",
                "pingItem",
                "Ping later",
                {202: Reply("scheduled"), 400: err, 401: err, 404: err},
                params=[tenant, item_id],
                body=Body(PingIn),
            ),
        ],
        webhooks=[WebhookSpec("item.created", ItemEvent, "an item was created")],
    )


PLUGIN = VendorPlugin(
    slug=SLUG,
    title="Echo (test vendor)",
    state_type=EchoState,
    new_state=lambda emu, tenant, ids: EchoState(),
    routes=routes,
    base_paths=("/echo/v1",),
    render_error=render_error,
    webhook_policy=lambda emu: WebhookPolicy(retry_ladder=(1.0, 10.0, 30.0, 90.0), headers=headers),
    jobs=jobs,
    provision=provision,
    contract=contract,
)


def verify(body: bytes, sig: str) -> bool:
    return hmac.compare_digest(signature(body), sig)


def loads(body: bytes) -> Any:
    return json.loads(body)
