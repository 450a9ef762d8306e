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

A response goes out in one write: uvicorn writes a response's head and its body separately (two system calls and,
on loopback, two segments the kernel delivers on the sender's core). The protocol's transport, for itself and its
requests, is a `OneWrite`, which passes writes straight through except while a whole response is being sent
(`holding`, called by `plugin.VendorRoute`: a plain `Response` without a background task): those writes are joined
and written once. Every write and close of the connection goes through it, so the order of what is written never
changes; the bytes are the same.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.responses import Response
from starlette.types import Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

if TYPE_CHECKING:
    from emulator.core.settings import Settings

REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


@dataclass(frozen=True)
class ServerLimits:
    max_header_bytes: int = 32 * 1024
    max_headers: int = 100
    request_timeout: float = 30.0
    idle_timeout: float = 5.0


class OneWrite:
    """A connection's transport as its protocol and requests see it: `write` is the transport's own, except between
    `hold()` and `release()`, when writes are kept and then written at once (see the module docstring). Anything
    else is the transport's."""

    __slots__ = ("_held", "is_closing", "transport", "write")

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.write: Callable[[bytes], None] = transport.write
        self.is_closing = transport.is_closing
        self._held: list[bytes] | None = None

    def hold(self) -> None:
        if self._held is None:
            held: list[bytes] = []
            self._held = held
            self.write = held.append

    def release(self) -> None:
        """Write what was held, in one piece (not to a connection already gone), and write straight through again."""
        held = self._held
        if held is not None:
            self._held = None
            transport = self.transport
            self.write = transport.write
            if held and not transport.is_closing():
                transport.write(held[0] if len(held) == 1 else b"".join(held))

    def close(self) -> None:
        self.release()
        self.transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


def holding(send: Send, response: Response) -> OneWrite | None:
    """The connection's `OneWrite`, holding, when `response` is sent in one go (a plain `Response`, no background
    task) on a cxemu connection (`send` is its request's); else None. The caller sends it, then `release()`s."""
    if response.background is None and type(response).__call__ is Response.__call__:
        out = getattr(getattr(send, "__self__", None), "transport", None)
        if type(out) is OneWrite:
            out.hold()
            return out
    return None


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a head that is over the limits."""


class GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol plus the limits of `ServerLimits` (see the module docstring). The per-request
    callbacks call the base class directly (`super()` builds an object on every call in Python 3.11)."""

    limits = ServerLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
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
        self.transport = OneWrite(transport)  # type: ignore[assignment]  # the transport's interface, delegated
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
