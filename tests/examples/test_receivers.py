"""Each example receiver started for real: the correct ones accept a delivery signed by `cxemu sign`, reject a
changed or forged one and make exactly one call back into cxemu per event; each broken one shows every flaw
its `EXPECTED_FAILURES` declares, over real HTTP. (The battery's scorecards of them: README "Checking your
receiver" and examples/receivers/README.md.)"""

from __future__ import annotations

import ast
import base64
import hashlib
import hmac
import json
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.cli.conftest import control, start_8x8_conversation
from tests.examples.conftest import RECEIVERS, Receiver, StartReceiver, wait_for_requests
from tests.support.procs import ServerProcess

Sign = Callable[..., dict[str, str]]
CHECK_IDS = {
    "signed-accepted", "tampered-body-rejected", "wrong-key-rejected", "missing-signature-rejected",
    "malformed-signature-rejected", "jws-alg-none-rejected", "jws-hs256-confusion-rejected",
    "jws-attached-payload-rejected", "stale-timestamp-rejected", "retry-deduplicated", "concurrent-deduplicated",
    "lost-ack-deduplicated", "distinct-events-kept", "out-of-order-tolerated", "unknown-event-tolerated",
    "extra-fields-tolerated", "burst-within-timeout", "no-redirect", "edge-large-payload", "edge-unicode-payload",
    "edge-empty-payload",
}  # fmt: skip
"""The check ids of SPEC-17 (the battery's)."""


def declared(name: str) -> set[str]:
    """A receiver's module-level `EXPECTED_FAILURES`, read without running it (empty when it has none)."""
    tree = ast.parse((RECEIVERS / f"{name}.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "EXPECTED_FAILURES" for t in node.targets):
            return set(ast.literal_eval(node.value))
    return set()


@pytest.mark.parametrize("vendor", ["eightbyeight", "sangoma", "cmcom", "samespace"])
def test_every_vendor_has_a_good_and_a_broken_example_that_declares_check_ids(vendor: str) -> None:
    assert declared(f"{vendor}_good") == set()
    flaws = declared(f"{vendor}_broken")
    assert flaws, f"{vendor}_broken declares no EXPECTED_FAILURES"
    assert flaws <= CHECK_IDS, flaws - CHECK_IDS
    listed = (RECEIVERS / "README.md").read_text(encoding="utf-8")
    assert all(f"`{check}`" in listed for check in flaws), f"examples/receivers/README.md misses {vendor}'s flaws"


# -- 8x8 -------------------------------------------------------------------------------------------------------


def customer_message(conversation: str, text: str = "Where is my parcel?") -> bytes:
    event = {
        "eventType": "MESSAGE",
        "conversationId": conversation,
        "timestamp": 1767225600000,
        "data": {
            "isEcho": False,
            "sender": {"id": "c-1", "type": "user"},
            "text": text,
            "attachments": [],
            "cards": [],
        },
    }
    return json.dumps(event, separators=(",", ":")).encode()


def an_8x8_conversation(server: ServerProcess, tenant: str) -> str:
    r = control(server, "POST", "/tenants", json={"tenant": tenant, "vendors": ["eightbyeight"]})
    return start_8x8_conversation(server, r.json()["credentials"]["eightbyeight"])


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def alg_none(headers: dict[str, str]) -> dict[str, str]:
    protected = json.loads(base64.urlsafe_b64decode(headers["x-8x8-signature"].split(".")[0] + "=="))
    return headers | {"x-8x8-signature": b64url(json.dumps({**protected, "alg": "none"}).encode()) + ".."}


def hs256_with_the_public_key(headers: dict[str, str], body: bytes, jwk_json: bytes) -> dict[str, str]:
    """The key-confusion forgery: HS256 over the real signing input, keyed with the public JWK's bytes."""
    protected = json.loads(base64.urlsafe_b64decode(headers["x-8x8-signature"].split(".")[0] + "=="))
    header = b64url(json.dumps({**protected, "alg": "HS256"}).encode())
    payload = json.dumps(
        {"checksum": zlib.crc32(body), "cid": headers["x-8x8-customer-id"], "eid": headers["x-8x8-event-id"],
         "retry": int(headers["x-8x8-retry"]), "tid": headers["x-8x8-tenant-id"],
         "tt": int(headers["x-8x8-transmission-time"])},
        separators=(",", ":"),
    ).encode()  # fmt: skip
    mac = hmac.new(jwk_json, header.encode() + b"." + payload, hashlib.sha256).digest()
    return headers | {"x-8x8-signature": f"{header}..{b64url(mac)}"}


def test_8x8_good_verifies_deduplicates_and_replies_once(
    server: ServerProcess, start_receiver: StartReceiver, sign: Sign
) -> None:
    tenant = "ex-8x8-good"
    conversation = an_8x8_conversation(server, tenant)
    receiver = start_receiver("eightbyeight_good", tenant)
    body = customer_message(conversation)
    headers = sign("eightbyeight", tenant, body, "--event-id", "evt-1")
    assert receiver.post(body, headers).status_code == 200
    reply_type = f"POST /chat-gateway/v1/conversations/{conversation}/messages"
    [reply] = wait_for_requests(server, tenant, reply_type)
    assert reply["data"]["status"] == 202, reply
    # the vendor's retry of the same event: acknowledged, not processed again
    retry = sign("eightbyeight", tenant, body, "--event-id", "evt-1", "--retry", "1")
    assert receiver.post(body, retry).status_code == 200
    assert receiver.count("evt-1") == 1
    # changed after signing, unsigned, or forged with alg none: refused
    assert receiver.post(body.replace(b"parcel", b"parcels"), headers).status_code == 401
    unsigned = {k: v for k, v in headers.items() if k != "x-8x8-signature"}
    assert receiver.post(body, unsigned).status_code == 401
    forged = sign("eightbyeight", tenant, body, "--event-id", "evt-forged")
    assert receiver.post(body, alg_none(forged)).status_code == 401
    kid = json.loads(base64.urlsafe_b64decode(forged["x-8x8-signature"].split(".")[0] + "=="))["kid"]
    jwk = httpx.get(f"{server.url}/chat-gateway/v1/jwk/{kid}/public", timeout=30).content
    assert receiver.post(body, hs256_with_the_public_key(forged, body, jwk)).status_code == 401
    protected, _, signature = forged["x-8x8-signature"].split(".")
    attached = forged | {"x-8x8-signature": f"{protected}.{b64url(body)}.{signature}"}
    assert receiver.post(body, attached).status_code == 401
    assert receiver.count("evt-forged") == 0
    # a second real event with the same body: a second reply
    assert receiver.post(body, sign("eightbyeight", tenant, body, "--event-id", "evt-2")).status_code == 200
    assert (receiver.count("evt-2"), receiver.count()) == (1, 2)
    assert len(wait_for_requests(server, tenant, reply_type, count=2)) == 2
    # two copies at once, on another spelling of the path (never a redirect): one side effect
    copies = sign("eightbyeight", tenant, body, "--event-id", "evt-3")
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda path: receiver.post(body, copies, path).status_code, ["/webhook/", "/"]))
    assert (answers, receiver.count("evt-3")) == ([200, 200], 1)


def test_8x8_broken_accepts_alg_none(server: ServerProcess, start_receiver: StartReceiver, sign: Sign) -> None:
    tenant = "ex-8x8-none"
    conversation = an_8x8_conversation(server, tenant)
    receiver = start_receiver("eightbyeight_broken", tenant)
    body = customer_message(conversation, "forged")
    forged = alg_none(sign("eightbyeight", tenant, body, "--event-id", "evt-none"))
    assert receiver.post(body, forged).status_code == 200  # jws-alg-none-rejected fails
    assert receiver.count("evt-none") == 1
    # only that flaw: a changed body and the HS256 confusion are still refused
    assert receiver.post(body.replace(b"forged", b"tampered"), sign("eightbyeight", tenant, body)).status_code == 401
    signed = sign("eightbyeight", tenant, body, "--event-id", "evt-hs")
    kid = json.loads(base64.urlsafe_b64decode(signed["x-8x8-signature"].split(".")[0] + "=="))["kid"]
    jwk = httpx.get(f"{server.url}/chat-gateway/v1/jwk/{kid}/public", timeout=30).content
    assert receiver.post(body, hs256_with_the_public_key(signed, body, jwk)).status_code == 401


def test_8x8_broken_drops_a_second_event_with_the_same_body(
    server: ServerProcess, start_receiver: StartReceiver, sign: Sign
) -> None:
    tenant = "ex-8x8-hash"
    conversation = an_8x8_conversation(server, tenant)
    receiver = start_receiver("eightbyeight_broken", tenant)
    body = customer_message(conversation)
    for event_id in ("evt-a", "evt-b"):
        assert receiver.post(body, sign("eightbyeight", tenant, body, "--event-id", event_id)).status_code == 200
    assert (receiver.count("evt-a"), receiver.count("evt-b")) == (1, 0)  # distinct-events-kept fails


# -- Sangoma ---------------------------------------------------------------------------------------------------

DI = "/cx/api/v1/digital-interactions"


def a_chatwoot_conversation(server: ServerProcess, tenant: str, receiver_url: str) -> int:
    """A Sangoma tenant whose account webhook points at the receiver, and one of its conversations' id."""
    creds = control(server, "POST", "/tenants", json={"tenant": tenant, "vendors": ["sangoma"]}).json()
    creds = creds["credentials"]["sangoma"]
    with httpx.Client(base_url=server.url, timeout=30) as http:
        token = http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "scope": "cx.digital-interactions"},
            auth=(creds["client_id"], creds["client_secret"]),
        ).json()["access_token"]
        auth, domain = {"authorization": f"Bearer {token}"}, {"tenant_domain": creds["tenant_domain"]}
        hook = {**domain, "url": f"{receiver_url}/webhook", "subscriptions": ["conversation_typing_on"]}
        assert http.post(f"{DI}/webhooks", json=hook, headers=auth).status_code == 200
        contact = http.post(f"{DI}/contacts", json={**domain, "name": "Ada", "inbox_id": 2}, headers=auth).json()
        opened = http.post(
            f"{DI}/conversations",
            json={**domain, "contact_id": contact["payload"]["contact"]["id"], "inbox_id": 2},
            headers=auth,
        )
        assert opened.status_code == 200, opened.text
    return int(opened.json()["id"])


def chatwoot_message(conversation: int, event: str = "message_created") -> bytes:
    body = {
        "event": event,
        "id": 901,
        "content": "Hi",
        "message_type": "incoming",
        "conversation": {"id": conversation},
    }
    return json.dumps(body).encode()


def test_sangoma_good_verifies_deduplicates_and_replies_once(
    server: ServerProcess, start_receiver: StartReceiver, sign: Sign
) -> None:
    tenant = "ex-cw-good"
    receiver = start_receiver("sangoma_good", tenant)
    conversation = a_chatwoot_conversation(server, tenant, receiver.url)
    body = chatwoot_message(conversation)
    headers = sign("sangoma", tenant, body, "--event-id", "dlv-1")
    assert receiver.post(body, headers).status_code == 200
    [reply] = wait_for_requests(server, tenant, f"POST {DI}/messages")
    assert reply["data"]["status"] == 200, reply
    assert receiver.post(body, headers).status_code == 200
    assert receiver.count("dlv-1") == 1
    assert receiver.post(body + b" ", headers).status_code == 401
    assert receiver.post(body, headers | {"X-Chatwoot-Signature": "sha256=" + "0" * 64}).status_code == 401
    assert receiver.post(body, {"content-type": "application/json"}).status_code == 401
    unknown = chatwoot_message(conversation, "made_up_event")
    assert receiver.post(unknown, sign("sangoma", tenant, unknown, "--event-id", "dlv-2")).status_code == 200


def test_sangoma_broken_takes_unsigned_and_tampered_deliveries_and_fails_on_unknown_events(
    server: ServerProcess, start_receiver: StartReceiver, sign: Sign
) -> None:
    tenant = "ex-cw-broken"
    receiver = start_receiver("sangoma_broken", tenant)
    conversation = a_chatwoot_conversation(server, tenant, receiver.url)
    body = chatwoot_message(conversation)
    headers = sign("sangoma", tenant, body, "--event-id", "dlv-1")
    assert receiver.post(body.replace(b"Hi", b"Yo"), headers).status_code == 200  # tampered-body-rejected fails
    wrong = sign("sangoma", tenant, body, "--event-id", "dlv-2", "--secret", "not-the-tenants")
    assert receiver.post(chatwoot_message(conversation + 1), wrong).status_code == 200  # wrong-key-rejected fails
    plain = {"content-type": "application/json", "X-Chatwoot-Delivery": "dlv-3"}
    assert receiver.post(body, plain).status_code == 200  # missing-signature-rejected fails
    garbage = plain | {"X-Chatwoot-Delivery": "dlv-4", "X-Chatwoot-Signature": "garbage"}
    assert receiver.post(body, garbage).status_code == 200  # malformed-signature-rejected fails
    unknown = chatwoot_message(conversation, "made_up_event")
    assert receiver.post(unknown, sign("sangoma", tenant, unknown, "--event-id", "dlv-5")).status_code == 500


# -- CM.com ----------------------------------------------------------------------------------------------------


def an_mo(reference: str) -> bytes:
    body = {
        "from": {"number": "+31612345678", "name": "Bob"},
        "to": {"number": "+3197010254321", "name": None},
        "message": {"text": "Hello", "media": {"mediaUri": None, "contentType": None, "title": None}, "custom": {}},
        "reference": reference,
        "groupings": [],
        "timeUtc": "2026-01-01T00:00:00.0000000+00:00",
        "channel": "WhatsApp",
    }
    return json.dumps(body).encode()


def send_twice(receiver: Receiver, body: bytes, *, together: bool) -> list[int]:
    if not together:
        return [receiver.post(body, {"content-type": "application/json"}).status_code for _ in range(2)]
    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(lambda _: receiver.post(body, {"content-type": "application/json"}).status_code, "ab"))


@pytest.mark.parametrize(("name", "expected"), [("cmcom_good", 1), ("cmcom_broken", 2)])
@pytest.mark.parametrize("together", [False, True], ids=["retry", "concurrent"])
def test_cmcom_good_replies_once_per_message_and_broken_once_per_copy(
    server: ServerProcess, start_receiver: StartReceiver, name: str, expected: int, together: bool
) -> None:
    tenant = f"ex-cm-{name.split('_')[1]}-{'c' if together else 'r'}"
    control(server, "POST", "/tenants", json={"tenant": tenant, "vendors": ["cmcom"]})
    receiver = start_receiver(name, tenant)
    assert send_twice(receiver, an_mo("mo-1"), together=together) == [200, 200]
    assert receiver.count("mo-1") == expected  # cmcom_broken: retry-/concurrent-deduplicated fail
    replies = wait_for_requests(server, tenant, "POST /v1.0/message", count=expected)
    assert [r["data"]["status"] for r in replies] == [200] * expected
    status = b'{"messages": {"msg": {"status": {"code": 200}}}}'
    assert receiver.post(status, {"content-type": "application/json"}).status_code == 200
    assert receiver.count() == expected


# -- Samespace -------------------------------------------------------------------------------------------------


def a_callback(**extra: Any) -> bytes:
    body = {
        "event": "call.answered",
        "call_id": "84d60dfe-232c-448e-8ac3-866d8dfc2902",
        "cloud_id": "ex",
        "step_id": None,
        "timestamp": "2026-01-01T00:00:03.000Z",
        "data": {"number": "917507161643"},
    }
    return json.dumps(body | extra).encode()


def test_samespace_good_counts_each_callback_once_and_tolerates_extra_fields(start_receiver: StartReceiver) -> None:
    receiver = start_receiver("samespace_good", "ex-ss-good")
    plain = {"content-type": "application/json"}
    assert receiver.post(a_callback(), plain).status_code == 200
    assert receiver.post(a_callback(), plain).status_code == 200
    assert receiver.post(a_callback(event="call.sentiment", mood="calm"), plain).status_code == 200
    assert receiver.count() == 2
    assert receiver.post(b"", plain).status_code == 400


def test_samespace_broken_fails_on_a_field_it_does_not_know(start_receiver: StartReceiver) -> None:
    receiver = start_receiver("samespace_broken", "ex-ss-broken")
    plain = {"content-type": "application/json"}
    assert receiver.post(a_callback(), plain).status_code == 200
    assert receiver.post(a_callback(recording_url="https://x"), plain).status_code == 500  # extra-fields fails
    assert receiver.post(b"{}", plain).status_code == 400
    assert receiver.count() == 1
