"""CM's own Python SDK (`cm-text-sdk-python`) against the real server under uvicorn, and a partner bot's
webhooks over real HTTP (cmcom.md §3.1, §3.3)."""

from __future__ import annotations

import uuid
from typing import Any

from cm_text import MessageBuilder, TextClient, WhatsappTemplate

from emulator.pytest_plugin import CxemuHandle, WebhookSink
from tests.vendors.cmcom.conftest import PAGE_ACCOUNT, the_bot_hears_on_the_page_account

CUSTOMER = "+31612345678"


def client(cxemu: CxemuHandle) -> TextClient:
    token = cxemu.credentials("cmcom")["productToken"]
    return TextClient(apikey=token, gateway=f"{cxemu.url}/v1.0/message")


def test_sdk_sends_a_single_message(cxemu: CxemuHandle) -> None:
    response = client(cxemu).SendSingleMessage(
        message="Hello from the SDK", from_="pythonSDK", to=["0031612345678"], reference="sdk-1"
    )
    assert response.status_code == 200
    assert response.json() == {
        "details": "Created 1 message(s)",
        "errorCode": 0,
        "messages": [
            {
                "to": "0031612345678",
                "status": "Accepted",
                "reference": "sdk-1",
                "parts": 1,
                "messageDetails": None,
                "messageErrorCode": 0,
            }
        ],
    }


def test_sdk_sends_several_messages_and_sees_partial_rejection(cxemu: CxemuHandle) -> None:
    sdk = client(cxemu)
    sdk.AddMessage(message="first", from_="pythonSDK", to=["0031600000001", "0031600000002"])
    sdk.AddMessage(message="second", from_="pythonSDK", to=["0031600000003"], allowedChannels=["Whatsapp"])
    sdk.AddMessage(message="third", from_="pythonSDK", to=["0031-6000"])
    response = sdk.send()
    assert response.status_code == 200
    out = response.json()
    assert (out["details"], out["errorCode"]) == ("Created 3 message(s)", 201)
    assert [(m["to"], m["messageErrorCode"]) for m in out["messages"]] == [
        ("0031600000001", 0),
        ("0031600000002", 0),
        ("0031600000003", 0),
        ("0031-6000", 303),
    ]


def test_sdk_sends_rich_template_and_interactive_messages(cxemu: CxemuHandle) -> None:
    sdk = client(cxemu)
    media = {
        "mediaName": "cm.com icon",
        "mediaUri": "https://avatars3.githubusercontent.com/u/8234794",
        "mimeType": "image/png",
    }
    sdk.AddRichMessage(message="Rich!", media=media, from_="pythonSDK", to=["0031612345678"])
    template = WhatsappTemplate(namespace="ns", element_name="welcome", language_code="en")
    sdk.AddWhatsappTemplateMessage(template=template, from_="pythonSDK", to=["0031612345678"])
    reply = MessageBuilder.create_interactive_message_action_button_reply(id="yes", title="Yes")
    button = MessageBuilder.create_interactive_message_action_button(type="reply", reply=reply)
    interactive = MessageBuilder.create_interactive_message(
        type="button",
        header=MessageBuilder.create_interactive_message_header(type="text", text="Question", media=None),
        body=MessageBuilder.create_interactive_message_body(text="Do you agree?"),
        footer=MessageBuilder.create_interactive_message_footer(text="cm.com"),
        action=MessageBuilder.create_interactive_message_action(buttons=[button]),
    )
    sdk.add_whatsapp_interactive_message(
        interactive=interactive, body="fallback", from_="pythonSDK", to=["0031612345678"]
    )
    response = sdk.send()
    assert response.status_code == 200, response.text
    assert response.json()["errorCode"] == 0
    assert [m["status"] for m in response.json()["messages"]] == ["Accepted"] * 3


def test_sdk_without_a_token_gets_error_101(cxemu: CxemuHandle) -> None:
    sdk = TextClient(apikey="", gateway=f"{cxemu.url}/v1.0/message")
    response = sdk.SendSingleMessage(message="x", from_="pythonSDK", to=["0031612345678"])
    assert response.status_code == 400
    assert response.json() == {
        "details": "No account found for the given authentication",
        "errorCode": 101,
        "messages": [],
    }


def test_partner_bot_over_real_http(cxemu: CxemuHandle, webhook_sink: WebhookSink) -> None:
    creds = cxemu.credentials("cmcom")
    base = f"/_emulator/vendors/cmcom/tenants/{cxemu.tenant}"
    resp = cxemu.http.put(f"{base}/webhooks", json={"bot": webhook_sink.url_for("/bot"), "status": None})
    assert resp.status_code == 200, resp.text
    resp = cxemu.http.post(f"{base}/end-users/{CUSTOMER}/messages", json={"text": "Hi", "name": "Ada"})
    assert resp.status_code == 200, resp.text
    (got,) = webhook_sink.wait_for({"message": {"text": "Hi"}}, path="/bot")
    body: dict[str, Any] = got.json
    router = body["conversationalRouter"]
    assert router == {"chatId": resp.json()["chatId"], "accountId": creds["botRouterAccountId"]}
    assert body["from"] == {"number": CUSTOMER, "name": "Ada"}
    reply = {
        "messages": {
            "authentication": {"productToken": creds["productToken"]},
            "msg": [
                {
                    "from": body["to"]["number"],
                    "to": [{"number": "0031612345678"}],
                    "body": {"content": "Hello Ada"},
                    "allowedChannels": [body["channel"]],
                }
            ],
        }
    }
    sent = cxemu.http.post(creds["bmproxy"], json=reply)
    assert sent.status_code == 200
    assert sent.json()["errorCode"] == 0
    headers = {"X-CM-PRODUCTTOKEN": creds["productToken"]}
    sessions = f"/conversational/control/v1/accounts/{router['accountId']}/sessions"
    mutation = {"ChatId": router["chatId"], "Mutations": [{"$type": "disableComponent", "ComponentId": "CmBot"}]}
    assert cxemu.http.post(f"{sessions}/mutationrequests", json=mutation, headers=headers).status_code == 204
    chat = cxemu.http.get(f"{base}/chats/{router['chatId']}").json()
    assert chat["customerContact"] == "active"
    assert [(e["direction"], e["text"]) for e in chat["transcript"]] == [("MO", "Hi"), ("MT", "Hello Ada")]


def test_sdk_sends_through_bmproxy_with_the_page_account_id(cxemu: CxemuHandle, webhook_sink: WebhookSink) -> None:
    """The Python SDK pointed at BMProxy with the account id of the vendor's page: the tenant takes that id."""
    token = cxemu.credentials("cmcom")["productToken"]
    bmproxy = f"{cxemu.url}/conversational/bmproxy/v1/accounts/{PAGE_ACCOUNT}"
    sdk = TextClient(apikey=token, gateway=bmproxy)
    response = sdk.SendSingleMessage(message="Hello, I am the bot", from_="003197010254321", to=["0031612345678"])
    assert response.status_code == 200, response.text
    assert (response.json()["errorCode"], response.json()["details"]) == (0, "Created 1 message(s)")
    the_bot_hears_on_the_page_account(cxemu, webhook_sink)  # the SDK's SMS went to another chat than this one
    again = sdk.SendSingleMessage(message="Bye", from_="003197010254321", to=["0031612345678"])
    assert again.status_code == 200, again.text


def test_sdk_credentials_carry_a_guid_token(cxemu: CxemuHandle) -> None:
    token = cxemu.credentials("cmcom")["productToken"]
    assert str(uuid.UUID(token)) == token
    response = TextClient(apikey="my-token", gateway=f"{cxemu.url}/v1.0/message").SendSingleMessage(
        message="x", from_="pythonSDK", to=["0031612345678"]
    )
    assert (response.status_code, response.json()["errorCode"]) == (400, 103)
