"""A lean Redis client for the Redis backend's hot path: the script calls of a unit of work (`core.redisstore`).

redis-py's asyncio client costs the worker about 300 k instructions for one `GET` and 600 k for the commit script
(bench/README.md, "The Redis backend"): connection pool, retry wrapper, command packing and reply handling in Python,
more than the whole memory backend's request. This client is one connection with hiredis's C packer and parser
behind an `asyncio.Protocol`: a call writes its command and waits for its reply, replies come back in order, so
calls from many tasks pipeline on the one connection. It speaks only what the store's hot path needs (`call`,
`evalsha`, and `pipeline`: many commands in one write, for a batch of writes); everything else (the change stream,
start-up, reset, restore) stays on redis-py.

Pipelined scripts (`sent`): the scripts named at construction are loaded (`SCRIPT LOAD`) when the connection is
made, so a script sent by digest is never sent again as its text after later commands went out (an owner's
pipelined commits, `core.redisstore`): a NOSCRIPT reply is that call's failure, and the connection loads the script
again behind it, for the calls sent after.

Failures are redis-py's exceptions, so the store handles both clients alike: `ConnectionError` when Redis cannot
be reached or the connection drops (every call in flight fails; the next call connects again), `ResponseError`
for an error reply. A call cancelled while waiting leaves its reply to be read and dropped, so the order holds.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections import deque
from collections.abc import Sequence
from typing import Any, cast

import hiredis
from redis.connection import SSLConnection, parse_url
from redis.exceptions import ConnectionError, ResponseError


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self._reader = hiredis.Reader(encoding="utf-8", replyError=ResponseError)
        self._waiting: deque[asyncio.Future[Any]] = deque()
        self._transport: asyncio.Transport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio.Transport subclasses
        # the loop the connection lives on, kept: CPython 3.11's `get_running_loop` asks the kernel for the pid on
        # every call (a `getpid` system call per command otherwise)
        self._loop = asyncio.get_running_loop()

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        reader.feed(data)
        while (reply := reader.gets()) is not False:
            waiter = self._waiting.popleft()
            if waiter.done():  # its caller was cancelled
                continue
            if isinstance(reply, ResponseError):
                waiter.set_exception(reply)
            else:
                waiter.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_exception(ConnectionError(f"Redis closed the connection ({exc or 'end of stream'})"))

    def call(self, args: tuple[Any, ...]) -> asyncio.Future[Any]:
        if self.closed or self._transport is None or self._loop is None:
            raise ConnectionError("the connection to Redis is closed")
        waiter = self._loop.create_future()
        self._waiting.append(waiter)
        self._transport.write(hiredis.pack_command(args))
        return waiter

    def call_many(self, commands: Sequence[tuple[Any, ...]]) -> list[asyncio.Future[Any]]:
        if self.closed or self._transport is None or self._loop is None:
            raise ConnectionError("the connection to Redis is closed")
        loop = self._loop
        waiters = [loop.create_future() for _ in commands]
        self._waiting.extend(waiters)
        self._transport.write(b"".join(hiredis.pack_command(args) for args in commands))
        return waiters

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class LeanRedis:
    """One pipelined connection to the Redis at `url` (`redis://`, `rediss://`, `unix://`), made on first use."""

    def __init__(self, url: str, scripts: Sequence[Script] = ()) -> None:
        self._options: dict[str, Any] = parse_url(url)  # type: ignore[no-untyped-call]  # redis-py: unannotated
        self._proto: _Protocol | None = None
        self._connecting: asyncio.Lock | None = None
        self._scripts = tuple(scripts)
        """Loaded on every connection as it is made (`sent` never sends their text)."""
        self._reloading = False

    def connected(self) -> bool:
        """Whether a connection is open now (`sent` needs one; `connect` makes it)."""
        return self._proto is not None and not self._proto.closed

    async def connect(self) -> None:
        """Connect now (with the scripts loaded) unless connected; `ConnectionError` when Redis cannot be reached."""
        if not self.connected():
            await self._connect()

    def sent(self, script: Script, keys: list[str], args: list[Any]) -> asyncio.Future[Any]:
        """Write `EVALSHA` of one of the connection's scripts now and return the future of its reply, without an
        await: calls sent one after another run in Redis in that order. A NOSCRIPT reply (Redis lost its scripts:
        `SCRIPT FLUSH`) fails this call; the script is loaded again behind it, for the calls sent after. Needs a
        connection (`connect`); `ConnectionError` when there is none."""
        proto = self._proto
        if proto is None or proto.closed:
            raise ConnectionError("the connection to Redis is closed")
        reply = proto.call(("EVALSHA", script.sha, len(keys), *keys, *args))
        reply.add_done_callback(self._noscript)
        return reply

    def _noscript(self, reply: asyncio.Future[Any]) -> None:
        if reply.cancelled() or self._reloading:
            return
        exc = reply.exception()
        proto = self._proto
        if not isinstance(exc, ResponseError) or not str(exc).startswith("NOSCRIPT"):
            return
        if proto is not None and not proto.closed and self._scripts:
            self._reloading = True
            loads = proto.call_many([("SCRIPT", "LOAD", s.text) for s in self._scripts])
            loads[-1].add_done_callback(self._reloaded)

    def _reloaded(self, reply: asyncio.Future[Any]) -> None:
        self._reloading = False
        if not reply.cancelled():
            reply.exception()  # retrieved: a failure shows as the next call's

    async def call(self, *args: Any) -> Any:
        """Send one command and return its reply (strings decoded as UTF-8, as redis-py's `decode_responses`)."""
        proto = self._proto
        if proto is None or proto.closed:
            proto = await self._connect()
        return await proto.call(args)

    def send(self, *args: Any) -> asyncio.Future[Any] | None:
        """Write one command now and return the future of its reply, without a task or an await: for a caller that
        takes the reply in a callback (the fleet feed's mirror). None when not connected (use `call`, which
        connects)."""
        proto = self._proto
        if proto is None or proto.closed:
            return None
        return proto.call(args)

    async def pipeline(self, commands: Sequence[tuple[Any, ...]], *, raise_on_error: bool = True) -> list[Any]:
        """Send the commands in one write and return their replies in order. Every reply is read first; then the
        first error reply is raised (`ResponseError`), as redis-py's pipeline does (the others were applied), or
        with `raise_on_error=False` each error reply is returned in its place. A dropped connection raises."""
        if not commands:
            return []
        proto = self._proto
        if proto is None or proto.closed:
            proto = await self._connect()
        if len(commands) == 1:  # one tenant's write, the usual case: its reply alone, no `gather`
            try:
                return [await proto.call(commands[0])]
            except ResponseError as exc:
                if raise_on_error:
                    raise
                return [exc]
        replies = await asyncio.gather(*proto.call_many(commands), return_exceptions=True)
        for reply in replies:
            if isinstance(reply, BaseException) and (raise_on_error or not isinstance(reply, ResponseError)):
                raise reply
        return replies

    async def evalsha(self, script: Script, keys: list[str], args: list[Any]) -> Any:
        """Run a script by its digest, sending its text only when Redis does not know it yet (after a restart)."""
        proto = self._proto
        if proto is None or proto.closed:
            proto = await self._connect()
        try:
            return await proto.call(("EVALSHA", script.sha, len(keys), *keys, *args))
        except ResponseError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
            return await self.call("EVAL", script.text, len(keys), *keys, *args)

    async def _connect(self) -> _Protocol:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._proto is not None and not self._proto.closed:
                return self._proto
            options = self._options
            loop = asyncio.get_running_loop()
            try:
                if "path" in options:
                    _, proto = await loop.create_unix_connection(_Protocol, options["path"])
                else:
                    tls = ssl.create_default_context() if options.get("connection_class") is SSLConnection else None
                    host, port = options.get("host", "localhost"), options.get("port", 6379)
                    _, proto = await loop.create_connection(_Protocol, host, port, ssl=tls)
            except OSError as exc:
                raise ConnectionError(f"cannot reach Redis ({exc})") from exc
            try:
                if options.get("password"):
                    user = options.get("username")
                    await proto.call(("AUTH", user, options["password"]) if user else ("AUTH", options["password"]))
                if options.get("db"):
                    await proto.call(("SELECT", options["db"]))
                if self._scripts:  # before any call of this connection can name them (`sent`)
                    await asyncio.gather(*proto.call_many([("SCRIPT", "LOAD", s.text) for s in self._scripts]))
            except BaseException:
                proto.close()
                raise
            self._proto = proto
            return proto

    def close(self) -> None:
        if self._proto is not None:
            self._proto.close()
            self._proto = None


class Script:
    """A Lua script and its SHA-1 digest (what `EVALSHA` names it by)."""

    __slots__ = ("sha", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.sha = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()
