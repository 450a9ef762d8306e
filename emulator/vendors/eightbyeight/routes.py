"""8x8 Chat Gateway v1 at its real paths (eightbyeight.md §1.3). Handlers are thin: parse, state, serialise.

Status codes follow 8x8: 202 for create/send/PUT/PATCH of conversations, 200 for webhook and channel
create, 204 for deletes/typing/thinking/read-receipt/verify/user leave, 201 for post-agent-assignment.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from emulator.core.plugin import Endpoint, VendorPlugin, route, vendor_endpoint
from emulator.core.runtime import Emulator
from emulator.core.store import Tx
from emulator.vendors.eightbyeight import assignment as asg
from emulator.vendors.eightbyeight import errors
from emulator.vendors.eightbyeight import models as m
from emulator.vendors.eightbyeight import results as r
from emulator.vendors.eightbyeight import state as st
from emulator.vendors.eightbyeight import views as v
from emulator.vendors.eightbyeight.constants import (
    API_PREFIX,
    CARD_ACTION_PREFIX,
    DEFAULT_MESSAGE_SORT,
    SLUG,
)
from emulator.vendors.eightbyeight.delivery import signer_for
from emulator.vendors.eightbyeight.http import Gate, hal, read_json, when

P = API_PREFIX
Handler = Callable[[Request], Awaitable[Response]]
M = TypeVar("M", bound=BaseModel)


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

    def authenticate(request: Request) -> str:
        """The tenant of the key, `X-8x8-Tenant` checked before any body is read (as 8x8 does)."""
        tenant = tenant_of(request)
        known = store.peek(SLUG, tenant)
        if isinstance(known, st.EightByEightState):
            gate.check_tenant_header(request, known.tenant_id, known.customer_id)
        return tenant

    @asynccontextmanager
    async def unit(request: Request, tenant: str | None = None) -> AsyncIterator[Tx[st.EightByEightState]]:
        """The tenant's unit of work for a request that changes state (authenticated unless `tenant` is given)."""
        async with store.tenant(SLUG, tenant or authenticate(request)) as tx:
            checked(request, tx)
            yield tx

    @asynccontextmanager
    async def session(
        request: Request,
        model: type[M],
        *,
        newer: bool = False,
        style: errors.ValidationStyle = "general",
        optional: bool = False,
        context: dict[str, Any] | None = None,
    ) -> AsyncIterator[tuple[Tx[st.EightByEightState], M]]:
        """Key and tenant header first, then the body (in the endpoint's 400 shape; `newer` endpoints name the
        conversation and tenant), then the unit of work."""
        tenant = authenticate(request)
        if newer:
            body = await read_json(
                request, model, style="newer", conversation_id=cid(request), tenant=tenant_id_of(tenant),
                optional=optional,
            )  # fmt: skip
        else:
            body = await read_json(request, model, style=style, optional=optional, context=context)
        async with unit(request, tenant) as tx:
            yield tx, body

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
        items = [v.webhook_out(h).wire() for h in state.webhooks.values()]
        return hal(v.listing(request, items, "webhooks"))

    async def create_webhook(request: Request) -> Response:
        async with session(request, m.WebhookRequest) as (tx, body):
            hook = st.create_webhook(tx, body.name, body.uri, str(body.effective_version))
            st.verify_webhook(tx, hook.uri, hook.version)
        return hal(v.webhook_out(hook))

    async def get_webhook(request: Request) -> Response:
        state = await read(request)
        return hal(v.webhook_out(st.get_webhook(state, request.path_params["webhook_id"])))

    async def put_webhook(request: Request) -> Response:
        async with session(request, m.WebhookRequest) as (tx, body):
            version = str(body.effective_version)
            hook = st.replace_webhook(tx, request.path_params["webhook_id"], body.name, body.uri, version)
        return hal(v.webhook_out(hook))

    async def delete_webhook(request: Request) -> Response:
        async with unit(request) as tx:
            st.delete_webhook(tx, request.path_params["webhook_id"])
        return Response(status_code=204)

    async def verify_webhook(request: Request) -> Response:
        async with session(request, m.WebhookVerifyRequest) as (tx, body):
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
        items = [v.channel_out(c).wire() for c in state.channels.values()]
        return hal(v.listing(request, items, "channels"))

    async def create_channel(request: Request) -> Response:
        async with session(request, m.ChannelRequest) as (tx, body):
            kind = str(body.type or "ChatAPI")
            ch = st.create_channel(tx, body.name, kind, body.webHookId, body.routingOptions.id)
        return hal(v.channel_out(ch))

    async def get_channel(request: Request) -> Response:
        state = await read(request)
        return hal(v.channel_out(st.get_channel(state, request.path_params["channel_id"])))

    async def put_channel(request: Request) -> Response:
        async with session(request, m.ChannelRequest) as (tx, body):
            channel_id = request.path_params["channel_id"]
            ch = st.replace_channel(tx, channel_id, body.name, body.webHookId, body.routingOptions.id)
        return hal(v.channel_out(ch))

    async def delete_channel(request: Request) -> Response:
        async with unit(request) as tx:
            st.delete_channel(tx, request.path_params["channel_id"])
        return Response(status_code=204)

    # -- conversations ---------------------------------------------------------------------------------

    async def list_conversations(request: Request) -> Response:
        state = await read(request)
        items = [v.conversation_out(c) for c in state.conversations.values()]
        return hal(v.listing(request, items, "conversations"))

    async def create_conversation(request: Request) -> Response:
        async with session(request, m.CreateConversationRequest, context=user_rules) as (tx, body):
            assignment = body.assignment or m.Assignment()
            history = body.history.messages if body.history else []
            kind = str(assignment.type)
            conv = st.create_conversation(tx, body.channelId, body.user, kind, assignment.id, history)
        return hal(r.CreateConversationResponse(conversationId=conv.id, createdAt=when(conv.created)), 202)

    async def get_conversation(request: Request) -> Response:
        state = await read(request)
        return hal(v.conversation_out(st.get_conversation(state, cid(request))))

    def change_conversation(replace: bool) -> Handler:
        model: type[m.UpdateConversationRequest | m.PatchConversationRequest] = (
            m.UpdateConversationRequest if replace else m.PatchConversationRequest
        )

        async def handler(request: Request) -> Response:
            async with session(request, model, context=user_rules) as (tx, body):
                conv = st.get_conversation(tx.state, cid(request))
                st.update_conversation(
                    tx,
                    conv,
                    channel_id=body.channelId if isinstance(body, m.UpdateConversationRequest) else None,
                    user=body.user,
                    assignment_type=str(body.assignment.type) if body.assignment else None,
                    assignment_id=body.assignment.id if body.assignment else None,
                    replace=replace,
                )
            return hal(v.conversation_out(conv), 202)

        handler.__name__ = "put_conversation" if replace else "patch_conversation"
        return handler

    async def interactions(request: Request) -> Response:
        conv = st.get_conversation(await read(request), cid(request))
        items = [v.interaction_out(i).wire() for i in conv.interactions]
        return hal(v.listing(request, items, "interactions"))

    async def post_agent_assignment(request: Request) -> Response:
        async with session(request, m.PostAgentAssignmentRequest, newer=True) as (tx, body):
            conv = st.get_conversation(tx.state, cid(request), newer=True)
            cfg = body.configuration
            notify = cfg.notify_channel_webhook if cfg else False
            max_total, timeout = (cfg.maxTotalMinutes, cfg.userTimeoutInMinutes) if cfg else (None, None)
            asg.set_post_agent(tx, conv, body.id, notify, max_total, timeout)
        return Response(status_code=201)

    async def typing(request: Request) -> Response:
        async with session(request, m.TypingRequest, newer=True) as (tx, body):
            conv = st.get_conversation(tx.state, cid(request), newer=True)
            who = conv.bot_participant if body.authorType == "bot" else conv.user_participant
            st.client_activity(tx, conv, "typing", {"users": [{"type": str(body.authorType), "id": who}]})
        return Response(status_code=204)

    async def thinking(request: Request) -> Response:
        async with session(request, m.ThinkingRequest, newer=True, optional=True) as (tx, body):
            conv = st.get_conversation(tx.state, cid(request), newer=True)
            st.client_activity(tx, conv, "thinking", {"maxThinkingTimeSeconds": body.maxThinkingTimeSeconds})
        return Response(status_code=204)

    async def read_receipt(request: Request) -> Response:
        async with session(request, m.ReadReceiptRequest, newer=True) as (tx, body):
            conv = st.get_conversation(tx.state, cid(request), newer=True)
            st.read_receipt(tx, conv, str(body.authorType), body.readAt)
        return Response(status_code=204)

    async def participants(request: Request) -> Response:
        conv = st.get_conversation(await read(request), cid(request))
        items = [v.participant_out(p).wire() for p in conv.participants]
        return hal(v.listing(request, items, "participants"))

    async def user_participant(request: Request) -> Response:
        async with session(request, m.PatchUserParticipantRequest) as (tx, body):
            conv = st.get_conversation(tx.state, cid(request))
            if body.removed:
                asg.user_leave(tx, conv)
        return Response(status_code=204)

    async def list_messages(request: Request) -> Response:
        conv = st.get_conversation(await read(request), cid(request))
        items = [v.message_out(conv, msg).wire() for msg in conv.messages]
        return hal(v.listing(request, items, "messages", default_sort=DEFAULT_MESSAGE_SORT, links=False))

    async def send_message(request: Request) -> Response:
        async with session(request, m.SendMessageRequest, style="send_message") as (tx, body):
            st.post_message(tx, st.get_conversation(tx.state, cid(request)), body, echo=echo)
        return Response(status_code=202)

    async def get_message(request: Request) -> Response:
        state = await read(request)
        conv = st.get_conversation(state, cid(request))
        return hal(v.message_out(conv, st.get_message(state, conv, request.path_params["message_id"])))

    async def message_cards(request: Request) -> Response:
        state = await read(request)
        msg = st.get_message(state, st.get_conversation(state, cid(request)), request.path_params["message_id"])
        items = [v.card_out(c).wire() for c in msg.cards]
        return hal(v.listing(request, items, "cards", default_sort=DEFAULT_MESSAGE_SORT))

    async def list_attachments(request: Request) -> Response:
        conv = st.get_conversation(await read(request), cid(request))
        items = [v.attachment_out(a).wire() for a in conv.attachments.values()]
        return hal(v.listing(request, items, "attachments"))

    async def upload_attachment(request: Request) -> Response:
        tenant = authenticate(request)
        ctype = request.headers.get("content-type", "")
        if not ctype.lower().startswith("multipart/form-data"):
            raise errors.unsupported_media_type(ctype.split(";")[0])
        try:
            form = await request.form()
        except Exception:
            raise errors.general_error(errors.CODE_INVALID_MULTIPART, errors.INVALID_MULTIPART) from None
        try:  # the form's spooled files are closed whatever happens
            upload = form.get("attachment")
            author = form.get("authorType", "user")
            if upload is None or isinstance(upload, str):
                raise errors.validation_error(
                    "attachment",
                    "null",
                    errors.CODE_INVALID_PARAMETER,
                    errors.MAY_NOT_BE_EMPTY.format(field="attachment"),
                )
            if author not in ("user", "bot"):
                raise errors.validation_error(
                    "authorType", str(author), errors.CODE_INVALID_PARAMETER, errors.UPLOAD_AUTHOR_TYPE
                )
            content = await upload.read()
            name, media = upload.filename or "attachment", upload.content_type or "application/octet-stream"
            async with unit(request, tenant) as tx:
                conv = st.get_conversation(tx.state, cid(request))
                att = st.add_attachment(tx, conv, name, media, content, str(author))
        finally:
            await form.close()
        return hal(v.attachment_out(att))

    async def get_attachment(request: Request) -> Response:
        state = await read(request)
        conv = st.get_conversation(state, cid(request))
        return hal(v.attachment_out(st.get_attachment(state, conv, request.path_params["attachment_id"])))

    async def attachment_content(request: Request) -> Response:
        state = await read(request)
        conv = st.get_conversation(state, cid(request))
        att = st.get_attachment(state, conv, request.path_params["attachment_id"])
        disposition = f'attachment; filename="{att.filename.replace(chr(34), "")}"'
        return Response(
            base64.b64decode(att.data),
            media_type="application/octet-stream",
            headers={"content-disposition": disposition},
        )

    def card_action(kind: str) -> Handler:
        async def handler(request: Request) -> Response:
            async with session(request, m.CardActionRequest, optional=True) as (tx, body):
                if request.path_params["tenant_id"] != tx.state.tenant_id:
                    raise errors.tenant_mismatch(tx.state.customer_id)
                # OAS: the card-action 404 is ResourceNotFoundExceptionResponse (the newer shape)
                conv = st.get_conversation(tx.state, cid(request), newer=True)
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
