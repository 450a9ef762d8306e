"""The `http` object: a real request to a local server with `{{variable}}` templating, routed on success (2xx)
or fail (any other status, a timeout, a connection error, a refused host), bounded in time and size."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from emulator.pytest_plugin import WebhookSink
from emulator.vendors.samespace import hands
from tests.vendors.samespace.conftest import CLOUD, Ss, SsFactory, call_step, tenant
from tests.vendors.samespace.flows import RING, digits, http, play, played, with_numbers


def http_flow(url: str, **extra: Any) -> tuple[dict[str, Any], ...]:
    return (
        call_step(next_step="pin"),
        digits("pin", {"*": "look"}, count=4, variable="account_id"),
        http("look", url, **extra),
        play("ok", text="found"),
        play("ko", text="not found"),
    )


async def http_ss(make_ss: SsFactory, **behaviour: Any) -> Ss:
    return await with_numbers(
        make_ss, {"917507161643": {"dtmf": ["1234"], "dtmf_delay": 0.5}}, behaviour=behaviour or None
    )


async def test_http_success_branch_with_templating(make_ss: SsFactory, webhook_sink: WebhookSink) -> None:
    webhook_sink.respond_with(200, body=b'{"name":"Ada"}')
    ss = await http_ss(make_ss)
    url = webhook_sink.url + "/accounts/{{account_id}}?src={{ account_id }}&x={{missing}}"
    call_id = await ss.start(
        *http_flow(url, method="post", headers={"x-account": "{{account_id}}"}, body={"id": "{{account_id}}"})
    )
    await ss.idle()
    (req,) = webhook_sink.wait_for(path="/accounts/1234?src=1234&x=", timeout=1)
    assert req.method == "POST"
    assert req.headers["x-account"] == "1234"
    assert req.json == {"id": "1234"}
    meta = await ss.metadata(call_id)
    assert played(meta) == ["0", "pin", "look", "ok"]
    (h,) = meta["http"]
    assert (h["status"], h["outcome"], h["response_excerpt"], h["latency_ms"]) == (
        200,
        "success",
        '{"name":"Ada"}',
        0.0,
    )
    assert "http.completed" in ss.events(call_id)


@pytest.mark.parametrize("status", [500, 404, 302], ids=["500", "404", "redirect-not-followed"])
async def test_http_non_2xx_takes_the_fail_branch(make_ss: SsFactory, webhook_sink: WebhookSink, status: int) -> None:
    webhook_sink.respond_with(status)
    ss = await http_ss(make_ss)
    call_id = await ss.start(*http_flow(webhook_sink.url + "/a/{{account_id}}"))
    await ss.idle()
    meta = await ss.metadata(call_id)
    assert played(meta) == ["0", "pin", "look", "ko"]
    assert (meta["http"][0]["status"], meta["http"][0]["outcome"]) == (status, "fail")


async def test_http_timeout_takes_the_fail_branch(make_ss: SsFactory, webhook_sink: WebhookSink) -> None:
    webhook_sink.respond_with(200, held=True)  # answered only after the step gave up
    ss = await http_ss(make_ss, http_timeout=0.2)
    call_id = await ss.start(*http_flow(webhook_sink.url + "/slow"))
    await ss.idle()
    webhook_sink.release()
    meta = await ss.metadata(call_id)
    assert played(meta) == ["0", "pin", "look", "ko"]
    assert meta["http"][0]["error"] == "timed out after 0.2s"
    assert meta["http"][0]["status"] is None


async def test_http_connection_error_takes_the_fail_branch(make_ss: SsFactory) -> None:
    ss = await http_ss(make_ss)
    call_id = await ss.start(*http_flow("http://127.0.0.1:9/refused"))
    await ss.idle()
    meta = await ss.metadata(call_id)
    assert played(meta) == ["0", "pin", "look", "ko"]
    assert meta["http"][0]["error"]


async def test_http_honours_the_allow_list(make_ss: SsFactory, webhook_sink: WebhookSink) -> None:
    ss = await make_ss(vendors=tenant(numbers={"917507161643": {"dtmf": ["1234"]}}), webhook_allow_hosts="localhost")
    call_id = await ss.start(*http_flow(webhook_sink.url + "/blocked"))
    await ss.idle()
    meta = await ss.metadata(call_id)
    assert meta["http"][0]["error"] == "host '127.0.0.1' is not in the webhook allow-list"
    assert played(meta)[-1] == "ko"
    assert webhook_sink.requests == []


async def test_http_answer_size_is_capped(make_ss: SsFactory, webhook_sink: WebhookSink) -> None:
    webhook_sink.respond_with(200, body=b"x" * 5000)
    ss = await http_ss(make_ss, http_max_bytes=100)
    call_id = await ss.start(*http_flow(webhook_sink.url + "/big"))
    await ss.idle()
    h = (await ss.metadata(call_id))["http"][0]
    assert (h["outcome"], h["truncated"], h["response_excerpt"]) == ("success", True, "x" * 100)


async def test_http_non_http_url_fails(make_ss: SsFactory) -> None:
    ss = await http_ss(make_ss)
    call_id = await ss.start(*http_flow("ftp://files/{{account_id}}"))
    await ss.idle()
    meta = await ss.metadata(call_id)
    assert meta["http"][0]["error"] == "not an http(s) URL: 'ftp://files/1234'"


async def test_http_outcome_without_a_route_hangs_up(make_ss: SsFactory, webhook_sink: WebhookSink) -> None:
    webhook_sink.respond_with(500)
    ss = await http_ss(make_ss)
    flow = http_flow(webhook_sink.url)
    only_success = {**flow[2], "next_step": {"success": "ok"}}
    call_id = await ss.start(flow[0], flow[1], only_success, flow[3])
    await ss.idle()
    assert (await ss.metadata(call_id))["end_reason"] == "no_route"


async def test_a_hang_up_during_the_request_is_recorded_but_not_routed(ss: Ss, webhook_sink: WebhookSink) -> None:
    webhook_sink.respond_with(200, held=True)
    call_id = await ss.start(call_step(next_step="h"), http("h", webhook_sink.url, success="ok"), play("ok"))
    advancing = asyncio.ensure_future(ss.advance(2 * RING))  # answers, then waits for the slow answer
    await webhook_sink.async_wait_for(None, timeout=2)  # the request is in flight
    await hands.hang_up(ss.emu, CLOUD, call_id)
    webhook_sink.release()  # the answer comes after the hang-up
    await advancing
    meta = await ss.metadata(call_id)
    assert meta["end_reason"] == "hangup"
    assert played(meta) == ["0", "h"]
    assert meta["steps"][-1]["result"] == "interrupted"
    assert meta["http"][0]["outcome"] == "success"
