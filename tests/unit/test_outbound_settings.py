"""The outbound settings (issue 18 §2, §3, §5): flags, variables, defaults and bad values."""

from __future__ import annotations

from typing import Any

import pytest

from emulator.cli import _parser, _settings
from emulator.core.errors import ConfigError
from emulator.core.settings import Settings
from tests.conftest import EmulatorFactory


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        ([], {}, None),
        (["--allow-private-targets"], {}, True),
        (["--no-allow-private-targets"], {"CXEMU_ALLOW_PRIVATE_TARGETS": "true"}, False),
        ([], {"CXEMU_ALLOW_PRIVATE_TARGETS": "true"}, True),
    ],
    ids=["unset", "flag", "no-flag-over-env", "env"],
)
def test_allow_private_targets_from_the_command_line_and_the_environment(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], env: dict[str, str], expected: bool | None
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert _settings(_parser().parse_args(["serve", *argv])).allow_private_targets is expected


@pytest.mark.parametrize(
    ("env", "message_start"),
    [
        ({"CXEMU_ALLOW_PRIVATE_TARGETS": "perhaps"}, "CXEMU_ALLOW_PRIVATE_TARGETS: "),
        ({"CXEMU_WEBHOOK_CONCURRENCY_PER_TENANT": "0"}, "CXEMU_WEBHOOK_CONCURRENCY_PER_TENANT: "),
        ({"CXEMU_WEBHOOK_CONCURRENCY_PER_TARGET": "many"}, "CXEMU_WEBHOOK_CONCURRENCY_PER_TARGET: "),
        ({"CXEMU_WEBHOOK_PENDING_LIMIT": "0"}, "CXEMU_WEBHOOK_PENDING_LIMIT: "),
        ({"CXEMU_WEBHOOK_PENDING_PER_TENANT": "-5"}, "CXEMU_WEBHOOK_PENDING_PER_TENANT: "),
        ({"CXEMU_EVENT_LISTENERS": "-1"}, "CXEMU_EVENT_LISTENERS: "),
    ],
)
def test_a_bad_outbound_value_names_its_variable(env: dict[str, str], message_start: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.load(env)
    assert str(info.value).startswith(message_start), str(info.value)


@pytest.mark.parametrize(
    ("settings", "allowed"),
    [
        ({}, True),
        ({"host": "0.0.0.0"}, False),
        ({"host": "::"}, False),
        ({"host": "0.0.0.0", "allow_private_targets": True}, True),
        ({"host": "127.0.0.1", "allow_private_targets": False}, False),
    ],
)
async def test_the_emulator_derives_its_guard_from_the_settings(
    make_emulator: EmulatorFactory, settings: dict[str, Any], allowed: bool
) -> None:
    emu = await make_emulator(webhook_allow_hosts=["hooks.example.com"], **settings)
    assert emu.dispatcher.guard.allow_private is allowed
    assert emu.dispatcher.guard.allow_hosts == frozenset({"hooks.example.com"})
