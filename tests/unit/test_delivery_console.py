"""The delivery console's backend (SPEC §2): redelivery re-signed, as it was and elsewhere; the signature view of
a vendor that does not sign; per-tenant chaos with an expiry on the tenant's timeline. Through the in-process app
(echo vendor, virtual clock), with webhooks received by the real `webhook_sink`."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from emulator import signing_cli
from emulator.core.delivery import Delivery
from emulator.pytest_plugin import WebhookSink
from emulator.vendors import VENDORS
from emulator.verify.profiles import PROFILES
from tests.conftest import AppFactory
from tests.unit.test_control import CHAOS_OFF, assert_error, create_item, set_webhook, settle


async def first_delivery(client: httpx.AsyncClient, sink: WebhookSink, name: str = "a") -> dict[str, Any]:
    await set_webhook(client, name, sink.url_for())
    await create_item(client, name)
    [d] = (await client.get("/_emulator/deliveries", params={"tenant": name, "wait": 10})).json()["deliveries"]
    assert d["status"] == "delivered", d
    return dict(d)


async def redeliver(client: httpx.AsyncClient, delivery_id: str, body: Any = None) -> httpx.Response:
    if body is None:
        return await client.post(f"/_emulator/deliveries/{delivery_id}/redeliver")
    return await client.post(f"/_emulator/deliveries/{delivery_id}/redeliver", json=body)


# -- redelivery ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [None, {}, {"mode": "re_sign"}], ids=["no-body", "empty-body", "re-sign"])
async def test_redeliver_re_signs_now_by_default(
    client: httpx.AsyncClient, webhook_sink: WebhookSink, body: Any
) -> None:
    original = await first_delivery(client, webhook_sink)
    await client.post("/_emulator/clock/advance", json={"seconds": 30})
    r = await redeliver(client, original["id"], body)
    assert r.status_code == 202, r.text
    assert r.json()["headers_as_was"] is None
    first, again = await webhook_sink.async_wait_for({"event": "created"}, count=2)
    assert first.body == again.body
    # signed again now: a fresh timestamp, 30 s later on the tenant's timeline
    assert float(again.headers["x-echo-sent-at"]) == pytest.approx(float(first.headers["x-echo-sent-at"]) + 30)


async def test_redeliver_as_was_sends_the_exact_headers_of_the_last_sent_attempt(
    client: httpx.AsyncClient, webhook_sink: WebhookSink
) -> None:
    original = await first_delivery(client, webhook_sink)
    await client.post("/_emulator/clock/advance", json={"seconds": 30})
    r = await redeliver(client, original["id"], {"mode": "as_was"})
    assert r.status_code == 202, r.text
    sent = original["attempts"][-1]["headers"]
    assert r.json()["headers_as_was"] == sent
    first, again = await webhook_sink.async_wait_for({"event": "created"}, count=2)
    assert again.body == first.body
    for name in ("x-echo-signature", "x-echo-sent-at", "x-echo-attempt", "x-echo-event-id"):
        assert again.headers[name] == first.headers[name] == sent[name]


async def test_redeliver_to_another_url(client: httpx.AsyncClient, webhook_sink: WebhookSink) -> None:
    original = await first_delivery(client, webhook_sink)
    r = await redeliver(client, original["id"], {"url": webhook_sink.url_for("/elsewhere")})
    assert r.status_code == 202, r.text
    assert r.json()["url"] == webhook_sink.url_for("/elsewhere")
    [moved] = await webhook_sink.async_wait_for({"event": "created"}, path="/elsewhere")
    assert moved.headers["x-echo-event-id"] == original["event_id"]


async def test_redeliver_as_was_of_a_delivery_never_sent_is_409(
    client: httpx.AsyncClient, webhook_sink: WebhookSink
) -> None:
    await client.put("/_emulator/chaos", json={"delay": 1, "delay_seconds": 60})
    await set_webhook(client, "a", webhook_sink.url_for())
    await create_item(client, "a")
    [pending] = (await client.get("/_emulator/deliveries", params={"tenant": "a"})).json()["deliveries"]
    assert (pending["status"], pending["attempts"]) == ("pending", [])
    r = await redeliver(client, pending["id"], {"mode": "as_was"})
    assert_error(r, 409, "nothing_sent", pending["id"])
    assert len((await client.get("/_emulator/deliveries")).json()["deliveries"]) == 1  # nothing was queued


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"mode": "later"}, "mode"),
        ({"url": 5}, "url"),
        ({"url": "ftp://example.com/x"}, "not an http(s) URL"),
        ({"url": "http://[::1/x"}, "not a valid URL"),
        ({"resign": True}, "resign"),
        ([], ""),
    ],
    ids=["bad-mode", "url-not-a-string", "not-http", "broken-url", "unknown-field", "not-an-object"],
)
async def test_a_bad_redelivery_body_is_400_and_queues_nothing(
    client: httpx.AsyncClient, webhook_sink: WebhookSink, body: Any, message: str
) -> None:
    original = await first_delivery(client, webhook_sink)
    r = await redeliver(client, original["id"], body)
    code = "refused_url" if "URL" in message else "invalid_request"
    assert_error(r, 400, code, message)
    assert len((await client.get("/_emulator/deliveries")).json()["deliveries"]) == 1


async def test_a_url_off_the_allow_list_is_refused(make_app: AppFactory, webhook_sink: WebhookSink) -> None:
    _, client = await make_app(webhook_allow_hosts=["127.0.0.1"])
    original = await first_delivery(client, webhook_sink)
    r = await redeliver(client, original["id"], {"url": "http://example.com/hook"})
    assert_error(r, 400, "refused_url", "allow-list")


async def test_a_private_address_is_refused_by_the_ssrf_guard(make_app: AppFactory, webhook_sink: WebhookSink) -> None:
    _, client = await make_app(allow_private_targets=False)
    await set_webhook(client, "a", "http://93.184.215.14:9/hook")  # never reached: the chaos delay holds it
    await client.put("/_emulator/chaos", json={"delay": 1, "delay_seconds": 600})
    await create_item(client, "a")
    [d] = (await client.get("/_emulator/deliveries")).json()["deliveries"]
    r = await redeliver(client, d["id"], {"url": "http://127.0.0.1:9/hook"})
    assert_error(r, 400, "refused_url", "loopback")


@pytest.mark.parametrize("body", [None, {"mode": "as_was"}], ids=["re-sign", "as-was"])
async def test_redeliver_of_an_unknown_delivery_is_404(client: httpx.AsyncClient, body: Any) -> None:
    assert_error(await redeliver(client, "dlv_9999999", body), 404, "unknown_delivery", "dlv_9999999")


# -- the signature view ---------------------------------------------------------------------------------------


async def test_a_vendor_without_a_signature_check_says_it_does_not_sign(
    client: httpx.AsyncClient, webhook_sink: WebhookSink
) -> None:
    original = await first_delivery(client, webhook_sink)
    r = await client.get(f"/_emulator/deliveries/{original['id']}/signature")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "scheme": "none",
        "attempt": 0,
        "headers": {},
        "signed": None,
        "key": {},
        "verified": None,
        "detail": "this vendor's webhooks are not signed",
    }


@pytest.mark.parametrize(
    ("slug", "said"), [("cmcom", "CM.com does not sign"), ("samespace", "Samespace publishes nothing")]
)
async def test_vendors_that_do_not_sign_say_what_a_receiver_can_rely_on(
    make_app: AppFactory, slug: str, said: str
) -> None:
    app, _ = await make_app(vendor_plugins=list(VENDORS))
    emu = app.state.emulator
    d = Delivery("dlv_1", 1, slug, "t", "ev", "e", "s", "http://127.0.0.1:1/", b"{}", {}, 0.0, 0.0)
    view = emu.dispatcher.signature(d, "http://cxemu.test").model_dump()
    assert (view["scheme"], view["verified"], view["signed"], view["key"]) == ("none", None, None, {})
    assert said in view["detail"]
    # `cxemu sign` / `verify-signature` and the verify battery give the same reason, word for word
    assert signing_cli.UNSIGNED[slug] == view["detail"]
    assert PROFILES[slug](emu, "http://127.0.0.1:1/").signs() == view["detail"]


@pytest.mark.parametrize("slug", ["eightbyeight", "sangoma"])
async def test_a_signing_vendor_with_signing_off_says_so_in_the_view_and_the_battery(
    make_app: AppFactory, slug: str
) -> None:
    app, _ = await make_app(vendor_plugins=list(VENDORS), vendors={slug: {"signing": False}})
    emu = app.state.emulator
    d = Delivery("dlv_1", 1, slug, "t", "ev", "e", "s", "http://127.0.0.1:1/", b"{}", {}, 0.0, 0.0)
    detail = emu.dispatcher.signature(d, "http://cxemu.test").model_dump()["detail"]
    assert "signing is off" in detail
    assert PROFILES[slug](emu, "http://127.0.0.1:1/").signs() == detail


async def test_the_signature_of_an_unknown_delivery_is_404(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/_emulator/deliveries/nope/signature"), 404, "unknown_delivery", "nope")


# -- chaos per tenant ------------------------------------------------------------------------------------------


async def test_a_tenants_chaos_applies_to_it_alone_and_expires_on_its_timeline(
    client: httpx.AsyncClient, webhook_sink: WebhookSink
) -> None:
    for name in ("a", "b"):
        await set_webhook(client, name, webhook_sink.url_for(f"/{name}"))
    r = await client.put("/_emulator/chaos", params={"tenant": "a"}, json={"drop_first": 1, "expires_in": 60})
    assert r.status_code == 200, r.text
    start = (await client.get("/_emulator/clock", params={"tenant": "a"})).json()["now"]
    assert r.json() == {**CHAOS_OFF, "drop_first": 1.0, "expires_at": start + 60}
    listed = (await client.get("/_emulator/chaos")).json()
    assert listed == {**CHAOS_OFF, "tenants": {"a": {**CHAOS_OFF, "drop_first": 1.0, "expires_at": start + 60}}}

    for name in ("a", "b"):
        await create_item(client, name)
    await settle(client)
    by_tenant = {
        d["tenant"]: d
        for d in (await client.get("/_emulator/deliveries", params={"body": "false"})).json()["deliveries"]
    }
    assert by_tenant["a"]["chaos"] == ["drop_first"]
    assert by_tenant["b"]["chaos"] == []

    # tenant b's clock moving does not expire a's chaos; a's own timeline does
    await client.post("/_emulator/clock/advance", params={"tenant": "b"}, json={"seconds": 120})
    assert "a" in (await client.get("/_emulator/chaos")).json()["tenants"]
    await client.post("/_emulator/clock/advance", params={"tenant": "a"}, json={"seconds": 60})
    assert (await client.get("/_emulator/chaos")).json() == {**CHAOS_OFF, "tenants": {}}
    await create_item(client, "a")
    await settle(client)
    newest = (await client.get("/_emulator/deliveries", params={"tenant": "a"})).json()["deliveries"][-1]
    assert newest["chaos"] == []


async def test_a_tenants_chaos_replaces_the_global_one_until_cleared(
    client: httpx.AsyncClient, webhook_sink: WebhookSink
) -> None:
    await client.put("/_emulator/chaos", json={"drop_first": 1})
    r = await client.put("/_emulator/chaos", params={"tenant": "a"}, json={})
    assert r.json() == {**CHAOS_OFF, "expires_at": None}
    await set_webhook(client, "a", webhook_sink.url_for())
    await create_item(client, "a")
    await settle(client)
    assert (await client.get("/_emulator/deliveries")).json()["deliveries"][-1]["chaos"] == []

    r = await client.delete("/_emulator/chaos", params={"tenant": "a"})
    assert r.status_code == 200, r.text
    assert r.json() == {**CHAOS_OFF, "drop_first": 1.0, "tenants": {}}
    await create_item(client, "a")
    await settle(client)
    assert (await client.get("/_emulator/deliveries")).json()["deliveries"][-1]["chaos"] == ["drop_first"]


async def test_a_reset_of_the_tenant_clears_its_chaos(client: httpx.AsyncClient) -> None:
    await client.put("/_emulator/chaos", params={"tenant": "a"}, json={"delay": 1})
    await client.post("/_emulator/reset", params={"tenant": "a"})
    assert (await client.get("/_emulator/chaos")).json()["tenants"] == {}


@pytest.mark.parametrize(
    ("query", "body", "message"),
    [
        ({"tenant": "a"}, {"expires_in": 0}, "expires_in"),
        ({"tenant": "a"}, {"expires_in": "soon"}, "expires_in"),
        ({"tenant": "a"}, {"tenant": "b"}, "names 'b'"),
        ({"tenant": ""}, {}, "tenant"),
        ({}, {"expires_in": 10}, "only a tenant's own faults expire"),
        ({"tenant": "a"}, {"duplicate": 3}, "duplicate"),
    ],
    ids=["zero-expiry", "expiry-not-a-number", "other-tenant", "empty-tenant", "global-expiry", "out-of-range"],
)
async def test_bad_tenant_chaos_is_400_and_changes_nothing(
    client: httpx.AsyncClient, query: dict[str, str], body: dict[str, Any], message: str
) -> None:
    r = await client.put("/_emulator/chaos", params=query, json=body)
    assert_error(r, 400, "invalid_request", message)
    assert (await client.get("/_emulator/chaos")).json() == {**CHAOS_OFF, "tenants": {}}


async def test_clearing_chaos_needs_a_tenant_that_has_some(client: httpx.AsyncClient) -> None:
    assert_error(await client.delete("/_emulator/chaos"), 400, "invalid_request", "tenant: required")
    assert_error(await client.delete("/_emulator/chaos", params={"tenant": "a"}), 404, "unknown_chaos", "'a'")
