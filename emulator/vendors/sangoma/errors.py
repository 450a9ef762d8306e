"""Sangoma CX error envelopes: three layers, three shapes (sangoma.md §2.1, §2.8).

- OAuth (`/oauth/token`): RFC 6749 §5.2 `{"error", "error_description"}` [inf: undocumented].
- The Sangoma API layer (bearer token, scopes, tenant_domain, body fields): Django-REST-Framework style
  `{"detail": "..."}` or `{"<field>": ["..."]}` [inf: DRF, consistent with the trailing-slash paths].
- The Chatwoot layer behind Digital Interactions: `{"error": "..."}` or `{"message", "attributes"}` (§2.8).
"""

from __future__ import annotations

from typing import Any

from emulator.core.errors import EmulatorError
from emulator.vendors.sangoma import constants as c


class SangomaError(EmulatorError):
    """An error with its exact JSON body."""

    def __init__(
        self, status: int, body: dict[str, Any], *, code: str = "sangoma", headers: dict[str, str] | None = None
    ):
        super().__init__(str(body), status_code=status, code=code)
        self.body = body
        self.headers = headers or {}


# -- OAuth -----------------------------------------------------------------------------------------------------


def oauth(error: str, description: str, status: int = 400, *, basic: bool = False) -> SangomaError:
    headers = {"WWW-Authenticate": 'Basic realm="oauth"'} if basic else {}
    return SangomaError(status, {"error": error, "error_description": description}, code=error, headers=headers)


# -- DRF layer -------------------------------------------------------------------------------------------------


def detail(status: int, text: str, *, code: str = "detail") -> SangomaError:
    headers = {"WWW-Authenticate": 'Bearer realm="api"'} if status == 401 else {}
    return SangomaError(status, {"detail": text}, code=code, headers=headers)


def not_authenticated() -> SangomaError:
    return detail(401, c.NOT_AUTHENTICATED, code="not_authenticated")


def invalid_token(expired: bool = False) -> SangomaError:
    return detail(401, c.EXPIRED_TOKEN if expired else c.INVALID_TOKEN, code="authentication_failed")


def no_permission() -> SangomaError:
    return detail(403, c.NO_PERMISSION, code="permission_denied")


def wrong_tenant() -> SangomaError:
    return detail(403, c.WRONG_TENANT, code="permission_denied")


def fields(errors: dict[str, list[str]]) -> SangomaError:
    return SangomaError(400, dict(errors), code="invalid")


def field(name: str, text: str) -> SangomaError:
    return fields({name: [text]})


def parse_error(text: str) -> SangomaError:
    return detail(400, c.JSON_PARSE_ERROR.format(detail=text), code="parse_error")


def unsupported_media(media: str) -> SangomaError:
    return detail(415, c.UNSUPPORTED_MEDIA.format(media=media), code="unsupported_media_type")


def agent_not_found(name: str, domain: str) -> SangomaError:
    return detail(404, c.AGENT_NOT_FOUND.format(name=name, domain=domain), code="not_found")


def agent_not_logged_in(name: str) -> SangomaError:
    return detail(400, c.AGENT_NOT_LOGGED_IN.format(name=name), code="agent_not_logged_in")


def queue_not_found(name: str, domain: str) -> SangomaError:
    return detail(404, c.QUEUE_NOT_FOUND.format(name=name, domain=domain), code="not_found")


# -- Chatwoot layer --------------------------------------------------------------------------------------------


def cw_not_found() -> SangomaError:
    return SangomaError(404, {"error": c.CW_NOT_FOUND}, code="not_found")


def cw_error(text: str, status: int = 422) -> SangomaError:
    return SangomaError(status, {"error": text}, code="unprocessable")


def cw_invalid(message: str, *attributes: str) -> SangomaError:
    return SangomaError(422, {"message": message, "attributes": list(attributes)}, code="unprocessable")
