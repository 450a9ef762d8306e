"""OAuth 2.0 client credentials at `/oauth/token` and bearer checks on the API (sangoma.md §2.1).

- Token request: form body, HTTP Basic `client_id:client_secret` (or both as form fields, RFC 6749 §2.3.1),
  `grant_type=client_credentials`, `scope` space-separated. Answer `{access_token, scope, token_type:
  "bearer", expires_in}`; errors in RFC 6749 §5.2 form [inf].
- Clients and tenants [inf]: a configured tenant's client id (default: the tenant name) and secret; in `open`
  auth an unknown client id becomes a tenant of that name, and it takes what it first presents: the first
  secret it uses becomes its secret, and the first `tenant_domain` it sends becomes its tenant domain (so the
  vendor's own curls, `acme.cx.sangoma.com`, work with any client id), unless a configured tenant owns that
  domain. Until then, and for provisioned tenants, the domain is `<name>.cx.sangoma.com` (or the name itself
  when it contains a dot). In `strict` auth only configured or provisioned clients get tokens, and a
  tenant's domain is always the configured or default one.
- A token carries its scopes and expiry (on the emulator clock) and belongs to one tenant: an endpoint needs
  its scope (403 otherwise) and a body's `tenant_domain` must be the token's tenant's (403 otherwise).
"""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from emulator.core.guard import bearer
from emulator.core.ids import TenantIds
from emulator.core.plugin import set_tenant
from emulator.core.runtime import Emulator
from emulator.vendors.sangoma import errors
from emulator.vendors.sangoma.config import SangomaConfig
from emulator.vendors.sangoma.constants import SCOPES, SLUG, TOKEN_TYPE
from emulator.vendors.sangoma.http import respond
from emulator.vendors.sangoma.state import SECRET, SangomaState, decode_tenant, default_domain, issue_token

OPEN_CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}")
"""What `open` auth turns into a tenant: an id that can stand in a URL path segment (the control plane's)."""


def _basic(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        raise errors.oauth("invalid_client", "Client authentication failed.", 401, basic=True)
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise errors.oauth("invalid_client", "Client authentication failed.", 401, basic=True) from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise errors.oauth("invalid_client", "Client authentication failed.", 401, basic=True)
    return client_id, secret


class Gate:
    """Finds tenants by OAuth client, issues tokens, and checks bearer tokens."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.store = emu.store.of(SLUG, SangomaState)
        self.config: SangomaConfig = emu.vendor_config(SLUG)
        self.clients = {(t.client_id or name): name for name, t in self.config.tenants.items()}
        self.owned = {(t.tenant_domain or default_domain(name)).lower() for name, t in self.config.tenants.items()}
        """The configured tenants' domains, which no open-auth client can take."""

    # -- /oauth/token ------------------------------------------------------------------------------------------

    async def token(self, request: Request) -> Response:
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        raw = await request.body()
        if media != "application/x-www-form-urlencoded":
            raise errors.oauth("invalid_request", "The request body must be application/x-www-form-urlencoded.")
        try:
            form: dict[str, str] = {}
            for key, value in parse_qsl(raw.decode(), keep_blank_values=True, strict_parsing=bool(raw.strip())):
                if key in form:
                    raise errors.oauth("invalid_request", f"Parameter {key} is repeated.")
                form[key] = value
        except (UnicodeDecodeError, ValueError):
            raise errors.oauth("invalid_request", "The request body cannot be parsed.") from None
        header = request.headers.get("authorization")
        creds = _basic(header) if header else None
        if creds and ("client_id" in form or "client_secret" in form):
            raise errors.oauth("invalid_request", "Use only one client authentication method.")
        if creds is None:
            if not form.get("client_id"):
                raise errors.oauth("invalid_client", "Client authentication failed.", 401, basic=True)
            creds = (form["client_id"], form.get("client_secret", ""))
        grant = form.get("grant_type")
        if not grant:
            raise errors.oauth("invalid_request", "Missing grant_type parameter value.")
        if grant != "client_credentials":
            raise errors.oauth("unsupported_grant_type", f"Grant type {grant} is not supported.")
        client_id, secret = creds
        tenant = self._client_tenant(client_id, secret)
        set_tenant(request, tenant)
        async with self.store.tenant(tenant) as tx:
            state = tx.state
            self._check_secret(state, tenant, secret)
            wanted = form.get("scope", "").split()
            unknown = [s for s in wanted if s not in SCOPES or s not in state.allowed_scopes]
            if unknown:
                raise errors.oauth("invalid_scope", f"The scope {unknown[0]} is invalid or not allowed.")
            scopes = list(dict.fromkeys(wanted)) or list(state.allowed_scopes)
            lifetime = self.config.token_lifetime
            token = issue_token(tx, client_id, scopes, lifetime)
        body = {"access_token": token, "scope": " ".join(scopes), "token_type": TOKEN_TYPE, "expires_in": lifetime}
        return respond(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _client_tenant(self, client_id: str, secret: str) -> str:
        if not client_id or not secret:
            raise errors.oauth("invalid_client", "Client authentication failed.", 401, basic=True)
        tenant = self.clients.get(client_id)
        if tenant is not None:
            return str(tenant)
        if (self.emu.settings.auth == "open" and OPEN_CLIENT_ID.fullmatch(client_id)) or self._provisioned(client_id):
            return client_id
        raise errors.oauth("invalid_client", "Client authentication failed.", 401, basic=True)

    def _provisioned(self, tenant: str) -> bool:
        """Provisioned (`POST /_emulator/tenants`) or set up by a scenario: strict auth takes its client."""
        return self.store.provisioned(tenant)

    def _check_secret(self, state: SangomaState, tenant: str, secret: str) -> None:
        configured = self.config.tenants.get(tenant)
        expected = configured.client_secret if configured is not None else None
        expected = expected or state.client_secret
        if expected is None:
            state.client_secret = secret  # open auth: the first secret a new client uses is its secret
            return
        if secret != expected:
            raise errors.oauth("invalid_client", "Client authentication failed.", 401, basic=True)

    def check_domain(self, state: SangomaState, domain: str) -> None:
        """A body's `tenant_domain` must be the tenant's (403 otherwise); an open tenant's first one becomes its
        domain. Called inside the tenant's unit of work, so two first requests cannot bind two domains."""
        wanted = domain.strip().lower()
        if state.tenant_domain_open and wanted and wanted not in self.owned:
            state.tenant_domain, state.tenant_domain_open = wanted, False
        elif wanted != state.tenant_domain.lower():
            raise errors.wrong_tenant()

    # -- bearer tokens -------------------------------------------------------------------------------------------

    def tenant(self, request: Request, scope: str) -> str:
        """The tenant of the request's bearer token, which must be live and carry `scope`."""
        return self.authorize(request, scope).tenant

    def authorize(self, request: Request, scope: str) -> SangomaState:
        """The state of the request's bearer token's tenant; the token must be live and carry `scope`."""
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        token = str(token)
        if not header.strip():
            raise errors.not_authenticated()
        if scheme.lower() != "bearer" or not token.strip():
            raise errors.invalid_token()
        token = token.strip()
        prefix, dot, _ = token.partition(".")
        tenant = decode_tenant(prefix) if dot else None
        state = self.store.peek(tenant) if tenant is not None else None
        found = state.tokens.get(token) if state is not None else None
        if tenant is None or state is None or found is None:
            raise errors.invalid_token()
        set_tenant(request, tenant)
        if found.expires_at <= self.emu.scheduler.now(tenant):
            raise errors.invalid_token(expired=True)
        if scope not in found.scopes:
            raise errors.no_permission()
        return state


def identify(emu: Emulator, request: Request) -> str | None:
    """The tenant of a control-plane request's live bearer token (`core.guard`): any scope, never created."""
    token = bearer(request.headers)
    prefix, dot, _ = (token or "").partition(".")
    tenant = decode_tenant(prefix) if dot else None
    state = emu.store.peek(SLUG, tenant) if tenant is not None else None
    found = state.tokens.get(token or "") if isinstance(state, SangomaState) else None
    return tenant if found is not None and found.expires_at > emu.scheduler.now(tenant) else None


def new_secret(ids: TenantIds) -> str:
    return str(ids.new("client_secret", SECRET))
