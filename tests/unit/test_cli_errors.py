"""The `cxemu` command's set-up and error paths as a user meets them: usage hints, `--version`, `scenario validate`,
config problems listed with `file:line`, `--host`/`--port` blame, the state file checked at start and on save."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import pytest

from emulator.cli import main
from tests.support.procs import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
GOOD = ROOT / "scenarios"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse's own exits (--version, bad options)
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_a_bare_cxemu_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys)
    assert (code, out) == (2, "")
    assert "commands: serve, scenario, contracts, version" in err


def test_a_bare_subcommand_lists_its_commands(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "scenario")
    assert code == 2
    assert "usage: cxemu scenario COMMAND" in err
    assert "commands: run, validate" in err
    assert "scenario_command" not in err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("serv",), "cxemu: error: unknown command 'serv' (did you mean 'serve'?); commands: serve, scenario,"),
        (
            ("scenario", "rn"),
            "cxemu: error: unknown scenario command 'rn' (did you mean 'run'?); commands: run, validate",
        ),
        (("contracts", "x"), "cxemu: error: unknown contracts command 'x'; commands: export"),
        (("scenario", "validate"), "cxemu: error: the following arguments are required: FILE"),
    ],
    ids=["typo", "nested-typo", "nested-unknown", "missing-file"],
)
def test_usage_errors_never_show_argparse_internals(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...], expected: str
) -> None:
    code, _, err = run(capsys, *args)
    assert code == 2
    assert err.startswith(expected), err
    for internal in ("_command", "{serve", "{run", "dest", "invalid choice"):
        assert internal not in err


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--version") == (0, "cxemu 0.1.0\n", "")


def test_scenario_validate_passes_the_library(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "scenario", "validate", str(GOOD))
    files = sorted(p for p in GOOD.rglob("*.yaml"))
    assert code == 0
    assert out.splitlines()[-1] == f"{len(files)} of {len(files)} scenario files valid"


def test_scenario_validate_lists_every_problem_with_its_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nvendor: nope\n", encoding="utf-8")
    worse = tmp_path / "worse.yaml"
    worse.write_text("name: x\nvendor: echo\nsteps:\n  - frobnicate: 1\n  - {}\n", encoding="utf-8")
    good = next(GOOD.rglob("*.yaml"))
    code, out, _ = run(
        capsys, "scenario", "validate", str(bad), str(good), str(worse), "--plugin", "tests.support.echo_vendor:PLUGIN"
    )
    assert code == 1
    lines = out.splitlines()
    assert any(line.startswith(f"{bad}:2: vendor: 'nope' unknown vendor") for line in lines), out
    assert f"{good}: ok" in lines
    assert lines[-1] == "1 of 3 scenario files valid"


def test_scenario_validate_of_a_missing_file_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "scenario", "validate", "no/such.yaml")
    assert (code, err) == (2, "cxemu: error: scenario no/such.yaml: no such file\n")


def test_every_config_problem_is_listed_with_file_line_and_a_suggestion(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in [k for k in os.environ if k.startswith("CXEMU_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("CXEMU_PROT", "1")
    config = tmp_path / "cxemu.yaml"
    config.write_text("port: many\nsed: 3\nwebhooks:\n  echo:\n    retry_ladr: [1]\n", encoding="utf-8")
    code, _, err = run(capsys, "serve", "--config", str(config))
    assert code == 2
    assert sorted(err.splitlines()) == sorted(
        [
            f"cxemu: error: {config}:2: sed: unknown setting (did you mean 'seed'?)",
            "cxemu: error: CXEMU_PROT: unknown setting (did you mean 'port'?)",
            f"cxemu: error: {config}:1: port: Input should be a valid integer, unable to parse string as an integer",
            f"cxemu: error: {config}:5: webhooks.echo.retry_ladr: unknown setting (did you mean 'retry_ladder'?)",
        ]
    )


def test_a_vendor_config_problem_names_the_file_and_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = tmp_path / "cxemu.yaml"
    text = "vendors:\n  samespace:\n    behaviour:\n      http_timout: 3\n      ring_seconds: -1\n"
    config.write_text(text, encoding="utf-8")
    code, _, err = run(capsys, "serve", "--config", str(config), "--port", "0")
    assert code == 2
    assert f"{config}:4: vendors.samespace.behaviour.http_timout: unknown setting (did you mean 'http_timeout'?)" in err
    assert f"{config}:5: vendors.samespace.behaviour.ring_seconds: " in err


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("nohost.invalid", "cxemu: error: --host nohost.invalid: not an address or a name this machine resolves"),
        ("192.0.2.1", "cxemu: error: --host 192.0.2.1: not an address of this machine"),
    ],
    ids=["unresolvable", "not-local"],
)
def test_host_errors_blame_the_host(capsys: pytest.CaptureFixture[str], host: str, expected: str) -> None:
    code, out, err = run(capsys, "serve", "--host", host, "--port", "0")
    assert code == 2
    assert err.startswith(expected), err
    assert "--port" not in err
    assert "cxemu 0.1.0 on" not in out


@pytest.mark.parametrize(
    ("name", "expected"),
    [("missing/state.json", "the folder {tmp}/missing does not exist"), ("folder", "not a file")],
    ids=["no-folder", "a-folder"],
)
def test_the_state_file_is_checked_at_start(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, expected: str
) -> None:
    (tmp_path / "folder").mkdir()
    code, out, err = run(capsys, "serve", "--port", "0", "--state-file", str(tmp_path / name))
    assert code == 2
    assert err == f"cxemu: error: state file {tmp_path / name}: {expected.format(tmp=tmp_path)}\n"
    assert "cxemu 0.1.0 on" not in out


def test_a_state_file_that_cannot_be_saved_at_shutdown_exits_1(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    server = ServerProcess("--port", "0", "--state-file", str(folder / "s.json"), log=tmp_path / "stderr.log")
    try:
        assert httpx.get(f"{server.url}/_emulator/health", timeout=30).status_code == 200  # started
        shutil.rmtree(folder)  # with the state file saved at start
        folder.write_text("now a file", encoding="utf-8")  # where the folder was: saving must fail
        assert server.terminate() == 1
    finally:
        server.kill()
    assert f"cxemu: error: state file {folder / 's.json'}: cannot save" in server.stderr()
    assert "Traceback" not in server.stderr()
