"""CM.com in scenario files: the `setup` account, the `end_user` / `agent` actor actions.

    setup:
      bot_webhook: "{{webhook_url}}"        # the partner bot's MO webhook (and notifications)
      status_webhook: "{{webhook_url}}"     # status reports
      teams: [{name: Billing, match: {team: billing}, agents: [Ann Lee]}]
      behaviour: {agents_auto: false}       # Customer Contact agents are left to the actors
    actors:
      - when: {event: chat.handed_over}
        do: [{after: 5, agent: take_over}, {agent: say, text: "Hi {user}, {agent} here."}]

Actions act through the same functions as the act-by-hand control routes (`hands.py`). An `agent` action
works on the chat of the event that fired its rule (or `chat:`); an `end_user` action needs `number:`
(default `+31612345678`). Variables: `product_token`, `account_id`, `gateway`, `bmproxy`, `control`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from emulator.core.errors import EmulatorError
from emulator.core.events import DomainEvent
from emulator.core.outbound import check_http_url
from emulator.scenarios.errors import ScenarioError
from emulator.scenarios.hooks import ActionBase, ScenarioContext, ScenarioHooks, Strict
from emulator.vendors.cmcom import state as st
from emulator.vendors.cmcom.actors import fill
from emulator.vendors.cmcom.config import SENT_NEEDS_CODE, Behaviour, CmComConfig, Flow, Team, TenantConfig
from emulator.vendors.cmcom.constants import BMPROXY_PATH, CONTROL_PREFIX, GATEWAY_PATH, PRODUCT_TOKEN_HEADER, SLUG
from emulator.vendors.cmcom.events import MO, MO_CC, WEBHOOK_EVENTS, payloads
from emulator.vendors.cmcom.hands import AgentAction as AgentBody
from emulator.vendors.cmcom.hands import EndUserMessage, agent_act, end_user_send
from emulator.vendors.cmcom.numbers import guid_key, product_token

DOMAIN_EVENTS = (
    "chat.created",
    "mo.received",
    "mo.plain",
    "message.sent",
    "status.report",
    "router.mutation",
    "router.position",
    "router.reset",
    "chat.handed_over",
    "chat.handed_back",
    "agent.joined",
    "agent.message",
    "bot.message",
)
DEFAULT_END_USER = "+31612345678"


class CmComSetup(Strict):
    """The tenant's account; the tenant is reset and built from this, as a configured tenant would be."""

    bot_router_account_id: str | None = Field(None, description="BotRouterAccountId (seeded GUID when omitted)")
    business_number: str | None = Field(None, description="the business' number on every channel")
    channels: list[str] | None = Field(None, description="channels of the account (default: all)")
    bot_webhook: str = Field("{{webhook_url}}", description="the partner bot's MO webhook")
    status_webhook: str | None = Field("{{webhook_url}}", description="status reports (null: none)")
    customer_contact_webhook: str | None = Field(None, description="copies for Customer Contact")
    notification_webhook: str | None = Field(None, description="mutation notifications (default: bot_webhook)")
    teams: list[Team] | None = Field(None, description="Customer Contact teams `{name, match, agents}`")
    flows: list[Flow] | None = Field(None, description="CmBot flows `{id, steps: [{id, text, options, handover}]}`")
    behaviour: Behaviour = Field(default_factory=Behaviour, description="timings and simulated people")


async def apply_setup(ctx: ScenarioContext, setup: Any) -> dict[str, Any]:
    assert isinstance(setup, CmComSetup)
    for url in (setup.bot_webhook, setup.status_webhook, setup.customer_contact_webhook, setup.notification_webhook):
        if url is not None and (problem := check_http_url(url)):
            raise ScenarioError(f"webhook {problem}")
    config: CmComConfig = ctx.emu.vendor_config(SLUG)
    if setup.behaviour.sent_after is not None and config.status_codes.sent is None:
        raise ScenarioError(SENT_NEEDS_CODE)
    cfg = TenantConfig(
        bot_router_account_id=setup.bot_router_account_id,
        business_number=setup.business_number,
        channels=setup.channels,
        bot_webhook=setup.bot_webhook,
        status_webhook=setup.status_webhook,
        customer_contact_webhook=setup.customer_contact_webhook,
        notification_webhook=setup.notification_webhook,
        teams=setup.teams,
        flows=setup.flows,
        behaviour=setup.behaviour,
    )
    async with st.store(ctx.emu).tenant(ctx.tenant) as tx:
        tx.ids.counters.clear()
        fresh = st.new_state(ctx.tenant, tx.ids, config, cfg, None)
        if setup.status_webhook is None:
            fresh.status_webhook = None
        state = tx.state
        for name in type(fresh).model_fields:
            setattr(state, name, getattr(fresh, name))
        ctx.emu.store.mark_provisioned(SLUG, ctx.tenant)  # strict auth takes the scenario's tenant
        return {
            "product_token": product_token(ctx.tenant),
            "account_id": state.account_id,
            "gateway": GATEWAY_PATH,
            "bmproxy": BMPROXY_PATH.format(account_id=state.account_id),
            "control": CONTROL_PREFIX.format(account_id=state.account_id),
            "business_number": state.business_number,
        }


def request_headers(ctx: ScenarioContext) -> dict[str, str]:
    return {PRODUCT_TOKEN_HEADER: str(ctx.variables.get("product_token", product_token(ctx.tenant)))}


class EndUserAction(ActionBase):
    """An end user writes to the business: `{end_user: say, text: Hi}`."""

    end_user: Literal["say", "media", "location", "button"] = Field(description="say, media, location, button")
    number: str = Field(DEFAULT_END_USER, description="the end user's number")
    name: str | None = Field(None, description="their profile name")
    channel: str = Field("WhatsApp", description="the channel")
    text: str | None = Field(None, description="say: the text (also a media caption)")
    media: dict[str, Any] | None = Field(None, description="media: {mediaUri, contentType, title}")
    location: dict[str, Any] | None = Field(None, description="location: {latitude, longitude, label, searchQuery}")
    button: dict[str, Any] | None = Field(None, description="button: {id, title}")

    @model_validator(mode="after")
    def _needs(self) -> EndUserAction:
        needed = {"say": self.text, "media": self.media, "location": self.location, "button": self.button}
        if needed[self.end_user] is None:
            raise ValueError(f"end_user {self.end_user} needs `{'text' if self.end_user == 'say' else self.end_user}`")
        return self


class AgentAction(ActionBase):
    """A Customer Contact agent acts: `{agent: take_over}`, `{agent: say, text: ...}`, `{agent: hand_back}`."""

    agent: Literal["take_over", "say", "hand_back"] = Field(description="take_over, say, hand_back")
    text: str | None = Field(None, description="say: the message; `{user}`, `{agent}`, `{team}` are filled in")
    agent_id: str | None = Field(None, description="take_over: which agent (default: a free one of the team)")
    flow: str | None = Field(None, description="hand_back: position the CmBot at this flow...")
    step: str | None = Field(None, description="...and step")
    chat: str | None = Field(None, description="chat id (default: the chat of the triggering event)")

    @model_validator(mode="after")
    def _needs(self) -> AgentAction:
        if self.agent == "say" and not self.text:
            raise ValueError("agent say needs `text`")
        return self


async def perform(ctx: ScenarioContext, action: Any, subject: str | None) -> None:
    try:
        async with st.store(ctx.emu).tenant(ctx.tenant, create=False) as tx:
            if isinstance(action, EndUserAction):
                kind = action.end_user
                message = EndUserMessage.model_validate(
                    {"channel": action.channel, "name": action.name, "text": action.text,
                     "media": action.media if kind == "media" else None,
                     "location": action.location if kind == "location" else None,
                     "button": action.button if kind == "button" else None}
                )  # fmt: skip
                end_user_send(tx, action.number, message)
                return
            if not isinstance(action, AgentAction):
                raise ScenarioError(f"CM.com has no action {type(action).__name__}")
            chat_id = guid_key(action.chat or subject or "")
            chat = tx.state.chats.get(chat_id)
            if chat is None:
                raise ScenarioError(f"{action.describe()}: no chat {chat_id!r} (set `chat:` in a step)")
            text = fill(action.text, tx.state, chat) if action.text else None
            body = AgentBody(action=action.agent, agentId=action.agent_id, text=text, flowId=action.flow,
                             stepId=action.step)  # fmt: skip
            agent_act(tx, chat, body)
    except EmulatorError as exc:
        raise ScenarioError(f"{action.describe()}: {exc.message}") from None
    except ValueError as exc:
        raise ScenarioError(f"{action.describe()}: {exc}") from None


def event_views(event: DomainEvent) -> list[tuple[str, dict[str, Any]]]:
    """The webhook bodies of a domain event (Customer Contact's copy of an MO is the same body)."""
    views = payloads(event)
    return views + [(MO_CC, body) for name, body in views if name == MO]


HOOKS = ScenarioHooks(
    setup_model=CmComSetup,
    apply_setup=apply_setup,
    actions={"end_user": EndUserAction, "agent": AgentAction},
    perform=perform,
    event_names=(*WEBHOOK_EVENTS, *DOMAIN_EVENTS),
    event_views=event_views,
    request_headers=request_headers,
    variables_doc={
        "product_token": "the account's product token (a GUID derived from the tenant's name unless the tenant is "
        "one); put it in the send envelope",
        "account_id": "the BotRouterAccountId",
        "gateway": f"the send path, `{GATEWAY_PATH}`",
        "bmproxy": "the Bot Router send path of the account",
        "control": "the router control prefix of the account (`.../sessions`)",
        "business_number": "the business' number (the MO `to`)",
    },
    events_doc=(
        "`when.event` is a webhook name (the body a receiver gets: "
        f"{', '.join(WEBHOOK_EVENTS)}) or a domain event kind (`{{kind, subject, data}}`: {', '.join(DOMAIN_EVENTS)})."
    ),
)
