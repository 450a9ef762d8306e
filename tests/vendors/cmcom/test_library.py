"""The CM.com scenario library has what the issue asks for (each file also runs as a test: tests/scenarios)."""

from __future__ import annotations

from pathlib import Path

import yaml

LIBRARY = Path(__file__).resolve().parents[3] / "scenarios" / "cmcom"


def test_the_library_covers_the_routing_stories() -> None:
    stems = {p.stem for p in LIBRARY.glob("*.yaml")}
    for topic in ("hand_over", "take_over", "hand_back_with_position", "team_routing_by_context", "reset"):
        assert any(topic in s for s in stems), topic


def test_every_scenario_is_a_cmcom_scenario() -> None:
    for path in sorted(LIBRARY.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert doc["vendor"] == "cmcom", path.name
        assert doc["steps"], path.name
