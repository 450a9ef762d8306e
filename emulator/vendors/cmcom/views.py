"""Every body CM.com answers or sends, built here (cmcom.md §3.1-§3.3).

| body | for |
|---|---|
| `send_response` | the send API's answer (gateway and BMProxy): `{details, errorCode, messages}` |
| `router_mo`, `plain_mo` | an MO webhook: through the Bot Router (with `conversationalRouter`), or plain |
| `notification` | a mutation or reset notification to the other components [inf] |
| `status_report` | a delivery status report webhook |
| `credentials` | what `POST /_emulator/tenants` gives a client of the account |
| `chat_view`, `summary`, `team_view` | the control plane's views of a chat and of the account |

Bodies are built when their domain event is recorded (state can change again in the same unit of work), so
`router.py` calls the webhook builders with the values of that moment; error bodies are in `errors.py`.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from emulator.core.plugin import Subject
from emulator.vendors.cmcom import constants as c
from emulator.vendors.cmcom import state as st
from emulator.vendors.cmcom.config import Team
from emulator.vendors.cmcom.constants import BMPROXY_PATH, GATEWAY_PATH
from emulator.vendors.cmcom.numbers import mo, time_plain, time_utc
from emulator.vendors.cmcom.send import Draft

# -- the send API -----------------------------------------------------------------------------------------


def send_response(drafts: list[Draft]) -> tuple[int, dict[str, Any]]:
    """The gateway's answer: 200 errorCode 0 (all sent), 200 errorCode 201 (some), 400 errorCode 201 (none)."""
    accepted = sum(1 for d in drafts if not d.code)
    messages = [
        {
            "to": d.to,
            "status": "Rejected" if d.code else "Accepted",
            "reference": d.reference,
            "parts": 0 if d.code else d.parts,
            "messageDetails": d.details,
            "messageErrorCode": d.code,
        }
        for d in drafts
    ]
    code = _OK if accepted == len(drafts) else _NOT_ALL_SENT
    status = 200 if accepted else 400
    return status, {"details": c.CREATED.format(n=accepted), "errorCode": code, "messages": messages}


_OK, _NOT_ALL_SENT = int(c.Code.OK), int(c.Code.NOT_ALL_SENT)
"""The answer's two codes as numbers, once (in Python 3.11 `c.Code.OK` goes through `EnumType`'s `__getattr__` hook,
~1,000 instructions, and `int()` is a call: every send answers one)."""


# -- webhooks -----------------------------------------------------------------------------------------------


def mo_parts(chat: st.Chat, client: str, text: str | None, media: dict[str, Any] | None,
             custom: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:  # fmt: skip
    """The `from`, `to` and `message` of an MO: numbers with `+`, every media field present."""
    media_out = {"mediaUri": None, "contentType": None, "title": None} | (media or {})
    message = {"text": text, "media": media_out, "custom": custom or {}}
    sender = {"number": mo(client), "name": chat.client_name}
    host = {"number": mo(chat.host), "name": None}
    return sender, host, message


def router_mo(chat: st.Chat, parts: tuple[dict[str, Any], ...], reference: str, now: float,
              account_id: str) -> dict[str, Any]:  # fmt: skip
    """An MO as the Bot Router delivers it: the MO format plus `conversationalRouter` (cmcom.md §3.3)."""
    sender, host, message = parts
    return {
        "from": sender, "to": host, "message": message, "reference": reference,
        "groupings": [], "timeUtc": time_utc(now), "channel": chat.channel,
        "conversationalRouter": {"chatId": chat.id, "accountId": account_id},
    }  # fmt: skip


def plain_mo(chat: st.Chat, parts: tuple[dict[str, Any], ...], reference: str, now: float) -> dict[str, Any]:
    """A plain Business Messaging MO (cmcom.md §3.2): groupings of the replied-to message, no offset."""
    sender, host, message = parts
    return {
        "reference": reference, "from": sender, "to": host,
        "message": message, "groupings": list(chat.last_groupings), "timeUtc": time_plain(now),
        "channel": chat.channel,
    }  # fmt: skip


def notification(kind: str, chat: st.Chat, account_id: str, source: str, listed: list[dict[str, str]],
                 context: dict[str, str] | None, now: float) -> dict[str, Any]:  # fmt: skip
    """A mutation (or reset) notification to the other components; the payload is undocumented [inf]."""
    body: dict[str, Any] = {
        "$type": kind, "ChatId": chat.id, "AccountId": account_id, "SourceComponentId": source,
        "Mutations": listed,
    }  # fmt: skip
    if context is not None:
        body["Context"] = dict(context)
    body["timeUtc"] = time_utc(now)
    return body


def status_report(data: dict[str, Any]) -> dict[str, Any]:
    """The documented JSON status report, field for field (cmcom.md §3.2): no channel, codes as strings."""
    status = {"code": data["code"], "errorCode": data["errorCode"], "errorDescription": data["errorDescription"]}
    msg = {"received": time_plain(data["created"]), "to": data["to"], "reference": data["reference"],
           "status": status, "operator": data["operator"]}  # fmt: skip
    return {"messages": {"msg": msg}}


# -- the control plane ----------------------------------------------------------------------------------------


def credentials(s: st.CmComState, token: str) -> dict[str, Any]:
    return {
        "productToken": token,
        "botRouterAccountId": s.account_id,
        "gateway": GATEWAY_PATH,
        "bmproxy": BMPROXY_PATH.format(account_id=s.account_id),
        "businessNumber": s.business_number,
        "channels": list(s.channels),
        "partnerComponent": s.partner,
        "webhooks": {
            "bot": s.bot_webhook,
            "status": s.status_webhook,
            "customerContact": s.customer_contact_webhook,
            "notifications": s.notification_webhook or s.bot_webhook,
            "mo": s.mo_webhook,
        },
    }


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
        "customerContact": "dormant" if chat.enabled(c.Component.CM_BOT) else "active",
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


# -- the dashboard's list (`VendorPlugin.subjects`) ----------------------------------------------------------------


def chat_state(chat: st.Chat) -> str:
    """Who holds a chat: an agent, a team's queue (handed over), the CmBot (a flow position), or nobody yet."""
    if chat.agent:
        return "agent"
    if chat.team:
        return "handed_over"
    return "bot" if chat.position else "open"


def subjects(state: st.CmComState) -> list[Subject]:
    """Every chat, newest first."""
    rows = []
    for chat in state.chats.values():
        facts = {"channel": chat.channel, "entries": str(len(chat.transcript))}
        if chat.team:
            facts["team"] = chat.team
        if chat.agent:
            facts["agent"] = chat.agent
        rows.append(Subject(chat.id, "chat", chat_state(chat), chat.client_name or chat.client, chat.created, facts))
    return sorted(rows, key=lambda s: s.at, reverse=True)
