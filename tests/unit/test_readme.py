"""The README's configuration examples are valid configuration: a reader can paste them as they are."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from emulator.core.settings import Settings
from emulator.vendors import VENDORS

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCKS = re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
PLUGINS = {p.slug: p for p in VENDORS}


def test_the_readme_shows_a_configuration_example_for_every_vendor() -> None:
    shown = {slug for block in BLOCKS for slug in (yaml.safe_load(block).get("vendors") or {})}
    assert shown == set(PLUGINS)


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_each_yaml_example_in_the_readme_is_a_valid_config_file(block: str) -> None:
    data = yaml.safe_load(block)
    Settings.load({}, data)
    for slug, section in (data.get("vendors") or {}).items():
        model = PLUGINS[slug].config_model
        assert model is not None
        model.model_validate(section)
