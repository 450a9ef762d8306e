"""A correct Sangoma CX (Chatwoot) webhook receiver (cxemu example; README "Checking your receiver").

- Verifies `X-Chatwoot-Signature`: `sha256=` and the hex HMAC-SHA256 of `"{X-Chatwoot-Timestamp}.{raw body}"`
  keyed by the secret of the webhook, agent bot or API inbox that points at this receiver (read from cxemu's
  tenant view and kept; read again when a signature does not match, in case it was registered since), compared
  in constant time. `--unsigned` for a server with `vendors.sangoma.signing` off (Chatwoot before v4.11).
- De-duplicates on `X-Chatwoot-Delivery` (the same on every retry), atomically; unsigned deliveries carry no
  delivery id, so then on the event name and the body's `id`.
- Acknowledges at once and does its work after the answer: for an incoming (customer) `message_created`, one
  message posted to the conversation through the CX API (its one side effect); every other event, known or
  not, is acknowledged and ignored.

    python examples/receivers/sangoma_good.py --port 9003 --cxemu http://127.0.0.1:8080 --tenant demo
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
from typing import Any
from urllib.parse import urlsplit

from common import Cxemu, Once, SideEffects, app, options, serve
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

DI = "/cx/api/v1/digital-interactions"


class Secrets:
    """The signing secrets of whatever in the tenant sends webhooks to this receiver's port."""

    def __init__(self, cxemu: Cxemu, args: argparse.Namespace) -> None:
        self.cxemu, self.args = cxemu, args
        self.known: list[str] = []
        self.lock = asyncio.Lock()

    async def load(self) -> list[str]:
        r = await self.cxemu.http.get(f"/_emulator/vendors/sangoma/tenants/{self.cxemu.tenant}")
        if r.status_code != 200:
            return []
        view = r.json()
        targets = [(h["url"], h["secret"]) for h in view["webhooks"]]
        targets += [(b["outgoing_url"], b["secret"]) for b in view["agent_bots"]]
        targets += [(i["webhook_url"], i["secret"]) for i in view["inboxes"] if i.get("webhook_url")]
        return [secret for url, secret in targets if urlsplit(url).port == self.args.port and secret]

    async def matches(self, signed: bytes, sent: str) -> bool:
        for refresh in (False, True):
            async with self.lock:
                if refresh or not self.known:
                    self.known = await self.load()
                secrets = list(self.known)
            for secret in secrets:
                expected = "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
                if hmac.compare_digest(expected.encode(), sent.encode()):
                    return True
        return False


class Api:
    """The CX API as this tenant's OAuth client (`client_credentials`, the token kept)."""

    def __init__(self, cxemu: Cxemu) -> None:
        self.cxemu, self.token, self.lock = cxemu, "", asyncio.Lock()

    async def post(self, path: str, body: dict[str, Any]) -> None:
        creds = await self.cxemu.credentials()
        async with self.lock:
            if not self.token:
                r = await self.cxemu.http.post(
                    "/oauth/token",
                    data={"grant_type": "client_credentials", "scope": "cx.digital-interactions"},
                    auth=(creds["client_id"], creds["client_secret"]),
                )
                self.token = r.json()["access_token"]
        body = {"tenant_domain": creds["tenant_domain"], **body}
        await self.cxemu.http.post(DI + path, json=body, headers={"authorization": f"Bearer {self.token}"})


def event_key(request: Request, event: dict[str, Any]) -> str:
    """The delivery id, the same on every retry of one event (unsigned: the event name and the body's id)."""
    return request.headers.get("x-chatwoot-delivery") or f"{event.get('event')}:{event.get('id')}"


def main() -> None:
    args = options(__doc__.splitlines()[0])
    cxemu = Cxemu(args.cxemu, args.tenant, "sangoma")
    secrets, api, once, side_effects = Secrets(cxemu, args), Api(cxemu), Once(), SideEffects()

    async def reply(conversation: int) -> None:
        """The side effect: one message posted to the conversation."""
        await api.post("/messages", {"conversation_id": conversation, "content": "Thanks, we are on it."})

    async def webhook(request: Request) -> Response:
        body = await request.body()
        if not args.unsigned:
            sent, timestamp = request.headers.get("x-chatwoot-signature"), request.headers.get("x-chatwoot-timestamp")
            if not sent or not timestamp or not await secrets.matches(timestamp.encode() + b"." + body, sent):
                return JSONResponse({"error": "invalid signature"}, status_code=401)
        try:
            event = json.loads(body)
        except ValueError:
            return JSONResponse({"error": "not JSON"}, status_code=400)
        if not isinstance(event, dict):
            return JSONResponse({"error": "not a JSON object"}, status_code=400)
        key = event_key(request, event)
        if not once.first(key):
            return JSONResponse({"duplicate": True})
        conversation = event.get("conversation") if isinstance(event.get("conversation"), dict) else {}
        incoming = event.get("event") == "message_created" and event.get("message_type") == "incoming"
        if incoming and isinstance(conversation.get("id"), int):
            side_effects.record(key)
            return JSONResponse({"ok": True}, background=BackgroundTask(reply, conversation["id"]))
        return JSONResponse({"ok": True})

    serve(app(webhook, side_effects), args)


if __name__ == "__main__":
    main()
