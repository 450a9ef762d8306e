"""Where a signed delivery's CPU goes: the signed drain (`run.py`'s `8x8-signed-drain`) measured per thread, with
optional syscall counts. For comparing the delivery path of two trees on a loaded machine, where the drain's rate
says little but CPU per delivery does.

    .venv/bin/python bench/drainprobe.py [-n 3000] [--reps 2] [--strace]

One 8x8 server with signing on (pinned to CPU 0, as `run.py` runs it) and `bench/receiver.py` (CPU 1); per
repetition a fresh tenant with 256 conversations, `n` messages fired while chaos holds every delivery back, then
from the first receipt on the dispatcher drains the backlog. Measured over the drain, per delivery received: the
server's CPU (µs), split into its event loop's thread and the signing thread (`cxemu-offload`), their context
switches, and with `--strace` the server's system calls (`strace -c -f`, a separate repetition: tracing slows
everything). The raw RS256 rate (`bench/signing_rate.py`, CPU 0) is measured before each repetition: CPU ratio =
raw CPU µs per signature ÷ server CPU µs per delivery (`run.py`'s figure, as CPU rather than rate). Prints a line
per repetition and `BENCHJSON {...}`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    BENCH,
    LOAD_CPU,
    SERVER_CPU,
    LoadSpec,
    Procs,
    Receiver,
    clean_env,
    fill,
    free_port,
    wait_ready,
)
from vendors import (
    MESSAGE_BODY,
    P8,
    api_key,
    create_conversations,
    cxemu_cmd,
    eightbyeight_config,
    point_webhook,
    set_chaos,
    write_paths,
)


def threads(pid: int) -> dict[str, tuple[float, int, int]]:
    """CPU seconds and voluntary / involuntary context switches per thread name (`loop`, `offload`, `other`)."""
    out: dict[str, tuple[float, int, int]] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        base = f"/proc/{pid}/task/{tid}"
        try:
            stat = Path(f"{base}/stat").read_text()
            status = Path(f"{base}/status").read_text()
            cpu = int(Path(f"{base}/schedstat").read_text().split()[0]) / 1e9  # ns on a CPU (stat: 10 ms ticks)
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        name = "loop" if tid == str(pid) else "offload" if "offload" in comm else "other"
        vol = int(re.search(r"^voluntary_ctxt_switches:\s+(\d+)", status, re.M).group(1))  # type: ignore[union-attr]
        inv = int(re.search(r"^nonvoluntary_ctxt_switches:\s+(\d+)", status, re.M).group(1))  # type: ignore[union-attr]
        c, v, i = out.get(name, (0.0, 0, 0))
        out[name] = (c + cpu, v + vol, i + inv)
    return out


def raw_signing() -> float:
    """CPU µs per raw signature (bench/signing_rate.py pinned to the server CPU)."""
    cmd = ["taskset", "-c", SERVER_CPU, sys.executable, str(BENCH / "signing_rate.py"), "2"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=clean_env(), check=True)
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("BENCHJSON "))
    return float(json.loads(line[len("BENCHJSON ") :])["cpu_per_signature_us"])


def syscalls(summary: str) -> dict[str, int]:
    calls: dict[str, int] = {}
    for line in summary.splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[0][0].isdigit() and not parts[-1].startswith("total"):
            calls[parts[-1]] = int(parts[3])
    return calls


def drain(procs: Procs, server: Any, receiver: Receiver, workdir: Path, key: str, n: int, trace: str) -> dict[str, Any]:
    port = server.port
    point_webhook(port, key, receiver.url(f"{key}-setup"))
    ids = create_conversations(port, key, 256, True)
    receiver.wait_for(f"{key}-setup", 3 * len(ids), time.time(), 60)
    paths = write_paths(workdir, key, ids)
    held = 4.0 + n / 400
    set_chaos(port, {"delay": 1.0, "delay_seconds": held, "tenant": key})
    point_webhook(port, key, receiver.url(key))
    t0 = time.time()
    spec = LoadSpec(port, "POST", f"{P8}/conversations/{ids[0]}/messages", api_key(key), MESSAGE_BODY, paths)
    fill(spec, n, True, 64)
    if time.time() > t0 + held - 0.5:
        raise RuntimeError("firing outlasted the hold: raise the hold")
    while receiver.stats(key)[0] == 0:
        time.sleep(0.005)
    tracer = None
    if trace == "strace":
        tracer = subprocess.Popen(
            ["strace", "-c", "-f", "-p", str(server.pid)], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
        )
        time.sleep(0.3)
    elif trace.startswith("perf:"):  # perf (software clock: this VM has no hardware counters), to FILE
        cmd = ["perf", "record", "-e", "cpu-clock", "-F", "4000", "--per-thread", "-p", str(server.pid)]
        tracer = subprocess.Popen([*cmd, "-o", trace[5:]], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        time.sleep(0.5)
    elif trace:  # py-spy: `trace` is the output file (raw, collapsed stacks per thread)
        cmd = [os.environ.get("PY_SPY", "py-spy"), "record", "-p", str(server.pid), "-r", "500", "-f", "raw", "--gil"]
        tracer = subprocess.Popen(
            [*cmd, "--threads", "-o", trace], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
        )
        time.sleep(0.5)
    got0 = receiver.stats(key)[0]
    before, w0 = threads(server.pid), time.monotonic()
    while True:
        time.sleep(0.1)
        got = receiver.stats(key)[0]
        if got >= n:
            break
        if time.monotonic() - w0 > 600:
            raise RuntimeError(f"drain stalled at {got}/{n}")
    after, wall = threads(server.pid), time.monotonic() - w0
    calls: dict[str, int] = {}
    if tracer is not None:
        tracer.send_signal(2)
        out = tracer.communicate(timeout=60)[1]
        calls = syscalls(out) if trace == "strace" else {}
    set_chaos(port, {})
    count = got - got0
    per = {name: [(after[name][i] - before.get(name, (0.0, 0, 0))[i]) / count for i in range(3)] for name in after}
    return {
        "deliveries": count,
        "rate": round(count / wall, 1),
        "us": {name: round(v[0] * 1e6, 1) for name, v in per.items()},
        "switches": {name: [round(v[1], 2), round(v[2], 2)] for name, v in per.items()},
        "syscalls": {name: round(c / count, 2) for name, c in sorted(calls.items(), key=lambda x: -x[1])},
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=3000, help="deliveries per drain (default 3000)")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--strace", action="store_true", help="one more drain under strace -c -f: syscalls per delivery")
    ap.add_argument("--py-spy", metavar="FILE", help="one more drain under py-spy (500 Hz, GIL holder, raw stacks)")
    ap.add_argument("--perf", metavar="FILE", help="one more drain under perf record (cpu-clock, 4 kHz) to FILE")
    args = ap.parse_args()
    procs = Procs(pin=True)
    workdir = Path(tempfile.mkdtemp(prefix="cxemu-drainprobe-"))
    results: list[dict[str, Any]] = []
    try:
        port = free_port()
        receiver = Receiver(
            procs.start("receiver", [sys.executable, str(BENCH / "receiver.py"), str(port)], LOAD_CPU, port=port)
        )
        wait_ready(receiver.proc, "/stats")
        port = free_port()
        cmd = cxemu_cmd(port, config=eightbyeight_config(workdir, "eightbyeight", signing=True))
        server = procs.start("8x8", cmd, SERVER_CPU, port=port, env=clean_env())
        wait_ready(server, "/_emulator/health")
        runs = [(rep, "") for rep in range(args.reps)] + ([(args.reps, "strace")] if args.strace else [])
        runs += [(len(runs), args.py_spy)] if args.py_spy else []
        runs += [(len(runs), f"perf:{args.perf}")] if args.perf else []
        for rep, trace in runs:
            raw = raw_signing()
            d = drain(procs, server, receiver, workdir, f"probe-{rep}", args.n, trace)
            d["raw_us"] = raw
            total = sum(d["us"].values())
            d["cpu_ratio"] = round(raw / total, 3) if total else 0.0
            results.append(d)
            print(
                f"rep {rep}{f' ({trace})' if trace else ''}: {d['deliveries']} deliveries, {d['rate']:.0f}/s;"
                f" µs/delivery {d['us']} (raw {raw:.0f}), CPU ratio {d['cpu_ratio']};"
                f" switches (vol, invol) {d['switches']}"
                + (f"; syscalls/delivery {d['syscalls']}" if d["syscalls"] else ""),
                flush=True,
            )
    finally:
        procs.stop_all()
        for f in workdir.iterdir():
            f.unlink()
        workdir.rmdir()
    print("BENCHJSON " + json.dumps(results), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
