"""What goes wrong around a fleet, and what the user then sees: bad fleet options stop the start with one line; a
tenant whose owner cannot be reached, or a Redis that stops answering, gets a 503 in the control plane's shape
(never a 500, never a hang), and the server goes on."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import redis

from tests.cli.test_tail import Tail, tails
from tests.fleet.conftest import Fleet, fleet_on_own_redis
from tests.fleet.test_fleet_feed import frames
from tests.support.procs import ROOT
from tests.support.redis_server import binary, free_port

pytestmark = pytest.mark.server

__all__ = ["tails"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "emulator", *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--state", "redis://127.0.0.1:1/0", "--advertise", "nope"], "--advertise: must be HOST:PORT"),
        (["--state", "redis://127.0.0.1:1/0", "--advertise", "10.0.0.1:70000"], "a port 1-65535"),
        (["--state", "redis://127.0.0.1:1/0", "--advertise", "::1:9000"], "IPv6 address goes in brackets"),
        (["--state", "redis://127.0.0.1:1/0", "--advertise", "0.0.0.0:9000"], "an address other replicas can reach"),
        (["--advertise", "10.0.0.1:9000"], "--advertise: is for workers sharing a state on Redis"),
        (["--state", "redis://127.0.0.1:1/0", "--lease-ttl", "0.1"], "--lease-ttl: "),
        (["--workers", "2"], "--workers: 2 workers need a shared state"),
        (["--state", "redis://127.0.0.1:1/0", "--workers", "2"], "state redis://127.0.0.1:1/0: Redis did not answer"),
    ],
    ids=[
        "advertise-shape",
        "advertise-port",
        "advertise-v6",
        "advertise-any",
        "advertise-memory",
        "ttl",
        "memory",
        "redis-down",
    ],
)
def test_bad_fleet_options_stop_the_start_with_one_line(args: list[str], fragment: str) -> None:
    result = run("serve", "--port", "0", *args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cxemu: error: "), result.stderr
    assert fragment in lines[0], lines[0]
    assert " on http://" not in result.stdout


def test_a_tenant_whose_owner_cannot_be_reached_gets_a_503_once_its_lease_outlives_the_wait(
    fleet: Fleet, redis_url: str
) -> None:
    _, (a, _b) = fleet
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:  # a worker that registered, claimed a tenant for a minute and vanished without a trace
        entry = {"address": f"127.0.0.1:{free_port()}", "pid": 1, "beat": time.time() + 60}
        client.hset("cxemu:workers", "ghost-1-1", json.dumps(entry))
        client.set("cxemu:{haunted}:owner", "ghost-1-1:7", px=60_000)
    finally:
        client.close()
    with httpx.Client(timeout=60) as http:
        r = http.get(f"{a.url}/_emulator/clock", params={"tenant": "haunted"})
        assert r.status_code == 503, r.text
        assert r.json()["error"] == "unavailable"
        assert "haunted" in r.json()["message"]
        assert http.get(f"{a.url}/_emulator/clock", params={"tenant": "alive"}).status_code == 200  # others go on


@pytest.mark.skipif(binary() is None, reason="redis-server is not installed")
def test_when_redis_stops_a_new_tenant_gets_a_503_and_the_fleet_recovers_when_it_is_back(tmp_path: Path) -> None:
    with fleet_on_own_redis(tmp_path, "outage") as (own, (a, _)), httpx.Client(timeout=60) as http:
        assert http.get(f"{a.url}/_emulator/clock", params={"tenant": "before"}).status_code == 200
        own.stop()
        r = http.get(f"{a.url}/_emulator/clock", params={"tenant": "during"})
        assert r.status_code == 503, r.text
        assert r.json()["error"] == "unavailable"
        r = http.get(f"{a.url}/_emulator/journal")  # the fleet's feed is in Redis too: 503, never a 500
        assert (r.status_code, r.json()["error"]) == (503, "unavailable"), r.text
        own.start()
        r = http.get(f"{a.url}/_emulator/clock", params={"tenant": "after"})
        assert r.status_code == 200, r.text


@pytest.mark.skipif(binary() is None, reason="redis-server is not installed")
def test_a_fleet_stream_says_when_redis_stops_and_resumes_after_its_last_id_once_it_is_back(
    tmp_path: Path, tails: list[Tail]
) -> None:
    timeout = httpx.Timeout(30, read=60)
    with fleet_on_own_redis(tmp_path, "stream-outage") as (own, (a, b)), httpx.Client(timeout=60) as http:
        tail = Tail("--url", a.url, "--kind", "control", "--after", "0")  # `cxemu tail` on worker a
        tails.append(tail)
        moved = http.post(f"{b.url}/_emulator/clock/advance", params={"tenant": "before"}, json={"seconds": 1})
        assert moved.status_code == 200, moved.text
        assert "POST /_emulator/clock/advance" in tail.line(timeout=60)  # tail is following now
        seen = []
        for mode in ({}, {"latest": "5", "interval": "0.05"}):  # the live stream and the display mode
            with httpx.stream("GET", f"{a.url}/_emulator/events", params=mode, timeout=timeout) as live:
                assert live.status_code == 200
                lines = live.iter_lines()
                assert next(lines).startswith(": cxemu event stream")
                own.stop()
                seen.append(list(frames(lines)))  # until the stream ends
            own.start()
        for got in seen:
            assert [kind for kind, _, _ in got] == ["unavailable"], got
            said = json.loads(got[0][2])
            assert "did not answer" in said["message"]
            assert isinstance(said["after"], int)
        point = json.loads(seen[0][0][2])["after"]
        own.stop()
        r = http.get(f"{a.url}/_emulator/events", headers={"last-event-id": str(point)})
        assert (r.status_code, r.json()["error"]) == (503, "unavailable"), r.text  # not a stream that breaks
        own.start()
        moved = http.post(f"{b.url}/_emulator/clock/advance", params={"tenant": "after"}, json={"seconds": 1})
        assert moved.status_code == 200, moved.text  # a control entry, recorded through the other worker
        r = http.get(f"{a.url}/_emulator/events", params={"after": point, "kind": "control", "limit": 1})
        assert r.status_code == 200, r.text
        resumed = list(frames(iter(r.text.splitlines())))
        assert [kind for kind, _, _ in resumed] == ["control"], resumed
        assert int(str(resumed[0][1])) > point
        printed = [tail.line(timeout=60)]  # tail said so, reconnected by itself, and shows what came since
        while "POST /_emulator/clock/advance" not in printed[-1]:
            printed.append(tail.line(timeout=60))
        assert printed[0].startswith("cxemu: the fleet's feed (Redis) did not answer"), printed
