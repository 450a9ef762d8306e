"""A deliberately BROKEN 8x8 webhook receiver: it looks fine on the happy path, and `cxemu verify-receiver`
catches each of its two flaws (README "Checking your receiver").

1. It takes the algorithm from the JWS header, as a naive JOSE library call does, and so accepts
   `alg: none` with no signature at all (a forged webhook): `jws-alg-none-rejected`.
2. It de-duplicates on a hash of the body instead of `x-8x8-event-id`, so a second real event whose body is
   byte for byte the first one's is dropped as a "duplicate": `distinct-events-kept`.

Everything else is as in `eightbyeight_good.py`.

    python examples/receivers/eightbyeight_broken.py --port 9002 --cxemu http://127.0.0.1:8080 --tenant demo
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json

from common import Cxemu, Once, SideEffects, app, options, serve
from eightbyeight_good import HEADERS, Keys, signed_payload
from joserfc import jws
from joserfc.errors import JoseError
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

EXPECTED_FAILURES = {"jws-alg-none-rejected", "distinct-events-kept"}


async def verified(request: Request, body: bytes, keys: Keys) -> bool:
    compact = request.headers.get("x-8x8-signature", "")
    if compact.count(".") != 2 or any(name not in request.headers for name in HEADERS):
        return False
    protected, payload_part, _ = compact.split(".")
    if payload_part:
        return False
    try:
        header = json.loads(base64.urlsafe_b64decode(protected + "=" * (-len(protected) % 4)))
        if header.get("alg") == "none":  # FLAW 1: "the header says it is not signed, so nothing to check"
            return True
        key = await keys.get(str(header.get("kid")))
        if key is None or header.get("b64") is not False:
            return False
        jws.deserialize_compact(compact, key, algorithms=["RS256"], payload=signed_payload(body, request.headers))
    except (JoseError, ValueError, KeyError, AttributeError, binascii.Error):
        return False
    return True


def main() -> None:
    args = options(__doc__.splitlines()[0])
    cxemu = Cxemu(args.cxemu, args.tenant, "eightbyeight")
    keys, once, side_effects = Keys(cxemu), Once(), SideEffects()

    async def reply(conversation: str) -> None:
        creds = await cxemu.credentials()
        await cxemu.http.post(
            f"/chat-gateway/v1/conversations/{conversation}/messages",
            json={"authorType": "bot", "text": "Relayed to the customer."},
            headers={"x-api-key": creds["apiKey"]},
        )

    async def webhook(request: Request) -> Response:
        body = await request.body()
        if not await verified(request, body, keys):
            return JSONResponse({"error": "invalid signature"}, status_code=401)
        try:
            event = json.loads(body)
        except ValueError:
            return JSONResponse({"error": "not JSON"}, status_code=400)
        if not isinstance(event, dict):
            return JSONResponse({"error": "not a JSON object"}, status_code=400)
        if not once.first(hashlib.sha256(body).hexdigest()):  # FLAW 2: the body is not the event's identity
            return JSONResponse({"duplicate": True})
        data = event.get("data") if isinstance(event.get("data"), dict) else {}
        conversation = event.get("conversationId")
        # 8x8 echoes what the integration itself posted (isEcho: true); the rest, an agent's answer above all, is
        # what a channel integration relays to the customer, and then acknowledges in the conversation
        to_relay = not data.get("isEcho")
        if event.get("eventType") == "MESSAGE" and to_relay and isinstance(conversation, str):
            side_effects.record(request.headers["x-8x8-event-id"])
            return JSONResponse({"ok": True}, background=BackgroundTask(reply, conversation))
        return JSONResponse({"ok": True})

    serve(app(webhook, side_effects), args)


if __name__ == "__main__":
    main()
