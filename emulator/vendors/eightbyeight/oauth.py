"""8x8's OAuth token endpoint for its XCaaS APIs, and the bearer check of the real-time metrics API.

Facts (eightbyeight.md §1.2; 8x8 "OAuth Authentication for 8x8 XCaaS APIs",
developer.8x8.com/analytics/docs/oauth-authentication-for-8x8-xcaas-apis):
- `POST /oauth/v2/token`, HTTP Basic with the client id and secret, form body `grant_type=client_credentials`.
- The answer: `access_token`, `token_type` "BearerToken", `expires_in` "1799", `issued_at` (epoch ms), the API
  products, `status` "approved", every value a string; an unsupported grant is 400
  `{"ErrorCode": "invalid_request", "Error": "Unsupported grant type : x"}`.
- Then `Authorization: Bearer <access_token>` on the API (8x8 "CC Realtime Statistics", step 1).

Chosen here [inf]: the client id names the tenant as the Chat Gateway key of that name does (`companion.py`); an
unknown client or a wrong secret is 401 `{"ErrorCode": "invalid_client", "Error": "ClientId is Invalid"}`; the
token is opaque to clients and carries its tenant after a dot; a missing, unknown or expired bearer token gets
the API gateway's `{"fault": {...}}` 401 (8x8 serves these APIs behind Apigee: RT-OAS `info.description`).
Tokens expire on the tenant's clock.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from emulator.core.contracts import Body, Reply
from emulator.core.ids import fmt_alnum
from emulator.core.web import JsonResponse
from emulator.vendors.eightbyeight import models_companion as mc
from emulator.vendors.eightbyeight.companion import JSON, CompanionError, basic_credentials, secret_ok
from emulator.vendors.eightbyeight.http import Ctx
from emulator.vendors.eightbyeight.operations import API
from emulator.vendors.eightbyeight.state import EightByEightState

TOKEN_PATH = "/oauth/v2/token"
GRANT_TYPE = "client_credentials"
EXPIRES_IN = 1799  # eightbyeight.md §1.2 ("1799" or "3600")
API_PRODUCTS = ("chat-gateway", "cc-realtime-analytics")  # §1.2: the list names "chat-gateway", "vcc"
TOKEN_ID = fmt_alnum(28)
CLIENT_SECURITY = "8x8OAuthClient"
BEARER_SECURITY = "8x8Bearer"

UNSUPPORTED_GRANT = "Unsupported grant type : {grant_type}"
INVALID_CLIENT = "ClientId is Invalid"
# The gateway's faults [inf]: (faultstring, errorcode)
NO_TOKEN = ("Invalid access token", "oauth.v2.InvalidAccessToken")
BAD_TOKEN = ("Invalid Access Token", "keymanagement.service.invalid_access_token")
EXPIRED_TOKEN = ("Access Token expired", "keymanagement.service.access_token_expired")


class TokenError(CompanionError):
    """The token endpoint's `{"ErrorCode", "Error"}`."""

    def __init__(self, status: int, code: str, text: str) -> None:
        super().__init__(text, status_code=status, code=code)

    def render(self, request: Request) -> Response:
        return JsonResponse({"ErrorCode": self.code, "Error": self.message}, status_code=self.status_code)


class BearerError(CompanionError):
    """401 from the gateway in front of the metrics API."""

    def __init__(self, fault: tuple[str, str]) -> None:
        super().__init__(fault[0], status_code=401, code=fault[1])

    def render(self, request: Request) -> Response:
        body = {"fault": {"faultstring": self.message, "detail": {"errorcode": self.code}}}
        return JsonResponse(body, status_code=401, headers={"www-authenticate": "Bearer"})


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _tenant_of(token: str) -> str | None:
    _, dot, tail = token.rpartition(".")
    if not dot:
        return None
    try:
        return base64.urlsafe_b64decode(tail + "=" * (-len(tail) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def bearer_state(ctx: Ctx, request: Request) -> EightByEightState:
    """The state of the tenant whose live bearer token the request carries, else the gateway's 401."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise BearerError(NO_TOKEN)
    tenant = _tenant_of(token)
    state = ctx.store.peek(tenant) if tenant else None
    expiry = state.oauth_tokens.get(token) if state is not None else None
    if state is None or expiry is None or tenant is None:
        raise BearerError(BAD_TOKEN)
    if ctx.emu.scheduler.now(tenant) >= expiry:
        raise BearerError(EXPIRED_TOKEN)
    return state


async def _grant_type(request: Request) -> str:
    raw = (await request.body()).decode("utf-8", errors="replace")
    values = parse_qs(raw).get("grant_type") or request.query_params.getlist("grant_type")
    return values[0] if values else "null"


TOKEN_FORM = Body(
    media_type="application/x-www-form-urlencoded",
    schema={
        "type": "object",
        "required": ["grant_type"],
        "properties": {"grant_type": {"type": "string", "const": GRANT_TYPE}},
    },
)


@API.op(
    "POST", TOKEN_PATH, "createAccessToken", "A bearer token for 8x8's XCaaS APIs (client credentials)",
    {
        200: Reply("the token", mc.AccessToken, JSON),
        400: Reply("grant_type is not client_credentials", mc.OAuthError, JSON),
        401: Reply("no Basic credentials, or an unknown client id or wrong secret [inf]", mc.OAuthError, JSON),
    },
    tags=("OAuth",), body=TOKEN_FORM, security=[{CLIENT_SECURITY: []}],
)  # fmt: skip
async def create_token(ctx: Ctx, request: Request) -> Response:
    credentials = basic_credentials(request)
    tenant = ctx.gate.lookup(credentials[0]) if credentials else None
    if credentials is None or tenant is None or not secret_ok(ctx.emu, tenant, "client_secret", credentials[1]):
        raise TokenError(401, "invalid_client", INVALID_CLIENT)
    grant_type = await _grant_type(request)
    if grant_type != GRANT_TYPE:
        raise TokenError(400, "invalid_request", UNSUPPORTED_GRANT.format(grant_type=grant_type))
    async with ctx.unit(request, tenant) as tx:
        now = tx.now()
        tokens = tx.state.oauth_tokens
        for stale in [t for t, expiry in tokens.items() if expiry <= now]:
            del tokens[stale]
        token = f"{tx.ids.new('oauth_token', TOKEN_ID)}.{_b64(tenant)}"
        tokens[token] = now + EXPIRES_IN
    return JsonResponse(_token_body(token, credentials[0], tenant, now))


def _token_body(token: str, client_id: str, tenant: str, now: float) -> dict[str, Any]:
    return {
        "refresh_token_expires_in": "0",
        "api_product_list": f"[{', '.join(API_PRODUCTS)}]",
        "api_product_list_json": list(API_PRODUCTS),
        "organization_name": "8x8",
        "token_type": "BearerToken",
        "issued_at": str(int(now * 1000)),
        "client_id": client_id,
        "access_token": token,
        "application_name": tenant,
        "scope": "",
        "expires_in": str(EXPIRES_IN),
        "refresh_count": "0",
        "status": "approved",
    }
