"""Keys pressed by hand while no digits step collects them (during a prompt): typed ahead for the next digits
step, as IVRs buffer DTMF [inf], bounded by `behaviour.type_ahead` (0: refused); and the control plane's
`rejected` answers for presses the call's state does not allow."""

from __future__ import annotations

from typing import Any

from tests.vendors.samespace.conftest import Ss, SsFactory, call_step, tenant
from tests.vendors.samespace.flows import RING, digits, play, played, with_numbers

ANSWERED = 2 * RING
# answered at 6 s; the prompt (five words at 150 words per minute) plays until 8 s, then the menu collects
MENU = (
    call_step(next_step="prompt"),
    play("prompt", next_step="menu"),
    digits("menu", {"1": "apples", "2": "oranges", "*": "other"}),
    play("apples", text="apples"),
    play("oranges", text="oranges"),
    play("other", text="other"),
)


async def test_keys_pressed_during_the_prompt_answer_the_next_menu(ss: Ss) -> None:
    call_id = await ss.start(*MENU)
    await ss.advance(ANSWERED + 1)  # the prompt is playing
    resp = await ss.press(call_id, "2")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "call_id": call_id,
        "number": "917507161643",
        "status": "answered",
        "current_step": "prompt",
        "typed_ahead": "2",
    }
    await ss.advance(1)  # the prompt ends: the menu takes the typed-ahead key at once
    meta = await ss.metadata(call_id)
    menu = meta["steps"][2]
    assert (menu["result"], menu["input"], menu["detail"]) == ("collected", "2", {"typed_ahead": "2"})
    assert (menu["started_at"], menu["ended_at"]) == ("2026-01-01T00:00:08.000Z", "2026-01-01T00:00:08.000Z")
    assert meta["current_step"] == "oranges"
    await ss.idle()
    assert played(await ss.metadata(call_id)) == ["0", "prompt", "menu", "oranges"]


async def test_typed_ahead_keys_complete_the_step_before_the_callees_script(make_ss: SsFactory) -> None:
    ss = await with_numbers(make_ss, {"917507161643": {"dtmf": ["9"]}})
    flow = (*MENU[:2], {**MENU[2], "next_step": {"*": "again"}}, digits("again", {"*": "other"}, variable="v2"))
    call_id = await ss.start(*flow, MENU[-1])
    await ss.advance(ANSWERED + 1)
    await ss.press(call_id, "1")
    await ss.idle()
    meta = await ss.metadata(call_id)
    assert [(s["id"], s["input"]) for s in meta["steps"][2:4]] == [("menu", "1"), ("again", "9")]
    assert meta["variables"] == {"choice": "1", "v2": "9"}  # the script's "9" was kept for the second menu


async def test_a_partial_type_ahead_is_completed_by_later_keys(ss: Ss) -> None:
    flow = (call_step(next_step="p"), play("p", next_step="pin"), digits("pin", {"*": "bye"}, count=4, variable="pin"))
    call_id = await ss.start(*flow, play("bye"))
    await ss.advance(ANSWERED + 1)
    await ss.press(call_id, "12")
    await ss.advance(3)  # the pin step has "12" and waits for two more
    assert (await ss.metadata(call_id))["current_step"] == "pin"
    done = await ss.press(call_id, "345")  # the pin takes "34"; "5" is typed ahead
    assert (done.json()["current_step"], done.json()["typed_ahead"]) == ("bye", "5")
    await ss.idle()
    meta = await ss.metadata(call_id)
    assert meta["variables"] == {"pin": "1234"}
    assert meta["steps"][2]["ended_at"] == "2026-01-01T00:00:10.000Z"


async def test_keys_beyond_a_step_go_to_the_next_digits_step(ss: Ss) -> None:
    flow = (call_step(next_step="a"), digits("a", {"*": "b"}, variable="x"), digits("b", {"*": "end"}, variable="y"))
    call_id = await ss.start(*flow, play("end"))
    await ss.advance(ANSWERED)
    await ss.press(call_id, "78")  # two keys at once for two one-digit steps
    await ss.idle()
    meta = await ss.metadata(call_id)
    assert meta["variables"] == {"x": "7", "y": "8"}
    assert played(meta) == ["0", "a", "b", "end"]


async def test_type_ahead_is_bounded(make_ss: SsFactory) -> None:
    ss = await make_ss(vendors=tenant(behaviour={"type_ahead": 3}))
    flow = (call_step(next_step="p"), play("p", next_step="pin"), digits("pin", {"*": "bye"}, count=6, variable="pin"))
    call_id = await ss.start(*flow, play("bye"))
    await ss.advance(ANSWERED + 1)
    assert (await ss.press(call_id, "12345")).json()["typed_ahead"] == "123"
    assert (await ss.press(call_id, "6")).json()["typed_ahead"] == "123"
    await ss.idle()
    assert (await ss.metadata(call_id))["variables"] == {"pin": "123"}  # the rest never came: the timeout took it


def rejected(code: str, message: str) -> dict[str, Any]:
    return {"error": "rejected", "message": message, "detail": {"code": code}}


async def test_type_ahead_off_refuses_keys_outside_a_digits_step(make_ss: SsFactory) -> None:
    ss = await make_ss(vendors=tenant(behaviour={"type_ahead": 0}))
    call_id = await ss.start(*MENU)
    await ss.advance(ANSWERED + 1)
    resp = await ss.press(call_id, "2")
    assert resp.status_code == 409
    assert resp.json() == rejected("not_collecting", "the call is not waiting for digits")
    await ss.idle()
    meta = await ss.metadata(call_id)
    assert (meta["end_reason"], meta["variables"]) == ("no_input", {})


async def test_presses_the_calls_state_does_not_allow(ss: Ss) -> None:
    call_id = await ss.start(*MENU)
    ringing = await ss.press(call_id, "1")
    assert ringing.status_code == 409
    assert ringing.json() == rejected("not_answered", "the call is not answered yet")
    await ss.advance(ANSWERED)
    hung = await ss.control("POST", f"/calls/{call_id}/hangup")
    assert hung.status_code == 200
    ended = await ss.press(call_id, "1")
    assert ended.status_code == 409
    assert ended.json() == rejected("call_ended", f"call {call_id} has already ended (completed)")
    again = await ss.control("POST", f"/calls/{call_id}/hangup")
    assert again.json() == ended.json()
    unknown = await ss.press("nope", "1")
    assert unknown.status_code == 404
    body = {"success": False, "message": "Call not found"}
    assert unknown.json() == {"error": "rejected", "message": "Call not found", "detail": body}
    assert (await ss.metadata(call_id))["variables"] == {}
