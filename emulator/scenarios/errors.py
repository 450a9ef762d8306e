"""Errors of the scenario engine: a file that does not load, and a step or action that cannot run."""

from __future__ import annotations

from dataclasses import dataclass


class ScenarioError(Exception):
    """A step, action or template could not run; the message says why (never a traceback)."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario file: where (`line`, `path` like `steps[3].expect_webhook.within`) and what."""

    line: int | None
    path: str
    message: str
    code: str = "invalid_scenario"
    """`unknown_vendor` when the file names a vendor that is not served (or has no scenario support)."""

    def render(self, source: str) -> str:
        where = f"{source}:{self.line}" if self.line is not None else source
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class LoadError(ScenarioError):
    """A scenario file that is not valid: every problem with its file, line and step."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(p.render(source) for p in problems))

    @property
    def first(self) -> str:
        return self.problems[0].render(self.source) if self.problems else self.source
