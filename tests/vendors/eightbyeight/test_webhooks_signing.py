"""8x8 webhook delivery as a receiver sees it: `x-8x8-*` headers, the detached JWS verified with joserfc against
the JWK served by the emulator, retries on the virtual clock, WEB_HOOK_VERIFY, the legacy v2 event profile and
determinism across runs (eightbyeight.md §1.5, §1.6, §1.9)."""

from __future__ import annotations

import json
import re
import zlib
from typing import Any

import pytest
from joserfc.errors import BadSignatureError

from emulator.pytest_plugin import ReceivedRequest, WebhookSink
from tests.vendors.eightbyeight.conftest import (
    AGENT,
    API,
    HOOK_PATH,
    SALES_AGENT,
    Ebe,
    EbeFactory,
    bodies,
    create_hook_and_channel,
    fetch_jwk,
    hook_to_sink,
    joserfc_verify,
    protected_header,
    signed_payload,
    tenant_config,
    vendor_settings,
)

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
JAMES = {"name": "James Jones", "language": "en"}
VERIFY_V1 = {"notificationVersion": "Chat Gateway v1.0", "eventType": "WEB_HOOK_VERIFY"}


async def drive_a_conversation(env: Ebe, channel: str = "1") -> str:
    """create -> queued -> agent joins and greets -> customer asks -> agent answers -> hand transfer -> Sales
    agent greets -> customer leaves."""
    conv = await env.create({"channelId": channel, "user": dict(JAMES)})
    await env.advance(0.2 + 3 + 1.5)
    await env.say(conv, "what's my balance?")
    await env.advance(2 + 1.5)
    await env.hand(conv, "transfer", queueId="101")
    await env.advance(3 + 1.5)
    resp = await env.api("PATCH", f"/conversations/{conv}/participants/user", {"removed": True})
    assert resp.status_code == 204
    await env.emu.scheduler.settle()
    return conv


async def verify_all(env: Ebe, requests: list[ReceivedRequest]) -> set[str]:
    """Verify every request's signature with joserfc and the JWK fetched by its kid; returns the kids seen."""
    jwks: dict[str, dict[str, Any]] = {}
    for req in requests:
        compact = req.headers["x-8x8-signature"]
        head, middle, sig = compact.split(".")
        assert (bool(head), middle, bool(sig)) == (True, "", True)  # detached: `<header>..<signature>`
        header = protected_header(compact)
        assert header == {"b64": False, "crit": ["b64"], "kid": header["kid"], "alg": "RS256"}
        kid = str(header["kid"])
        if kid not in jwks:
            jwks[kid] = await fetch_jwk(env, kid)
        assert joserfc_verify(jwks[kid], req) == signed_payload(req)
    return set(jwks)


# -- 2. signatures, headers, retries, the JWK endpoint ----------------------------------------------------------


async def test_every_webhook_is_signed_and_verifies_with_joserfc(ebe: Ebe, webhook_sink: WebhookSink) -> None:
    conv = await drive_a_conversation(ebe)
    await ebe.delivered(23, subject=conv)
    got = [r for r in webhook_sink.requests if r.path == HOOK_PATH]
    assert len(got) == 23

    kids = await verify_all(ebe, got)
    assert len(kids) == 1
    (kid,) = kids
    jwk = await fetch_jwk(ebe, kid)
    assert sorted(jwk) == ["e", "kid", "kty", "n"]
    assert jwk["kty"] == "RSA"
    assert jwk["kid"] == kid

    for req in got:
        body = req.json
        assert req.headers["content-type"] == "application/json"
        assert req.headers["x-8x8-tenant-id"] == "acme-tid"
        assert req.headers["x-8x8-customer-id"] == "acme-cid"
        assert UUID.match(req.headers["x-8x8-event-id"])
        assert req.headers["x-8x8-retry"] == "0"
        # delivered at once: sent at the event's own (virtual) millisecond
        assert req.headers["x-8x8-transmission-time"] == str(body["timestamp"])
        # the checksum is the CRC32 of the exact bytes received
        assert json.loads(signed_payload(req))["checksum"] == zlib.crc32(req.body)
    assert len({r.headers["x-8x8-event-id"] for r in got}) == len(got)


@pytest.mark.parametrize(
    ("tamper", "header", "value"),
    [
        pytest.param("body", None, None, id="body"),
        pytest.param("header", "x-8x8-retry", "1", id="retry-header"),
        pytest.param("header", "x-8x8-transmission-time", "1767225600001", id="transmission-time"),
        pytest.param("header", "x-8x8-event-id", "00000000-0000-4000-8000-000000000000", id="event-id"),
        pytest.param("header", "x-8x8-tenant-id", "other-tenant", id="tenant-id"),
    ],
)
async def test_tampering_breaks_the_signature(
    ebe: Ebe, webhook_sink: WebhookSink, tamper: str, header: str | None, value: str | None
) -> None:
    conv = await ebe.create({"channelId": "1", "user": dict(JAMES)})
    await ebe.delivered(1, subject=conv)
    (req,) = webhook_sink.requests
    jwk = await fetch_jwk(ebe, str(protected_header(req.headers["x-8x8-signature"])["kid"]))
    joserfc_verify(jwk, req)  # the genuine one verifies
    if tamper == "body":
        forged = req.body.replace(b'"created"', b'"active"')
        assert forged != req.body
        with pytest.raises(BadSignatureError):
            joserfc_verify(jwk, req, forged)
    else:
        assert header is not None
        assert value is not None
        forged_req = ReceivedRequest(req.method, req.path, {**req.headers, header: value}, req.body)
        with pytest.raises(BadSignatureError):
            joserfc_verify(jwk, forged_req)


async def test_retries_keep_the_event_id_and_are_signed_anew(ebe: Ebe, webhook_sink: WebhookSink) -> None:
    await ebe.behaviour(auto=False)
    webhook_sink.respond_with(500, times=2)
    t0 = ebe.now_ms()
    conv = await ebe.create({"channelId": "1", "user": dict(JAMES)})
    await ebe.emu.scheduler.settle()
    assert len(webhook_sink.requests) == 1
    await ebe.advance(1)  # retry 1 (the interaction came up at +0.2 s; its events wait behind, FIFO)
    assert len(webhook_sink.requests) == 2
    await ebe.advance(9.9)
    assert len(webhook_sink.requests) == 2
    await ebe.advance(0.1)  # retry 2 at +1 +10 s succeeds, then the queued events go
    await ebe.delivered(3, subject=conv)

    got = webhook_sink.requests
    seen = [
        (
            r.json["eventType"],
            r.json["data"]["state"] if r.json["eventType"] == "CONVERSATION_UPDATE" else None,
            r.headers["x-8x8-retry"],
            int(r.headers["x-8x8-transmission-time"]) - t0,
            r.headers["x-sink-status"],
        )
        for r in got
    ]
    assert seen == [
        ("CONVERSATION_UPDATE", "created", "0", 0, "500"),
        ("CONVERSATION_UPDATE", "created", "1", 1000, "500"),
        ("CONVERSATION_UPDATE", "created", "2", 11000, "200"),
        ("CONVERSATION_UPDATE", "active", "0", 11000, "200"),
        ("QUEUED", None, "0", 11000, "200"),
    ]
    first_three = got[:3]
    assert len({r.body for r in first_three}) == 1  # the same bytes each time
    assert all(r.json["timestamp"] == t0 for r in first_three)  # the event's time, not the attempt's
    assert len({r.headers["x-8x8-event-id"] for r in first_three}) == 1
    assert len({r.headers["x-8x8-event-id"] for r in got}) == 3
    assert len({r.headers["x-8x8-signature"] for r in first_three}) == 3
    await verify_all(ebe, got)

    resp = await ebe.http.get("/_emulator/deliveries", params={"subject": conv, "event": "CONVERSATION_UPDATE"})
    log = resp.json()["deliveries"]
    assert [(a["n"], a["status"], round(a["at"] * 1000) - t0) for a in log[0]["attempts"]] == [
        (0, 500, 0),
        (1, 500, 1000),
        (2, 200, 11000),
    ]
    assert log[0]["status"] == "delivered"


async def test_retries_give_up_after_the_ladder(ebe: Ebe, webhook_sink: WebhookSink) -> None:
    webhook_sink.respond_with(503)
    t0 = ebe.now_ms()
    resp = await ebe.api(
        "POST", "/webhooks/verify", {"version": "Chat Gateway v1.0", "uri": webhook_sink.url_for("/v")}
    )
    assert resp.status_code == 204
    await ebe.advance(1 + 10 + 30 + 90)
    await ebe.delivered(1, event="WEB_HOOK_VERIFY", status="failed")
    got = webhook_sink.requests
    assert [(r.headers["x-8x8-retry"], int(r.headers["x-8x8-transmission-time"]) - t0) for r in got] == [
        ("0", 0),
        ("1", 1000),
        ("2", 11000),
        ("3", 41000),
        ("4", 131000),
    ]
    await ebe.advance(3600)
    assert len(webhook_sink.requests) == 5


async def test_jwk_endpoint(ebe: Ebe, webhook_sink: WebhookSink) -> None:
    await hook_to_sink(ebe, webhook_sink, "/jwk")  # re-point the default webhook through the API
    conv = await ebe.create({"channelId": "1", "user": dict(JAMES)})
    await ebe.delivered(1, subject=conv)
    (req,) = webhook_sink.requests
    assert req.path == "/jwk"
    kid = str(protected_header(req.headers["x-8x8-signature"])["kid"])

    # public: no x-api-key needed (a wrong one does not matter either)
    for headers in ({}, {"x-api-key": "nobody"}):
        resp = await ebe.http.get(f"{API}/jwk/{kid}/public", headers=headers)
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "application/json"  # the OAS documents plain JSON for the JWK
        assert resp.json()["kid"] == kid

    resp = await ebe.http.get(f"{API}/jwk/not-a-kid/public")
    assert resp.status_code == 404
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json() == {"message": "Resource of type Jwk with id not-a-kid was not found.", "errors": []}


# -- 4. the legacy Chat API v2 event profile ---------------------------------------------------------------------


def flat(event_type: str, message_type: str, conv: str, ts: int, **fields: str) -> dict[str, Any]:
    return {"eventType": event_type, "messageType": message_type, "conversationId": conv, "timestamp": ts, **fields}


def activity_typing(conv: str, ts: int, agent: str | None) -> dict[str, Any]:
    users = [{"type": "agent", "id": agent}] if agent else []
    return {
        "eventType": "ACTIVITY",
        "conversationId": conv,
        "timestamp": ts,
        "data": {"name": "typing", "value": {"users": users}},
    }


async def test_legacy_v2_profile(ebe: Ebe, webhook_sink: WebhookSink) -> None:
    hook, channel = await create_hook_and_channel(ebe, webhook_sink, "/legacy", version="v2.0")
    resp = await ebe.api("GET", f"/webhooks/{hook}")
    assert resp.json()["version"] == "v2.0"
    await ebe.delivered(1, event="WEB_HOOK_VERIFY")
    assert bodies(webhook_sink, "/legacy", verify=True) == [
        {"notificationVersion": "v2.0", "eventType": "WEB_HOOK_VERIFY"}
    ]

    jane, jane_name = AGENT["id"], AGENT["name"]
    sam, sam_name = SALES_AGENT["id"], SALES_AGENT["name"]
    t0 = ebe.now_ms()
    conv = await ebe.create({"channelId": channel, "user": dict(JAMES)})
    await ebe.advance(4.7)
    await ebe.say(conv, "balance please")  # API-posted messages are not echoed in this profile
    await ebe.advance(3.5)
    await ebe.hand(conv, "transfer", queueId="101")
    await ebe.advance(3 + 1.5)
    await ebe.hand(conv, "leave")
    await ebe.delivered(16, subject=conv)
    await ebe.run_until_idle()

    greeting_jane = "Hi James, this is Jane. How can I help you today?"
    greeting_sam = "Hi James, this is Sam. How can I help you today?"
    reply = "Your balance is 12.34. Anything else I can help with?"
    assert bodies(webhook_sink, "/legacy") == [
        flat("QUEUED", "SYSTEM", conv, t0 + 200, queueId="123", queueName="Support"),
        flat("AGENT_JOINED", "SYSTEM", conv, t0 + 3200, agentId=jane, agentName=jane_name),
        activity_typing(conv, t0 + 3200, jane),
        activity_typing(conv, t0 + 4700, None),
        flat("TEXT", "AGENT", conv, t0 + 4700, agentId=jane, agentName=jane_name, message=greeting_jane),
        activity_typing(conv, t0 + 6700, jane),
        activity_typing(conv, t0 + 8200, None),
        flat("TEXT", "AGENT", conv, t0 + 8200, agentId=jane, agentName=jane_name, message=reply),
        flat("TRANSFER", "SYSTEM", conv, t0 + 8200),
        flat("AGENT_LEFT", "SYSTEM", conv, t0 + 8200, agentId=jane, agentName=jane_name),
        flat("QUEUED", "SYSTEM", conv, t0 + 8200, queueId="101", queueName="Sales"),
        flat("AGENT_JOINED", "SYSTEM", conv, t0 + 11200, agentId=sam, agentName=sam_name),
        activity_typing(conv, t0 + 11200, sam),
        activity_typing(conv, t0 + 12700, None),
        flat("TEXT", "AGENT", conv, t0 + 12700, agentId=sam, agentName=sam_name, message=greeting_sam),
        flat("AGENT_LEFT", "SYSTEM", conv, t0 + 12700, agentId=sam, agentName=sam_name),
    ]
    assert bodies(webhook_sink, HOOK_PATH) == []  # the default webhook is not this channel's
    legacy = [r for r in webhook_sink.requests if r.path == "/legacy"]
    await verify_all(ebe, legacy)  # signed the same way


# -- 5. WEB_HOOK_VERIFY ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        pytest.param("Chat Gateway v1.0", VERIFY_V1, id="chat-gateway-v1"),
        pytest.param("v2.0", {"notificationVersion": "v2.0", "eventType": "WEB_HOOK_VERIFY"}, id="legacy-v2"),
    ],
)
async def test_verify_webhook(ebe: Ebe, webhook_sink: WebhookSink, version: str, expected: dict[str, str]) -> None:
    resp = await ebe.api("POST", "/webhooks/verify", {"version": version, "uri": webhook_sink.url_for("/verify")})
    assert resp.status_code == 204
    assert resp.content == b""
    await ebe.delivered(1, event="WEB_HOOK_VERIFY")
    (req,) = webhook_sink.requests
    assert req.path == "/verify"
    assert req.method == "POST"
    assert req.body == json.dumps(expected, separators=(",", ":")).encode()  # no conversationId, no timestamp
    assert req.headers["x-8x8-tenant-id"] == "acme-tid"
    assert req.headers["x-8x8-retry"] == "0"
    await verify_all(ebe, [req])


async def test_creating_a_webhook_sends_verify(ebe: Ebe, webhook_sink: WebhookSink) -> None:
    uri = webhook_sink.url_for("/new")
    resp = await ebe.api("POST", "/webhooks", {"name": "bot", "uri": uri, "notificationVersion": "Chat Gateway v1.0"})
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/hal+json"
    assert resp.json() == {"id": "2", "name": "bot", "uri": uri, "version": "Chat Gateway v1.0"}
    await ebe.delivered(1, event="WEB_HOOK_VERIFY")
    assert [(r.path, r.json) for r in webhook_sink.requests] == [("/new", VERIFY_V1)]


# -- 7. determinism ------------------------------------------------------------------------------------------------


async def test_same_seed_same_bytes_and_signatures(make_ebe: EbeFactory, webhook_sink: WebhookSink) -> None:
    runs: list[tuple[str, list[ReceivedRequest]]] = []
    for path in ("/run-a", "/run-b"):
        env = await make_ebe(seed=7, vendors=vendor_settings(tenant_config(webhook_sink.url_for(path))))
        conv = await drive_a_conversation(env)
        await env.delivered(23, subject=conv)
        runs.append((conv, [r for r in webhook_sink.requests if r.path == path]))
    (conv_a, a), (conv_b, b) = runs
    assert conv_a == conv_b
    assert len(a) == len(b) == 23
    assert [r.body for r in a] == [r.body for r in b]
    for name in ("x-8x8-signature", "x-8x8-event-id", "x-8x8-transmission-time", "x-8x8-retry"):
        assert [r.headers[name] for r in a] == [r.headers[name] for r in b], name

    # another seed: other conversation and event ids (signing off here: no second key to derive)
    section = {"signing": False}
    other = await make_ebe(seed=8, vendors=vendor_settings(tenant_config(webhook_sink.url_for("/run-c")), **section))
    conv_c = await drive_a_conversation(other)
    await other.delivered(23, subject=conv_c)
    c = [r for r in webhook_sink.requests if r.path == "/run-c"]
    assert conv_c != conv_a
    assert len(conv_c) == 22
    assert not {r.headers["x-8x8-event-id"] for r in c} & {r.headers["x-8x8-event-id"] for r in a}
    assert all("x-8x8-signature" not in r.headers for r in c)
    assert all(r.headers["x-8x8-retry"] == "0" for r in c)
    # the same story, told with other ids
    strip = re.compile(rb'"(conversationId|id)":"[^"]*"')
    assert [strip.sub(b"", r.body) for r in c] == [strip.sub(b"", r.body) for r in a]
