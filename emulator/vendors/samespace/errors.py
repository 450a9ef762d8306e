"""Samespace's error envelope `{"success": false, "message": ...}` (samespace.md §4.3: the adjacent public
API answers `{"success":false,"message":"Cant make call! Not logged In"}`; statuses are [inf]).

Message texts live here, one place.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from emulator.core.errors import EmulatorError
from emulator.core.web import JsonResponse

INVALID_AUTH = "Invalid auth token"
INVALID_JSON = "Invalid JSON payload"
NOT_FOUND = "Not found"
CALL_NOT_FOUND = "Call not found"
METHOD_NOT_ALLOWED = "Method not allowed"
INTERNAL = "Something went wrong"
EMPTY_FLOW = "flow must be a non-empty list of call flow objects"
NO_CALL_STEP = "flow has no call object: a call flow starts with an object of type call"
MANY_CALL_STEPS = "flow has more than one call object"
TOO_MANY_OBJECTS = "flow has more than 1000 call flow objects"
RECORD_NOT_BOOL = "record must be true or false"


class SamespaceError(EmulatorError):
    """An error in Samespace's envelope."""


def unauthorized() -> SamespaceError:
    return SamespaceError(INVALID_AUTH, status_code=401, code="unauthorized")


def bad_request(message: str) -> SamespaceError:
    return SamespaceError(message, status_code=400, code="bad_request")


def call_not_found() -> SamespaceError:
    return SamespaceError(CALL_NOT_FOUND, status_code=404, code="not_found")


def body(message: str) -> dict[str, object]:
    return {"success": False, "message": message}


def render_error(exc: EmulatorError, request: Request) -> Response:
    """Every error under the vendor's base path in Samespace's envelope (unknown paths and 405s too)."""
    if exc.status_code >= 500:
        message = INTERNAL
    elif exc.status_code == 404 and not isinstance(exc, SamespaceError):
        message = NOT_FOUND
    elif exc.status_code == 405 and not isinstance(exc, SamespaceError):
        message = METHOD_NOT_ALLOWED
    else:
        message = exc.message
    return JsonResponse(body(message), status_code=exc.status_code)
