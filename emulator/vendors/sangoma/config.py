"""The `vendors.sangoma` section of the config file: OAuth clients, tenants and their world, behaviour.

Every field has a default, so with no configuration a new tenant is a small staffed contact center: a
logged-in agent `agent.test` plus two seeded agents, the queue `queue_test`, a web-widget inbox and an API
inbox. Values marked [inf] in `../shared/vendors/sangoma.md` are defaults here, listed in the README's
Fidelity notes.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from emulator.core.plugin import BehaviourSpec
from emulator.vendors.sangoma.constants import SCOPES


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AgentConfig(_Config):
    """A CX agent: an extension that can place calls, and a user of the Digital Interactions inbox."""

    name: str | None = Field(None, description="CX agent name, e.g. `agent.test` (seeded when omitted)")
    display_name: str | None = Field(None, description="full name shown in chats (a seeded fake name when omitted)")
    email: str | None = Field(None, description="the agent's email (derived from the name when omitted)")
    logged_in: bool = Field(True, description="logged into CX: only logged-in agents place calls or take chats")


class QueueConfig(_Config):
    name: str
    agents: list[str] = Field(default_factory=list, description="names of the agents serving the queue")


class InboxConfig(_Config):
    name: str
    channel_type: Literal["Channel::WebWidget", "Channel::Api"] = "Channel::WebWidget"
    website_url: str | None = Field("https://www.example.com", description="web widget: the site's URL")
    webhook_url: str | None = Field(None, description="API inbox: its webhook URL (gets every event, unfiltered)")
    secret: str | None = Field(None, description="API inbox: its webhook signing secret (seeded when omitted)")
    enable_auto_assignment: bool = Field(True, description="hand-offs are assigned to a free agent")


class CalleeBehaviour(_Config):
    """What the person at a dialled number does. Seconds are on the emulator clock [inf]."""

    outcome: Literal["answer", "busy", "no-answer"] = "answer"
    ring_after: float = Field(1.0, ge=0, description="dialing -> ringing")
    answer_after: float = Field(3.0, ge=0, description="ringing -> answered (outcome `answer`)")
    ring_timeout: float = Field(30.0, ge=1, description="ringing -> no-answer (outcome `no-answer`)")
    busy_after: float = Field(1.0, ge=0, description="ringing -> busy (outcome `busy`)")
    talk_seconds: float | None = Field(60.0, ge=1, description="connected -> completed (None: until hung up)")


class ReplyRule(_Config):
    """A simulated agent's (or customer's) answer: when a message matches `match` (regex, case-insensitive)
    it says `reply`; an agent may also `resolve` the conversation."""

    match: str
    reply: str | None = None
    resolve: bool = False

    @field_validator("match")
    @classmethod
    def _compiles(cls, value: str) -> str:
        """A bad pattern is refused here, not when a customer's message meets it."""
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value


class AgentBehaviour(_Config):
    """How simulated agents act on chats and queue calls. Delays are seconds on the emulator clock [inf]."""

    auto: bool = Field(True, description="simulated agents take hand-offs and queue calls by themselves")
    assign_delay: float = Field(2.0, ge=0, description="deliver-to-agent (pending -> open) -> an agent is assigned")
    greeting: str | None = Field(
        "Hi {customer}, this is {agent}. How can I help you?", description="the agent's first message"
    )
    greet_delay: float = Field(2.0, ge=0, description="assigned -> greeting")
    typing_seconds: float = Field(1.0, ge=0, description="typing_on shown this long before each agent message")
    reply_delay: float = Field(3.0, ge=0, description="customer message -> the agent starts typing")
    rules: list[ReplyRule] = Field(
        default_factory=lambda: [
            ReplyRule(match=r"\b(bye|goodbye|that's all)\b", reply="Thanks for chatting. Goodbye!", resolve=True),
        ]
    )
    default_reply: str | None = Field("Let me check that for you.", description="reply when no rule matches")
    queue_answer_delay: float = Field(5.0, ge=0, description="queue call in-queue -> a free agent answers")


class CustomerBehaviour(_Config):
    """How simulated web-widget customers answer outgoing (bot or agent) messages; no rules = they wait."""

    reply_delay: float = Field(2.0, ge=0)
    rules: list[ReplyRule] = Field(default_factory=list)


class TenantConfig(_Config):
    client_id: str | None = Field(None, description="OAuth client id (default: the tenant name)")
    client_secret: str | None = Field(None, description="OAuth client secret (seeded when omitted)")
    scopes: list[str] = Field(default_factory=lambda: list(SCOPES), description="scopes the client may get")
    tenant_domain: str | None = Field(None, description="default: `<tenant>.cx.sangoma.com` [inf]")
    account_id: int = Field(1, ge=1, description="the Chatwoot account id behind the tenant [inf]")
    account_name: str | None = Field(None, description="default: the tenant name")
    agents: list[AgentConfig] | None = Field(None, description="replaces the default agents")
    queues: list[QueueConfig] | None = Field(None, description="replaces the default queue")
    inboxes: list[InboxConfig] | None = Field(None, description="replaces the default inboxes")
    callees: dict[str, CalleeBehaviour] = Field(default_factory=dict, description="behaviour per dialled number")
    behaviour: AgentBehaviour | None = None
    customers: CustomerBehaviour | None = None


class SangomaConfig(_Config):
    tenants: dict[str, TenantConfig] = Field(default_factory=dict)
    token_lifetime: int = Field(
        31_536_000, ge=1, description="access token `expires_in` seconds (docs: about one year) [inf]"
    )
    behaviour: AgentBehaviour = Field(default_factory=AgentBehaviour, description="default for every tenant")
    customers: CustomerBehaviour = Field(default_factory=CustomerBehaviour)
    callee: CalleeBehaviour = Field(default_factory=CalleeBehaviour, description="default callee behaviour")
    initial_message_type: Literal["incoming", "outgoing"] = Field(
        "incoming", description="message_type of a conversation's `initial_message` [inf, §2.9]"
    )
    bot_status_events: bool = Field(
        False, description="also send conversation_updated/conversation_status_changed to agent bots (newer CW)"
    )
    priority_update_event: bool = Field(
        True, description="a create with `priority` fires conversation_updated(priority) right after [inf, §2.9]"
    )
    bot_failure_opens: bool = Field(
        True, description="a failed bot delivery of a message event opens its pending conversation (§2.4)"
    )
    api_inbox_failure_fails_message: bool = Field(
        True, description="a failed API-inbox delivery of a message event marks the message failed (§2.4)"
    )
    signing: bool = Field(False, description="sign webhooks with X-Chatwoot-Signature (Chatwoot v4.11+)")
    retry_ladder: list[float] = Field(
        default_factory=list, description="seconds between retries; none, as Chatwoot v4.10 (§2.4)"
    )
    webhook_timeout: float = Field(5.0, gt=0, le=120, description="Chatwoot WEBHOOK_TIMEOUT (§2.4)")
    voice_status: int = Field(200, ge=200, le=299, description="status of the voice call endpoints [inf]")
    create_status: int = Field(200, ge=200, le=299, description="status of DI create endpoints (Chatwoot: 200) [inf]")


DEFAULT_AGENTS = [AgentConfig(name="agent.test"), AgentConfig(), AgentConfig()]
DEFAULT_INBOXES = [
    InboxConfig(name="Website", channel_type="Channel::WebWidget"),
    InboxConfig(name="API", channel_type="Channel::Api", website_url=None),
]


BEHAVIOUR = BehaviourSpec(AgentBehaviour)
"""The simulated agents' knobs: the kernel serves `PUT /_emulator/vendors/sangoma/tenants/{tenant}/behaviour`."""
CUSTOMERS = BehaviourSpec(CustomerBehaviour, "customers")
"""The simulated widget customers' knobs (`PUT .../tenants/{tenant}/customer-behaviour`, in `control.py`)."""
