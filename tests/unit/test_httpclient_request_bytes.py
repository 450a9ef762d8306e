"""The webhook client's request bytes: the joined-in-C encoding (`_post_request`) against the line-by-line one it
replaced (`_encoded`), which still encodes every request the fast one does not take.

A receiver sees the same bytes whichever way a request was written: the same header lines in the same order, the
client's own `Host` and `Content-Length` in place of a caller's, the same error for a header that cannot be sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from emulator.core.httpclient import HttpClient, _encoded, _post_request
from tests.support.rawhttp import OK, Serve, read_request, receivers

HEAD = "POST /hook/x?a=1 HTTP/1.1\r\nHost: 127.0.0.1:9\r\n"

latin1 = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=20)
names = st.one_of(latin1, st.sampled_from(["Host", "host", "HOST", "content-length", "Content-Length", "hOsT"]))


def old(headers: dict[str, str], body: bytes) -> bytes:
    return _encoded([HEAD, f"Content-Length: {len(body)}\r\n"], headers.items(), body)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(names, latin1, max_size=12), st.binary(max_size=300))
@example({}, b"")
@example({"content-type": "application/json", "user-agent": "cxemu", "x-8x8-retry": "0"}, b'{"a":1}')
@example({"Host": "evil", "x": "1", "CONTENT-LENGTH": "99"}, b"{}")
def test_the_same_bytes_as_the_line_by_line_encoding(headers: dict[str, str], body: bytes) -> None:
    assert _post_request(HEAD, headers, body) == old(headers, body)


@pytest.mark.parametrize(
    "headers",
    [
        {"x-number": 7},  # not a string: formatted, as before
        {"x-none": None},
        {"x": "1", "x-list": ["a"]},
    ],
)
def test_values_that_are_not_strings_are_written_as_before(headers: dict[str, object]) -> None:
    assert _post_request(HEAD, headers, b"{}") == old(headers, b"{}")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ({"x-emoji": "\N{GRINNING FACE}"}, UnicodeEncodeError),  # beyond latin-1
        ({7: "a"}, AttributeError),  # a name that is not a string
    ],
)
def test_a_header_that_cannot_be_sent_fails_the_same_way(headers: dict[object, str], error: type[Exception]) -> None:
    with pytest.raises(error) as new_way:
        _post_request(HEAD, headers, b"{}")  # type: ignore[arg-type]
    with pytest.raises(error) as old_way:
        old(headers, b"{}")  # type: ignore[arg-type]
    assert str(new_way.value) == str(old_way.value)


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    async for start in receivers():
        yield start


async def test_a_receiver_gets_the_headers_in_order_and_the_clients_own_host_and_length(serve: Serve) -> None:
    got: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                got.append(await read_request(reader))
            except asyncio.IncompleteReadError:
                break
            writer.write(OK)
            await writer.drain()
        writer.close()

    client = HttpClient(limit=4)
    try:
        url = await serve(handler)
        headers = {"content-type": "application/json", "HOST": "elsewhere", "x-b": "2", "Content-Length": "1"}
        for _ in range(2):  # a new connection, then the pooled one (`reserve` + `send`)
            answer = await client.post(url, b'{"a":1}', headers, 5.0, guarded=False)
            assert (answer.status, answer.excerpt) == (200, b"ok")
    finally:
        await client.close()
    assert len(got) == 2
    assert got[0] == got[1]
    head = got[0].split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert head[2:] == [b"Content-Length: 7", b"content-type: application/json", b"x-b: 2"]
    assert head[1].startswith(b"Host: 127.0.0.1:")
