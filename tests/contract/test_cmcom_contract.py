"""The CM.com contract matches the code, the emulator conforms to it (schemathesis), and webhooks match it."""

from __future__ import annotations

import hashlib
import uuid
import zlib
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import ignored_auth, negative_data_rejection, positive_data_acceptance

from emulator.app import create_app
from emulator.core.contracts import to_yaml
from emulator.pytest_plugin import WebhookSink
from emulator.vendors import cmcom
from emulator.vendors.cmcom.contract import contract
from emulator.vendors.cmcom.events import WEBHOOK_EVENTS
from tests.conftest import CONTRACT_BODY_LIMIT, make_settings

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "5c4e1d2a-9b7f-4e3d-8a1c-0f2e3d4c5b6a"  # the tenant is named by its token, as in open auth
ACME_TOKEN = "a3c3e0f2-6b1d-4c55-8f3e-2d1c0b9a8f7e"
ACCOUNT = "e17acdef-c918-423d-a01b-1000cd084f6a"
CUSTOMER = "31612345678"
CHAT = str(uuid.UUID(bytes_le=hashlib.md5(f"WhatsApp|{CUSTOMER}|3197010254321".encode()).digest()))
NO_WEBHOOK_HOSTS = ("webhooks.invalid",)
# Webhooks go to a host that cannot exist, and are retried only once: nothing leaves the machine.
VENDORS = {
    "cmcom": {
        "tenants": {TOKEN: {"bot_router_account_id": ACCOUNT, "bot_webhook": "http://webhooks.invalid/bot"}},
        "retry_interval": 300,
        "retry_for": 300,
    }
}


def test_checked_in_contract_matches_the_code() -> None:
    path = ROOT / "contracts" / "cmcom.openapi.yaml"
    assert path.read_text(encoding="utf-8") == to_yaml(contract()), "run `cxemu contracts export`"


def test_contract_covers_every_event() -> None:
    assert set(contract()["webhooks"]) == set(WEBHOOK_EVENTS)


app = create_app(
    make_settings(webhook_allow_hosts=NO_WEBHOOK_HOSTS, vendors=VENDORS, max_body_bytes=CONTRACT_BODY_LIMIT),
    plugins=[cmcom.PLUGIN],
)
schema = schemathesis.openapi.from_asgi("/_emulator/contracts/cmcom", app)


@pytest.fixture(scope="module")
def chat() -> str:
    """The chat of the partner bot's first message to the customer (a send through BMProxy opens it)."""
    body = {
        "messages": {
            "authentication": {"producttoken": TOKEN},
            "msg": [
                {
                    "from": "003197010254321",
                    "to": [{"number": f"00{CUSTOMER}"}],
                    "body": {"content": "Hi"},
                    "allowedChannels": ["WhatsApp"],
                }
            ],
        }
    }
    case = schema["/conversational/bmproxy/v1/accounts/{account_id}"]["POST"].Case(
        body=body, path_parameters={"account_id": ACCOUNT}
    )
    response = case.call()
    assert response.status_code == 200, response.text
    return CHAT


def _most(value: Any) -> bool:
    return zlib.crc32(repr(value).encode()) % 4 != 0


def _aim(case: schemathesis.Case, chat: str) -> None:
    """Point most schema-valid requests at the real account, token and chat."""
    headers: MutableMapping[str, Any] = case.headers or {}
    if "X-CM-PRODUCTTOKEN" in headers and _most(headers["X-CM-PRODUCTTOKEN"]):
        headers["X-CM-PRODUCTTOKEN"] = TOKEN
    path: dict[str, Any] = case.path_parameters or {}
    if "account_id" in path and _most(path["account_id"]):
        path["account_id"] = ACCOUNT
    if "chat_id" in path and _most(path["chat_id"]):
        path["chat_id"] = chat
    body: Any = case.body
    if isinstance(body, dict):
        if "ChatId" in body and _most(body["ChatId"]):
            body["ChatId"] = chat
        if case.meta is not None and case.meta.generation.mode.is_positive and "FlowId" in body:
            body["FlowId"], body["StepId"] = "main", "welcome"  # the CmBot has no other flows to position at
        messages = body.get("messages")
        if isinstance(messages, dict) and isinstance(messages.get("authentication"), dict):
            messages["authentication"]["producttoken"] = TOKEN


SEND_PATHS = (
    "/v1.0/message",
    "/conversational/bmproxy/v1/accounts/{account_id}",
    "/conversational/bmproxy/v1/accounts/{account_id}/v1.0/message",
)


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_emulator_conforms_to_its_contract(case: schemathesis.Case, chat: str) -> None:
    _aim(case, chat)
    # Open auth (cxemu's default): any non-blank token is an account of its own, accepted by design.
    excluded: list[Any] = [ignored_auth]
    if case.path in SEND_PATHS:
        # The send API judges each message on its own (cmcom.md §3.1): a request whose messages break the
        # schema is still a 200 for the good ones, and schema-valid messages are refused on meaning (more
        # parts than maximumNumberOfMessageParts, minimum above maximum) with 400 when none is accepted.
        excluded += [positive_data_acceptance, negative_data_rejection]
    response = case.call_and_validate(excluded_checks=excluded)
    assert response.status_code < 500, response.text
    if case.path in SEND_PATHS:
        body = response.json()
        assert set(body) == {"details", "errorCode", "messages"}, body
    elif response.status_code >= 400:
        assert response.headers["content-type"] == ["application/problem+json"]
        assert response.json()["status"] == response.status_code


async def test_webhooks_match_the_contract(webhook_sink: WebhookSink) -> None:
    url = webhook_sink.url_for
    tenant = {
        "product_tokens": [ACME_TOKEN],
        "bot_router_account_id": ACCOUNT,
        "bot_webhook": url("/bot"),
        "status_webhook": url("/status"),
        "customer_contact_webhook": url("/cc"),
    }
    plain = {"router": False, "mo_webhook": url("/mo")}
    settings_ = make_settings(vendors={"cmcom": {"tenants": {"acme": tenant, "plain": plain}}})
    local = create_app(settings_, plugins=[cmcom.PLUGIN])
    emu = local.state.emulator
    await emu.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=local), base_url="http://t") as http:
            base = "/_emulator/vendors/cmcom/tenants"
            for tenant_name in ("acme", "plain"):
                resp = await http.post(f"{base}/{tenant_name}/end-users/+{CUSTOMER}/messages", json={"text": "Hi"})
                assert resp.status_code == 200, resp.text
            send = {
                "messages": {
                    "authentication": {"producttoken": ACME_TOKEN},
                    "msg": [{"from": "Acme", "to": [{"number": "0031612345678"}], "body": {"content": "x"}}],
                }
            }
            assert (await http.post("/v1.0/message", json=send)).status_code == 200
            headers = {"X-CM-PRODUCTTOKEN": ACME_TOKEN}
            sessions = f"/conversational/control/v1/accounts/{ACCOUNT}/sessions"
            await http.post(f"{base}/acme/chats/{CHAT}/agent", json={"action": "take_over"})
            assert (await http.post(f"{sessions}/{CHAT}/resetrequests", headers=headers)).status_code == 204
            await http.post("/_emulator/clock/advance", json={"seconds": 10})
        await emu.scheduler.settle()
        await emu.dispatcher.wait(lambda d: True, count=len(emu.dispatcher.deliveries()), timeout=10.0)
    finally:
        await emu.stop()
    doc = contract()
    names = {"/bot": None, "/cc": None, "/status": "StatusReport", "/mo": "MO.plain"}
    seen: set[str] = set()
    problems: list[str] = []
    for req in webhook_sink.requests:
        body = req.json
        default = "MO" if req.path == "/bot" else "MO.CustomerContact"
        name = names[req.path] or body.get("$type", default)
        seen.add(str(name))
        post = doc["webhooks"][name]["post"]
        check = {**post["requestBody"]["content"]["application/json"]["schema"], "components": doc["components"]}
        for error in jsonschema_rs.validator_for(check).iter_errors(body):
            problems.append(f"{name}: {error.message}")
    assert not problems, problems
    assert seen == set(doc["webhooks"]), seen
