"""The benchmark's floor rows (bench/bare_app.py's `/floor/...` routes): started as `bench/run.py` starts them,
they answer as the cxemu rows they stand under and their webhooks arrive, counted as the harness counts them.
No timing is asserted: `bench/` measures, tests check behaviour."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import harness  # noqa: E402
from harness import LoadSpec, Proc, Procs, Receiver, fill  # noqa: E402
from measure import floor_sent  # noqa: E402
from report import floor_table  # noqa: E402
from rows import build_rows, floor_sanity, start_servers  # noqa: E402
from vendors import (  # noqa: E402
    CM_SANITY_TENANT,
    FLOOR_CM_PATH,
    FLOOR_HOOK_BYTES,
    FLOOR_HOOKS,
    FLOOR_MESSAGE_PATH,
    MESSAGE_BODY,
    cm_body,
    cm_token,
)
from wiremock import RUN_HEADER  # noqa: E402

pytestmark = pytest.mark.server

FLOOR = {"bare-post", "bare-post-webhook", "bare-post-2webhooks"}


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Proc]]:
    """The receiver and the bare app, unpinned (a test shares the machine), stopped by their process groups; their
    logs under the test's temp dir, not bench/results."""
    procs = Procs(pin=False)
    work = tmp_path_factory.mktemp("floor")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(harness, "RESULTS", work)
        try:
            yield start_servers(procs, FLOOR, work)
        finally:
            procs.stop_all()


@pytest.mark.parametrize(
    ("row", "path", "body", "status"),
    [
        ("bare-post-webhook", FLOOR_MESSAGE_PATH, MESSAGE_BODY, 202),
        ("bare-post-2webhooks", FLOOR_CM_PATH, cm_body(cm_token(CM_SANITY_TENANT)), 200),
    ],
)
def test_one_request_fires_its_webhooks(servers: dict[str, Proc], row: str, path: str, body: str, status: int) -> None:
    """The harness's own pre-flight check: one request, the answer's status, exactly its webhooks and bytes."""
    found = floor_sanity(servers["bare"].port, Receiver(servers["receiver"]), row, path, body, status)
    assert found == {"received": FLOOR_HOOKS[row], "bytes": FLOOR_HOOK_BYTES[row], "sent": 1}


@pytest.mark.parametrize("name", ["bare-post-webhook", "bare-post-2webhooks"])
def test_a_burst_is_counted_whole(servers: dict[str, Proc], name: str) -> None:
    """Many requests over many keep-alive connections (bench/loadgen.py, as a measured run sends them): the app's
    own count is every request, and every webhook arrives, whole, under the run's own path."""
    receiver = Receiver(servers["receiver"])
    row = next(r for r in build_rows(servers, {}, FLOOR) if r.name == name)
    run = f"burst-{name}"
    fill(LoadSpec(row.server.port, row.method, row.path, {RUN_HEADER: run}, row.body), 300, False, conns=16)
    assert floor_sent(row.server.port, run) == 300
    got, _ = receiver.wait_for(run, 300 * row.hooks, time.time(), 120.0, stall=30.0)
    assert got == 300 * row.hooks
    assert receiver.entry(run)["bytes"] == 300 * FLOOR_HOOK_BYTES[name]


def test_the_report_sets_cxemu_against_its_floor() -> None:
    """`bench/run.py`'s table: cxemu ÷ floor, floor ÷ WireMock and the CPU per request 2x WireMock would allow."""

    def line(row: str, sustained: float, cpu: float) -> dict[str, Any]:
        return {"row": row, "conns": 64, "sustained_per_s": sustained, "cpu_us_per_request": cpu}

    summary = [
        line("8x8-post-message-unsigned", 4000.0, 240.0),
        line("bare-post-webhook", 8000.0, 120.0),
        line("wiremock-post-webhook", 3500.0, 280.0),
    ]
    table = floor_table({"summary": summary, "connections": [64]})
    row = next(t for t in table if t.startswith("| 64 | 8x8-post-message-unsigned"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[7:] == ["0.50", "2.00", "+120", "2.29x", "143"]
    assert not any("cmcom-post-message" in t for t in table)  # no floor measured for it: no line
