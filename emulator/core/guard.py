"""Who may call which `/_emulator` route when the control plane has an admin token (`--admin-token`).

Without `admin_token` the guard is not installed: the control plane is open, as it always was (local
development). With it, `create_app` puts `ControlGuard` in front of the `/_emulator` mount (never in front
of the vendor paths), and every request is one of:

- the admin: `Authorization: Bearer <admin token>`, compared in constant time; everything;
- a tenant: a vendor credential presented the way that vendor takes it, which the vendor's
  `VendorPlugin.identify` hook maps to one of its existing tenants; that tenant's views and actions only;
- nobody: 401 `{"error": "unauthorized"}` with `WWW-Authenticate: Bearer`.

The dashboard (`/_emulator/ui`) is the admin's too, and a browser cannot send a bearer header: opening
`/_emulator/ui?token=<admin token>` sets the HttpOnly, SameSite=Strict cookie `cxemu_admin` (a value derived from
the token, not the token) and redirects to the same page without the token. The cookie is the admin for every
`/_emulator` GET, but for any other method only with the header `X-Cxemu-UI: 1` (the dashboard's fetch helper
sends it; a cross-site form cannot), so the cookie opens no cross-site request forgery.

What each route needs is `POLICY`, keyed by the method and the path of the control contract (a route missing
from it is the admin's, and a test fails until it is listed):

| access | routes | a tenant credential |
|---|---|---|
| `OPEN` | health, the contracts, the sink's receiving `POST`/`PUT`/`PATCH` | not needed |
| `TENANT` | the clock routes | every `tenant=` must be its own tenant's name |
| `VENDOR_TENANT` | reset, requests, deliveries, journal, events, sink list/clear | as `TENANT`, `vendor=` its own [1] |
| `PATH` | `/vendors/{slug}/tenants/{tenant}/...`, `/sink/{vendor}/{tenant}/...` | the path names its vendor, tenant |
| `OWNED` | one delivery (its redelivery, its signature), one sink request | the record must be its tenant's |
| `ADMIN` | state, chaos, tenants (list and provision), scenarios, verify-receiver, anything not listed | 403 |

[1] `vendor=` is set to the credential's vendor when absent: tenant names are shared across vendors, and an 8x8
key opens the 8x8 tenant only, never the Sangoma tenant of the same name.

The guard records who called in the request scope (`caller(request)`): handlers that show secrets ask it.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    from emulator.core.runtime import Emulator

MOUNT = "/_emulator"
UI = "/ui"
"""The dashboard's path under the mount: where `?token=` sets the cookie."""
COOKIE = "cxemu_admin"
UI_HEADER = "x-cxemu-ui"
CALLER = "cxemu.caller"
"""Scope key: the `Caller` of a control-plane request (absent when no admin token is configured)."""


class Access(StrEnum):
    OPEN = "open"
    TENANT = "tenant"
    VENDOR_TENANT = "vendor_tenant"
    PATH = "path"
    OWNED = "owned"
    ADMIN = "admin"


UNAUTHORIZED = "this control plane needs `Authorization: Bearer <admin token>` or a tenant's own vendor credential"

RECEIVE = ("POST", "PUT", "PATCH")

POLICY: dict[tuple[str, str], Access] = {
    ("GET", "/health"): Access.OPEN,
    ("GET", "/openapi.json"): Access.OPEN,
    ("GET", "/contracts/{slug}"): Access.OPEN,
    **{(m, "/sink/{path}"): Access.OPEN for m in RECEIVE},
    ("GET", "/clock"): Access.TENANT,
    ("POST", "/clock/advance"): Access.TENANT,
    ("POST", "/clock/run-until-idle"): Access.TENANT,
    ("POST", "/reset"): Access.VENDOR_TENANT,
    ("GET", "/requests"): Access.VENDOR_TENANT,
    ("GET", "/deliveries"): Access.VENDOR_TENANT,
    ("GET", "/events"): Access.VENDOR_TENANT,
    ("GET", "/journal"): Access.VENDOR_TENANT,
    ("GET", "/sink"): Access.VENDOR_TENANT,
    ("DELETE", "/sink"): Access.VENDOR_TENANT,
    ("GET", "/sink/{path}"): Access.PATH,
    ("DELETE", "/sink/{path}"): Access.PATH,
    ("*", "/vendors/{vendor}/tenants/{tenant}"): Access.PATH,
    ("*", "/vendors/{vendor}/tenants/{tenant}/{path}"): Access.PATH,
    ("GET", "/deliveries/{delivery_id}"): Access.OWNED,
    ("POST", "/deliveries/{delivery_id}/redeliver"): Access.OWNED,
    ("GET", "/deliveries/{delivery_id}/signature"): Access.OWNED,
    ("GET", "/sink-requests/{request_id}"): Access.OWNED,
    ("GET", "/state"): Access.ADMIN,
    ("POST", "/state"): Access.ADMIN,
    ("GET", "/chaos"): Access.ADMIN,
    ("PUT", "/chaos"): Access.ADMIN,
    ("DELETE", "/chaos"): Access.ADMIN,
    ("GET", "/tenants"): Access.ADMIN,
    ("POST", "/tenants"): Access.ADMIN,
    ("GET", "/scenarios"): Access.ADMIN,
    ("POST", "/scenarios"): Access.ADMIN,
    ("GET", "/scenarios/export"): Access.ADMIN,
    ("GET", "/scenarios/{scenario_id}"): Access.ADMIN,
    ("DELETE", "/scenarios/{scenario_id}"): Access.ADMIN,
    ("POST", "/verify-receiver"): Access.ADMIN,
}
"""Method and path (relative to `/_emulator`, as the control contract names them) -> what it needs."""


def _compile(path: str) -> re.Pattern[str]:
    """A contract path as a regular expression: `{path}` takes the rest of the path, any other `{name}` one
    segment."""
    out, last = [], 0
    for m in re.finditer(r"\{(\w+)\}", path):
        out.append(re.escape(path[last : m.start()]))
        out.append(f"(?P<{m[1]}>.*)" if m[1] == "path" else f"(?P<{m[1]}>[^/]+)")
        last = m.end()
    out.append(re.escape(path[last:]))
    return re.compile("".join(out) + "$")


_TABLE = [(method, _compile(path), access) for (method, path), access in POLICY.items()]


def access_of(method: str, path: str) -> tuple[Access, dict[str, str]]:
    """What a request needs (`ADMIN` when nothing matches) and the path's parameters."""
    method = "GET" if method == "HEAD" else method
    for want, pattern, access in _TABLE:
        if want in ("*", method):
            found = pattern.match(path)
            if found is not None:
                return access, found.groupdict()
    return Access.ADMIN, {}


@dataclass(frozen=True)
class Caller:
    """Who sent a control-plane request: the admin (`vendor` None) or one vendor's tenant."""

    vendor: str | None = None
    tenant: str | None = None

    @property
    def admin(self) -> bool:
        return self.vendor is None


ADMIN = Caller()


def caller(request: Request) -> Caller:
    """Who sent the request: the admin when no admin token is configured (the guard is not installed)."""
    found = request.scope.get(CALLER)
    return found if isinstance(found, Caller) else ADMIN


def bearer(headers: Mapping[str, str]) -> str | None:
    """The token of an `Authorization: Bearer <token>` header."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class ControlGuard:
    """ASGI middleware in front of the `/_emulator` mount; see the module docstring."""

    def __init__(self, app: ASGIApp, emu: Emulator, token: str) -> None:
        self.app = app
        self.emu = emu
        self.token = token.encode()
        self.cookie = hmac.new(self.token, b"cxemu dashboard cookie", "sha256").hexdigest()
        """The cookie's value: derived from the admin token (the token itself never sits in a browser)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        root = scope.get("root_path", "")
        relative = path[len(root) :] if root and path.startswith(root) else path.removeprefix(MOUNT)
        if relative == UI or relative.startswith(UI + "/"):
            login = self._login(scope, MOUNT + relative)
            if login is not None:
                await login(scope, receive, send)
                return
        access, params = access_of(scope["method"], relative)
        if access is Access.OPEN:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        who = self._identify(request)
        if who is None:
            await _deny(401, "unauthorized", UNAUTHORIZED)(scope, receive, send)
            return
        problem = None if who.admin else self._tenant_problem(who, access, params, scope)
        if problem is not None:
            await _deny(403, "forbidden", problem)(scope, receive, send)
            return
        scope[CALLER] = who
        await self.app(scope, receive, send)

    def _login(self, scope: Scope, location: str) -> ASGIApp | None:
        """`?token=`: the admin token sets the cookie and goes to the page without it (303); a wrong one 401."""
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        given = [v for k, v in query if k == "token"]
        if not given:
            return None
        if not hmac.compare_digest(given[-1].encode(), self.token):
            return _deny(401, "unauthorized", "that is not the admin token")
        rest = urlencode([(k, v) for k, v in query if k != "token"])
        cookie = f"{COOKIE}={self.cookie}; Path={MOUNT}; HttpOnly; SameSite=Strict"
        return _redirect(location + (f"?{rest}" if rest else ""), cookie)

    def _identify(self, request: Request) -> Caller | None:
        token = bearer(request.headers)
        if token is not None and hmac.compare_digest(token.encode(), self.token):
            return ADMIN
        cookie = request.cookies.get(COOKIE)
        if cookie is not None and hmac.compare_digest(cookie.encode(), self.cookie.encode()):
            safe = request.method in ("GET", "HEAD") or request.headers.get(UI_HEADER) == "1"
            return ADMIN if safe else None
        for plugin in self.emu.plugins.values():
            if plugin.identify is None:
                continue
            tenant = plugin.identify(self.emu, request)
            if tenant is not None:
                _drop_query(request.scope, plugin.credential_params)
                return Caller(plugin.slug, tenant)
        return None

    def _tenant_problem(self, who: Caller, access: Access, params: dict[str, str], scope: Scope) -> str | None:
        """Why a tenant credential may not make this request, or None when it may."""
        own = f"{who.vendor} tenant {who.tenant!r}"
        if access is Access.ADMIN:
            return f"this route needs the admin token; a credential of {own} opens only that tenant's routes"
        if access is Access.PATH:
            if "vendor" in params:
                vendor, tenant = params.get("vendor"), params.get("tenant")
            else:  # the sink: /sink/{vendor}/{tenant}/..., a path prefix that must not reach `{tenant}suffix/`
                vendor, _, rest = params.get("path", "").partition("/")
                tenant = rest.partition("/")[0]
                _set_query(scope, vendor=str(who.vendor), tenant=str(who.tenant))
            return None if (vendor, tenant) == (who.vendor, who.tenant) else f"the path is not {own}'s"
        if access is Access.OWNED:
            return None if self._owner(params) == (who.vendor, who.tenant) else f"that record is not {own}'s"
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        named = [t for k, v in query if k == "tenant" for t in v.split(",")]
        if not named or any(t != who.tenant for t in named):
            return f"name your own tenant with `tenant={who.tenant}` (a credential of {own})"
        if access is Access.VENDOR_TENANT:
            vendors = [v for k, v in query if k == "vendor"]
            if any(v not in ("", who.vendor) for v in vendors):
                return f"`vendor` must be {who.vendor!r} (a credential of {own})"
            if not any(vendors):
                _set_query(scope, vendor=str(who.vendor))
        return None

    def _owner(self, params: dict[str, str]) -> tuple[str | None, str | None]:
        if "delivery_id" in params:
            d = self.emu.dispatcher.get(params["delivery_id"])
            return (d.vendor, d.tenant) if d is not None else (None, None)
        r = self.emu.sink.get(params.get("request_id", ""))
        return (r.vendor, r.tenant) if r is not None else (None, None)


def _set_query(scope: Scope, **values: str) -> None:
    """Put `values` in the query the handler reads, in place of any it had."""
    query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    kept = [(k, v) for k, v in query if k not in values]
    scope["query_string"] = urlencode([*kept, *values.items()]).encode("latin-1")


def _drop_query(scope: Scope, names: tuple[str, ...]) -> None:
    """Take a credential's query parameters out of the query the handler reads."""
    if names:
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        scope["query_string"] = urlencode([(k, v) for k, v in query if k not in names]).encode("latin-1")


def _deny(status: int, code: str, message: str) -> ASGIApp:
    body = json.dumps({"error": code, "message": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="cxemu control plane"'))

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def _redirect(location: str, cookie: str) -> ASGIApp:
    headers = [(b"location", location.encode("latin-1")), (b"set-cookie", cookie.encode()), (b"content-length", b"0")]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 303, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    return app


def guard(emu: Emulator) -> list[Middleware]:
    """The `/_emulator` mount's middleware: the guard when the settings name an admin token, else none."""
    secret = emu.settings.admin_token
    return [] if secret is None else [Middleware(ControlGuard, emu=emu, token=secret.get_secret_value())]
