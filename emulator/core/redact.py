"""Secrets out of the control plane's views: `GET /_emulator/state`, `GET /_emulator/requests` and the webhook
deliveries (`GET /_emulator/deliveries`, the journal's `delivery` and `attempt` entries).

Each vendor declares its secrets (`VendorPlugin.secrets`, a `plugin.Secrets`): state fields as dotted paths,
request headers, and body/form/query field names. `Authorization` is redacted for every vendor (bearer
tokens, HTTP Basic). A redacted value becomes `MASK`; an empty or null one stays as it is (there is no secret
to hide, and the view still says there is none).

A delivery's receiver URL is the integration's own: its user info (`https://user:password@host/`) and every
query value (`?token=...`: cxemu cannot tell which of a receiver's parameters is a credential) are masked, in a
request's body too (the request that registered the receiver: every URL in a `/requests` body, `_urls`); the
headers cxemu sent are masked as a request's are, its body's declared fields too, and in a snapshot the declared
keys of its `profile` (`Secrets.delivery`: Sangoma's webhook secret, which signs it).

A redacted snapshot says so (`"redacted": true`) and `POST /_emulator/state` refuses it (`is_redacted`), as
it refuses one whose secret fields hold `MASK`: restoring it would put placeholders where credentials were.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

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


def _secret_headers(plugin: VendorPlugin | None) -> frozenset[str]:
    return ALWAYS_HEADERS | {h.lower() for h in (plugin.secrets.headers if plugin is not None else ())}


def _headers(headers: Mapping[str, str], secret: frozenset[str]) -> dict[str, str]:
    return {k: (MASK if k.lower() in secret else v) for k, v in headers.items()}


def redact_entry(entry: dict[str, Any], plugin: VendorPlugin | None) -> dict[str, Any]:
    """A journal entry (`JournalEntry.to_json()`) with its credentials masked: headers, query, body (its declared
    fields, and every URL in it as a delivery's URL is masked: `_urls`)."""
    fields = frozenset(plugin.secrets.fields if plugin is not None else ())
    entry["headers"] = _headers(entry["headers"], _secret_headers(plugin))
    entry["query"] = _form(entry["query"], fields)
    entry["body"] = _urls(_body(entry["body"], fields))
    return entry


def _urls(node: Any) -> Any:
    """A request's JSON body with every http(s) URL in it masked by `redact_url` (user info, query values): a body
    that registers a receiver (8x8's `uri`, Sangoma's `webhook_url`, Samespace's `publish.url`) carries the
    credentials the deliveries' views hide, and which string is a receiver is the vendor's business, so every URL
    is treated alike. Only the view is masked: the journal keeps the request as it came (a state file's journal)."""
    if isinstance(node, dict):
        return {k: _urls(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_urls(v) for v in node]
    if isinstance(node, str) and node[:8].lower().startswith(("http://", "https://")):
        return redact_url(node)
    return node


def redact_url(url: str) -> str:
    """A receiver URL with its user info and query values masked (`https://[redacted]@host/p?token=[redacted]`);
    one that does not split is masked whole."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
    query = "&".join(_query_item(item) for item in parts.query.split("&")) if parts.query else ""
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _query_item(item: str) -> str:
    """`name=[redacted]`; a bare item (`?abc123`, maybe a token itself) masked whole; an empty value kept."""
    name, eq, value = item.partition("=")
    if not eq:
        return MASK if name else name
    return f"{name}={MASK}" if value else item


def redact_attempt(attempt: dict[str, Any], plugin: VendorPlugin | None) -> dict[str, Any]:
    """A delivery attempt's JSON (its `url` and the `headers` sent) with its credentials masked, in place."""
    attempt["url"] = redact_url(attempt["url"])
    if "headers" in attempt:
        attempt["headers"] = _headers(attempt["headers"], _secret_headers(plugin))
    return attempt


def redact_delivery(delivery: dict[str, Any], plugin: VendorPlugin | None) -> dict[str, Any]:
    """A delivery's JSON (`Delivery.to_json()`, `persist()`, or the journal's `delivery` entry) with its
    credentials masked, in place: its URL and its attempts' (`redact_attempt`), the headers it sends as they were,
    its body's declared fields, and its profile's declared keys."""
    delivery["url"] = redact_url(delivery["url"])
    for attempt in delivery.get("attempts", ()):
        redact_attempt(attempt, plugin)
    if delivery.get("headers_as_was") is not None:
        delivery["headers_as_was"] = _headers(delivery["headers_as_was"], _secret_headers(plugin))
    secrets = plugin.secrets if plugin is not None else None
    if secrets is not None and "body" in delivery:
        delivery["body"] = _body(delivery["body"], frozenset(secrets.fields))
    if secrets is not None and isinstance(delivery.get("profile"), dict):
        delivery["profile"] = _body(delivery["profile"], frozenset(secrets.delivery))
    return delivery
