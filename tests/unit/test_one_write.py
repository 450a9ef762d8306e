"""A response's head and body leave in one write (`core.httpguard.OneWrite`), over a real TCP connection: what is
held is written at once, in order, when released or closed; nothing is held unless a whole plain response is
being sent (`holding`)."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.background import BackgroundTask
from starlette.responses import Response, StreamingResponse

from emulator.core.httpguard import OneWrite, holding
from emulator.core.web import JsonResponse


class Recorded:
    """A real transport, each `write` it is given recorded (what reaches the socket, call by call)."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.writes: list[bytes] = []
        self.is_closing = transport.is_closing
        self.close = transport.close

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        self.transport.write(data)


class Collect(asyncio.Protocol):
    def __init__(self) -> None:
        self.data = b""
        self.closed = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.data += data

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set_result(None)


async def connected() -> tuple[OneWrite, Recorded, Collect, asyncio.Server]:
    loop = asyncio.get_running_loop()
    accepted: asyncio.Future[Collect] = loop.create_future()

    def accept() -> Collect:
        peer = Collect()
        accepted.set_result(peer)
        return peer

    server = await loop.create_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
    peer = await asyncio.wait_for(accepted, 30)
    recorded = Recorded(transport)  # type: ignore[arg-type]
    return OneWrite(recorded), recorded, peer, server  # type: ignore[arg-type]


async def test_held_writes_go_out_as_one_in_order_and_close_writes_what_is_held() -> None:
    out, recorded, peer, server = await connected()
    out.write(b"before ")
    out.hold()
    out.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    out.write(b"ok")
    assert recorded.writes == [b"before "]
    out.release()
    assert recorded.writes == [b"before ", b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]
    out.write(b" after")
    out.hold()
    out.write(b" held")
    out.close()
    await asyncio.wait_for(peer.closed, 30)
    assert recorded.writes[2:] == [b" after", b" held"]
    assert peer.data == b"before HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok after held"
    server.close()


class Cycle:
    """What `holding` reads from a request's `send`: the object it is bound to, and its `transport`."""

    def __init__(self, transport: Any) -> None:
        self.transport = transport

    async def send(self, message: Any) -> None:
        return None


async def test_only_a_whole_plain_response_on_a_cxemu_connection_is_held() -> None:
    out, recorded, _, server = await connected()
    send = Cycle(out).send

    async def chunks() -> Any:
        yield b"x"

    assert holding(send, JsonResponse({"a": 1})) is out
    out.release()
    assert holding(send, Response(status_code=204)) is out
    out.release()
    assert holding(send, StreamingResponse(chunks())) is None
    assert holding(send, Response(b"x", background=BackgroundTask(print))) is None
    assert holding(Cycle(recorded).send, JsonResponse({"a": 1})) is None  # not a cxemu connection
    out.write(b"straight")
    assert recorded.writes == [b"straight"]
    out.close()
    server.close()
