"""Scenarios in a fleet (`cxemu serve --state redis:// --workers 2`): every library scenario (all four vendors:
their timers, agent delays, callbacks, retries and checked webhooks) passes whichever worker it is loaded through
and whichever worker is asked for its progress, because a scenario runs on its tenant's owner and its id says
which tenant that is. This is the vendor suite's stated subset for issue 16: it covers every vendor and every kind
of timer and delivery the vendors have."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.fleet.conftest import serve_fleet, workers
from tests.scenarios.conftest import LIBRARY_FILES, ROOT

pytestmark = pytest.mark.server

NAMES = [p.relative_to(ROOT).as_posix() for p in LIBRARY_FILES]
AT_START = "scenarios/eightbyeight/01_queue_agent_chat_end.yaml"


def test_every_library_scenario_passes_through_either_worker_of_a_fleet(tmp_path: Path, redis_url: str) -> None:
    server = serve_fleet(tmp_path, redis_url, "--scenario", str(ROOT / AT_START))
    try:
        a, b = workers(redis_url, 2)
        with httpx.Client(timeout=70) as http:
            # given to every worker at start, loaded once: by the owner of its tenant
            for w in (a, b):
                listed = http.get(f"{w.url}/_emulator/scenarios").json()["scenarios"]
                assert [(s["id"], s["source"]) for s in listed] == [("scn_0001@acme", str(ROOT / AT_START))]
            started = "scn_0001@acme"  # numbered per tenant, fleet-wide: the id names its tenant
            done = http.get(f"{b.url}/_emulator/scenarios/{started}", params={"wait": 60}).json()
            assert done["status"] == "passed", done["report"]

            runs: dict[str, str] = {}
            for n, name in enumerate(NAMES):  # loaded through one worker, each in a tenant of its own
                via = (a, b)[n % 2]
                r = http.post(
                    f"{via.url}/_emulator/scenarios",
                    params={"source": name, "tenant": f"lib-{n}"} if n % 3 else {"source": name},
                    content=(ROOT / name).read_bytes(),
                )
                assert r.status_code == 201, r.text
                runs[name] = r.json()["id"]
            for n, (name, run) in enumerate(runs.items()):  # its progress asked of the other
                done = http.get(f"{(b, a)[n % 2].url}/_emulator/scenarios/{run}", params={"wait": 60}).json()
                assert done["status"] == "passed", f"{name}: {done.get('report', done)}"
            every = http.get(f"{server.url}/_emulator/scenarios").json()["scenarios"]
            assert {s["id"] for s in every} >= set(runs.values())  # the list is the fleet's

            # what a fleet answers for a bad file or an unknown run, in the control plane's error shape
            bad = http.post(f"{a.url}/_emulator/scenarios", content=b"name: x\nvendor: nope\nsteps: []\n")
            assert (bad.status_code, bad.json()["error"]) == (404, "unknown_vendor"), bad.text
            assert http.post(f"{b.url}/_emulator/scenarios", content=b"[1, 2").status_code == 400
            for w in (a, b):
                gone = http.get(f"{w.url}/_emulator/scenarios/scn_0999@acme")
                assert (gone.status_code, gone.json()["error"]) == (404, "unknown_scenario")
            r = http.delete(f"{a.url}/_emulator/scenarios/{started}")
            assert (r.status_code, r.json()["active"]) == (200, False)
            assert http.get(f"{b.url}/_emulator/scenarios/{started}").status_code == 404
    finally:
        assert server.terminate() == 0, server.stderr()
