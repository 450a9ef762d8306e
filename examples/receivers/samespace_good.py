"""A correct Samespace call-flow callback receiver (cxemu example; README "Checking your receiver").

- Samespace publishes nothing about signing its callbacks: the only protection is the callback URL given in
  `publish`.
- Samespace sends no event id, so an event is identified by what it says: `event`, `call_id`, `step_id` and
  `timestamp` (the same on every retry), de-duplicated atomically.
- Samespace has no API to call back on a callback, so its one side effect here is counting it (`GET /count`);
  every event, known or not, with extra fields or not, is acknowledged with a 200.

    python examples/receivers/samespace_good.py --port 9007 --cxemu http://127.0.0.1:8080 --tenant demo
"""

from __future__ import annotations

import json
from typing import Any

from common import Once, SideEffects, app, options, serve
from starlette.requests import Request
from starlette.responses import JSONResponse, Response


def event_key(event: dict[str, Any]) -> str:
    return json.dumps([event.get(k) for k in ("event", "call_id", "step_id", "timestamp")])


def main() -> None:
    args = options(__doc__.splitlines()[0])
    once, side_effects = Once(), SideEffects()

    async def webhook(request: Request) -> Response:
        try:
            event = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"error": "not JSON"}, status_code=400)
        if not isinstance(event, dict) or not isinstance(event.get("call_id"), str):
            return JSONResponse({"error": "not a Samespace callback"}, status_code=400)
        key = event_key(event)
        if once.first(key):
            side_effects.record(key)
        return JSONResponse({"ok": True})

    serve(app(webhook, side_effects), args)


if __name__ == "__main__":
    main()
