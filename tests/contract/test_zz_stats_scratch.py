"""The 8x8 contract matches the code, the emulator conforms to it (schemathesis), and to 8x8's own OpenAPI file."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import ignored_auth

from emulator.app import create_app
from emulator.core.contracts import to_yaml
from emulator.vendors import eightbyeight
from emulator.vendors.eightbyeight.constants import API_KEY_HEADER, TENANT_HEADER
from emulator.vendors.eightbyeight.contract import contract
from emulator.vendors.eightbyeight.delivery import signer_for
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "schemathesis"  # open auth: the key names the tenant, and the tenant id is the tenant's name
# Webhooks only to a host that cannot exist: deliveries fail at once, and nothing leaves the machine.
NO_WEBHOOK_HOSTS = ("webhooks.invalid",)


def test_checked_in_contract_matches_the_code() -> None:
    path = ROOT / "contracts" / "eightbyeight.openapi.yaml"
    assert path.read_text(encoding="utf-8") == to_yaml(contract()), "run `cxemu contracts export`"


def test_contract_covers_every_event() -> None:
    assert set(contract()["webhooks"]) == set(eightbyeight.models.WEBHOOK_EVENTS)


# -- schemathesis -----------------------------------------------------------------------------------------

app = create_app(make_settings(webhook_allow_hosts=NO_WEBHOOK_HOSTS), plugins=[eightbyeight.PLUGIN])
schema = schemathesis.openapi.from_asgi("/_emulator/contracts/eightbyeight", app)


@dataclass(frozen=True)
class World:
    """Ids of real resources in the test tenant, so that schema-valid requests reach real ones."""

    conversation: str
    message: str
    card: str
    attachment: str
    kid: str

    def path_ids(self) -> dict[str, str]:
        # The default world of a new tenant has webhook "1", channel "1" and queues "100", "101".
        return {
            "webhookId": "1",
            "channelId": "1",
            "conversationId": self.conversation,
            "messageId": self.message,
            "attachmentId": self.attachment,
            "cardId": self.card,
            "jwkId": self.kid,
            "tenantId": API_KEY,
        }


def _call(method: str, path: str, **kwargs: Any) -> Any:
    response = schema[path][method].Case(headers={API_KEY_HEADER: API_KEY}, **kwargs).call()
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


@pytest.fixture(scope="module")
def world() -> World:
    conv = "/chat-gateway/v1/conversations/{conversationId}"
    created = _call("POST", "/chat-gateway/v1/conversations", body={"channelId": "1", "user": {"name": "Ada"}})
    ids = {"conversationId": created["conversationId"]}
    attachment = _call(
        "POST",
        f"{conv}/attachments",
        path_parameters=ids,
        body={"attachment": b"hello", "authorType": "user"},
        media_type="multipart/form-data",
    )
    card = {"contentType": "application/vnd.microsoft.card.adaptive", "content": {"type": "AdaptiveCard"}}
    message = {"authorType": "bot", "text": "pick one", "cards": [card], "attachments": [{"id": attachment["id"]}]}
    _call("POST", f"{conv}/messages", path_parameters=ids, body=message)
    (posted,) = _call("GET", f"{conv}/messages", path_parameters=ids)["_embedded"]["messages"]
    return World(
        conversation=ids["conversationId"],
        message=posted["id"],
        card=posted["cards"][0]["id"],
        attachment=attachment["id"],
        kid=signer_for(app.state.emulator).kid,
    )


def _most(value: Any) -> bool:
    """Three in four generated values (decided by the value itself, so a failing example replays)."""
    return zlib.crc32(repr(value).encode()) % 4 != 0


def _aim(case: schemathesis.Case, world: World) -> None:
    """Point schema-valid requests at real resources: most of them get past the 404s and reference checks
    (a channel's webhook and queue, a conversation's channel) to the success responses."""
    headers = case.headers or {}
    if API_KEY_HEADER in headers:
        headers[API_KEY_HEADER] = API_KEY
    if TENANT_HEADER in headers and _most(headers[TENANT_HEADER]):
        headers[TENANT_HEADER] = API_KEY
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    if case.method != "DELETE":
        for name, real in world.path_ids().items():
            if name in (case.path_parameters or {}) and _most(case.path_parameters[name]):
                case.path_parameters[name] = real
    body = case.body
    if not isinstance(body, dict):
        return
    for key, real in (("webHookId", "1"), ("channelId", "1")):
        if key in body:
            body[key] = real
    if case.path.endswith("/post-agent-assignment"):
        body["id"] = "1"
    if isinstance(body.get("routingOptions"), dict):
        body["routingOptions"]["id"] = "100"
    assignment = body.get("assignment")
    if isinstance(assignment, dict) and assignment.get("type", "queue") == "queue" and "id" in assignment:
        assignment["id"] = "100"
    for ref in body.get("attachments") or []:
        if isinstance(ref, dict) and ref.get("id") is not None:
            ref["id"] = world.attachment


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_emulator_conforms_to_its_contract(case: schemathesis.Case, world: World) -> None:
    _aim(case, world)
    # Open auth (cxemu's default, not 8x8's): any non-blank key is a tenant of its own, so "invalid" keys are
    # accepted by design; strict auth is what rejects them.
    case.call_and_validate(excluded_checks=[ignored_auth])

import collections
STATS: dict = collections.defaultdict(collections.Counter)


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_stats(case: schemathesis.Case, world: World) -> None:
    _aim(case, world)
    r = case.call_and_validate(excluded_checks=[ignored_auth])
    STATS[case.operation.label][(case.meta.generation.mode.name if case.meta else "?", r.status_code)] += 1


def test_zz_print() -> None:
    for k, v in sorted(STATS.items()):
        print(k, dict(v))
