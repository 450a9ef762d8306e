"""8x8 Chat Gateway v1 at its real paths (eightbyeight.md §1.3). Handlers are thin: parse, state, serialise.

Status codes follow 8x8: 202 for create/send/PUT/PATCH of conversations, 200 for webhook and channel
create, 204 for deletes/typing/thinking/read-receipt/verify/user leave, 201 for post-agent-assignment.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from emulator.core.plugin import Endpoint, VendorPlugin, route, vendor_endpoint
from emulator.core.runtime import Emulator
from emulator.core.store import Tx
from emulator.vendors.eightbyeight import errors, paging
from emulator.vendors.eightbyeight import models as m
from emulator.vendors.eightbyeight import state as st
from emulator.vendors.eightbyeight.constants import (
    API_PREFIX,
    CARD_ACTION_PREFIX,
    DEFAULT_MESSAGE_SORT,
    DEFAULT_SORT,
    SLUG,
)
from emulator.vendors.eightbyeight.delivery import signer_for
from emulator.vendors.eightbyeight.http import Gate, hal, read_json, when

P = API_PREFIX
# RFC 3986 reserved characters and `%`: kept as they are when a list echoes its query in `_links.self.href`
QUERY_SAFE = "!#$%&'()*+,/:;=?@[]~"
Handler = Callable[[Request], Awaitable[Response]]


# -- serialisers (state -> 8x8 wire models) ---------------------------------------------------------------


def webhook_out(hook: st.Webhook) -> m.WebhookResult:
    return m.WebhookResult(id=hook.id, name=hook.name, uri=hook.uri, version=hook.version)


def channel_out(ch: st.Channel) -> m.ChannelResult:
    return m.ChannelResult(
        id=ch.id, name=ch.name, webHookId=ch.webHookId, routingOptions=m.RoutingOptionsResult(id=ch.queue_id)
    )


def conversation_out(conv: st.Conversation) -> dict[str, Any]:
    """A `ConversationResult` in wire form, built directly: `user` is kept in wire form already, and this
    is the hottest read of the API (the contract tests check it against the model's schema)."""
    assignment: dict[str, Any] = {"type": conv.assignment_type}
    if conv.assignment_id is not None:
        assignment["id"] = conv.assignment_id
    return {
        "id": conv.id,
        "channelId": conv.channelId,
        "state": str(conv.state),
        "assignment": assignment,
        "user": conv.user,
    }


def participant_out(p: st.Participant) -> m.ParticipantResult:
    return m.ParticipantResult.model_validate(
        {"id": p.id, "type": p.type, "removed": p.removed, "language": p.language}
    )


def card_out(card: st.Card) -> m.CardResult:
    return m.CardResult.model_validate(asdict(card))


def message_out(conv: st.Conversation, msg: st.Message) -> m.MessageResult:
    author = next((p for p in conv.participants if p.id == msg.author_id), None)
    author_out = (
        participant_out(author)
        if author
        else m.ParticipantResult.model_validate({"id": msg.author_id, "type": msg.author_type})
    )
    return m.MessageResult(
        id=msg.id,
        text=msg.text,
        createdAt=when(msg.at),
        author=author_out,
        externalProvider=m.ExternalProviderResult.model_validate(msg.external) if msg.external else None,
        attachments=[m.AttachmentRefResult(id=a) for a in msg.attachments],
        cards=[card_out(c) for c in msg.cards],
    )


def attachment_out(att: st.Attachment) -> m.AttachmentResult:
    return m.AttachmentResult(
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
    body["page"] = m.PageInfo.of(pg.size, pg.page, total).wire()
    return body


# -- routes -----------------------------------------------------------------------------------------------


def routes(emu: Emulator, plugin: VendorPlugin) -> list[BaseRoute]:
    gate = Gate(emu)
    store = emu.store
    echo = gate.config.echo_messages
    # user.email / user.language checked as the OAS declares them, unless switched off [inf]
    user_rules = {m.STRICT_USER_FIELDS: gate.config.strict_user_fields}

    def wrap(fn: Endpoint) -> Endpoint:
        return vendor_endpoint(emu, plugin, fn)

    def tenant_of(request: Request) -> str:
        return gate.tenant(request)

    async def open_tx(request: Request) -> tuple[str, Any]:
        """Authenticate, check `X-8x8-Tenant` (before any body is read, as 8x8 does), open the unit of work."""
        tenant = tenant_of(request)
        known = store.peek(SLUG, tenant)
        if isinstance(known, st.EightByEightState):
            gate.check_tenant_header(request, known.tenant_id, known.customer_id)
        return tenant, store.tenant(SLUG, tenant)

    def tenant_id_of(tenant: str) -> str:
        """The 8x8 tenant id (as in `X-8x8-Tenant` and 400 texts) of a store tenant, before its tx is open."""
        state = store.peek(SLUG, tenant)
        if isinstance(state, st.EightByEightState):
            return state.tenant_id
        cfg = gate.config.tenants.get(tenant)
        return cfg.tenant_id if cfg is not None and cfg.tenant_id else tenant

    async def read(request: Request) -> st.EightByEightState:
        """The tenant's state for a read-only request: no unit of work (nothing changes, nothing is awaited
        while it is read), except to build a tenant the first time its key is used."""
        tenant = tenant_of(request)
        state = store.peek(SLUG, tenant)
        if not isinstance(state, st.EightByEightState):
            async with store.tenant(SLUG, tenant) as tx:
                state = tx.state
        gate.check_tenant_header(request, state.tenant_id, state.customer_id)
        return state

    def checked(request: Request, tx: Tx[st.EightByEightState]) -> st.EightByEightState:
        gate.check_tenant_header(request, tx.state.tenant_id, tx.state.customer_id)
        return tx.state

    def cid(request: Request) -> str:
        return str(request.path_params["conversation_id"])

    # -- webhooks --------------------------------------------------------------------------------------

    async def list_webhooks(request: Request) -> Response:
        state = await read(request)
        items = [webhook_out(h).wire() for h in state.webhooks.values()]
        return hal(listing(request, items, "webhooks"))

    async def create_webhook(request: Request) -> Response:
        _, uow = await open_tx(request)
        body = await read_json(request, m.WebhookRequest)
        async with uow as tx:
            checked(request, tx)
            hook = st.create_webhook(tx, body.name, body.uri, str(body.effective_version))
            st.verify_webhook(tx, hook.uri, hook.version)
        return hal(webhook_out(hook))

    async def get_webhook(request: Request) -> Response:
        state = await read(request)
        hook = st.get_webhook(state, request.path_params["webhook_id"])
        return hal(webhook_out(hook))

    async def put_webhook(request: Request) -> Response:
        _, uow = await open_tx(request)
        body = await read_json(request, m.WebhookRequest)
        async with uow as tx:
            checked(request, tx)
            hook = st.replace_webhook(
                tx, request.path_params["webhook_id"], body.name, body.uri, str(body.effective_version)
            )
        return hal(webhook_out(hook))

    async def delete_webhook(request: Request) -> Response:
        _, uow = await open_tx(request)
        async with uow as tx:
            checked(request, tx)
            st.delete_webhook(tx, request.path_params["webhook_id"])
        return Response(status_code=204)

    async def verify_webhook(request: Request) -> Response:
        _, uow = await open_tx(request)
        body = await read_json(request, m.WebhookVerifyRequest)
        async with uow as tx:
            checked(request, tx)
            st.verify_webhook(tx, body.uri, body.version)
        return Response(status_code=204)

    async def jwk(request: Request) -> Response:
        signer = signer_for(emu)
        if request.path_params["jwk_id"] != signer.kid:
            raise errors.not_found("Jwk", request.path_params["jwk_id"])
        return JSONResponse(signer.jwk())  # OAS: application/json here, not hal+json

    # -- channels --------------------------------------------------------------------------------------

    async def list_channels(request: Request) -> Response:
        state = await read(request)
        items = [channel_out(c).wire() for c in state.channels.values()]
        return hal(listing(request, items, "channels"))

    async def create_channel(request: Request) -> Response:
        _, uow = await open_tx(request)
        body = await read_json(request, m.ChannelRequest)
        async with uow as tx:
            checked(request, tx)
            ch = st.create_channel(tx, body.name, str(body.type or "ChatAPI"), body.webHookId, body.routingOptions.id)
        return hal(channel_out(ch))

    async def get_channel(request: Request) -> Response:
        state = await read(request)
        ch = st.get_channel(state, request.path_params["channel_id"])
        return hal(channel_out(ch))

    async def put_channel(request: Request) -> Response:
        _, uow = await open_tx(request)
        body = await read_json(request, m.ChannelRequest)
        async with uow as tx:
            checked(request, tx)
            ch = st.replace_channel(
                tx, request.path_params["channel_id"], body.name, body.webHookId, body.routingOptions.id
            )
        return hal(channel_out(ch))

    async def delete_channel(request: Request) -> Response:
        _, uow = await open_tx(request)
        async with uow as tx:
            checked(request, tx)
            st.delete_channel(tx, request.path_params["channel_id"])
        return Response(status_code=204)

    # -- conversations ---------------------------------------------------------------------------------

    async def list_conversations(request: Request) -> Response:
        state = await read(request)
        items = [conversation_out(c) for c in state.conversations.values()]
        return hal(listing(request, items, "conversations"))

    async def create_conversation(request: Request) -> Response:
        _, uow = await open_tx(request)
        body = await read_json(request, m.CreateConversationRequest, context=user_rules)
        assignment = body.assignment or m.Assignment()
        history = body.history.messages if body.history else []
        async with uow as tx:
            checked(request, tx)
            conv = st.create_conversation(tx, body.channelId, body.user, str(assignment.type), assignment.id, history)
        return hal(m.CreateConversationResponse(conversationId=conv.id, createdAt=when(conv.created)), 202)

    async def get_conversation(request: Request) -> Response:
        state = await read(request)
        conv = st.get_conversation(state, cid(request))
        return hal(conversation_out(conv))

    def change_conversation(replace: bool) -> Handler:
        async def handler(request: Request) -> Response:
            _, uow = await open_tx(request)
            model: type[m.UpdateConversationRequest | m.PatchConversationRequest] = (
                m.UpdateConversationRequest if replace else m.PatchConversationRequest
            )
            body = await read_json(request, model, context=user_rules)
            channel_id = body.channelId if isinstance(body, m.UpdateConversationRequest) else None
            async with uow as tx:
                conv = st.get_conversation(checked(request, tx), cid(request))
                st.update_conversation(
                    tx,
                    conv,
                    channel_id=channel_id,
                    user=body.user,
                    assignment_type=str(body.assignment.type) if body.assignment else None,
                    assignment_id=body.assignment.id if body.assignment else None,
                    replace=replace,
                )
            return hal(conversation_out(conv), 202)

        handler.__name__ = "put_conversation" if replace else "patch_conversation"
        return handler

    async def interactions(request: Request) -> Response:
        state = await read(request)
        conv = st.get_conversation(state, cid(request))
        items = [
            m.InteractionResult(id=i.id, startTime=when(i.start), endTime=when(i.end) if i.end else None).wire()
            for i in conv.interactions
        ]
        return hal(listing(request, items, "interactions"))

    async def post_agent_assignment(request: Request) -> Response:
        tenant, uow = await open_tx(request)
        body = await read_json(
            request,
            m.PostAgentAssignmentRequest,
            style="newer",
            conversation_id=cid(request),
            tenant=tenant_id_of(tenant),
        )
        cfg = body.configuration
        async with uow as tx:
            conv = st.get_conversation(checked(request, tx), cid(request), newer=True)
            st.set_post_agent(
                tx,
                conv,
                body.id,
                cfg.notify_channel_webhook if cfg else False,
                cfg.maxTotalMinutes if cfg else None,
                cfg.userTimeoutInMinutes if cfg else None,
            )
        return Response(status_code=201)

    async def typing(request: Request) -> Response:
        tenant, uow = await open_tx(request)
        body = await read_json(
            request, m.TypingRequest, style="newer", conversation_id=cid(request), tenant=tenant_id_of(tenant)
        )
        async with uow as tx:
            conv = st.get_conversation(checked(request, tx), cid(request), newer=True)
            who = conv.bot_participant if body.authorType == "bot" else conv.user_participant
            st.client_activity(tx, conv, "typing", {"users": [{"type": str(body.authorType), "id": who}]})
        return Response(status_code=204)

    async def thinking(request: Request) -> Response:
        tenant, uow = await open_tx(request)
        body = await read_json(
            request,
            m.ThinkingRequest,
            style="newer",
            conversation_id=cid(request),
            tenant=tenant_id_of(tenant),
            optional=True,
        )
        async with uow as tx:
            conv = st.get_conversation(checked(request, tx), cid(request), newer=True)
            st.client_activity(tx, conv, "thinking", {"maxThinkingTimeSeconds": body.maxThinkingTimeSeconds})
        return Response(status_code=204)

    async def read_receipt(request: Request) -> Response:
        tenant, uow = await open_tx(request)
        body = await read_json(
            request, m.ReadReceiptRequest, style="newer", conversation_id=cid(request), tenant=tenant_id_of(tenant)
        )
        async with uow as tx:
            state = checked(request, tx)
            conv = st.get_conversation(state, cid(request), newer=True)
            channel = state.channels.get(conv.channelId)
            if body.authorType == "user" and channel is not None and channel.type != "ChatAPI":
                raise errors.invalid_parameter(
                    conv.id, state.tenant_id, "authorType user is only allowed on ChatAPI channels"
                )
            conv.read_at[str(body.authorType)] = body.readAt
            st.client_activity(tx, conv, "read-receipts", {"authorType": str(body.authorType), "readAt": body.readAt})
        return Response(status_code=204)

    async def participants(request: Request) -> Response:
        state = await read(request)
        conv = st.get_conversation(state, cid(request))
        items = [participant_out(p).wire() for p in conv.participants]
        return hal(listing(request, items, "participants"))

    async def user_participant(request: Request) -> Response:
        _, uow = await open_tx(request)
        body = await read_json(request, m.PatchUserParticipantRequest)
        async with uow as tx:
            conv = st.get_conversation(checked(request, tx), cid(request))
            if body.removed:
                st.user_leave(tx, conv)
        return Response(status_code=204)

    async def list_messages(request: Request) -> Response:
        state = await read(request)
        conv = st.get_conversation(state, cid(request))
        items = [message_out(conv, msg).wire() for msg in conv.messages]
        return hal(listing(request, items, "messages", default_sort=DEFAULT_MESSAGE_SORT, links=False))

    async def send_message(request: Request) -> Response:
        _, uow = await open_tx(request)
        body = await read_json(request, m.SendMessageRequest, style="send_message")
        async with uow as tx:
            conv = st.get_conversation(checked(request, tx), cid(request))
            st.post_message(tx, conv, body, echo=echo)
        return Response(status_code=202)

    def find_message(state: st.EightByEightState, conv: st.Conversation, message_id: str) -> st.Message:
        for msg in conv.messages:
            if msg.id == message_id:
                return msg
        raise errors.not_found("Message", message_id, tenant_id=state.tenant_id, customer_id=state.customer_id)

    async def get_message(request: Request) -> Response:
        state = await read(request)
        conv = st.get_conversation(state, cid(request))
        msg = find_message(state, conv, request.path_params["message_id"])
        return hal(message_out(conv, msg))

    async def message_cards(request: Request) -> Response:
        state = await read(request)
        conv = st.get_conversation(state, cid(request))
        msg = find_message(state, conv, request.path_params["message_id"])
        items = [card_out(c).wire() for c in msg.cards]
        return hal(listing(request, items, "cards", default_sort=DEFAULT_MESSAGE_SORT))

    async def list_attachments(request: Request) -> Response:
        state = await read(request)
        conv = st.get_conversation(state, cid(request))
        items = [attachment_out(a).wire() for a in conv.attachments.values()]
        return hal(listing(request, items, "attachments"))

    async def upload_attachment(request: Request) -> Response:
        _, uow = await open_tx(request)
        ctype = request.headers.get("content-type", "")
        if not ctype.lower().startswith("multipart/form-data"):
            raise errors.general_error(
                "unsupported_media_type", f"Content type '{ctype.split(';')[0]}' not supported", status_code=415
            )
        try:
            form = await request.form()
        except Exception:
            raise errors.general_error("invalid_multipart", "The multipart body cannot be read.") from None
        try:  # the form's spooled files are closed whatever happens
            upload = form.get("attachment")
            author = form.get("authorType", "user")
            if upload is None or isinstance(upload, str):
                raise errors.validation_error(
                    "attachment", "null", "invalid_parameter", "attachment: May not be empty."
                )
            if author not in ("user", "bot"):
                raise errors.validation_error(
                    "authorType", str(author), "invalid_parameter", "authorType: must be user or bot"
                )
            content = await upload.read()
            async with uow as tx:
                conv = st.get_conversation(checked(request, tx), cid(request))
                att = st.add_attachment(
                    tx,
                    conv,
                    upload.filename or "attachment",
                    upload.content_type or "application/octet-stream",
                    content,
                    str(author),
                )
        finally:
            await form.close()
        return hal(attachment_out(att))

    def find_attachment(state: st.EightByEightState, conv: st.Conversation, attachment_id: str) -> st.Attachment:
        att = conv.attachments.get(attachment_id)
        if att is None:
            raise errors.not_found(
                "Attachment", attachment_id, tenant_id=state.tenant_id, customer_id=state.customer_id
            )
        return att

    async def get_attachment(request: Request) -> Response:
        state = await read(request)
        conv = st.get_conversation(state, cid(request))
        att = find_attachment(state, conv, request.path_params["attachment_id"])
        return hal(attachment_out(att))

    async def attachment_content(request: Request) -> Response:
        import base64

        state = await read(request)
        conv = st.get_conversation(state, cid(request))
        att = find_attachment(state, conv, request.path_params["attachment_id"])
        disposition = f'attachment; filename="{att.filename.replace(chr(34), "")}"'
        return Response(
            base64.b64decode(att.data),
            media_type="application/octet-stream",
            headers={"content-disposition": disposition},
        )

    def card_action(kind: str) -> Handler:
        async def handler(request: Request) -> Response:
            _, uow = await open_tx(request)
            body = await read_json(request, m.CardActionRequest, optional=True)
            async with uow as tx:
                state = checked(request, tx)
                if request.path_params["tenant_id"] != state.tenant_id:
                    raise errors.tenant_mismatch(state.customer_id)
                # OAS: the card-action 404 is ResourceNotFoundExceptionResponse (the newer shape)
                conv = st.get_conversation(state, cid(request), newer=True)
                data = {"name": body.name} if body.name else {}
                st.card_action(tx, conv, request.path_params["card_id"], kind, data)
            return Response(status_code=204)

        handler.__name__ = "action_submit" if kind == "Action.Submit" else "action_execute"
        return handler

    conv = f"{P}/conversations/{{conversation_id}}"
    table: list[tuple[str, dict[str, Endpoint]]] = [
        (f"{P}/webhooks", {"GET": list_webhooks, "POST": create_webhook}),
        (f"{P}/webhooks/verify", {"POST": verify_webhook}),
        (f"{P}/webhooks/{{webhook_id}}", {"GET": get_webhook, "PUT": put_webhook, "DELETE": delete_webhook}),
        (f"{P}/jwk/{{jwk_id}}/public", {"GET": jwk}),
        (f"{P}/channels", {"GET": list_channels, "POST": create_channel}),
        (f"{P}/channels/{{channel_id}}", {"GET": get_channel, "PUT": put_channel, "DELETE": delete_channel}),
        (f"{P}/conversations", {"GET": list_conversations, "POST": create_conversation}),
        (conv, {"GET": get_conversation, "PUT": change_conversation(True), "PATCH": change_conversation(False)}),
        (f"{conv}/interactions", {"GET": interactions}),
        (f"{conv}/post-agent-assignment", {"POST": post_agent_assignment}),
        (f"{conv}/typing", {"POST": typing}),
        (f"{conv}/thinking", {"POST": thinking}),
        (f"{conv}/read-receipt", {"POST": read_receipt}),
        (f"{conv}/participants", {"GET": participants}),
        (f"{conv}/participants/user", {"PATCH": user_participant}),
        (f"{conv}/messages", {"GET": list_messages, "POST": send_message}),
        (f"{conv}/messages/{{message_id}}", {"GET": get_message}),
        (f"{conv}/messages/{{message_id}}/cards", {"GET": message_cards}),
        (f"{conv}/attachments", {"GET": list_attachments, "POST": upload_attachment}),
        (f"{conv}/attachments/{{attachment_id}}", {"GET": get_attachment}),
        (f"{conv}/attachments/{{attachment_id}}/content", {"GET": attachment_content}),
        (
            f"{CARD_ACTION_PREFIX}/{{tenant_id}}/conversations/{{conversation_id}}/cards/{{card_id}}/action-submit",
            {"PUT": card_action("Action.Submit")},
        ),
        (
            f"{CARD_ACTION_PREFIX}/{{tenant_id}}/conversations/{{conversation_id}}/cards/{{card_id}}/action-execute",
            {"PUT": card_action("Action.Execute")},
        ),
    ]
    return [route(path, handlers, wrap=wrap) for path, handlers in table]
