"""Sangoma against the real server under uvicorn: credentials from the `cxemu` fixture, a token over HTTP, an
agent bot at a real receiver, a widget customer driven through the control plane, the bot's answer and a
hand-off; the deliveries are in the control plane's log."""

from __future__ import annotations

import base64

import httpx
import pytest

from emulator.pytest_plugin import CxemuHandle, WebhookSink

pytestmark = pytest.mark.server


def test_a_bot_talks_to_a_widget_customer_over_http(cxemu: CxemuHandle, webhook_sink: WebhookSink) -> None:
    creds = cxemu.credentials("sangoma")
    assert creds["tenant_domain"] == f"{cxemu.tenant}.cx.sangoma.com"
    with httpx.Client(base_url=cxemu.url, timeout=10) as http:
        basic = base64.b64encode(f"{creds['client_id']}:{creds['client_secret']}".encode()).decode()
        token = http.post(
            creds["token_url"],
            data={"grant_type": "client_credentials", "scope": "cx.digital-interactions"},
            headers={"Authorization": f"Basic {basic}"},
        )
        assert token.status_code == 200, token.text
        auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
        domain = {"tenant_domain": creds["tenant_domain"]}
        di = creds["di_base"]
        bot = http.post(
            f"{di}/agent-bot/", json={**domain, "name": "b", "outgoing_url": webhook_sink.url_for("/bot")}, headers=auth
        )
        assert bot.status_code == 200, bot.text
        inbox = creds["web_widget_inbox_id"]
        assign = {**domain, "inbox_id": inbox, "agent_bot_id": bot.json()["id"]}
        assert http.post(f"{di}/assign-agent-bot/", json=assign, headers=auth).status_code == 200
        started = http.post(
            f"/_emulator/vendors/sangoma/tenants/{cxemu.tenant}/customers", json={"text": "Is anyone there?"}
        )
        assert started.status_code == 200, started.text
        (hit,) = webhook_sink.wait_for({"event": "message_created", "message_type": "incoming"}, path="/bot")
        conv = hit.json["conversation"]["id"]
        assert hit.json["conversation"]["status"] == "pending"
        reply = http.post(
            f"{di}/messages/", json={**domain, "conversation_id": conv, "content": "Hi, a bot here"}, headers=auth
        )
        assert reply.status_code == 200
        assert reply.json()["message_type"] == 1
        webhook_sink.wait_for({"event": "message_created", "sender": {"type": "agent_bot"}}, path="/bot")
        handoff = http.post(
            f"{di}/conversations/deliver-to-agent/", json={**domain, "conversation_id": conv}, headers=auth
        )
        assert handoff.json()["payload"]["current_status"] == "open"
        webhook_sink.wait_for({"event": "conversation_opened", "id": conv}, path="/bot")
    delivered = cxemu.wait_for_deliveries(count=4, vendor="sangoma")
    assert {d["status"] for d in delivered} == {"delivered"}
