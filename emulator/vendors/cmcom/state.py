"""CM.com state per tenant (one Business Messaging account with one Bot Router account) and sending.

Functions validate first, then mutate `tx.state`, then record domain events (`tx.emit`); no I/O. The
router's transitions (MO, mutations, positions, resets, agents, the CmBot) are in `router.py`.

A chat is keyed by its ChatId (`numbers.chat_id` of channel, client = end user, host = business), so both
directions of one conversation meet in one chat whatever the literal from/to of each message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from pydantic import BaseModel, Field

from emulator.core.ids import TenantIds, fmt_uuid
from emulator.core.retention import Ended, Limits, Retained
from emulator.core.runtime import Emulator
from emulator.core.sink import default_target
from emulator.core.store import Tx, VendorStore
from emulator.vendors.cmcom import constants as c
from emulator.vendors.cmcom.config import (
    Behaviour,
    CmComConfig,
    Flow,
    StatusCodes,
    Team,
    TenantConfig,
    default_flows,
    default_teams,
)
from emulator.vendors.cmcom.numbers import chat_id, digits, guid_key, host_key, is_guid, mt, parts
from emulator.vendors.cmcom.send import Draft

MESSAGE_ID = fmt_uuid
REFERENCE = fmt_uuid
EVENT_ID = fmt_uuid


@dataclass(slots=True)
class Entry:
    """One line of a chat's transcript."""

    at: float
    direction: str  # "MO" (from the end user) or "MT" (to the end user)
    by: str  # end user's number, "api", the partner component, "CmBot" or an agent's name
    kind: str  # text, media, location, button, rich
    text: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    message_id: str | None = None


@dataclass(slots=True)
class Chat:
    id: str
    channel: str
    client: str
    host: str
    created: float
    components: list[str]
    client_name: str | None = None
    context: dict[str, str] = field(default_factory=dict)
    position: list[str] | None = None  # [FlowId, StepId] of the CmBot
    team: str | None = None  # Customer Contact team (or the generic inbox) once handed over
    agent: str | None = None  # the agent id holding the chat
    transcript: list[Entry] = field(default_factory=list)
    mutations: list[dict[str, Any]] = field(default_factory=list)
    last_reference: str | None = None
    last_groupings: list[str] = field(default_factory=lambda: ["", "", ""])

    def enabled(self, component: str) -> bool:
        return component in self.components


@dataclass(slots=True)
class Sent:
    """A message accepted for one recipient; status reports follow it."""

    id: str
    reference: str
    number: str
    channel: str
    created: float
    chat_id: str
    status: str = c.Status.ACCEPTED
    via: str = "gateway"


@dataclass(slots=True)
class Agent:
    id: str
    name: str
    team: str


class CmComState(BaseModel):
    """One tenant's account: settings from the config plus what happened."""

    tenant: str
    account_id: str
    account_bound: bool = Field(
        False, description="the account id is settled: configured, or the first one the tenant presented (open auth)"
    )
    business_number: str
    channels: list[str]
    partner: str
    default_components: list[str]
    chat_algorithm: str = "md5-guid"
    operator: str = "20416"
    status_codes: StatusCodes = Field(default_factory=StatusCodes)
    router: bool = True
    bot_webhook: str | None = None
    status_webhook: str | None = None
    customer_contact_webhook: str | None = None
    notification_webhook: str | None = None
    mo_webhook: str | None = None
    teams: list[Team] = Field(default_factory=list)
    agents: dict[str, Agent] = Field(default_factory=dict)
    flows: list[Flow] = Field(default_factory=list)
    behaviour: Behaviour = Field(default_factory=Behaviour)
    insufficient_balance: bool = False
    blacklist: list[str] = Field(default_factory=list)
    spam_patterns: list[str] = Field(default_factory=list)
    unreachable: list[str] = Field(default_factory=list)
    chats: dict[str, Chat] = Field(default_factory=dict)
    sent: dict[str, Sent] = Field(default_factory=dict)
    names: dict[str, str] = Field(default_factory=dict, description="end users' display names by number")


S = Tx[CmComState]


def store(emu: Emulator) -> VendorStore[CmComState]:
    """The CM.com tenants of an emulator, typed."""
    return emu.store.of(c.SLUG, CmComState)


def for_tenant(emu: Emulator, tenant: str, ids: TenantIds) -> CmComState:
    """The plugin's constructor: a tenant as the config describes it (an unconfigured one gets the defaults
    and seeded ids; its webhooks go to the default target, the built-in sink when it is on)."""
    cfg: CmComConfig = emu.vendor_config(c.SLUG)
    return new_state(tenant, ids, cfg, cfg.tenants.get(tenant), default_target(emu, c.SLUG, tenant))


def new_state(tenant: str, ids: TenantIds, cfg: CmComConfig, t: TenantConfig | None, webhook_url: str | None) -> (
    CmComState
):  # fmt: skip
    t = t or TenantConfig()
    teams = t.teams if t.teams is not None else default_teams()
    state = CmComState(
        tenant=tenant,
        account_id=t.bot_router_account_id or ids.new("account", fmt_uuid),
        account_bound=t.bot_router_account_id is not None,
        business_number=t.business_number or cfg.business_number,
        channels=[ch for ch in (t.channels or list(c.CHANNELS))],
        partner=cfg.partner_component,
        default_components=list(
            cfg.default_components or [c.Component.CM_BOT, c.Component.CUSTOMER_CONTACT, cfg.partner_component]
        ),
        chat_algorithm=cfg.chat_id,
        operator=cfg.operator,
        status_codes=cfg.status_codes,
        router=t.router,
        bot_webhook=t.bot_webhook or webhook_url,
        status_webhook=t.status_webhook or webhook_url,
        customer_contact_webhook=t.customer_contact_webhook,
        notification_webhook=t.notification_webhook,
        mo_webhook=t.mo_webhook or (webhook_url if not t.router else None),
        teams=teams,
        flows=t.flows if t.flows is not None else default_flows(),
        behaviour=t.behaviour or cfg.behaviour,
        insufficient_balance=t.insufficient_balance,
        blacklist=[digits(n) or n for n in t.blacklist],
        spam_patterns=list(t.spam_patterns),
        unreachable=[digits(n) or n for n in t.unreachable],
    )
    build_agents(state, ids)
    return state


def bind_account(state: CmComState, account_id: str) -> None:
    """Open auth: the first BotRouterAccountId a tenant presents (BMProxy, router control) becomes its own, as
    the tenant takes the identifiers of its first request; so a client using the id on the vendor's page, or
    one its CM contact gave it, works with no config. Later requests must use that id."""
    if not state.account_bound and is_guid(account_id):
        state.account_id, state.account_bound = guid_key(account_id), True


def build_agents(state: CmComState, ids: TenantIds) -> None:
    """Customer Contact agents of every team plus one for the generic inbox; seeded names when not given."""
    state.agents = {}
    for team in [*state.teams, Team(name=c.GENERIC_INBOX)]:
        for name in team.agents:
            agent_id = ids.new("agent", fmt_uuid)
            state.agents[agent_id] = Agent(agent_id, name or ids.fake("agent").name(), team.name)


def components(state: CmComState) -> list[str]:
    """Every component a mutation may name."""
    return [c.Component.CM_BOT, c.Component.CUSTOMER_CONTACT, state.partner]


# -- chats ------------------------------------------------------------------------------------------------


def open_chat(tx: S, channel: str, client: str, host: str) -> Chat:
    """The chat of (channel, end user, business), created with the default components on first use."""
    state = tx.state
    cid = chat_id(channel, client, host, state.chat_algorithm)
    chat = state.chats.get(cid)
    if chat is None:
        chat = Chat(cid, channel, client, host, tx.now(), list(state.default_components))
        chat.client_name = state.names.get(client)
        state.chats[cid] = chat
        tx.emit("chat.created", cid, {"chatId": cid, "channel": channel, "client": client, "host": host})
    return chat


def pick_channel(state: CmComState, d: Draft, host: str | None = None) -> str | None:
    """The channel a message goes out on: the first allowed one the account has, preferring one the end user
    already chats on with this sender; with no allowedChannels, any channel of the account [cmcom.md §3.1].
    (`host`: `host_key(d.sender)`, when the caller has it.)"""
    channels = state.channels  # (once: each read of a pydantic field goes through its `__getattr__` hook)
    # (with no allowedChannels every channel of the account is a candidate: no pass over them asking each of them)
    candidates = [ch for ch in d.allowed if ch in channels] if d.allowed else list(channels)
    if not candidates:
        return None
    if host is None:
        host = host_key(d.sender)
    algorithm, chats = state.chat_algorithm, state.chats
    for ch in candidates:
        if chat_id(ch, d.number, host, algorithm) in chats:
            return ch
    if d.allowed is None and "SMS" in candidates:
        return "SMS"
    return candidates[0]


def _account_rules(state: CmComState, d: Draft, host: str) -> str | None:
    """Apply the account's rules to a valid draft; returns the channel when it may be sent."""
    if d.number in state.blacklist:
        d.reject(c.Code.BLACKLISTED, c.BLACKLISTED.format(number=d.to))
        return None
    if state.spam_patterns and any(re.search(p, d.text, flags=re.IGNORECASE) for p in state.spam_patterns):
        d.reject(c.Code.SPAM, c.SPAM)
        return None
    channel = pick_channel(state, d, host)
    if channel is None:
        d.reject(c.Code.REJECTED, c.NO_CHANNEL.format(channels=", ".join(d.allowed or [])))
        return None
    d.parts = parts(d.text, channel)
    if d.parts > d.maximum_parts:
        d.reject(c.Code.INVALID_BODY, c.TOO_LONG.format(parts=d.parts, maximum=d.maximum_parts))
        return None
    return channel


def send(tx: S, drafts: list[Draft], *, via: str) -> None:
    """Send every acceptable draft (`via`: "gateway" or the partner component for BMProxy); rejected drafts
    keep their code. Accepted ones reach the end user's chat and start their status reports."""
    state = tx.state
    for d in drafts:
        if d.code:
            d.parts = 0
            continue
        host = host_key(d.sender)  # (once: the channel's choice and the chat both ask)
        channel = _account_rules(state, d, host)
        if channel is None:
            d.parts = 0
            continue
        chat = open_chat(tx, channel, d.number, host)
        if via != "gateway" and not chat.enabled(via):
            d.reject(c.Code.REJECTED, c.COMPONENT_DISABLED.format(component=via, chat_id=chat.id))
            d.parts = 0
            continue
        message_id = tx.ids.new("message", MESSAGE_ID)
        reference = d.reference if d.reference is not None else message_id
        state.sent[message_id] = Sent(message_id, reference, d.number, channel, tx.now(), chat.id, via=via)
        kind = "rich" if d.rich else "text"
        chat.transcript.append(Entry(tx.now(), "MT", via, kind, d.text or None, _rich_data(d), message_id))
        chat.last_reference, chat.last_groupings = reference, list(d.groupings)
        tx.emit(
            "message.sent",
            message_id,
            {"chatId": chat.id, "channel": channel, "to": mt(d.number), "reference": reference, "text": d.text,
             "via": via, "parts": d.parts},
        )  # fmt: skip


def _rich_data(d: Draft) -> dict[str, Any]:
    return {"richContent": d.rich} if d.rich else {}


def advance_status(tx: S, message_id: str, statuses: list[c.Status]) -> None:
    """Status reports for a sent message, in the order given (the simulated end user's phone or app moved it on;
    reports due at one instant come together, `actors.status_batches`)."""
    state = tx.state  # (read once, as its fields: each read of a pydantic field goes through its `__getattr__` hook)
    sent = state.sent.get(message_id)
    if sent is None:
        return
    codes, operator, to = state.status_codes, state.operator, mt(sent.number)  # (once for the batch)
    for status in statuses:
        code = getattr(codes, status.lower())
        if code is None:
            continue  # a status without a configured code (Sent) is not reported
        sent.status = status
        failed = status == c.FAILED
        tx.emit("status.report", message_id, {
            "status": str(status), "code": code, "errorCode": codes.failed_error_code if failed else "",
            "errorDescription": c.FAILED_DESCRIPTION if failed else "", "reference": sent.reference,
            "to": to, "created": sent.created, "operator": operator,
        })  # fmt: skip


# -- retention (core.retention) -----------------------------------------------------------------------------
# [inf] CM.com publishes no retention for chats: a chat no agent or team holds counts as ended from its last
# transcript line; it is kept (with the messages sent in it) up to 1,000 per tenant and for 24 h after that. A
# status report still due for one of its messages keeps it (the report's job names the message).


def ended_chats(state: CmComState) -> list[Ended]:
    """The ended chats; what pins each (its id and its messages' ids, which a status report still due names) is
    found only when a sweep has something to evict: `state.sent` keeps every message of a kept chat, so a pass over
    it on every sweep cost CPU per request that grew with the sandbox's age (bench/README, 2026-12-07 wpath)."""
    by_chat: dict[str, list[str]] | None = None

    def refs(chat_id: str) -> tuple[str, ...]:
        nonlocal by_chat
        if by_chat is None:  # once per sweep, for all its chats
            by_chat = {}
            for sent in state.sent.values():
                by_chat.setdefault(sent.chat_id, []).append(sent.id)
        return (chat_id, *by_chat.get(chat_id, ()))

    return [
        Ended(chat.id, chat.transcript[-1].at if chat.transcript else chat.created, partial(refs, chat.id))
        for chat in state.chats.values()
        if chat.agent is None and chat.team is None
    ]


def evict_chats(state: CmComState, ids: list[str]) -> None:
    gone = set(ids)
    for gone_id in ids:
        del state.chats[gone_id]
    state.sent = {k: m for k, m in state.sent.items() if m.chat_id not in gone}


RETAINED = (Retained("chats", Limits(1_000, 86_400.0), ended_chats, evict_chats),)
