"""The webhook delivery client against real sockets: keep-alive, framing, failures and timeouts."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from emulator.core.httpclient import HttpClient, HttpError
from emulator.pytest_plugin import WebhookSink
from tests.support.rawhttp import Serve, read_request, receivers


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    async for start in receivers():
        yield start


@pytest.fixture
async def client() -> AsyncIterator[HttpClient]:
    c = HttpClient(limit=8, excerpt=16)
    yield c
    await c.close()


async def test_keeps_one_connection_alive_across_posts(
    client: HttpClient, webhook_sink: WebhookSink, serve: Serve
) -> None:
    for i in range(20):
        answer = await client.post(webhook_sink.url_for("/hook"), f'{{"n":{i}}}'.encode(), {"x-a": "1"}, 5)
        assert answer.status == 200
    got = webhook_sink.wait_for(count=20)
    assert got[0].headers["x-a"] == "1"
    assert got[0].headers["content-length"] == str(len(b'{"n":0}'))
    assert got[19].json == {"n": 19}

    connections: list[int] = []

    async def keep_alive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            while True:
                await read_request(reader)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except asyncio.IncompleteReadError:
            writer.close()  # the client closed the connection

    url = await serve(keep_alive)
    for _ in range(20):
        assert (await client.post(url, b"{}", {}, 5)).status == 200
    assert len(connections) == 1


@pytest.mark.parametrize(
    ("answer", "status", "excerpt", "keep"),
    [
        # past the excerpt the rest is not read: the connection is closed, not reused
        (b"HTTP/1.1 500 Oops\r\nContent-Length: 20\r\n\r\n0123456789abcdefghij", 500, b"0123456789abcdef", False),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", 200, b"abcde", True),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", 204, b"", True),
        (b"HTTP/1.1 202 Accepted\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", 202, b"ok", False),
        (b"HTTP/1.0 200 OK\r\n\r\nuntil close", 200, b"until close", False),
    ],
    ids=["excerpt-cut", "chunked", "continue-then-204", "connection-close", "read-until-close"],
)
async def test_answer_framing(
    client: HttpClient,
    serve: Serve,
    answer: bytes,
    status: int,
    excerpt: bytes,
    keep: bool,
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer)
        await writer.drain()
        if b"HTTP/1.0" in answer:
            writer.close()
        await reader.read()  # keep the connection until the client closes it
        writer.close()

    got = await client.post(await serve(handler), b"{}", {}, 5)
    assert (got.status, got.excerpt, got.keep_alive) == (status, excerpt, keep)


async def test_a_reused_connection_the_server_closed_is_retried_on_a_fresh_one(
    client: HttpClient, serve: Serve
) -> None:
    seen: list[bytes] = []

    async def one_answer_per_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await read_request(reader))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")  # says keep-alive, then hangs up
        await writer.drain()
        writer.close()

    url = await serve(one_answer_per_connection)
    assert (await client.post(url, b"1", {}, 5)).status == 200
    assert (await client.post(url, b"2", {}, 5)).status == 200
    assert [r.endswith(b"1") for r in seen] == [True, False]
    assert len(seen) == 2


async def test_refused_connection_is_an_error(client: HttpClient) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(HttpError, match="cannot connect"):
        await client.post(f"http://127.0.0.1:{port}/", b"{}", {}, 5)


async def test_a_receiver_that_never_answers_times_out(client: HttpClient, serve: Serve) -> None:
    hung_up = asyncio.Event()
    connections: list[int] = []

    async def silent_first(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        await read_request(reader)
        if len(connections) == 1:
            await reader.read()  # no answer; returns once the client has closed the connection
            hung_up.set()
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            await reader.read()
        writer.close()

    url = await serve(silent_first)
    with pytest.raises(HttpError, match=r"timed out after 0.2s"):
        await client.post(url, b"{}", {}, 0.2)
    await asyncio.wait_for(hung_up.wait(), 10)  # the timed-out connection is closed, never reused
    assert (await client.post(url, b"{}", {}, 5)).status == 200
    assert len(connections) == 2


async def test_a_request_on_a_reused_connection_still_times_out(client: HttpClient, serve: Serve) -> None:
    """A post on an idle keep-alive connection (sent without `_send`) has the same timeout: the second request on
    one connection gets no answer, fails at its deadline, and that connection is closed, never reused."""
    connections: list[int] = []
    hung_up = asyncio.Event()

    async def answer_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        first = len(connections) == 1
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        if first:
            await read_request(reader)  # the second request on this connection: no answer
            await reader.read()  # returns once the client has closed the connection
            hung_up.set()
        else:
            await reader.read()
        writer.close()

    url = await serve(answer_once)
    assert (await client.post(url, b"1", {}, 5)).status == 200
    with pytest.raises(HttpError, match=r"timed out after 0.2s"):
        await client.post(url, b"2", {}, 0.2)
    await asyncio.wait_for(hung_up.wait(), 10)
    assert (await client.post(url, b"3", {}, 5)).status == 200
    assert len(connections) == 2


async def test_requests_in_flight_together_each_time_out_at_their_own_deadline(
    client: HttpClient, serve: Serve
) -> None:
    """One timer serves every request's timeout: a shorter timeout watched after a longer one still fires first,
    answered requests are never failed by it, and the longer one still times out."""

    async def hang_or_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                request = await read_request(reader)
            except asyncio.IncompleteReadError:
                break
            if b"POST /hang" in request:
                await reader.read()  # no answer; returns once the client has closed the connection
                break
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
        writer.close()

    url = await serve(hang_or_answer)
    hang = url.replace("/hook", "/hang")
    long = asyncio.create_task(client.post(hang, b"{}", {}, 3.0))
    short = asyncio.create_task(client.post(hang, b"{}", {}, 0.3))
    answered = [await client.post(url, b"{}", {}, 0.2) for _ in range(3)]  # watched, answered, then forgotten
    assert [a.status for a in answered] == [200, 200, 200]
    done, _ = await asyncio.wait({long, short}, return_when=asyncio.FIRST_COMPLETED)
    assert done == {short}
    with pytest.raises(HttpError, match=r"timed out after 0.3s"):
        await short
    with pytest.raises(HttpError, match=r"timed out after 3s"):
        await long
    assert (await client.post(url, b"{}", {}, 5)).status == 200


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"SMTP ready\r\n\r\n", "not an HTTP answer"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", "bad Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "in the middle of the answer"),
    ],
    ids=["not-http", "bad-length", "cut-short"],
)
async def test_broken_answers_are_errors(client: HttpClient, serve: Serve, answer: bytes, message: str) -> None:
    async def broken(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer)
        await writer.drain()
        writer.close()

    with pytest.raises(HttpError, match=message):
        await client.post(await serve(broken), b"{}", {}, 5)


@pytest.mark.parametrize("url", ["ftp://x/y", "http:///nohost", "not a url"], ids=["scheme", "no-host", "garbage"])
async def test_bad_urls_are_refused(client: HttpClient, url: str) -> None:
    with pytest.raises(HttpError, match="not an http"):
        await client.post(url, b"{}", {}, 5)
