"""A plain response written by `core.httpguard.sent` is what uvicorn's own `send` writes, byte for byte, in one write,
and leaves uvicorn's request cycle in the state `send` leaves it in: each response here is answered twice over real
TCP connections, once through `sent` and once through uvicorn's `send`, and both are compared. What `sent` does not
take (a streaming response, a background task, headers uvicorn acts on or refuses) is left untouched for `send`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from starlette.background import BackgroundTask
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from emulator.core.httpguard import sent
from emulator.core.web import EmptyResponse, JsonResponse

DEFAULTS = [(b"date", b"Mon, 07 Dec 2026 12:00:00 GMT"), (b"server", b"uvicorn")]


class Recorded:
    """A real transport, each `write` it is given recorded (what reaches the socket, call by call)."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        self.transport.write(data)

    def is_closing(self) -> bool:
        return self.closed or self.transport.is_closing()

    def close(self) -> None:
        self.closed = True
        self.transport.close()

    def get_write_buffer_size(self) -> int:
        return self.transport.get_write_buffer_size()


class Collect(asyncio.Protocol):
    def __init__(self) -> None:
        self.data = b""
        self.arrived = asyncio.Event()

    def data_received(self, data: bytes) -> None:
        self.data += data
        self.arrived.set()


class Connection:
    """One real TCP connection whose server end is a recorded transport, and a uvicorn cycle on it."""

    def __init__(self, transport: Recorded, peer: Collect, server: asyncio.Server) -> None:
        self.transport, self.peer, self.server = transport, peer, server
        self.responses = 0

    def cycle(self, method: str = "GET", *, keep_alive: bool = True) -> RequestResponseCycle:
        scope: Any = {"type": "http", "method": method, "path": "/x", "headers": []}
        return RequestResponseCycle(
            scope=scope,
            transport=self.transport,  # type: ignore[arg-type]  # the transport's interface, recorded
            flow=FlowControl(self.transport),  # type: ignore[arg-type]
            logger=None,  # type: ignore[arg-type]  # neither way logs
            access_logger=None,  # type: ignore[arg-type]
            access_log=False,
            default_headers=list(DEFAULTS),
            message_event=asyncio.Event(),
            expect_100_continue=True,
            keep_alive=keep_alive,
            on_response=self.answered,
        )

    def answered(self) -> None:
        self.responses += 1

    def close(self) -> None:
        if not self.transport.closed:
            self.transport.close()
        self.server.close()


async def connected() -> Connection:
    loop = asyncio.get_running_loop()
    accepted: asyncio.Future[asyncio.Transport] = loop.create_future()

    class Server(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            accepted.set_result(transport)  # type: ignore[arg-type]

    server = await loop.create_server(Server, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    _, peer = await loop.create_connection(Collect, "127.0.0.1", port)
    transport = await asyncio.wait_for(accepted, 30)
    return Connection(Recorded(transport), peer, server)


STATE = (
    "response_started",
    "response_complete",
    "keep_alive",
    "waiting_for_100_continue",
    "chunked_encoding",
    "expected_content_length",
)


def state(cycle: RequestResponseCycle, conn: Connection) -> dict[str, Any]:
    out = {name: getattr(cycle, name) for name in STATE}
    out["event"] = cycle.message_event.is_set()
    out["responses"] = conn.responses
    out["closed"] = conn.transport.closed
    return out


async def delivered(conn: Connection, size: int) -> bytes:
    peer = conn.peer
    while len(peer.data) < size:
        peer.arrived.clear()
        await asyncio.wait_for(peer.arrived.wait(), 30)
    return peer.data


HAL, PROBLEM = "application/hal+json", "application/problem+json"

CASES: list[tuple[str, Callable[[], Response], str, bool]] = [
    ("json-200", lambda: JsonResponse({"id": "c-1", "state": "QUEUED"}, media_type=HAL), "GET", True),
    ("json-404", lambda: JsonResponse({"status": 404}, status_code=404, media_type=PROBLEM), "GET", True),
    ("starlette-json", lambda: JSONResponse({"a": "é"}), "GET", True),
    ("empty-202", lambda: EmptyResponse(202), "POST", True),
    ("empty-204", lambda: EmptyResponse(204), "DELETE", True),
    ("response-204", lambda: Response(status_code=204), "DELETE", True),
    ("headers", lambda: Response(b"{}", 201, {"Location": "/v1/x/1", "x-request-id": "r-1"}), "POST", True),
    ("text", lambda: PlainTextResponse("fine"), "GET", True),
    ("head", lambda: JsonResponse({"id": "c-1"}), "HEAD", True),
    ("http-1.0", lambda: JsonResponse({"id": "c-1"}), "GET", False),
]


@pytest.mark.parametrize(("make", "method", "keep_alive"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_sent_writes_what_uvicorns_send_writes_in_one_write_and_leaves_the_same_state(
    make: Callable[[], Response], method: str, keep_alive: bool
) -> None:
    ours, theirs = await connected(), await connected()
    try:
        cycle = ours.cycle(method, keep_alive=keep_alive)
        assert sent(cycle.send, make())
        other = theirs.cycle(method, keep_alive=keep_alive)
        await make()(other.scope, other.receive, other.send)  # type: ignore[arg-type]

        assert len(ours.transport.writes) == 1
        assert ours.transport.writes[0] == b"".join(theirs.transport.writes)
        assert state(cycle, ours) == state(other, theirs)
        assert await delivered(ours, len(ours.transport.writes[0])) == ours.transport.writes[0]
    finally:
        ours.close()
        theirs.close()


async def _chunks() -> AsyncIterator[bytes]:
    yield b"x"


def _header(name: bytes, value: bytes) -> Response:
    response = Response(b"x")
    response.raw_headers.append((name, value))
    return response


def _length(value: bytes) -> Response:
    response = Response(b"four")
    response.raw_headers[0] = (b"content-length", value)
    return response


LEFT: list[tuple[str, Callable[[], Response]]] = [
    ("streaming", lambda: StreamingResponse(_chunks())),
    ("background", lambda: Response(b"x", background=BackgroundTask(print))),
    ("bad-value", lambda: _header(b"x-bad", b"a\nb")),
    ("bad-name", lambda: _header(b"x bad", b"a")),
    ("upper-case-name", lambda: _header(b"X-Upper", b"a")),
    ("connection-close", lambda: _header(b"connection", b"close")),
    ("chunked", lambda: _header(b"transfer-encoding", b"chunked")),
    ("length-too-short", lambda: _length(b"3")),
    ("length-not-digits", lambda: _length(b" 4")),
    ("no-length", lambda: _no_length()),
    ("status-out-of-range", lambda: Response(b"x", status_code=600)),
]


def _no_length() -> Response:
    response = Response(b"body")
    del response.raw_headers[0]
    return response


@pytest.mark.parametrize("make", [c[1] for c in LEFT], ids=[c[0] for c in LEFT])
async def test_what_sent_does_not_take_is_left_to_uvicorns_send_untouched(make: Callable[[], Response]) -> None:
    conn = await connected()
    try:
        cycle = conn.cycle()
        before = state(cycle, conn)
        assert not sent(cycle.send, make())
        assert state(cycle, conn) == before
        assert conn.transport.writes == []
    finally:
        conn.close()


async def test_a_cycle_that_has_started_or_is_gone_is_left_alone() -> None:
    conn = await connected()
    try:
        started = conn.cycle()
        started.response_started = True
        gone = conn.cycle()
        gone.disconnected = True
        paused = conn.cycle()
        paused.flow.write_paused = True
        for cycle in (started, gone, paused):
            assert not sent(cycle.send, JsonResponse({"a": 1}))
        assert not sent(_not_uvicorn, JsonResponse({"a": 1}))  # another server's send
        assert conn.transport.writes == []
    finally:
        conn.close()


async def _not_uvicorn(message: Any) -> None:
    raise AssertionError("not called")
