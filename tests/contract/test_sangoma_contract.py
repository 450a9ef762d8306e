"""The Sangoma contract matches the code, the emulator conforms to it (schemathesis), and every webhook payload
the emulator sends validates against the contract's `webhooks:` schemas."""

from __future__ import annotations

import base64
import itertools
import zlib
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import ignored_auth

from emulator.app import create_app
from emulator.core.contracts import to_yaml
from emulator.vendors import sangoma
from emulator.vendors.sangoma.contract import contract
from emulator.vendors.sangoma.models_webhooks import WEBHOOKS
from tests.conftest import CONTRACT_BODY_LIMIT, make_settings

ROOT = Path(__file__).resolve().parents[2]
CLIENT = "schemathesis"
DOMAIN = "schemathesis.cx.sangoma.com"
BASIC = "Basic " + base64.b64encode(f"{CLIENT}:secret".encode()).decode()
NO_WEBHOOK_HOSTS = ("webhooks.invalid",)
FRESH = itertools.count(1)


def test_checked_in_contract_matches_the_code() -> None:
    path = ROOT / "contracts" / "sangoma.openapi.yaml"
    assert path.read_text(encoding="utf-8") == to_yaml(contract()), "run `cxemu contracts export`"


def test_contract_covers_every_event() -> None:
    assert set(contract()["webhooks"]) == set(WEBHOOKS)


def test_every_path_is_served_with_and_without_its_trailing_slash() -> None:
    paths = set(contract()["paths"])
    for path in paths - {"/oauth/token"}:
        assert (path.rstrip("/") if path.endswith("/") else f"{path}/") in paths, path


# -- schemathesis -------------------------------------------------------------------------------------------------

app = create_app(
    make_settings(webhook_allow_hosts=NO_WEBHOOK_HOSTS, max_body_bytes=CONTRACT_BODY_LIMIT), plugins=[sangoma.PLUGIN]
)
schema = schemathesis.openapi.from_asgi("/_emulator/contracts/sangoma", app)


def _call(method: str, path: str, **kwargs: Any) -> Any:
    response = schema[path][method].Case(**kwargs).call()
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


@pytest.fixture(scope="module")
def token() -> str:
    body = "grant_type=client_credentials&scope=cx.agent-calls+cx.queue-calls+cx.digital-interactions"
    out = _call(
        "POST",
        "/oauth/token",
        body=body,
        headers={"Authorization": BASIC},
        media_type="application/x-www-form-urlencoded",
    )
    bearer = {"Authorization": f"Bearer {out['access_token']}"}
    di = "/cx/api/v1/digital-interactions"
    hook = "https://webhooks.invalid/bot"
    _call("POST", f"{di}/agent-bot", headers=bearer, body={"tenant_domain": DOMAIN, "outgoing_url": hook, "name": "b"})
    _call(
        "POST",
        f"{di}/assign-agent-bot",
        headers=bearer,
        body={"tenant_domain": DOMAIN, "inbox_id": 1, "agent_bot_id": 1},
    )
    contact = {"tenant_domain": DOMAIN, "inbox_id": 1, "name": "Ada", "email": "ada@example.com"}
    _call("POST", f"{di}/contacts", headers=bearer, body=contact)
    conv = {"tenant_domain": DOMAIN, "inbox_id": 1, "contact_id": 50, "initial_message": "hi"}
    _call("POST", f"{di}/conversations", headers=bearer, body=conv)
    return str(out["access_token"])


def _most(value: Any) -> bool:
    """Three in four generated values (decided by the value itself, so a failing example replays)."""
    return zlib.crc32(repr(value).encode()) % 4 != 0


def _aim(case: schemathesis.Case, token: str) -> None:
    """Authenticate most requests and point schema-valid bodies at the token's tenant and real ids."""
    headers: MutableMapping[str, Any] = case.headers if case.headers is not None else {}
    case.headers = headers
    if case.path == "/oauth/token":
        if _most(case.body):
            headers["Authorization"] = BASIC
        return
    if _most(case.body) or case.method == "GET":
        headers["Authorization"] = f"Bearer {token}"
    body: Any = case.body
    if case.meta is None or not case.meta.generation.mode.is_positive or not isinstance(body, dict):
        return
    if _most(body.get("tenant_domain")):
        body["tenant_domain"] = DOMAIN
    for key, real in (("inbox_id", 1), ("contact_id", 50), ("conversation_id", 1), ("agent_bot_id", 1)):
        if key in body and _most(body[key]):
            body[key] = real
    for key in ("agent_name", "queue_name"):
        if key in body and _most(body[key]):
            body[key] = "agent.test" if key == "agent_name" else "queue_test"
    # unique per account in Chatwoot (a repeat is a 422 by design): make each example's values fresh
    n = next(FRESH)
    for key in ("url", "outgoing_url"):
        if key in body:
            body[key] = f"https://webhooks.invalid/{n}"
    if isinstance(body.get("email"), str):
        body["email"] = f"c{n}@example.com"
    if isinstance(body.get("phone_number"), str):
        body["phone_number"] = f"+1555{n:07d}"
    if isinstance(body.get("source_id"), str):
        body["source_id"] = f"source-{n}"
    if isinstance(body.get("identifier"), str):
        body["identifier"] = f"crm-{n}"


@schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
def test_emulator_conforms_to_its_contract(case: schemathesis.Case, token: str) -> None:
    _aim(case, token)
    case.call_and_validate(excluded_checks=[ignored_auth])
