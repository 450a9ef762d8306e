"""Request body limits: every vendor API and control route refuses a body over its size, before buffering it.

| name | what it does |
|---|---|
| `BodyLimit(app, max_body, max_upload, reject)` | the check, by `Content-Length` and while streaming |
| `BodyTooLarge` | the `EmulatorError` (413) raised by a streaming body past the limit; vendors render it |
| `too_large(limit)` | that error for a limit, as the middleware raises and renders it |

A request declaring a `Content-Length` over the limit is answered 413 at once, before any of its body is
read (the server then closes the connection, so a 100 MB upload is not even received). A body without a
length (`Transfer-Encoding: chunked`) is counted as it arrives: past the limit, reading it raises
`BodyTooLarge`, which `vendor_endpoint` renders in the vendor's envelope (and journals); for a route that
does not catch it, the middleware answers the 413 itself. Either way the answer carries `Connection: close`.

`multipart/form-data` bodies (8x8 attachment uploads) have their own limit, `max_upload`. The hot path
(a request with a small `Content-Length`) costs one scan of the request headers; GET, HEAD and OPTIONS,
whose bodies no route reads (so nothing buffers them), are not scanned.

`reject(scope, error)` renders the 413 for the path: the app passes the vendor's `render_error` under a
vendor's base paths and the control plane's `{"error", "message"}` elsewhere (`app.py`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulator.core.errors import EmulatorError

Reject = Callable[[Scope, EmulatorError], Response]

MULTIPART = b"multipart/form-data"
BODILESS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods whose body no route reads (a body sent with them is never buffered): not checked."""


class BodyTooLarge(EmulatorError):
    status_code = 413
    code = "payload_too_large"


def too_large(limit: int) -> BodyTooLarge:
    return BodyTooLarge(f"The request body is larger than {limit} bytes.")


class BodyLimit:
    """See the module docstring."""

    def __init__(self, app: ASGIApp, *, max_body: int, max_upload: int, reject: Reject) -> None:
        self.app = app
        self.max_body = max_body
        self.max_upload = max_upload
        self.reject = reject

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """The app's own awaitable for a request without a body to check, or whose `Content-Length` is within
        `max_body` (no coroutine of this layer's on the hot path), else the checked call."""
        if scope["type"] != "http" or scope["method"] in BODILESS:
            return self.app(scope, receive, send)
        length: bytes | None = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
            elif name == b"transfer-encoding":
                chunked = True
        if chunked:
            return self._counted(scope, receive, send, self._limit(scope))
        if length is not None and length.isdigit() and (len(length) > 18 or int(length) > self.max_body):
            limit = self._limit(scope)
            if len(length) > 18 or int(length) > limit:
                return self._refuse(scope, receive, send, limit)
        return self.app(scope, receive, send)

    def _limit(self, scope: Scope) -> int:
        """`max_upload` for a multipart body, else `max_body` (looked up only for a body that may be over)."""
        for name, value in scope["headers"]:
            if name == b"content-type" and value[:19].lower() == MULTIPART:
                return self.max_upload
        return self.max_body

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = self.reject(scope, too_large(limit))
        response.headers["connection"] = "close"
        await response(scope, receive, send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """Run the app with a `receive` that raises `BodyTooLarge` once more than `limit` bytes arrived."""
        received = 0
        over = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True
                    raise too_large(limit)
            return message

        async def closing_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if over:
                    message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        try:
            await self.app(scope, counting_receive, closing_send)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send, limit)
