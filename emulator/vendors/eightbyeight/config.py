"""The `vendors.eightbyeight` section of the config file: tenants, their world, and agent behaviour.

Every field has a default, so with no configuration a new tenant is a small staffed contact center:
two queues with simulated agents, a webhook and a channel (see `default_world`). Values marked [inf]
in `../shared/vendors/eightbyeight.md` are defaults here, listed in the README's Fidelity notes.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from emulator.core.plugin import BehaviourSpec


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AgentConfig(_Config):
    id: str | None = Field(None, description="agent id (seeded when omitted)")
    name: str | None = Field(None, description="display name (a seeded fake name when omitted)")
    capacity: int = Field(3, ge=1, le=100, description="conversations handled at once")


class QueueConfig(_Config):
    id: str
    name: str
    agents: list[AgentConfig] = Field(default_factory=list)


class ReplyRule(_Config):
    """When a customer message matches `match` (a regular expression, case-insensitive), the agent says
    `reply`, or transfers to `transfer_to`, or leaves when `leave` is set."""

    match: str
    reply: str | None = None
    transfer_to: str | None = Field(None, description="queue id to transfer to")
    leave: bool = False


class AgentBehaviour(_Config):
    """How simulated agents act. Delays are seconds on the emulator clock."""

    auto: bool = Field(True, description="agents pick up queued conversations by themselves")
    interaction_delay: float = Field(0.2, ge=0, description="create -> active + QUEUED [inf]")
    join_delay: float = Field(3.0, ge=0, description="queued -> an agent joins")
    greeting: str | None = Field(
        "Hi {user}, this is {agent}. How can I help you today?", description="first message ({user}, {agent})"
    )
    typing_seconds: float = Field(1.5, ge=0, description="typing indicator shown before each agent message")
    reply_delay: float = Field(2.0, ge=0, description="customer message -> the agent starts typing")
    rules: list[ReplyRule] = Field(
        default_factory=lambda: [
            ReplyRule(match=r"\bbalance\b", reply="Your balance is 12.34. Anything else I can help with?"),
            ReplyRule(match=r"\b(bye|goodbye|that's all|thanks, bye)\b", reply="Thanks for chatting. Goodbye!"),
        ]
    )
    default_reply: str | None = Field(
        "Thanks, let me look into that for you.", description="reply when no rule matches"
    )
    leave_after_idle: float | None = Field(
        300.0, ge=1, description="the agent ends the interaction after this long without a customer message"
    )
    queue_timeout: float | None = Field(
        None,
        ge=1,
        description="a conversation still waiting in a queue this long after QUEUED (no agent joined) ends: "
        "CONVERSATION_UPDATE(idle) [inf]; none by default",
    )


class TenantConfig(_Config):
    api_keys: list[str] = Field(default_factory=list, description="x-api-key values of this tenant")
    tenant_id: str | None = Field(None, description="8x8 tenant id (X-8x8-Tenant); the tenant name when omitted")
    customer_id: str | None = Field(None, description="8x8 customer id (seeded when omitted)")
    queues: list[QueueConfig] | None = Field(None, description="replaces the default queues")
    webhook_uri: str | None = Field(None, description="uri of the default webhook")
    behaviour: AgentBehaviour | None = None


class EightByEightConfig(_Config):
    tenants: dict[str, TenantConfig] = Field(default_factory=dict)
    behaviour: AgentBehaviour = Field(default_factory=AgentBehaviour, description="default for every tenant")
    echo_messages: bool = Field(True, description="echo API-posted messages as MESSAGE with isEcho true [inf]")
    default_webhook: bool = Field(True, description="new tenants get a webhook and a channel [inf]")
    signing: bool = Field(True, description="sign webhooks with x-8x8-signature")
    strict_user_fields: bool = Field(
        True,
        description="check user.email (OAS format email) and user.language (OAS Language codes) of conversation "
        "create/PUT/PATCH: a bad value is 8x8's 400 [inf]",
    )


DEFAULT_QUEUES = [
    QueueConfig(id="100", name="Support", agents=[AgentConfig(), AgentConfig()]),
    QueueConfig(id="101", name="Sales", agents=[AgentConfig()]),
]
DEFAULT_WEBHOOK_URI = "http://127.0.0.1:8081/webhook"

BEHAVIOUR = BehaviourSpec(AgentBehaviour)
"""A tenant's `behaviour` (`PUT /_emulator/vendors/eightbyeight/tenants/{tenant}/behaviour`, the scenario step)."""
