"""The control plane's routes to act by hand as an end user or a Customer Contact agent (`hands.py` does the
acting, `views.py` builds the bodies), and to look at the router: `/_emulator/vendors/cmcom/...`, declared on `API`
(the kernel mounts it and puts it in the control plane's contract).

| method and path | what it does |
|---|---|
| `GET /tenants/{tenant}` | the account: token's tenant, BotRouterAccountId, number, channels, webhooks, teams, agents |
| `PUT /tenants/{tenant}/webhooks` | set webhook URLs: `bot`, `status`, `customerContact`, `notifications`, `mo` |
| `GET /tenants/{tenant}/chats` | every chat's routing state (components, context, position, team, agent) |
| `GET /tenants/{tenant}/chats/{chatId}` | one chat's routing state with its transcript and mutation history |
| `POST /tenants/{tenant}/end-users/{number}/messages` | an end user sends (see `EndUserMessage`) |
| `POST /tenants/{tenant}/chats/{chatId}/agent` | a Customer Contact agent acts (see `AgentAction`) |

End user messages: `text`, `media` {mediaUri, contentType, title}, `location` {latitude, longitude, label,
searchQuery} or `button` {id, title} (a reply button / suggestion), on `channel` (default WhatsApp).
Agent actions: `take_over` (optional `agentId`), `say` (`text`), `hand_back` (optional `flowId` + `stepId`).

`credentials` is what `POST /_emulator/tenants` answers for the account (the kernel provisions it). The kernel
also serves `PUT /tenants/{tenant}/behaviour` (the plugin's `behaviour`: `config.Behaviour`, merged).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, Strict, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from emulator.core.contracts import Body, Param, Reply
from emulator.core.errors import EmulatorError
from emulator.core.outbound import check_http_url
from emulator.core.plugin import CONTROL_ERRORS, TENANT_PATH, control_api
from emulator.core.runtime import Emulator
from emulator.core.types import AS_STR
from emulator.core.web import error, first_error, json_body
from emulator.vendors.cmcom import state as st
from emulator.vendors.cmcom import views
from emulator.vendors.cmcom.constants import SLUG
from emulator.vendors.cmcom.errors import RouterError, problem_body
from emulator.vendors.cmcom.hands import AgentAction, EndUserMessage, In, agent_act, end_user_send
from emulator.vendors.cmcom.numbers import NUMBER_PATTERN, exact_number, guid_key, product_token
from emulator.vendors.cmcom.views import chat_view, summary


def _http_url(url: str) -> str:
    if problem := check_http_url(url):
        raise ValueError(problem)
    return url


Url = Annotated[str, Strict(), AfterValidator(_http_url), AS_STR]


class WebhooksIn(In):
    """Webhook URLs of the account; a field left out stays, null removes it."""

    bot: Url | None = None
    status: Url | None = None
    customerContact: Url | None = None
    notifications: Url | None = None
    mo: Url | None = None


WEBHOOK_FIELDS = {
    "bot": "bot_webhook",
    "status": "status_webhook",
    "customerContact": "customer_contact_webhook",
    "notifications": "notification_webhook",
    "mo": "mo_webhook",
}


def _rejected(exc: EmulatorError) -> Response:
    detail = problem_body(exc) if isinstance(exc, RouterError) else {"message": exc.message}
    return JSONResponse({"error": "rejected", "message": exc.message, "detail": detail}, status_code=exc.status_code)


def credentials(emu: Emulator, tx: st.S) -> dict[str, Any]:
    """The account for `POST /_emulator/tenants`, with its product token (its first configured one, else the
    GUID derived from its name)."""
    configured = emu.vendor_config(SLUG).tenants.get(tx.tenant)
    token = configured.product_tokens[0] if configured and configured.product_tokens else product_token(tx.tenant)
    return views.credentials(tx.state, token)


API = control_api(SLUG, "CM.com")
CHAT_ID = Param("chat_id", "path", required=True, description="a chat's id (a GUID)")
NUMBER = Param(
    "number",
    "path",
    {"type": "string", "pattern": NUMBER_PATTERN},
    required=True,
    description="the end user's phone number: +316..., 00316... or 316...",
)
VIEW = {"type": "object", "description": "the account: BotRouterAccountId, number, channels, webhooks, teams, agents"}


class WebhooksOut(BaseModel):
    bot: str | None
    status: str | None
    customerContact: str | None
    notifications: str | None = Field(description="the bot webhook when not set")
    mo: str | None


class AgentRef(BaseModel):
    id: str
    name: str


class Position(BaseModel):
    flowId: str
    stepId: str


class ChatOut(BaseModel):
    """A chat's routing state (`views.chat_view`); one chat's view adds its transcript and mutations."""

    chatId: str
    accountId: str
    channel: str
    client: str
    host: str
    clientName: str | None
    components: list[str]
    customerContact: str = Field(description="`dormant` while the CmBot holds the chat, else `active`")
    context: dict[str, str]
    position: Position | None = Field(description="the CmBot's flow and step")
    team: str | None
    agent: AgentRef | None
    transcript: list[dict[str, Any]] | None = None
    mutations: list[dict[str, Any]] | None = None


class ChatsOut(BaseModel):
    chats: list[ChatOut]


async def _parse(request: Request, model: type[BaseModel]) -> Any:
    try:
        return model.model_validate(await json_body(request))
    except ValidationError as exc:
        return error(400, "invalid_request", first_error(exc))
    except ValueError as exc:
        return error(400, "invalid_request", str(exc))


@API.op(
    "GET",
    "/tenants/{tenant}",
    "cmcomTenant",
    "A CM.com account's world",
    {200: Reply("the account", schema=VIEW), 404: CONTROL_ERRORS[404]},
    params=[TENANT_PATH],
)
async def tenant_view(emu: Emulator, request: Request) -> Response:
    """The account's world."""
    tenant = request.path_params["tenant"]
    async with st.store(emu).tenant(tenant) as tx:
        return JSONResponse(summary(tx.state))


@API.op(
    "PUT",
    "/tenants/{tenant}/webhooks",
    "cmcomPutWebhooks",
    "Where a CM.com account's webhooks go",
    {200: Reply("the webhooks", WebhooksOut), 400: CONTROL_ERRORS[400], 404: CONTROL_ERRORS[404]},
    params=[TENANT_PATH],
    body=Body(WebhooksIn),
)
async def webhooks(emu: Emulator, request: Request) -> Response:
    """Body: WebhooksIn. Where the account's webhooks go from now on."""
    tenant = request.path_params["tenant"]
    body = await _parse(request, WebhooksIn)
    if isinstance(body, Response):
        return body
    async with st.store(emu).tenant(tenant) as tx:
        for name in body.model_fields_set:
            setattr(tx.state, WEBHOOK_FIELDS[name], getattr(body, name))
        return JSONResponse(summary(tx.state)["webhooks"])


@API.op(
    "GET",
    "/tenants/{tenant}/chats",
    "cmcomChats",
    "Every chat's routing state",
    {200: Reply("the chats", ChatsOut), 404: CONTROL_ERRORS[404]},
    params=[TENANT_PATH],
)
async def chats(emu: Emulator, request: Request) -> Response:
    """Every chat's routing state."""
    tenant = request.path_params["tenant"]
    async with st.store(emu).tenant(tenant) as tx:
        return JSONResponse({"chats": [chat_view(ch, tx.state) for ch in tx.state.chats.values()]})


@API.op(
    "GET",
    "/tenants/{tenant}/chats/{chat_id}",
    "cmcomChat",
    "One chat's routing state, transcript and mutation history",
    {200: Reply("the chat", ChatOut), 404: CONTROL_ERRORS[404]},
    params=[TENANT_PATH, CHAT_ID],
)
async def chat(emu: Emulator, request: Request) -> Response:
    """One chat's routing state, transcript and mutation history."""
    tenant = request.path_params["tenant"]
    async with st.store(emu).tenant(tenant) as tx:
        found = tx.state.chats.get(guid_key(request.path_params["chat_id"]))
        if found is None:
            return error(404, "unknown_chat", f"no chat {request.path_params['chat_id']!r}")
        return JSONResponse(chat_view(found, tx.state, full=True))


async def _act(
    emu: Emulator, request: Request, model: type[BaseModel], do: Callable[[st.S, Any], st.Chat | Response]
) -> Response:
    """Parse the body into `model`, `do` it in the tenant's unit of work, answer the chat's routing state."""
    tenant = request.path_params["tenant"]
    body = await _parse(request, model)
    if isinstance(body, Response):
        return body
    try:
        async with st.store(emu).tenant(tenant) as tx:
            done = do(tx, body)
            return done if isinstance(done, Response) else JSONResponse(chat_view(done, tx.state))
    except EmulatorError as exc:
        return _rejected(exc)


@API.op(
    "POST",
    "/tenants/{tenant}/end-users/{number}/messages",
    "cmcomEndUserMessage",
    "An end user sends a message (MO) to the account",
    {200: Reply("the chat", ChatOut), **CONTROL_ERRORS},
    params=[TENANT_PATH, NUMBER],
    body=Body(EndUserMessage),
)
async def end_user(emu: Emulator, request: Request) -> Response:
    """Body: an EndUserMessage. The end user's message reaches the router (MO) at once."""
    number = request.path_params["number"]

    def send(tx: st.S, body: EndUserMessage) -> st.Chat:
        if not exact_number(number):  # as the contract's pattern says (`end_user_send` takes blanks around it)
            raise EmulatorError(f"{number!r} is not a phone number", status_code=400, code="invalid_request")
        return end_user_send(tx, number, body)

    return await _act(emu, request, EndUserMessage, send)


@API.op(
    "POST",
    "/tenants/{tenant}/chats/{chat_id}/agent",
    "cmcomAgentAction",
    "A Customer Contact agent acts in a chat",
    {200: Reply("the chat", ChatOut), **CONTROL_ERRORS},
    params=[TENANT_PATH, CHAT_ID],
    body=Body(AgentAction),
)
async def agent(emu: Emulator, request: Request) -> Response:
    """Body: an AgentAction, done at once as in Customer Contact."""

    def do(tx: st.S, body: AgentAction) -> st.Chat | Response:
        found = tx.state.chats.get(guid_key(request.path_params["chat_id"]))
        if found is None:
            return error(404, "unknown_chat", f"no chat {request.path_params['chat_id']!r}")
        agent_act(tx, found, body)
        return found

    return await _act(emu, request, AgentAction, do)
