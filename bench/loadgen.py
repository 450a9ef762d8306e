"""A small closed-loop HTTP/1.1 load client (asyncio + uvloop, raw sockets): wrk's fallback and the fast client
that fills the server for the memory measurement.

    python bench/loadgen.py URL [--method POST] [--body JSON] [-H 'name: value'] [-c 64] (-d SECONDS | -n COUNT)
                            [--paths-file FILE]

Every connection is keep-alive and sends its next request as soon as the previous response is complete,
like wrk. It prints one line ``BENCHJSON {...}`` with the same fields as bench/report.lua, plus the CPU
seconds the client itself used: a client near 100 % of its core is the bottleneck, not the server.
With ``--paths-file`` (one path per line) the requests rotate over those paths on URL's host (the
same method, headers and body), e.g. one message per conversation in turn; a line ``<path><TAB>name: value``
also sets that header for its request (it replaces a ``-H`` of the same name), e.g. each tenant's own key.
Only http:// URLs are supported (the benchmark only talks to 127.0.0.1). Responses must carry
``content-length`` or be chunked.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import urlsplit

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is in bench/requirements.txt
    uvloop = None  # type: ignore[assignment]


@dataclass
class Totals:
    requests: int = 0
    bytes: int = 0
    err_connect: int = 0
    err_read: int = 0
    err_status: int = 0
    err_timeout: int = 0
    latencies_us: list[int] = field(default_factory=list)


class ResponseReader(asyncio.Protocol):
    """Collects bytes until one full response is in; `expect()` returns a future for it."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, int]] | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection closed"))
        if not self.closed.done():
            self.closed.set_result(None)

    def expect(self) -> asyncio.Future[tuple[int, int]]:
        self.waiter = asyncio.get_running_loop().create_future()
        return self.waiter

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._try_complete()

    def _try_complete(self) -> None:
        buf = self.buffer
        end = buf.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None or self.waiter.done():
            return
        head = bytes(buf[:end]).lower()
        status = int(head[9:12])
        body_start = end + 4
        cl = head.find(b"\r\ncontent-length:")
        if cl >= 0:
            line_end = head.find(b"\r\n", cl + 2)
            length = int(head[cl + 17 : line_end if line_end >= 0 else len(head)].strip())
            total = body_start + length
            if len(buf) < total:
                return
        elif b"\r\ntransfer-encoding: chunked" in head:
            term = buf.find(b"0\r\n\r\n", body_start)
            if term < 0:
                return
            total = term + 5
        else:  # 204/304 or a response without a body
            total = body_start
        del buf[:total]
        self.waiter.set_result((status, total))


def with_header(headers: list[str], header: str) -> list[str]:
    """`headers` ("name: value" each) with `header` added, replacing any of the same name (case-insensitive)."""
    name = header.split(":", 1)[0].strip().lower()
    return [h for h in headers if h.split(":", 1)[0].strip().lower() != name] + [header.strip()]


def _request_bytes(method: str, url: str, body: bytes, headers: list[str]) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise SystemExit(f"loadgen: only http:// URLs are supported, not {url!r}")
    host, port = parts.hostname, parts.port or 80
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    lines = [f"{method} {target} HTTP/1.1", f"host: {host}:{port}"]
    lines += [h.strip() for h in headers]
    if body:
        lines += ["content-type: application/json", f"content-length: {len(body)}"]
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    return host, port, raw


async def _worker(
    host: str, port: int, raws: list[bytes], deadline: float, budget: list[int], totals: Totals, timeout: float
) -> None:
    loop = asyncio.get_running_loop()
    try:
        transport, proto = await asyncio.wait_for(loop.create_connection(ResponseReader, host, port), timeout)
    except (OSError, TimeoutError):
        totals.err_connect += 1
        return
    perf = time.perf_counter
    try:
        while perf() < deadline:
            if budget[0] <= 0:
                return
            budget[0] -= 1
            raw = raws[budget[0] % len(raws)]
            fut = proto.expect()
            started = perf()
            transport.write(raw)
            try:
                status, size = await asyncio.wait_for(fut, timeout)
            except TimeoutError:
                totals.err_timeout += 1
                return
            except ConnectionError:
                totals.err_read += 1
                return
            totals.latencies_us.append(int((perf() - started) * 1e6))
            totals.requests += 1
            totals.bytes += size
            if status >= 400:
                totals.err_status += 1
    finally:
        transport.close()


def _percentile(sorted_values: list[int], pct: float) -> int:
    if not sorted_values:
        return 0
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


async def run(
    url: str,
    method: str,
    body: bytes,
    headers: list[str],
    conns: int,
    duration: float,
    count: int,
    timeout: float,
    paths: list[str] | None = None,
) -> dict[str, float | int | str]:
    host, port, raw = _request_bytes(method, url, body, headers)
    raws = [raw]
    if paths:
        base = urlsplit(url)
        raws = []
        for line in paths:
            path, _, header = line.partition("\t")
            own = with_header(headers, header) if header else headers
            raws.append(_request_bytes(method, f"http://{base.netloc}{path}", body, own)[2])
    totals = Totals()
    budget = [count if count > 0 else 1 << 62]
    started = time.perf_counter()
    deadline = started + (duration if duration > 0 else 24 * 3600)
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.gather(*(_worker(host, port, raws, deadline, budget, totals, timeout) for _ in range(conns)))
    elapsed = time.perf_counter() - started
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    lat = sorted(totals.latencies_us)
    return {
        "generator": "python-asyncio" + ("+uvloop" if uvloop is not None else ""),
        "requests": totals.requests,
        "duration_us": int(elapsed * 1e6),
        "bytes": totals.bytes,
        "err_connect": totals.err_connect,
        "err_read": totals.err_read,
        "err_write": 0,
        "err_status": totals.err_status,
        "err_timeout": totals.err_timeout,
        "lat_mean_us": round(sum(lat) / len(lat), 1) if lat else 0.0,
        "lat_max_us": lat[-1] if lat else 0,
        "p50_us": _percentile(lat, 50),
        "p90_us": _percentile(lat, 90),
        "p99_us": _percentile(lat, 99),
        "client_cpu_s": round((cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime), 3),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("url")
    ap.add_argument("--method", default="GET")
    ap.add_argument("--body", default="")
    ap.add_argument("-H", "--header", action="append", default=[], help="'name: value' (repeatable)")
    ap.add_argument("-c", "--connections", type=int, default=64)
    ap.add_argument("-d", "--duration", type=float, default=0.0, help="seconds to run (0 = until --count is done)")
    ap.add_argument("-n", "--count", type=int, default=0, help="total requests to send (0 = until --duration ends)")
    ap.add_argument("--timeout", type=float, default=5.0, help="seconds per request")
    ap.add_argument("--paths-file", help="rotate over these paths (one per line) on the URL's host")
    args = ap.parse_args(argv)
    paths = None
    if args.paths_file:
        with open(args.paths_file) as fh:
            paths = [line.rstrip("\r\n").strip(" ") for line in fh if line.strip()]
    if args.duration <= 0 and args.count <= 0:
        ap.error("give --duration or --count")
    if args.duration <= 0 and args.count > 0:
        args.duration = 600.0  # a hard cap even in count mode
    coro = run(
        args.url,
        args.method.upper(),
        args.body.encode(),
        args.header,
        args.connections,
        args.duration,
        args.count,
        args.timeout,
        paths,
    )
    result = uvloop.run(coro) if uvloop is not None else asyncio.run(coro)
    print("BENCHJSON " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
