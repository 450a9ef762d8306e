"""Against the real server under uvicorn: the seed's sample payload (only its credentials and the http object's
host changed) runs to completion; the http object's GET and every callback are real HTTP requests."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from emulator.pytest_plugin import CxemuHandle, WebhookSink
from tests.vendors.samespace.seed import SEED_HTTP_HOST, SEED_SAMPLE

pytestmark = pytest.mark.server
CONTROL = "/_emulator/vendors/samespace/tenants"


def test_the_seed_sample_on_the_real_server(cxemu: CxemuHandle, webhook_sink: WebhookSink) -> None:
    creds = cxemu.credentials("samespace")
    cloud, token = creds["cloud_id"], creds["auth_token"]
    with httpx.Client(base_url=cxemu.url, timeout=30) as http:
        caller = http.put(f"{CONTROL}/{cloud}/numbers/917507161643", json={"rings": 1, "dtmf": ["7777"]})
        assert caller.status_code == 200, caller.text
        settings = {
            "callback_url": webhook_sink.url_for("/events"),
            "http_overrides": {SEED_HTTP_HOST: webhook_sink.url},
        }
        assert http.put(f"{CONTROL}/{cloud}/settings", json=settings).status_code == 200
        payload = SEED_SAMPLE.replace('"CLOUD_ID"', json.dumps(cloud)).replace('"your_auth_token"', json.dumps(token))
        placed = http.post("/api/public/v1/call/flow", content=payload, headers={"content-type": "application/json"})
        assert placed.status_code == 200, placed.text
        call_id = placed.json()["call_id"]
        cxemu.run_until_idle()
        (lookup,) = webhook_sink.wait_for(path="/api/test/7777", timeout=10)
        assert lookup.method == "GET"
        done = webhook_sink.wait_for({"event": "call.completed", "call_id": call_id}, timeout=10)
        assert done[0].json["data"]["reason"] == "dangling_step"
        meta = http.get(f"/api/public/v1/call/{call_id}", params={"cloud_id": cloud, "auth_token": token}).json()
    assert [s["id"] for s in meta["call"]["steps"]] == ["0", "1", "2", "5"]
    assert meta["call"]["http"][0]["status"] == 200
    events = [r.json["event"] for r in webhook_sink.requests if r.path == "/events"]
    assert events[0] == "call.initiated"
    assert events.count("step.started") == 4


def test_a_slow_http_step_never_blocks_the_server(cxemu: CxemuHandle, webhook_sink: WebhookSink) -> None:
    creds = cxemu.credentials("samespace")
    cloud, token = creds["cloud_id"], creds["auth_token"]
    auth = {"cloud_id": cloud, "auth_token": token}
    webhook_sink.respond_with(200, held=True)  # a slow backend: answers once released
    flow = [
        {"id": 0, "type": "call", "number": "15550007777", "next_step": "h"},
        {"id": "h", "type": "http", "url": webhook_sink.url_for("/slow"), "next_step": {"success": "bye"}},
        {"id": "bye", "type": "play", "text": "bye"},
    ]
    with httpx.Client(base_url=cxemu.url, timeout=30) as http:
        assert http.put(f"{CONTROL}/{cloud}/numbers/15550007777", json={"rings": 0}).status_code == 200
        call_id = http.post("/api/public/v1/call/flow", json={**auth, "flow": flow}).json()["call_id"]
        with ThreadPoolExecutor(1) as pool:
            running = pool.submit(cxemu.run_until_idle)  # waits for the real answer: the clock stands still
            webhook_sink.wait_for(path="/slow", timeout=10)
            during = http.get(f"/api/public/v1/call/{call_id}", params=auth)  # the server answers meanwhile
            assert during.status_code == 200
            assert (during.json()["call"]["status"], during.json()["call"]["current_step"]) == ("answered", "h")
            assert during.json()["call"]["http"] == []
            webhook_sink.release()
            running.result(timeout=30)
        after = http.get(f"/api/public/v1/call/{call_id}", params=auth).json()["call"]
    assert [s["id"] for s in after["steps"]] == ["0", "h", "bye"]
    assert after["http"][0]["latency_ms"] == 0.0  # on the virtual clock no time passed during the request
