"""The default callee answers and keys seeded digits when a `digits` step waits (issue 11 §1 [inf]), so the
vendor's own sample flow (seeds/003) runs to its `http` step with no config; `dtmf: none` keeps a callee
silent, an explicit script still wins, and the digits come from the seed: the same seed, the same digits."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest

from emulator.pytest_plugin import WebhookSink
from tests.vendors.samespace.conftest import CONTROL, Ss, SsFactory, body, call_step
from tests.vendors.samespace.flows import digits, play
from tests.vendors.samespace.seed import SEED_SAMPLE

SEED_CLOUD, SEED_TOKEN = "CLOUD_ID", "your_auth_token"  # the sample's own, taken as they are in open auth
SEED_HOST = "https://subdoomain.domain.com"


async def run_seed_sample(ss: Ss, sink: WebhookSink) -> dict[str, Any]:
    """Post the sample verbatim, send its http object's host to `sink`, run the call to its end."""
    resp = await ss.post_flow(SEED_SAMPLE)
    assert resp.status_code == 200, resp.text
    override = {"http_overrides": {SEED_HOST: sink.url}}
    assert (await ss.http.put(f"{CONTROL}/{SEED_CLOUD}/settings", json=override)).status_code == 200
    await ss.idle()
    return await ss.metadata(resp.json()["call_id"], SEED_CLOUD, SEED_TOKEN)


def seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


async def test_the_seed_flow_reaches_its_http_step_with_no_config(
    make_ss: SsFactory, webhook_sink: WebhookSink
) -> None:
    ss = await make_ss(vendors={"samespace": {}})
    meta = await run_seed_sample(ss, webhook_sink)
    keyed = meta["variables"]["account_id"]
    assert re.fullmatch(r"[0-9]{4}", keyed), keyed
    (request,) = webhook_sink.wait_for(path=f"/api/test/{keyed}", timeout=1)
    assert request.method == "GET"
    assert [(s["id"], s["result"]) for s in meta["steps"]] == [
        ("0", "answered"),
        ("1", "played"),
        ("2", "collected"),
        ("5", "success"),
    ]
    (collected,) = [s for s in meta["steps"] if s["id"] == "2"]
    assert collected["input"] == keyed
    assert seconds(collected["started_at"], collected["ended_at"]) == 2.0  # a person's pause: dtmf_delay
    assert [h["url"] for h in meta["http"]] == [f"{SEED_HOST}/api/test/{keyed}"]
    assert (meta["status"], meta["end_reason"]) == ("completed", "dangling_step")  # next_step 10 does not exist


async def test_dtmf_none_keeps_the_callee_silent(make_ss: SsFactory, webhook_sink: WebhookSink) -> None:
    ss = await make_ss(vendors={"samespace": {"default_callee": {"dtmf": "none"}}})
    meta = await run_seed_sample(ss, webhook_sink)
    assert [(s["id"], s["result"], s["input"]) for s in meta["steps"]][-1] == ("2", "timeout", "")
    assert (meta["status"], meta["end_reason"], meta["variables"], meta["http"]) == ("completed", "no_input", {}, [])
    assert not webhook_sink.requests


async def seeded_digits(make_ss: SsFactory, sink: WebhookSink, seed: int) -> str:
    ss = await make_ss(vendors={"samespace": {}}, seed=seed)
    return str((await run_seed_sample(ss, sink))["variables"]["account_id"])


async def test_seeded_digits_are_the_same_across_runs_and_differ_by_seed(
    make_ss: SsFactory, webhook_sink: WebhookSink
) -> None:
    runs = [await seeded_digits(make_ss, webhook_sink, seed) for seed in (7, 7, 8)]
    assert runs[0] == runs[1] != runs[2]


@pytest.mark.parametrize("count", [1, 3, 12])
async def test_seeded_digits_have_the_requested_count(make_ss: SsFactory, count: int) -> None:
    ss = await make_ss(vendors={"samespace": {}})
    flow = [call_step(next_step="pin"), digits("pin", {"*": "bye"}, count=count, variable="pin"), play("bye")]
    resp = await ss.post_flow(body(*flow))
    assert resp.status_code == 200, resp.text
    await ss.idle()
    meta = await ss.metadata(resp.json()["call_id"])
    assert len(meta["variables"]["pin"]) == count
    assert meta["end_reason"] == "flow_end"


async def test_an_explicit_script_wins_and_the_pause_is_per_callee(make_ss: SsFactory) -> None:
    numbers = {"917507161643": {"dtmf": ["42"], "dtmf_delay": 0.5}, "15550002222": {"dtmf_delay": 6}}
    ss = await make_ss(vendors={"samespace": {"numbers": numbers}})
    for number, expected_delay in (("917507161643", 0.5), ("15550002222", 6.0)):
        flow = [call_step(next_step="pin", number=number), digits("pin", {"*": "bye"}, count=2, variable="pin")]
        resp = await ss.post_flow(body(*flow, play("bye")))
        assert resp.status_code == 200, resp.text
        await ss.idle()
        meta = await ss.metadata(resp.json()["call_id"])
        (run,) = [s for s in meta["steps"] if s["id"] == "pin"]
        assert seconds(run["started_at"], run["ended_at"]) == expected_delay
        if number == "917507161643":
            assert meta["variables"] == {"pin": "42"}
    script_used_up = [call_step(next_step="a"), digits("a", {"*": "b"}, count=2, variable="a")]
    script_used_up += [digits("b", {"*": "bye"}, count=2, variable="b"), play("bye")]
    resp = await ss.post_flow(body(*script_used_up))
    await ss.idle()
    meta = await ss.metadata(resp.json()["call_id"])
    assert (meta["variables"], meta["end_reason"]) == ({"a": "42"}, "no_input")  # nothing once the script is used up


@pytest.mark.parametrize("dtmf", ["sometimes", ["12a"], [""]])
async def test_a_bad_dtmf_setting_is_refused(make_ss: SsFactory, dtmf: Any) -> None:
    ss = await make_ss(vendors={"samespace": {}})
    assert (await ss.post_flow(SEED_SAMPLE)).status_code == 200
    resp = await ss.http.put(f"{CONTROL}/{SEED_CLOUD}/numbers/917507161643", json={"dtmf": dtmf})
    assert resp.status_code == 400, resp.text
    assert "dtmf" in resp.json()["message"]
