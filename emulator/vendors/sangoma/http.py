"""Request parsing and responses as the Sangoma CX API does them (sangoma.md §2.1, §2.8).

Bodies are JSON objects; a bad body gets a DRF-style 400 (`{"field": ["This field is required."]}`),
a non-object `{"non_field_errors": [...]}`, unparsable JSON `{"detail": "JSON parse error - ..."}`. A GET
may carry `Content-Type: application/json` with no body, as the seed's inbox list does.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from emulator.core.errors import EmulatorError
from emulator.core.web import JsonResponse, parse_json, read_body
from emulator.vendors.sangoma import constants as c
from emulator.vendors.sangoma import errors

M = TypeVar("M", bound=BaseModel)

_TYPE_NAMES = {dict: "dict", list: "list", str: "str", int: "int", float: "float", bool: "bool", type(None): "NoneType"}


def respond(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JsonResponse(body, status_code=status, headers=headers)


def render_error(exc: EmulatorError, request: Request) -> Response:
    """Every error under the Sangoma paths; unknown paths and methods in DRF's words."""
    if isinstance(exc, errors.SangomaError):
        return JsonResponse(exc.body, status_code=exc.status_code, headers=exc.headers or None)
    if exc.status_code == 404:
        return JsonResponse({"detail": c.NOT_FOUND_DETAIL}, status_code=404)
    if exc.status_code == 405:
        return JsonResponse({"detail": c.METHOD_NOT_ALLOWED.format(method=request.method)}, status_code=405)
    if exc.status_code >= 500:
        return JsonResponse({"detail": "A server error occurred."}, status_code=500)
    return JsonResponse({"detail": exc.message}, status_code=exc.status_code)


def _message(err: Any, raw: dict[str, Any]) -> tuple[str, str]:
    loc = [str(p) for p in err["loc"]]
    name = loc[0] if loc else "non_field_errors"
    kind = err["type"]
    value = raw.get(name) if loc else raw
    if kind == "missing":
        return name, c.FIELD_REQUIRED
    if value is None:
        return name, c.FIELD_NULL
    if kind == "literal_error":
        return name, c.INVALID_CHOICE.format(value=value)
    if kind == "string_too_short" and isinstance(value, str):
        return name, c.FIELD_BLANK
    if kind == "string_too_long":
        limit = err.get("ctx", {}).get("max_length")
        return name, f"Ensure this field has no more than {limit} characters."
    if name in ("subscriptions",) and not isinstance(value, list):
        return name, c.NOT_A_LIST.format(type=_TYPE_NAMES.get(type(value), "object"))
    if "not_int" in str(err.get("msg", "")) or name.endswith("_id"):
        return name, c.NOT_AN_INTEGER
    if kind in ("bool_type", "bool_parsing") or "boolean" in str(err.get("msg", "")):
        return name, "Must be a valid boolean."
    return name, c.NOT_A_STRING


def validation_error(exc: ValidationError, raw: dict[str, Any]) -> errors.SangomaError:
    out: dict[str, list[str]] = {}
    for err in exc.errors():
        name, text = _message(err, raw)
        out.setdefault(name, [])
        if text not in out[name]:
            out[name].append(text)
    return errors.fields(out)


async def read_json(request: Request, model: type[M]) -> M:
    """Parse and validate a JSON object body into `model` (DRF-style 400/415 on failure)."""
    raw = await read_body(request)
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if raw.strip() and media and media != "application/json" and not media.endswith("+json"):
        raise errors.unsupported_media(media)
    if not raw.strip():
        data: Any = {}
    else:
        try:
            data = parse_json(raw)
        except ValueError as exc:  # UnicodeDecodeError is one; nesting thousands deep is reported as one
            raise errors.parse_error(str(exc)) from None
    if not isinstance(data, dict):
        text = c.NOT_A_DICT.format(type=_TYPE_NAMES.get(type(data), "object"))
        raise errors.fields({"non_field_errors": [text]})
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, data) from None
