"""The Samespace contract matches the code, and the emulator conforms to it (schemathesis)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema_rs
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import ignored_auth, positive_data_acceptance

from emulator.app import create_app
from emulator.core.contracts import to_yaml
from emulator.vendors import samespace
from emulator.vendors.samespace.constants import EVENTS
from emulator.vendors.samespace.contract import contract
from emulator.vendors.samespace.views import callback
from tests.conftest import CONTRACT_BODY_LIMIT, make_settings

ROOT = Path(__file__).resolve().parents[2]
CLOUD, TOKEN = "schemathesis", "st-token"
# Callbacks and http steps only to a host that cannot exist: nothing leaves the machine.
NO_WEBHOOK_HOSTS = ("webhooks.invalid",)


def test_checked_in_contract_matches_the_code() -> None:
    path = ROOT / "contracts" / "samespace.openapi.yaml"
    assert path.read_text(encoding="utf-8") == to_yaml(contract()), "run `cxemu contracts export`"


def test_contract_covers_every_event() -> None:
    assert set(contract()["webhooks"]) == set(EVENTS)


def test_callback_bodies_match_the_contract() -> None:
    from emulator.core.events import DomainEvent

    doc = contract()
    for name in EVENTS:
        schema = doc["webhooks"][name]["post"]["requestBody"]["content"]["application/json"]["schema"]
        event = DomainEvent("samespace", CLOUD, name, "call-1", 1767225600.0, {"step_id": "1", "x": 1})
        jsonschema_rs.validator_for({**schema, "components": doc["components"]}).validate(callback(event))


app = create_app(
    make_settings(
        webhook_allow_hosts=NO_WEBHOOK_HOSTS,
        vendors={"samespace": {"tenants": {CLOUD: {"auth_token": TOKEN}}}},
        max_body_bytes=CONTRACT_BODY_LIMIT,
    ),
    plugins=[samespace.PLUGIN],
)
schema = schemathesis.openapi.from_asgi("/_emulator/contracts/samespace", app)


def _aim(case: schemathesis.Case) -> None:
    """Use the test cloud's credentials in most requests, so generated flows reach validation and metadata."""
    body: Any = case.body
    if isinstance(body, dict) and isinstance(body.get("cloud_id"), str) and len(body["cloud_id"]) % 4:
        body["cloud_id"], body["auth_token"] = CLOUD, TOKEN
    query = case.query or {}
    if isinstance(query.get("cloud_id"), str) and len(query["cloud_id"]) % 4:
        query["cloud_id"], query["auth_token"] = CLOUD, TOKEN


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_emulator_conforms_to_its_contract(case: schemathesis.Case) -> None:
    _aim(case)
    # Open auth (cxemu's default): an unknown cloud_id is a new cloud, so "invalid" credentials can be accepted.
    # A schema-valid flow can still be refused: one `call` object and unique ids are rules across objects, which
    # JSON Schema cannot state (the 400 and its message are in the contract).
    case.call_and_validate(excluded_checks=[ignored_auth, positive_data_acceptance])
