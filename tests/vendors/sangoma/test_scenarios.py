"""The Sangoma scenario library has what the issue asks for, and scenario actions fail with a clear reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.scenarios.standalone import run_path
from emulator.vendors import sangoma

LIBRARY = Path(__file__).resolve().parents[3] / "scenarios" / "sangoma"


def test_the_library_has_the_five_scenarios() -> None:
    stems = {p.stem for p in LIBRARY.glob("*.yaml")}
    for topic in ("bot_answers_then_delivers", "self_widget", "scope_denied", "queue_callback", "reopened"):
        assert any(topic in s for s in stems), topic


@pytest.mark.parametrize(
    ("step", "reason"),
    [
        ("{agent: say, text: hi}", "which conversation?"),
        ("{call: answer}", "which call?"),
        ("{customer: say, text: hi, conversation: 42}", "Resource could not be found"),
        ("{call: hang_up, call_id: nope}", "Call nope was not found."),
    ],
    ids=["no-conversation", "no-call", "unknown-conversation", "unknown-call"],
)
async def test_a_bad_action_fails_its_step_with_the_reason(tmp_path: Path, step: str, reason: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(f"name: bad\nvendor: sangoma\nsteps:\n  - {step}\n", encoding="utf-8")
    result = await run_path(path, plugins=[sangoma.PLUGIN])
    assert not result.passed
    assert any(reason in (s.message or "") for s in result.steps), [s.message for s in result.steps]
