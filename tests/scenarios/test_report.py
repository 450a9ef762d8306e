"""A failing scenario says which step failed, what it expected, the near-miss webhooks (diffed) and the virtual
time; a failing request, an unexpected webhook and an actor error are reported the same way."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from emulator.scenarios.errors import ScenarioError
from emulator.scenarios.match import get_path, subset_mismatches
from emulator.scenarios.report import junit, render
from emulator.scenarios.results import error_result
from tests.scenarios.conftest import GREET, cli, run_text


async def test_a_failing_expectation_shows_step_expected_near_misses_and_virtual_time() -> None:
    text = GREET.replace('text: "Hi Ann, this is Jane."}}, within: 5}', 'text: "Hello Ann"}}, within: 5}')
    result = await run_text(text, "greet.yaml")
    assert result.status == "failed"
    step = result.failed_step()
    assert step is not None
    assert (step.index, step.kind, step.line) == (2, "expect_webhook", 18)
    assert step.message is not None
    assert step.message.startswith(
        "0 of 1 matching webhook(s) within 5s; virtual time 2026-01-01T00:00:08.200Z (t+8.200s); "
        "6 webhook(s) for this tenant"
    )
    assert step.expected["match"] == {"eventType": "MESSAGE", "data": {"text": "Hello Ann"}}
    closest = step.near_misses[0]
    assert (closest.event, closest.status, closest.note) == ("MESSAGE", "delivered", None)
    assert closest.problems == [".data.text: expected 'Hello Ann', got 'Hi Ann, this is Jane.'"]
    assert round(closest.at - result.started_at, 3) == 4.2

    report = render(result)
    for line in [
        "FAIL greet  (greet.yaml; vendor eightbyeight, tenant greet, seed 1)",
        "  PASS  steps[0]  line 12",
        "  FAIL  steps[2]  line 18   expect_webhook MESSAGE within 5s",
        "        0 of 1 matching webhook(s) within 5s; virtual time 2026-01-01T00:00:08.200Z (t+8.200s)",
        "        expected: 1 webhook(s) in order, within 5s, matching",
        '          body    {"eventType": "MESSAGE", "data": {"text": "Hello Ann"}}',
        "        near misses (closest first):",
        "              .data.text: expected 'Hello Ann', got 'Hi Ann, this is Jane.'",
        "  2 passed, 1 failed, 0 skipped",
    ]:
        assert line in report, f"{line!r} not in\n{report}"


async def test_a_webhook_matched_earlier_or_out_of_order_is_named_as_such() -> None:
    text = GREET + "  - expect_webhook: {match: {eventType: MEMBERS_CHANGED}, within: 0}\n"
    result = await run_text(text)
    step = result.failed_step()
    assert step is not None
    assert step.index == 3
    notes = {m.note for m in step.near_misses if m.event == "MEMBERS_CHANGED"}
    assert notes == {"already matched by steps[1]"}
    text = GREET + "  - expect_webhook: {match: {eventType: QUEUED}, within: 0}\n"
    result = await run_text(text)
    step = result.failed_step()
    assert step is not None
    [queued] = [m for m in step.near_misses if m.event == "QUEUED"]
    assert queued.problems == []
    assert queued.note == "sent before the webhook matched by steps[2] (ordered: set ordered: false)"
    relaxed = text.replace("{eventType: QUEUED}, within: 0}", "{eventType: QUEUED}, within: 0, ordered: false}")
    assert (await run_text(relaxed)).passed


async def test_a_failing_request_shows_status_body_and_the_response() -> None:
    text = GREET.replace(
        "      save: {conv: conversationId}\n", "      expect: {status: 201, body: {conversationId: x}}\n"
    )
    result = await run_text(text)
    step = result.failed_step()
    assert step is not None
    assert step.index == 0
    assert step.message is not None
    lines = step.message.splitlines()
    assert lines[0] == "status: expected 201, got 202"
    assert lines[1].startswith(".conversationId: expected 'x', got '")
    assert lines[2].startswith('response 202: {"conversationId":')
    assert [s.status for s in result.steps] == ["failed", "skipped", "skipped"]
    assert "  SKIP  steps[1]" in render(result)


async def test_none_expected_but_one_arrived() -> None:
    text = GREET + "  - expect_webhook: {match: {eventType: ACTIVITY}, count: 0, within: 30, ordered: false}\n"
    text = text.replace("do: [{after: 3, agent: join},", "do: [{after: 3, agent: join}, {agent: typing},")
    result = await run_text(text)
    step = result.failed_step()
    assert step is not None
    assert step.index == 3
    assert step.message is not None
    assert step.message.startswith("1 matching webhook(s) arrived within 30s where none may")
    assert [m.note for m in step.near_misses] == ["arrived, but none was expected"]


async def test_an_unknown_variable_names_the_known_ones() -> None:
    text = GREET + "  - request: {method: GET, path: '{{api}}/conversations/{{conversation}}'}\n"
    result = await run_text(text)
    step = result.failed_step()
    assert step is not None
    assert step.message is not None
    known = "(known: api, api_key, channel_id, client_auth, conv,"
    assert step.message.startswith(f"unknown variable {{{{conversation}}}} {known}")


async def test_an_actor_error_fails_the_scenario_with_its_rule_line_and_time() -> None:
    text = GREET.replace(
        '{after: 1, agent: say, text: "Hi {user}, this is {agent}."}', "{after: 1, agent: transfer, queue: '999'}"
    )
    text = text.replace(
        '  - expect_webhook: {match: {eventType: MESSAGE, data: {text: "Hi Ann, this is Jane."}}, within: 5}\n',
        "  - advance: 5\n",
    )
    result = await run_text(text)
    assert result.status == "failed"
    assert [s.status for s in result.steps] == ["passed", "passed", "passed"]
    [err] = result.actor_errors
    assert (err.rule, err.action, err.line, round(err.at - result.started_at, 3)) == (0, 1, 10, 4.2)
    assert err.message.startswith("agent transfer queue=999 on conversation ")
    assert "actors[0].do[1] at t+4.200s" in render(result)


async def test_setup_errors_are_reported_not_raised() -> None:
    text = GREET.replace("  behaviour: {auto: false}\n", "  behaviour: {auto: false}\n  webhook: ftp://nowhere\n")
    result = await run_text(text, "greet.yaml")
    assert result.status == "error"
    assert result.error == "greet.yaml:5: setup: webhook: 'ftp://nowhere' is not an http(s) URL"
    assert "ERR" in render(result)


async def test_junit_xml_has_one_case_per_file_with_the_failure() -> None:
    good = await run_text(GREET, "good.yaml")
    bad = await run_text(
        GREET.replace(
            "within: 5}\n  - expect_webhook: {match: {eventType: MESSAGE",
            "within: 1}\n  - expect_webhook: {match: {eventType: MESSAGE",
            1,
        ).replace("after: 3,", "after: 30,"),
        "bad.yaml",
    )
    root = ET.fromstring(junit([good, bad]))
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("2", "1", "0")
    cases = root.findall("./testsuite/testcase")
    assert [c.get("file") for c in cases] == ["good.yaml", "bad.yaml"]
    assert cases[0].find("failure") is None
    failure = cases[1].find("failure")
    assert failure is not None
    assert failure.get("message", "").startswith("steps[1] (line 17) expect_webhook MEMBERS_CHANGED within 1s: 0 of 1")
    assert "near misses" in (failure.text or "")


def test_cli_prints_the_report_and_writes_junit(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(GREET.replace("Hi Ann, this is Jane.", "Hello Ann"), encoding="utf-8")
    out = tmp_path / "report" / "junit.xml"
    done = cli("scenario", "run", str(bad), "--junit", str(out))
    assert done.returncode == 1, done.stderr
    assert "  FAIL  steps[2]  line 18" in done.stdout
    assert ".data.text: expected 'Hello Ann', got 'Hi Ann, this is Jane.'" in done.stdout
    assert done.stdout.rstrip().splitlines()[-1].startswith("FAILED: 0 passed, 1 failed;")
    assert ET.parse(out).getroot().get("failures") == "1"


# -- headers and near misses say what is there -------------------------------------------------------------


def test_a_file_that_never_loaded_has_no_made_up_vendor_or_tenant(tmp_path: Path) -> None:
    head = render(error_result(str(tmp_path / "x.yaml"), "x.yaml:1: bad")).splitlines()[0]
    assert head == f"ERR x  ({tmp_path / 'x.yaml'})"
    known = render(error_result("a.yaml", "boom", name="A", vendor="sangoma", tenant="a")).splitlines()[0]
    assert known == "ERR A  (a.yaml; vendor sangoma, tenant a, seed 0)"


def test_a_missing_key_lists_the_keys_that_are_there() -> None:
    body = {"data": {"id": 1, "name": "x" * 300, "sender": {"type": "contact", "bio": "y" * 300}}}
    assert subset_mismatches({"data": {"sender": {"email": "a@b"}}}, body) == [
        ".data.sender.email: missing (.data.sender has keys type, bio)"
    ]
    assert subset_mismatches({"data": {"sender": "jane"}}, body) == [
        ".data.sender: expected 'jane', got an object with keys type, bio"
    ]
    assert subset_mismatches({"data": {"id": 2}}, body) == [".data.id: expected 2, got 1"]
    with pytest.raises(ScenarioError, match=r"^\.data has no 'senders' \(keys id, name, sender\)$"):
        get_path(body, "data.senders.id")
