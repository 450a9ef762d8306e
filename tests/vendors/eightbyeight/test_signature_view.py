"""`GET /_emulator/deliveries/{id}/signature` for 8x8 and redelivery of its signed webhooks: the detached JWS the
view explains is checked here again with joserfc (a third party's verifier) against the JWK the server serves, and
cxemu's own `verified` says false when the headers as logged were altered (eightbyeight.md §1.5)."""

from __future__ import annotations

from typing import Any

import pytest

from emulator.core.delivery import Delivery
from emulator.pytest_plugin import WebhookSink
from tests.vendors.eightbyeight.conftest import (
    HOOK_PATH,
    Ebe,
    EbeFactory,
    fetch_jwk,
    joserfc_verify,
    signed_payload,
    tenant_config,
    vendor_settings,
)

JAMES = {"name": "James Jones", "language": "en"}


async def signature(env: Any, delivery_id: str) -> dict[str, Any]:
    r = await env.http.get(f"/_emulator/deliveries/{delivery_id}/signature")
    assert r.status_code == 200, r.text
    return dict(r.json())


async def one_8x8_delivery(ebe: Ebe) -> Delivery:
    conv = await ebe.create({"channelId": "1", "user": dict(JAMES)})
    await ebe.delivered(1, subject=conv)
    [d] = ebe.emu.dispatcher.deliveries()
    return d


async def test_8x8_signature_view_explains_and_verifies_the_jws(ebe: Ebe, webhook_sink: WebhookSink) -> None:
    d = await one_8x8_delivery(ebe)
    [received] = webhook_sink.requests
    view = await signature(ebe, d.id)
    assert (view["scheme"], view["attempt"], view["verified"]) == ("jws-detached-rs256", 0, True)
    assert view["headers"] == {k: v for k, v in received.headers.items() if k.startswith("x-8x8-")}
    head = received.headers["x-8x8-signature"].split(".")[0]
    assert view["signed"] == f"{head}.{signed_payload(received).decode()}"
    kid = view["key"]["kid"]
    assert view["key"]["jwk_url"] == f"http://cxemu.test/chat-gateway/v1/jwk/{kid}/public"
    joserfc_verify(await fetch_jwk(ebe, kid), received)  # what the view says verifies with a third party's code


@pytest.mark.parametrize(
    ("header", "value"),
    [("x-8x8-retry", "3"), ("x-8x8-transmission-time", "1"), ("x-8x8-signature", "e30..AAAA")],
    ids=["retry", "transmission-time", "signature"],
)
async def test_8x8_check_fails_for_altered_headers(
    ebe: Ebe, webhook_sink: WebhookSink, header: str, value: str
) -> None:
    d = await one_8x8_delivery(ebe)
    d.attempts[-1].headers[header] = value
    view = await signature(ebe, d.id)
    assert view["verified"] is False, view
    assert view["headers"][header] == value


async def test_8x8_redelivered_as_was_and_re_signed(ebe: Ebe, webhook_sink: WebhookSink) -> None:
    d = await one_8x8_delivery(ebe)
    [first] = webhook_sink.requests
    jwk = await fetch_jwk(ebe, str((await signature(ebe, d.id))["key"]["kid"]))
    await ebe.advance(60)
    for mode in ("as_was", "re_sign"):
        r = await ebe.http.post(f"/_emulator/deliveries/{d.id}/redeliver", json={"mode": mode})
        assert r.status_code == 202, r.text
    eid = first.headers["x-8x8-event-id"]
    await ebe.delivered(3, event_id=d.event_id)
    as_was, re_signed = [r for r in webhook_sink.requests if r is not first and r.headers["x-8x8-event-id"] == eid]
    assert as_was.body == re_signed.body == first.body
    assert {k: v for k, v in as_was.headers.items() if k.startswith("x-8x8-")} == {
        k: v for k, v in first.headers.items() if k.startswith("x-8x8-")
    }
    assert int(re_signed.headers["x-8x8-transmission-time"]) == int(first.headers["x-8x8-transmission-time"]) + 60_000
    assert re_signed.headers["x-8x8-signature"] != first.headers["x-8x8-signature"]
    for req in (as_was, re_signed):
        joserfc_verify(jwk, req)
    for delivery in ebe.emu.dispatcher.deliveries(lambda x: x.event_id == d.event_id):
        assert (await signature(ebe, delivery.id))["verified"] is True


async def test_8x8_signing_off_says_so(make_ebe: EbeFactory, webhook_sink: WebhookSink) -> None:
    env = await make_ebe(vendors=vendor_settings(tenant_config(webhook_sink.url_for(HOOK_PATH)), signing=False))
    assert (await env.api("GET", "/webhooks")).status_code == 200
    d = await one_8x8_delivery(env)
    view = await signature(env, d.id)
    assert (view["scheme"], view["verified"], view["signed"]) == ("none", None, None)
    assert "signing is off" in view["detail"]


async def test_a_pending_8x8_delivery_has_nothing_to_check_yet(ebe: Ebe, webhook_sink: WebhookSink) -> None:
    await ebe.http.put("/_emulator/chaos", json={"delay": 1, "delay_seconds": 60})
    await ebe.create({"channelId": "1", "user": dict(JAMES)})
    await ebe.emu.scheduler.settle()
    d = ebe.emu.dispatcher.deliveries()[0]
    view = await signature(ebe, d.id)
    assert (view["attempt"], view["verified"], view["headers"]) == (None, None, {})
    assert view["detail"].startswith("no attempt was sent yet")
