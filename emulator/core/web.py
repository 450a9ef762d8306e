"""Web helpers shared by the control plane, the scenarios package, settings and the vendors.

| name | what it does |
|---|---|
| `error(status, code, message)`, `ErrorOut` | a `{"error", "message"}` JSON reply (the control plane's envelope) |
| `RequestModel` | base of control-plane request bodies: strict JSON types, no unknown fields |
| `guarded(fn)` | a handler whose bad input (`ValidationError`, `ValueError`, `ConfigError`) becomes that 400 |
| `first_error(exc, prefix)` | the first pydantic error as `loc: msg` text; `first_loc` gives its parts |
| `parse_json(raw)` | strict JSON to Python, else a `ValueError` saying why (see its docstring) |
| `not_json(data)` | what in parsed data (YAML) strict JSON cannot hold (`NaN`, a lone surrogate), or None |
| `json_body(request)`, `json_object(request)` | the request body parsed; `json_object` insists on an object |
| `q_int`, `q_float`, `q_bool` | a query parameter, range-checked (`ValueError` naming it) |
| `reply(model, status)` | a pydantic model serialised straight to a JSON response (no dict in between) |
| `EmptyResponse(status)` | Starlette's `Response(status_code=status)` without its generic header building |
| `JsonResponse` | Starlette's `JSONResponse`, byte for byte, its body from `json_bytes` (the vendors' replies use it) |
| `json_bytes(content)` | `JsonResponse`'s body: `json.dumps`'s bytes, by orjson where they are the same |
| `header(request, name)` | one request header (lower-case bytes name), read without building Starlette's `Headers` |
| `read_body(request)` | `await request.body()` without Starlette's async generator per request (vendor hot paths) |
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Awaitable, Callable, Mapping
from json.encoder import c_encode_basestring, c_make_encoder  # type: ignore[attr-defined]
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from emulator.core.errors import ConfigError

try:
    import orjson
except ModuleNotFoundError:  # pragma: no cover - a dependency; `json` writes the same bytes without it
    orjson = None  # type: ignore[assignment]

Handler = Callable[[Request], Awaitable[Response]]


_DUMPS = json.JSONEncoder(ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"))
_C_ENCODER = (
    None
    if c_make_encoder is None
    else c_make_encoder(None, _DUMPS.default, c_encode_basestring, None, ":", ",", False, False, False)
)
"""`_DUMPS`'s own C encoder, made once: `JSONEncoder.encode` builds one per call (and a dict for its circular
check: vendor bodies are built from state and are never circular, so a cycle would be a RecursionError)."""


def _encode(content: Any) -> str:
    """`json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))`, byte for byte."""
    if _C_ENCODER is None:  # pragma: no cover - CPython always has the C accelerator
        return _DUMPS.encode(content)
    return "".join(_C_ENCODER(content, 0))


def _short_exponent(out: bytes) -> bool:
    """Whether `out` may hold a float written with a one-digit negative exponent (orjson `1e-7`, json `1e-07`): `e-`,
    one digit, then the end of a number in compact JSON (`,`, `]`, `}` or the end)."""
    at = out.find(b"e-")
    while at >= 0:
        if out[at + 2 : at + 3].isdigit() and out[at + 3 : at + 4] in _NUMBER_ENDS:
            return True
        at = out.find(b"e-", at + 2)
    return False


_NUMBER_ENDS = (b",", b"]", b"}", b"")


_ORJSON_LOADS = None if orjson is None else orjson.loads

if orjson is not None:
    _ORJSON = orjson.dumps
    _ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME

    def orjson_or(content: Any, written: Callable[[Any], bytes]) -> bytes:
        """`written(content)`, a compact `json` writing of `content` (`ensure_ascii=False`), byte for byte, written by
        orjson when its bytes are certainly the same. orjson writes strings, integers, booleans, lists and dicts as
        `json` does, and floats in the same shortest form except below 1e-4 (`0.00001` for `1e-05`, `1e-7` for
        `1e-07`), and `null` for NaN and infinities. Output holding `null`, `.0000` or a one-digit negative exponent
        (also by chance, inside a string) and anything orjson refuses (non-string keys, integers past 64 bits, deep
        nesting, a lone surrogate, a dataclass or date) go to `written`, which writes or raises what it did before.
        orjson writes a UUID or a plain `Enum`, which `json` refuses: no body holds one."""
        try:
            out = _ORJSON(content, option=_ORJSON_OPTIONS)
        except TypeError:  # orjson.JSONEncodeError
            return written(content)
        find = out.find  # (not `b"null" in out`: `in` on bytes first tries its operand as an integer, and the
        # TypeError it makes and clears formats a message: ~1,900 instructions each, three per body)
        if find(b"null") >= 0 or find(b".0000") >= 0 or (find(b"e-") >= 0 and _short_exponent(out)):
            return written(content)
        return out

else:  # pragma: no cover - orjson is a dependency

    def orjson_or(content: Any, written: Callable[[Any], bytes]) -> bytes:
        """`written(content)`."""
        return written(content)


def _encoded(content: Any) -> bytes:
    return _encode(content).encode()


def json_bytes(content: Any) -> bytes:
    """`_encode(content)` as UTF-8, byte for byte (what Starlette's `JSONResponse` renders with these options), by
    orjson where its bytes are the same (`orjson_or`); `json` raises what it raised before for what it cannot write
    (NaN, which orjson writes as `null`, included)."""
    return orjson_or(content, _encoded)


class EmptyResponse(Response):
    """`Response(status_code=status)`, byte for byte: no body, and `content-length: 0` unless the status has no
    body (1xx, 204, 304), set directly instead of through Starlette's generic header building (8x8 answers every
    message 202 and many changes 204)."""

    def __init__(self, status_code: int) -> None:
        self.status_code = status_code
        self.background = None
        self.body = b""
        self.raw_headers = [] if status_code < 200 or status_code in (204, 304) else [(b"content-length", b"0")]


_MEDIA: dict[str, bytes] = {}
"""Media types as header values, encoded once (the same bytes object every time: `httpguard.sent` finds it checked
by its cached hash)."""


def _media(kind: str) -> bytes:
    value = kind.encode("latin-1")
    if len(_MEDIA) < 64:
        _MEDIA[kind] = value
    return value


class JsonResponse(JSONResponse):
    """Starlette's `JSONResponse`, byte for byte, its body written by `json_bytes` (`json.dumps` with these options
    builds a new encoder for every response and costs several times what orjson does; vendors' reply helpers are on
    every request). Without extra
    headers its two headers are set directly (`content-length`, then `content-type`, as Starlette's
    `init_headers` writes them) instead of through Starlette's generic header building."""

    def __init__(
        self,
        content: Any,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        kind = self.media_type if media_type is None else media_type
        if (
            headers is not None
            or background is not None
            or status_code < 200  # 1xx, 204 and 304 go without content-length: Starlette's own path
            or status_code in (204, 304)
            or kind.startswith("text/")
        ):
            super().__init__(content, status_code, headers, media_type, background)
            return
        self.status_code = status_code
        self.media_type = kind
        self.background = None
        self.body = body = self.render(content)
        media = _MEDIA.get(kind)
        if media is None:
            media = _media(kind)
        self.raw_headers = [(b"content-length", str(len(body)).encode()), (b"content-type", media)]

    def render(self, content: Any) -> bytes:
        return json_bytes(content)


def header(request: Request, name: bytes) -> str | None:
    """The first value of the header `name` (lower-case, as ASGI servers hand names over), or None: what
    `request.headers.get` answers, without the `Headers` mapping and its generic `Mapping.get` (the hot read
    paths ask for one or two headers per request)."""
    for key, value in request.scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def read_body(request: Request) -> bytes:
    """`await request.body()`, the same bytes and the same `ClientDisconnect`, read straight from `receive`:
    Starlette's `body()` runs an async generator (which the event loop registers) inside `aclosing` for every
    request. The body is kept on the request as Starlette keeps it (the journal reads it there)."""
    body: bytes | None = getattr(request, "_body", None)
    if body is not None:
        return body
    if request._stream_consumed:
        raise RuntimeError("Stream consumed")
    receive = request.receive
    chunks: list[bytes] = []
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "http.request":
            chunk = message.get("body", b"")
            if chunk:
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        elif kind == "http.disconnect":
            request._is_disconnected = True
            raise ClientDisconnect()
    request._stream_consumed = True
    body = request._body = b"".join(chunks)
    return body


class RequestModel(BaseModel):
    """Request bodies: JSON types as JSON Schema reads them (see `core.types`) and no unknown fields."""

    model_config = ConfigDict(extra="forbid")


class ErrorOut(BaseModel):
    error: str = Field(description="machine-readable code")
    message: str


def error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


def first_loc(exc: ValidationError) -> tuple[list[str], str]:
    """The first error's location (as strings) and message."""
    err = exc.errors()[0]
    return [str(p) for p in err["loc"]], str(err["msg"])


def first_error(exc: ValidationError, prefix: str = "") -> str:
    """The first error as `loc: msg` (`prefix.loc: msg` with a prefix; just `msg` when there is no location)."""
    loc, msg = first_loc(exc)
    where = ".".join([prefix, *loc] if prefix else loc)
    return f"{where}: {msg}" if where else msg


def guarded(fn: Handler) -> Handler:
    """Turn bad input into a 400 in the control plane's envelope, never a 500."""

    async def endpoint(request: Request) -> Response:
        try:
            return await fn(request)
        except ValidationError as exc:
            return error(400, "invalid_request", first_error(exc))
        except (ConfigError, ValueError) as exc:
            return error(400, "invalid_request", str(exc))

    endpoint.__name__ = fn.__name__
    endpoint.__doc__ = fn.__doc__
    return endpoint


class _NotJson(ValueError):
    """Raised by the decoder hooks below; `parse_json` turns it into its own message."""


def _no_constant(name: str) -> Any:
    raise _NotJson(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotJson(f"{text} is out of range")
    return value


_DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite)


def not_json(data: Any) -> str | None:
    """What in already parsed data (from YAML, say) strict JSON cannot hold: `NaN`/`Infinity` or a lone
    surrogate in a string or key; None when there is none. Walked without recursion."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode()
                except UnicodeEncodeError:
                    return "a lone surrogate, such as \\ud800"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return f"{item} is not a JSON number"
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return None


_LONG_DIGITS = re.compile(rb"\d{19}").search
"""Finds a run of 19 digits: an integer that may be past 64 bits, which orjson reads as a float (`json` as an int)."""
MAX_DEPTH = 256
"""Arrays and objects nested deeper than this are refused (`nested too deeply`). A fixed bound, not Python's
recursion limit: how deep a parser or an encoder can go depends on how deep the stack already is where it runs, so
without it the same body could be accepted on one call and refused on another, or accepted and then fail to encode
in a control-plane view built deeper in the stack. No vendor body comes near it."""


def _deeper_than(data: Any, limit: int) -> bool:
    """Whether parsed JSON nests arrays or objects more than `limit` levels deep (walked without recursion)."""
    stack = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if type(item) is dict else item
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if type(child) is dict or type(child) is list)
    return False


def _too_deep(raw: bytes | str, data: Any) -> bool:
    """`data`, parsed from `raw`, nests past `MAX_DEPTH` (a text shorter than two characters a level, or with fewer
    brackets than the bound, cannot: only such a text's values are walked)."""
    if len(raw) <= 2 * MAX_DEPTH or not (type(data) is dict or type(data) is list):
        return False
    openers = raw.count(b"[") + raw.count(b"{") if isinstance(raw, bytes) else raw.count("[") + raw.count("{")
    return openers > MAX_DEPTH and _deeper_than(data, MAX_DEPTH)


_TOO_DEEP = "the body is not valid JSON (nested too deeply)"


def parse_json(raw: bytes | str) -> Any:
    """Parse strict JSON (RFC 8259: UTF-8, no `NaN`/`Infinity`, every `\\u` escape a whole character); a
    `ValueError` says why not (arrays or objects nested deeper than `MAX_DEPTH` included).

    What this accepts can always be written back as strict JSON, so a body it let in can never break a
    control-plane view or put non-JSON into a webhook. Strings are only scanned for lone surrogates when the
    text holds a `\\u` escape (or, for `str` input, is not plain ASCII).

    Bytes are read by orjson first (every vendor request body, a fifth of `json`'s cost), which gives the same
    values wherever it accepts a text: the same keys in the same order (a repeated key's last value), the same
    strings and the same floats (correctly rounded). Everything it refuses goes to `json` below, which answers as
    it always did: a byte order mark, `NaN`/`Infinity` and numbers out of range, a lone surrogate (orjson refuses
    what this refuses too), invalid UTF-8, bad syntax. Left to `json` beforehand: a run of 19 digits (orjson reads
    an integer past 64 bits as a float). Nesting needs no such care: `MAX_DEPTH`, checked after either parser, is
    below the depth at which either refuses, so the two agree on it."""
    if type(raw) is bytes and _ORJSON_LOADS is not None and (len(raw) < 19 or _LONG_DIGITS(raw) is None):
        try:
            data = _ORJSON_LOADS(raw)
        except ValueError:  # orjson.JSONDecodeError: `json` says why (or accepts it: a byte order mark)
            pass
        else:
            if _too_deep(raw, data):
                raise ValueError(_TOO_DEEP)
            return data
    try:
        if isinstance(raw, str):
            text, escaped = raw, "\\u" in raw or not raw.isascii()
        else:
            text, escaped = raw.decode(), b"\\u" in raw
            if text.startswith("\ufeff"):  # a byte order mark, as json.loads allows in bytes
                text = text[1:]
        data = _DECODER.decode(text)
    except UnicodeDecodeError:
        raise ValueError("the body is not valid JSON (not UTF-8 text)") from None
    except _NotJson as exc:
        raise ValueError(f"the body is not valid JSON ({exc})") from None
    except ValueError:
        raise ValueError("the body is not valid JSON") from None
    except RecursionError:
        raise ValueError(_TOO_DEEP) from None
    if _too_deep(raw, data):
        raise ValueError(_TOO_DEEP)
    problem = not_json(data) if escaped else None
    if problem is not None:
        raise ValueError(f"the body is not valid JSON ({problem})")
    return data


async def json_body(request: Request, *, optional: bool = False) -> Any:
    """The body as JSON; an empty body is `{}` when `optional`, else a `ValueError`."""
    raw = await read_body(request)
    if not raw.strip():
        if optional:
            return {}
        raise ValueError("a JSON body is required")
    return parse_json(raw)


async def json_object(request: Request, *, optional: bool = False) -> dict[str, Any]:
    """The body as a JSON object (`ValueError` for any other JSON value)."""
    data = await json_body(request, optional=optional)
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    return data


def reply(model: BaseModel, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A pydantic model as a JSON response, serialised by pydantic's core in one step."""
    body = model.__pydantic_serializer__.to_json(model)
    return Response(body, status_code=status, headers=headers, media_type="application/json")


N = TypeVar("N", int, float)


def _q_number(request: Request, name: str, default: N | None, lo: N, hi: N, kind: type[N]) -> N | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError(f"{name}: must be {'an integer' if kind is int else 'a number'}") from None
    if not lo <= value <= hi:
        raise ValueError(f"{name}: must be between {lo:g} and {hi:g}")
    return value


def q_int(request: Request, name: str, default: int | None, lo: int, hi: int) -> int | None:
    return _q_number(request, name, default, lo, hi, int)


def q_float(request: Request, name: str, default: float, lo: float, hi: float) -> float:
    value = _q_number(request, name, default, lo, hi, float)
    return default if value is None else value


def q_bool(request: Request, name: str, default: bool) -> bool:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if raw.lower() in ("1", "true", "yes"):
        return True
    if raw.lower() in ("0", "false", "no"):
        return False
    raise ValueError(f"{name}: must be true or false")
