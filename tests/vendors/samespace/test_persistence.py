"""A call in progress survives a snapshot/restore (the state file of a graceful restart) and goes on."""

from __future__ import annotations

import json

from tests.vendors.samespace.conftest import Ss, SsFactory, call_step, tenant

FLOW = (
    call_step(next_step=1),
    {"id": 1, "type": "digits", "count": 2, "variable": "v", "next_step": {"*": 2}},
    {"id": 2, "type": "http", "url": "http://127.0.0.1:9/{{v}}", "body": {"v": "{{v}}"}, "next_step": {"fail": 3}},
    {"id": 3, "type": "play", "text": "bye"},
)


async def test_a_live_call_goes_on_after_restore(make_ss: SsFactory) -> None:
    vendors = tenant(numbers={"917507161643": {"dtmf": ["42"], "dtmf_delay": 5}})
    first: Ss = await make_ss(vendors=vendors)
    call_id = await first.start(*FLOW)
    await first.advance(7)  # answered, waiting for digits
    snapshot = json.loads(json.dumps(first.emu.snapshot()))
    second: Ss = await make_ss(vendors=vendors)
    second.emu.restore(snapshot)
    before = await second.metadata(call_id)
    assert (before["status"], before["current_step"]) == ("answered", "1")
    await second.idle()
    after = await second.metadata(call_id)
    assert [s["id"] for s in after["steps"]] == ["0", "1", "2", "3"]
    assert after["variables"] == {"v": "42"}
    assert after["http"][0]["url"] == "http://127.0.0.1:9/42"
    assert after["end_reason"] == "flow_end"
