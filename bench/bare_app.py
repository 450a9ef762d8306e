"""The reference: a bare Starlette app with the same two endpoints the benchmark drives on cxemu.

    uvicorn bare_app:app --app-dir bench --loop uvloop --http httptools --no-access-log --log-level warning

No state, no journal, no validation model, no webhooks: what Starlette + uvicorn cost on their own. The
bodies have the same shape as the echo vendor's items, so the JSON encoding work is comparable.
"""

from __future__ import annotations

import json
import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

_counter = 0


async def get_item(request: Request) -> Response:
    item_id = request.path_params["item_id"]
    return JSONResponse({"id": item_id, "text": "hello", "createdAt": 1700000000.0, "pings": 0})


async def create_item(request: Request) -> Response:
    global _counter
    data = json.loads(await request.body())
    _counter += 1
    return JSONResponse(
        {"id": f"it-{_counter}", "text": data.get("text", ""), "createdAt": time.time(), "pings": 0}, status_code=201
    )


app = Starlette(
    routes=[
        Route("/echo/v1/items/{item_id}", get_item, methods=["GET"]),
        Route("/echo/v1/items", create_item, methods=["POST"]),
    ]
)
