"""The emulated Sangoma CX as an OpenAPI 3.1 document (`contracts/sangoma.openapi.yaml`).

The operations are declared on their handlers (`routes.API`: one per served path, both spellings, with and
without the trailing slash, every status a handler can answer); this module adds what belongs to the API as a
whole: the security schemes and every webhook payload under `webhooks:` (sangoma.md §2.2, §2.5, §2.6, §2.8).
"""

from __future__ import annotations

from typing import Any

from emulator.core.contracts import Param, WebhookSpec, too_large_reply
from emulator.vendors.sangoma import models as m
from emulator.vendors.sangoma.constants import (
    DELIVERY_HEADER,
    SCOPE_AGENT_CALLS,
    SCOPE_DI,
    SCOPE_QUEUE_CALLS,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    TOKEN_PATH,
)
from emulator.vendors.sangoma.models_webhooks import WEBHOOKS
from emulator.vendors.sangoma.routes import API

SIGNING_HEADERS = (
    Param(
        SIGNATURE_HEADER,
        "header",
        {"type": "string", "pattern": "^sha256=[0-9a-f]{64}$"},
        description="when signing is on: HMAC-SHA256 of `{timestamp}.{body}` with the webhook's secret",
    ),
    Param(TIMESTAMP_HEADER, "header", {"type": "string", "pattern": "^[0-9]+$"}, description="when signing is on"),
    Param(DELIVERY_HEADER, "header", {"type": "string"}, description="when signing is on; the same on retries"),
)


def contract() -> dict[str, Any]:
    """The Sangoma CX OpenAPI 3.1 document, with every webhook payload under `webhooks:`."""
    hooks = [WebhookSpec(name, model, summary, SIGNING_HEADERS) for name, (model, summary) in WEBHOOKS.items()]
    # the error models used only through literal `$ref`s must be in components too
    hooks += [
        WebhookSpec(f"_schema.{model.__name__}", model, "not an event: keeps the schema in components")
        for model in (m.Detail, m.CwError, m.CwInvalid)
    ]
    doc = API.openapi(
        webhooks=hooks,
        too_large=lambda op: too_large_reply(m.Detail),
        security_schemes={
            "oauth2": {
                "type": "oauth2",
                "flows": {
                    "clientCredentials": {
                        "tokenUrl": TOKEN_PATH,
                        "scopes": {
                            SCOPE_AGENT_CALLS: "agent calls",
                            SCOPE_QUEUE_CALLS: "queue calls",
                            SCOPE_DI: "Digital Interactions",
                        },
                    }
                },
            },
            "basic": {"type": "http", "scheme": "basic"},
        },
    )
    for name in [k for k in doc.get("webhooks", {}) if k.startswith("_schema.")]:
        del doc["webhooks"][name]
    return doc
