"""Webhook sink for the benchmark: counts POSTs per path and answers 204 as cheaply as it can.

    python bench/receiver.py PORT

* ``POST /hook/<anything>`` -> 204; the count (and the wall time of the last one) is kept per path, so each
  measured run can register its own URL (``/hook/<tenant>``) and be counted on its own.
* ``POST /hook200/<anything>`` -> 200 with an empty body, counted the same way: for vendors that count only
  **200 OK** as received (CM.com retries a 204 five minutes later).
* ``GET /stats`` -> 200 JSON ``{"<path>": {"count": N, "bytes": B, "first": <unix time>, "last": <unix time>}}``
  (wall time of the first and of the last webhook on that path).
* anything else -> 404.

asyncio protocol + uvloop + httptools: no framework, so the receiver costs far less CPU per webhook than the
server that sends them (they share no core: the receiver runs beside the load generator).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import asdict, dataclass
from typing import cast

import httptools
import uvloop

NO_CONTENT = b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n"
OK_EMPTY = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"


@dataclass
class PathCount:
    count: int = 0
    bytes: int = 0
    first: float = 0.0
    last: float = 0.0


COUNTS: dict[str, PathCount] = {}


def _stats_response() -> bytes:
    body = json.dumps({path: asdict(c) for path, c in COUNTS.items()}).encode()
    head = f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    return head.encode() + body


class HookProtocol(asyncio.Protocol):
    """One keep-alive connection; httptools calls the on_* callbacks while `feed_data` parses."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = bytearray()
        self.body_len = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.close()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.url.clear()
        self.body_len = 0

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body_len += len(body)

    def on_message_complete(self) -> None:
        transport = self.transport
        if transport is None:
            return
        method = self.parser.get_method()
        path = bytes(self.url).split(b"?", 1)[0].decode("latin-1")
        if method == b"POST" and path.startswith("/hook"):
            entry = COUNTS.get(path)
            if entry is None:
                entry = COUNTS[path] = PathCount()
            entry.count += 1
            entry.bytes += self.body_len
            entry.last = time.time()
            if entry.count == 1:
                entry.first = entry.last
            transport.write(OK_EMPTY if path.startswith("/hook200/") else NO_CONTENT)
        elif method == b"GET" and path == "/stats":
            transport.write(_stats_response())
        else:
            transport.write(NOT_FOUND)
        if not self.parser.should_keep_alive():
            transport.close()


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(HookProtocol, "127.0.0.1", port, backlog=2048)
    print(f"receiver on http://127.0.0.1:{port}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[1].isdigit():
        print("usage: receiver.py PORT", file=sys.stderr)
        return 2
    uvloop.run(serve(int(argv[1])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
