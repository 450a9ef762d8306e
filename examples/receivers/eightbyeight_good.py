"""A correct 8x8 Chat Gateway webhook receiver (cxemu example; README "Checking your receiver").

- Verifies `x-8x8-signature`: a compact JWS, RS256 only (the algorithm is fixed here, never taken from the
  header), `b64: false` with the payload detached; the payload is rebuilt from the body's CRC-32 and the
  `x-8x8-*` headers; the key is the JWK of the header's kid, fetched from the vendor API once and cached.
- De-duplicates on `x-8x8-event-id` (the same on every retry), atomically.
- Acknowledges at once and does its work after the answer: for a MESSAGE to relay to the customer (an agent's
  answer; not an echo of its own), one message posted back to the conversation (its one side effect); every other
  event, known or not, is acknowledged and ignored.

    python examples/receivers/eightbyeight_good.py --port 9001 --cxemu http://127.0.0.1:8080 --tenant demo
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import zlib
from typing import Any

from common import Cxemu, Once, SideEffects, app, options, serve
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

HEADERS = ("x-8x8-tenant-id", "x-8x8-customer-id", "x-8x8-event-id", "x-8x8-transmission-time", "x-8x8-retry")


class Keys:
    """The public JWKs by kid, fetched from `GET /chat-gateway/v1/jwk/{kid}/public` and kept."""

    def __init__(self, cxemu: Cxemu) -> None:
        self.cxemu = cxemu
        self.known: dict[str, RSAKey] = {}
        self.lock = asyncio.Lock()

    async def get(self, kid: str) -> RSAKey | None:
        async with self.lock:
            if kid not in self.known:
                r = await self.cxemu.http.get(f"/chat-gateway/v1/jwk/{kid}/public")
                if r.status_code != 200:
                    return None
                self.known[kid] = RSAKey.import_key(r.json())
            return self.known[kid]


def signed_payload(body: bytes, headers: Any) -> bytes:
    """What 8x8 signs: compact JSON of the body's CRC-32 and the x-8x8-* headers, in this key order."""
    return json.dumps(
        {
            "checksum": zlib.crc32(body) & 0xFFFFFFFF,
            "cid": headers["x-8x8-customer-id"],
            "eid": headers["x-8x8-event-id"],
            "retry": int(headers["x-8x8-retry"]),
            "tid": headers["x-8x8-tenant-id"],
            "tt": int(headers["x-8x8-transmission-time"]),
        },
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()


async def verified(request: Request, body: bytes, keys: Keys) -> bool:
    compact = request.headers.get("x-8x8-signature", "")
    if compact.count(".") != 2 or any(name not in request.headers for name in HEADERS):
        return False
    protected, payload_part, _ = compact.split(".")
    if payload_part:  # an attached payload: 8x8 always detaches it
        return False
    try:
        header = json.loads(base64.urlsafe_b64decode(protected + "=" * (-len(protected) % 4)))
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
        """The side effect: one message posted back to the conversation."""
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
        event_id = request.headers["x-8x8-event-id"]
        if not once.first(event_id):
            return JSONResponse({"duplicate": True})
        data = event.get("data") if isinstance(event.get("data"), dict) else {}
        conversation = event.get("conversationId")
        # 8x8 echoes what the integration itself posted (isEcho: true); the rest, an agent's answer above all, is
        # what a channel integration relays to the customer, and then acknowledges in the conversation
        to_relay = not data.get("isEcho")
        if event.get("eventType") == "MESSAGE" and to_relay and isinstance(conversation, str):
            side_effects.record(event_id)
            return JSONResponse({"ok": True}, background=BackgroundTask(reply, conversation))
        return JSONResponse({"ok": True})

    serve(app(webhook, side_effects), args)


if __name__ == "__main__":
    main()
