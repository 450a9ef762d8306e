"""Tests for the 8x8 Chat Gateway wire models and error envelopes.

What a client would notice: which request bodies 8x8 accepts or rejects, and the exact JSON (keys, key order,
omitted fields) of responses, webhook payloads and problem bodies.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from emulator.vendors.eightbyeight import errors
from emulator.vendors.eightbyeight import models as m
from emulator.vendors.eightbyeight import models_replies as r
from emulator.vendors.eightbyeight import models_webhooks as p
from emulator.vendors.eightbyeight.constants import (
    MAX_ADDITIONAL_PROPERTIES,
    MAX_HISTORY_MESSAGES,
    ConversationState,
    EventVersion,
)
from tests.vendors.eightbyeight.seed import SEED_CREATE_BODY

ADAPTIVE = "application/vnd.microsoft.card.adaptive"
QUICK_REPLIES = "application/8x8.quick.replies"


def ordered(payload: dict[str, Any]) -> str:
    """Compact JSON keeping key order, so equality also checks the order keys are written in."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def props(count: int) -> list[dict[str, str]]:
    return [{"key": f"k{i}", "value": f"v{i}"} for i in range(count)]


def history(count: int) -> dict[str, Any]:
    return {"messages": [{"authorType": "user", "text": f"m{i}"} for i in range(count)]}


def create_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"channelId": "25", "user": {"name": "James Jones"}}
    body.update(overrides)
    return body


# --- Requests: accepted ------------------------------------------------------------------------------------


def test_seed_create_body_is_accepted_verbatim() -> None:
    request = m.CreateConversationRequest.model_validate_json(SEED_CREATE_BODY)

    assert request.channelId == "f5odm43occnifcdcsa"
    assert request.assignment is not None
    assert (request.assignment.type, request.assignment.id) == ("queue", " 123")
    assert request.user.email == "[email protected]"
    assert [(p.key, p.value) for p in request.user.additionalProperties or []] == [
        ("Authenticated", "yes"),
        ("Intent", "balance"),
        (" AccountType", "credit"),
    ]
    assert request.history is not None
    assert [msg.authorType for msg in request.history.messages] == ["user", "bot"] * 3
    assert request.history.messages[3].text == "Your balance is £12.34"
    assert request.history.messages[4].text == "Thanks, please can I speak to an agent "


def test_facts_create_body_with_attachments_and_cards_is_accepted() -> None:
    body = {
        "channelId": "25",
        "assignment": {"type": "queue", "id": "100"},
        "user": {
            "name": "James Jones",
            "userId": "crm-42",
            "email": "j@example.com",
            "phone": "07917846011",
            "company": "Acme",
            "caseId": "C-9",
            "language": "en",
            "additionalProperties": [{"key": "Intent", "value": "balance"}],
        },
        "history": {
            "messages": [
                {"authorType": "user", "text": "balance please"},
                {
                    "authorType": "bot",
                    "text": "Your balance is 12.34",
                    "attachments": [{"id": "att-1"}],
                    "cards": [{"contentType": ADAPTIVE, "content": {"type": "AdaptiveCard", "body": []}}],
                },
            ]
        },
    }

    request = m.CreateConversationRequest.model_validate(body)

    assert request.history is not None
    bot = request.history.messages[1]
    assert [a.id for a in bot.attachments or []] == ["att-1"]
    assert [(c.contentType, c.content) for c in bot.cards or []] == [(ADAPTIVE, {"type": "AdaptiveCard", "body": []})]


@pytest.mark.parametrize(
    ("model", "body", "attribute", "expected"),
    [
        (m.CreateConversationRequest, create_body(assignment={"id": "100"}), "assignment.type", "queue"),
        (
            m.CreateConversationRequest,
            create_body(assignment={"type": "script", "id": "7"}),
            "assignment.type",
            "script",
        ),
        (m.CreateConversationRequest, create_body(assignment={"id": 100}), "assignment.id", "100"),
        (m.CreateConversationRequest, create_body(channelId=25), "channelId", "25"),
        (m.CreateConversationRequest, create_body(unknown={"x": 1}), "channelId", "25"),
        (
            m.CreateConversationRequest,
            create_body(user={"additionalProperties": props(MAX_ADDITIONAL_PROPERTIES)}),
            "user.additionalProperties.__len__",
            MAX_ADDITIONAL_PROPERTIES,
        ),
        (
            m.CreateConversationRequest,
            create_body(history=history(MAX_HISTORY_MESSAGES)),
            "history.messages.__len__",
            MAX_HISTORY_MESSAGES,
        ),
        (m.CreateConversationRequest, create_body(user={"language": "xx-YY"}), "user.language", "xx-YY"),
        (m.CreateConversationRequest, create_body(user={"timezoneOffset": "-120"}), "user.timezoneOffset", -120),
        (m.SendMessageRequest, {"authorType": "bot", "text": ""}, "text", ""),
        (m.SendMessageRequest, {"authorType": "agent", "text": "hi"}, "authorType", "agent"),
        (
            m.SendMessageRequest,
            {"authorType": "user", "externalProvider": {"name": "X", "externalMessageId": 1234567890123456789}},
            "externalProvider.externalMessageId",
            "1234567890123456789",
        ),
        (
            m.SendMessageRequest,
            {"authorType": "user", "text": "a", "cards": [{"content": {}}]},
            "cards.0.contentType",
            ADAPTIVE,
        ),
        (m.ThinkingRequest, {}, "maxThinkingTimeSeconds", 60),
        (m.ThinkingRequest, {"maxThinkingTimeSeconds": 1}, "maxThinkingTimeSeconds", 1),
        (m.ThinkingRequest, {"maxThinkingTimeSeconds": 600}, "maxThinkingTimeSeconds", 600),
        (m.ThinkingRequest, {}, "authorType", "bot"),
        (m.ReadReceiptRequest, {"authorType": "user", "readAt": 1770200431963}, "readAt", 1770200431963),
        (m.TypingRequest, {"authorType": "bot"}, "authorType", "bot"),
        (
            m.PostAgentAssignmentRequest,
            {"type": "webhook", "id": "NSCI", "configuration": {"maxTotalMinutes": 20, "userTimeoutInMinutes": 300}},
            "configuration.maxTotalMinutes",
            20,
        ),
        (
            m.PostAgentAssignmentRequest,
            {"type": "webhook", "id": "NSCI", "configuration": {"maxTotalMinutes": 600, "userTimeoutInMinutes": 10}},
            "configuration.userTimeoutInMinutes",
            10,
        ),
        (
            m.PostAgentAssignmentRequest,
            {"type": "webhook", "id": "NSCI", "configuration": {"notifyChannelWebhookIfExists": False}},
            "configuration.notifyChannelWebhookIfExists",
            "false",
        ),
        (
            m.WebhookRequest,
            {"name": "n", "uri": "https://h/x", "version": "Chat Gateway v1.0"},
            "effective_version",
            EventVersion.CHAT_GATEWAY_V1,
        ),
        (
            m.WebhookRequest,
            {"name": "n", "uri": "https://h/x", "notificationVersion": "Chat Gateway v1.0"},
            "effective_version",
            EventVersion.CHAT_GATEWAY_V1,
        ),
        (
            m.WebhookRequest,
            {"name": "n" * 256, "uri": "https://h", "version": "Chat Gateway v1.0"},
            "name.__len__",
            256,
        ),
        (m.WebhookVerifyRequest, {"version": "v2.0", "uri": "https:/test.8x8.com"}, "uri", "https:/test.8x8.com"),
        (
            m.ChannelRequest,
            {"name": "c" * 255, "webHookId": 12, "routingOptions": {"type": "queue", "id": "101"}},
            "webHookId",
            "12",
        ),
        (m.PatchUserParticipantRequest, {"removed": True}, "removed", True),
        (m.PatchConversationRequest, {"user": {"name": "Jo"}}, "user.name", "Jo"),
        (m.AttachmentUploadForm, {}, "authorType", "user"),
        (m.CardActionRequest, {"name": "8x8"}, "name", "8x8"),
    ],
    ids=[
        "assignment-type-defaults-to-queue",
        "assignment-script",
        "assignment-numeric-id-becomes-string",
        "numeric-channel-id-becomes-string",
        "unknown-keys-ignored",
        "exactly-30-additional-properties",
        "exactly-200-history-messages",
        "language-is-free-text",
        "timezone-offset-numeric-string",
        "send-empty-text",
        "send-author-agent-listed-by-vendor-error",
        "send-external-provider-numeric-id",
        "card-content-type-defaults-to-adaptive",
        "thinking-empty-body-defaults",
        "thinking-min",
        "thinking-max",
        "thinking-author-defaults-to-bot",
        "read-receipt-epoch-ms",
        "typing-bot",
        "post-agent-lower-total-upper-timeout",
        "post-agent-upper-total-lower-timeout",
        "post-agent-notify-boolean-becomes-string",
        "webhook-version-key",
        "webhook-notification-version-key",
        "webhook-name-256",
        "verify-accepts-oas-example-uri",
        "channel-name-255-numeric-webhook-id",
        "user-leaves",
        "patch-user-only",
        "upload-author-defaults-to-user",
        "card-action-name",
    ],
)
def test_request_is_accepted(model: type[BaseModel], body: dict[str, Any], attribute: str, expected: Any) -> None:
    value: Any = model.model_validate(body)
    for part in attribute.split("."):
        if part == "__len__":
            value = len(value)
        elif part.isdigit():
            value = value[int(part)]
        else:
            value = getattr(value, part)

    assert value == expected


def test_post_agent_notify_flag_reads_like_java_boolean() -> None:
    config = m.PostAgentAssignmentConfiguration.model_validate({"notifyChannelWebhookIfExists": "TRUE"})

    assert config.notifyChannelWebhookIfExists == "TRUE"
    assert config.notify_channel_webhook is True
    assert m.PostAgentAssignmentConfiguration().notify_channel_webhook is False


# --- Requests: rejected ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "body", "loc", "error_type"),
    [
        (m.CreateConversationRequest, {"user": {}}, ("channelId",), "missing"),
        (m.CreateConversationRequest, {"channelId": "25"}, ("user",), "missing"),
        (
            m.CreateConversationRequest,
            create_body(assignment={"type": "agent", "id": "1"}),
            ("assignment", "type"),
            "enum",
        ),
        (
            m.CreateConversationRequest,
            create_body(user={"additionalProperties": props(MAX_ADDITIONAL_PROPERTIES + 1)}),
            ("user", "additionalProperties"),
            "too_long",
        ),
        (
            m.CreateConversationRequest,
            create_body(user={"additionalProperties": [{"key": "Intent"}]}),
            ("user", "additionalProperties", 0, "value"),
            "missing",
        ),
        (
            m.CreateConversationRequest,
            create_body(user={"additionalProperties": [{"value": "balance"}]}),
            ("user", "additionalProperties", 0, "key"),
            "missing",
        ),
        (
            m.CreateConversationRequest,
            create_body(history=history(MAX_HISTORY_MESSAGES + 1)),
            ("history", "messages"),
            "too_long",
        ),
        (m.CreateConversationRequest, create_body(history={}), ("history", "messages"), "missing"),
        (
            m.CreateConversationRequest,
            create_body(history={"messages": [{"authorType": "system", "text": "x"}]}),
            ("history", "messages", 0, "authorType"),
            "enum",
        ),
        (
            m.CreateConversationRequest,
            create_body(user={"timezoneOffset": "UTC+2"}),
            ("user", "timezoneOffset"),
            "float_parsing",
        ),
        (m.SendMessageRequest, {"text": "hi"}, ("authorType",), "missing"),
        (m.SendMessageRequest, {"authorType": "ghfgh", "text": "hi"}, ("authorType",), "enum"),
        (m.SendMessageRequest, {"authorType": "user"}, (), "text_or_external_provider"),
        (
            m.SendMessageRequest,
            {"authorType": "user", "text": "hi", "externalProvider": {"name": "X", "externalMessageId": "1"}},
            (),
            "text_or_external_provider",
        ),
        (
            m.SendMessageRequest,
            {"authorType": "user", "externalProvider": {"name": "Mastodon", "externalMessageId": "1"}},
            ("externalProvider", "name"),
            "enum",
        ),
        (
            m.SendMessageRequest,
            {"authorType": "user", "externalProvider": {"name": "X"}},
            ("externalProvider", "externalMessageId"),
            "missing",
        ),
        (
            m.SendMessageRequest,
            {"authorType": "user", "text": "a", "cards": [{"contentType": "text/html", "content": {}}]},
            ("cards", 0, "contentType"),
            "enum",
        ),
        (m.TypingRequest, {}, ("authorType",), "missing"),
        (m.TypingRequest, {"authorType": "agent"}, ("authorType",), "enum"),
        (m.ThinkingRequest, {"authorType": "user"}, ("authorType",), "literal_error"),
        (m.ThinkingRequest, {"maxThinkingTimeSeconds": 0}, ("maxThinkingTimeSeconds",), "greater_than_equal"),
        (m.ThinkingRequest, {"maxThinkingTimeSeconds": 601}, ("maxThinkingTimeSeconds",), "less_than_equal"),
        (m.ReadReceiptRequest, {"authorType": "user"}, ("readAt",), "missing"),
        (m.ReadReceiptRequest, {"authorType": "user", "readAt": "yesterday"}, ("readAt",), "int_parsing"),
        (m.ReadReceiptRequest, {"authorType": "user", "readAt": 2**63}, ("readAt",), "less_than_equal"),
        (m.ReadReceiptRequest, {"authorType": "system", "readAt": 1}, ("authorType",), "enum"),
        (m.PostAgentAssignmentRequest, {"type": "webhook"}, ("id",), "missing"),
        (m.PostAgentAssignmentRequest, {"id": "w"}, ("type",), "missing"),
        (m.PostAgentAssignmentRequest, {"type": "queue", "id": "w"}, ("type",), "enum"),
        (
            m.PostAgentAssignmentRequest,
            {"type": "webhook", "id": "w", "configuration": {"maxTotalMinutes": 19}},
            ("configuration", "maxTotalMinutes"),
            "greater_than_equal",
        ),
        (
            m.PostAgentAssignmentRequest,
            {"type": "webhook", "id": "w", "configuration": {"maxTotalMinutes": 601}},
            ("configuration", "maxTotalMinutes"),
            "less_than_equal",
        ),
        (
            m.PostAgentAssignmentRequest,
            {"type": "webhook", "id": "w", "configuration": {"userTimeoutInMinutes": 9}},
            ("configuration", "userTimeoutInMinutes"),
            "greater_than_equal",
        ),
        (
            m.PostAgentAssignmentRequest,
            {"type": "webhook", "id": "w", "configuration": {"userTimeoutInMinutes": 301}},
            ("configuration", "userTimeoutInMinutes"),
            "less_than_equal",
        ),
        (m.WebhookRequest, {"name": "n", "uri": "https://h"}, (), "missing"),
        (m.WebhookRequest, {"name": "n", "uri": "https://h", "version": "v3.0"}, ("version",), "enum"),
        (
            m.WebhookRequest,
            {"name": "n" * 257, "uri": "https://h", "version": "Chat Gateway v1.0"},
            ("name",),
            "string_too_long",
        ),
        (m.WebhookRequest, {"name": "n", "uri": "not a uri", "version": "Chat Gateway v1.0"}, ("uri",), "uri_parsing"),
        (m.WebhookRequest, {"uri": "https://h", "version": "Chat Gateway v1.0"}, ("name",), "missing"),
        (m.WebhookVerifyRequest, {"uri": "https://h"}, ("version",), "missing"),
        (
            m.ChannelRequest,
            {"name": "c" * 256, "webHookId": "12", "routingOptions": {"type": "queue", "id": "101"}},
            ("name",),
            "string_too_long",
        ),
        (
            m.ChannelRequest,
            {"name": "c", "webHookId": "12", "routingOptions": {"type": "queue"}},
            ("routingOptions", "id"),
            "missing",
        ),
        (
            m.ChannelRequest,
            {"name": "c", "webHookId": "12", "routingOptions": {"type": "script", "id": "1"}},
            ("routingOptions", "type"),
            "enum",
        ),
        (
            m.ChannelRequest,
            {"name": "c", "type": "Email", "webHookId": "12", "routingOptions": {"type": "queue", "id": "1"}},
            ("type",),
            "enum",
        ),
        (m.ChannelRequest, {"name": "c", "routingOptions": {"type": "queue", "id": "1"}}, ("webHookId",), "missing"),
        (m.AttachmentUploadForm, {"authorType": "agent"}, ("authorType",), "enum"),
    ],
    ids=[
        "create-missing-channel",
        "create-missing-user",
        "create-assignment-agent-is-result-only",
        "create-31-additional-properties",
        "additional-property-without-value",
        "additional-property-without-key",
        "create-201-history-messages",
        "history-without-messages",
        "history-bad-author",
        "timezone-offset-not-a-number",
        "send-missing-author",
        "send-bad-author",
        "send-neither-text-nor-provider",
        "send-both-text-and-provider",
        "send-unknown-provider",
        "send-provider-without-message-id",
        "send-bad-card-content-type",
        "typing-missing-author",
        "typing-agent",
        "thinking-user",
        "thinking-0-seconds",
        "thinking-601-seconds",
        "read-receipt-missing-read-at",
        "read-receipt-read-at-not-int",
        "read-receipt-read-at-beyond-int64",
        "read-receipt-system",
        "post-agent-missing-id",
        "post-agent-missing-type",
        "post-agent-type-queue",
        "post-agent-total-19",
        "post-agent-total-601",
        "post-agent-timeout-9",
        "post-agent-timeout-301",
        "webhook-without-any-version",
        "webhook-unknown-version",
        "webhook-name-257",
        "webhook-relative-uri",
        "webhook-missing-name",
        "verify-missing-version",
        "channel-name-256",
        "channel-routing-missing-id",
        "channel-routing-script",
        "channel-unknown-type",
        "channel-missing-webhook",
        "upload-agent",
    ],
)
def test_request_is_rejected(
    model: type[BaseModel], body: dict[str, Any], loc: tuple[int | str, ...], error_type: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)

    assert (loc, error_type) in [(tuple(e["loc"]), e["type"]) for e in caught.value.errors()]


# --- Responses -----------------------------------------------------------------------------------------------

CREATED = datetime(2021, 1, 30, 8, 30, tzinfo=UTC)
AGENT = r.ParticipantResult(id="agb7CaTIXvQPWmPKmTu1rJjw", type="agent", language="en")


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (
            r.CreateConversationResponse(conversationId="vXg39aMTRlq4xCBFaUCTlA", createdAt=CREATED),
            {"conversationId": "vXg39aMTRlq4xCBFaUCTlA", "createdAt": "2021-01-30T08:30:00Z"},
        ),
        (
            r.ConversationResult(
                id="vXg39aMTRlq4xCBFaUCTlA",
                channelId="25",
                state=ConversationState.ACTIVE,
                assignment=m.AssignmentResult(type="queue", id="100"),
                user=m.ConversationUser(
                    name="James Jones", email="j@example.com", language="en", additionalProperties=[]
                ),
            ),
            {
                "id": "vXg39aMTRlq4xCBFaUCTlA",
                "channelId": "25",
                "state": "active",
                "assignment": {"type": "queue", "id": "100"},
                "user": {"name": "James Jones", "email": "j@example.com", "language": "en", "additionalProperties": []},
            },
        ),
        (
            r.ConversationResult(id="c1", channelId="25", state=ConversationState.CREATED),
            {"id": "c1", "channelId": "25", "state": "created"},
        ),
        (
            r.MessageList(
                embedded=r.MessagesEmbedded(
                    messages=[
                        r.MessageResult(
                            id="msg01",
                            text="Hello!",
                            createdAt=CREATED,
                            author=AGENT,
                            attachments=[r.AttachmentRefResult(id="T6c")],
                            cards=[r.CardResult(id="abc")],
                        )
                    ]
                ),
                page=r.PageInfo.of(size=20, number=0, total_elements=1),
            ),
            {
                "_embedded": {
                    "messages": [
                        {
                            "id": "msg01",
                            "text": "Hello!",
                            "createdAt": "2021-01-30T08:30:00Z",
                            "author": {
                                "id": "agb7CaTIXvQPWmPKmTu1rJjw",
                                "type": "agent",
                                "removed": False,
                                "language": "en",
                            },
                            "attachments": [{"id": "T6c"}],
                            "cards": [
                                {
                                    "id": "abc",
                                    "contentType": ADAPTIVE,
                                    "content": {},
                                    "actionSubmitted": False,
                                    "actionExecuted": False,
                                }
                            ],
                        }
                    ]
                },
                "page": {"size": 20, "number": 0, "totalElements": 1, "totalPages": 1},
            },
        ),
        (
            r.ParticipantList(
                embedded=r.ParticipantsEmbedded(
                    participants=[r.ParticipantResult(id="user", type="user", removed=True), AGENT]
                ),
                links=r.HalLinks.to("https://api.8x8.com/chat-gateway/v1/conversations/c1/participants"),
                page=r.PageInfo.of(size=20, number=0, total_elements=2),
            ),
            {
                "_embedded": {
                    "participants": [
                        {"id": "user", "type": "user", "removed": True},
                        {"id": "agb7CaTIXvQPWmPKmTu1rJjw", "type": "agent", "removed": False, "language": "en"},
                    ]
                },
                "_links": {"self": {"href": "https://api.8x8.com/chat-gateway/v1/conversations/c1/participants"}},
                "page": {"size": 20, "number": 0, "totalElements": 2, "totalPages": 1},
            },
        ),
        (
            r.InteractionList(
                embedded=r.InteractionsEmbedded(
                    interactions=[
                        r.InteractionResult(
                            id="int-1",
                            startTime=datetime(2020, 8, 5, 11, 55, 0, 592000, tzinfo=UTC),
                            endTime=datetime(2020, 8, 5, 12, 0, tzinfo=UTC),
                        ),
                        r.InteractionResult(id="int-2", startTime=datetime(2020, 8, 5, 12, 1, 0, 5000, tzinfo=UTC)),
                    ]
                ),
                links=r.HalLinks.to("/i"),
                page=r.PageInfo.of(size=1, number=0, total_elements=2),
            ),
            {
                "_embedded": {
                    "interactions": [
                        {"id": "int-1", "startTime": "2020-08-05T11:55:00.592Z", "endTime": "2020-08-05T12:00:00Z"},
                        {"id": "int-2", "startTime": "2020-08-05T12:01:00.005Z"},
                    ]
                },
                "_links": {"self": {"href": "/i"}},
                "page": {"size": 1, "number": 0, "totalElements": 2, "totalPages": 2},
            },
        ),
        (
            r.AttachmentResult(id="T6c", filename="sample-doc.docx", sizeInBytes=4166, createdAt=CREATED),
            {"id": "T6c", "filename": "sample-doc.docx", "sizeInBytes": 4166, "createdAt": "2021-01-30T08:30:00Z"},
        ),
        (
            r.WebhookList(
                embedded=r.WebhooksEmbedded(
                    webhooks=[r.WebhookResult(id="12", name="bot", uri="https://bot.example/hook")]
                ),
                links=r.HalLinks.to("/w"),
                page=r.PageInfo.of(size=20, number=0, total_elements=1),
            ),
            {
                "_embedded": {
                    "webhooks": [
                        {"id": "12", "name": "bot", "uri": "https://bot.example/hook", "version": "Chat Gateway v1.0"}
                    ]
                },
                "_links": {"self": {"href": "/w"}},
                "page": {"size": 20, "number": 0, "totalElements": 1, "totalPages": 1},
            },
        ),
        (
            r.ChannelResult(id="25", name="Bot", webHookId="12", routingOptions=r.RoutingOptionsResult(id="101")),
            {
                "id": "25",
                "name": "Bot",
                "type": "ChatAPI",
                "webHookId": "12",
                "routingOptions": {"type": "queue", "id": "101"},
            },
        ),
        (
            r.Jwk(e="AQAB", kid="EXaiWfZe20eSjklZ70074w", n="obq8"),
            {"kty": "RSA", "e": "AQAB", "kid": "EXaiWfZe20eSjklZ70074w", "n": "obq8"},
        ),
        (
            r.CardList(
                embedded=r.CardsEmbedded(
                    cards=[
                        r.CardResult(id="q1", contentType=QUICK_REPLIES, content={"options": []}, actionSubmitted=True)
                    ]
                ),
                links=r.HalLinks.to("/c"),
                page=r.PageInfo.of(size=20, number=0, total_elements=0),
            ),
            {
                "_embedded": {
                    "cards": [
                        {
                            "id": "q1",
                            "contentType": QUICK_REPLIES,
                            "content": {"options": []},
                            "actionSubmitted": True,
                            "actionExecuted": False,
                        }
                    ]
                },
                "_links": {"self": {"href": "/c"}},
                "page": {"size": 20, "number": 0, "totalElements": 0, "totalPages": 0},
            },
        ),
    ],
    ids=[
        "create-conversation-202",
        "conversation-full",
        "conversation-without-assignment-or-user",
        "message-list-has-no-links",
        "participant-list",
        "interaction-list-open-interaction-has-no-end",
        "attachment",
        "webhook-list",
        "channel",
        "jwk",
        "card-list",
    ],
)
def test_response_json_matches_vendor(model: m.WireModel, expected: dict[str, Any]) -> None:
    assert ordered(model.wire()) == ordered(expected)


def test_user_echoes_request_fields_in_vendor_order() -> None:
    user = m.ConversationUser.model_validate(
        {
            "additionalProperties": [{"key": " AccountType", "value": "credit"}],
            "timezoneOffset": 120,
            "language": "de",
            "name": "Jo",
            "customerId": "c-1",
        }
    )

    assert ordered(user.wire()) == ordered(
        {
            "name": "Jo",
            "customerId": "c-1",
            "language": "de",
            "timezoneOffset": 120,
            "additionalProperties": [{"key": " AccountType", "value": "credit"}],
        }
    )


def test_card_content_keeps_nulls_and_vendor_keys() -> None:
    content = {"type": "AdaptiveCard", "$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "x": None}

    assert r.CardResult(id="a", content=content).wire()["content"] == content


# --- Webhook payloads ---------------------------------------------------------------------------------------

CHAT_GATEWAY_EVENTS = [
    {"notificationVersion": "Chat Gateway v1.0", "eventType": "WEB_HOOK_VERIFY"},
    {
        "eventType": "CONVERSATION_UPDATE",
        "conversationId": "ID-0",
        "timestamp": 1713100000000,
        "data": {
            "state": "active",
            "assignment": {"type": "queue", "id": "101"},
            "user": {"name": "James", "language": "en", "additionalProperties": []},
            "channel": "ChatAPI",
        },
    },
    {
        "eventType": "CONVERSATION_UPDATE",
        "conversationId": "ID-0",
        "timestamp": 1713100005000,
        "data": {
            "state": "active",
            "assignment": {"type": "agent", "id": "agb7Ca", "resourceId": "r-1"},
            "user": {
                "name": "James",
                "timezoneOffset": -60,
                "additionalProperties": [{"key": "k", "value": "v", "id": "1"}],
            },
            "msisdn": "+447900000000",
            "channel": "WhatsApp",
        },
    },
    {
        "eventType": "QUEUED",
        "conversationId": "ID-0",
        "timestamp": 1713100000100,
        "data": {"queueId": "101", "queueName": "Support"},
    },
    {
        "eventType": "MEMBERS_CHANGED",
        "conversationId": "ID-0",
        "timestamp": 1713100005000,
        "data": {"memberType": "agent", "change": "joined", "id": "agb7Ca"},
    },
    {
        "eventType": "MEMBERS_CHANGED",
        "conversationId": "ID-0",
        "timestamp": 1713100005000,
        "data": {"memberType": "user", "change": "left"},
    },
    {
        "eventType": "MESSAGE",
        "conversationId": "ID-0",
        "timestamp": 1713100006000,
        "data": {
            "isEcho": False,
            "sender": {"id": "agb7Ca", "type": "agent"},
            "text": "Hi, how can I help?",
            "attachments": [],
            "cards": [],
        },
    },
    {
        "eventType": "MESSAGE",
        "conversationId": "ID-0",
        "timestamp": 0,
        "data": {
            "isEcho": True,
            "sender": {"id": "string", "type": ""},
            "attachments": [{"id": "a1", "type": "image", "preSignedUrl": "https://s3/a1", "fileName": "a.png"}],
            "cards": [{"contentType": QUICK_REPLIES, "content": {"options": []}}],
        },
    },
    {
        "eventType": "ACTIVITY",
        "conversationId": "ID-0",
        "timestamp": 1713100007000,
        "data": {"name": "typing", "value": {"users": [{"type": "agent", "id": "agb7Ca"}]}},
    },
    {
        "eventType": "ACTIVITY",
        "conversationId": "ID-0",
        "timestamp": 1713100008000,
        "data": {"name": "typing", "value": {"users": []}},
    },
    {
        "eventType": "ACTIVITY",
        "conversationId": "ID-0",
        "timestamp": 1,
        "data": {"name": "adaptiveCard/action", "value": {"type": "Action.Submit", "data": {"choice": "1"}}},
    },
    {
        "eventType": "ACTIVITY",
        "conversationId": "ID-0",
        "timestamp": 1,
        "data": {"name": "quickReply/action", "value": {"type": "postback", "data": {"title": "one", "payload": "1"}}},
    },
    {
        "eventType": "ACTIVITY",
        "conversationId": "ID-0",
        "timestamp": 1,
        "data": {"name": "read-receipts", "value": [{"timestamp": 1, "users": [{"id": "u", "type": "user"}]}]},
    },
    {
        "eventType": "ACTIVITY",
        "conversationId": "ID-0",
        "timestamp": 1,
        "data": {
            "name": "interactive/reply",
            "value": {"type": "button_reply", "button_reply": {"id": "b", "title": "B"}},
        },
    },
    {"eventType": "TRANSFER", "conversationId": "ID-0", "timestamp": 1713100009000},
]
CHAT_GATEWAY_EVENT_IDS = [
    "verify",
    "conversation-update-queue",
    "conversation-update-agent-all-fields",
    "queued",
    "members-agent-joined",
    "members-user-left-without-id",
    "message-from-agent",
    "message-echo-seed-empty-sender-type",
    "activity-typing",
    "activity-typing-stopped",
    "activity-card-submit",
    "activity-quick-reply",
    "activity-read-receipts-list",
    "activity-channel-specific",
    "transfer-without-data",
]

LEGACY_EVENTS = [
    {"notificationVersion": "v2.0", "eventType": "WEB_HOOK_VERIFY"},
    {
        "eventType": "QUEUED",
        "messageType": "SYSTEM",
        "conversationId": "ID-0",
        "timestamp": 0,
        "queueId": "101",
        "queueName": "Support",
    },
    {
        "eventType": "AGENT_JOINED",
        "messageType": "SYSTEM",
        "conversationId": "ID-0",
        "timestamp": 0,
        "agentId": "a1",
        "agentName": "Jane",
    },
    {
        "eventType": "AGENT_LEFT",
        "messageType": "SYSTEM",
        "conversationId": "ID-0",
        "timestamp": 0,
        "agentId": "a1",
        "agentName": "Jane",
    },
    {"eventType": "TRANSFER", "messageType": "SYSTEM", "conversationId": "ID-0", "timestamp": 0},
    {
        "eventType": "TEXT",
        "messageType": "AGENT",
        "conversationId": "ID-0",
        "timestamp": 0,
        "agentId": "a1",
        "agentName": "Jane",
        "message": "hello",
    },
]
LEGACY_EVENT_IDS = ["verify", "queued", "agent-joined", "agent-left", "transfer", "text"]


@pytest.mark.parametrize("payload", CHAT_GATEWAY_EVENTS, ids=CHAT_GATEWAY_EVENT_IDS)
def test_chat_gateway_event_round_trips_exactly(payload: dict[str, Any]) -> None:
    event = p.CHAT_GATEWAY_EVENT_ADAPTER.validate_python(payload)

    assert ordered(event.wire()) == ordered(payload)


@pytest.mark.parametrize("payload", LEGACY_EVENTS, ids=LEGACY_EVENT_IDS)
def test_legacy_event_round_trips_exactly(payload: dict[str, Any]) -> None:
    event = p.LEGACY_EVENT_ADAPTER.validate_python(payload)

    assert ordered(event.wire()) == ordered(payload)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (p.WebhookVerifyEvent(), {"notificationVersion": "Chat Gateway v1.0", "eventType": "WEB_HOOK_VERIFY"}),
        (p.LegacyWebhookVerifyEvent(), {"notificationVersion": "v2.0", "eventType": "WEB_HOOK_VERIFY"}),
        (
            p.QueuedEvent(conversationId="c", timestamp=5, data=p.QueuedData(queueId="q", queueName="Q")),
            {"eventType": "QUEUED", "conversationId": "c", "timestamp": 5, "data": {"queueId": "q", "queueName": "Q"}},
        ),
        (
            p.LegacyAgentJoinedEvent(conversationId="c", timestamp=5, agentId="a", agentName="Jane"),
            {
                "eventType": "AGENT_JOINED",
                "messageType": "SYSTEM",
                "conversationId": "c",
                "timestamp": 5,
                "agentId": "a",
                "agentName": "Jane",
            },
        ),
        (
            p.ActivityEvent(
                conversationId="c", timestamp=5, data=p.ActivityData(name="typing", value=p.TypingValue(users=[]))
            ),
            {
                "eventType": "ACTIVITY",
                "conversationId": "c",
                "timestamp": 5,
                "data": {"name": "typing", "value": {"users": []}},
            },
        ),
        (
            p.TransferEvent(conversationId="c", timestamp=5),
            {"eventType": "TRANSFER", "conversationId": "c", "timestamp": 5},
        ),
    ],
    ids=["verify", "legacy-verify", "queued", "legacy-agent-joined", "typing-stopped", "transfer"],
)
def test_built_event_fills_constant_fields(event: m.WireModel, expected: dict[str, Any]) -> None:
    assert ordered(event.wire()) == ordered(expected)


def test_event_catalogue_names_every_payload_with_a_documented_required_event_type() -> None:
    assert sorted(p.WEBHOOK_EVENTS) == sorted(
        [
            "WEB_HOOK_VERIFY",
            "CONVERSATION_UPDATE",
            "QUEUED",
            "MEMBERS_CHANGED",
            "MESSAGE",
            "ACTIVITY",
            "TRANSFER",
            "legacy.WEB_HOOK_VERIFY",
            "legacy.QUEUED",
            "legacy.AGENT_JOINED",
            "legacy.AGENT_LEFT",
            "legacy.TRANSFER",
            "legacy.TEXT",
        ]
    )
    for name, model in p.WEBHOOK_EVENTS.items():
        schema = model.model_json_schema(mode="serialization")
        assert model.__doc__, name
        assert schema["properties"]["eventType"]["const"] == name.removeprefix("legacy."), name
        assert "eventType" in schema["required"], name


def test_webhook_timestamp_is_epoch_millis_integer() -> None:
    with pytest.raises(ValidationError):
        p.TransferEvent(conversationId="c", timestamp="2021-01-30T08:30:00Z")


# --- Error envelopes ----------------------------------------------------------------------------------------


def send_message_error(body: dict[str, Any]) -> errors.EightByEightError:
    with pytest.raises(ValidationError) as caught:
        m.SendMessageRequest.model_validate(body)
    return errors.from_validation_error(
        caught.value, style="send_message", reference_id="98e9da1f69f06d9019353ec66da6063a"
    )


@pytest.mark.parametrize(
    ("error", "status", "expected"),
    [
        (
            errors.unauthorized(reference_id="dacd0dd252723a2"),
            401,
            {
                "message": "Access Denied",
                "errors": [{"message": "Access Denied", "code": "access_denied"}],
                "referenceId": "dacd0dd252723a2",
            },
        ),
        (
            errors.tenant_mismatch("aaaa"),
            403,
            {
                "message": "The tenant does not belong to customer.",
                "errors": ["Header X-8x8-Tenant doesn't match tenant information for customerId=aaaa"],
            },
        ),
        (
            errors.not_found("Conversation", "X", tenant_id="T", customer_id="C"),
            404,
            {
                "message": "Resource of type Conversation with id X was not found.",
                "errors": ["Tenant T does not belong to customer C."],
            },
        ),
        (
            errors.not_found("WebHook", "9"),
            404,
            {"message": "Resource of type WebHook with id 9 was not found.", "errors": []},
        ),
        (
            errors.not_found("Conversation", "aaa", style="newer"),
            404,
            {
                "message": "Resource not found",
                "errors": [
                    {"code": "resource_not_found", "message": "Entity of type Conversation with id aaa was not found."}
                ],
            },
        ),
        (
            errors.invalid_author_type("ghfgh", reference_id="98e9da1f69f06d9019353ec66da6063a"),
            400,
            {
                "message": "Invalid authorType=ghfgh, has to be one of user, bot, agent",
                "errors": {
                    "code": "invalid_json_object",
                    "message": "Invalid authorType=ghfgh, has to be one of user, bot, agent",
                },
                "referenceId": "98e9da1f69f06d9019353ec66da6063a",
            },
        ),
        (
            errors.invalid_parameter("X", "Y", reference_id="dacd0dd252723a2"),
            400,
            {
                "message": "Invalid parameter exception for conversation X and tenant Y.",
                "errors": [
                    {
                        "code": "invalid_parameter",
                        "message": "Invalid parameter exception for conversation X and tenant Y",
                    }
                ],
                "referenceId": "dacd0dd252723a2",
            },
        ),
        (
            errors.invalid_queue("112"),
            400,
            {
                "message": "Internal error.",
                "errors": [{"code": "invalid_queue", "message": "Queue ID 112 is invalid."}],
            },
        ),
        (errors.internal_error(), 500, {"message": "Internal error.", "errors": []}),
        (
            errors.validation_error("webHookId", "45", "invalid_webhook", "WebHook ID 45 is invalid."),
            400,
            {
                "message": "Constraint Violation",
                "errors": [{"code": "invalid_webhook", "message": "WebHook ID 45 is invalid."}],
                "validations": [
                    {
                        "field": "webHookId",
                        "value": "45",
                        "code": "invalid_webhook",
                        "message": "WebHook ID 45 is invalid.",
                    }
                ],
            },
        ),
        (
            send_message_error({"authorType": "ghfgh", "text": "hi"}),
            400,
            {
                "message": "Invalid authorType=ghfgh, has to be one of user, bot, agent",
                "errors": {
                    "code": "invalid_json_object",
                    "message": "Invalid authorType=ghfgh, has to be one of user, bot, agent",
                },
                "referenceId": "98e9da1f69f06d9019353ec66da6063a",
            },
        ),
        (
            send_message_error({"text": "hi"}),
            400,
            {
                "message": "Invalid authorType=null, has to be one of user, bot, agent",
                "errors": {
                    "code": "invalid_json_object",
                    "message": "Invalid authorType=null, has to be one of user, bot, agent",
                },
                "referenceId": "98e9da1f69f06d9019353ec66da6063a",
            },
        ),
        (
            send_message_error({"authorType": "user"}),
            400,
            {
                "message": "text: exactly one of text or externalProvider must be given",
                "errors": {
                    "code": "invalid_json_object",
                    "message": "text: exactly one of text or externalProvider must be given",
                },
                "referenceId": "98e9da1f69f06d9019353ec66da6063a",
            },
        ),
    ],
    ids=[
        "401",
        "403-tenant",
        "404-legacy-with-tenant-note",
        "404-legacy-bare",
        "404-newer",
        "400-send-message-author",
        "400-newer-invalid-parameter",
        "400-invalid-queue",
        "500-internal",
        "400-validation-variant",
        "400-send-message-from-validation",
        "400-send-message-missing-author",
        "400-send-message-text-rule",
    ],
)
def test_problem_body_matches_vendor(error: errors.EightByEightError, status: int, expected: dict[str, Any]) -> None:
    assert error.status_code == status
    assert ordered(errors.problem_body(error)) == ordered(expected)


def test_general_validation_error_lists_each_field() -> None:
    with pytest.raises(ValidationError) as caught:
        m.CreateConversationRequest.model_validate(
            {"user": {"additionalProperties": props(31)}, "history": {"messages": [{"authorType": "x", "text": "t"}]}}
        )

    body = errors.problem_body(errors.from_validation_error(caught.value))

    assert body["message"] == "Constraint Violation"
    assert [(v["field"], v["code"]) for v in body["validations"]] == [
        ("channelId", "invalid_parameter"),
        ("user.additionalProperties", "invalid_parameter"),
        ("history.messages[0].authorType", "invalid_parameter"),
    ]
    assert body["errors"][0] == {"code": "invalid_parameter", "message": "channelId: May not be empty."}
    assert body["validations"][2]["value"] == "x"


def test_newer_style_validation_error_names_conversation_and_tenant() -> None:
    with pytest.raises(ValidationError) as caught:
        m.ThinkingRequest.model_validate({"maxThinkingTimeSeconds": 0})

    error = errors.from_validation_error(caught.value, style="newer", conversation_id="c1", tenant="t1")
    body = errors.problem_body(error)

    assert error.status_code == 400
    assert body["message"] == "Invalid parameter exception for conversation c1 and tenant t1."
    assert body["errors"][0]["code"] == "invalid_parameter"
    assert body["errors"][0]["message"].startswith("maxThinkingTimeSeconds: ")
    assert len(body["referenceId"]) == errors.REFERENCE_ID_LENGTH


def test_webhook_without_version_reads_as_missing_notification_version() -> None:
    with pytest.raises(ValidationError) as caught:
        m.WebhookRequest.model_validate({"name": "n", "uri": "https://h"})

    body = errors.problem_body(errors.from_validation_error(caught.value))

    assert body["validations"][0]["field"] == "notificationVersion"
    assert body["errors"][0]["message"] == "notificationVersion: May not be empty."


@pytest.mark.parametrize(
    ("style", "expected_errors"),
    [
        ("general", [{"code": "invalid_json_object", "message": "Malformed JSON request body."}]),
        ("send_message", {"code": "invalid_json_object", "message": "Malformed JSON request body."}),
        ("newer", [{"code": "invalid_parameter", "message": "Malformed JSON request body."}]),
    ],
    ids=["general", "send-message-object", "newer"],
)
def test_malformed_json_uses_the_endpoint_envelope(style: errors.ValidationStyle, expected_errors: Any) -> None:
    error = errors.malformed_json(style=style, conversation_id="c", tenant="t")

    assert error.status_code == 400
    assert errors.problem_body(error)["errors"] == expected_errors


def test_reference_ids_are_derived_deterministically() -> None:
    first = errors.unauthorized().referenceId
    again = errors.unauthorized().referenceId
    long_ref = errors.bad_request_send_message("boom").referenceId

    assert first == again
    assert first is not None
    assert len(first) == errors.REFERENCE_ID_LENGTH
    assert long_ref == errors.derive_reference_id("boom", errors.LONG_REFERENCE_ID_LENGTH)
    assert errors.derive_reference_id("a") != errors.derive_reference_id("b")


def test_legacy_version_selects_the_legacy_profile() -> None:
    """cxemu extension: "v2.0" on a webhook selects the legacy Chat API v2 event profile (§1.9)."""
    hook = m.WebhookRequest.model_validate({"name": "n", "uri": "https://h", "version": "v2.0"})
    assert hook.effective_version == "v2.0"
