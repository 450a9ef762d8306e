"""The README's pytest examples run as they are: each is written to a file and run by pytest in a child process,
with cxemu's plugin loaded from its entry point like in a user's project."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from tests.support.procs import run_child

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = README.read_text(encoding="utf-8").split("## Testing with pytest", 1)[1].split("\n## ", 1)[0]
EXAMPLES = dict(re.findall(r"```python\n# (test_\w+\.py):.*?\n(.*?)```", SECTION, re.S))


def test_there_is_one_example_per_vendor() -> None:
    assert sorted(EXAMPLES) == ["test_cmcom.py", "test_eightbyeight.py", "test_samespace.py", "test_sangoma.py"]


@pytest.mark.server
@pytest.mark.timeout(600)  # a child pytest of a few seconds, many times longer on a loaded machine
def test_every_example_passes(tmp_path: Path) -> None:
    for name, code in EXAMPLES.items():
        (tmp_path / name).write_text(code, encoding="utf-8")
    (tmp_path / "pytest.ini").write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CXEMU_", "PYTEST_"))}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", *EXAMPLES]
    done = run_child(command, cwd=tmp_path, env=env)  # waited for while it makes progress (a hang: killed)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(EXAMPLES)} passed" in done.stdout, done.stdout
