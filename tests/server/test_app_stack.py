"""A vendor request goes from the body limit straight to its route (`app.App`), without Starlette's exception
layers: an error that still escapes a vendor route gets what those layers gave, byte for byte, on a real
uvicorn server over raw sockets (a response that fails before it starts: Starlette's plain 500, then the
connection is closed; one that fails once started: the connection closed with nothing sent). A vendor's
unknown path and wrong method still take Starlette's path (the vendor's 404 and 405 envelopes)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from emulator.core.plugin import VendorPlugin
from emulator.pytest_plugin import ServerThread
from tests.server.test_server_limits import exchange

pytestmark = pytest.mark.server


class _Nothing(BaseModel):
    pass


async def missing_file(request: Request) -> Response:
    """A response that raises before it sends anything (FileResponse finds no file when it is sent)."""
    return FileResponse("/nonexistent/cxemu-test-no-such-file")


async def bad_header(request: Request) -> Response:
    """A response uvicorn refuses once it has started it (a header value with a line break)."""
    return Response(b"x", headers={"x-bad": "a\nb"})


async def fine(request: Request) -> Response:
    return Response(b"fine", media_type="text/plain")


async def client(request: Request) -> Response:
    """Who the server says sent the request, and over what (uvicorn's proxy headers may change both)."""
    peer = request.client.host if request.client is not None else "-"
    return Response(f"{peer} {request.url.scheme}".encode(), media_type="text/plain")


PLUGIN = VendorPlugin(
    slug="stack",
    title="Stack (test vendor)",
    state_type=_Nothing,
    new_state=lambda emu, tenant, ids: _Nothing(),
    routes=lambda emu: [
        Route("/stack/v1/missing-file", missing_file, methods=["GET"]),
        Route("/stack/v1/bad-header", bad_header, methods=["GET"]),
        Route("/stack/v1/fine", fine, methods=["GET"]),
        Route("/stack/v1/client", client, methods=["GET"]),
    ],
    base_paths=("/stack/v1",),
)


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    thread = ServerThread({"plugins": [f"{__name__}:PLUGIN"]})
    thread.start()
    try:
        yield thread
    finally:
        thread.stop()


def get(path: str, method: str = "GET") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nhost: cxemu\r\n\r\n".encode()


def without_date(answer: bytes) -> bytes:
    return re.sub(rb"date: [^\r]*\r\n", b"", answer)


def test_a_vendor_response_failing_before_it_starts_is_starlettes_plain_500_and_the_connection_closes(
    server: ServerThread,
) -> None:
    answer = exchange(server, get("/stack/v1/missing-file") + get("/stack/v1/fine"))  # the second never answered
    assert without_date(answer) == (
        b"HTTP/1.1 500 Internal Server Error\r\nserver: uvicorn\r\ncontent-length: 21\r\n"
        b"content-type: text/plain; charset=utf-8\r\n\r\nInternal Server Error"
    )


def test_a_vendor_response_failing_once_started_closes_the_connection_with_nothing_sent(
    server: ServerThread,
) -> None:
    assert exchange(server, get("/stack/v1/bad-header")) == b""


def test_a_vendor_route_answers_and_keeps_the_connection(server: ServerThread) -> None:
    answer = exchange(server, get("/stack/v1/fine") + get("/stack/v1/fine", "HEAD") + b"GET /x HTTP/1.0\r\n\r\n")
    assert without_date(answer).startswith(
        b"HTTP/1.1 200 OK\r\nserver: uvicorn\r\ncontent-length: 4\r\ncontent-type: text/plain; charset=utf-8\r\n\r\n"
        b"fine"
        b"HTTP/1.1 200 OK\r\nserver: uvicorn\r\ncontent-length: 4\r\ncontent-type: text/plain; charset=utf-8\r\n\r\n"
        b"HTTP/1.1 404 Not Found\r\n"
    )


@pytest.mark.parametrize(
    ("request_", "head", "code"),
    [
        (get("/stack/v1/nowhere"), b"HTTP/1.1 404 Not Found\r\n", b'{"error":"not_found"'),
        (get("/stack/v1/fine", "DELETE"), b"HTTP/1.1 405 Method Not Allowed\r\n", b'{"error":"method_not_allowed"'),
    ],
    ids=["unknown-path", "wrong-method"],
)
def test_unknown_paths_and_wrong_methods_under_a_vendor_still_get_starlettes_path(
    server: ServerThread, request_: bytes, head: bytes, code: bytes
) -> None:
    answer = exchange(server, request_ + b"GET /x HTTP/1.0\r\n\r\n")
    assert answer.startswith(head)
    assert code in answer
    if code == b'{"error":"method_not_allowed"':
        allow = re.search(rb"\r\nallow: ([^\r]*)\r\n", answer)
        assert allow is not None
        assert sorted(allow[1].split(b", ")) == [b"GET", b"HEAD"]


@pytest.mark.parametrize(
    ("lines", "seen"),
    [
        ((), b"127.0.0.1 http"),
        (("x-forwarded-for: 203.0.113.7, 127.0.0.1",), b"203.0.113.7 http"),  # the nearest hop not trusted
        (("x-forwarded-for: 203.0.113.7",), b"203.0.113.7 http"),
        (("x-forwarded-proto: https",), b"127.0.0.1 https"),
        (("X-Forwarded-Proto: https", "X-Forwarded-For: 198.51.100.2"), b"198.51.100.2 https"),
    ],
    ids=["none", "trusted-chain", "for", "proto", "both"],
)
def test_uvicorns_proxy_headers_still_apply_from_a_trusted_peer(
    server: ServerThread, lines: tuple[str, ...], seen: bytes
) -> None:
    request = "\r\n".join(["GET /stack/v1/client HTTP/1.1", "host: cxemu", *lines, "connection: close", "", ""])
    answer = exchange(server, request.encode())
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert answer.endswith(b"\r\n\r\n" + seen)
