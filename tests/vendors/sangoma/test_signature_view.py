"""`GET /_emulator/deliveries/{id}/signature` for Chatwoot's signed webhooks (sangoma.md §2.4): the HMAC of
`{timestamp}.{body}` with the secret of the receiver it went to, checked by cxemu and again here."""

from __future__ import annotations

import hashlib
import hmac

from emulator.pytest_plugin import WebhookSink
from tests.vendors.sangoma.conftest import DI, SngFactory, vendor_settings


async def test_chatwoot_signature_view_checks_the_hmac_with_the_receivers_secret(
    make_sng: SngFactory, webhook_sink: WebhookSink
) -> None:
    inbox = {"name": "API", "channel_type": "Channel::Api", "webhook_url": webhook_sink.url_for("/api-inbox")}
    config = vendor_settings(inboxes=[inbox | {"secret": "inbox-key"}], behaviour={"auto": False})["sangoma"]
    env = await make_sng(vendors={"sangoma": {**config, "signing": True}})
    contact = (await env.ok(f"{DI}/contacts/", {"name": "Ada", "inbox_id": 1}))["payload"]["contact"]
    await env.ok(f"{DI}/conversations/", {"contact_id": contact["id"], "inbox_id": 1, "initial_message": "x"})
    await env.settle()
    first = env.emu.dispatcher.deliveries()[0]
    received = webhook_sink.requests[0]
    view = (await env.http.get(f"/_emulator/deliveries/{first.id}/signature")).json()
    timestamp = received.headers["x-chatwoot-timestamp"]
    assert (view["scheme"], view["verified"]) == ("hmac-sha256", True)
    assert view["signed"] == f"{timestamp}.{received.body.decode()}"
    mac = hmac.new(b"inbox-key", view["signed"].encode(), hashlib.sha256).hexdigest()
    assert view["headers"]["X-Chatwoot-Signature"] == received.headers["x-chatwoot-signature"] == f"sha256={mac}"
    assert view["key"] == {"secret": "the API inbox's secret (the tenant's view in the control plane)"}
    first.profile["secret"] = "another-key"  # a receiver holding the wrong secret
    assert (await env.http.get(f"/_emulator/deliveries/{first.id}/signature")).json()["verified"] is False
