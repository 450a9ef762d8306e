"""What the scenario engine does: actors on the clock, vendor actions and steps, templates, matching, and
scenarios loaded into a running app through the control plane."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from emulator.app import create_app
from emulator.core.clock import DEFAULT_VIRTUAL_START as START
from emulator.scenarios.errors import ScenarioError
from emulator.scenarios.match import get_path, interpolate, subset_mismatches
from emulator.scenarios.service import STOPPED_KEPT
from emulator.vendors import eightbyeight
from tests.conftest import make_settings
from tests.scenarios.conftest import GREET, run_text

# -- matching and templates ---------------------------------------------------------------------------------


def test_subset_matching_with_operators() -> None:
    body = {"a": 1, "b": {"text": "Hello there", "n": [1, 2]}}
    assert subset_mismatches({"b": {"text": {"$regex": "^Hello"}}}, body) == []
    assert subset_mismatches({"b": {"text": {"$regex": "^Bye"}}}, body) == [
        ".b.text: expected a match of /^Bye/, got 'Hello there'"
    ]
    assert subset_mismatches({"c": {"$exists": False}, "a": {"$exists": True}}, body) == []
    assert subset_mismatches({"a": {"$exists": False}}, body) == [".a: expected no such key, got 1"]
    assert subset_mismatches({"b": {"n": [1]}}, body) == [".b.n: expected [1], got [1, 2]"]
    assert subset_mismatches({"b": {"text": {"$regex": "("}}}, body)[0].startswith(".b.text: bad $regex /(/")


def test_paths_and_templates() -> None:
    body = {"_embedded": {"items": [{"id": "x1"}, {"id": "x2"}]}}
    assert get_path(body, "_embedded.items[1].id") == "x2"
    assert get_path(body, "$._embedded.items[-1].id") == "x2"
    with pytest.raises(ScenarioError, match=r"\._embedded\.items has no item \[5\]"):
        get_path(body, "_embedded.items[5]")
    variables = {"conv": "c1", "n": 3, "saved": body}
    assert interpolate(
        {"path": "/c/{{conv}}/m", "count": "{{n}}", "l": ["{{ saved._embedded.items[0].id }}"]}, variables
    ) == {
        "path": "/c/c1/m",
        "count": 3,
        "l": ["x1"],
    }
    with pytest.raises(ScenarioError, match=r"unknown variable \{\{nope\}\} \(known: conv, n, saved\)"):
        interpolate("{{nope}}", variables)


# -- actors, actions and steps ------------------------------------------------------------------------------

SETUP = """\
name: engine
vendor: eightbyeight
tenant: engine
setup:
  queues:
    - {id: "123", name: Support, agents: [{id: ag-jane, name: Jane Doe}]}
    - {id: "101", name: Sales, agents: [{id: ag-sam, name: Sam Sales}]}
  behaviour: {auto: false}
  channels: [{id: sales-chat, name: Sales chat, queue: "101"}]
"""


async def test_actor_rules_use_event_variables_times_and_customer_actions() -> None:
    text = (
        SETUP
        + """\
actors:
  - when: {event: conversation.queued}
    do: [{after: 1, agent: join}, {agent: say, text: "Hello {{event.data.queueName}} customer, ticket {{subject}}"}]
  - when: {event: MESSAGE, match: {data: {sender: {type: agent}}}}
    times: 2
    do: [{after: 2, customer: say, text: "ping"}]
  - when: {event: MESSAGE, match: {data: {sender: {type: user}, text: ping}}}
    do: [{after: 2, agent: say, text: pong}]
steps:
  - request:
      method: POST
      path: "{{api}}/conversations"
      json: {channelId: sales-chat, user: {name: Kim}}
      save: {conv: conversationId}
  - expect_webhook:
      match: {eventType: MESSAGE, data: {sender: {id: ag-sam}, text: {$regex: "^Hello Sales customer, ticket .{22}$"}}}
      within: 2
  - expect_webhook: {match: {eventType: MESSAGE, data: {text: pong}}, count: 2, within: 60}
  - expect_webhook: {match: {eventType: MESSAGE, data: {text: pong}}, count: 0, within: 60}
"""
    )
    result = await run_text(text)
    assert result.passed, result.steps
    assert [a.fired for a in result.actors] == [1, 2, 2]
    assert round(result.elapsed, 3) == 1.2 + 4 + 4 + 60  # pong at +5.2 and +9.2, then a quiet minute


async def test_actions_and_vendor_steps_as_steps() -> None:
    text = (
        SETUP
        + """\
steps:
  - request:
      method: POST
      path: "{{api}}/conversations"
      json: {channelId: "{{channel_id}}", user: {name: Kim}}
      save: {conv: conversationId}
  - advance: 1
  - {agent: join, agent_id: ag-jane, conversation: "{{conv}}"}
  - {after: 2, agent: say, text: "Hi {user}", conversation: "{{conv}}"}
  - expect_webhook: {match: {eventType: MESSAGE, data: {text: Hi Kim}}, within: 0}
  - behaviour: {auto: true, join_delay: 5, greeting: null}
  - {agent: transfer, queue: "101", conversation: "{{conv}}"}
  - expect_webhook: {match: {eventType: TRANSFER, data: {$exists: false}}, within: 0}
  - expect_webhook: {match: {eventType: MEMBERS_CHANGED, data: {change: joined, id: ag-sam}}, within: 6}
  - {customer: leave, conversation: "{{conv}}"}
  - expect_webhook: {match: {eventType: CONVERSATION_UPDATE, data: {state: idle}}, within: 0}
  - {agent: say, text: too late, conversation: "{{conv}}"}
"""
    )
    result = await run_text(text)
    assert [s.status for s in result.steps] == ["passed"] * 11 + ["failed"]
    assert result.steps[5].message == "auto=True, join_delay=5, greeting=None"
    assert result.steps[-1].message is not None
    assert result.steps[-1].message.startswith("agent say 'too late'")
    assert "No agent is in conversation" in result.steps[-1].message


async def test_an_action_step_needs_a_conversation() -> None:
    result = await run_text(SETUP + "steps:\n  - {agent: typing}\n")
    assert result.steps[0].message == "agent typing: which conversation? (set `conversation:` in a step)"


async def test_wait_until_idle_and_the_default_simulated_agents() -> None:
    text = GREET.replace("  behaviour: {auto: false}\n", "").replace("actors:\n  - when: {event: QUEUED}\n", "")
    text = text.replace(
        '    do: [{after: 3, agent: join}, {after: 1, agent: say, text: "Hi {user}, this is {agent}."}]\n', ""
    )
    text = text.replace("Hi Ann, this is Jane.", "Hi Ann, this is Jane. How can I help you today?")
    text += "  - wait_until_idle: {}\n"
    text += "  - expect_webhook: {match: {eventType: CONVERSATION_UPDATE, data: {state: idle}}, within: 0}\n"
    result = await run_text(text)
    assert result.passed, [s.message for s in result.steps]
    assert round(result.elapsed, 1) == 0.2 + 3 + 300  # the agent leaves 300 s after joining without a message


# -- loaded into a running app ------------------------------------------------------------------------------


@pytest.fixture
async def app_client() -> Any:
    app = create_app(make_settings(), plugins=[eightbyeight.PLUGIN])
    await app.state.emulator.start()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cxemu.test")
    try:
        yield app, client
    finally:
        await app.state.scenarios.close()
        await client.aclose()
        await app.state.emulator.stop()


async def test_control_plane_loads_runs_and_unloads_a_scenario(app_client: Any) -> None:
    _, http = app_client
    created = await http.post("/_emulator/scenarios", params={"tenant": "other", "source": "greet.yaml"}, content=GREET)
    assert created.status_code == 201, created.text
    run = created.json()
    assert (run["id"], run["tenant"], run["source"], run["status"], run["active"]) == (
        "scn_0001",
        "other",
        "greet.yaml",
        "running",
        True,
    )
    assert run["variables"]["api_key"] == "other"
    assert run["variables"]["webhook_url"].startswith("http://127.0.0.1:")
    done = (await http.get("/_emulator/scenarios/scn_0001", params={"wait": 30})).json()
    assert done["status"] == "passed", done["report"]
    assert [s["status"] for s in done["steps"]] == ["passed"] * 3
    assert done["steps"][2]["offset"] == 4.2
    # the actors stay: a conversation the app under test creates meets the same scripted agent
    resp = await http.post(
        "/chat-gateway/v1/conversations",
        headers={"x-api-key": "other"},
        json={"channelId": "1", "user": {"name": "Bo"}},
    )
    assert resp.status_code == 202
    await http.post("/_emulator/clock/advance", json={"seconds": 5})
    assert (await http.get("/_emulator/scenarios/scn_0001")).json()["actors"][0]["fired"] == 2
    listed = (await http.get("/_emulator/scenarios")).json()["scenarios"]
    assert [s["id"] for s in listed] == ["scn_0001"]
    gone = await http.delete("/_emulator/scenarios/scn_0001")
    assert gone.json()["active"] is False
    assert (await http.get("/_emulator/scenarios/scn_0001")).status_code == 404


async def test_a_loaded_scenario_runs_on_its_own_timeline_and_disturbs_no_other_tenant(app_client: Any) -> None:
    app, http = app_client
    emu = app.state.emulator
    bystander = {"x-api-key": "bystander"}
    conversation = {"channelId": "1", "user": {"name": "Bo"}, "assignment": {"type": "queue", "id": "100"}}
    assert (await http.post("/chat-gateway/v1/conversations", headers=bystander, json=conversation)).status_code == 202
    waiting = emu.scheduler.pending_count(["bystander"])

    bodies = []
    for _ in range(2):  # loaded twice: the second run starts its tenant's time again and sends the same bodies
        created = await http.post("/_emulator/scenarios", params={"tenant": "scn"}, content=GREET)
        assert created.status_code == 201, created.text
        run_id = created.json()["id"]
        done = (await http.get(f"/_emulator/scenarios/{run_id}", params={"wait": 30})).json()
        assert done["status"] == "passed", done["report"]
        bodies.append([d.body for d in emu.dispatcher.deliveries() if d.tenant == "scn"])
        assert (await http.delete(f"/_emulator/scenarios/{run_id}")).status_code == 200
        await http.post("/_emulator/reset", params={"vendor": "eightbyeight", "tenant": "scn"})

    assert emu.scheduler.now("bystander") == START  # the scenario's advances moved only its own timeline
    assert emu.scheduler.pending_count(["bystander"]) == waiting
    assert bodies[0] == bodies[1]
    assert len(bodies[0]) >= 5


@pytest.mark.parametrize(
    ("body", "params", "status", "code", "message"),
    [
        (b"name: x\nsteps: [{advance: -1}]\n", {}, 400, "invalid_scenario", "request body:1: vendor: required"),
        (b"name: x\nvendor: eightbyeight\nsteps: [{advance: -1}]\n", {"source": "s.yaml"}, 400, "invalid_scenario",
         "s.yaml:3: steps[0].advance: Input should be greater than or equal to 0"),
        (b'{"name": "x", "vendor": "cmcom"}', {}, 404, "unknown_vendor",
         "request body:1: vendor: 'cmcom' unknown vendor"),
        (b"", {}, 400, "invalid_request", "the body must be a scenario file"),
        (b"\xff\xfe", {}, 400, "invalid_request", "the body must be UTF-8 text"),
        (GREET.encode(), {"webhook_url": "ftp://x"}, 400, "invalid_request", "webhook_url: must be an http"),
        (GREET.encode(), {"tenant": "a b"}, 400, "invalid_request", "tenant: letters, digits"),
        (GREET.replace("behaviour: {auto: false}", "webhook: nope").encode(), {}, 400, "invalid_scenario",
         "request body:5: setup: webhook: 'nope' is not an http(s) URL"),
    ],
)  # fmt: skip
async def test_control_plane_rejects_bad_scenarios_with_a_clear_error(
    app_client: Any, body: bytes, params: dict[str, str], status: int, code: str, message: str
) -> None:
    _, http = app_client
    resp = await http.post("/_emulator/scenarios", params=params, content=body)
    assert resp.status_code == status, resp.text
    assert resp.json()["error"] == code
    assert resp.json()["message"].startswith(message), resp.json()
    assert (await http.get("/_emulator/scenarios")).json() == {"scenarios": []}


async def test_a_scenario_on_the_system_clock_waits_in_real_time() -> None:
    app = create_app(make_settings(clock="system"), plugins=[eightbyeight.PLUGIN])
    emu = app.state.emulator
    await emu.start()
    manager = app.state.scenarios
    try:
        fast = GREET.replace("{after: 3, agent: join}, {after: 1,", "{after: 0.05, agent: join}, {after: 0.05,")
        from tests.scenarios.conftest import load

        run = await manager.start(load(fast), app)
        await run.wait(10)
        assert run.result.status == "passed", [s.message for s in run.result.steps]
        assert run.result.virtual is False
    finally:
        await manager.close()
        await emu.stop()


async def test_stopped_runs_beyond_the_newest_hundred_are_forgotten(app_client: Any) -> None:
    """A long-running server that loads a scenario per test keeps the newest stopped runs, not every one."""
    app, http = app_client
    for _ in range(STOPPED_KEPT + 3):  # each load for the tenant stops the one before
        created = await http.post("/_emulator/scenarios", params={"tenant": "again"}, content=GREET)
        assert created.status_code == 201, created.text
    runs = app.state.scenarios.runs
    assert len(runs) == STOPPED_KEPT + 1
    assert [run.active for run in runs.values()].count(True) == 1
    assert (await http.get("/_emulator/scenarios/scn_0001")).status_code == 404
    assert (await http.get(f"/_emulator/scenarios/scn_{STOPPED_KEPT + 3:04d}")).json()["active"] is True
