"""POST /call/flow: the seed's sample is accepted verbatim, leniency where the vendor's sample needs it, and
every flow that cannot run is refused in Samespace's `{"success": false, "message": ...}` envelope."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from emulator.pytest_plugin import WebhookSink
from tests.vendors.samespace.conftest import API, CLOUD, TOKEN, Ss, SsFactory, body, call_step, tenant
from tests.vendors.samespace.seed import SEED_SAMPLE, sample_from

PLAY = {"id": 1, "type": "play", "text": "Hello"}


async def test_the_seed_sample_is_accepted_verbatim(make_ss: SsFactory) -> None:
    ss = await make_ss(vendors={"samespace": {}})  # open auth: the sample's own cloud and token
    resp = await ss.post_flow(SEED_SAMPLE)
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["success"] is True
    assert out["status"] == "queued"
    assert len(out["call_id"]) == 36
    meta = await ss.metadata(out["call_id"], "CLOUD_ID", "your_auth_token")
    assert meta["number"] == "917507161643"
    assert meta["status"] == "queued"


@pytest.mark.shared
async def test_the_seed_document_sample_is_accepted_as_published(make_ss: SsFactory, shared_dir: Path) -> None:
    text = (shared_dir / "seeds" / "003_ea7d1bb9643d13e9.txt").read_text(encoding="utf-8")
    sample = sample_from(text)
    assert sample == SEED_SAMPLE  # the restated copy is the published one, byte for byte
    ss = await make_ss(vendors={"samespace": {}})
    resp = await ss.post_flow(sample)
    assert resp.status_code == 200, resp.text


async def test_mixed_ids_dangling_and_unreachable_steps_are_accepted(ss: Ss) -> None:
    flow = [call_step(next_step="1"), {"id": "1", "type": "play", "url": "http://media/x.mp3", "next_step": 99}]
    flow.append({"id": 7, "type": "connect", "number": 5263})  # unreachable, a numeric number
    call_id = await ss.start(*flow)
    await ss.idle()
    meta = await ss.metadata(call_id)
    assert [s["id"] for s in meta["steps"]] == ["0", "1"]
    assert meta["end_reason"] == "dangling_step"


async def test_the_call_object_need_not_come_first(ss: Ss) -> None:
    call_id = await ss.start({"id": 1, "type": "play", "text": "hi"}, call_step(next_step=1, id=0))
    await ss.idle()
    assert [s["id"] for s in (await ss.metadata(call_id))["steps"]] == ["0", "1"]


async def test_an_http_body_32_levels_deep_is_accepted(ss: Ss) -> None:
    await ss.start(call_step(), {"id": 1, "type": "http", "url": "http://x", "body": _deep(31)})


async def test_unknown_keys_are_ignored(ss: Ss) -> None:
    await ss.start(call_step(), {**PLAY, "voice": "en-IN"}, cloud_sid="older-revision")


def _deep(levels: int) -> dict[str, Any]:
    """A JSON object nesting `levels` arrays in it (`levels` + 1 levels deep)."""
    value: Any = "{{v}}"
    for _ in range(levels):
        value = [value]
    return {"deep": value}


def _flow(*steps: dict[str, Any]) -> dict[str, Any]:
    return body(call_step(), *steps)


INVALID: list[tuple[str, Any, str]] = [
    ("no flow", {"cloud_id": CLOUD, "auth_token": TOKEN}, "flow must be a non-empty list of call flow objects"),
    ("empty flow", body(), "flow must be a non-empty list of call flow objects"),
    ("flow not a list", {"cloud_id": CLOUD, "auth_token": TOKEN, "flow": {"id": 1}}, "flow must be a non-empty list"),
    ("object not an object", _flow("play"), "flow[1]: a call flow object must be a JSON object"),
    ("no type", _flow({"id": 1, "text": "x"}), "flow[1]: type is required"),
    ("unknown type", _flow({"id": 1, "type": "record"}), "flow[1]: unknown call flow object type 'record'"),
    ("removed callback type", _flow({"id": 1, "type": "callback"}), "unknown call flow object type 'callback'"),
    ("no id", _flow({"type": "play", "text": "x"}), "flow[1] (play): id is required"),
    ("boolean id", _flow({"id": True, "type": "play", "text": "x"}), "flow[1] (play): id must be a string or a number"),
    ("duplicate ids", _flow({"id": "0", "type": "play", "text": "x"}), "flow[1]: duplicate id '0'"),
    ("duplicate ids across types", body(call_step(id=1), PLAY), "flow[1]: duplicate id '1'"),
    ("no call object", body(PLAY), "flow has no call object: a call flow starts with an object of type call"),
    ("two call objects", body(call_step(), call_step(id="9")), "flow has more than one call object"),
    ("call without number", body({"id": 0, "type": "call"}), "flow[0] (call): number is required"),
    ("play without text or url", _flow({"id": 1, "type": "play"}), "flow[1] (play): either text or url is required"),
    ("play with empty text", _flow({"id": 1, "type": "play", "text": ""}), "flow[1] (play): text"),
    (
        "digits without count",
        _flow({"id": 1, "type": "digits", "variable": "v"}),
        "flow[1] (digits): count is required",
    ),
    ("digits without variable", _flow({"id": 1, "type": "digits", "count": 1}), "(digits): variable is required"),
    ("digits count zero", _flow({"id": 1, "type": "digits", "count": 0, "variable": "v"}), "(digits): count"),
    ("http without url", _flow({"id": 1, "type": "http"}), "flow[1] (http): url is required"),
    ("http unknown method", _flow({"id": 1, "type": "http", "url": "http://x", "method": "TRACE"}), "(http): method"),
    ("connect without number", _flow({"id": 1, "type": "connect"}), "flow[1] (connect): number is required"),
    (
        "play with map next_step",
        _flow({**PLAY, "next_step": {"*": 2}}),
        "flow[1] (play): next_step must be the id of a call flow object",
    ),
    (
        "http body nested too deep",
        _flow({"id": 1, "type": "http", "url": "http://x", "body": _deep(32)}),
        "flow[1] (http): body is nested more than 32 levels deep",
    ),
    ("too many objects", body(*(call_step(id=i) for i in range(1001))), "flow has more than 1000 call flow objects"),
    ("publish url not http", _flow(PLAY) | {"publish": {"url": "ftp://x"}}, "publish.url: String should match"),
    (
        "publish url unparseable",
        _flow(PLAY) | {"publish": {"url": "http://[::1/events"}},
        "publish.url: not a valid URL: 'http://[::1/events'",
    ),
    ("record not boolean", _flow(PLAY) | {"record": "yes"}, "record must be true or false"),
]


@pytest.mark.parametrize(("payload", "message"), [(p, m) for _, p, m in INVALID], ids=[i for i, _, _ in INVALID])
async def test_flows_that_cannot_run_are_refused(ss: Ss, payload: Any, message: str) -> None:
    resp = await ss.post_flow(payload)
    assert resp.status_code == 400, resp.text
    out = resp.json()
    assert out["success"] is False
    assert message in out["message"]
    assert ss.emu.store.peek("samespace", CLOUD).calls == {}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "raw",
    ["not json", "[1, 2]", '"a string"', "", '{"flow":' + "[" * 100_000 + "]" * 100_000 + "}"],
    ids=["garbage", "array", "string", "empty", "nested-too-deep-to-parse"],
)
async def test_a_body_that_is_not_a_json_object_is_refused(ss: Ss, raw: str) -> None:
    resp = await ss.post_flow(raw)
    assert resp.status_code == 400
    assert resp.json() == {"success": False, "message": "Invalid JSON payload"}


AUTH: list[tuple[str, dict[str, Any]]] = [
    ("wrong token", {"cloud_id": CLOUD, "auth_token": "nope"}),
    ("no token", {"cloud_id": CLOUD}),
    ("no cloud", {"auth_token": TOKEN}),
    ("numeric token", {"cloud_id": CLOUD, "auth_token": 12}),
    ("empty cloud", {"cloud_id": "", "auth_token": TOKEN}),
]


@pytest.mark.parametrize("creds", [c for _, c in AUTH], ids=[i for i, _ in AUTH])
async def test_bad_credentials_get_401(ss: Ss, creds: dict[str, Any]) -> None:
    resp = await ss.post_flow({**creds, "flow": [call_step()]})
    assert resp.status_code == 401
    assert resp.json() == {"success": False, "message": "Invalid auth token"}


async def test_auth_is_checked_before_the_flow(ss: Ss) -> None:
    resp = await ss.post_flow({"cloud_id": CLOUD, "auth_token": "nope", "flow": []})
    assert resp.status_code == 401


async def test_open_auth_creates_a_cloud_that_keeps_its_first_token(ss: Ss) -> None:
    first = await ss.post_flow({"cloud_id": "newcloud", "auth_token": "t1", "flow": [call_step()]})
    assert first.status_code == 200
    again = await ss.post_flow({"cloud_id": "newcloud", "auth_token": "t2", "flow": [call_step()]})
    assert again.status_code == 401


async def test_strict_auth_refuses_unknown_clouds(make_ss: SsFactory) -> None:
    ss = await make_ss(auth="strict")
    resp = await ss.post_flow({"cloud_id": "stranger", "auth_token": "t", "flow": [call_step()]})
    assert resp.status_code == 401
    assert resp.json()["message"] == "Invalid auth token"
    assert (await ss.post_flow(body(call_step()))).status_code == 200


async def test_strict_auth_takes_a_scenario_cloud(make_ss: SsFactory) -> None:
    ss = await make_ss(auth="strict")
    scenario = "name: strict\nvendor: samespace\ntenant: scn\nsetup: {auth_token: scn-token}\nsteps: [{advance: 1}]\n"
    created = await ss.http.post("/_emulator/scenarios", content=scenario.encode())
    assert created.status_code == 201, created.text
    flow = {"cloud_id": "scn", "auth_token": "scn-token", "flow": [call_step()]}
    assert (await ss.post_flow(flow)).status_code == 200
    assert (await ss.post_flow({**flow, "cloud_id": "other"})).status_code == 401


async def test_metadata_errors(ss: Ss) -> None:
    call_id = await ss.start(call_step())
    wrong = await ss.http.get(f"{API}/call/{call_id}", params={"cloud_id": CLOUD, "auth_token": "x"})
    assert (wrong.status_code, wrong.json()) == (401, {"success": False, "message": "Invalid auth token"})
    missing = await ss.http.get(f"{API}/call/{call_id}", params={"cloud_id": CLOUD})
    assert missing.status_code == 401
    unknown = await ss.http.get(f"{API}/call/nope", params={"cloud_id": CLOUD, "auth_token": TOKEN})
    assert (unknown.status_code, unknown.json()) == (404, {"success": False, "message": "Call not found"})
    other_cloud = await ss.http.get(f"{API}/call/{call_id}", params={"cloud_id": "other", "auth_token": "t"})
    assert (other_cloud.status_code, other_cloud.json()) == (404, {"success": False, "message": "Call not found"})
    post = await ss.http.post(f"{API}/call/{call_id}", json={"cloud_id": CLOUD, "auth_token": TOKEN})
    assert (post.status_code, post.json()) == (405, {"success": False, "message": "Method not allowed"})


async def test_unknown_paths_and_methods_use_the_envelope(ss: Ss) -> None:
    resp = await ss.http.get(f"{API}/nothing/here")
    assert (resp.status_code, resp.json()) == (404, {"success": False, "message": "Not found"})
    resp = await ss.http.put(f"{API}/call/flow", json={})
    assert resp.status_code == 405
    assert resp.json() == {"success": False, "message": "Method not allowed"}
    assert "POST" in resp.headers["allow"]


async def test_a_configured_cloud_with_its_token(make_ss: SsFactory) -> None:
    ss = await make_ss(vendors=tenant())
    assert (await ss.post_flow(body(call_step()))).status_code == 200


async def test_flow_is_taken_for_next_step_in_digits_and_http(make_ss: SsFactory, webhook_sink: WebhookSink) -> None:
    """The doc's field list for digits names the routing map `flow` (its example says `next_step`)."""
    ss = await make_ss(vendors=tenant(numbers={"917507161643": {"dtmf": ["2"]}}))
    flow = [
        call_step(next_step=1),
        {"id": 1, "type": "digits", "count": 1, "variable": "v", "flow": {"2": 2}},
        {"id": 2, "type": "http", "url": webhook_sink.url_for("/x/{{v}}"), "flow": {"success": 3}},
        {"id": 3, "type": "play", "text": "done", "flow": 99},  # not a routing step: ignored, the call ends here
    ]
    call_id = await ss.start(*flow)
    await ss.idle()
    meta = await ss.metadata(call_id)
    assert [(s["id"], s["result"]) for s in meta["steps"]] == [
        ("0", "answered"),
        ("1", "collected"),
        ("2", "success"),
        ("3", "played"),
    ]
    assert meta["end_reason"] == "flow_end"
    webhook_sink.wait_for(path="/x/2", timeout=1)
