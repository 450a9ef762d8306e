"""Settings (CLI > env > YAML > defaults, errors naming the culprit) and the `cxemu` command as a user runs it."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from emulator.app import control_contract
from emulator.cli import main
from emulator.core.clock import DEFAULT_VIRTUAL_START
from emulator.core.contracts import to_yaml
from emulator.core.errors import ConfigError
from emulator.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# -- Settings.load ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("use_yaml", "env", "cli", "expected_port"),
    [
        (False, {}, {}, 8080),
        (True, {}, {}, 1111),
        (True, {"CXEMU_PORT": "2222"}, {}, 2222),
        (True, {"CXEMU_PORT": "2222"}, {"port": "3333"}, 3333),
        (False, {"CXEMU_PORT": "2222"}, {"port": 3333}, 3333),
        (True, {"CXEMU_PORT": ""}, {"port": None}, 1111),
    ],
    ids=["defaults", "yaml-over-defaults", "env-over-yaml", "cli-over-env", "cli-over-env-no-yaml", "blank-is-unset"],
)
def test_settings_precedence_is_cli_then_env_then_yaml_then_defaults(
    tmp_path: Path, use_yaml: bool, env: dict[str, str], cli: dict[str, Any], expected_port: int
) -> None:
    config = write(tmp_path / "cxemu.yaml", "port: 1111\nseed: 5\n")
    overrides = {**cli, "config": str(config) if use_yaml else None}
    settings = Settings.load(env, overrides)
    assert settings.port == expected_port
    assert settings.seed == (5 if use_yaml else 0)  # keys a higher layer does not set still come from below


def test_the_config_file_can_be_named_by_the_environment(tmp_path: Path) -> None:
    config = write(tmp_path / "cxemu.yaml", "clock: virtual\nwebhooks:\n  echo:\n    retry_ladder: [1, 2]\n")
    settings = Settings.load({"CXEMU_CONFIG": str(config)})
    assert settings.clock == "virtual"
    assert settings.webhooks["echo"].retry_ladder == (1.0, 2.0)


@pytest.mark.parametrize(
    ("env", "overrides", "message_start"),
    [
        ({"CXEMU_PORT": "abc"}, {}, "CXEMU_PORT: "),
        ({"CXEMU_PORT": "70000"}, {}, "CXEMU_PORT: "),
        ({"CXEMU_SEED": "-1"}, {}, "CXEMU_SEED: "),
        ({"CXEMU_CLOCK": "weird"}, {}, "CXEMU_CLOCK: "),
        ({"CXEMU_FOO": "1"}, {}, "CXEMU_FOO: unknown setting"),
        ({}, {"port": "abc"}, "--port: "),
        ({}, {"webhook_url": "ftp://example.com/hook"}, "--webhook-url: "),
        ({"CXEMU_WEBHOOK_URL": "example.com/hook"}, {}, "CXEMU_WEBHOOK_URL: "),
        ({}, {"virtual_start": "not a date"}, "--virtual-start: "),
    ],
    ids=[
        "env-port-not-a-number",
        "env-port-out-of-range",
        "env-negative-seed",
        "env-clock",
        "env-unknown",
        "cli-port",
        "cli-webhook-url-scheme",
        "env-webhook-url-no-scheme",
        "cli-virtual-start",
    ],
)
def test_a_bad_value_names_the_variable_or_flag(
    env: dict[str, str], overrides: dict[str, Any], message_start: str
) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.load(env, overrides)
    assert str(info.value).startswith(message_start), str(info.value)
    assert "\n" not in str(info.value)


def test_a_valid_webhook_url_is_kept() -> None:
    assert Settings.load({"CXEMU_WEBHOOK_URL": "https://example.com/hook"}).webhook_url == "https://example.com/hook"


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("port: 1\nseed: [1\n", [":3", "not valid YAML"]),
        ("port: 1\nbogus: 2\n", ["bogus: unknown setting"]),
        ("- port\n", ["top level must be a mapping"]),
        ("webhooks:\n  echo:\n    retry_ladder: [1, soon]\n", ["webhooks.echo.retry_ladder"]),
        ("webhooks:\n  echo:\n    backoff: 2\n", ["webhooks.echo.backoff"]),
        ("port: many\n", [": port: "]),
    ],
    ids=["bad-yaml", "unknown-key", "not-a-mapping", "retry-ladder-type", "unknown-webhook-key", "port-type"],
)
def test_a_bad_config_file_is_named_with_the_key_or_line(tmp_path: Path, text: str, fragments: list[str]) -> None:
    config = write(tmp_path / "bad.yaml", text)
    with pytest.raises(ConfigError) as info:
        Settings.load({}, {"config": str(config)})
    message = str(info.value)
    assert str(config) in message
    for fragment in fragments:
        assert fragment in message, message


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.yaml: cannot read"):
        Settings.load({}, {"config": str(tmp_path / "missing.yaml")})


@pytest.mark.parametrize(
    ("source", "value", "expected"),
    [
        ("env", "2026-02-01T00:00:00Z", 1_769_904_000.0),
        ("env", "2026-02-01T01:00:00+01:00", 1_769_904_000.0),
        ("env", "2026-02-01T00:00:00", 1_769_904_000.0),
        ("env", "1769904000", 1_769_904_000.0),
        ("env", "1769904000.5", 1_769_904_000.5),
        ("yaml", "2026-02-01T00:00:00Z", 1_769_904_000.0),
        ("yaml", "1769904000", 1_769_904_000.0),
        ("default", "", DEFAULT_VIRTUAL_START),
    ],
    ids=[
        "env-iso-z",
        "env-iso-offset",
        "env-iso-naive-is-utc",
        "env-epoch",
        "env-epoch-fraction",
        "yaml-iso",
        "yaml-epoch",
        "default",
    ],
)
def test_virtual_start_accepts_iso_and_epoch(tmp_path: Path, source: str, value: str, expected: float) -> None:
    env: dict[str, str] = {}
    if source == "env":
        env["CXEMU_VIRTUAL_START"] = value
    elif source == "yaml":
        env["CXEMU_CONFIG"] = str(write(tmp_path / "c.yaml", f"virtual_start: {value}\n"))
    assert Settings.load(env).virtual_start == expected


# -- the command ------------------------------------------------------------------------------------------
#
# Each run below is made when its test asks for it (`CliRuns.result`): a module split between two xdist workers
# makes each run once, on the worker that has its test. Those that get as far as building the app (a plugin that
# does not load, a port in use) and `version` are `python -m emulator` children: the command as a user runs it,
# from its entry point to its exit status. The others end in argument parsing, settings or the contracts' export,
# before anything touches the process's logging or sockets: `cli.main` makes them in this process, with the
# child's environment, working folder and streams (a child pays over a second of CPU on imports: twelve of them,
# started at once by each worker, were the module's 34-55 s setup on a loaded machine).


@dataclass(frozen=True)
class Run:
    args: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)


USAGE_ERRORS: list[tuple[str, Run, list[str]]] = [
    ("port-not-a-number", Run(("serve", "--port", "abc")), ["--port"]),
    ("unknown-clock", Run(("serve", "--clock", "weird")), ["--clock", "system", "virtual"]),
    ("missing-config", Run(("serve", "--config", "missing.yaml")), ["missing.yaml", "cannot read"]),
    ("bad-yaml-config", Run(("serve", "--config", "{tmp}/bad.yaml")), ["{tmp}/bad.yaml:3", "not valid YAML"]),
    ("unknown-option", Run(("serve", "--bogus")), ["--bogus"]),
    ("negative-seed-env", Run(("serve",), {"CXEMU_SEED": "-1"}), ["CXEMU_SEED"]),
    ("unknown-plugin", Run(("serve", "--plugin", "nope:X")), ["plugins", "nope:X"]),
    ("port-in-use", Run(("serve", "--host", "127.0.0.1", "--port", "{busy}")), ["--port {busy}", "cannot listen"]),
]
OTHER_RUNS: dict[str, Run] = {
    "version": Run(("version",)),
    "check-repo": Run(("contracts", "export", "--check")),
    "check-modified": Run(("contracts", "export", "--check", "--out", "{tmp}/modified")),
    "export": Run(("contracts", "export", "--out", "{tmp}/out")),
}
RUNS: dict[str, Run] = {name: run for name, run, _ in USAGE_ERRORS} | OTHER_RUNS
CHILDREN = frozenset({"version", "unknown-plugin", "port-in-use"})
"""The runs made as `python -m emulator` children; `cli.main` makes the others in this process."""
MODIFIED_TITLE = "someone else's control plane"


def clean_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXEMU_")}
    env.update(extra)
    return env


@dataclass
class CliRuns:
    """The module's runs, each made once, when first asked for (`result`)."""

    tmp: Path
    busy_port: int
    done: dict[str, subprocess.CompletedProcess[str]] = field(default_factory=dict)

    def fill(self, text: str) -> str:
        return text.format(tmp=self.tmp, busy=self.busy_port)

    def result(self, name: str) -> subprocess.CompletedProcess[str]:
        if name not in self.done:
            run = RUNS[name]
            self.done[name] = self._child(run) if name in CHILDREN else self._here(run)
        return self.done[name]

    def _child(self, run: Run) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "emulator", *(self.fill(a) for a in run.args)],
            cwd=ROOT,
            env=clean_env(run.env),
            capture_output=True,
            text=True,
            timeout=170,  # a hang guard below the suite's 180 s
            check=False,
        )

    def _here(self, run: Run) -> subprocess.CompletedProcess[str]:
        """`cli.main` on the run's arguments as the child would have it: its environment (`clean_env`), the
        project's root as working folder, its own stdout and stderr, and argparse's exit taken as the status."""
        argv = [self.fill(a) for a in run.args]
        out, err = io.StringIO(), io.StringIO()
        with contextlib.ExitStack() as stack:
            stack.enter_context(mock.patch.dict(os.environ, clean_env(run.env), clear=True))
            stack.enter_context(contextlib.chdir(ROOT))
            stack.enter_context(contextlib.redirect_stdout(out))
            stack.enter_context(contextlib.redirect_stderr(err))
            try:
                status = main(argv)
            except SystemExit as exc:
                status = 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 1
        return subprocess.CompletedProcess(["cxemu", *argv], status, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliRuns]:
    """The runs' folder (a config file that is not YAML, a copy of the contracts with one modified) and a port
    kept in use until the module's tests are done."""
    tmp = tmp_path_factory.mktemp("cli")
    write(tmp / "bad.yaml", "port: 1\nclock: [virtual\n")
    shutil.copytree(ROOT / "contracts", tmp / "modified")
    target = tmp / "modified" / "control-plane.openapi.yaml"
    target.write_text(target.read_text(encoding="utf-8").replace("cxemu control plane", MODIFIED_TITLE), "utf-8")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        yield CliRuns(tmp, busy.getsockname()[1])


def test_version_prints_the_version(cli_runs: CliRuns) -> None:
    result = cli_runs.result("version")
    assert (result.returncode, result.stdout, result.stderr) == (0, "cxemu 0.1.0\n", "")


@pytest.mark.parametrize(
    ("name", "fragments"), [(n, f) for n, _, f in USAGE_ERRORS], ids=[n for n, _, _ in USAGE_ERRORS]
)
def test_bad_serve_options_exit_2_with_one_line_naming_the_culprit(
    cli_runs: CliRuns, name: str, fragments: list[str]
) -> None:
    result = cli_runs.result(name)
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cxemu: error: "), lines[0]
    for fragment in fragments:
        assert cli_runs.fill(fragment) in lines[0], lines[0]
    assert "cxemu 0.1.0 on" not in result.stdout  # it never got as far as serving


def test_contracts_check_passes_against_the_checked_in_contracts(cli_runs: CliRuns) -> None:
    result = cli_runs.result("check-repo")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_contracts_check_fails_on_a_modified_contract_and_writes_nothing(cli_runs: CliRuns) -> None:
    result = cli_runs.result("check-modified")
    target = cli_runs.tmp / "modified" / "control-plane.openapi.yaml"
    assert result.returncode == 1, result.stdout + result.stderr
    assert str(target) in result.stdout
    assert "cxemu contracts export" in result.stdout
    assert MODIFIED_TITLE in target.read_text(encoding="utf-8")


def test_contracts_export_writes_the_control_plane_contract(cli_runs: CliRuns) -> None:
    result = cli_runs.result("export")
    assert result.returncode == 0, result.stderr
    written = cli_runs.tmp / "out" / "control-plane.openapi.yaml"
    assert f"wrote {written}" in result.stdout.splitlines()
    assert written.read_text(encoding="utf-8") == to_yaml(control_contract())
