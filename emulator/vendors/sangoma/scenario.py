"""Sangoma in scenario files: the `setup` world, `customer`/`agent`/`call` actor actions, `behaviour` step.

    setup:
      agent_bot: {name: Support bot, url: "{{webhook_url}}/bot"}   # attached to the web widget inbox
      webhook: {url: "{{webhook_url}}/account", subscriptions: [conversation_created, message_created]}
      behaviour: {auto: false}
    actors:
      - when: {event: message_created, match: {message_type: incoming}}
        do: [{after: 1, agent: say, text: "Hello {customer}"}]

`apply_setup` mints an access token with every scope; each `request` step sends it as `Authorization:
Bearer {{token}}`. Actions act through `hands.py`, as the control plane's hand routes do. An action works on
the conversation (or call) of the event that fired its rule, or on `conversation:` / `call:`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from emulator.core.errors import EmulatorError
from emulator.core.events import DomainEvent
from emulator.core.plugin import merge_behaviour
from emulator.core.store import VendorStore
from emulator.core.web import first_error
from emulator.scenarios.errors import ScenarioError
from emulator.scenarios.hooks import ActionBase, ScenarioContext, ScenarioHooks, StepKind, Strict
from emulator.vendors.sangoma import accounts, di, hands
from emulator.vendors.sangoma import state as st
from emulator.vendors.sangoma.actors import fill
from emulator.vendors.sangoma.config import (
    BEHAVIOUR,
    AgentBehaviour,
    AgentConfig,
    CalleeBehaviour,
    CustomerBehaviour,
    InboxConfig,
    QueueConfig,
    SangomaConfig,
    TenantConfig,
)
from emulator.vendors.sangoma.constants import (
    API_PREFIX,
    DI,
    SCOPES,
    SLUG,
    TOKEN_PATH,
    WEBHOOK_SUBSCRIPTIONS,
    CallState,
)

CHATWOOT_EVENTS = (*WEBHOOK_SUBSCRIPTIONS, "conversation_opened", "conversation_resolved")
DOMAIN_EVENTS = (*(f"call.{s}" for s in CallState), "customer.idle", "customer.active", "token.issued")


class BotSetup(Strict):
    name: str = Field("Bot", description="the agent bot's name")
    url: str = Field("{{webhook_url}}", description="its outgoing_url")
    inbox: str | None = Field(None, description="name of the inbox it is attached to (default: the web widget's)")


class WebhookSetup(Strict):
    url: str = Field("{{webhook_url}}", description="the account webhook's url")
    subscriptions: list[str] = Field(default_factory=lambda: list(WEBHOOK_SUBSCRIPTIONS))


class SangomaSetup(Strict):
    """The tenant's Sangoma world. The tenant is reset and built from this, as a configured tenant would be."""

    tenant_domain: str | None = Field(None, description="default: `<tenant>.cx.sangoma.com`")
    agents: list[AgentConfig] | None = Field(None, description="CX agents (default: agent.test + two seeded)")
    queues: list[QueueConfig] | None = Field(None, description="default: queue_test with every agent")
    inboxes: list[InboxConfig] | None = Field(None, description="default: Website (web widget) and API")
    callees: dict[str, CalleeBehaviour] = Field(default_factory=dict, description="behaviour per dialled number")
    behaviour: AgentBehaviour = Field(default_factory=AgentBehaviour, description="simulated agents")
    customers: CustomerBehaviour = Field(default_factory=CustomerBehaviour, description="simulated customers")
    agent_bot: BotSetup | None = Field(None, description="an agent bot attached to an inbox")
    webhook: WebhookSetup | None = Field(None, description="an account webhook")


def _store(ctx: ScenarioContext) -> VendorStore[st.SangomaState]:
    return ctx.emu.store.of(SLUG, st.SangomaState)


async def apply_setup(ctx: ScenarioContext, setup: Any) -> dict[str, Any]:
    assert isinstance(setup, SangomaSetup)
    vendor: SangomaConfig = ctx.emu.vendor_config(SLUG)
    cfg = TenantConfig(
        tenant_domain=setup.tenant_domain,
        agents=setup.agents,
        queues=setup.queues,
        inboxes=setup.inboxes,
        callees=setup.callees,
        behaviour=setup.behaviour,
        customers=setup.customers,
    )
    try:
        async with _store(ctx).tenant(ctx.tenant) as tx:
            tx.ids.counters.clear()
            fresh = st.new_state(ctx.tenant, tx.ids, cfg, vendor, tx.now())
            state = tx.state
            for name in type(fresh).model_fields:
                setattr(state, name, getattr(fresh, name))
            state.client_secret = f"{ctx.tenant}-secret"
            ctx.emu.store.mark_provisioned(SLUG, ctx.tenant)  # strict auth takes the scenario's client
            widget = next((i for i in state.inboxes.values() if i.channel_type == "Channel::WebWidget"), None)
            api = next((i for i in state.inboxes.values() if i.channel_type == "Channel::Api"), None)
            out: dict[str, Any] = {
                "api": API_PREFIX,
                "di": DI,
                "tenant_domain": state.tenant_domain,
                "client_id": state.client_id,
                "client_secret": state.client_secret,
                "token": st.issue_token(tx, state.client_id, list(SCOPES), vendor.token_lifetime),
                "inbox_id": widget.id if widget else None,
                "api_inbox_id": api.id if api else None,
                "queue": next(iter(state.queues), None),
                "agent": next((a.name for a in state.agents.values()), None),
                "agent_bot_id": None,
            }
            if setup.agent_bot is not None:
                bot_inbox = widget
                if setup.agent_bot.inbox is not None:
                    bot_inbox = next((i for i in state.inboxes.values() if i.name == setup.agent_bot.inbox), None)
                if bot_inbox is None:
                    raise ScenarioError(f"agent_bot.inbox: no inbox {setup.agent_bot.inbox!r}")
                bot = accounts.create_agent_bot(tx, setup.agent_bot.name, None, str(ctx.render(setup.agent_bot.url)))
                accounts.assign_agent_bot(tx, bot_inbox.id, bot.id)
                out["agent_bot_id"] = bot.id
            if setup.webhook is not None:
                accounts.create_webhook(tx, str(ctx.render(setup.webhook.url)), setup.webhook.subscriptions)
            tx.events.clear()
            return out
    except EmulatorError as exc:
        raise ScenarioError(f"setup: {exc.message}") from None


def request_headers(ctx: ScenarioContext) -> dict[str, str]:
    token = ctx.variables.get("token")
    return {"authorization": f"Bearer {token}"} if token else {}


# -- actions ----------------------------------------------------------------------------------------------------

_CONVERSATION = Field(None, description="conversation display id (default: the triggering event's)")


class CustomerAction(ActionBase):
    """A web-widget visitor: `{customer: start, text: ...}` opens the widget and writes; `say`, `idle`, `active`
    act in a conversation."""

    customer: Literal["start", "say", "idle", "active"]
    text: str | None = Field(None, description="start/say: the message")
    name: str | None = Field(None, description="start: the visitor's name (seeded when omitted)")
    email: str | None = Field(None, description="start: the visitor's email (seeded when omitted)")
    inbox_id: int | None = Field(None, description="start: the web widget inbox (default: the first)")
    conversation: int | str | None = _CONVERSATION


class AgentAction(ActionBase):
    """A CX agent in the conversation: `{agent: say, text: ...}`."""

    agent: Literal["assign", "typing", "stop_typing", "say", "note", "resolve", "pending"]
    text: str | None = Field(None, description="say/note: the message; `{customer}` and `{agent}` are first names")
    agent_name: str | None = Field(None, description="which agent (default: the assignee, else a free one)")
    conversation: int | str | None = _CONVERSATION


class CallAction(ActionBase):
    """The callee or an agent on a call: `{call: answer}`."""

    call: Literal["answer", "busy", "no_answer", "agent_answer", "hang_up"]
    agent_name: str | None = Field(None, description="agent_answer: which agent (default: a free one)")
    call_id: str | None = Field(None, description="the call (default: the triggering event's)")


def _subject_id(subject: str | None, prefix: str) -> str | None:
    if subject and subject.startswith(prefix + ":"):
        return subject.split(":", 1)[1]
    return None


async def perform(ctx: ScenarioContext, action: Any, subject: str | None) -> None:
    try:
        async with _store(ctx).tenant(ctx.tenant, create=False) as tx:
            if isinstance(action, CallAction):
                call_id = action.call_id or _subject_id(subject, "call")
                if not call_id:
                    raise ScenarioError(f"{action.describe()}: which call? (set `call_id:`)")
                hands.call_act(tx, call_id, action.call, action.agent_name)
                return
            if isinstance(action, CustomerAction) and action.customer == "start":
                hands.start_customer(tx, action.inbox_id, action.name, action.email, action.text, None)
                return
            raw = action.conversation or _subject_id(subject, "conversation")
            if raw is None or not str(raw).isdigit():
                raise ScenarioError(f"{action.describe()}: which conversation? (set `conversation:`)")
            conv = di.get_conversation(tx.state, int(raw))
            if isinstance(action, CustomerAction):
                hands.customer_act(tx, conv, action.customer, action.text)
            else:
                text = fill(action.text, tx.state, conv, conv.assignee_id) if action.text else None
                hands.agent_act(tx, conv, action.agent, action.agent_name, text)
    except EmulatorError as exc:
        raise ScenarioError(f"{action.describe()}: {exc.message}") from None


# -- the `behaviour` step ---------------------------------------------------------------------------------------


class BehaviourStep(Strict):
    behaviour: dict[str, Any] = Field(description="change fields of the simulated agents' AgentBehaviour from now on")

    @field_validator("behaviour")
    @classmethod
    def _valid(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            AgentBehaviour.model_validate(value)
        except ValidationError as exc:
            raise ValueError(first_error(exc)) from None
        return value


async def run_behaviour(ctx: ScenarioContext, step: Any) -> str | None:
    assert isinstance(step, BehaviourStep)
    async with _store(ctx).tenant(ctx.tenant) as tx:
        merge_behaviour(BEHAVIOUR, tx.state, step.behaviour)
    return ", ".join(f"{k}={v}" for k, v in step.behaviour.items())


def event_views(event: DomainEvent) -> list[tuple[str, dict[str, Any]]]:
    """The Chatwoot payload of a Digital Interactions event; a call's view for `call.*`."""
    payload = event.data.get("payload")
    if isinstance(payload, dict):
        return [(event.kind, payload)]
    return [(event.kind, dict(event.data))]


def export_request(spec: dict[str, Any]) -> dict[str, Any] | None:
    """Save as scenario: a client's `/oauth/token` request is left out (a replay sends the scenario's own
    `{{token}}`, which has every scope, and the client's secret is not the scenario tenant's)."""
    return None if spec["path"].split("?")[0].rstrip("/") == TOKEN_PATH else spec


HOOKS = ScenarioHooks(
    setup_model=SangomaSetup,
    apply_setup=apply_setup,
    actions={"customer": CustomerAction, "agent": AgentAction, "call": CallAction},
    perform=perform,
    event_names=(*CHATWOOT_EVENTS, *DOMAIN_EVENTS),
    event_views=event_views,
    request_headers=request_headers,
    export_request=export_request,
    steps={"behaviour": StepKind(BehaviourStep, run_behaviour, "change the simulated agents' behaviour")},
    variables_doc={
        "api": f"the API base path, `{API_PREFIX}`",
        "di": f"the Digital Interactions base path, `{DI}`",
        "token": "a bearer token with every scope (sent by every `request` step)",
        "tenant_domain": "the tenant's `tenant_domain`",
        "client_id": "the OAuth client id",
        "client_secret": "the OAuth client secret",
        "inbox_id": "the web widget inbox",
        "api_inbox_id": "the API inbox",
        "queue": "the first queue's name",
        "agent": "the first agent's name",
        "agent_bot_id": "the bot of `setup.agent_bot` (or null)",
    },
    events_doc=(
        "`when.event` is a Chatwoot event name (the payload a receiver gets: "
        f"{', '.join(CHATWOOT_EVENTS)}) or a domain event kind ({', '.join(DOMAIN_EVENTS)}; `call.*` bodies are "
        "the call's view `{id, kind, destination, state, agent, queue, ...}`)."
    ),
)
