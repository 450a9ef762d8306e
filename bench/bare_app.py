"""The reference: a bare Starlette app with the endpoints the benchmark drives on cxemu, without cxemu.

    BARE_WEBHOOK_BASE=http://127.0.0.1:<receiver port> \
    uvicorn bare_app:app --app-dir bench --loop uvloop --http httptools --no-access-log --log-level warning

No state, no journal, no validation model: what Starlette + uvicorn cost on their own. The item bodies have the
same shape as the echo vendor's, so the JSON encoding work is comparable.

The floor under the webhook rows (with `BARE_WEBHOOK_BASE` set; bench/README.md, "The floor"): the same stack
plus cxemu's own webhook client (`emulator.core.httpclient.HttpClient`, the pool and settings cxemu's
dispatcher uses), and nothing else of cxemu:

* `POST /floor/v1/conversations/{cid}/messages` (the 8x8 message's shape) -> 202 with no body, then, after the
  answer is sent (a Starlette background task, in the request's own task), one POST of a 211-byte JSON body
  shaped as 8x8's MESSAGE webhook, with the same nine headers, to `<base>/hook/<run>`: what
  `8x8-post-message-unsigned` sends;
* `POST /floor/v1.0/message` (CM.com's send) -> 200 with CM's 174-byte answer, then two 205-byte status-report
  bodies, one after the other (CM's two reports share their message's ordering), to `<base>/hook200/<run>`:
  what `cmcom-post-message` sends;
* `<run>` is the request's `x-bench-run` header (as for the WireMock row); `GET /floor/sent/<run>` answers how
  many requests named that run were answered (`{"sent": N}`), the server's own count the harness compares the
  receiver's with.

Fire and forget, as cxemu's delivery is after the answer: no retries, no log, no per-delivery state; a failed
POST is only counted (`GET /floor/sent/<run>` gives `failed` too), and shows as lost at the receiver.
"""

from __future__ import annotations

import json
import os
import time

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulator.core.httpclient import HttpClient, HttpError

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


# -- the floor under the webhook rows -----------------------------------------------------------------------

WEBHOOK_BASE = os.environ.get("BARE_WEBHOOK_BASE", "")
RUN_HEADER = "x-bench-run"
CLIENT = HttpClient(limit=512, per_target=256, excerpt=512)
"""cxemu's dispatcher's client with its defaults (webhooks.py: 512 in flight, half of them to one target)."""
TIMEOUT = 10.0
SENT: dict[str, int] = {}
FAILED: dict[str, int] = {}
CM_ANSWER = (
    b'{"details":"Created 1 message(s)","errorCode":0,"messages":[{"to":"0031612345678","status":"Accepted",'
    b'"reference":null,"parts":1,"messageDetails":null,"messageErrorCode":0}]}'
)
_seq = 0
_encode = json.JSONEncoder(separators=(",", ":")).encode
"""One encoder made once (`json.dumps` with arguments makes one per call): the JSON text cxemu's bodies are."""


def _count(run: str) -> None:
    SENT[run] = SENT.get(run, 0) + 1


async def _post(url: str, body: bytes, headers: dict[str, str], run: str) -> None:
    try:
        await CLIENT.post(url, body, headers, TIMEOUT)
    except HttpError:
        FAILED[run] = FAILED.get(run, 0) + 1


async def _post_all(url: str, bodies: list[bytes], headers: dict[str, str], run: str) -> None:
    for body in bodies:  # in order, as one message's reports are
        await _post(url, body, headers, run)


async def floor_message(request: Request) -> Response:
    """8x8's message: 202, then one MESSAGE-shaped webhook."""
    global _seq
    data = json.loads(await request.body())
    run = request.headers.get(RUN_HEADER, "default")
    _seq += 1
    now = int(time.time() * 1000)
    body = _encode(
        {
            "eventType": "MESSAGE",
            "conversationId": request.path_params["cid"].ljust(22, "0")[:22],
            "timestamp": now,
            "data": {
                "isEcho": True,
                "sender": {"id": f"{_seq:024d}", "type": data.get("authorType", "user")},
                "text": data.get("text", ""),
                "attachments": [],
                "cards": [],
            },
        }
    ).encode()
    headers = {
        "content-type": "application/json",
        "user-agent": "cxemu",
        "x-8x8-tenant-id": run,
        "x-8x8-customer-id": "CLqqmAFvIPHn",
        "x-8x8-event-id": f"{_seq:036d}",
        "x-8x8-transmission-time": str(now),
        "x-8x8-retry": "0",
    }
    _count(run)
    task = BackgroundTask(_post, f"{WEBHOOK_BASE}/hook/{run}", body, headers, run)
    return Response(status_code=202, background=task)


async def floor_cm(request: Request) -> Response:
    """CM.com's send: 200 with CM's answer, then two status-report-shaped webhooks (Accepted, Delivered)."""
    global _seq
    data = json.loads(await request.body())
    run = request.headers.get(RUN_HEADER, "default")
    _seq += 1
    to = data["messages"]["msg"][0]["to"][0]["number"]
    received = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    bodies = [
        _encode(
            {
                "messages": {
                    "msg": {
                        "received": received,
                        "to": to,
                        "reference": f"{_seq:036d}",
                        "status": {"code": code, "errorCode": "", "errorDescription": ""},
                        "operator": "20416",
                    }
                }
            }
        ).encode()
        for code in ("0", "2")
    ]
    headers = {"content-type": "application/json", "user-agent": "cxemu"}
    _count(run)
    task = BackgroundTask(_post_all, f"{WEBHOOK_BASE}/hook200/{run}", bodies, headers, run)
    return Response(CM_ANSWER, media_type="application/json", background=task)


async def floor_sent(request: Request) -> Response:
    run = request.path_params["run"]
    return JSONResponse({"sent": SENT.get(run, 0), "failed": FAILED.get(run, 0)})


app = Starlette(
    routes=[
        Route("/echo/v1/items/{item_id}", get_item, methods=["GET"]),
        Route("/echo/v1/items", create_item, methods=["POST"]),
        Route("/floor/v1/conversations/{cid}/messages", floor_message, methods=["POST"]),
        Route("/floor/v1.0/message", floor_cm, methods=["POST"]),
        Route("/floor/sent/{run}", floor_sent, methods=["GET"]),
    ]
)
