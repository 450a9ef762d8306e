"""Answer framing in the webhook client (llhttp via httptools), each case against a real asyncio server.

What a receiver can do to the client: answer in chunks, dribble its answer a byte at a time, send a broken
status line, hang up in the middle of a body, or say more than it was asked. Each either gives one correct
answer on a connection that is kept for the next request, or fails that one request and leaves the client
(and the webhook worker) working.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from emulator.core.httpclient import HttpClient, HttpError
from emulator.core.store import Outbound
from emulator.pytest_plugin import WebhookSink
from tests.conftest import EmulatorFactory
from tests.support import echo_vendor
from tests.support.rawhttp import OK, Handler, Serve, read_request, receivers


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    async for start in receivers():
        yield start


@pytest.fixture
async def client() -> AsyncIterator[HttpClient]:
    c = HttpClient(limit=4, excerpt=10)
    yield c
    await c.close()


def answering(*answers: bytes, pieces: int = 1, counter: list[int] | None = None) -> Handler:
    """A keep-alive receiver giving `answers` in turn, each written in `pieces` writes; when a connection
    is lost, the next one carries on where it left off."""
    pending = list(answers)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if counter is not None:
            counter.append(1)
        try:
            while pending:
                await read_request(reader)
                answer = pending.pop(0)
                step = max(1, len(answer) // pieces)
                for at in range(0, len(answer), step):
                    writer.write(answer[at : at + step])
                    await writer.drain()
            await reader.read()
        except asyncio.IncompleteReadError:
            pass  # the client hung up (as it must after a broken answer)
        writer.close()

    return handler


async def test_chunked_answers_are_joined_and_keep_the_connection(client: HttpClient, serve: Serve) -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4;ext=1\r\nabcd\r\n3\r\nefg\r\n3\r\nhij\r\n0\r\nX-Trailer: yes\r\n\r\n"
    )
    connections: list[int] = []
    url = await serve(answering(chunked, OK, counter=connections))

    first = await client.post(url, b"{}", {}, 5)
    second = await client.post(url, b"{}", {}, 5)

    assert (first.status, first.excerpt, first.keep_alive) == (200, b"abcdefghij", True)
    assert second.excerpt == b"ok"
    assert len(connections) == 1  # the trailer was consumed: the next answer parsed cleanly on the same socket


async def test_an_answer_dribbled_a_byte_at_a_time_is_read_whole(client: HttpClient, serve: Serve) -> None:
    answer = b"HTTP/1.1 201 Created\r\nContent-Length: 7\r\nX-Long: " + b"v" * 200 + b"\r\n\r\ncreated"
    chunked = b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    connections: list[int] = []
    url = await serve(answering(answer, chunked, pieces=len(answer), counter=connections))

    first = await client.post(url, b"{}", {}, 5)
    second = await client.post(url, b"{}", {}, 5)

    assert (first.status, first.excerpt, first.keep_alive) == (201, b"created", True)
    assert (second.status, second.excerpt) == (202, b"abc")
    assert len(connections) == 1


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n", "malformed answer: Invalid status code"),
        (b"HTTP/9.9 200 OK\r\nContent-Length: 0\r\n\r\n", "malformed answer: Invalid HTTP version"),
        (b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n", "malformed answer: Invalid header token"),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "malformed answer: Invalid character in chunk",
        ),
    ],
    ids=["status-code", "version", "header-line", "chunk-size"],
)
async def test_a_malformed_answer_fails_that_request_and_the_next_one_works(
    client: HttpClient, serve: Serve, answer: bytes, message: str
) -> None:
    connections: list[int] = []
    url = await serve(answering(answer, OK, counter=connections))

    with pytest.raises(HttpError, match=message):
        await client.post(url, b"{}", {}, 5)
    assert (await client.post(url, b"{}", {}, 5)).excerpt == b"ok"
    assert len(connections) == 2  # the broken connection is never reused


@pytest.mark.parametrize(
    "cut",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n0123",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n0123\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Le",
    ],
    ids=["content-length", "inside-a-chunk", "before-the-last-chunk", "inside-the-head"],
)
async def test_a_server_closing_mid_answer_is_an_error(client: HttpClient, serve: Serve, cut: bytes) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(cut)
        await writer.drain()
        writer.close()

    with pytest.raises(HttpError, match="connection closed in the middle of the answer"):
        await client.post(await serve(hang_up), b"{}", {}, 5)


async def test_bytes_after_a_whole_answer_keep_the_answer_but_not_the_connection(
    client: HttpClient, serve: Serve
) -> None:
    connections: list[int] = []
    url = await serve(answering(OK + b"surplus", OK, counter=connections))

    assert (await client.post(url, b"{}", {}, 5)).excerpt == b"ok"
    assert (await client.post(url, b"{}", {}, 5)).excerpt == b"ok"
    assert len(connections) == 2


async def test_an_endless_answer_head_is_refused(client: HttpClient, serve: Serve) -> None:
    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n")
        while not writer.is_closing():
            writer.write(b"X-Pad: " + b"p" * 1000 + b"\r\n")
            try:
                await writer.drain()
            except ConnectionError:
                break
        writer.close()

    with pytest.raises(HttpError, match="answer head too large"):
        await client.post(await serve(endless), b"{}", {}, 5)


async def test_a_malformed_answer_fails_the_attempt_not_the_webhook_worker(
    make_emulator: EmulatorFactory, serve: Serve, webhook_sink: WebhookSink, caplog: pytest.LogCaptureFixture
) -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 OK\r\n\r\n")
        await writer.drain()
        writer.close()

    emu = await make_emulator(webhooks={echo_vendor.SLUG: {"retry_ladder": [1]}})
    broken = emu.dispatcher.submit(echo_vendor.SLUG, "a", Outbound(await serve(garbage), {"n": 1}, "x", "s", "e1"))
    with caplog.at_level(logging.WARNING):
        await emu.scheduler.run_until_idle()
    good = emu.dispatcher.submit(echo_vendor.SLUG, "a", Outbound(webhook_sink.url_for("/ok"), {"n": 2}, "x", "s", "e2"))
    await emu.scheduler.run_until_idle()

    assert broken.status == "failed"
    assert [a.error for a in broken.attempts] == ["malformed answer: Invalid status code"] * 2
    assert good.status == "delivered"
    assert webhook_sink.wait_for(count=1)[0].json == {"n": 2}
    assert not caplog.records
