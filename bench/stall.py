"""Does big control-plane work stall the server? (issue 19 part 5; a benchmark mode, not a test.)

    .venv/bin/python bench/stall.py [--tenants 40000] [--scenario-mb 10] [--no-pin] [--where]

One cxemu (every built-in vendor, `max_body_bytes` raised to 512 MiB so the big bodies are let in) pinned to CPU 0.
It gets one tenant of each vendor with some history through the vendors' APIs, then `--tenants` tenants in all:
copies of those four (10,000 of each by default) restored with `POST /_emulator/state`. A probe thread sends
`GET /_emulator/health` one after another on its own keep-alive connection for the whole run; for each big
operation the table shows how long it took and the health checks *started* while it ran: how many, their p50 and
their worst latency, and, measured inside the server (`bench/loopgap.py`, a bench-only plugin), the longest CPU time
its event loop's thread worked without a turn of the loop while the operation ran (`loop max`; `loop p99`, and how
many turns came more than 20 ms of CPU apart): what the health checks' latency would be on an idle machine, and a
figure other processes' load does not move. The operations:

* `POST /_emulator/state`: the restore of the `--tenants` snapshot;
* `GET /_emulator/state`: the snapshot of all of them (its size too);
* `POST /_emulator/scenarios`: a `--scenario-mb` MB Samespace scenario (its `setup.numbers` lists that many MB of
  callees).

Output: the table and `bench/results/stall-<time>.json`.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import sys
import threading
import time
from typing import Any

from harness import HOST, LOAD_CPU, RESULTS, SERVER_CPU, Procs, clean_env, expect, free_port, request, wait_ready
from vendors import P8, cxemu_cmd

HEALTH = "/_emulator/health"
LOOPGAP = "bench.loopgap:PLUGIN"
GAPS = "/loopgap/v1/gaps"


class Probe(threading.Thread):
    """Health checks back to back: (start, latency) of each, in wall seconds."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.samples: list[tuple[float, float]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=60)
        while not self.stopping.is_set():
            started = time.monotonic()
            conn.request("GET", HEALTH)
            resp = conn.getresponse()
            resp.read()
            self.samples.append((started, time.monotonic() - started))
            time.sleep(0.002)
        conn.close()

    def during(self, start: float, end: float) -> dict[str, Any]:
        lat = sorted(lat for at, lat in self.samples if start <= at <= end)
        if not lat:
            return {"checks": 0}
        return {"checks": len(lat), "p50_ms": round(lat[len(lat) // 2] * 1000, 1), "max_ms": round(lat[-1] * 1000, 1)}


def timed(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes, float, float]:
    conn = http.client.HTTPConnection(HOST, port, timeout=600)
    headers = {"content-type": "application/json"} if body is not None else {}
    start = time.monotonic()
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    end = time.monotonic()
    conn.close()
    return resp.status, data, start, end


def seed_tenants(port: int) -> None:
    """One tenant of each vendor with some history, through the vendors' own APIs."""
    key = {"x-api-key": "seed8"}
    made = expect(
        *request(port, "POST", f"{P8}/conversations", '{"channelId":"1","user":{"name":"U"}}', headers=key), 202, "8x8"
    )
    conv = made["conversationId"]
    request(port, "POST", f"{P8}/conversations/{conv}/messages", '{"authorType":"user","text":"hi"}', headers=key)
    basic = base64.b64encode(b"seedsg:secret").decode()
    form = {"content-type": "application/x-www-form-urlencoded", "authorization": f"Basic {basic}"}
    conn = http.client.HTTPConnection(HOST, port)
    conn.request("POST", "/oauth/token", body=b"grant_type=client_credentials", headers=form)
    token = json.loads(conn.getresponse().read())["access_token"]
    conn.close()
    auth, dom = {"authorization": f"Bearer {token}"}, "seedsg.cx.sangoma.com"
    di = "/cx/api/v1/digital-interactions"
    contact = expect(
        *request(
            port,
            "POST",
            f"{di}/contacts/",
            json.dumps({"tenant_domain": dom, "name": "Ada", "inbox_id": 2}),
            headers=auth,
        ),
        200,
        "contact",
    )
    body_conv = {"tenant_domain": dom, "contact_id": contact["payload"]["contact"]["id"], "inbox_id": 2}
    expect(
        *request(port, "POST", f"{di}/conversations/", json.dumps(body_conv), headers=auth), 200, "Sangoma conversation"
    )
    msg = {"from": "Acme", "to": [{"number": "0031612345678"}], "body": {"type": "auto", "content": "Hello"}}
    cm = {"messages": {"authentication": {"producttoken": "11111111-2222-3333-4444-555555555555"}, "msg": [msg]}}
    expect(*request(port, "POST", "/v1.0/message", json.dumps(cm)), 200, "CM message")
    flow = [{"id": "0", "type": "call", "number": "917507161643", "caller_id": "1", "next_step": "1"},
            {"id": "1", "type": "play", "text": "hello"}]  # fmt: skip
    expect(
        *request(
            port,
            "POST",
            "/api/public/v1/call/flow",
            json.dumps({"cloud_id": "seedss", "auth_token": "t", "flow": flow}),
        ),
        200,
        "flow",
    )
    time.sleep(3)  # the call ends, the status reports go out


def big_snapshot(port: int, tenants: int) -> bytes:
    """The seeded snapshot with each vendor's tenant copied to `tenants` ÷ 4 names (no pending jobs or deliveries)."""
    snap = expect(*request(port, "GET", "/_emulator/state", timeout=60), 200, "GET /_emulator/state")
    per = tenants // len(snap["store"])
    for vendor, slots in snap["store"].items():
        entry = next(iter(slots.values()))
        snap["store"][vendor] = {f"{vendor[:2]}{n:06d}": entry for n in range(per)}
    snap["jobs"], snap["deliveries"]["pending"] = [], []
    return json.dumps(snap).encode()


def big_scenario(megabytes: float) -> bytes:
    lines = ["name: a big scenario", "vendor: samespace", "tenant: big-scenario", "setup:", "  numbers:"]
    size, n = 0, 0
    while size < megabytes * 1024 * 1024:
        line = f'    "9175{n:08d}": {{rings: {1 + n % 5}, answer: answer, dtmf: ["{n % 10000:04d}"]}}'
        lines.append(line)
        size += len(line) + 1
        n += 1
    return "\n".join(lines).encode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=40_000)
    parser.add_argument("--scenario-mb", type=float, default=10.0)
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--where", action="store_true", help="print where the server's loop was while it stalled")
    args = parser.parse_args()
    port = free_port()
    procs = Procs(pin=not args.no_pin)
    results: dict[str, Any] = {"tenants": args.tenants}
    try:
        env = clean_env({"CXEMU_MAX_BODY_BYTES": str(512 * 1024 * 1024)})
        server = procs.start("stall", cxemu_cmd(port, plugin=LOOPGAP), SERVER_CPU, port=port, env=env)
        wait_ready(server, HEALTH)
        if not args.no_pin:
            os.sched_setaffinity(0, {int(LOAD_CPU)})
        seed_tenants(port)
        snapshot = big_snapshot(port, args.tenants)
        scenario = big_scenario(args.scenario_mb)
        probe = Probe(port)
        probe.start()
        time.sleep(1)
        ops = [
            ("POST /_emulator/state", "POST", "/_emulator/state", snapshot),
            ("GET /_emulator/state", "GET", "/_emulator/state", None),
            ("POST /_emulator/scenarios", "POST", "/_emulator/scenarios", scenario),
        ]
        print(f"{'operation':<28} {'status':>6} {'MB':>7} {'took s':>7} {'checks':>7} {'p50 ms':>7} {'max ms':>7}"
              f" {'loop max':>9} {'loop p99':>9} {'>20ms':>6}")  # fmt: skip
        for name, method, path, body in ops:
            request(port, "GET", GAPS)  # counting starts now
            status, data, start, end = timed(port, method, path, body)
            loop = expect(*request(port, "GET", GAPS), 200, "loop gaps")
            time.sleep(0.2)
            row = {"status": status, "mb": round(len(body or data) / 1e6, 1), "seconds": round(end - start, 2)}
            row.update(probe.during(start, end))
            row["loop"] = loop
            results[name] = row
            print(f"{name:<28} {status:>6} {row['mb']:>7} {row['seconds']:>7} {row['checks']:>7} "
                  f"{row.get('p50_ms', '-'):>7} {row.get('max_ms', '-'):>7} {loop.get('max_ms', '-'):>9}"
                  f" {loop.get('p99_ms', '-'):>9} {loop.get('over_20ms', '-'):>6}", flush=True)  # fmt: skip
            if args.where:
                for where in loop.get("stalled_in", []):
                    print(f"    {where}", flush=True)
        results["idle"] = probe.during(0, time.monotonic())
        probe.stopping.set()
        probe.join()
    finally:
        procs.stop_all()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"stall-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=1))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
