"""Every call of the CM.com Bot Router seed page runs as printed against a zero-config cxemu with any GUID
product token (issue 11 §1; cmcom.md §3.3): the BMProxy URL with the page's BotRouterAccountId, then each
mutation body and the position request, sent with only the page's `Content-Type` header, and the reset request.

Only the host and the page's own placeholders change: the ChatId `xxxxxxxx-...` becomes the chat's id (the
page: "you should have received this in earlier communication"), the team routing example's `"$type": "XXXX"`
a real mutation type, and the position request's FlowId/StepId a flow and step the CmBot has ("you need to
know them upfront"). The router webhook the partner bot gets has the page example's shape, key for key.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from emulator.pytest_plugin import WebhookSink
from tests.vendors.cmcom.conftest import CONTROL, CUSTOMER, Cm, CmFactory, bodies, envelope, msg

pytestmark = pytest.mark.shared
SEED = "seeds/002_dd3435e271f4c64c.txt"
TOKEN = "3f2b8c1e-7d4a-4e9b-a6c5-1d0e9f8a7b6c"  # any GUID: open auth makes it a tenant
PLACEHOLDER_CHAT = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxxxxxx"
HEADERS = {"Content-Type": "application/json"}  # the only header the page asks for


def json_blocks(text: str) -> list[dict[str, Any]]:
    """The JSON objects printed on the page, in order (each starts with `{` alone on its line)."""
    out, depth, start = [], 0, -1
    for i, ch in enumerate(text):
        if ch == "{" and depth == 0 and (i == 0 or text[i - 1] == "\n"):
            start = i
        if start >= 0:
            depth += {"{": 1, "}": -1}.get(ch, 0)
            if depth == 0:
                out.append(json.loads(text[start : i + 1]))
                start = -1
    return out


def shape(value: Any) -> Any:
    """Keys all the way down (values dropped), to compare a webhook with the page's example."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    return None


@pytest.fixture
def seed(shared_dir: Path) -> str:
    return (shared_dir / SEED).read_text(encoding="utf-8")


def test_the_seed_prints_every_call(seed: str) -> None:
    blocks = json_blocks(seed)
    assert [sorted(b) for b in blocks] == [
        ["channel", "conversationalRouter", "from", "groupings", "message", "reference", "timeUtc", "to"],
        *[["ChatId", "Mutations"]] * 4,
        ["ChatId", "Context", "Mutations"],
        ["ChatId", "FlowId", "StepId"],
    ]
    assert "https://api.cm.com/conversational/bmproxy/v1/accounts/{BotRouterAccountId}" in seed
    assert "POST http://url/conversational/control/v1/accounts/{BotRouterAccountId}/sessions/positionrequests" in seed


def swap_host(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


async def test_every_call_of_the_seed_works_with_zero_config(
    make_cm: CmFactory, webhook_sink: WebhookSink, seed: str
) -> None:
    env: Cm = await make_cm()
    example, *mutations, position = json_blocks(seed)
    account = example["conversationalRouter"]["accountId"]
    bmproxy = re.search(r"https://api\.cm\.com/conversational/bmproxy/v1/accounts/\{BotRouterAccountId\}", seed)
    assert bmproxy is not None
    send_url = swap_host(bmproxy[0]).replace("{BotRouterAccountId}", account)
    hello = envelope(msg("Hello, I am your bot", "0031612345678", sender="003197010254321"), token=TOKEN)
    resp = await env.http.post(send_url, json=hello, headers=HEADERS)
    assert (resp.status_code, resp.json()["errorCode"]) == (200, 0), resp.text

    # "Please provide the exact address of this webhook to your CM.com contact": the control plane is that contact.
    tenant = f"{CONTROL}/{TOKEN}"
    assert (await env.http.put(f"{tenant}/webhooks", json={"bot": webhook_sink.url_for("/bot")})).status_code == 200
    resp = await env.http.post(f"{tenant}/end-users/{CUSTOMER}/messages", json={"channel": "WhatsApp", "text": "Hi"})
    assert resp.status_code == 200, resp.text
    env.tenant = TOKEN
    await env.delivered(1, event="MO")
    (mo,) = bodies(webhook_sink, "/bot")
    assert shape(mo) == shape(example)
    assert mo["conversationalRouter"]["accountId"] == account
    chat = mo["conversationalRouter"]["chatId"]

    control = f"/conversational/control/v1/accounts/{account}/sessions"
    for body in mutations:
        filled = json.loads(json.dumps(body).replace(PLACEHOLDER_CHAT, chat).replace('"XXXX"', '"disableComponent"'))
        resp = await env.http.post(f"{control}/mutationrequests", json=filled, headers=HEADERS)
        assert resp.status_code == 204, (body, resp.text)
    team = (await env.http.get(f"{tenant}/chats/{chat}")).json()
    assert (team["customerContact"], team["context"]) == ("active", {"Var1": "Value1", "Var2": "Value2"})

    url = re.search(r"POST (http://url/\S+/positionrequests)", seed)
    assert url is not None
    position_url = swap_host(url[1]).replace("{BotRouterAccountId}", account)
    assert position_url == f"{control}/positionrequests"
    filled = position | {"ChatId": chat, "FlowId": "main", "StepId": "welcome"}
    hand_back = mutations[3] | {"ChatId": chat}  # "follow up this call with a PositionRequest directly afterwards"
    assert hand_back["Mutations"] == [{"$type": "enableComponent", "ComponentId": "CmBot"}]
    assert (await env.http.post(f"{control}/mutationrequests", json=hand_back, headers=HEADERS)).status_code == 204
    resp = await env.http.post(position_url, json=filled, headers=HEADERS)
    assert resp.status_code == 204, resp.text
    assert (await env.http.get(f"{tenant}/chats/{chat}")).json()["position"] == {"flowId": "main", "stepId": "welcome"}

    resp = await env.http.post(f"{control}/{chat}/resetrequests")  # "doesn't require a request body"
    assert resp.status_code == 204, resp.text
    after = (await env.http.get(f"{tenant}/chats/{chat}")).json()
    assert (after["components"], after["context"]) == (["CmBot", "CustomerContact", "BMProxy"], {})
