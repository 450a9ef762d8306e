"""A small keep-alive HTTP/1.1 client for webhook delivery.

Webhook delivery is one POST with a small body and a small answer, thousands of times a second. General
clients pay for features a webhook never uses (cookies, redirects, streaming, per-request timeout tasks);
measured on these machines, one core: httpx ~565 deliveries/s, aiohttp ~2,100/s, a plain keep-alive
client several times more (shared/peers-bench). This one does just what delivery needs:

- a pool of idle keep-alive connections per (scheme, host, port), up to `limit` requests in flight in all and
  `per_target` to one (scheme, host, port) (`KeyedLimit`), so one receiver that never answers holds only its
  own share of the pool;
- a new connection goes to an address the outbound guard (`core.outbound.Guard`) returned for the name,
  resolved once per connection (not per request); TLS (SNI, certificate) and `Host` keep the name. A refused
  target raises `Refused` (an `HttpError`). `guarded=False` skips the guard (this server's own sink);
  connections made that way are pooled apart;
- answers are framed by llhttp (`httptools.HttpResponseParser`, the parser uvicorn uses): `Content-Length`,
  chunked (with extensions and trailers), 1xx skipped, read-until-close; only the first `excerpt` bytes of
  the body are read: once more arrives the answer is taken as it is and the connection closed, so a huge
  answer is never read whole. A malformed answer, or one cut short, fails that request and closes its
  connection; bytes after a whole answer keep the answer but the connection is not reused;
- a timeout per request, all served by one timer on the loop (no task or timer handle per request);
- a request on a reused connection that the server had already closed (no byte of answer arrived) is sent
  once more on a fresh connection, as other clients do;
- https through the default SSL context (certificates and host names verified), or, with
  `verify_tls=False` (the `webhook_tls_verify` setting), one that accepts any certificate (self-signed
  local receivers).
"""

from __future__ import annotations

import asyncio
import itertools
import re
import ssl
from collections import deque
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from heapq import heapify, heappop, heappush
from typing import Any, NamedTuple, cast
from urllib.parse import urlsplit

import httptools

from emulator.core.outbound import Guard, Refused, check_http_url

_MAX_HEAD = 64 * 1024
_UNSAFE = re.compile(r"[\x00-\x20\x7f]")  # would break the request line written from the URL
_OWN_HEADERS = ("host", "content-length")
"""Headers the client writes itself; a caller's own of these names are left out."""
_FRAMING = frozenset((b"content-length", b"transfer-encoding", b"Content-Length", b"Transfer-Encoding"))
"""The headers that frame an answer's body (the usual spellings found without lowering the name)."""
_TIMER_SLACK = 0.001
"""A deadline this close is due when the timer fires (the loop's timers may fire up to a millisecond early)."""


_OWN = frozenset(_OWN_HEADERS).__contains__
_new_tuple: Any = tuple.__new__
"""A named tuple made without its generated `__new__` (a Python frame: the fields are all given here)."""


def _encoded(lines: list[str], headers: Iterable[tuple[str, str]], body: bytes) -> bytes:
    """A request: its first `lines`, the caller's headers (but those the client writes itself), the body."""
    lines += [f"{k}: {v}\r\n" for k, v in headers if k.lower() not in _OWN_HEADERS]
    lines.append("\r\n")
    return "".join(lines).encode("latin-1") + body


def _post_request(head: str, headers: dict[str, str], body: bytes) -> bytes:
    """`_encoded([head, "Content-Length: ..."], headers.items(), body)`, byte for byte, joined in C: the usual
    headers (string names and values, none of the client's own) need no line of Python each; any other goes through
    `_encoded` (the same bytes, or the same error)."""
    try:
        if headers and not any(map(_OWN, map(str.lower, headers))):
            lines = "\r\n".join(map(": ".join, headers.items()))
            return f"{head}Content-Length: {len(body)}\r\n{lines}\r\n\r\n".encode("latin-1") + body
    except TypeError:  # a name or value that is not a string
        pass
    return _encoded([head, f"Content-Length: {len(body)}\r\n"], headers.items(), body)


class HttpError(Exception):
    """The request could not be completed (connection refused or lost, bad answer, timeout)."""


class _Closed(HttpError):
    """The connection closed before any byte of the answer (safe to retry on a fresh connection)."""


class ConnectFailed(HttpError):
    """No connection to the target could be made: the request was never sent (safe to send elsewhere)."""


class RefusedTarget(HttpError):
    """The outbound guard refused every address of the target (`core.outbound.Refused`'s text)."""


class KeyedLimit:
    """At most `limit` holders per key at once, first come first served past it; a key nobody holds or waits
    for is forgotten. Taking a free slot never waits (the common case on a delivery's path: no semaphore, no
    future); a release while others wait hands its slot straight to the first of them."""

    __slots__ = ("_held", "_waiters", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held: dict[Hashable, int] = {}
        self._waiters: dict[Hashable, deque[asyncio.Future[None]]] = {}

    def take(self, key: Hashable) -> bool:
        """A free slot for `key` now, if there is one and nobody waits for one (no coroutine: the fast path of
        `acquire`, for callers that await `acquire` only when this says no)."""
        held = self._held.get(key, 0)
        if held < self.limit and key not in self._waiters:
            self._held[key] = held + 1
            return True
        return False

    async def acquire(self, key: Hashable) -> None:
        if self.take(key):
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._waiters.setdefault(key, deque())
        queue.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release(key)  # handed a slot, then cancelled: pass it on
            else:
                queue.remove(waiter)
                if not queue:
                    del self._waiters[key]
            raise

    def release(self, key: Hashable) -> None:
        queue = self._waiters.get(key)
        while queue:
            waiter = queue.popleft()
            if not queue:
                del self._waiters[key]
            if not waiter.done():
                waiter.set_result(None)  # the slot goes to this waiter: the count stays
                return
        held = self._held[key] - 1
        if held:
            self._held[key] = held
        else:
            del self._held[key]

    def __len__(self) -> int:
        return len(self._held.keys() | self._waiters.keys())


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str
    port: int
    path: str
    host_header: str
    head: str
    """The request line and Host header, the same for every POST to this URL."""
    origin: tuple[str, str, int]
    """(scheme, host, port): the key of the per-target limit."""
    pools: tuple[tuple[str, str, int, bool], tuple[str, str, int, bool]]
    """The idle pools' keys: (*origin, False) for this server's own URL, (*origin, True) for a guarded one."""


class Answer(NamedTuple):
    """A receiver's answer (a named tuple: one per delivery, and a frozen dataclass's `__init__` costs more)."""

    status: int
    excerpt: bytes
    keep_alive: bool
    headers: tuple[tuple[bytes, bytes], ...] = ()
    """The answer's headers, only from a client made with `headers=True` (a fleet's forwarding, `core.fleet`)."""


class _Conn(asyncio.Protocol):
    """One connection; answers one request at a time. Framing is llhttp's (`httptools`, as uvicorn uses)."""

    def __init__(self, excerpt: int, heads: bool = False) -> None:
        self.excerpt = excerpt
        self.heads: list[tuple[bytes, bytes]] | None = [] if heads else None
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[Answer] | None = None
        self.closed = False
        self.loop = asyncio.get_running_loop()
        """The loop it runs on (a `post` on an idle connection takes it from here: one `getpid` fewer)."""
        self.lost: asyncio.Future[None] = self.loop.create_future()
        self.key: tuple[str, str, int, bool] = ("", "", 0, False)
        """Its pool (`HttpClient._idle`'s key), set once connected."""
        self.target: _Target | None = None
        self.request = b""
        self.deadline = self.timeout = 0.0
        """The request a caller reserved it for (`HttpClient.reserve`, `send`): to send once more, and by when."""
        self._parser = httptools.HttpResponseParser(self)  # ready for the next answer once one is complete
        self._reset()

    def _reset(self) -> None:
        self._first = b""  # the first bytes of the answer, for the error text when it is not HTTP
        self._head_bytes = 0  # bytes received before the head was complete
        self._status = 0
        self._keep = False
        self._framed = False  # Content-Length or chunked: the end is known without the server closing
        self._body = b""  # (bytes: most answers have no body, and `_answer` then copies nothing)
        if self.heads is not None:
            self.heads = []

    def _answer(self, keep: bool) -> Answer:
        heads = () if self.heads is None else tuple(self.heads)
        answer: Answer = _new_tuple(Answer, (self._status, self._body, keep, heads))
        return answer

    # -- protocol ---------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, but have its methods
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            self.close()  # bytes nobody asked for: the connection is out of step, never reuse it
            return
        if not self._first:
            self._first = data[:80]
        if not self._status:
            self._head_bytes += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if waiter.done():  # a whole answer, then more bytes: keep the answer, drop the connection
                self.close()
                return
            waiter.set_exception(self._malformed(exc))
            self.close()
            return
        if not waiter.done() and not self._status and self._head_bytes > _MAX_HEAD:
            waiter.set_exception(HttpError("answer head too large"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.lost.done():
            self.lost.set_result(None)
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if not self._first:
            waiter.set_exception(_Closed("connection closed before any answer"))
        elif self._status >= 200 and not self._framed:  # read until close: the server's close ends the body
            waiter.set_result(self._answer(False))
        else:
            waiter.set_exception(HttpError("connection closed in the middle of the answer"))

    # -- parser callbacks (httptools) -------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        if name in _FRAMING or (len(name) in (14, 17) and name.lower() in _FRAMING):
            self._framed = True
        if self.heads is not None:
            self.heads.append((name, value))

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()
        self._keep = self._parser.should_keep_alive()
        if self._status in (204, 304):
            self._framed = True

    def on_body(self, body: bytes) -> None:
        room = self.excerpt - len(self._body)
        self._body += body[: max(room, 0)]
        if len(body) > room and self.waiter is not None and not self.waiter.done():
            # more than the excerpt: keep what was read and stop (never read a huge answer whole)
            self.waiter.set_result(self._answer(False))
            self.close()

    def on_message_complete(self) -> None:
        if self._status < 200:  # 100 Continue and friends: the real answer follows on the same parser
            self._status, self._framed = 0, False
            return
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            heads = () if self.heads is None else tuple(self.heads)  # (`_answer`, inline)
            waiter.set_result(_new_tuple(Answer, (self._status, self._body, self._keep, heads)))

    def _malformed(self, exc: httptools.HttpParserError) -> HttpError:
        if not self._status:
            line = self._first.split(b"\r\n", 1)[0]
            if not line.startswith(b"HTTP/"):
                return HttpError(f"not an HTTP answer: {line!r}")
        reason = str(exc)
        return HttpError(f"{'bad Content-Length' if 'Content-Length' in reason else 'malformed answer'}: {reason}")

    # -- requests ---------------------------------------------------------------------------------------

    def send(self, request: bytes, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Answer]:
        assert self.transport is not None
        # (`_reset`, inline: once per request)
        self._first, self._head_bytes, self._status, self._keep, self._framed, self._body = b"", 0, 0, False, False, b""
        if self.heads is not None:
            self.heads = []
        self.waiter = waiter = loop.create_future()
        self.transport.write(request)
        return waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


Flight = _Conn
"""A connection `HttpClient.reserve` took from the pool for one request: it carries the request (`send`) until
its answer is given back (`landed`, `recover`), so nothing is made per request for the reservation."""


class HttpClient:
    """Pooled keep-alive POSTs; see the module docstring."""

    def __init__(
        self,
        *,
        limit: int = 256,
        per_target: int | None = None,
        excerpt: int = 512,
        user_agent: str = "cxemu",
        verify_tls: bool = True,
        guard: Guard | None = None,
        headers: bool = False,
    ) -> None:
        self.limit = limit
        self.headers = headers
        self.verify_tls = verify_tls
        self.excerpt = excerpt
        self.user_agent = user_agent
        self.guard = guard or Guard()
        self._idle: dict[tuple[str, str, int, bool], list[_Conn]] = {}
        self._slots = KeyedLimit(limit)
        """The global cap, as one key of a `KeyedLimit`: FIFO like `asyncio.Semaphore`, whose `acquire` walks
        every waiter (Python 3.11's `locked()`) once requests queue for a slot, i.e. under a backlog."""
        self._per_target = KeyedLimit(per_target or limit)
        self._targets: dict[str, _Target] = {}
        self._ssl: ssl.SSLContext | None = None
        self._closed = False
        self._conns: set[_Conn] = set()
        self._deadlines: list[tuple[float, int, asyncio.Future[Answer], float]] = []
        """Requests in flight by deadline (a heap; answered ones leave lazily): one timer on the loop serves them
        all (`_watch`), where a timer per request cost a timer handle made and cancelled on every request."""
        self._order = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None

    def _target(self, url: str) -> _Target:
        target = self._targets.get(url)
        if target is None:
            problem = check_http_url(url)
            if problem is None and _UNSAFE.search(url):
                problem = f"not a valid URL: {url!r} (a space or control character)"
            if problem is not None:
                raise HttpError(problem)
            parts = urlsplit(url)
            assert parts.hostname is not None
            port = parts.port or (443 if parts.scheme == "https" else 80)
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            default = (parts.scheme == "http" and port == 80) or (parts.scheme == "https" and port == 443)
            host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
            header = host if default else f"{host}:{port}"
            origin = (parts.scheme, parts.hostname, port)
            target = _Target(
                parts.scheme,
                parts.hostname,
                port,
                path,
                header,
                f"POST {path} HTTP/1.1\r\nHost: {header}\r\n",
                origin,
                ((*origin, False), (*origin, True)),
            )
            if len(self._targets) > 10_000:
                self._targets.clear()
            self._targets[url] = target
        return target

    async def _connect(self, t: _Target, guarded: bool) -> _Conn:
        if t.scheme == "https" and self._ssl is None:
            self._ssl = _ssl_context(self.verify_tls)
        tls = self._ssl if t.scheme == "https" else None
        try:
            addresses = await self.guard.addresses(t.host, t.port) if guarded else [t.host]
        except Refused as exc:
            raise RefusedTarget(str(exc)) from None
        except OSError as exc:
            raise ConnectFailed(f"cannot connect to {t.host}:{t.port}: {exc.strerror or exc}") from None
        try:
            conn = await self._open(addresses, t, tls)
        except ssl.SSLCertVerificationError as exc:
            raise HttpError(
                f"cannot connect to {t.host}:{t.port}: TLS certificate not accepted: {exc.verify_message} "
                "(webhook_tls_verify: false accepts self-signed certificates)"
            ) from None
        except OSError as exc:
            raise ConnectFailed(f"cannot connect to {t.host}:{t.port}: {exc.strerror or exc}") from None
        self._conns.add(conn)
        conn.lost.add_done_callback(lambda _: self._conns.discard(conn))
        conn.key = t.pools[guarded]
        return conn

    async def _open(self, addresses: list[str], t: _Target, tls: ssl.SSLContext | None) -> _Conn:
        """A connection to the first of `addresses` that accepts (TLS named after the URL's host)."""
        for address in addresses[:-1]:
            try:
                return await self._dial(address, t, tls)
            except ssl.SSLError:
                raise
            except OSError:
                continue
        return await self._dial(addresses[-1], t, tls)

    async def _dial(self, address: str, t: _Target, tls: ssl.SSLContext | None) -> _Conn:
        _, conn = await asyncio.get_running_loop().create_connection(
            lambda: _Conn(self.excerpt, self.headers), address, t.port, ssl=tls, server_hostname=t.host if tls else None
        )
        return conn

    def _release(self, key: tuple[str, str, int, bool], conn: _Conn, keep: bool) -> None:
        if keep and not conn.closed and not self._closed:
            self._idle.setdefault(key, []).append(conn)
        else:
            conn.close()

    def reserve(self, url: str, *, guarded: bool = True) -> Flight | None:
        """`post`'s common case in plain functions, part one: with a free slot (in all and for the target) and an
        idle keep-alive connection to a URL posted to before, both are taken for one request and the connection
        returned (a `Flight`); None (nothing taken) otherwise: `post` must send it. Then `send` it (or `unreserve`
        it), await its waiter and hand the answer to `landed`, or what it raised to `recover`. A caller that
        awaits the answer in its own frame spares `post`'s coroutine (the webhook dispatcher's attempts)."""
        t = self._targets.get(url)
        if t is None or self._closed:
            return None
        key = t.pools[guarded]
        idle = self._idle.get(key)
        if not idle or idle[-1].closed:
            return None
        origin = t.origin
        # (`KeyedLimit.take` of the target's and the global limit, inline: no call of either per request)
        per_target, slots = self._per_target, self._slots
        held, taken = per_target._held, slots._held
        target_held, slots_held = held.get(origin, 0), taken.get(None, 0)
        if (
            target_held >= per_target.limit
            or origin in per_target._waiters
            or slots_held >= slots.limit
            or slots._waiters
        ):
            return None
        held[origin], taken[None] = target_held + 1, slots_held + 1
        conn = idle.pop()
        conn.target = t
        return conn

    def send(self, flight: Flight, body: bytes, headers: dict[str, str], timeout: float) -> asyncio.Future[Answer]:
        """Send the request on a reserved flight; its answer's future (a request that cannot be encoded raises
        before anything is written: `unreserve` the flight then)."""
        t = flight.target
        assert t is not None  # (reserved)
        flight.request = request = _post_request(t.head, headers, body)
        loop = flight.loop
        flight.deadline = deadline = loop.time() + timeout
        flight.timeout = timeout
        # (`_Conn.send`, inline)
        flight._first, flight._head_bytes, flight._status, flight._keep, flight._framed = b"", 0, 0, False, False
        flight._body = b""
        if flight.heads is not None:
            flight.heads = []
        flight.waiter = waiter = loop.create_future()
        flight.transport.write(request)  # type: ignore[union-attr]  # (connected: it was idle in the pool)
        heap = self._deadlines
        if loop is self._loop and self._timer is not None and deadline >= self._timer_at and len(heap) < 2 * self.limit:
            # (`_watch`'s common case, inline: the timer is set for an earlier deadline, the heap is short)
            while heap and heap[0][2].done():
                heappop(heap)
            heappush(heap, (deadline, next(self._order), waiter, timeout))
        else:
            self._watch(loop, deadline, waiter, timeout)
        return waiter

    def unreserve(self, flight: Flight) -> None:
        """A reserved flight that was not sent: its connection back to the pool, its slots freed."""
        self._release(flight.key, flight, True)
        self._slots.release(None)
        self._per_target.release(flight.target.origin)  # type: ignore[union-attr]  # (reserved)

    def landed(self, flight: Flight, answer: Answer) -> None:
        """`flight` was answered: its connection back to the pool (if the answer lets it be reused), its slots
        freed."""
        flight.request = b""  # (an idle connection keeps no body)
        if answer.keep_alive and not flight.closed and not self._closed:  # (`_release`, inline: kept alive)
            idle = self._idle.get(flight.key)
            if idle is None:
                idle = self._idle[flight.key] = []
            idle.append(flight)
        else:
            flight.close()
        origin = flight.target.origin  # type: ignore[union-attr]  # (reserved)
        slots, per_target = self._slots, self._per_target
        if slots._waiters or per_target._waiters:
            slots.release(None)
            per_target.release(origin)
            return
        # (`KeyedLimit.release` of both, inline: nobody waits, so the counts only go down)
        held, taken = per_target._held, slots._held
        left = held[origin] - 1
        if left:
            held[origin] = left
        else:
            del held[origin]
        left = taken[None] - 1
        if left:
            taken[None] = left
        else:
            del taken[None]

    async def recover(self, flight: Flight, exc: BaseException) -> Answer:
        """`flight`'s waiter raised `exc`: its connection is closed and, when the peer had closed it before any
        byte of the answer, the request goes once more on a fresh connection by the same deadline (as `post`
        does); otherwise `exc` is raised again. The slots are freed either way."""
        t = flight.target
        assert t is not None  # (reserved)
        try:
            self._release(flight.key, flight, False)
            if not isinstance(exc, _Closed):
                raise exc
            for stale in self._idle.pop(flight.key, ()):
                stale.close()
            return await self._send(t, flight.request, flight.timeout, flight.key, flight.deadline, retried=True)
        finally:
            self._slots.release(None)
            self._per_target.release(t.origin)

    async def post(
        self, url: str, body: bytes, headers: dict[str, str], timeout: float, *, guarded: bool = True
    ) -> Answer:
        """POST `body`; raises `HttpError` (including on timeout, `RefusedTarget` when the guard refuses the
        target) when no answer could be had. `guarded=False`: this server's own URL, not checked."""
        flight = self.reserve(url, guarded=guarded)
        if flight is not None:  # the common case: an idle keep-alive connection, sent on at once
            try:
                waiter = self.send(flight, body, headers, timeout)
            except BaseException:
                self.unreserve(flight)
                raise
            try:
                answer = await waiter
            except BaseException as exc:
                return await self.recover(flight, exc)
            self.landed(flight, answer)
            return answer
        if self._closed:
            raise HttpError("the client is closed")
        t = self._target(url)
        request = _post_request(t.head, headers, body)
        origin, key = t.origin, t.pools[guarded]
        await self._per_target.acquire(origin)
        try:
            await self._slots.acquire(None)
            try:
                return await self._send(t, request, timeout, key)
            finally:
                self._slots.release(None)
        finally:
            self._per_target.release(origin)

    async def request(
        self,
        method: str,
        url: str,
        target: str,
        body: bytes,
        headers: list[tuple[str, str]],
        timeout: float,
        *,
        host: str | None = None,
        length: bool = True,
    ) -> Answer:
        """Any method to the origin of `url` (this server's own: not guarded), `target` (a path and query as the
        client sent it) in the request line, `host` (else the URL's) as `Host`, and without `Content-Length` when
        `length` is false and there is no body (a fleet's forwarding, `core.fleet`)."""
        if self._closed:
            raise HttpError("the client is closed")
        t = self._target(url)
        lines = [f"{method} {target} HTTP/1.1\r\nHost: {host or t.host_header}\r\n"]
        if body or length:
            lines.append(f"Content-Length: {len(body)}\r\n")
        request = _encoded(lines, headers, body)
        await self._slots.acquire(None)
        try:
            return await self._send(t, request, timeout, t.pools[False])
        finally:
            self._slots.release(None)

    async def _send(
        self,
        t: _Target,
        request: bytes,
        timeout: float,
        key: tuple[str, str, int, bool],
        deadline: float | None = None,
        *,
        retried: bool = False,
    ) -> Answer:
        """One request on a pooled or new connection (once more on a new one if a reused one was closed; `retried`:
        that once more, after `post` found its idle connection closed, by the same `deadline`)."""
        loop = asyncio.get_running_loop()
        if deadline is None:
            deadline = loop.time() + timeout
        for attempt in (1,) if retried else (0, 1):
            idle = self._idle.get(key)
            reused = bool(idle)
            conn = idle.pop() if idle else None
            if conn is not None and conn.closed:
                conn, reused = None, False
            if conn is None:
                conn = await asyncio.wait_for(self._connect(t, key[3]), max(0.001, deadline - loop.time()))
            waiter = conn.send(request, loop)
            self._watch(loop, deadline, waiter, timeout)
            try:
                answer = await waiter
            except _Closed:
                self._release(key, conn, False)
                if reused and attempt == 0:
                    for stale in self._idle.pop(key, ()):  # the peer closed one: its other idle ones likely too
                        stale.close()
                    continue
                raise
            except BaseException:
                self._release(key, conn, False)
                raise
            self._release(key, conn, answer.keep_alive)
            return answer
        raise HttpError("unreachable")  # pragma: no cover

    def _watch(
        self, loop: asyncio.AbstractEventLoop, deadline: float, waiter: asyncio.Future[Answer], timeout: float
    ) -> None:
        """Fail `waiter` with a timeout at `deadline` unless answered by then. One timer for all requests, set for
        the earliest deadline (requests are mostly watched in deadline order, so it is seldom moved); answered
        requests leave the heap from its top as new ones come, or all at once when it holds many."""
        heap = self._deadlines
        if loop is not self._loop:  # the first request, or a client used again on another loop (tests)
            if self._timer is not None and self._loop is not None and not self._loop.is_closed():
                self._timer.cancel()
            self._loop, self._timer, heap[:] = loop, None, []
        while heap and heap[0][2].done():
            heappop(heap)
        if len(heap) > 2 * self.limit + 64:  # a request that waits long on top: drop the answered ones behind it
            heap[:] = [entry for entry in heap if not entry[2].done()]
            heapify(heap)
        heappush(heap, (deadline, next(self._order), waiter, timeout))
        if self._timer is None or deadline < self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
            self._timer, self._timer_at = loop.call_at(deadline, self._expire), deadline

    def _expire(self) -> None:
        """The timer: time out every unanswered request whose deadline came, and set the timer for the next one."""
        self._timer = None
        loop, heap = self._loop, self._deadlines
        if loop is None:
            return
        now = loop.time() + _TIMER_SLACK
        while heap:
            deadline, _, waiter, timeout = heap[0]
            if not waiter.done():
                if deadline > now:
                    self._timer, self._timer_at = loop.call_at(deadline, self._expire), deadline
                    return
                waiter.set_exception(HttpError(f"timed out after {timeout:g}s"))
            heappop(heap)

    async def close(self) -> None:
        """Close every connection and wait (briefly) until the transports are really gone."""
        self._closed = True
        self._idle.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._deadlines.clear()
        conns = list(self._conns)
        for conn in conns:
            conn.close()
        if conns:
            await asyncio.wait([c.lost for c in conns], timeout=2.0)


def _ssl_context(verify: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
