"""Act by hand as an end user or a Customer Contact agent, and look at the router: `/_emulator/vendors/cmcom/...`.

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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError, model_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from emulator.core.control import error, json_body
from emulator.core.errors import EmulatorError
from emulator.core.runtime import Emulator
from emulator.core.types import AS_NUMBER, AS_STR
from emulator.vendors.cmcom import router as rt
from emulator.vendors.cmcom import state as st
from emulator.vendors.cmcom.config import Team
from emulator.vendors.cmcom.constants import SLUG
from emulator.vendors.cmcom.errors import RouterError, problem_body
from emulator.vendors.cmcom.numbers import channel_name, digits, guid_key, mo

Str = Annotated[str, Strict(), AS_STR]
Text = Annotated[str, Strict(), Field(min_length=1, max_length=10_000), AS_STR]
# Bounded, which also refuses NaN and Infinity (they would make the MO webhook invalid JSON).
Latitude = Annotated[float, Strict(), Field(ge=-90, le=90), AS_NUMBER]
Longitude = Annotated[float, Strict(), Field(ge=-180, le=180), AS_NUMBER]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MediaIn(_In):
    mediaUri: Str
    contentType: Str = "image/jpeg"
    title: Str | None = None


class LocationIn(_In):
    latitude: Latitude
    longitude: Longitude
    label: Str | None = None
    searchQuery: Str | None = None


class ButtonIn(_In):
    id: Str
    title: Str


class EndUserMessage(_In):
    """What an end user sends: exactly one of text, media, location, button (media may carry text)."""

    channel: Str = Field("WhatsApp", description="the channel they write on")
    name: Str | None = Field(None, description="their profile name (kept for later messages)")
    text: Text | None = None
    media: MediaIn | None = None
    location: LocationIn | None = None
    button: ButtonIn | None = None

    @model_validator(mode="after")
    def _one(self) -> EndUserMessage:
        if channel_name(self.channel) is None:
            raise ValueError(f"unknown channel {self.channel!r}")
        if sum(x is not None for x in (self.media, self.location, self.button)) > 1:
            raise ValueError("send one of media, location or button")
        if self.text is None and self.media is None and self.location is None and self.button is None:
            raise ValueError("send text, media, location or button")
        return self


Url = Annotated[str, Strict(), Field(pattern=r"^https?://"), AS_STR]


class WebhooksIn(_In):
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


class AgentAction(_In):
    action: Literal["take_over", "say", "hand_back"]
    agentId: Str | None = Field(None, description="take_over: which agent (default: a free one of the team)")
    text: Text | None = Field(None, description="say: the message")
    flowId: Str | None = Field(None, description="hand_back: position the CmBot at this flow...")
    stepId: Str | None = Field(None, description="...and step")

    @model_validator(mode="after")
    def _complete(self) -> AgentAction:
        if self.action == "say" and self.text is None:
            raise ValueError("say needs text")
        if (self.flowId is None) != (self.stepId is None):
            raise ValueError("hand_back needs both flowId and stepId, or neither")
        return self


def end_user_send(tx: st.S, number: str, msg: EndUserMessage) -> st.Chat:
    """The MO of one end user message (shared by the control route and scenario actions)."""
    client = digits(number)
    if client is None:
        raise EmulatorError(f"{number!r} is not a phone number", status_code=400, code="invalid_request")
    kind, text, media, custom = "text", msg.text, None, None
    if msg.media is not None:
        kind, media = "media", msg.media.model_dump()
    elif msg.location is not None:
        kind, custom = "location", {"location": msg.location.model_dump(exclude_none=True)}
    elif msg.button is not None:
        kind, text = "button", msg.button.title
        custom = {"interactive": {"type": "button_reply", "button_reply": msg.button.model_dump()}}
    channel = channel_name(msg.channel) or msg.channel
    return rt.customer_message(
        tx, channel=channel, client=client, name=msg.name, kind=kind, text=text, media=media, custom=custom
    )


def agent_act(tx: st.S, chat: st.Chat, action: AgentAction) -> None:
    if action.action == "take_over":
        rt.take_over(tx, chat, action.agentId)
    elif action.action == "say":
        rt.agent_say(tx, chat, action.text or "")
    else:
        rt.hand_back(tx, chat, action.flowId, action.stepId)


def chat_view(chat: st.Chat, state: st.CmComState, *, full: bool = False) -> dict[str, Any]:
    agent = state.agents.get(chat.agent or "")
    out: dict[str, Any] = {
        "chatId": chat.id,
        "accountId": state.account_id,
        "channel": chat.channel,
        "client": mo(chat.client),
        "host": mo(chat.host),
        "clientName": chat.client_name,
        "components": list(chat.components),
        "customerContact": "dormant" if chat.enabled(rt.BOT) else "active",
        "context": dict(chat.context),
        "position": {"flowId": chat.position[0], "stepId": chat.position[1]} if chat.position else None,
        "team": chat.team,
        "agent": {"id": agent.id, "name": agent.name} if agent else None,
    }
    if full:
        out["transcript"] = [asdict(e) for e in chat.transcript]
        out["mutations"] = list(chat.mutations)
    return out


def team_view(team: Team, state: st.CmComState) -> dict[str, Any]:
    """A team as configured, with its agents' names (seeded ones for the `null` entries)."""
    return {**team.model_dump(), "agents": [a.name for a in state.agents.values() if a.team == team.name]}


def summary(state: st.CmComState) -> dict[str, Any]:
    return {
        "tenant": state.tenant,
        "botRouterAccountId": state.account_id,
        "businessNumber": state.business_number,
        "channels": list(state.channels),
        "partnerComponent": state.partner,
        "defaultComponents": list(state.default_components),
        "webhooks": {"bot": state.bot_webhook, "status": state.status_webhook,
                     "customerContact": state.customer_contact_webhook,
                     "notifications": state.notification_webhook or state.bot_webhook, "mo": state.mo_webhook},
        "teams": [team_view(t, state) for t in state.teams],
        "agents": [asdict(a) for a in state.agents.values()],
        "flows": [f.model_dump() for f in state.flows],
        "chats": len(state.chats),
    }  # fmt: skip


def _rejected(exc: EmulatorError) -> Response:
    detail = problem_body(exc) if isinstance(exc, RouterError) else {"message": exc.message}
    return JSONResponse({"error": "rejected", "message": exc.message, "detail": detail}, status_code=exc.status_code)


def control_routes(emu: Emulator) -> list[BaseRoute]:
    store = emu.store
    configured = set(emu.vendor_config(SLUG).tenants)

    def known(tenant: str) -> Response | None:
        if not store.exists(SLUG, tenant) and tenant not in configured:
            return error(404, "unknown_tenant", f"no CM.com tenant {tenant!r}")
        return None

    async def parse(request: Request, model: type[BaseModel]) -> Any:
        try:
            return model.model_validate(await json_body(request))
        except ValidationError as exc:
            err = exc.errors()[0]
            return error(400, "invalid_request", f"{'.'.join(map(str, err['loc']))}: {err['msg']}")
        except ValueError as exc:
            return error(400, "invalid_request", str(exc))

    async def tenant_view(request: Request) -> Response:
        """The account's world."""
        tenant = request.path_params["tenant"]
        if missing := known(tenant):
            return missing
        async with store.tenant(SLUG, tenant) as tx:
            return JSONResponse(summary(tx.state))

    async def webhooks(request: Request) -> Response:
        """Body: WebhooksIn. Where the account's webhooks go from now on."""
        tenant = request.path_params["tenant"]
        if missing := known(tenant):
            return missing
        body = await parse(request, WebhooksIn)
        if isinstance(body, Response):
            return body
        async with store.tenant(SLUG, tenant) as tx:
            for name in body.model_fields_set:
                setattr(tx.state, WEBHOOK_FIELDS[name], getattr(body, name))
            return JSONResponse(summary(tx.state)["webhooks"])

    async def chats(request: Request) -> Response:
        """Every chat's routing state."""
        tenant = request.path_params["tenant"]
        if missing := known(tenant):
            return missing
        async with store.tenant(SLUG, tenant) as tx:
            return JSONResponse({"chats": [chat_view(ch, tx.state) for ch in tx.state.chats.values()]})

    async def chat(request: Request) -> Response:
        """One chat's routing state, transcript and mutation history."""
        tenant = request.path_params["tenant"]
        if missing := known(tenant):
            return missing
        async with store.tenant(SLUG, tenant) as tx:
            found = tx.state.chats.get(guid_key(request.path_params["chat_id"]))
            if found is None:
                return error(404, "unknown_chat", f"no chat {request.path_params['chat_id']!r}")
            return JSONResponse(chat_view(found, tx.state, full=True))

    async def act(request: Request, model: type[BaseModel], do: Callable[[st.S, Any], st.Chat | Response]) -> Response:
        """Parse the body into `model`, `do` it in the tenant's unit of work, answer the chat's routing state."""
        tenant = request.path_params["tenant"]
        if missing := known(tenant):
            return missing
        body = await parse(request, model)
        if isinstance(body, Response):
            return body
        try:
            async with store.tenant(SLUG, tenant) as tx:
                done = do(tx, body)
                return done if isinstance(done, Response) else JSONResponse(chat_view(done, tx.state))
        except EmulatorError as exc:
            return _rejected(exc)

    async def end_user(request: Request) -> Response:
        """Body: an EndUserMessage. The end user's message reaches the router (MO) at once."""
        number = request.path_params["number"]
        return await act(request, EndUserMessage, lambda tx, body: end_user_send(tx, number, body))

    async def agent(request: Request) -> Response:
        """Body: an AgentAction, done at once as in Customer Contact."""

        def do(tx: st.S, body: AgentAction) -> st.Chat | Response:
            found = tx.state.chats.get(guid_key(request.path_params["chat_id"]))
            if found is None:
                return error(404, "unknown_chat", f"no chat {request.path_params['chat_id']!r}")
            agent_act(tx, found, body)
            return found

        return await act(request, AgentAction, do)

    return [
        Route("/tenants/{tenant}", tenant_view, methods=["GET"]),
        Route("/tenants/{tenant}/webhooks", webhooks, methods=["PUT"]),
        Route("/tenants/{tenant}/chats", chats, methods=["GET"]),
        Route("/tenants/{tenant}/chats/{chat_id}", chat, methods=["GET"]),
        Route("/tenants/{tenant}/end-users/{number}/messages", end_user, methods=["POST"]),
        Route("/tenants/{tenant}/chats/{chat_id}/agent", agent, methods=["POST"]),
    ]
