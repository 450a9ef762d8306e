"""The emulated 8x8 Chat Gateway v1 as an OpenAPI 3.1 document (`contracts/eightbyeight.openapi.yaml`), with the
companion APIs the Chat Gateway workflow recommends (OAuth, real-time metrics, tenant schedules: `companion.py`).

The operations are declared on their handlers (`routes.API`, with every status code the handler can answer;
`operations.py` holds what the declarations share); this module adds the security scheme, every webhook
payload under `webhooks:` and the schema rules pydantic cannot say by itself. Facts:
``../shared/vendors/eightbyeight.md`` (cited by section); 8x8's own file
``../shared/reference/8x8-chat-gateway-v1.oas.yml`` ("OAS <name>").
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from emulator.core.contracts import REF, RESPONSE_REF, Param, WebhookSpec, too_large_reply
from emulator.vendors.eightbyeight import models as m
from emulator.vendors.eightbyeight import models_webhooks as p
from emulator.vendors.eightbyeight.constants import (
    API_KEY_HEADER,
    PROBLEM_JSON,
    WEBHOOK_CUSTOMER_HEADER,
    WEBHOOK_EVENT_ID_HEADER,
    WEBHOOK_RETRY_HEADER,
    WEBHOOK_SIGNATURE_HEADER,
    WEBHOOK_TENANT_HEADER,
    WEBHOOK_TRANSMISSION_TIME_HEADER,
)
from emulator.vendors.eightbyeight.models_replies import GenericProblem
from emulator.vendors.eightbyeight.oauth import BEARER_SECURITY, CLIENT_SECURITY
from emulator.vendors.eightbyeight.operations import SECURITY_SCHEME, ref
from emulator.vendors.eightbyeight.routes import API
from emulator.vendors.eightbyeight.schedules import SECURITY as SCHEDULE_SECURITY

# --- Webhooks (§1.5, §1.6, §1.9) -----------------------------------------------------------------------------

_DIGITS = {"type": "string", "pattern": "^[0-9]+$"}
WEBHOOK_HEADERS = (
    Param(WEBHOOK_TENANT_HEADER, "header", required=True, description="the 8x8 tenant id"),
    Param(WEBHOOK_CUSTOMER_HEADER, "header", required=True, description="the 8x8 customer id"),
    Param(
        WEBHOOK_EVENT_ID_HEADER,
        "header",
        {"type": "string", "format": "uuid"},
        required=True,
        description="unique per event; the same on every retry",
    ),
    Param(
        WEBHOOK_TRANSMISSION_TIME_HEADER,
        "header",
        _DIGITS,
        required=True,
        description="epoch milliseconds of this attempt",
    ),
    Param(WEBHOOK_RETRY_HEADER, "header", _DIGITS, required=True, description="attempt number, 0 first"),
    Param(
        WEBHOOK_SIGNATURE_HEADER,
        "header",
        {"type": "string", "pattern": r"^[A-Za-z0-9_-]+\.\.[A-Za-z0-9_-]+$"},
        description="JWS with detached unencoded payload (RS256, `b64: false`); absent when signing is off",
    ),
)


def _summary(model: type[BaseModel]) -> str:
    return (model.__doc__ or model.__name__).strip().splitlines()[0]


# Rules of the request models that pydantic validators enforce and JSON Schema can still say.
COMPONENT_RULES: dict[str, dict[str, Any]] = {
    # §1.4: exactly one of `text` / `externalProvider` (a null counts as absent).
    "SendMessageRequest": {
        "oneOf": [
            {"required": ["text"], "properties": {"text": {"not": {"type": "null"}}}},
            {"required": ["externalProvider"], "properties": {"externalProvider": ref("ExternalProvider")}},
        ]
    },
    # §1.4: the OAS requires `notificationVersion` but defines `version`; either (not null) will do.
    "WebhookRequest": {
        "anyOf": [
            {"required": ["version"], "properties": {"version": ref("EventVersion")}},
            {"required": ["notificationVersion"], "properties": {"notificationVersion": ref("EventVersion")}},
        ]
    },
}


# Request models take a JSON number where a string is expected ("123" and 123 alike), as 8x8's JSON binding
# does (models.RequestModel); plain string fields of their components say so. `ConversationUser` is one component
# for requests and responses alike, so its reading in responses is that lenient too.
LENIENT_COMPONENTS = frozenset(
    name for name, obj in vars(m).items() if isinstance(obj, type) and issubclass(obj, m.RequestModel)
)


def _accept_numbers(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _accept_numbers(item)
        return
    if not isinstance(node, dict):
        return
    if node.get("type") == "string" and not {"format", "enum", "const", "pattern"} & node.keys():
        node["type"] = ["string", "number"]
    for key in ("properties", "items", "anyOf", "oneOf", "allOf"):
        child = node.get(key)
        _accept_numbers(list(child.values()) if key == "properties" and isinstance(child, dict) else child)


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def contract() -> dict[str, Any]:
    """The 8x8 Chat Gateway v1 OpenAPI 3.1 document, with every webhook payload under `webhooks:`."""
    hooks = [WebhookSpec(name, model, _summary(model), WEBHOOK_HEADERS) for name, model in p.WEBHOOK_EVENTS.items()]
    doc = API.openapi(
        webhooks=hooks,
        too_large=lambda op: too_large_reply(GenericProblem, PROBLEM_JSON),  # every API's, companions' too
        security_schemes={
            SECURITY_SCHEME: {"type": "apiKey", "name": API_KEY_HEADER, "in": "header"},
            CLIENT_SECURITY: {"type": "http", "scheme": "basic", "description": "OAuth client id and secret"},
            BEARER_SECURITY: {"type": "http", "scheme": "bearer", "description": "a token from /oauth/v2/token"},
            SCHEDULE_SECURITY: {"type": "http", "scheme": "basic", "description": "tenant name and schedule token"},
        },
    )
    schemas = doc["components"]["schemas"]
    for name in LENIENT_COMPONENTS & schemas.keys():
        _accept_numbers(schemas[name])
    for name, rules in COMPONENT_RULES.items():
        schemas[name].update(rules)
    prefix = REF.format(model="")
    defined = {prefix + name for name in schemas}
    defined |= {RESPONSE_REF.format(name=name) for name in doc["components"]["responses"]}
    missing = sorted(set(_refs(doc)) - defined)
    if missing:
        raise RuntimeError(f"the 8x8 contract refers to undefined components: {missing}")
    return doc
