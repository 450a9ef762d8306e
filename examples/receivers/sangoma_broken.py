"""A deliberately BROKEN Sangoma CX (Chatwoot) webhook receiver; `cxemu verify-receiver` catches both flaws
(README "Checking your receiver").

1. It never checks `X-Chatwoot-Signature` ("the URL is secret anyway"), so a changed body, another secret's
   signature, no signature or a garbage one are all accepted: `tampered-body-rejected`, `wrong-key-rejected`,
   `missing-signature-rejected`, `malformed-signature-rejected`.
2. It dispatches on the event name through a dict and answers an event it does not know with a 500 (an
   unhandled KeyError), so the vendor retries it: `unknown-event-tolerated`.

Everything else is as in `sangoma_good.py`.

    python examples/receivers/sangoma_broken.py --port 9004 --cxemu http://127.0.0.1:8080 --tenant demo
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from common import Cxemu, Once, SideEffects, app, options, serve
from sangoma_good import Api, event_key
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

EXPECTED_FAILURES = {
    "tampered-body-rejected",
    "wrong-key-rejected",
    "missing-signature-rejected",
    "malformed-signature-rejected",
    "unknown-event-tolerated",
}
CHATWOOT_EVENTS = (
    "conversation_created", "conversation_updated", "conversation_status_changed", "conversation_opened",
    "conversation_resolved", "conversation_typing_on", "conversation_typing_off", "contact_created",
    "contact_updated", "message_created", "message_updated", "webwidget_triggered", "inbox_created", "inbox_updated",
)  # fmt: skip


def main() -> None:
    args = options(__doc__.splitlines()[0])
    cxemu = Cxemu(args.cxemu, args.tenant, "sangoma")
    api, once, side_effects = Api(cxemu), Once(), SideEffects()

    async def reply(conversation: int) -> None:
        await api.post("/messages", {"conversation_id": conversation, "content": "Thanks, we are on it."})

    def on_message(key: str, event: dict[str, Any]) -> Response:
        conversation = event.get("conversation") if isinstance(event.get("conversation"), dict) else {}
        if event.get("message_type") == "incoming" and isinstance(conversation.get("id"), int):
            side_effects.record(key)
            return JSONResponse({"ok": True}, background=BackgroundTask(reply, conversation["id"]))
        return JSONResponse({"ok": True})

    def ignore(key: str, event: dict[str, Any]) -> Response:
        return JSONResponse({"ok": True})

    handlers: dict[str, Callable[[str, dict[str, Any]], Response]] = dict.fromkeys(CHATWOOT_EVENTS, ignore)
    handlers["message_created"] = on_message

    async def webhook(request: Request) -> Response:
        body = await request.body()  # FLAW 1: no signature check at all
        try:
            event = json.loads(body)
        except ValueError:
            return JSONResponse({"error": "not JSON"}, status_code=400)
        if not isinstance(event, dict) or "event" not in event:
            return JSONResponse({"error": "not a Chatwoot event"}, status_code=400)
        key = event_key(request, event)
        if not once.first(key):
            return JSONResponse({"duplicate": True})
        return handlers[str(event["event"])](key, event)  # FLAW 2: KeyError (a 500) on an unknown event

    serve(app(webhook, side_effects), args)


if __name__ == "__main__":
    main()
