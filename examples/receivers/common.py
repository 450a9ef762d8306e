"""What every example receiver shares: its command line, the side-effect counter behind `GET /count`, the
vendor credentials it gets from cxemu, and serving a Starlette app with uvicorn.

The receivers themselves (`<vendor>_good.py`, `<vendor>_broken.py`) hold only what a vendor's webhooks need:
how a delivery is verified, which id de-duplicates it, and what the one side effect of an event is.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

Handler = Callable[[Request], Awaitable[Response]]


def options(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, required=True, help="port to listen on (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--cxemu", default="http://127.0.0.1:8080", help="the cxemu server: the vendor's API")
    parser.add_argument("--tenant", required=True, help="the cxemu tenant whose webhooks this receiver gets")
    parser.add_argument("--unsigned", action="store_true", help="Sangoma: the server does not sign (signing off)")
    return parser.parse_args()


class SideEffects:
    """How many side effects each event caused: what `GET /count?event=<id>` answers (`GET /count`: all)."""

    def __init__(self) -> None:
        self.by_event: Counter[str] = Counter()

    def record(self, event_id: str) -> None:
        self.by_event[event_id] += 1

    async def count(self, request: Request) -> Response:
        event = request.query_params.get("event")
        total = self.by_event[event] if event is not None else sum(self.by_event.values())
        return JSONResponse({"count": total})


class Once:
    """Event ids already taken on. `first(id)` checks and records in one step with no `await` in between, so
    of concurrent copies of one event exactly one is processed (one process; a real service would use a
    unique key in its database instead)."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def first(self, event_id: str) -> bool:
        if event_id in self.seen:
            return False
        self.seen.add(event_id)
        return True


class Cxemu:
    """The vendor API (the cxemu server): one HTTP client, and the tenant's credentials fetched once."""

    def __init__(self, url: str, tenant: str, vendor: str) -> None:
        self.url, self.tenant, self.vendor = url.rstrip("/"), tenant, vendor
        self.http = httpx.AsyncClient(base_url=self.url, timeout=10)
        self._credentials: dict[str, Any] | None = None
        self._lock = asyncio.Lock()

    async def credentials(self) -> dict[str, Any]:
        """The tenant's credentials for this vendor (`POST /_emulator/tenants`: a real integration has them in
        its configuration)."""
        async with self._lock:
            if self._credentials is None:
                r = await self.http.post("/_emulator/tenants", json={"tenant": self.tenant, "vendors": [self.vendor]})
                r.raise_for_status()
                self._credentials = dict(r.json()["credentials"][self.vendor])
            return self._credentials


def app(webhook: Handler, counter: SideEffects) -> Starlette:
    """`GET /count` and the webhook on every other path. A catch-all route, so that no path (`/hook/` as well
    as `/hook`) is ever answered with a redirect: vendors do not follow them."""
    return Starlette(
        routes=[
            Route("/count", counter.count, methods=["GET"]),
            Route("/{path:path}", webhook, methods=["POST"]),
        ]
    )


def serve(application: Starlette, args: argparse.Namespace) -> None:
    """Listen (`--port 0`: any free port), print `listening on <url>`, then serve until interrupted."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(1024)
    args.port = sock.getsockname()[1]  # the port actually taken (with --port 0)
    print(f"listening on http://{args.host}:{args.port}", flush=True)
    uvicorn.Server(uvicorn.Config(application, log_level="warning")).run(sockets=[sock])
