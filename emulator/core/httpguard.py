"""The HTTP server's own limits: request heads bounded in bytes and headers, slow and idle peers dropped.

`guarded_protocol(limits)` (`protocol_for(settings)`) is the uvicorn HTTP protocol `cxemu serve` and the pytest
plugin's server run (uvicorn's httptools protocol with
what it lacks added). What uvicorn offers and what this adds:

- a huge request head (a 1 MB header): httptools buffers it whole (uvicorn's `h11_max_incomplete_event_size`
  exists only for h11, and answers 400); here 431 once the head passes `max_header_bytes`, counted as its
  bytes arrive;
- thousands of headers: accepted by uvicorn; here 431 past `max_headers`;
- a connection that never sends a byte: held forever by uvicorn; here closed after `idle_timeout`;
- idle keep-alive between requests: uvicorn closes it after `timeout_keep_alive`, here set from
  `idle_timeout`;
- a head or body trickled slowly (slow-loris): held forever by uvicorn; here answered 408 and closed when
  the request has not fully arrived `request_timeout` seconds after its first byte.

The 431 and 408 answers carry `Connection: close` and the connection is closed after them. When an earlier
request of the same connection is still being answered (pipelining), the connection is closed without one,
so no answer is interleaved with another. The request clock is armed only when a request spans more than one
read, so a request that arrives in one piece (every bench request) costs no timer.

A plain response goes out in one write, without uvicorn's `send` (`sent`, called by `plugin.VendorRoute`): uvicorn
writes a response's head and body separately (two system calls and, on loopback, two segments the kernel delivers on
the sender's core), after two `send` coroutines, two message dicts and two regular-expression searches per header.
`sent` writes the same bytes once and leaves the request's cycle as uvicorn's `send` would have left it; anything
out of the ordinary (see `sent`) is left to uvicorn's own `send`.

uvicorn's `ProxyHeadersMiddleware` (on by default, as `cxemu serve` keeps it) only changes a request that carries
`X-Forwarded-For` or `X-Forwarded-Proto`: the protocol calls it for those requests and the app directly for the
others (`Forwarding`), the behaviour the same and no coroutine or trust check of its own per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

if TYPE_CHECKING:
    from emulator.core.settings import Settings

REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


@dataclass(frozen=True)
class ServerLimits:
    max_header_bytes: int = 32 * 1024
    max_headers: int = 100
    request_timeout: float = 30.0
    idle_timeout: float = 5.0


HEAD_NAMES = {b"content-length", b"transfer-encoding", b"connection"}
"""Response header names uvicorn's `send` acts on (beyond writing them)."""


class _Checked:
    """What `sent` has already found valid, as uvicorn's `send` checks headers: the server's default headers
    (`date`, `server`: the same list for a second, so joined once), and header names and values met before (a
    few dozen: the vendors' media types and names; a value of digits needs no check). Shared by the servers of a
    process (threads in tests): entries are only added, each after its own check."""

    __slots__ = ("defaults", "joined", "names", "values")

    LIMIT = 256

    def __init__(self) -> None:
        self.defaults: list[tuple[bytes, bytes]] | None = None
        self.joined = b""
        self.names: set[bytes] = set()
        self.values: set[bytes] = set()

    def default_head(self, defaults: list[tuple[bytes, bytes]]) -> bytes | None:
        """The default headers as uvicorn writes them, or None when one is not plain (checked, lower-case, not
        one `send` acts on)."""
        if defaults is self.defaults:
            return self.joined
        parts: list[bytes] = []
        for name, value in defaults:
            if name in HEAD_NAMES or not self.name(name) or not self.value(value):
                return None
            parts += (name, b": ", value, b"\r\n")
        self.defaults, self.joined = defaults, b"".join(parts)
        return self.joined

    def name(self, name: bytes) -> bool:
        """Whether `name` is valid and lower-case (uvicorn writes names lower-cased)."""
        if name in self.names:
            return True
        if HEADER_RE.search(name) or name.lower() != name:
            return False
        if len(self.names) < self.LIMIT:
            self.names.add(name)
        return True

    def value(self, value: bytes) -> bool:
        if value in self.values or value.isdigit():
            return True
        if HEADER_VALUE_RE.search(value):
            return False
        if len(self.values) < self.LIMIT:
            self.values.add(value)
        return True


_CHECKED = _Checked()
_PLAIN = Response.__call__


def sent(send: Send, response: Response) -> bool:
    """Write `response` as uvicorn's `send` writes its two messages and leave the request's cycle in the state that
    `send` leaves it in, with one write; True when done. False, with nothing done, unless `response` is a plain
    `Response` (no background task) sent on an httptools connection (uvicorn's cycle is `send`'s object) that has
    not started answering, is not paused or gone, keeps no access log, and the response has a valid status,
    plain headers (valid, lower-case, no `transfer-encoding` or `connection`) and a `content-length` equal to its
    body's (or none for an empty 204/304): the caller then sends it through `send`, which does the rest (and
    raises for what it refuses)."""
    if response.background is not None or type(response).__call__ is not _PLAIN:
        return False
    cycle = getattr(send, "__self__", None)
    if (
        type(cycle) is not RequestResponseCycle
        or cycle.response_started
        or cycle.disconnected
        or cycle.access_log
        or cycle.flow.write_paused
    ):
        return False
    status = response.status_code
    line = STATUS_LINE.get(status)
    defaults = _CHECKED.default_head(cycle.default_headers)
    if line is None or defaults is None:
        return False
    body = response.body
    parts: list[bytes | memoryview] = [line, defaults]
    length: bytes | None = None
    checked = _CHECKED
    for name, value in response.raw_headers:
        if name == b"content-length":
            if length is None:
                length = value
        elif name in HEAD_NAMES or not checked.name(name):
            return False
        if not checked.value(value):
            return False
        parts += (name, b": ", value, b"\r\n")
    if length is None:
        if body or status not in (204, 304):
            return False
    elif not length.isdigit() or int(length) != len(body):
        return False
    keep = cycle.keep_alive
    if not keep:
        parts.append(b"connection: close\r\n")
    parts.append(b"\r\n")
    if cycle.scope["method"] != "HEAD":
        parts.append(body)
    cycle.response_started = True
    cycle.waiting_for_100_continue = False
    cycle.chunked_encoding = None if length is None else False
    cycle.expected_content_length = 0
    transport = cycle.transport
    transport.write(b"".join(parts))
    cycle.response_complete = True
    cycle.message_event.set()
    if not keep:
        transport.close()
    cycle.on_response()
    return True


class Forwarding:
    """uvicorn's `ProxyHeadersMiddleware` (`full`) for a request that carries `X-Forwarded-For` or
    `X-Forwarded-Proto`, the app it wraps called directly for any other HTTP request: the middleware changes
    nothing without those headers (whether the peer is trusted or not), so it is not run."""

    __slots__ = ("app", "full")

    def __init__(self, full: ProxyHeadersMiddleware) -> None:
        self.full: ASGIApp = cast("ASGIApp", full)  # uvicorn's ASGI types, Starlette's the same
        self.app: ASGIApp = cast("ASGIApp", full.app)

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] == "http":
            for name, _ in scope["headers"]:
                if name == b"x-forwarded-for" or name == b"x-forwarded-proto":
                    break
            else:
                return self.app(scope, receive, send)
        return self.full(scope, receive, send)


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a head that is over the limits."""


class GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol plus the limits of `ServerLimits` (see the module docstring). The per-request
    callbacks call the base class directly (`super()` builds an object on every call in Python 3.11)."""

    limits = ServerLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if type(self.app) is ProxyHeadersMiddleware:
            self.app = Forwarding(self.app)
        self.timeout_keep_alive = self.limits.idle_timeout  # type: ignore[assignment]
        self._in_head = True
        """No request is being received, or only its head so far."""
        self._head_bytes = 0
        self._partial = False
        """A request has begun and not fully arrived."""
        self._request_timer: asyncio.TimerHandle | None = None
        self._refused = False

    # -- connection -------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_request_timer()
        self._unset_keepalive_if_required()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        HttpToolsProtocol.data_received(self, data)
        if self.transport.is_closing():
            return
        if self._in_head and self._head_bytes > self.limits.max_header_bytes:
            self._refuse(431)
        elif self._partial and self._request_timer is None:
            self._request_timer = self.loop.call_later(self.limits.request_timeout, self._request_timed_out)

    # -- parser callbacks -------------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._partial = True
        HttpToolsProtocol.on_message_begin(self)

    def on_headers_complete(self) -> None:
        if len(self.headers) > self.limits.max_headers:
            self._refused = True
            raise _Refused
        self._in_head = False
        HttpToolsProtocol.on_headers_complete(self)

    def on_message_complete(self) -> None:
        self._partial = False
        self._in_head = True
        self._head_bytes = 0
        if self._request_timer is not None:
            self._stop_request_timer()
        HttpToolsProtocol.on_message_complete(self)

    def send_400_response(self, msg: str) -> None:
        if self._refused:
            self._refuse(431)
        else:
            super().send_400_response(msg)

    # -- refusing ---------------------------------------------------------------------------------------

    def _stop_request_timer(self) -> None:
        if self._request_timer is not None:
            self._request_timer.cancel()
            self._request_timer = None

    def _request_timed_out(self) -> None:
        """The request has not fully arrived in time: 408, unless the server itself stopped reading it (the
        app is not reading its body yet, or an earlier request is still being answered): then wait again."""
        self._request_timer = None
        if self.transport.is_closing():
            return
        if self.flow.read_paused:
            self._request_timer = self.loop.call_later(self.limits.request_timeout, self._request_timed_out)
        else:
            self._refuse(408)

    def _may_answer(self) -> bool:
        """Whether an answer may be written now: no earlier answer is under way while a head arrives, and
        the request whose body arrives has not been answered."""
        cycle = self.cycle
        if cycle is None:
            return True
        return cycle.response_complete if self._in_head else not cycle.response_started

    def _refuse(self, status: int) -> None:
        """Answer `status` (when `_may_answer`) and close the connection."""
        if self._may_answer():
            reason = REASONS[status]
            self.transport.write(
                b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\n"
                b"connection: close\r\n\r\n%s" % (status, reason, len(reason), reason)
            )
        self.transport.close()


def protocol_for(settings: Settings) -> type[GuardedHttpTools]:
    """The protocol class of a cxemu server with these settings (`cxemu serve` and the pytest plugin's server)."""
    return guarded_protocol(
        ServerLimits(
            max_header_bytes=settings.max_header_bytes,
            max_headers=settings.max_headers,
            request_timeout=settings.request_timeout,
            idle_timeout=settings.idle_timeout,
        )
    )


def guarded_protocol(limits: ServerLimits) -> type[GuardedHttpTools]:
    """The protocol class to give uvicorn (`Config(http=...)`), with these limits."""
    return type("CxemuHttpProtocol", (GuardedHttpTools,), {"limits": limits})
