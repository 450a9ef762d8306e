"""8x8 in scenario files: the `setup` world and the `agent`/`customer` actor actions (the `behaviour` step is the
kernel's, from `config.BEHAVIOUR`).

    setup:
      webhook: "{{webhook_url}}"          # uri of the default webhook (channel 1's)
      queues:
        - {id: "123", name: Support, agents: [{id: ag-jane, name: Jane Doe, capacity: 2}], schedule: Office}
      schedules:                          # tenant schedules (schedules.py); `Office` is Mon-Fri 09:00-17:00 UTC
        - {name: Office}
      behaviour: {auto: false}            # AgentBehaviour: simulated agents off, the actors script them
    actors:
      - when: {event: QUEUED}
        do: [{after: 5, agent: join}, {agent: say, text: "Hi {user}, this is {agent}."}]

Actions act through `hands.py`, as the act-by-hand control routes (`control.py`) do, so they emit the same
events and webhooks. An actor action works on the conversation of the event that fired its rule
(or `conversation:`); a step needs `conversation:`.
"""

from __future__ import annotations

import base64
from typing import Any, Literal

from pydantic import Field, model_validator

from emulator.core.errors import EmulatorError
from emulator.core.events import DomainEvent
from emulator.core.outbound import check_http_url
from emulator.core.runtime import Emulator
from emulator.scenarios.errors import ScenarioError
from emulator.scenarios.hooks import ActionBase, ScenarioContext, ScenarioHooks, Strict
from emulator.vendors.eightbyeight import channels as chan
from emulator.vendors.eightbyeight import hands
from emulator.vendors.eightbyeight import state as st
from emulator.vendors.eightbyeight.actors import fill
from emulator.vendors.eightbyeight.companion import tenant_secret
from emulator.vendors.eightbyeight.config import (
    AgentBehaviour,
    EightByEightConfig,
    QueueConfig,
    ScheduleConfig,
    TenantConfig,
)
from emulator.vendors.eightbyeight.constants import API_PREFIX, NOTIFICATION_VERSION, SLUG
from emulator.vendors.eightbyeight.errors import EightByEightError, problem_body
from emulator.vendors.eightbyeight.events import v1_payloads

DOMAIN_EVENTS = (
    "conversation.created",
    "conversation.active",
    "conversation.queued",
    "conversation.updated",
    "conversation.transferred",
    "conversation.idle",
    "conversation.post_agent",
    "member.joined",
    "member.left",
    "message.created",
    "activity",
    "client.activity",
)
WEBHOOK_EVENTS = ("CONVERSATION_UPDATE", "QUEUED", "MEMBERS_CHANGED", "MESSAGE", "ACTIVITY", "TRANSFER")


# -- setup ------------------------------------------------------------------------------------------------


class ChannelSetup(Strict):
    """A ChatAPI channel besides the default one (channel `1`)."""

    id: str | None = Field(None, description="channel id (the next number when omitted)")
    name: str = Field(description="channel name")
    queue: str = Field(description="queue id conversations of this channel go to")
    webhook: str | None = Field(None, description="webhook uri of this channel (default: the default webhook)")


class EightByEightSetup(Strict):
    """The tenant's 8x8 world. The tenant is reset and built from this, as a configured tenant would be."""

    tenant_id: str | None = Field(None, description="8x8 tenant id in webhook headers (default: the tenant name)")
    customer_id: str | None = Field(None, description="8x8 customer id (seeded when omitted)")
    queues: list[QueueConfig] | None = Field(
        None, description="queues and their agents (`{id, name, agents: [{id, name, capacity}]}`); default: "
        "100 Support (two agents) and 101 Sales (one agent)"
    )  # fmt: skip
    behaviour: AgentBehaviour = Field(
        default_factory=AgentBehaviour,
        description="simulated agents (`auto: false` leaves the agents to the actors); also `queue_timeout`",
    )
    webhook: str = Field("{{webhook_url}}", description="uri of the default webhook `1` (that channel `1` posts to)")
    webhook_version: Literal["Chat Gateway v1.0", "v2.0"] = Field(
        NOTIFICATION_VERSION, description="`v2.0` selects the legacy event profile"
    )
    channels: list[ChannelSetup] = Field(default_factory=list, description="more channels")
    schedules: list[ScheduleConfig] | None = Field(
        None, description="tenant schedules (`{name, time_zone, week_days, exceptions}`); a queue names one in "
        "`schedule` and sets `out_of_hours`"
    )  # fmt: skip


async def apply_setup(ctx: ScenarioContext, setup: Any) -> dict[str, Any]:
    assert isinstance(setup, EightByEightSetup)
    uris = [setup.webhook, *(c.webhook for c in setup.channels if c.webhook)]
    for uri in uris:
        if check_http_url(uri) is not None:
            raise ScenarioError(f"webhook: {uri!r} is not an http(s) URL")
    cfg = TenantConfig(
        tenant_id=setup.tenant_id,
        customer_id=setup.customer_id,
        queues=setup.queues,
        webhook_uri=setup.webhook,
        behaviour=setup.behaviour,
        schedules=setup.schedules,
    )
    async with ctx.emu.store.of(SLUG, st.EightByEightState).tenant(ctx.tenant) as tx:
        tx.ids.counters.clear()  # ids as a configured tenant gets them: channel 1, webhook 1, ...
        fresh = st.new_state(ctx.tenant, tx.ids, cfg, setup.behaviour, None, True)
        state = tx.state
        for name in type(fresh).model_fields:
            setattr(state, name, getattr(fresh, name))
        ctx.emu.store.mark_provisioned(SLUG, ctx.tenant)  # strict auth takes the scenario's key
        for hook in state.webhooks.values():
            hook.version = setup.webhook_version
        for ch in setup.channels:
            if ch.queue not in state.queues:
                raise ScenarioError(f"channels: {ch.name}: no queue {ch.queue!r} in setup.queues")
            hook_id = next(iter(state.webhooks), None)
            if ch.webhook:
                hook_id = chan.create_webhook(tx, f"{ch.name} hook", ch.webhook, setup.webhook_version).id
            if hook_id is None:
                raise ScenarioError("channels: there is no webhook (setup.queues is empty)")
            channel = chan.create_channel(tx, ch.name, "ChatAPI", hook_id, ch.queue)
            if ch.id is not None and ch.id != channel.id:
                del state.channels[channel.id]
                channel.id = ch.id
                state.channels[ch.id] = channel
        first_channel = next(iter(state.channels.values()), None)
        return {
            "api": API_PREFIX,
            "api_key": ctx.tenant,
            "tenant_id": state.tenant_id,
            "customer_id": state.customer_id,
            "channel_id": first_channel.id if first_channel else None,
            "webhook_id": first_channel.webHookId if first_channel else None,
            "queue_id": next(iter(state.queues), None),
            "client_auth": _basic(ctx.tenant, tenant_secret(ctx.emu, ctx.tenant, "client_secret")),
            "schedule_auth": _basic(ctx.tenant, tenant_secret(ctx.emu, ctx.tenant, "schedule_token")),
        }


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def export_setup(emu: Emulator, tenant: str) -> dict[str, Any]:
    """Save as scenario: a configured tenant's world as its config makes it (ids, queues, agents, behaviour); an
    open-auth tenant is the setup's default."""
    config: EightByEightConfig = emu.vendor_config(SLUG)
    own = config.tenants.get(tenant)
    behaviour = own.behaviour if own is not None and own.behaviour is not None else config.behaviour
    out: dict[str, Any] = {}
    if own is not None:
        fields = {
            "tenant_id": own.tenant_id,
            "customer_id": own.customer_id,
            "queues": own.queues,
            "schedules": own.schedules,
        }
        dumped = EightByEightSetup.model_validate(fields).model_dump(mode="json", exclude_none=True)
        out = {k: v for k, v in dumped.items() if k in fields}
    if behaviour != AgentBehaviour():
        out["behaviour"] = behaviour.model_dump(mode="json")
    return {k: v for k, v in out.items() if v is not None}


def request_headers(ctx: ScenarioContext) -> dict[str, str]:
    return {"x-api-key": str(ctx.variables.get("api_key", ctx.tenant))}


# -- actions ----------------------------------------------------------------------------------------------

_CONVERSATION = Field(None, description="conversation id (default: the conversation of the triggering event)")


class AgentAction(ActionBase):
    """An agent acts in 8x8's agent console: `{agent: say, text: ...}`."""

    agent: hands.AgentVerb = Field(
        description="join (a free agent of the queue, or `agent_id`), typing, stop_typing, say, transfer, leave"
    )
    text: str | None = Field(None, description="say: the message; `{user}` and `{agent}` are first names")
    queue: str | None = Field(None, description="transfer: the target queue id")
    agent_id: str | None = Field(None, description="join: which agent (default: the least busy free one)")
    conversation: str | None = _CONVERSATION

    @model_validator(mode="after")
    def _needs(self) -> AgentAction:
        if self.agent == "say" and not self.text:
            raise ValueError("agent say needs `text`")
        if self.agent == "transfer" and not self.queue:
            raise ValueError("agent transfer needs `queue`")
        return self


class CustomerAction(ActionBase):
    """The customer (through the integration's chat) sends a message or leaves: `{customer: say, text: ...}`."""

    customer: hands.CustomerVerb = Field(description="say (a user message, as POST .../messages), leave")
    text: str | None = Field(None, description="say: the message")
    conversation: str | None = _CONVERSATION

    @model_validator(mode="after")
    def _needs(self) -> CustomerAction:
        if self.customer == "say" and not self.text:
            raise ValueError("customer say needs `text`")
        return self


async def perform(ctx: ScenarioContext, action: Any, subject: str | None) -> None:
    conv_id = action.conversation or subject
    if not conv_id:
        raise ScenarioError(f"{action.describe()}: which conversation? (set `conversation:` in a step)")
    try:
        async with ctx.emu.store.of(SLUG, st.EightByEightState).tenant(ctx.tenant, create=False) as tx:
            conv = st.get_conversation(tx.state, str(conv_id))
            if isinstance(action, AgentAction):
                _agent(tx, conv, action)
            elif isinstance(action, CustomerAction):
                _customer(ctx, tx, conv, action)
            else:
                raise ScenarioError(f"8x8 has no action {type(action).__name__}")
    except EmulatorError as exc:
        raise ScenarioError(f"{action.describe()} on conversation {conv_id}: {_reason(exc)}") from None


def _reason(exc: EmulatorError) -> str:
    """The human text of an 8x8 error: 8x8 puts "Internal error." on top and the reason in `errors`."""
    if isinstance(exc, EightByEightError):
        body = problem_body(exc)
        found: list[str] = []
        for item in _as_list(body.get("errors")):
            if isinstance(item, dict) and item.get("message"):
                found.append(str(item["message"]))
            elif isinstance(item, str):
                found.append(item)
        if found:
            return "; ".join(found)
    return exc.message


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else ([value] if value is not None else [])


def _agent(tx: Any, conv: st.Conversation, action: AgentAction) -> None:
    text = action.text
    if action.agent == "say" and text is not None:
        text = fill(text, conv, tx.state.agents.get(conv.agent_id) if conv.agent_id else None)
    hands.agent_act(tx, conv, action.agent, agent_id=action.agent_id, text=text, queue_id=action.queue)


def _customer(ctx: ScenarioContext, tx: Any, conv: st.Conversation, action: CustomerAction) -> None:
    echo = bool(ctx.emu.vendor_config(SLUG).echo_messages)
    hands.customer_act(tx, conv, action.customer, text=action.text, echo=echo)


# -- events -----------------------------------------------------------------------------------------------


def event_views(event: DomainEvent) -> list[tuple[str, dict[str, Any]]]:
    """The Chat Gateway v1 webhook bodies of a domain event (what a receiver would get)."""
    return list(v1_payloads(event))


HOOKS = ScenarioHooks(
    setup_model=EightByEightSetup,
    apply_setup=apply_setup,
    actions={"agent": AgentAction, "customer": CustomerAction},
    perform=perform,
    event_names=(*WEBHOOK_EVENTS, *DOMAIN_EVENTS),
    event_views=event_views,
    request_headers=request_headers,
    export_setup=export_setup,
    variables_doc={
        "api": f"the API base path, `{API_PREFIX}`",
        "api_key": "the tenant's `x-api-key` (sent by every `request` step unless it sets its own)",
        "tenant_id": "8x8 tenant id (the `x-8x8-tenant-id` webhook header)",
        "customer_id": "8x8 customer id (the `x-8x8-customer-id` webhook header)",
        "channel_id": "the first channel (`1`), which posts to the default webhook",
        "webhook_id": "the default webhook's id (`1`)",
        "queue_id": "the first queue's id",
        "client_auth": "`Authorization` (Basic) for `POST /oauth/v2/token`: the tenant's client id and secret",
        "schedule_auth": "`Authorization` value (Basic) for the Tenant Schedule API (tenant name and token)",
    },
    events_doc=(
        "`when.event` is a webhook event type (the Chat Gateway v1 body a receiver gets: "
        f"{', '.join(WEBHOOK_EVENTS)}) or a domain event kind (`{{kind, subject, data}}`: "
        f"{', '.join(DOMAIN_EVENTS)}). `message.created` also sees messages that are not echoed as MESSAGE."
    ),
)
