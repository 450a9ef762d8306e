"""Acting by hand as the 8x8 customer (`POST …/conversations/{id}/customer`): the same webhooks as the API's
customer verbs, and refusals in the control plane's `rejected` shape that change nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from emulator.pytest_plugin import WebhookSink
from tests.vendors.eightbyeight.conftest import CONTROL, TENANT, Ebe, events_of, shape


async def customer(ebe: Ebe, conv: str, body: Any, tenant: str = TENANT) -> httpx.Response:
    return await ebe.http.post(f"{CONTROL}/{tenant}/conversations/{conv}/customer", json=body)


async def test_the_customer_says_something_and_leaves(ebe: Ebe, webhook_sink: WebhookSink) -> None:
    await ebe.behaviour(auto=False)
    conv = await ebe.create({"channelId": "1", "user": {"name": "James Jones"}})
    await ebe.run_until_idle()
    await ebe.hand(conv, "join")
    resp = await customer(ebe, conv, {"action": "say", "text": "Where is my parcel?"})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"conversation": conv, "state": "active", "agentId": "ag-jane"}
    await ebe.delivered(6, subject=conv)
    said = events_of(webhook_sink, conv)[-1]
    assert (shape(said), said["data"]["text"]) == ("MSG(user,echo)", "Where is my parcel?")
    resp = await customer(ebe, conv, {"action": "leave"})
    assert resp.status_code == 200, resp.text
    await ebe.delivered(7, subject=conv)
    assert "MC(user left)" in [shape(b) for b in events_of(webhook_sink, conv)]


@pytest.mark.parametrize(
    ("conv", "body", "status", "error", "message"),
    [
        pytest.param(None, {"action": "say"}, 400, "invalid_request", "say needs text", id="say-without-text"),
        pytest.param(None, {"action": "shout", "text": "x"}, 400, "invalid_request", None, id="unknown-verb"),
        pytest.param(None, {"action": "say", "text": ""}, 400, "invalid_request", None, id="empty-text"),
        pytest.param(None, {"action": "say", "text": "x", "x": 1}, 400, "invalid_request", None, id="extra-field"),
        pytest.param(None, [1], 400, "invalid_request", None, id="not-an-object"),
        pytest.param("nope", {"action": "leave"}, 404, "rejected", None, id="unknown-conversation"),
    ],
)
async def test_bad_customer_actions_are_refused_and_change_nothing(
    ebe: Ebe, conv: str | None, body: Any, status: int, error: str, message: str | None
) -> None:
    created = await ebe.create({"channelId": "1", "user": {"name": "James Jones"}})
    await ebe.run_until_idle()
    before = ebe.emu.store.snapshot()
    resp = await customer(ebe, conv or created, body)
    assert (resp.status_code, resp.json()["error"]) == (status, error), resp.text
    if message is not None:
        assert resp.json()["message"] == message
    if status == 404:
        assert resp.json()["message"] == resp.json()["detail"]["message"]  # 8x8's own problem as `detail`
    assert ebe.emu.store.snapshot() == before


async def test_a_refused_agent_action_says_why_rather_than_8x8s_generic_summary(ebe: Ebe) -> None:
    await ebe.behaviour(auto=False)
    conv = await ebe.create({"channelId": "1", "user": {"name": "James Jones"}})
    await ebe.run_until_idle()
    await ebe.hand(conv, "join")
    before = ebe.emu.store.snapshot()
    resp = await ebe.http.post(
        f"{CONTROL}/{TENANT}/conversations/{conv}/agent", json={"action": "transfer", "queueId": "9999"}
    )
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert (body["error"], body["message"]) == ("rejected", "Queue ID 9999 is invalid.")
    assert body["detail"]["message"] == "Internal error."  # 8x8's own problem, as 8x8 words it
    assert ebe.emu.store.snapshot() == before


async def test_an_unknown_tenant_is_404(ebe: Ebe) -> None:
    resp = await customer(ebe, "c1", {"action": "leave"}, tenant="nobody")
    assert (resp.status_code, resp.json()["error"]) == (404, "unknown_tenant")
