"""A deliberately BROKEN Samespace callback receiver; `cxemu verify-receiver` catches its flaw (README
"Checking your receiver").

It parses each callback into a fixed class (`Callback(**body)`), so a callback with a field it does not know
raises a TypeError: a 500, and the vendor retries a delivery that will never succeed: `extra-fields-tolerated`.
Vendors add fields to their payloads without notice; a receiver must ignore what it does not know.

Everything else is as in `samespace_good.py`.

    python examples/receivers/samespace_broken.py --port 9008 --cxemu http://127.0.0.1:8080 --tenant demo
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from common import Once, SideEffects, app, options, serve
from samespace_good import event_key
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

EXPECTED_FAILURES = {"extra-fields-tolerated"}


@dataclass
class Callback:
    event: str
    call_id: str
    cloud_id: str | None = None
    step_id: str | None = None
    timestamp: str | None = None
    data: dict[str, Any] | None = None


def main() -> None:
    args = options(__doc__.splitlines()[0])
    once, side_effects = Once(), SideEffects()

    async def webhook(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"error": "not JSON"}, status_code=400)
        if not isinstance(body, dict) or not isinstance(body.get("call_id"), str):
            return JSONResponse({"error": "not a Samespace callback"}, status_code=400)
        callback = Callback(**body)  # FLAW: a field this class does not declare is a TypeError, a 500
        key = event_key(vars(callback))
        if once.first(key):
            side_effects.record(key)
        return JSONResponse({"ok": True})

    serve(app(webhook, side_effects), args)


if __name__ == "__main__":
    main()
