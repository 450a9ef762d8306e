"""Chatwoot account resources behind Digital Interactions: agent bots, account webhooks, inboxes, contacts and
their contact inboxes, and the web widget opening (sangoma.md §2.3, §2.4, §2.8). No I/O.

Validation follows Chatwoot's models (§2.8): webhook subscriptions from the allowed list and unique http(s)
URLs; contacts with a valid, unique email and an E.164, unique phone number. `emit` records a Chatwoot event
with its exact payload; `events.py` decides who receives it.
"""

from __future__ import annotations

import re
from typing import Any

from emulator.core.outbound import check_http_url
from emulator.vendors.sangoma import errors
from emulator.vendors.sangoma import views as v
from emulator.vendors.sangoma.constants import (
    CW_EMAIL_INVALID,
    CW_EMAIL_TAKEN,
    CW_IDENTIFIER_TAKEN,
    CW_INVALID_EVENTS,
    CW_PHONE_E164,
    CW_PHONE_TAKEN,
    CW_SOURCE_ID_UNIQUE,
    CW_URL_INVALID,
    CW_URL_TAKEN,
    DRF_INVALID_URL,
    E164,
    EMAIL,
    WEBHOOK_SUBSCRIPTIONS,
)
from emulator.vendors.sangoma.state import (
    AGENT_BOT_ID,
    CONTACT_ID,
    CONTACT_INBOX_ID,
    SECRET,
    SOURCE_ID,
    TOKEN,
    WEBHOOK_ID,
    AgentBot,
    Contact,
    ContactInbox,
    Inbox,
    S,
    SangomaState,
    Webhook,
)


def emit(tx: S, event: str, subj: str, inbox_id: int, payload: dict[str, Any]) -> None:
    tx.emit(event, subj, {"inbox_id": inbox_id, "payload": {"event": event, **payload}})


def invalid(found: list[tuple[str, str]]) -> errors.SangomaError:
    """Rails' RecordInvalid as Chatwoot renders it: every full message joined with ", ", each attribute once."""
    return errors.cw_invalid(", ".join(m for m, _ in found), *dict.fromkeys(a for _, a in found))


def get_inbox(state: SangomaState, inbox_id: int) -> Inbox:
    inbox = state.inboxes.get(inbox_id)
    if inbox is None:
        raise errors.cw_not_found()
    return inbox


def bot_of(state: SangomaState, inbox_id: int) -> AgentBot | None:
    inbox = state.inboxes.get(inbox_id)
    if inbox is None or inbox.agent_bot_id is None:
        return None
    return state.agent_bots.get(inbox.agent_bot_id)


def create_agent_bot(tx: S, name: str, description: str | None, outgoing_url: str) -> AgentBot:
    """Chatwoot does not check a bot's `outgoing_url`; the Sangoma (DRF) layer's URL field does [inf]."""
    if check_http_url(outgoing_url) is not None:
        raise errors.field("outgoing_url", DRF_INVALID_URL)
    bot = AgentBot(
        id=int(tx.ids.new("agent_bot", AGENT_BOT_ID)),
        name=name,
        description=description or "",
        outgoing_url=outgoing_url,
        access_token=tx.ids.new("bot_token", TOKEN)[:24],
        secret=tx.ids.new("secret", SECRET),
    )
    tx.state.agent_bots[bot.id] = bot
    return bot


def assign_agent_bot(tx: S, inbox_id: int, bot_id: int | None) -> Inbox:
    inbox = get_inbox(tx.state, inbox_id)
    if bot_id is not None and bot_id not in tx.state.agent_bots:
        raise errors.cw_not_found()
    inbox.agent_bot_id = bot_id
    return inbox


def create_webhook(tx: S, url: str, subscriptions: list[str]) -> Webhook:
    """Chatwoot's Webhook validations, all reported together (url taken, url format, subscriptions; §2.4, §2.8)."""
    found: list[tuple[str, str]] = []
    if any(h.url == url for h in tx.state.webhooks.values()):
        found.append((CW_URL_TAKEN, "url"))
    if check_http_url(url) is not None:
        found.append((CW_URL_INVALID, "url"))
    if not subscriptions or any(s not in WEBHOOK_SUBSCRIPTIONS for s in subscriptions):
        found.append((CW_INVALID_EVENTS, "subscriptions"))
    if found:
        raise invalid(found)
    hook = Webhook(
        id=int(tx.ids.new("webhook", WEBHOOK_ID)),
        url=url,
        subscriptions=list(dict.fromkeys(subscriptions)),
        secret=tx.ids.new("secret", SECRET),
    )
    tx.state.webhooks[hook.id] = hook
    return hook


def _validate_contact(state: SangomaState, email: str | None, phone: str | None, identifier: str | None) -> None:
    """Chatwoot's Contact validations (§2.8), all run and reported together as Rails does: messages joined with
    ", ", attributes in declaration order (email: taken, format; identifier: taken; phone: taken, E.164)."""
    others = state.contacts.values()
    found: list[tuple[str, str]] = []
    if email and any(c.email and c.email.lower() == email.lower() for c in others):
        found.append((CW_EMAIL_TAKEN, "email"))
    if email and not re.match(EMAIL, email):
        found.append((CW_EMAIL_INVALID, "email"))
    if identifier and any(c.identifier == identifier for c in others):
        found.append((CW_IDENTIFIER_TAKEN, "identifier"))
    if phone and any(c.phone_number == phone for c in others):
        found.append((CW_PHONE_TAKEN, "phone_number"))
    if phone and not re.match(E164, phone):
        found.append((CW_PHONE_E164, "phone_number"))
    if found:
        raise invalid(found)


def _contact_inbox(tx: S, contact: Contact, inbox: Inbox, source_id: str | None) -> ContactInbox:
    ci = ContactInbox(
        id=int(tx.ids.new("contact_inbox", CONTACT_INBOX_ID)),
        contact_id=contact.id,
        inbox_id=inbox.id,
        source_id=source_id or tx.ids.new("source_id", SOURCE_ID),
        pubsub_token=tx.ids.new("pubsub", TOKEN)[:24],
        created_at=tx.now(),
    )
    tx.state.contact_inboxes[ci.id] = ci
    return ci


def create_contact(
    tx: S, inbox_id: int, name: str | None, email: str | None, phone: str | None, identifier: str | None
) -> tuple[Contact, ContactInbox]:
    """POST contacts: the contact and its contact inbox (source id) in `inbox_id` (§2.3)."""
    email = email.strip().lower() if email else None
    phone = phone.strip() if phone else None
    _validate_contact(tx.state, email, phone, identifier)
    inbox = get_inbox(tx.state, inbox_id)
    contact = Contact(
        id=int(tx.ids.new("contact", CONTACT_ID)),
        name=name or "",
        email=email,
        phone_number=phone,
        identifier=identifier,
        created_at=tx.now(),
    )
    tx.state.contacts[contact.id] = contact
    ci = _contact_inbox(tx, contact, inbox, None)
    emit(tx, "contact_created", f"contact:{contact.id}", inbox.id, v.contact_webhook(tx.state, contact))
    return contact, ci


def find_or_create_contact_inbox(tx: S, contact: Contact, inbox: Inbox, source_id: str | None) -> ContactInbox:
    mine = [c for c in tx.state.contact_inboxes.values() if c.contact_id == contact.id and c.inbox_id == inbox.id]
    if source_id is None:
        return mine[0] if mine else _contact_inbox(tx, contact, inbox, None)
    for ci in tx.state.contact_inboxes.values():
        if ci.inbox_id == inbox.id and ci.source_id == source_id:
            if ci.contact_id != contact.id:
                raise errors.cw_error(CW_SOURCE_ID_UNIQUE)
            return ci
    return _contact_inbox(tx, contact, inbox, source_id)


def widget_open(tx: S, inbox: Inbox, name: str, email: str | None, referer: str) -> ContactInbox:
    """A visitor opens the web widget: a contact and its contact inbox, then `webwidget_triggered`."""
    if inbox.channel_type != "Channel::WebWidget":
        raise errors.cw_error(f"Inbox {inbox.id} is not a web widget inbox")
    contact = Contact(
        id=int(tx.ids.new("contact", CONTACT_ID)),
        name=name,
        email=email,
        phone_number=None,
        identifier=None,
        created_at=tx.now(),
    )
    tx.state.contacts[contact.id] = contact
    ci = _contact_inbox(tx, contact, inbox, None)
    emit(tx, "contact_created", f"contact:{contact.id}", inbox.id, v.contact_webhook(tx.state, contact))
    body = v.webwidget_triggered(tx.state, ci, None, referer)
    body.pop("event")
    emit(tx, "webwidget_triggered", f"contact:{contact.id}", inbox.id, body)
    return ci
