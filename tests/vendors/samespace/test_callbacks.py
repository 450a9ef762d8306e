"""Call events as callbacks: every transition is POSTed (through the webhook dispatcher) to the request's
`publish.url` or the cloud's `callback_url`, in order, with the same body for the same seed."""

from __future__ import annotations

from typing import Any

from emulator.core.webhooks import DeliveryFilter
from emulator.pytest_plugin import WebhookSink
from tests.vendors.samespace.conftest import CLOUD, Ss, SsFactory, call_step, tenant


async def delivered(ss: Ss, count: int) -> list[dict[str, Any]]:
    found = await ss.emu.dispatcher.wait(DeliveryFilter(vendor="samespace"), count=count, timeout=5)
    assert len(found) >= count
    return [d.payload() for d in found]


async def test_every_transition_is_posted_to_the_callback_url(make_ss: SsFactory, webhook_sink: WebhookSink) -> None:
    ss = await make_ss(vendors=tenant(callback_url=webhook_sink.url_for("/events")))
    flow = (call_step(next_step=1), {"id": 1, "type": "play", "text": "Hello there"})
    call_id = await ss.start(*flow)
    await ss.idle()
    hooks = webhook_sink.wait_for({"call_id": call_id}, count=8)
    names = [h.json["event"] for h in hooks]
    assert names == [
        "call.initiated",
        "step.started",
        "call.ringing",
        "call.answered",
        "step.completed",
        "step.started",
        "step.completed",
        "call.completed",
    ]
    answered = hooks[3].json
    assert answered == {
        "event": "call.answered",
        "call_id": call_id,
        "cloud_id": CLOUD,
        "step_id": None,
        "timestamp": "2026-01-01T00:00:06.000Z",
        "data": {"number": "917507161643"},
    }
    done = hooks[4].json
    assert (done["step_id"], done["data"]["result"], done["data"]["next_step"]) == ("0", "answered", "1")
    assert hooks[-1].json["data"] == {
        "status": "completed",
        "reason": "flow_end",
        "duration": 0.8,
        "recording_url": None,
    }
    assert all(h.headers["content-type"] == "application/json" for h in hooks)


async def test_publish_url_in_the_request_wins(make_ss: SsFactory, webhook_sink: WebhookSink) -> None:
    ss = await make_ss(vendors=tenant(callback_url=webhook_sink.url_for("/cloud")))
    call_id = await ss.start(call_step(), publish={"url": webhook_sink.url_for("/mine"), "method": "POST"})
    await ss.idle()
    webhook_sink.wait_for({"call_id": call_id, "event": "call.completed"}, timeout=5)
    assert {r.path for r in webhook_sink.requests} == {"/mine"}


async def test_no_callback_without_a_target(ss: Ss) -> None:
    call_id = await ss.start(call_step())
    await ss.idle()
    assert ss.events(call_id)[-1] == "call.completed"
    assert ss.emu.dispatcher.deliveries(DeliveryFilter(vendor="samespace")) == []


async def test_a_failing_receiver_is_retried_and_never_stops_the_call(
    make_ss: SsFactory, webhook_sink: WebhookSink
) -> None:
    webhook_sink.respond_with(500, times=1)
    ss = await make_ss(vendors=tenant(callback_url=webhook_sink.url_for("/events")))
    call_id = await ss.start(call_step())
    await ss.idle()
    assert (await ss.metadata(call_id))["status"] == "completed"
    first = [r for r in webhook_sink.requests if r.json["event"] == "call.initiated"]
    assert [r.headers["x-sink-status"] for r in first] == ["500", "200"]  # retried after 1 s on the clock


async def test_callbacks_are_byte_identical_for_the_same_seed(make_ss: SsFactory, webhook_sink: WebhookSink) -> None:
    bodies = []
    for _ in range(2):
        webhook_sink.clear()
        ss = await make_ss(vendors=tenant(callback_url=webhook_sink.url_for("/events")))
        call_id = await ss.start(call_step(next_step=1), {"id": 1, "type": "play", "text": "hi"})
        await ss.idle()
        webhook_sink.wait_for({"event": "call.completed"}, timeout=5)
        bodies.append(sorted(r.body for r in webhook_sink.requests))
        assert call_id
    assert bodies[0] == bodies[1]


async def test_a_flow_runs_on_the_system_clock(make_ss: SsFactory, webhook_sink: WebhookSink) -> None:
    fast = {"ring_seconds": 0.01, "words_per_minute": 1000, "digit_timeout": 0.05}
    vendors = tenant(callback_url=webhook_sink.url_for("/events"), behaviour=fast)
    ss = await make_ss(vendors=vendors, clock="system")
    flow = (
        call_step(next_step=1),
        {"id": 1, "type": "play", "text": "hello", "next_step": 2},
        {"id": 2, "type": "http", "url": webhook_sink.url_for("/lookup"), "next_step": {"success": 3}},
        {"id": 3, "type": "digits", "count": 1, "variable": "v"},
    )
    call_id = await ss.start(*flow)
    (done,) = await webhook_sink.async_wait_for({"event": "call.completed", "call_id": call_id}, timeout=10)
    assert done.json["data"]["reason"] == "no_input"
    assert webhook_sink.matching(path="/lookup")
    assert [s["result"] for s in (await ss.metadata(call_id))["steps"]] == ["answered", "played", "success", "timeout"]


async def test_callbacks_honour_the_allow_list(make_ss: SsFactory, webhook_sink: WebhookSink) -> None:
    ss = await make_ss(vendors=tenant(callback_url=webhook_sink.url_for("/events")), webhook_allow_hosts="localhost")
    call_id = await ss.start(call_step())
    await ss.idle()
    assert (await ss.metadata(call_id))["status"] == "completed"  # the call does not care
    found = ss.emu.dispatcher.deliveries(DeliveryFilter(vendor="samespace"))
    assert found
    errors = {a.error for d in found for a in d.attempts}
    assert errors == {"host '127.0.0.1' is not in the webhook allow-list"}
    assert webhook_sink.requests == []
