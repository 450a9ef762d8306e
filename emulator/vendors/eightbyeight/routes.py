"""8x8 Chat Gateway v1 at its real paths (eightbyeight.md §1.3), each operation declared once on its handler
(`API.op`): the routes and `contracts/eightbyeight.openapi.yaml` both come from these declarations. Handlers are
thin: parse, state, serialise (`http.Ctx` does the key, the tenant header, the body and the unit of work).

Status codes follow 8x8: 202 for create/send/PUT/PATCH of conversations, 200 for webhook and channel
create, 204 for deletes/typing/thinking/read-receipt/verify/user leave, 201 for post-agent-assignment.
The benchmark paths (GET a conversation, POST a message) build their bodies as plain dicts (`views.py`).
"""

from __future__ import annotations

import base64

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from emulator.core.api import bind
from emulator.core.contracts import Body, Reply
from emulator.core.limits import BodyTooLarge
from emulator.core.runtime import Emulator
from emulator.core.web import EmptyResponse
from emulator.vendors.eightbyeight import analytics, errors, schedules  # (analytics imports oauth)
from emulator.vendors.eightbyeight import assignment as asg
from emulator.vendors.eightbyeight import channels as chan
from emulator.vendors.eightbyeight import models as m
from emulator.vendors.eightbyeight import models_replies as r
from emulator.vendors.eightbyeight import state as st
from emulator.vendors.eightbyeight import views as v
from emulator.vendors.eightbyeight.constants import API_PREFIX, DEFAULT_MESSAGE_SORT
from emulator.vendors.eightbyeight.delivery import signer_for
from emulator.vendors.eightbyeight.http import Ctx, cid, hal
from emulator.vendors.eightbyeight.models_replies import EntityNotFoundProblem, GenericProblem
from emulator.vendors.eightbyeight.operations import (
    API,
    ATTACHMENT_ID,
    AUTH,
    CARD_ACTION,
    CARD_ID,
    CHANNEL_ID,
    CONV,
    CONV_PARAMS,
    CONVERSATION_ID,
    CREATE_CHANNEL,
    DATED_LIST,
    DOWNLOAD,
    JSON_IN,
    JWK_ID,
    LIST,
    MESSAGE_ID,
    NEWER_IN,
    NO_CONTENT,
    R400,
    R400_SEND,
    R404,
    R404_NEWER,
    R415,
    R500,
    SEND_MESSAGE,
    TENANT,
    TENANT_ID,
    UPLOAD,
    WEBHOOK_ID,
    ok,
    problem,
    replies,
)

__all__ = ["API", "routes"]  # API: every operation declared below and in the companion modules

P = API_PREFIX
WEBHOOK = f"{P}/webhooks/{{webhookId}}"
CHANNEL = f"{P}/channels/{{channelId}}"
ATTACHMENT = f"{CONV}/attachments/{{attachmentId}}"
MESSAGE = f"{CONV}/messages/{{messageId}}"


def routes(emu: Emulator) -> list[BaseRoute]:
    """The declared operations bound to this server (`create_app` wraps each in `vendor_endpoint`), with the
    companion APIs (`oauth.py`, `analytics.py`, `schedules.py`) and their undeclared aliases."""
    ctx = Ctx(emu)
    aliases = [Route(path, bind(handler, ctx), methods=["GET"]) for path, handler in schedules.ALIASES]
    return [*API.routes(ctx), *aliases, *analytics.regional_routes(ctx)]


# -- webhooks (§1.3) ---------------------------------------------------------------------------------------


@API.op(
    "GET", f"{P}/webhooks", "listWebhooks", "List webhooks",
    replies({200: ok("a page of webhooks", r.WebhookList)}, (400, R400)), tags=("WebHooks",), params=LIST,
    security=AUTH,
)  # fmt: skip
async def list_webhooks(ctx: Ctx, request: Request) -> Response:
    state = await ctx.read(request)
    items = [v.webhook_out(h).wire() for h in state.webhooks.values()]
    return hal(v.listing(request, items, "webhooks"))


@API.op(
    "POST", f"{P}/webhooks", "createWebhook", "Create a webhook (sends WEB_HOOK_VERIFY to it)",
    replies({200: ok("the webhook", r.WebhookResult)}, *JSON_IN), tags=("WebHooks",), params=(TENANT,),
    body=Body(m.WebhookRequest), security=AUTH,
)  # fmt: skip
async def create_webhook(ctx: Ctx, request: Request) -> Response:
    async with ctx.session(request, m.WebhookRequest) as (tx, body):
        hook = chan.create_webhook(tx, body.name, body.uri, str(body.effective_version))
        chan.verify_webhook(tx, hook.uri, hook.version)
    return hal(v.webhook_out(hook))


@API.op(
    "POST", f"{P}/webhooks/verify", "verifyWebhook", "Send WEB_HOOK_VERIFY to a URI",
    replies({204: NO_CONTENT}, *JSON_IN), tags=("WebHooks",), params=(TENANT,), body=Body(m.WebhookVerifyRequest),
    security=AUTH,
)  # fmt: skip
async def verify_webhook(ctx: Ctx, request: Request) -> Response:
    async with ctx.session(request, m.WebhookVerifyRequest) as (tx, body):
        chan.verify_webhook(tx, body.uri, body.version)
    return EmptyResponse(204)


@API.op(
    "GET", WEBHOOK, "getWebhook", "Get a webhook",
    replies({200: ok("the webhook", r.WebhookResult)}, (404, R404)), tags=("WebHooks",), params=(WEBHOOK_ID, TENANT),
    security=AUTH,
)  # fmt: skip
async def get_webhook(ctx: Ctx, request: Request) -> Response:
    state = await ctx.read(request)
    return hal(v.webhook_out(chan.get_webhook(state, request.path_params["webhookId"])))


@API.op(
    "PUT", WEBHOOK, "replaceWebhook", "Replace a webhook",
    replies({200: ok("the webhook", r.WebhookResult)}, *JSON_IN, (404, R404)), tags=("WebHooks",),
    params=(WEBHOOK_ID, TENANT), body=Body(m.WebhookRequest), security=AUTH,
)  # fmt: skip
async def put_webhook(ctx: Ctx, request: Request) -> Response:
    async with ctx.session(request, m.WebhookRequest) as (tx, body):
        version = str(body.effective_version)
        hook = chan.replace_webhook(tx, request.path_params["webhookId"], body.name, body.uri, version)
    return hal(v.webhook_out(hook))


@API.op(
    "DELETE", WEBHOOK, "deleteWebhook", "Delete a webhook no channel uses",
    replies({204: NO_CONTENT}, (400, problem("a channel uses the webhook", GenericProblem)), (404, R404)),
    tags=("WebHooks",), params=(WEBHOOK_ID, TENANT), security=AUTH,
)  # fmt: skip
async def delete_webhook(ctx: Ctx, request: Request) -> Response:
    async with ctx.unit(request) as tx:
        chan.delete_webhook(tx, request.path_params["webhookId"])
    return EmptyResponse(204)


@API.op(
    "GET", f"{P}/jwk/{{jwkId}}/public", "getJwk", "The public key that signs webhooks (no auth)",
    {200: Reply("an RSA JWK", r.Jwk, "application/json"), 404: R404, 500: R500},
    tags=("JwkKeys",), params=(JWK_ID,), security=[],
)  # fmt: skip
async def jwk(ctx: Ctx, request: Request) -> Response:
    signer = signer_for(ctx.emu)
    if request.path_params["jwkId"] != signer.kid:
        raise errors.not_found("Jwk", request.path_params["jwkId"])
    return JSONResponse(signer.jwk())  # OAS: application/json here, not hal+json


# -- channels (§1.3, §1.4: only ChatAPI channels can be created) -------------------------------------------


@API.op(
    "GET", f"{P}/channels", "listChannels", "List channels",
    replies({200: ok("a page of channels", r.ChannelList)}, (400, R400)), tags=("Channels",), params=LIST,
    security=AUTH,
)  # fmt: skip
async def list_channels(ctx: Ctx, request: Request) -> Response:
    state = await ctx.read(request)
    items = [v.channel_out(c).wire() for c in state.channels.values()]
    return hal(v.listing(request, items, "channels"))


@API.op(
    "POST", f"{P}/channels", "createChannel", "Create a ChatAPI channel",
    replies({200: ok("the channel", r.ChannelResult)}, *JSON_IN), tags=("Channels",), params=(TENANT,),
    body=CREATE_CHANNEL, security=AUTH,
)  # fmt: skip
async def create_channel(ctx: Ctx, request: Request) -> Response:
    async with ctx.session(request, m.ChannelRequest) as (tx, body):
        kind = str(body.type or "ChatAPI")
        ch = chan.create_channel(tx, body.name, kind, body.webHookId, body.routingOptions.id)
    return hal(v.channel_out(ch))


@API.op(
    "GET", CHANNEL, "getChannel", "Get a channel",
    replies({200: ok("the channel", r.ChannelResult)}, (404, R404)), tags=("Channels",), params=(CHANNEL_ID, TENANT),
    security=AUTH,
)  # fmt: skip
async def get_channel(ctx: Ctx, request: Request) -> Response:
    state = await ctx.read(request)
    return hal(v.channel_out(chan.get_channel(state, request.path_params["channelId"])))


@API.op(
    "PUT", CHANNEL, "replaceChannel", "Replace a channel",
    replies({200: ok("the channel", r.ChannelResult)}, *JSON_IN, (404, R404)), tags=("Channels",),
    params=(CHANNEL_ID, TENANT), body=Body(m.ChannelRequest), security=AUTH,
)  # fmt: skip
async def put_channel(ctx: Ctx, request: Request) -> Response:
    async with ctx.session(request, m.ChannelRequest) as (tx, body):
        channel_id = request.path_params["channelId"]
        ch = chan.replace_channel(tx, channel_id, body.name, body.webHookId, body.routingOptions.id)
    return hal(v.channel_out(ch))


@API.op(
    "DELETE", CHANNEL, "deleteChannel", "Delete a channel",
    replies({204: NO_CONTENT}, (404, R404)), tags=("Channels",), params=(CHANNEL_ID, TENANT), security=AUTH,
)  # fmt: skip
async def delete_channel(ctx: Ctx, request: Request) -> Response:
    async with ctx.unit(request) as tx:
        chan.delete_channel(tx, request.path_params["channelId"])
    return EmptyResponse(204)


# -- conversations (§1.3, §1.4, §1.7) ----------------------------------------------------------------------


@API.op(
    "GET", f"{P}/conversations", "listConversations", "List conversations",
    replies({200: ok("a page of conversations", r.ConversationList)}, (400, R400)), tags=("Conversations",),
    params=LIST, security=AUTH,
)  # fmt: skip
async def list_conversations(ctx: Ctx, request: Request) -> Response:
    state = await ctx.read(request)
    items = [v.conversation_out(c) for c in state.conversations.values()]
    return hal(v.listing(request, items, "conversations"))


@API.op(
    "POST", f"{P}/conversations", "createConversation", "Create a conversation; its interaction starts asynchronously",
    replies({202: ok("the new conversation's id", r.CreateConversationResponse)}, *JSON_IN), tags=("Conversations",),
    params=(TENANT,), body=Body(m.CreateConversationRequest), security=AUTH,
)  # fmt: skip
async def create_conversation(ctx: Ctx, request: Request) -> Response:
    async with ctx.session(request, m.CreateConversationRequest, context=ctx.user_rules) as (tx, body):
        assignment = body.assignment or m.Assignment()
        history = body.history.messages if body.history else []
        kind = str(assignment.type)
        conv = st.create_conversation(tx, body.channelId, body.user, kind, assignment.id, history)
    return hal(r.CreateConversationResponse(conversationId=conv.id, createdAt=v.when(conv.created)), 202)


@API.op(
    "GET", CONV, "getConversation", "Get a conversation",
    replies({200: ok("the conversation", r.ConversationResult)}, (404, R404)), tags=("Conversations",),
    params=CONV_PARAMS, security=AUTH,
)  # fmt: skip
async def get_conversation(ctx: Ctx, request: Request) -> Response:
    state = ctx.view(request)
    return hal(v.conversation_out(st.get_conversation(state, cid(request))))


async def _change(
    ctx: Ctx, request: Request, model: type[m.UpdateConversationRequest | m.PatchConversationRequest], replace: bool
) -> Response:
    async with ctx.session(request, model, context=ctx.user_rules) as (tx, body):
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


@API.op(
    "PUT", CONV, "replaceConversation", "Update channel, user and assignment",
    replies({202: ok("the conversation", r.ConversationResult)}, *JSON_IN, (404, R404)), tags=("Conversations",),
    params=CONV_PARAMS, body=Body(m.UpdateConversationRequest), security=AUTH,
)  # fmt: skip
async def put_conversation(ctx: Ctx, request: Request) -> Response:
    return await _change(ctx, request, m.UpdateConversationRequest, True)


@API.op(
    "PATCH", CONV, "patchConversation", "Update user and/or assignment",
    replies({202: ok("the conversation", r.ConversationResult)}, *JSON_IN, (404, R404)), tags=("Conversations",),
    params=CONV_PARAMS, body=Body(m.PatchConversationRequest), security=AUTH,
)  # fmt: skip
async def patch_conversation(ctx: Ctx, request: Request) -> Response:
    return await _change(ctx, request, m.PatchConversationRequest, False)


@API.op(
    "GET", f"{CONV}/interactions", "listInteractions", "The conversation's Contact Center interactions",
    replies({200: ok("a page of interactions", r.InteractionList)}, (400, R400), (404, R404)),
    tags=("Conversations",), params=(CONVERSATION_ID, *LIST), security=AUTH,
)  # fmt: skip
async def interactions(ctx: Ctx, request: Request) -> Response:
    conv = st.get_conversation(await ctx.read(request), cid(request))
    items = [v.interaction_out(i).wire() for i in conv.interactions]
    return hal(v.listing(request, items, "interactions"))


@API.op(
    "POST", f"{CONV}/post-agent-assignment", "createPostAgentAssignment",
    "Hand the conversation to a webhook after the agent", replies({201: NO_CONTENT}, *NEWER_IN, (404, R404_NEWER)),
    tags=("Conversations",), params=CONV_PARAMS, body=Body(m.PostAgentAssignmentRequest), security=AUTH,
)  # fmt: skip
async def post_agent_assignment(ctx: Ctx, request: Request) -> Response:
    async with ctx.session(request, m.PostAgentAssignmentRequest, newer=True) as (tx, body):
        conv = st.get_conversation(tx.state, cid(request), newer=True)
        cfg = body.configuration
        notify = cfg.notify_channel_webhook if cfg else False
        max_total, timeout = (cfg.maxTotalMinutes, cfg.userTimeoutInMinutes) if cfg else (None, None)
        asg.set_post_agent(tx, conv, body.id, notify, max_total, timeout)
    return Response(status_code=201)


@API.op(
    "POST", f"{CONV}/typing", "sendTyping", "Show a typing indicator to the agent",
    replies({204: NO_CONTENT}, *NEWER_IN, (404, R404_NEWER)), tags=("Conversations",), params=CONV_PARAMS,
    body=Body(m.TypingRequest), security=AUTH,
)  # fmt: skip
async def typing(ctx: Ctx, request: Request) -> Response:
    async with ctx.session(request, m.TypingRequest, newer=True) as (tx, body):
        conv = st.get_conversation(tx.state, cid(request), newer=True)
        who = conv.bot_participant if body.authorType == "bot" else conv.user_participant
        st.client_activity(tx, conv, "typing", {"users": [{"type": str(body.authorType), "id": who}]})
    return EmptyResponse(204)


@API.op(
    "POST", f"{CONV}/thinking", "sendThinking", "Show a thinking indicator (the body is optional)",
    replies({204: NO_CONTENT}, *NEWER_IN, (404, R404_NEWER)), tags=("Conversations",), params=CONV_PARAMS,
    body=Body(m.ThinkingRequest, required=False), security=AUTH,
)  # fmt: skip
async def thinking(ctx: Ctx, request: Request) -> Response:
    async with ctx.session(request, m.ThinkingRequest, newer=True, optional=True) as (tx, body):
        conv = st.get_conversation(tx.state, cid(request), newer=True)
        st.client_activity(tx, conv, "thinking", {"maxThinkingTimeSeconds": body.maxThinkingTimeSeconds})
    return EmptyResponse(204)


@API.op(
    "POST", f"{CONV}/read-receipt", "sendReadReceipt", "Mark messages read up to `readAt`",
    replies({204: NO_CONTENT}, *NEWER_IN, (404, R404_NEWER)), tags=("Conversations",), params=CONV_PARAMS,
    body=Body(m.ReadReceiptRequest), security=AUTH,
)  # fmt: skip
async def read_receipt(ctx: Ctx, request: Request) -> Response:
    async with ctx.session(request, m.ReadReceiptRequest, newer=True) as (tx, body):
        conv = st.get_conversation(tx.state, cid(request), newer=True)
        st.read_receipt(tx, conv, str(body.authorType), body.readAt)
    return EmptyResponse(204)


# -- participants ------------------------------------------------------------------------------------------


@API.op(
    "GET", f"{CONV}/participants", "listParticipants", "Everyone who ever joined the conversation",
    replies({200: ok("a page of participants", r.ParticipantList)}, (400, R400), (404, R404)),
    tags=("Participants",), params=(CONVERSATION_ID, *LIST), security=AUTH,
)  # fmt: skip
async def participants(ctx: Ctx, request: Request) -> Response:
    conv = st.get_conversation(await ctx.read(request), cid(request))
    items = [v.participant_out(p).wire() for p in conv.participants]
    return hal(v.listing(request, items, "participants"))


@API.op(
    "PATCH", f"{CONV}/participants/user", "userLeaves",
    '`{"removed": true}`: the user leaves and the interaction ends (§1.7 row 10)',
    replies({204: NO_CONTENT}, *JSON_IN, (404, R404)), tags=("Participants",), params=CONV_PARAMS,
    body=Body(m.PatchUserParticipantRequest), security=AUTH,
)  # fmt: skip
async def user_participant(ctx: Ctx, request: Request) -> Response:
    async with ctx.session(request, m.PatchUserParticipantRequest) as (tx, body):
        conv = st.get_conversation(tx.state, cid(request))
        if body.removed:
            asg.user_leave(tx, conv)
    return EmptyResponse(204)


# -- messages ----------------------------------------------------------------------------------------------


@API.op(
    "GET", f"{CONV}/messages", "listMessages", "The conversation's messages (no `_links`)",
    replies({200: ok("a page of messages", r.MessageList)}, (400, R400), (404, R404)), tags=("Messages",),
    params=(CONVERSATION_ID, *DATED_LIST), security=AUTH,
)  # fmt: skip
async def list_messages(ctx: Ctx, request: Request) -> Response:
    conv = st.get_conversation(await ctx.read(request), cid(request))
    items = [v.message_out(conv, msg).wire() for msg in conv.messages]
    return hal(v.listing(request, items, "messages", default_sort=DEFAULT_MESSAGE_SORT, links=False))


@API.op(
    "POST", f"{CONV}/messages", "sendMessage", "Post a message; 202 without a body (§1.4)",
    replies({202: Reply("accepted; no body, no message id")}, (400, R400_SEND), (415, R415), (404, R404)),
    tags=("Messages",), params=CONV_PARAMS, body=SEND_MESSAGE, security=AUTH,
)  # fmt: skip
async def send_message(ctx: Ctx, request: Request) -> Response:
    async with ctx.session(request, m.SendMessageRequest, style="send_message") as (tx, body):
        st.post_message(tx, st.get_conversation(tx.state, cid(request)), body, echo=ctx.echo)
    return EmptyResponse(202)


@API.op(
    "GET", MESSAGE, "getMessage", "Get a message",
    replies({200: ok("the message", r.MessageResult)}, (404, R404)), tags=("Messages",),
    params=(CONVERSATION_ID, MESSAGE_ID, TENANT), security=AUTH,
)  # fmt: skip
async def get_message(ctx: Ctx, request: Request) -> Response:
    state = await ctx.read(request)
    conv = st.get_conversation(state, cid(request))
    return hal(v.message_out(conv, st.get_message(state, conv, request.path_params["messageId"])))


@API.op(
    "GET", f"{MESSAGE}/cards", "listMessageCards", "A message's cards",
    replies({200: ok("a page of cards", r.CardList)}, (400, R400), (404, R404)), tags=("Cards",),
    params=(CONVERSATION_ID, MESSAGE_ID, *DATED_LIST), security=AUTH,
)  # fmt: skip
async def message_cards(ctx: Ctx, request: Request) -> Response:
    state = await ctx.read(request)
    msg = st.get_message(state, st.get_conversation(state, cid(request)), request.path_params["messageId"])
    items = [v.card_out(c).wire() for c in msg.cards]
    return hal(v.listing(request, items, "cards", default_sort=DEFAULT_MESSAGE_SORT))


# -- attachments -------------------------------------------------------------------------------------------


@API.op(
    "GET", f"{CONV}/attachments", "listAttachments", "The conversation's attachments",
    replies({200: ok("a page of attachments", r.AttachmentList)}, (400, R400), (404, R404)), tags=("Attachments",),
    params=(CONVERSATION_ID, *LIST), security=AUTH,
)  # fmt: skip
async def list_attachments(ctx: Ctx, request: Request) -> Response:
    conv = st.get_conversation(await ctx.read(request), cid(request))
    items = [v.attachment_out(a).wire() for a in conv.attachments.values()]
    return hal(v.listing(request, items, "attachments"))


@API.op(
    "POST", f"{CONV}/attachments", "uploadAttachment", "Upload a file to reference from a message",
    replies({200: ok("the attachment", r.AttachmentResult)}, (400, R400), (415, R415), (404, R404)),
    tags=("Attachments",), params=CONV_PARAMS, body=UPLOAD, security=AUTH,
)  # fmt: skip
async def upload_attachment(ctx: Ctx, request: Request) -> Response:
    tenant = ctx.authenticate(request)
    ctype = request.headers.get("content-type", "")
    if not ctype.lower().startswith("multipart/form-data"):
        raise errors.unsupported_media_type(ctype.split(";")[0])
    try:
        form = await request.form()
    except BodyTooLarge:
        raise
    except Exception:
        raise errors.general_error(errors.CODE_INVALID_MULTIPART, errors.INVALID_MULTIPART) from None
    try:  # the form's spooled files are closed whatever happens
        upload = form.get("attachment")
        author = form.get("authorType", "user")
        if upload is None or isinstance(upload, str):
            text = errors.MAY_NOT_BE_EMPTY.format(field="attachment")
            raise errors.validation_error("attachment", "null", errors.CODE_INVALID_PARAMETER, text)
        if author not in ("user", "bot"):
            text = errors.UPLOAD_AUTHOR_TYPE
            raise errors.validation_error("authorType", str(author), errors.CODE_INVALID_PARAMETER, text)
        content = await upload.read()
        name, media = upload.filename or "attachment", upload.content_type or "application/octet-stream"
        async with ctx.unit(request, tenant) as tx:
            conv = st.get_conversation(tx.state, cid(request))
            att = st.add_attachment(tx, conv, name, media, content, str(author))
    finally:
        await form.close()
    return hal(v.attachment_out(att))


@API.op(
    "GET", ATTACHMENT, "getAttachment", "Get an attachment's details",
    replies({200: ok("the attachment", r.AttachmentResult)}, (404, R404)), tags=("Attachments",),
    params=(CONVERSATION_ID, ATTACHMENT_ID, TENANT), security=AUTH,
)  # fmt: skip
async def get_attachment(ctx: Ctx, request: Request) -> Response:
    state = await ctx.read(request)
    conv = st.get_conversation(state, cid(request))
    return hal(v.attachment_out(st.get_attachment(state, conv, request.path_params["attachmentId"])))


@API.op(
    "GET", f"{ATTACHMENT}/content", "downloadAttachment", "Download an attachment",
    replies({200: DOWNLOAD}, (404, R404)), tags=("Attachments",), params=(CONVERSATION_ID, ATTACHMENT_ID, TENANT),
    security=AUTH,
)  # fmt: skip
async def attachment_content(ctx: Ctx, request: Request) -> Response:
    state = await ctx.read(request)
    conv = st.get_conversation(state, cid(request))
    att = st.get_attachment(state, conv, request.path_params["attachmentId"])
    disposition = f'attachment; filename="{att.filename.replace(chr(34), "")}"'
    return Response(
        base64.b64decode(att.data), media_type="application/octet-stream", headers={"content-disposition": disposition}
    )


# -- card actions: a different path prefix (§1.3) ----------------------------------------------------------


async def _card_action(ctx: Ctx, request: Request, kind: str) -> Response:
    async with ctx.session(request, m.CardActionRequest, optional=True) as (tx, body):
        if request.path_params["tenantId"] != tx.state.tenant_id:
            raise errors.tenant_mismatch(tx.state.customer_id)
        # OAS: the card-action 404 is ResourceNotFoundExceptionResponse (the newer shape)
        conv = st.get_conversation(tx.state, cid(request), newer=True)
        data = {"name": body.name} if body.name else {}
        st.card_action(tx, conv, request.path_params["cardId"], kind, data)
    return EmptyResponse(204)


CARD_NOT_FOUND = problem("no such conversation or card (§1.8, newer shape)", EntityNotFoundProblem)
CARD_PARAMS = (TENANT_ID, CONVERSATION_ID, CARD_ID, TENANT)


@API.op(
    "PUT", f"{CARD_ACTION}/action-submit", "cardActionSubmit", "Action.Submit on a card (ACTIVITY)",
    replies({204: NO_CONTENT}, *JSON_IN, (404, CARD_NOT_FOUND)), tags=("Cards",), params=CARD_PARAMS,
    body=Body(m.CardActionRequest, required=False), security=AUTH,
)  # fmt: skip
async def action_submit(ctx: Ctx, request: Request) -> Response:
    return await _card_action(ctx, request, "Action.Submit")


@API.op(
    "PUT", f"{CARD_ACTION}/action-execute", "cardActionExecute", "Action.Execute on a card (ACTIVITY)",
    replies({204: NO_CONTENT}, *JSON_IN, (404, CARD_NOT_FOUND)), tags=("Cards",), params=CARD_PARAMS,
    body=Body(m.CardActionRequest, required=False), security=AUTH,
)  # fmt: skip
async def action_execute(ctx: Ctx, request: Request) -> Response:
    return await _card_action(ctx, request, "Action.Execute")
