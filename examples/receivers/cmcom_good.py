"""A correct CM.com webhook receiver (cxemu example; README "Checking your receiver").

- CM signs nothing: the only protection is a URL nobody else knows (use HTTPS and a secret path).
- De-duplicates on the message's `reference` (CM's id of an inbound message, the same on every retry),
  atomically. CM counts only a 200 as received and retries anything else, so every event, known or not, gets a
  200 quickly; a body that is not JSON gets a 400.
- For an inbound message (MO: `from`, `to`, `message`, `reference`), one reply sent through the Business
  Messaging API after the answer (its one side effect); status reports and Conversational Router notifications
  are acknowledged and ignored.

    python examples/receivers/cmcom_good.py --port 9005 --cxemu http://127.0.0.1:8080 --tenant demo
"""

from __future__ import annotations

import json
from typing import Any

from common import Cxemu, Once, SideEffects, app, options, serve
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response


def inbound(event: Any) -> dict[str, Any] | None:
    """The MO message of a body, or None: `reference`, a sender number and a message."""
    if not isinstance(event, dict) or not isinstance(event.get("reference"), str):
        return None
    sender = event.get("from")
    if not isinstance(sender, dict) or not isinstance(sender.get("number"), str) or "message" not in event:
        return None
    return event


async def send_reply(cxemu: Cxemu, mo: dict[str, Any]) -> None:
    """The side effect: one message back to the sender, on the channel it wrote on."""
    creds = await cxemu.credentials()
    message = {
        "from": creds["businessNumber"],
        "to": [{"number": mo["from"]["number"]}],
        "body": {"type": "auto", "content": "Thanks, we got your message."},
        "reference": f"re-{mo['reference']}"[:32],
    }
    if isinstance(mo.get("channel"), str):
        message["allowedChannels"] = [mo["channel"]]
    envelope = {"messages": {"authentication": {"producttoken": creds["productToken"]}, "msg": [message]}}
    await cxemu.http.post("/v1.0/message", json=envelope)


def main() -> None:
    args = options(__doc__.splitlines()[0])
    cxemu = Cxemu(args.cxemu, args.tenant, "cmcom")
    once, side_effects = Once(), SideEffects()

    async def webhook(request: Request) -> Response:
        try:
            event = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"error": "not JSON"}, status_code=400)
        mo = inbound(event)
        if mo is None:
            return JSONResponse({"ok": True})
        if not once.first(mo["reference"]):
            return JSONResponse({"duplicate": True})
        side_effects.record(mo["reference"])
        return JSONResponse({"ok": True}, background=BackgroundTask(send_reply, cxemu, mo))

    serve(app(webhook, side_effects), args)


if __name__ == "__main__":
    main()
