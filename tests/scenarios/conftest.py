"""Helpers for scenario-engine tests: load and run scenario text in-process with the built-in vendors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from emulator.app import load_plugins
from emulator.core.plugin import VendorPlugin
from emulator.core.settings import Settings
from emulator.scenarios.loader import LoadedScenario, load_text
from emulator.scenarios.results import ScenarioResult
from emulator.scenarios.standalone import run_loaded

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "scenarios"
LIBRARY_FILES = sorted(LIBRARY.glob("*/*.yaml"))


def plugins() -> dict[str, VendorPlugin]:
    return {p.slug: p for p in load_plugins(Settings())}


def load(text: str, source: str = "t.yaml") -> LoadedScenario:
    return load_text(text, source, plugins())


async def run_text(text: str, source: str = "t.yaml", **kwargs: Any) -> ScenarioResult:
    return await run_loaded(load(text, source), plugins=list(plugins().values()), **kwargs)


def cli(*args: str, cwd: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`python -m emulator ...` (the `cxemu` command) as a user runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXEMU_")}
    return subprocess.run(
        [sys.executable, "-m", "emulator", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


# A small, fast scenario used by several tests: one queue, one scripted agent.
GREET = """\
name: greet
vendor: eightbyeight
seed: 1
tenant: greet
setup:
  queues: [{id: "123", name: Support, agents: [{id: ag-jane, name: Jane Doe}]}]
  behaviour: {auto: false}
actors:
  - when: {event: QUEUED}
    do: [{after: 3, agent: join}, {after: 1, agent: say, text: "Hi {user}, this is {agent}."}]
steps:
  - request:
      method: POST
      path: "{{api}}/conversations"
      json: {channelId: "{{channel_id}}", user: {name: Ann Lee}}
      save: {conv: conversationId}
  - expect_webhook: {match: {eventType: MEMBERS_CHANGED, data: {change: joined}}, within: 5}
  - expect_webhook: {match: {eventType: MESSAGE, data: {text: "Hi Ann, this is Jane."}}, within: 5}
"""
