"""What 8x8's companion APIs share: OAuth (`oauth.py`), real-time metrics (`analytics.py`, `metrics.py`) and
tenant schedules (`schedules.py`). The Chat Gateway workflow recommends both beside Chat Gateway (seed 004, last
note: "Real Time Statistics" to make routing decisions, "Tenant Schedule" to check the center is open).

- One credential string reaches one contact center through every 8x8 API: the Chat Gateway key, the OAuth client
  id and the schedule API's user name all name the same tenant (`http.Gate.lookup`).
- Secrets: in `open` auth any non-blank secret or token is taken (as any key is); in `strict` auth it must be the
  tenant's configured one, or the one derived from the seed and the tenant (`derived_secret`), which
  `POST /_emulator/tenants` hands out (`control.credentials`) [inf].
- `CompanionError`s render themselves: these APIs do not use Chat Gateway's problem+json envelope.
- XML bodies are built from the same JSON-shaped values (`to_xml`): a list is an element per item named by the
  list's item name, a mapping an element per key [inf: 8x8 documents XML output but not its exact layout].
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from starlette.requests import Request
from starlette.responses import Response

from emulator.core.clock import iso
from emulator.core.errors import EmulatorError
from emulator.core.runtime import Emulator
from emulator.core.web import JsonResponse
from emulator.vendors.eightbyeight.config import EightByEightConfig
from emulator.vendors.eightbyeight.constants import METRICS_PREFIXES, SCHEDULES_PREFIX, SLUG

XML = "application/xml"
JSON = "application/json"
XML_DECLARATION = "<?xml version='1.0' encoding='UTF-8' ?>\n"


class CompanionError(EmulatorError):
    """An error of a companion API, rendered in that API's own shape (`render`)."""

    def render(self, request: Request) -> Response:
        raise NotImplementedError


def derived_secret(emu: Emulator, tenant: str, kind: str) -> str:
    """A tenant's default secret of one kind ("client_secret", "schedule_token"): the same for the same seed."""
    digest = hashlib.sha256(f"{emu.settings.seed}:{SLUG}:{kind}:{tenant}".encode()).hexdigest()
    return digest[:32]


def tenant_secret(emu: Emulator, tenant: str, kind: str) -> str:
    """The tenant's configured secret of `kind`, else the derived one."""
    cfg: EightByEightConfig = emu.vendor_config(SLUG)
    tenant_cfg = cfg.tenants.get(tenant)
    configured: str | None = getattr(tenant_cfg, kind) if tenant_cfg is not None else None
    return configured or derived_secret(emu, tenant, kind)


def secret_ok(emu: Emulator, tenant: str, kind: str, given: str) -> bool:
    """Open auth takes any non-blank secret; strict auth only the tenant's own (module docstring)."""
    if not given.strip():
        return False
    return emu.settings.auth == "open" or given == tenant_secret(emu, tenant, kind)


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """The (user, password) of an `Authorization: Basic` header, or None when absent or unreadable."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep and user else None


def wants_xml(request: Request, suffix: str = "") -> bool:
    """XML when the path ends in `.xml` or the `Accept` header names XML before (or without) JSON; else JSON."""
    if suffix:
        return suffix == "xml"
    accept = request.headers.get("accept", "").lower()
    xml_at, json_at = accept.find("xml"), accept.find("json")
    return xml_at >= 0 and (json_at < 0 or xml_at < json_at)


def _xml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return escape(str(value))


def element(name: str, value: Any, items: Mapping[str, str], attributes: Mapping[str, Any] | None = None) -> str:
    """`value` as the element `name`; a list's items are elements named `items[name]` (else `item`)."""
    attrs = "".join(f" {k}={quoteattr(str(v))}" for k, v in (attributes or {}).items())
    if isinstance(value, Mapping):
        inner = "".join(element(k, v, items) for k, v in value.items())
    elif isinstance(value, Sequence) and not isinstance(value, str):
        inner = "".join(element(items.get(name, "item"), v, items) for v in value)
    elif value is None:
        return f"<{name}{attrs}/>"
    else:
        inner = _xml_value(value)
    return f"<{name}{attrs}>{inner}</{name}>"


def to_xml(root: str, value: Any, items: Mapping[str, str] | None = None) -> bytes:
    return (XML_DECLARATION + element(root, value, items or {})).encode("utf-8")


# -- errors of the metrics and schedule APIs ----------------------------------------------------------------

REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed"}


class MetricsFailure(CompanionError):
    """A real-time metrics error: `{timestamp, status, error, message, path}` [inf: 8x8 documents the statuses
    (RT-OAS) and, for X-Tenant-Info, the messages ("CC Realtime Statistics" §2), not the body]."""

    def __init__(self, status: int, message: str, at: float) -> None:
        super().__init__(message, status_code=status, code=REASONS.get(status, "Error"))
        self.at = at

    def render(self, request: Request) -> Response:
        body = {
            "timestamp": iso(self.at, millis=True),
            "status": self.status_code,
            "error": self.code,
            "message": self.message,
            "path": request.url.path,
        }
        return JsonResponse(body, status_code=self.status_code)


class ScheduleFailure(CompanionError):
    """A Tenant Schedule API error, `{"error": {code, message}}` in JSON or XML as asked [inf]."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message, status_code=status, code=str(status))

    def render(self, request: Request) -> Response:
        body = {"code": self.status_code, "message": self.message}
        headers = {"www-authenticate": 'Basic realm="8x8 Tenant Schedule API"'} if self.status_code == 401 else None
        if wants_xml(request, path_suffix(request.url.path)):
            return Response(to_xml("error", body), self.status_code, headers, media_type=XML)
        return JsonResponse({"error": body}, status_code=self.status_code, headers=headers)


def path_suffix(path: str) -> str:
    """`json` or `xml` when the path ends in `.json` / `.xml` (the Tenant Schedule API takes both), else ""."""
    tail = path.rsplit(".", 1)[-1] if "." in path.rsplit("/", 1)[-1] else ""
    return tail if tail in ("json", "xml") else ""


def fallback(exc: EmulatorError, request: Request) -> Response | None:
    """Errors raised outside the companion handlers (unknown path, wrong method, body limit) under their paths."""
    path = request.url.path
    if path.startswith(METRICS_PREFIXES):
        emu: Emulator = request.app.state.emulator
        return MetricsFailure(exc.status_code, exc.message, emu.scheduler.now()).render(request)
    if path.startswith(SCHEDULES_PREFIX):
        return ScheduleFailure(exc.status_code, exc.message).render(request)
    return None
