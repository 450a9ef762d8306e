"""A deliberately BROKEN CM.com webhook receiver; `cxemu verify-receiver` catches its flaw (README "Checking
your receiver").

It is not idempotent: every copy of an inbound message is processed, so CM's retry of a message whose 200 was
lost, or two copies arriving together, each send the customer another reply: `retry-deduplicated`,
`concurrent-deduplicated`, `lost-ack-deduplicated`.

Everything else is as in `cmcom_good.py`.

    python examples/receivers/cmcom_broken.py --port 9006 --cxemu http://127.0.0.1:8080 --tenant demo
"""

from __future__ import annotations

import json

from cmcom_good import inbound, send_reply
from common import Cxemu, SideEffects, app, options, serve
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

EXPECTED_FAILURES = {"retry-deduplicated", "concurrent-deduplicated", "lost-ack-deduplicated"}


def main() -> None:
    args = options(__doc__.splitlines()[0])
    cxemu = Cxemu(args.cxemu, args.tenant, "cmcom")
    side_effects = SideEffects()

    async def webhook(request: Request) -> Response:
        try:
            event = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"error": "not JSON"}, status_code=400)
        mo = inbound(event)
        if mo is None:
            return JSONResponse({"ok": True})
        side_effects.record(mo["reference"])  # FLAW: no check whether this reference was already processed
        return JSONResponse({"ok": True}, background=BackgroundTask(send_reply, cxemu, mo))

    serve(app(webhook, side_effects), args)


if __name__ == "__main__":
    main()
