"""8x8 bodies built from state: REST results (`*_out`, `listing`) and the data of webhook events
(`conversation_view`, `message_view`), which `state.py` records on its domain events and `events.py` wraps
in the webhook envelope. Where a body is on a hot path (GET conversation, the MESSAGE data), it is built as a
plain dict instead of through its wire model; the contract tests check those against the model's schema.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.requests import Request

from emulator.core.plugin import Subject
from emulator.vendors.eightbyeight import models_replies as r
from emulator.vendors.eightbyeight import paging
from emulator.vendors.eightbyeight.constants import DEFAULT_MESSAGE_SORT, DEFAULT_SORT

if TYPE_CHECKING:  # state builds event data with this module, so it is imported for types only
    from emulator.vendors.eightbyeight import state as st

# RFC 3986 reserved characters and `%`: kept as they are when a list echoes its query in `_links.self.href`
QUERY_SAFE = "!#$%&'()*+,/:;=?@[]~"


def when(ts: float) -> datetime:
    """An epoch-seconds instant of the clock as the wire's UTC date-time."""
    return datetime.fromtimestamp(ts, tz=UTC)


# -- REST bodies (state -> 8x8 wire models) ------------------------------------------------------------------


def assignment(conv: st.Conversation) -> dict[str, Any]:
    """``assignment`` of a conversation, as its REST result and CONVERSATION_UPDATE both carry it."""
    out: dict[str, Any] = {"type": conv.assignment_type}
    if conv.assignment_id is not None:
        out["id"] = conv.assignment_id
    return out


def webhook_out(hook: st.Webhook) -> r.WebhookResult:
    return r.WebhookResult(id=hook.id, name=hook.name, uri=hook.uri, version=hook.version)


def channel_out(ch: st.Channel) -> r.ChannelResult:
    return r.ChannelResult(
        id=ch.id, name=ch.name, webHookId=ch.webHookId, routingOptions=r.RoutingOptionsResult(id=ch.queue_id)
    )


def conversation_out(conv: st.Conversation) -> dict[str, Any]:
    """A `ConversationResult` in wire form, built directly: `user` is kept in wire form already, and this
    is the hottest read of the API (the contract tests check it against the model's schema)."""
    return {
        "id": conv.id,
        "channelId": conv.channelId,
        "state": str(conv.state),
        "assignment": assignment(conv),
        "user": conv.user,
    }


def participant_out(p: st.Participant) -> r.ParticipantResult:
    return r.ParticipantResult.model_validate(
        {"id": p.id, "type": p.type, "removed": p.removed, "language": p.language}
    )


def interaction_out(interaction: st.Interaction) -> r.InteractionResult:
    end = when(interaction.end) if interaction.end else None
    return r.InteractionResult(id=interaction.id, startTime=when(interaction.start), endTime=end)


def card_out(card: st.Card) -> r.CardResult:
    return r.CardResult.model_validate(asdict(card))


def message_out(conv: st.Conversation, msg: st.Message) -> r.MessageResult:
    author = next((p for p in conv.participants if p.id == msg.author_id), None)
    author_out = (
        participant_out(author)
        if author
        else r.ParticipantResult.model_validate({"id": msg.author_id, "type": msg.author_type})
    )
    return r.MessageResult(
        id=msg.id,
        text=msg.text,
        createdAt=when(msg.at),
        author=author_out,
        externalProvider=r.ExternalProviderResult.model_validate(msg.external) if msg.external else None,
        attachments=[r.AttachmentRefResult(id=a) for a in msg.attachments],
        cards=[card_out(c) for c in msg.cards],
    )


def attachment_out(att: st.Attachment) -> r.AttachmentResult:
    return r.AttachmentResult(
        id=att.id,
        filename=att.filename,
        sizeInBytes=att.size,
        size=att.size,
        type=att.media_type,
        createdAt=when(att.at),
    )


def listing(
    request: Request, items: list[dict[str, Any]], key: str, *, default_sort: str = DEFAULT_SORT, links: bool = True
) -> dict[str, Any]:
    """A HAL page of wire dicts (`_embedded.<key>`, `_links.self`, `page`). Lists sorted by date by default
    (messages, cards) sort only on `createdAt` (eightbyeight.md §1.3)."""
    sortable = ("createdAt",) if default_sort == DEFAULT_MESSAGE_SORT else None
    pg = paging.parse(request.query_params, default_sort=default_sort, sortable=sortable)
    page_items, total = paging.apply(items, pg)
    body: dict[str, Any] = {"_embedded": {key: page_items}}
    if links:
        query = f"?{request.url.query}" if request.url.query else ""
        # the query is already percent-encoded as sent: keep it, only quote characters a URL cannot hold raw
        body["_links"] = {"self": {"href": f"{request.url.path}{quote(query, safe=QUERY_SAFE)}"}}
    body["page"] = r.PageInfo.of(pg.size, pg.page, total).wire()
    return body


# -- webhook event data (eightbyeight.md §1.6) ------------------------------------------------------------------


def conversation_view(conv: st.Conversation) -> dict[str, Any]:
    """What CONVERSATION_UPDATE carries: state, assignment, user (eightbyeight.md §1.6)."""
    return {"state": str(conv.state), "assignment": assignment(conv), "user": conv.user, "channel": "ChatAPI"}


def message_view(conv: st.Conversation, msg: st.Message, *, echo: bool) -> dict[str, Any]:
    attachments = []
    for att_id in msg.attachments:
        att = conv.attachments.get(att_id)
        if att is not None:
            kind = att.media_type.split("/", 1)[0]
            attachments.append(
                {
                    "id": att.id,
                    "type": kind if kind in ("image", "video", "audio") else "file",
                    "fileName": att.filename,
                }
            )
    return {
        "isEcho": echo,
        "sender": {"id": msg.author_id, "type": msg.author_type},
        "text": msg.text,
        "attachments": attachments,
        "cards": [{"contentType": c.contentType, "content": c.content} for c in cards] if (cards := msg.cards) else [],
    }  # (no comprehension for no cards: in 3.11 each runs as a function of its own)


# -- the dashboard's list (`VendorPlugin.subjects`) ----------------------------------------------------------------


def subjects(state: st.EightByEightState) -> list[Subject]:
    """Every conversation, newest first, with who wrote in and where it sits."""
    rows = []
    for conv in state.conversations.values():
        user = conv.user
        who = user.get("name") or user.get("email") or user.get("phone") or user.get("userId") or "anonymous"
        facts = {"channel": conv.channelId, "assignment": conv.assignment_type, "messages": str(len(conv.messages))}
        if conv.queue_id:
            facts["queue"] = conv.queue_id
        if conv.agent_id:
            facts["agent"] = conv.agent_id
        rows.append(Subject(conv.id, "conversation", str(conv.state), str(who), conv.created, facts))
    return sorted(rows, key=lambda s: s.at, reverse=True)
