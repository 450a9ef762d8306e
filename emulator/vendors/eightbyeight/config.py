"""The `vendors.eightbyeight` section of the config file: tenants, their world, and agent behaviour.

Every field has a default, so with no configuration a new tenant is a small staffed contact center:
two queues with simulated agents, a webhook and a channel (see `default_world`). Values marked [inf]
in `../shared/vendors/eightbyeight.md` are defaults here, listed in the README's Fidelity notes.
"""

from __future__ import annotations

import re
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from emulator.core.plugin import BehaviourSpec


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AgentConfig(_Config):
    id: str | None = Field(None, description="agent id (seeded when omitted)")
    name: str | None = Field(None, description="display name (a seeded fake name when omitted)")
    capacity: int = Field(3, ge=1, le=100, description="conversations handled at once")


OutOfHours = Literal["queue", "reject", "treatment"]


class QueueConfig(_Config):
    id: str
    name: str
    agents: list[AgentConfig] = Field(default_factory=list)
    schedule: str | None = Field(
        None, description="name of the tenant schedule giving the queue's open hours (none: always open)"
    )
    out_of_hours: OutOfHours = Field(
        "queue",
        description="outside open hours: `queue` (conversations wait for opening), `reject` (the interaction ends "
        "idle at once) or `treatment` (transferred to `treatment_queue`) [inf]",
    )
    treatment_queue: str | None = Field(None, description="`treatment`: the queue out-of-hours conversations go to")

    @model_validator(mode="after")
    def _treatment(self) -> QueueConfig:
        if self.out_of_hours == "treatment" and not self.treatment_queue:
            raise ValueError("out_of_hours: treatment needs `treatment_queue`")
        return self


_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


class Hours(_Config):
    """One day's hours in a tenant schedule (8x8 Tenant Schedule API `properties`): `status` -1 closed all
    day, 0 open from `start_time` to `end_time`, 1 open all day [inf]."""

    status: Literal[-1, 0, 1] = 0
    start_time: str = Field("09:00", description="HH:MM, local to the schedule's time zone")
    end_time: str = Field("17:00", description="HH:MM (exclusive); an end before the start runs past midnight")

    @field_validator("start_time", "end_time")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError("must be HH:MM (00:00-23:59)")
        return value


class WeekDayConfig(Hours):
    day: int = Field(ge=0, le=6, description="0 Sunday ... 6 Saturday [inf]")


class ScheduleException(Hours):
    """A date whose hours replace its week day's (a holiday: `status: -1`)."""

    date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="YYYY-MM-DD in the schedule's time zone")
    status: Literal[-1, 0, 1] = -1


class ScheduleConfig(_Config):
    """A tenant schedule (8x8 Contact Center Tenant Schedule API): week days, hours, time zone, exceptions.
    A week day that is not listed is closed."""

    name: str = Field(min_length=1, max_length=255)
    id: int | None = Field(None, ge=1, description="schedule id (the next number when omitted)")
    time_zone: str = Field("UTC", description="an IANA time zone, e.g. America/Los_Angeles or PST8PDT")
    week_days: list[WeekDayConfig] = Field(
        default_factory=lambda: [WeekDayConfig(day=d) for d in range(1, 6)],
        description="default: Monday to Friday 09:00-17:00",
    )
    exceptions: list[ScheduleException] = Field(default_factory=list)

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


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
    client_secret: str | None = Field(
        None, description="OAuth client secret of the tenant's client ids (its API keys); derived when omitted"
    )
    schedule_token: str | None = Field(
        None, description="Tenant Schedule API token (Basic auth password); derived when omitted"
    )
    schedules: list[ScheduleConfig] | None = Field(None, description="tenant schedules (default: none)")


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
