"""`test_timing.py` under pytest-xdist against ONE shared `cxemu serve --clock virtual`.

The workers' tests move time at once on the same server (`--cxemu-url`), each on its own tenant's timeline.
Both runs (`-n 4`, then `-n 8`) use the same server and the same tenant names (they come from the test ids):
the plugin's reset at the start of each test puts the tenant's timeline back at the virtual start, so the
second run sees the same instants as the first. This costs a child pytest per run (workers start in a few
seconds each); the 10-runs-in-a-row check is a loop over this file, not part of `make test`.

On a loaded machine (a shared CI host at a load of 20 and more) a run takes many times longer than on a quiet one:
the child is waited for as long as it makes progress (`run_child`: killed only after `QUIET` seconds without a
line or a test's dot), never by a deadline on the whole run, and the test's own time limit is sized for that.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator

import pytest

from tests.support.procs import ROOT, ServerProcess, run_child

pytestmark = pytest.mark.server

MODULE = "tests/timing/test_timing.py"
UNUSED_PLUGINS = ("schemathesis", "hypothesispytest", "faker", "anyio", "cacheprovider")
"""Not loaded by the child runs: every worker would import them (seconds each on a busy machine). Nor is the suite's
`tests/conftest.py` (`--noconftest`): the timing module needs only the cxemu plugin's fixtures, and the conftest's
imports (the whole app, hypothesis) were three quarters of a worker's start (`-n 8`: 32.9 s of CPU -> 8.2 s)."""
LIMIT = 900
"""pytest-timeout's limit for one run (the project's default is 180 s): a run takes 10-30 s on a machine at a load
of 8 and several times that at 20; a hung child fails sooner, after `QUIET` seconds without output."""


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    log = tmp_path_factory.mktemp("shared") / "stderr.log"
    server = ServerProcess("--port", "0", "--clock", "virtual", "--no-webhook-log", log=log)
    try:
        yield server
    finally:
        server.terminate()


@pytest.mark.timeout(LIMIT)
@pytest.mark.parametrize("workers", [4, 8])
def test_the_timing_module_passes_in_parallel_against_one_shared_server(shared: ServerProcess, workers: int) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CXEMU_", "PYTEST_"))}
    lean = [arg for name in UNUSED_PLUGINS for arg in ("-p", f"no:{name}")]
    args = ["-n", str(workers), "--cxemu-url", shared.url, "-q", "--noconftest", *lean, MODULE]
    done = run_child([sys.executable, "-m", "pytest", *args], cwd=ROOT, env=env)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    passed = re.search(r"(\d+) passed", done.stdout)
    assert passed is not None, out
    assert int(passed.group(1)) >= 32, out
    assert "failed" not in done.stdout, out
