"""CM.com error envelopes.

- The send API (gateway and BMProxy) always answers JSON `{details, errorCode, messages}`; a request CM
  refuses as a whole is HTTP 400 with `messages: []` (cmcom.md §3.1). `SendError` carries the errorCode.
- The router control API's errors are undocumented; they are rendered as ASP.NET Core problem details
  (`application/problem+json`, `errors` per field for validation), CM's .NET stack [inf]. `RouterError`.
"""

from __future__ import annotations

from typing import Any

from emulator.core.errors import EmulatorError
from emulator.vendors.cmcom import constants as c


class SendError(EmulatorError):
    """The whole send request is refused (HTTP 400 unless told)."""

    def __init__(self, error_code: c.Code, details: str, *, status_code: int = 400) -> None:
        super().__init__(details, status_code=status_code, code=str(int(error_code)))
        self.error_code = error_code


def send_body(err: SendError) -> dict[str, Any]:
    return {"details": err.message, "errorCode": int(err.error_code), "messages": []}


def malformed(reason: str) -> SendError:
    return SendError(c.Code.REQUEST_MALFORMED, c.MALFORMED.format(reason=reason))


def no_account() -> SendError:
    return SendError(c.Code.AUTHENTICATION_FAILED, c.NO_ACCOUNT)


class RouterError(EmulatorError):
    """A router control request refused, as problem details."""

    def __init__(
        self, status_code: int, title: str, *, type_: str, detail: str | None = None, errors: dict[str, list[str]]
        | None = None
    ) -> None:  # fmt: skip
        super().__init__(detail or title, status_code=status_code, code=title)
        self.title = title
        self.type_ = type_
        self.detail = detail
        self.errors = errors


def problem_body(err: RouterError) -> dict[str, Any]:
    body: dict[str, Any] = {"type": err.type_, "title": err.title, "status": err.status_code}
    if err.errors is not None:
        body["errors"] = err.errors
    if err.detail is not None:
        body["detail"] = err.detail
    return body


def invalid(field: str, message: str) -> RouterError:
    return RouterError(400, c.VALIDATION_TITLE, type_=c.VALIDATION_TYPE, errors={field: [message]})


def not_found(detail: str) -> RouterError:
    return RouterError(404, c.NOT_FOUND_TITLE, type_=c.NOT_FOUND_TYPE, detail=detail)


def unauthorized() -> RouterError:
    return RouterError(401, c.UNAUTHORIZED_TITLE, type_=c.UNAUTHORIZED_TYPE, detail=c.MISSING_TOKEN)
