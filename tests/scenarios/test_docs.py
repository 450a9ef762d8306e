"""The scenario reference is generated from the schema: the checked-in file must match the code."""

from __future__ import annotations

from emulator.app import load_plugins
from emulator.core.settings import Settings
from emulator.scenarios.docs import generate
from tests.scenarios.conftest import LIBRARY


def test_checked_in_reference_matches_the_schema() -> None:
    expected = generate(load_plugins(Settings()))
    actual = (LIBRARY / "README.md").read_text(encoding="utf-8")
    assert actual == expected, "run `python -m emulator.scenarios.docs > scenarios/README.md`"
