"""The Node suite (`node/two_tenants.test.mjs`: `node --test`, built-in `fetch`, no npm package) against one
`cxemu serve --clock virtual`: two tenants in parallel, each advancing its own timeline. It runs twice on
the same server and both runs must send the same bodies. Skips when `node` is not on PATH."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.support.procs import ROOT, ServerProcess, run_child

pytestmark = pytest.mark.server

SUITE = ROOT / "tests" / "timing" / "node" / "two_tenants.test.mjs"


@pytest.mark.timeout(600)  # two runs of a few seconds each, many times longer on a loaded machine
def test_a_node_suite_runs_two_tenants_in_parallel_with_identical_bodies_every_run(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not on PATH: the Node suite needs Node 18 or later")
    server = ServerProcess("--port", "0", "--clock", "virtual", "--no-webhook-log", log=tmp_path / "stderr.log")
    try:
        digests = []
        for run in (1, 2):
            digest = tmp_path / f"digest-{run}"
            env = {**os.environ, "CXEMU_URL": server.url, "CXEMU_DIGEST_FILE": str(digest)}
            done = run_child([node, "--test", str(SUITE)], cwd=ROOT, env=env)  # waited for while it makes progress
            assert done.returncode == 0, done.stdout + done.stderr
            assert "# pass 2" in done.stdout, done.stdout
            digests.append(digest.read_text(encoding="utf-8"))
        assert digests[0] == digests[1]
    finally:
        server.terminate()
