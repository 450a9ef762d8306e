"""The `vendors.cmcom` section of the config file: accounts, webhooks, teams, the CmBot's flows, timings.

With no configuration, a new tenant (its product token in open auth) is a Business Messaging account with a
Bot Router account: the partner bot (component `BMProxy`) and the scripted `CmBot` enabled on every new chat,
Customer Contact dormant with three teams of simulated agents, and webhooks to `settings.webhook_url`.
Values marked [inf] in `../shared/vendors/cmcom.md` are defaults here, listed in the README's Fidelity notes.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from emulator.vendors.cmcom.numbers import is_guid


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FlowStep(_Config):
    """One step of a CmBot flow: what the bot says there, and where each customer answer leads."""

    id: str
    text: str
    options: dict[str, str] = Field(
        default_factory=dict, description="customer answer (case-insensitive, exact) -> next step id of the flow"
    )
    fallback: str | None = Field(None, description="next step when no option matches (default: stay)")
    handover: dict[str, str] | None = Field(
        None, description="reaching this step hands the chat to Customer Contact with this Context"
    )


class Flow(_Config):
    id: str
    steps: list[FlowStep]


def default_flows() -> list[Flow]:
    """A small demo script [inf]: CM publishes no flows (the seed: "you need to know them upfront")."""
    return [
        Flow(
            id="main",
            steps=[
                FlowStep(
                    id="welcome",
                    text="Welcome back! Reply 1 for sales, 2 for support.",
                    options={"1": "sales", "2": "support"},
                ),
                FlowStep(id="sales", text="Connecting you to our sales team.", handover={"team": "sales"}),
                FlowStep(id="support", text="Connecting you to our support team.", handover={"team": "support"}),
            ],
        ),
        Flow(id="feedback", steps=[FlowStep(id="ask", text="How did we do? Reply with a score from 1 to 5.")]),
    ]


def _one_agent() -> list[str | None]:
    return [None]


class Team(_Config):
    """A Customer Contact team: a chat whose mutation Context has every `match` pair goes to it."""

    name: str
    match: dict[str, str] = Field(default_factory=dict, description="Context values configured on the team")
    agents: list[str | None] = Field(default_factory=_one_agent, description="agent names (null: a seeded fake name)")


def default_teams() -> list[Team]:
    return [
        Team(name="Sales", match={"team": "sales"}),
        Team(name="Support", match={"team": "support"}),
    ]


class AgentRule(_Config):
    match: str = Field(description="regular expression on the customer's text (case-insensitive)")
    reply: str | None = None
    hand_back: bool = Field(False, description="hand the chat back to the bot (enable CmBot) after replying")
    flow: str | None = Field(None, description="hand_back: position the CmBot at this flow...")
    step: str | None = Field(None, description="...and step")


class EndUserRule(_Config):
    """A simulated end user answers a message to them whose text matches `match` (case-insensitive)."""

    match: str = Field(description="regular expression on the text sent to the end user")
    reply: str
    after: float = Field(3.0, ge=0, description="seconds after the message reached them")


class Behaviour(_Config):
    """Simulated people and delivery timings; delays are seconds on the emulator clock."""

    agents_auto: bool = Field(True, description="Customer Contact agents pick up handed-over chats by themselves")
    pickup_delay: float = Field(5.0, ge=0, description="hand-over -> an agent of the team takes the chat [inf]")
    greeting: str | None = Field(
        "Hi {user}, this is {agent} from {team}. How can I help?", description="first agent message ({user}, {agent}, "
        "{team})"
    )  # fmt: skip
    reply_delay: float = Field(3.0, ge=0, description="customer message -> the agent answers")
    agent_rules: list[AgentRule] = Field(
        default_factory=lambda: [
            AgentRule(match=r"\b(thanks|thank you)\b", reply="You're welcome! I'll hand you back to our assistant.",
                      hand_back=True, flow="feedback", step="ask"),
        ]
    )  # fmt: skip
    agent_default_reply: str | None = Field("Let me check that for you.", description="reply when no rule matches")
    end_user_rules: list[EndUserRule] = Field(
        default_factory=list, description="simulated end users' automatic replies (none by default)"
    )
    bot_delay: float = Field(1.0, ge=0, description="customer message or position request -> the CmBot answers")
    accepted_after: float = Field(0.5, ge=0, description="send -> status report Accepted (by the operator) [inf]")
    sent_after: float | None = Field(
        None, ge=0, description="send -> status report Sent (None: never; CM documents no code for it, so it "
        "needs `status_codes.sent`) [inf]"
    )  # fmt: skip
    delivered_after: float = Field(2.0, ge=0, description="send -> status report Delivered [inf]")
    read_after: float | None = Field(
        5.0, ge=0, description="send -> status report Read, on channels with read receipts (None: never) [inf]"
    )


class StatusCodes(_Config):
    """`status.code` of status reports per status, and `status.errorCode` of a Failed one. CM's numeric codes
    are not in the retrieved documentation; these follow CM's common convention [inf]. Status "Sent" is one
    of the statuses CM shows users but has no known code: set `sent` (and `behaviour.sent_after`) to report it."""

    accepted: str = "0"
    delivered: str = "2"
    failed: str = "3"
    read: str = "4"
    sent: str | None = None
    failed_error_code: str = Field("5", description="`status.errorCode` of a Failed report [inf]")


class TenantConfig(_Config):
    product_tokens: list[str] = Field(
        default_factory=list, description="product tokens of this account: GUIDs, as CM issues them (default: one "
        "derived from the tenant's name, see `credentials`)"
    )  # fmt: skip
    bot_router_account_id: str | None = Field(None, description="BotRouterAccountId (a seeded GUID when omitted)")
    business_number: str | None = Field(None, description="the business' number (host) on every channel")
    channels: list[str] | None = Field(None, description="channels configured on the account (default: all)")
    bot_webhook: str | None = Field(None, description="the partner bot's MO webhook (default: settings.webhook_url)")
    status_webhook: str | None = Field(None, description="status report URL (default: settings.webhook_url)")
    customer_contact_webhook: str | None = Field(
        None, description="where Customer Contact's copies are also posted (default: nowhere; it is simulated)"
    )
    notification_webhook: str | None = Field(None, description="mutation notifications (default: the bot webhook)")
    mo_webhook: str | None = Field(None, description="plain Business Messaging MO webhook when `router` is off")
    router: bool = Field(True, description="MO go through the Bot Router (False: plain MO to `mo_webhook`)")
    teams: list[Team] | None = Field(None, description="Customer Contact teams (default: Sales, Support)")
    flows: list[Flow] | None = Field(None, description="CmBot flows (default: the demo flows)")
    behaviour: Behaviour | None = None
    insufficient_balance: bool = Field(False, description="every send is refused with errorCode 102")
    blacklist: list[str] = Field(default_factory=list, description="recipients refused with 402 (any format)")
    spam_patterns: list[str] = Field(default_factory=list, description="bodies matching one are refused with 401")
    unreachable: list[str] = Field(default_factory=list, description="recipients whose messages end Failed")

    @field_validator("product_tokens")
    @classmethod
    def _guids(cls, tokens: list[str]) -> list[str]:
        for token in tokens:
            if not is_guid(token):
                raise ValueError(NOT_A_GUID_TOKEN.format(token=token))
        return tokens


class CmComConfig(_Config):
    tenants: dict[str, TenantConfig] = Field(default_factory=dict)
    behaviour: Behaviour = Field(default_factory=Behaviour, description="default for every tenant")
    business_number: str = Field("+3197010254321", description="default host number of new accounts [inf]")
    partner_component: str = Field("BMProxy", description="ComponentId of the partner bot (cmcom.md §3.3) [inf]")
    default_components: list[str] | None = Field(
        None,
        description="components enabled on a new chat and after a reset (default: CmBot, CustomerContact and the "
        "partner bot); Customer Contact is dormant while CmBot is enabled [inf]",
    )
    chat_id: Literal["md5-guid", "uuid5"] = Field(
        "md5-guid", description="ChatId algorithm: MD5 of channel|client|host as a .NET Guid, or uuid5 [inf]"
    )
    retry_interval: float = Field(300.0, gt=0, description="seconds between webhook attempts (CM: 5 minutes)")
    retry_for: float = Field(
        30 * 86400.0, ge=0, description="seconds CM keeps retrying an MO webhook (CM: one month), and the router's "
        "webhooks and notifications (the same [inf])"
    )  # fmt: skip
    status_retry_for: float = Field(
        7 * 86400.0, ge=0, description="seconds CM keeps retrying a status report (CM: at most 7 days)"
    )
    status_codes: StatusCodes = Field(default_factory=StatusCodes, description="status report codes [inf]")
    control_success_status: Literal[200, 202, 204] = Field(
        204, description="status of an accepted mutation/position/reset request (undocumented) [inf]"
    )
    control_requires_token: bool | None = Field(
        None, description="router control calls need X-CM-PRODUCTTOKEN (None: in strict auth only; without it the "
        "account's owner is the tenant, as the seed prints the calls) [inf]"
    )  # fmt: skip
    operator: str = Field("20416", description="`operator` of status reports [inf]")

    @model_validator(mode="after")
    def _known_components(self) -> CmComConfig:
        known = {"CmBot", "CustomerContact", self.partner_component}
        unknown = sorted(set(self.default_components or ()) - known)
        if unknown:
            raise ValueError(f"default_components: unknown component {unknown[0]!r}; known: {sorted(known)}")
        behaviours = [self.behaviour, *(t.behaviour for t in self.tenants.values() if t.behaviour is not None)]
        if self.status_codes.sent is None and any(b.sent_after is not None for b in behaviours):
            raise ValueError(SENT_NEEDS_CODE)
        return self


NOT_A_GUID_TOKEN = (
    "product token {token!r} is not a GUID; CM issues product tokens as GUIDs "
    "(e.g. 5a1c7b7e-2b2f-4a55-9c1d-1b2c3d4e5f60) and refuses any other with errorCode 103"
)
SENT_NEEDS_CODE = "behaviour.sent_after needs status_codes.sent: CM documents no numeric code for status Sent"
