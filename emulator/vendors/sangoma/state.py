"""Sangoma CX state per tenant: OAuth tokens, agents and queues (voice), and the Chatwoot account behind
Digital Interactions (inboxes, agent bots, webhooks, contacts, conversations). Transitions live in
`di.py` (Digital Interactions) and `voice.py` (calls); Chatwoot JSON in `views.py`.

Ids follow Chatwoot's split (sangoma.md §2.5, §5 trap 6): a conversation has a database id and a per-account
display id, and the display id is the one used in API bodies and webhooks' `id`. Database ids start at
offsets so the two never coincide by accident.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from emulator.core.ids import TenantIds, fmt_alnum, fmt_sequence, fmt_uuid
from emulator.core.retention import Ended, Limits, Retained
from emulator.core.runtime import Emulator
from emulator.core.store import Tx
from emulator.vendors.sangoma.config import (
    DEFAULT_AGENTS,
    DEFAULT_INBOXES,
    AgentBehaviour,
    CalleeBehaviour,
    CustomerBehaviour,
    QueueConfig,
    SangomaConfig,
    TenantConfig,
)
from emulator.vendors.sangoma.constants import (
    DEFAULT_DOMAIN_SUFFIX,
    FINAL_CALL_STATES,
    SCOPES,
    SLUG,
    CallState,
    ConversationStatus,
)

# -- id formats -------------------------------------------------------------------------------------------------
USER_ID = fmt_sequence(1)
INBOX_ID = fmt_sequence(1)
CHANNEL_ID = fmt_sequence(1)
AGENT_BOT_ID = fmt_sequence(1)
WEBHOOK_ID = fmt_sequence(1)
CONTACT_ID = fmt_sequence(50)
CONTACT_INBOX_ID = fmt_sequence(60)
CONVERSATION_DB_ID = fmt_sequence(13_000)
DISPLAY_ID = fmt_sequence(1)
MESSAGE_ID = fmt_sequence(900)
SOURCE_ID = fmt_uuid
UUID = fmt_uuid
SECRET = fmt_alnum(24)
TOKEN = fmt_alnum(40)
CALL_ID = fmt_uuid
EVENT_ID = fmt_uuid


# -- entities ---------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Token:
    scopes: list[str]
    expires_at: float
    client_id: str


@dataclass(slots=True)
class Agent:
    id: int
    name: str
    display_name: str
    email: str
    logged_in: bool = True
    chats: list[int] = field(default_factory=list)
    call: str | None = None


@dataclass(slots=True)
class Queue:
    name: str
    agents: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Inbox:
    id: int
    name: str
    channel_id: int
    channel_type: str
    website_url: str | None
    webhook_url: str | None
    enable_auto_assignment: bool
    created_at: float
    agent_bot_id: int | None = None
    secret: str = ""
    """An API inbox's webhook signing key (Chatwoot v4.13+ signs API-channel webhooks, §2.4)."""


@dataclass(slots=True)
class AgentBot:
    id: int
    name: str
    description: str
    outgoing_url: str
    access_token: str
    secret: str


@dataclass(slots=True)
class Webhook:
    id: int
    url: str
    subscriptions: list[str]
    secret: str
    name: str | None = None


@dataclass(slots=True)
class Contact:
    id: int
    name: str
    email: str | None
    phone_number: str | None
    identifier: str | None
    created_at: float
    last_activity_at: float | None = None


@dataclass(slots=True)
class ContactInbox:
    id: int
    contact_id: int
    inbox_id: int
    source_id: str
    pubsub_token: str
    created_at: float


@dataclass(slots=True)
class Message:
    id: int
    content: str
    message_type: str
    created_at: float
    sender_type: str | None
    sender_id: int | None
    private: bool = False
    status: str = "sent"
    content_type: str = "text"
    external_error: str | None = None
    """Why delivering it failed (Chatwoot keeps it in `content_attributes`)."""


@dataclass(slots=True)
class Conversation:
    id: int
    """The database id (in `contact_inbox`, never in paths)."""
    display_id: int
    uuid: str
    inbox_id: int
    contact_id: int
    contact_inbox_id: int
    created_at: float
    updated_at: float
    last_activity_at: float
    status: ConversationStatus = ConversationStatus.OPEN
    priority: str | None = None
    assignee_id: int | None = None
    waiting_since: float | None = None
    first_reply_created_at: float | None = None
    unread_count: int = 0
    widget: bool = False
    """Driven by a simulated web-widget customer (scripted or by hand)."""
    customer_idle: bool = False
    referer: str | None = None
    messages: list[Message] = field(default_factory=list)


@dataclass(slots=True)
class Call:
    id: str
    kind: str
    """`agent` (POST /agents/call/) or `queue` (POST /queues/call/)."""
    destination: str
    created_at: float
    state: CallState = CallState.DIALING
    agent: str | None = None
    queue: str | None = None
    updated_at: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)


class SangomaState(BaseModel):
    """One tenant's whole Sangoma CX world."""

    tenant: str
    tenant_domain: str
    tenant_domain_open: bool = False
    """Open auth, a client nobody configured or provisioned: the first `tenant_domain` it presents becomes
    `tenant_domain` (`auth.Gate.check_domain`); fixed from then on."""
    client_id: str
    client_secret: str | None = None
    allowed_scopes: list[str] = Field(default_factory=lambda: list(SCOPES))
    account_id: int = 1
    account_name: str = ""
    bot_status_events: bool = False
    behaviour: AgentBehaviour = Field(default_factory=AgentBehaviour)
    customers: CustomerBehaviour = Field(default_factory=CustomerBehaviour)
    callee: CalleeBehaviour = Field(default_factory=CalleeBehaviour)
    callees: dict[str, CalleeBehaviour] = Field(default_factory=dict)
    tokens: dict[str, Token] = Field(default_factory=dict)
    agents: dict[int, Agent] = Field(default_factory=dict)
    queues: dict[str, Queue] = Field(default_factory=dict)
    inboxes: dict[int, Inbox] = Field(default_factory=dict)
    agent_bots: dict[int, AgentBot] = Field(default_factory=dict)
    webhooks: dict[int, Webhook] = Field(default_factory=dict)
    contacts: dict[int, Contact] = Field(default_factory=dict)
    contact_inboxes: dict[int, ContactInbox] = Field(default_factory=dict)
    conversations: dict[int, Conversation] = Field(default_factory=dict)
    """By display id."""
    calls: dict[str, Call] = Field(default_factory=dict)


S = Tx[SangomaState]


# -- building a tenant ------------------------------------------------------------------------------------------


def default_domain(tenant: str) -> str:
    """[inf] A tenant (named after its OAuth client id) owns `<tenant>.cx.sangoma.com`; a client id that is a
    domain already (has a dot) is its own tenant domain."""
    return tenant if "." in tenant else f"{tenant}{DEFAULT_DOMAIN_SUFFIX}"


def _email_for(name: str, domain: str) -> str:
    local = "".join(ch for ch in name.lower().replace(" ", ".") if ch.isalnum() or ch in "._-") or "agent"
    return f"{local}@{domain}"


def new_state(tenant: str, ids: TenantIds, cfg: TenantConfig | None, vendor: SangomaConfig, now: float) -> SangomaState:
    """A tenant's initial world: configured or default agents, queue and inboxes."""
    cfg = cfg or TenantConfig()
    domain = cfg.tenant_domain or default_domain(tenant)
    state = SangomaState(
        tenant=tenant,
        tenant_domain=domain,
        client_id=cfg.client_id or tenant,
        client_secret=cfg.client_secret,
        allowed_scopes=list(cfg.scopes),
        account_id=cfg.account_id,
        account_name=cfg.account_name or tenant,
        behaviour=cfg.behaviour or vendor.behaviour,
        customers=cfg.customers or vendor.customers,
        callee=vendor.callee,
        callees=dict(cfg.callees),
        bot_status_events=vendor.bot_status_events,
    )
    for a in cfg.agents if cfg.agents is not None else DEFAULT_AGENTS:
        display = a.display_name or ids.fake("agent").name()
        name = a.name or display.lower().replace(" ", ".")
        agent = Agent(
            id=int(ids.new("user", USER_ID)),
            name=name,
            display_name=display,
            email=a.email or _email_for(display, domain),
            logged_in=a.logged_in,
        )
        state.agents[agent.id] = agent
    queues = (
        cfg.queues
        if cfg.queues is not None
        else [QueueConfig(name="queue_test", agents=[a.name for a in state.agents.values()])]
    )
    for q in queues:
        state.queues[q.name] = Queue(name=q.name, agents=list(q.agents))
    for ib in cfg.inboxes if cfg.inboxes is not None else DEFAULT_INBOXES:
        api = ib.channel_type == "Channel::Api"
        inbox = Inbox(
            id=int(ids.new("inbox", INBOX_ID)),
            name=ib.name,
            channel_id=int(ids.new(f"channel:{ib.channel_type}", CHANNEL_ID)),
            channel_type=ib.channel_type,
            website_url=ib.website_url if ib.channel_type == "Channel::WebWidget" else None,
            webhook_url=ib.webhook_url if api else None,
            enable_auto_assignment=ib.enable_auto_assignment,
            created_at=now,
            secret=(ib.secret or ids.new("inbox_secret", SECRET)) if api else "",
        )
        state.inboxes[inbox.id] = inbox
    return state


def tenant_state(emu: Emulator, tenant: str, ids: TenantIds) -> SangomaState:
    """The store's constructor: a configured tenant as configured, any other with the defaults; in `open` auth
    an unconfigured tenant's domain is open until its first request names one."""
    cfg: SangomaConfig = emu.vendor_config(SLUG)
    fresh = new_state(tenant, ids, cfg.tenants.get(tenant), cfg, emu.scheduler.now(tenant))
    fresh.tenant_domain_open = emu.settings.auth == "open" and tenant not in cfg.tenants
    return fresh


def agent_by_name(state: SangomaState, name: str) -> Agent | None:
    return next((a for a in state.agents.values() if a.name == name), None)


def encode_tenant(tenant: str) -> str:
    return base64.urlsafe_b64encode(tenant.encode()).rstrip(b"=").decode()


def decode_tenant(prefix: str) -> str | None:
    try:
        return base64.urlsafe_b64decode(prefix + "=" * (-len(prefix) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def issue_token(tx: S, client_id: str, scopes: list[str], lifetime: int) -> str:
    """A new opaque bearer token: `<tenant, base64url>.<40 seeded characters>`; the prefix lets a request find
    its tenant without a global index, the rest is checked against the tenant's token table."""
    token = f"{encode_tenant(tx.tenant)}.{tx.ids.new('token', TOKEN)}"
    now = tx.now()
    tx.state.tokens = {k: t for k, t in tx.state.tokens.items() if t.expires_at > now}
    tx.state.tokens[token] = Token(scopes=scopes, expires_at=now + lifetime, client_id=client_id)
    tx.emit("token.issued", f"client:{client_id}", {"client_id": client_id, "scope": " ".join(scopes)})
    return token


# -- retention (core.retention) ---------------------------------------------------------------------------------
# [inf] Chatwoot keeps resolved conversations until someone deletes them, and Sangoma publishes no retention: a
# resolved conversation (with its messages) and a finished call are kept up to 1,000 per tenant and for 24 h after
# their last change. A resolved conversation that a new message would reopen is gone once evicted (its id is 404).


def ended_conversations(state: SangomaState) -> list[Ended]:
    return [
        Ended(c.display_id, c.updated_at, (f"conversation:{c.display_id}", str(c.display_id)))
        for c in state.conversations.values()
        if c.status == ConversationStatus.RESOLVED
    ]


def evict_conversations(state: SangomaState, ids: list[int]) -> None:
    gone = set(ids)
    for display_id in ids:
        del state.conversations[display_id]
    for agent in state.agents.values():
        if gone.intersection(agent.chats):
            agent.chats = [d for d in agent.chats if d not in gone]


def ended_calls(state: SangomaState) -> list[Ended]:
    return [
        Ended(c.id, c.updated_at, (c.id, f"call:{c.id}")) for c in state.calls.values() if c.state in FINAL_CALL_STATES
    ]


def evict_calls(state: SangomaState, ids: list[str]) -> None:
    for call_id in ids:
        del state.calls[call_id]


RETAINED = (
    Retained("conversations", Limits(1_000, 86_400.0), ended_conversations, evict_conversations),
    Retained("calls", Limits(1_000, 86_400.0), ended_calls, evict_calls),
)
