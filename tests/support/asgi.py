"""ASGI helpers for in-process tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ResponseStarted:
    """Wraps an ASGI app and sets `started` once a response has begun (its status and headers are sent).

    httpx's ASGITransport hands a response over only when the app has finished, so a test that streams
    (server-sent events) uses this to know the handler is already listening before it makes things happen.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.started = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def watch(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.start":
                self.started.set()

        await self.app(scope, receive, watch)
