"""Secrets out of the control plane's views: `GET /_emulator/state` and `GET /_emulator/requests`.

Each vendor declares its secrets (`VendorPlugin.secrets`, a `plugin.Secrets`): state fields as dotted paths,
request headers, and body/form/query field names. `Authorization` is redacted for every vendor (bearer
tokens, HTTP Basic). A redacted value becomes `MASK`; an empty or null one stays as it is (there is no secret
to hide, and the view still says there is none).

A redacted snapshot says so (`"redacted": true`) and `POST /_emulator/state` refuses it (`is_redacted`), as
it refuses one whose secret fields hold `MASK`: restoring it would put placeholders where credentials were.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emulator.core.plugin import Secrets, VendorPlugin

MASK = "[redacted]"
ALWAYS_HEADERS = frozenset({"authorization", "proxy-authorization"})


def _paths(secrets: Secrets) -> list[list[str]]:
    return [p.split(".") for p in secrets.state]


def _children(node: Any, head: str) -> list[tuple[Any, Any]]:
    """(container, key) pairs that `head` names inside `node`."""
    if isinstance(node, dict):
        keys = list(node) if head == "*" else [head] if head in node else []
        return [(node, k) for k in keys]
    if isinstance(node, list) and head == "*":
        return [(node, i) for i in range(len(node))]
    return []


def _mask(node: Any, parts: list[str]) -> None:
    for container, key in _children(node, parts[0]):
        if len(parts) > 1:
            _mask(container[key], parts[1:])
        elif container[key] not in (None, "", {}, []):
            container[key] = MASK


def _holds_mask(node: Any, parts: list[str]) -> bool:
    for container, key in _children(node, parts[0]):
        if len(parts) > 1 and _holds_mask(container[key], parts[1:]):
            return True
        if len(parts) == 1 and container[key] == MASK:
            return True
    return False


def redact_snapshot(snapshot: dict[str, Any], plugins: Mapping[str, VendorPlugin]) -> dict[str, Any]:
    """Mask every declared secret of every tenant's state, in place (`Emulator.snapshot` builds a new dict on
    every call), and mark the snapshot redacted."""
    for vendor, tenants in snapshot.get("store", {}).items():
        plugin = plugins.get(vendor)
        if plugin is None or not plugin.secrets.state:
            continue
        paths = _paths(plugin.secrets)
        for slot in tenants.values():
            for parts in paths:
                _mask(slot["state"], parts)
    snapshot["redacted"] = True
    return snapshot


def is_redacted(snapshot: Mapping[str, Any], plugins: Mapping[str, VendorPlugin]) -> bool:
    """Whether a snapshot was redacted: it says so, or a declared secret field holds `MASK`."""
    if snapshot.get("redacted") is True:
        return True
    store = snapshot.get("store")
    for vendor, tenants in (store if isinstance(store, dict) else {}).items():
        plugin = plugins.get(vendor)
        if plugin is None or not isinstance(tenants, dict):
            continue
        for slot in tenants.values():
            state = slot.get("state") if isinstance(slot, dict) else None
            if any(_holds_mask(state, parts) for parts in _paths(plugin.secrets)):
                return True
    return False


def _form(text: str, fields: frozenset[str]) -> str:
    """`a=1&client_secret=x` with the named fields' values masked (a query string or a form body)."""
    if not fields or "=" not in text:
        return text

    def one(m: re.Match[str]) -> str:
        return f"{m[1]}{m[2]}={MASK}" if m[2] in fields else m[0]

    return re.sub(r"(^|&)([^=&]+)=([^&]*)", one, text)


def _body(node: Any, fields: frozenset[str]) -> Any:
    if isinstance(node, dict):
        return {k: (MASK if k in fields and v not in (None, "") else _body(v, fields)) for k, v in node.items()}
    if isinstance(node, list):
        return [_body(v, fields) for v in node]
    if isinstance(node, str):
        return _form(node, fields)
    return node


def redact_entry(entry: dict[str, Any], plugin: VendorPlugin | None) -> dict[str, Any]:
    """A journal entry (`JournalEntry.to_json()`) with its credentials masked: headers, query, body."""
    secrets = plugin.secrets if plugin is not None else None
    headers = ALWAYS_HEADERS | {h.lower() for h in (secrets.headers if secrets else ())}
    fields = frozenset(secrets.fields if secrets else ())
    entry["headers"] = {k: (MASK if k.lower() in headers else v) for k, v in entry["headers"].items()}
    entry["query"] = _form(entry["query"], fields)
    entry["body"] = _body(entry["body"], fields)
    return entry
