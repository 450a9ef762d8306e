"""Every kind of feed entry, from a real flow in each vendor: a library scenario loaded into the server (a
`control` entry) whose steps make vendor `request`s, whose scenario actors and the vendor's simulated agents and
customers act (`action`), whose vendor jobs fire (`timer`), and whose `event`s become webhook `delivery`s and
`attempt`s, each entry pointing at its cause."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from emulator.app import load_plugins
from emulator.core.settings import Settings
from tests.conftest import AppFactory

ROOT = Path(__file__).resolve().parents[2]
KINDS = {"request", "control", "event", "delivery", "attempt", "timer", "action"}


@pytest.mark.parametrize(
    "scenario",
    [
        "eightbyeight/06_requeue_after_idle.yaml",
        "sangoma/01_bot_answers_then_delivers_to_agent.yaml",
        "cmcom/03_hand_back_with_position.yaml",
        "samespace/02_ivr_menu_routing.yaml",
    ],
    ids=["eightbyeight", "sangoma", "cmcom", "samespace"],
)
async def test_a_vendor_flow_records_every_kind_with_its_cause(make_app: AppFactory, scenario: str) -> None:
    _, client = await make_app(vendor_plugins=load_plugins(Settings()))
    text = (ROOT / "scenarios" / scenario).read_text(encoding="utf-8")
    r = await client.post("/_emulator/scenarios", content=text)
    assert r.status_code == 201, r.text
    done = await client.get(f"/_emulator/scenarios/{r.json()['id']}", params={"wait": 60})
    assert done.json()["status"] == "passed", done.json()["report"]

    entries: list[dict[str, Any]] = (await client.get("/_emulator/journal", params={"limit": 1000})).json()["entries"]
    by_id = {e["id"]: e for e in entries}
    vendor = scenario.split("/")[0]

    assert {e["kind"] for e in entries} == KINDS
    assert [e["id"] for e in entries] == list(range(1, len(entries) + 1))
    load = entries[0]
    assert (load["kind"], load["type"], load["data"]["status"]) == ("control", "POST /_emulator/scenarios", 201)
    assert {e["vendor"] for e in entries[1:]} == {vendor}

    def cause(e: dict[str, Any]) -> dict[str, Any]:
        assert e["cause"] is not None, e
        assert e["cause"] < e["id"]
        return by_id[e["cause"]]

    for e in entries:
        kind = e["kind"]
        if kind == "request":
            assert cause(e)["id"] == load["id"]  # the scenario's steps send them
            assert e["party"] == "integration"
        elif kind == "event":
            assert cause(e)["kind"] in {"request", "timer", "action", "control", "event"}
            assert e["party"] == "cxemu"
        elif kind == "delivery":
            assert cause(e)["kind"] == "event"
        elif kind == "attempt":
            assert cause(e)["kind"] == "delivery"
            assert cause(e)["data"]["delivery_id"] == e["data"]["delivery_id"]
            assert e["data"]["outcome"] == "delivered"
        elif kind == "timer":
            assert e["cause"] is None
            assert e["data"]["what"] == e["type"]
            assert e["type"].startswith(f"{vendor}.")
        elif kind == "action":
            assert e["party"] in {"agent", "customer"}
            assert e["data"]["verb"] == e["type"]
    causes = {(by_id[e["cause"]]["kind"], e["kind"]) for e in entries if e["cause"] is not None}
    assert ("action", "event") in causes  # simulated parties change state
    assert causes & {("timer", "event"), ("timer", "action")}  # so do vendor jobs, or the parties they start
