"""Settings (CLI > env > YAML > defaults, errors naming the culprit) and the `cxemu` command as a user runs it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from emulator.core.clock import DEFAULT_VIRTUAL_START
from emulator.core.contracts import to_yaml
from emulator.core.control import control_contract
from emulator.core.errors import ConfigError
from emulator.settings import Settings

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
    ids=["env-iso-z", "env-iso-offset", "env-iso-naive-is-utc", "env-epoch", "env-epoch-fraction", "yaml-iso", "yaml-epoch", "default"],
)
def test_virtual_start_accepts_iso_and_epoch(tmp_path: Path, source: str, value: str, expected: float) -> None:
    env: dict[str, str] = {}
    if source == "env":
        env["CXEMU_VIRTUAL_START"] = value
    elif source == "yaml":
        env["CXEMU_CONFIG"] = str(write(tmp_path / "c.yaml", f"virtual_start: {value}\n"))
    assert Settings.load(env).virtual_start == expected


# -- the command ------------------------------------------------------------------------------------------


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXEMU_")}
    env.update(extra)
    return env


def cxemu(*args: str, env: Mapping[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "emulator", *args],
        cwd=cwd,
        env=dict(env) if env is not None else clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_usage_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """Exit 2 with exactly one line on stderr (no traceback) naming what is wrong."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cxemu: error: "), lines[0]
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "cxemu 0.1.0 on" not in result.stdout  # it never got as far as serving


def test_version_prints_the_version() -> None:
    result = cxemu("version")
    assert (result.returncode, result.stdout, result.stderr) == (0, "cxemu 0.1.0\n", "")


@pytest.mark.parametrize(
    ("args", "env", "fragments"),
    [
        (["serve", "--port", "abc"], {}, ["--port"]),
        (["serve", "--clock", "weird"], {}, ["--clock", "system", "virtual"]),
        (["serve", "--config", "missing.yaml"], {}, ["missing.yaml", "cannot read"]),
        (["serve", "--bogus"], {}, ["--bogus"]),
        (["frobnicate"], {}, ["frobnicate"]),
        (["serve"], {"CXEMU_SEED": "-1"}, ["CXEMU_SEED"]),
        (["serve"], {"CXEMU_FOO": "1"}, ["CXEMU_FOO", "unknown setting"]),
        (["serve", "--plugin", "nope:X"], {}, ["plugins", "nope:X"]),
        (["serve", "--plugin", "tests.support.echo_vendor:SLUG"], {}, ["plugins", "not a VendorPlugin"]),
    ],
    ids=[
        "port-not-a-number",
        "unknown-clock",
        "missing-config",
        "unknown-option",
        "unknown-command",
        "negative-seed-env",
        "unknown-env",
        "unknown-plugin",
        "not-a-plugin",
    ],
)
def test_bad_serve_options_exit_2_with_one_line(args: list[str], env: dict[str, str], fragments: list[str]) -> None:
    assert_usage_error(cxemu(*args, env=clean_env(**env)), *fragments)


def test_a_bad_yaml_config_exits_2_naming_file_and_line(tmp_path: Path) -> None:
    config = write(tmp_path / "bad.yaml", "port: 1\nclock: [virtual\n")
    assert_usage_error(cxemu("serve", "--config", str(config)), f"{config}:3", "not valid YAML")


def test_a_port_already_in_use_exits_2_naming_the_port() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = cxemu("serve", "--port", str(port), "--host", "127.0.0.1")
    assert_usage_error(result, f"--port {port}", "cannot listen")


def test_contracts_check_passes_against_the_checked_in_contracts() -> None:
    result = cxemu("contracts", "export", "--check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_contracts_check_fails_on_a_modified_contract_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "contracts"
    shutil.copytree(ROOT / "contracts", out)
    target = out / "control-plane.openapi.yaml"
    modified = target.read_text(encoding="utf-8").replace("cxemu control plane", "someone else's control plane")
    target.write_text(modified, encoding="utf-8")
    result = cxemu("contracts", "export", "--check", "--out", str(out))
    assert result.returncode == 1, result.stdout + result.stderr
    assert str(target) in result.stdout
    assert "cxemu contracts export" in result.stdout
    assert target.read_text(encoding="utf-8") == modified


def test_contracts_export_writes_the_control_plane_contract(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = cxemu("contracts", "export", "--out", str(out))
    assert result.returncode == 0, result.stderr
    written = out / "control-plane.openapi.yaml"
    assert f"wrote {written}" in result.stdout.splitlines()
    assert written.read_text(encoding="utf-8") == to_yaml(control_contract())
    assert cxemu("contracts", "export", "--check", "--out", str(out)).returncode == 0
