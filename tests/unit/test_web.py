"""The shared web helpers (`emulator.core.web`): error text, body parsing and query parsing."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, Field, ValidationError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from emulator.core.web import (
    EmptyResponse,
    JsonResponse,
    first_error,
    json_object,
    parse_json,
    q_bool,
    q_int,
    read_body,
    reply,
)


class _Inner(BaseModel):
    n: int = Field(ge=1)


class _Outer(BaseModel):
    inner: _Inner


def _request(body: bytes = b"", query: str = "") -> Request:
    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {"type": "http", "method": "POST", "path": "/", "headers": [], "query_string": query.encode()}
    return Request(scope, receive)


def test_first_error_names_the_location_and_a_prefix() -> None:
    with pytest.raises(ValidationError) as caught:
        _Outer.model_validate({"inner": {"n": 0}})
    assert first_error(caught.value) == "inner.n: Input should be greater than or equal to 1"
    assert first_error(caught.value, "vendors.echo").startswith("vendors.echo.inner.n: ")


def test_parse_json_refuses_nesting_too_deep_with_a_readable_text() -> None:
    with pytest.raises(ValueError, match="nested too deeply"):
        parse_json("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_json(b"{nope")


async def test_json_object_insists_on_an_object() -> None:
    assert await json_object(_request(b'{"a": 1}')) == {"a": 1}
    assert await json_object(_request(b" ", ""), optional=True) == {}
    with pytest.raises(ValueError, match="must be a JSON object"):
        await json_object(_request(b"[1]"))
    with pytest.raises(ValueError, match="a JSON body is required"):
        await json_object(_request(b""))


def test_query_helpers_name_the_parameter() -> None:
    assert q_int(_request(query="limit=5"), "limit", 1, 0, 10) == 5
    with pytest.raises(ValueError, match="limit: must be between 0 and 10"):
        q_int(_request(query="limit=50"), "limit", 1, 0, 10)
    with pytest.raises(ValueError, match="body: must be true or false"):
        q_bool(_request(query="body=maybe"), "body", True)


def test_reply_serialises_a_model_as_json() -> None:
    response = reply(_Inner(n=3), 201)
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    assert json.loads(bytes(response.body)) == {"n": 3}


BODIES = [
    {"id": "c1", "user": {"name": 'Zoë \u2028 "q" \\ \x00'}, "n": [1, -0.0, 1.5e300, 10**30], "ok": True, "x": None},
    [],
    "text",
    {7: "int key", 2.5: "float key", None: "null key", False: "bool key"},
]


@pytest.mark.parametrize("content", BODIES, ids=["object", "empty-list", "string", "odd-keys"])
@pytest.mark.parametrize(
    ("status", "media_type", "headers"),
    [(200, None, None), (202, "application/hal+json", None), (204, None, None), (200, None, {"x-extra": "1"})],
    ids=["200", "hal-202", "204-no-length", "extra-header"],
)
def test_json_response_is_starlettes_byte_for_byte(
    content: object, status: int, media_type: str | None, headers: dict[str, str] | None
) -> None:
    ours = JsonResponse(content, status_code=status, media_type=media_type, headers=headers)
    theirs = JSONResponse(content, status_code=status, media_type=media_type, headers=headers)
    assert (ours.body, ours.raw_headers, ours.status_code) == (theirs.body, theirs.raw_headers, theirs.status_code)
    assert ours.body == json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


@pytest.mark.parametrize("content", [float("nan"), {"x": float("inf")}, {"x": object()}], ids=["nan", "inf", "object"])
def test_json_response_refuses_what_json_dumps_refuses(content: object) -> None:
    with pytest.raises((ValueError, TypeError)) as ours:
        JsonResponse(content)
    with pytest.raises((ValueError, TypeError)) as theirs:
        json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    assert (type(ours.value), str(ours.value)) == (type(theirs.value), str(theirs.value))


@pytest.mark.parametrize("status", [101, 200, 201, 202, 204, 304, 404])
def test_empty_response_is_starlettes_byte_for_byte(status: int) -> None:
    ours, theirs = EmptyResponse(status), Response(status_code=status)
    assert (ours.body, ours.raw_headers, ours.status_code, ours.background, ours.media_type) == (
        theirs.body, theirs.raw_headers, theirs.status_code, theirs.background, theirs.media_type,
    )  # fmt: skip
    ours.headers["connection"] = "close"  # each response has its own header list (the 413 path adds to it)
    assert EmptyResponse(status).raw_headers == theirs.raw_headers


def _streamed(messages: list[dict[str, object]]) -> Request:
    pending = list(messages)

    async def receive() -> dict[str, object]:
        return pending.pop(0)

    return Request({"type": "http", "method": "POST", "path": "/", "headers": [], "query_string": b""}, receive)


@pytest.mark.parametrize(
    "chunks",
    [[b""], [b'{"a":1}'], [b'{"a"', b"", b":1}"], [b"", b"x" * 70_000]],
    ids=["empty", "one-message", "three-messages", "large"],
)
async def test_read_body_is_starlettes_body(chunks: list[bytes]) -> None:
    def messages() -> list[dict[str, object]]:
        return [{"type": "http.request", "body": c, "more_body": n < len(chunks) - 1} for n, c in enumerate(chunks)]

    ours, theirs = _streamed(messages()), _streamed(messages())
    assert await read_body(ours) == await theirs.body() == b"".join(chunks)
    assert await read_body(ours) == await ours.body() == await theirs.body()  # kept on the request, as Starlette does
    assert [c async for c in ours.stream()] == [c async for c in theirs.stream()]


async def test_read_body_raises_client_disconnect_as_starlette_does() -> None:
    gone = [{"type": "http.request", "body": b"{", "more_body": True}, {"type": "http.disconnect"}]
    ours, theirs = _streamed(list(gone)), _streamed(list(gone))
    with pytest.raises(ClientDisconnect):
        await read_body(ours)
    with pytest.raises(ClientDisconnect):
        await theirs.body()
