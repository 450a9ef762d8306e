"""A scenario file that is not valid fails before it runs, naming the file, the line and the step at fault."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.cli import main
from emulator.scenarios.errors import LoadError
from emulator.scenarios.loader import load_file
from emulator.scenarios.schema import AdvanceStep, ExpectWebhookStep, RequestStep
from tests.scenarios.conftest import GREET, cli, load, plugins

HEAD = "name: broken\nvendor: eightbyeight\n"


def problems(text: str, source: str = "bad.yaml") -> list[str]:
    with pytest.raises(LoadError) as info:
        load(text, source)
    return str(info.value).splitlines()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (  # a wrong type deep in a step: file:line: steps[i].kind.field
            "steps:\n  - advance: 5\n  - expect_webhook:\n      match: {eventType: QUEUED}\n      within: soon\n",
            "bad.yaml:7: steps[1].expect_webhook.within: Input should be a valid number, unable to parse string as a "
            "number",
        ),
        (  # out of range
            "steps:\n  - advance: -3\n",
            "bad.yaml:4: steps[0].advance: Input should be greater than or equal to 0",
        ),
        (  # an unknown step kind lists the ones there are
            "steps:\n  - advance: 1\n  - expect_webhok: {}\n",
            "bad.yaml:5: steps[1]: unknown step kind 'expect_webhok'; expected one of: request, expect_webhook, "
            "advance, wait_until_idle, behaviour, agent, customer",
        ),
        (  # two kinds in one step
            "steps:\n  - {agent: say, text: hi, customer: leave}\n",
            "bad.yaml:4: steps[0]: a step has one kind, got agent and customer",
        ),
        (  # a typo'd key is not silently ignored
            "steps:\n  - request: {method: GET, path: /x, expct: {status: 200}}\n",
            "bad.yaml:4: steps[0].request.expct: unknown key (not allowed here)",
        ),
        (  # a missing required field
            "steps:\n  - request:\n      path: /x\n",
            "bad.yaml:4: steps[0].request.method: Field required",
        ),
        (  # a vendor action's own rule
            "steps:\n  - {agent: transfer, conversation: c1}\n",
            "bad.yaml:4: steps[0].agent: agent transfer needs `queue`",
        ),
        (  # an unknown event in an actor rule
            "actors:\n  - when: {event: QUEUD}\n    do: [{agent: join}]\n",
            "bad.yaml:4: actors[0].when.event: Input should be 'CONVERSATION_UPDATE'",
        ),
        (  # an unknown action kind in an actor rule
            "actors:\n  - when: {event: QUEUED}\n    do:\n      - {after: 1, agent: join}\n"
            "      - {after: 2, robot: dance}\n",
            "bad.yaml:7: actors[0].do[1]: unknown action kind 'after'; expected one of: agent, customer",
        ),
        (  # the vendor's setup model
            "setup:\n  queues:\n    - {id: '1', name: A, agents: [{capacity: 0}]}\n",
            "bad.yaml:5: setup.queues[0].agents[0].capacity: Input should be greater than or equal to 1",
        ),
        (  # a duplicate key
            "seed: 1\nseed: 2\n",
            "bad.yaml:4: seed: duplicate key",
        ),
    ],
)
def test_each_broken_file_names_file_line_and_step(body: str, expected: str) -> None:
    found = problems(HEAD + body)
    assert found[0].startswith(expected), found


def test_every_problem_is_listed_with_its_own_line() -> None:
    text = HEAD + "steps:\n  - advance: -1\n  - advance: 2\n  - expect_webhook: {count: -1, within: x}\n"
    assert problems(text) == [
        "bad.yaml:4: steps[0].advance: Input should be greater than or equal to 0",
        "bad.yaml:6: steps[2].expect_webhook.within: Input should be a valid number, unable to parse string as a "
        "number",
        "bad.yaml:6: steps[2].expect_webhook.count: Input should be greater than or equal to 0",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: x\nvendor: nope\n", "bad.yaml:2: vendor: 'nope' unknown vendor (one of: cmcom, eightbyeight"),
        ("name: x\n", "bad.yaml:1: vendor: required: the vendor's slug, one of: cmcom, eightbyeight"),
        ("name: x\nvendor: eightbyeight\nsteps: [\n", "bad.yaml:4: not valid YAML: while parsing a flow node"),
        ("- just\n- a list\n", "bad.yaml:1: a scenario is a mapping (name, vendor, setup, ...)"),
        ("vendor: eightbyeight\n", "bad.yaml:1: name: Field required"),
    ],
)
def test_file_level_problems(text: str, expected: str) -> None:
    assert problems(text)[0].startswith(expected), problems(text)


def test_unknown_vendor_is_marked_for_a_404() -> None:
    with pytest.raises(LoadError) as info:
        load("name: x\nvendor: nope\n")
    assert info.value.problems[0].code == "unknown_vendor"


def test_a_valid_file_loads_into_typed_steps_with_their_lines() -> None:
    loaded = load(GREET)
    assert [type(s) for s in loaded.steps] == [RequestStep, ExpectWebhookStep, ExpectWebhookStep]
    assert loaded.line("steps", 0) == 12
    assert loaded.line("steps", 2, "expect_webhook", "match") == 18
    assert loaded.line("actors", 0, "do", 1) == 10
    steps = load(HEAD + "steps:\n  - advance: 2.5\n  - wait_until_idle:\n").steps
    assert isinstance(steps[0], AdvanceStep)
    assert steps[0].advance == 2.5


def test_json_is_accepted_too() -> None:
    loaded = load('{"name": "j", "vendor": "eightbyeight", "steps": [{"advance": 1}]}')
    assert loaded.model.name == "j"


def test_unreadable_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="cannot read"):
        load_file(tmp_path / "missing.yaml", plugins())
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(LoadError, match="not UTF-8"):
        load_file(latin, plugins())


def test_the_cli_reports_a_broken_file_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text(HEAD + "steps:\n  - advance: 5\n  - expect_webhook: {within: soon}\n", encoding="utf-8")
    done = cli("scenario", "run", str(bad))
    assert done.returncode == 1, done.stderr
    assert f"{bad}:5: steps[1].expect_webhook.within: Input should be a valid number" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_cli_usage_errors_exit_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for args, message in [
        (("scenario", "run", str(tmp_path / "nope.yaml")), f"scenario {tmp_path / 'nope.yaml'}: no such file"),
        (("scenario", "run", str(tmp_path)), f"scenario {tmp_path}: no .yaml files in this folder"),
        (("scenario", "run", "scenarios", "--seed", "-4"), "--seed: must be a whole number >= 0"),
        (("scenario", "run"), "the following arguments are required: FILE"),
    ]:
        try:
            status = main(list(args))
        except SystemExit as exc:
            status = exc.code
        err = capsys.readouterr().err
        assert status == 2, (args, err)
        assert err.count("\n") == 1, err
        assert message in err, err


def test_serve_refuses_a_broken_scenario_at_start(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text(HEAD + "steps:\n  - advance: x\n", encoding="utf-8")
    done = cli("serve", "--port", "0", "--scenario", str(bad), timeout=60)
    assert done.returncode == 2
    assert done.stderr == f"cxemu: error: --scenario {bad}:4: steps[0].advance: Input should be a valid number, " \
        "unable to parse string as a number\n"  # fmt: skip
