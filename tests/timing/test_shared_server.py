"""`test_timing.py` under pytest-xdist against ONE shared `cxemu serve --clock virtual`.

The workers' tests move time at once on the same server (`--cxemu-url`), each on its own tenant's timeline.
Both runs (`-n 4`, then `-n 8`) use the same server and the same tenant names (they come from the test ids):
the plugin's reset at the start of each test puts the tenant's timeline back at the virtual start, so the
second run sees the same instants as the first. This costs a child pytest per run (workers start in a few
seconds each); the 10-runs-in-a-row check is a loop over this file, not part of `make test`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.support.procs import ROOT, ServerProcess

pytestmark = pytest.mark.server

MODULE = "tests/timing/test_timing.py"
UNUSED_PLUGINS = ("schemathesis", "hypothesispytest", "faker", "anyio", "cacheprovider")
"""Not loaded by the child runs: every worker would import them (seconds each on a busy machine)."""


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    log = tmp_path_factory.mktemp("shared") / "stderr.log"
    server = ServerProcess("--port", "0", "--clock", "virtual", "--no-webhook-log", log=log)
    try:
        yield server
    finally:
        server.terminate()


@pytest.mark.parametrize("workers", [4, 8])
def test_the_timing_module_passes_in_parallel_against_one_shared_server(shared: ServerProcess, workers: int) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CXEMU_", "PYTEST_"))}
    lean = [arg for name in UNUSED_PLUGINS for arg in ("-p", f"no:{name}")]
    args = ["-n", str(workers), "--cxemu-url", shared.url, "-q", *lean, MODULE]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=170
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    passed = re.search(r"(\d+) passed", done.stdout)
    assert passed is not None, out
    assert int(passed.group(1)) >= 32, out
    assert "failed" not in done.stdout, out
