"""Per-vendor set-up for the bench rows: request constants, configs written to the work dir, and the small
calls each row makes before it is timed (tokens, tenants, webhooks, conversations, status-report counts).

Adding a vendor row starts here (its constants and helpers), then `rows.py` (its server, sanity check and row).
"""

from __future__ import annotations

import base64
import json
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from harness import HOST, Client, LoadSpec, expect, fill, request

# 8x8 Chat Gateway v1
P8 = "/chat-gateway/v1"
API_KEY_HEADER = "x-api-key"
CONVERSATION_BODY = '{"channelId":"1","user":{"name":"Bench User"}}'
MESSAGE_BODY = '{"authorType":"user","text":"hi"}'
WEBHOOK_VERSION = "Chat Gateway v1.0"
HOOKS_PER_CONVERSATION = 3
"""Webhooks one new conversation fires with agents off: CONVERSATION_UPDATE (created, active) and QUEUED."""

# The floor under the webhook rows: bench/bare_app.py's `/floor/...` routes, cxemu's webhook client, no cxemu
FLOOR_MESSAGE_PATH = "/floor/v1/conversations/c1/messages"
FLOOR_CM_PATH = "/floor/v1.0/message"
FLOOR_HOOKS = {"bare-post-webhook": 1, "bare-post-2webhooks": 2}
FLOOR_HOOK_BYTES = {"bare-post-webhook": 211, "bare-post-2webhooks": 2 * 205}
"""What one request's webhooks weigh (bodies): 8x8's MESSAGE (unsigned row), CM.com's two status reports."""

# Sangoma CX: OAuth client credentials, then Digital Interactions (Chatwoot) with a bearer token
SANGOMA_TOKEN_PATH = "/oauth/token"
SANGOMA_INBOXES = "/cx/api/v1/digital-interactions/inboxes/"
SANGOMA_CLIENT = ("bench", "bench-secret")
SANGOMA_INBOXES_EXPECTED = [("Website", "Channel::WebWidget"), ("API", "Channel::Api")]
"""The default inboxes of a new tenant (sangoma/config.py DEFAULT_INBOXES): what the GET must list."""

# CM.com Business Messaging: the product token is in the body; status reports go to the status webhook
CM_PATH = "/v1.0/message"
CM_CONTROL = "/_emulator/vendors/cmcom/tenants"
CM_RECIPIENT = "0031612345678"
REPORTS_PER_MESSAGE = 2
"""Status reports one accepted message fires with the bench config: Accepted, then Delivered (it goes out on SMS,
which has no read receipts; `read_after: null` anyway)."""
CM_ACCEPTED = {
    "details": "Created 1 message(s)",
    "errorCode": 0,
    "messages": [
        {"to": CM_RECIPIENT, "status": "Accepted", "reference": None, "parts": 1, "messageDetails": None,
         "messageErrorCode": 0},
    ],
}  # fmt: skip

# Samespace Call Flow: auth in the body; a `call` then a `play`, executed on the (system) clock
SS_FLOW_PATH = "/api/public/v1/call/flow"
SS_CALL_PATH = "/api/public/v1/call"
SS_CLOUD, SS_TOKEN = "bench", "bench-token"
FLOW_BODY = json.dumps(
    {
        "cloud_id": SS_CLOUD,
        "auth_token": SS_TOKEN,
        "flow": [
            {"id": "0", "type": "call", "number": "917507161643", "caller_id": "123456", "next_step": "1"},
            {"id": "1", "type": "play", "text": "hello"},
        ],
    },
    separators=(",", ":"),
)


# -------------------------------------------------------------------------------------------- 8x8 helpers


def api_key(key: str) -> dict[str, str]:
    return {API_KEY_HEADER: key}


def point_webhook(port: int, key: str, url: str) -> None:
    """PUT the tenant's default webhook `1` (channel `1` delivers to it) to `url`. Creates the tenant if new."""
    body = json.dumps({"name": "default", "uri": url, "version": WEBHOOK_VERSION})
    expect(*request(port, "PUT", f"{P8}/webhooks/1", body, headers=api_key(key)), 200, f"PUT webhook of {key}")


def set_chaos(port: int, chaos: dict[str, Any]) -> None:
    expect(*request(port, "PUT", "/_emulator/chaos", json.dumps(chaos)), 200, "PUT /_emulator/chaos")


def create_conversations(port: int, key: str, count: int, pin: bool) -> list[str]:
    """`count` conversations on channel 1 (POST /conversations in count mode), then their ids from the list."""
    fill(LoadSpec(port, "POST", f"{P8}/conversations", api_key(key), CONVERSATION_BODY), count, pin)
    ids: list[str] = []
    with Client(port, api_key(key)) as client:
        for page in range(count // 1000 + 2):
            data = expect(*client.call("GET", f"{P8}/conversations?size=1000&page={page}"), 200, "conversations")
            batch = [str(c["id"]) for c in data["_embedded"]["conversations"]]
            ids += batch
            if len(batch) < 1000:
                break
    if len(ids) != count:
        raise RuntimeError(f"{key}: {len(ids)} conversations listed, {count} created")
    return ids


def message_total(port: int, key: str, ids: Sequence[str]) -> int:
    """Messages stored in these conversations (page.totalElements of each list): the server's count of 202s."""
    total = 0
    with Client(port, api_key(key)) as client:
        for cid in ids:
            data = expect(*client.call("GET", f"{P8}/conversations/{cid}/messages?size=1"), 200, "messages")
            total += int(data["page"]["totalElements"])
    return total


def write_paths(workdir: Path, name: str, ids: Sequence[str], keys: Sequence[str] = ()) -> Path:
    """The paths file of a webhook run: one message path per conversation; with `keys` (one per id) each line also
    carries its tenant's `x-api-key` (after a tab: bench/report.lua and bench/loadgen.py send it)."""
    path = workdir / f"{name}.paths"
    if keys:
        pairs = zip(ids, keys, strict=True)
        lines = [f"{P8}/conversations/{cid}/messages\t{API_KEY_HEADER}: {key}\n" for cid, key in pairs]
    else:
        lines = [f"{P8}/conversations/{cid}/messages\n" for cid in ids]
    path.write_text("".join(lines))
    return path


def eightbyeight_config(workdir: Path, name: str, *, signing: bool) -> Path:
    """The YAML config of an 8x8 bench server: simulated agents off, signing on or off."""
    path = workdir / f"{name}.yaml"
    config = {"vendors": {"eightbyeight": {"behaviour": {"auto": False}, "signing": signing}}}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def vendor_config(workdir: Path, name: str, section: dict[str, Any]) -> Path:
    """A YAML config file with this `vendors:` section."""
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"vendors": section}, sort_keys=False))
    return path


CM_TOKEN_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "bench.cxemu.invalid")
CM_SANITY_TENANT = "sanity-cmcom"


def cm_token(name: str) -> str:
    """A GUID-shaped product token derived from `name` (CM.com accepts only GUID-shaped tokens)."""
    return str(uuid.uuid5(CM_TOKEN_NAMESPACE, name))


def cmcom_section(sanity_hook: str) -> dict[str, Any]:
    """CM.com: status reports due at once (Accepted and Delivered at 0 s, no Read), agents off; the sanity tenant's
    status webhook set in the config (each measured run's fresh tenant gets its own through the control plane)."""
    return {
        "cmcom": {
            "behaviour": {"accepted_after": 0, "delivered_after": 0, "read_after": None, "agents_auto": False},
            "tenants": {
                CM_SANITY_TENANT: {"product_tokens": [cm_token(CM_SANITY_TENANT)], "status_webhook": sanity_hook}
            },
        }
    }


SAMESPACE_SECTION = {"samespace": {"default_callee": {"rings": 1}, "behaviour": {"ring_seconds": 0.5}}}
"""Samespace: the callee answers after one 0.5 s ring; `play "hello"` lasts 0.4 s (150 words/min): a call is over
~0.9 s after its request, so its whole life on the clock falls inside the measured run that placed it."""


def sangoma_token(port: int, client: tuple[str, str] = SANGOMA_CLIENT) -> str:
    """POST /oauth/token (form, HTTP Basic); in open auth an unknown client id becomes a tenant."""
    basic = base64.b64encode(f"{client[0]}:{client[1]}".encode()).decode()
    headers = {"content-type": "application/x-www-form-urlencoded", "authorization": f"Basic {basic}"}
    status, body = request(port, "POST", SANGOMA_TOKEN_PATH, "grant_type=client_credentials", headers=headers)
    data = expect(status, body, 200, "Sangoma POST /oauth/token")
    if data.get("token_type") != "bearer" or "cx.digital-interactions" not in str(data.get("scope")).split():
        raise RuntimeError(f"Sangoma token: unexpected answer {data}")
    return str(data["access_token"])


def cm_body(token: str) -> str:
    """The one-message envelope of tests/vendors/cmcom (`msg()` defaults): product token in the body."""
    msg = {"from": "Acme", "to": [{"number": CM_RECIPIENT}], "body": {"type": "auto", "content": "Hello"}}
    return json.dumps({"messages": {"authentication": {"producttoken": token}, "msg": [msg]}}, separators=(",", ":"))


def cm_provision(port: int, tenant: str, status_hook: str) -> None:
    """A fresh CM.com tenant whose status reports go to `status_hook`; name it `cm_token(...)`, since an
    unconfigured tenant's product token is its name."""
    body = json.dumps({"tenant": tenant, "vendors": ["cmcom"]})
    expect(*request(port, "POST", "/_emulator/tenants", body), 201, f"provision CM tenant {tenant}")
    cm_status_webhook(port, tenant, status_hook)


def cm_status_webhook(port: int, tenant: str, url: str) -> None:
    path = f"{CM_CONTROL}/{tenant}/webhooks"
    hooks = expect(*request(port, "PUT", path, json.dumps({"status": url})), 200, f"PUT CM webhooks of {tenant}")
    if hooks.get("status") != url:
        raise RuntimeError(f"CM {tenant}: status webhook is {hooks.get('status')}, expected {url}")


def cm_sent(port: int, tenant: str) -> int:
    """Messages the tenant sent (MT entries in its chats' transcripts): the server's count of accepted sends."""
    chats = expect(*request(port, "GET", f"{CM_CONTROL}/{tenant}/chats"), 200, "CM chats")["chats"]
    total = 0
    for chat in chats:
        full = expect(*request(port, "GET", f"{CM_CONTROL}/{tenant}/chats/{chat['chatId']}"), 200, "CM chat")
        total += sum(1 for e in full["transcript"] if e["direction"] == "MT")
    return total


def samespace_call(port: int, call_id: str, wait_s: float = 10.0) -> dict[str, Any]:
    """The call's metadata once it has ended (or after `wait_s`)."""
    path = f"{SS_CALL_PATH}/{call_id}?cloud_id={SS_CLOUD}&auth_token={SS_TOKEN}"
    deadline = time.monotonic() + wait_s
    while True:
        call: dict[str, Any] = expect(*request(port, "GET", path), 200, "Samespace call metadata")["call"]
        if call.get("ended_at") or time.monotonic() > deadline:
            return call
        time.sleep(0.2)


# `--webhook-log` (run.py) measures the servers as a person runs them: log level info and a console line per
# delivery attempt (written to the server's log file); by default both are off, as under load.
WEBHOOK_LOG = {"on": False}
QUEUE_PROBE = {"on": False}
"""`run.py --queue-probe`: the CM server loads `bench/queueprobe.py` and each CM run logs its dispatcher's backlog."""
QUEUEPROBE = "bench.queueprobe:PLUGIN"
QUEUE_SAMPLES = "/queueprobe/v1/samples"


def cxemu_cmd(port: int, *, config: Path | None = None, webhook_url: str | None = None, plugin: str = "") -> list[str]:
    cmd = [sys.executable, "-m", "emulator", "serve", "--host", HOST, "--port", str(port)]
    cmd += ["--log-level", "info"] if WEBHOOK_LOG["on"] else ["--log-level", "warning", "--no-webhook-log"]
    if config is not None:
        cmd += ["--config", str(config)]
    if webhook_url is not None:
        cmd += ["--webhook-url", webhook_url]
    if plugin:
        cmd += ["--plugin", plugin]
    return cmd
