"""cxemu benchmark: cxemu against a bare Starlette app, in one run, on this machine.

    make bench                    # full run (about 8 minutes)
    make bench ARGS=--quick       # smoke run (about 1 minute)
    .venv/bin/python bench/run.py --duration 10 --connections 64,16 --reps 3

Servers run pinned to CPU 0 (`taskset -c 0`); the load generator and the webhook receiver to CPU 1. The load
generator is wrk when it is installed (`apt-get install -y wrk`), otherwise bench/loadgen.py (asyncio). Rows:

  bare-get / bare-post      bench/bare_app.py under uvicorn: the reference every ratio is taken against
  cxemu-get                 GET /echo/v1/items/it-1 (stateful read through the kernel)
  cxemu-post-webhook        POST /echo/v1/items: 201 + one HMAC-signed webhook to the local receiver
  cxemu-post-signed         the same with RS256-signed (8x8) webhooks: INTERIM stand-in, bench/signed_echo.py
  memory                    RSS growth of a fresh cxemu while N items are created (webhooks off)
  signing                   raw single-thread rate of the 8x8 `webhook_headers` (RS256)

Measurements are interleaved: each repetition runs every row once per connection count, so ratios are taken
between numbers measured within the same minute (the VM's noise moves over minutes). Each measurement is
preceded by a warm-up at the same connection count. Results: a table on stdout and bench/results/*.json.
Every process is started in its own process group and stopped by signalling that group.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
SERVER_CPU = "0"
LOAD_CPU = "1"
HOST = "127.0.0.1"
ECHO_PLUGIN = "tests.support.echo_vendor:PLUGIN"
SIGNED_PLUGIN = "bench.signed_echo:PLUGIN"
SIGNING_MODULE = REPO / "emulator" / "vendors" / "eightbyeight" / "signing.py"
TENANT_HEADER = "x-echo-tenant"
ITEM_BODY = '{"text":"hello bench"}'
CLK_TCK = os.sysconf("SC_CLK_TCK")

TARGETS = {
    "get_ratio": 0.60,
    "webhook_rps": 1000.0,
    "signed_ratio": 0.75,
    "kb_per_item": 5.0,
}


def log(msg: str) -> None:
    print(msg, flush=True)


# ----------------------------------------------------------------------------------------------- processes


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    port: int = 0

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log_tail(self, n: int = 1500) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""


class Procs:
    """Every process the harness starts; each in its own session, stopped by signalling its group."""

    def __init__(self, pin: bool) -> None:
        self.pin = pin
        self.running: list[Proc] = []

    def start(
        self, name: str, cmd: Sequence[str], cpu: str, *, port: int = 0, env: dict[str, str] | None = None
    ) -> Proc:
        RESULTS.joinpath("logs").mkdir(parents=True, exist_ok=True)
        log_path = RESULTS / "logs" / f"{name}.log"
        full = (["taskset", "-c", cpu] if self.pin else []) + list(cmd)
        with log_path.open("wb") as out:
            popen = subprocess.Popen(
                full, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        proc = Proc(name, popen, log_path, port)
        self.running.append(proc)
        return proc

    def stop(self, proc: Proc) -> None:
        if proc.popen.poll() is None:
            for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, sig)
                try:
                    proc.popen.wait(timeout=grace)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if proc in self.running:
            self.running.remove(proc)

    def stop_all(self) -> None:
        for proc in list(reversed(self.running)):
            self.stop(proc)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without CXEMU_* settings (they would change what is measured)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXEMU_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


# ------------------------------------------------------------------------------------------- /proc helpers


def status_kb(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """utime + stime of every thread of `pid`."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


def cpu_times() -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    with open("/proc/stat") as fh:
        for line in fh:
            if line.startswith("cpu") and line[3:4].isdigit():
                name, *vals = line.split()
                out[name] = [int(v) for v in vals]
    return out


def steal_pct(before: dict[str, list[int]], after: dict[str, list[int]]) -> dict[str, float]:
    out = {}
    for cpu, vals in after.items():
        prev = before.get(cpu)
        if prev is None or len(vals) < 8:
            continue
        total = sum(vals) - sum(prev)
        out[cpu] = round(100 * (vals[7] - prev[7]) / total, 1) if total > 0 else 0.0
    return out


def busy_seconds(before: dict[str, list[int]], after: dict[str, list[int]]) -> float:
    """CPU seconds all CPUs spent busy (user, nice, system, irq, softirq) between two `cpu_times()`."""
    total = 0
    for cpu, vals in after.items():
        prev = before.get(cpu)
        if prev is not None:
            total += sum(vals[i] - prev[i] for i in (0, 1, 2, 5, 6))
    return total / CLK_TCK


def own_cpu_seconds(pids: Sequence[int]) -> float:
    """CPU seconds of the given processes plus every child this harness has waited for (wrk, loadgen)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return sum(cpu_seconds(p) for p in pids) + ru.ru_utime + ru.ru_stime + time.process_time()


def wait_quiet(max_wait: float, limit_pct: float) -> float:
    """Wait (at most `max_wait` s) until the machine is quiet: less than `limit_pct` % of a CPU busy over 0.5 s.
    Our servers are idle at this point, so whatever is busy is someone else. Returns the seconds waited."""
    started = time.monotonic()
    while True:
        t0, ours0 = cpu_times(), own_cpu_seconds(())
        time.sleep(0.5)
        busy = busy_seconds(t0, cpu_times()) - (own_cpu_seconds(()) - ours0)
        waited = time.monotonic() - started
        if busy / 0.5 * 100 < limit_pct or waited >= max_wait:
            return waited if waited > 0.6 else 0.0


def loaded_modules(pid: int) -> dict[str, bool]:
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return {}
    return {"uvloop": "uvloop" in maps, "httptools": "httptools" in maps}


# ---------------------------------------------------------------------------------------------------- HTTP


def request(
    port: int, method: str, path: str, body: str | None = None, tenant: str | None = None, timeout: float = 10.0
) -> tuple[int, bytes]:
    headers = {"content-type": "application/json"} if body is not None else {}
    if tenant is not None:
        headers[TENANT_HEADER] = tenant
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body.encode() if body is not None else None, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def wait_ready(proc: Proc, path: str, timeout: float = 60.0) -> float:
    started = time.monotonic()
    deadline = started + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}: {proc.log_tail()}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            status, _ = request(proc.port, "GET", path, timeout=1.0)
            if status < 500:
                return time.monotonic() - started
        time.sleep(0.1)
    raise RuntimeError(f"{proc.name} did not answer {path} within {timeout:.0f}s: {proc.log_tail()}")


def expect(status: int, body: bytes, want: int, what: str) -> Any:
    if status != want:
        raise RuntimeError(f"{what}: expected {want}, got {status}: {body[:300]!r}")
    return json.loads(body) if body else None


# ----------------------------------------------------------------------------------------------- receiver


class Receiver:
    def __init__(self, proc: Proc) -> None:
        self.proc = proc

    def url(self, tenant: str) -> str:
        return f"http://{HOST}:{self.proc.port}/hook/{tenant}"

    def stats(self, tenant: str) -> tuple[int, float]:
        status, body = request(self.proc.port, "GET", "/stats")
        entry = expect(status, body, 200, "receiver /stats").get(f"/hook/{tenant}", {})
        return int(entry.get("count", 0)), float(entry.get("last", 0.0))

    def wait_for(self, tenant: str, expected: int, t_end: float, cap: float) -> tuple[int, float]:
        """Until `expected` hooks arrived, no progress for 3 s, or `cap` s. Returns (received, drain s)."""
        got, last = self.stats(tenant)
        progress_at = time.monotonic()
        deadline = progress_at + cap
        while got < expected and time.monotonic() < deadline and time.monotonic() - progress_at < 3.0:
            time.sleep(0.1)
            now_got, last = self.stats(tenant)
            if now_got != got:
                got, progress_at = now_got, time.monotonic()
        return got, max(0.0, last - t_end) if got else 0.0


# ------------------------------------------------------------------------------------------ load generator


@dataclass
class LoadSpec:
    port: int
    method: str
    path: str
    tenant: str
    body: str = ""


class LoadGen:
    def __init__(self, kind: str, pin: bool) -> None:
        self.kind = kind
        self.pin = pin
        self.version = self._version()

    def _version(self) -> str:
        if self.kind == "wrk":
            out = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10, check=False)
            first = (out.stdout or out.stderr).splitlines()
            return first[0].split(" Copyright")[0].strip() if first else "wrk (unknown version)"
        return f"bench/loadgen.py (python {sys.version.split()[0]}, asyncio)"

    def run(self, spec: LoadSpec, conns: int, seconds: float) -> dict[str, Any]:
        url = f"http://{HOST}:{spec.port}{spec.path}"
        header = f"{TENANT_HEADER}: {spec.tenant}"
        pin = ["taskset", "-c", LOAD_CPU] if self.pin else []
        env = clean_env()
        if self.kind == "wrk":
            secs = max(1, round(seconds))
            cmd = [*pin, "wrk", "-t2", f"-c{conns}", f"-d{secs}s", "--timeout", "5s", "-s", str(BENCH / "report.lua")]
            cmd += ["-H", header, url]
            env.update(BENCH_METHOD=spec.method, BENCH_BODY=spec.body)
        else:
            cmd = [*pin, sys.executable, str(BENCH / "loadgen.py"), url, "--method", spec.method, "-H", header]
            cmd += ["-c", str(conns), "-d", str(seconds)] + (["--body", spec.body] if spec.body else [])
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 90, env=env, check=False)
        line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCHJSON ")), None)
        if line is None:
            raise RuntimeError(f"load generator failed (rc={out.returncode}): {out.stdout[-400:]} {out.stderr[-400:]}")
        data: dict[str, Any] = json.loads(line[len("BENCHJSON ") :])
        data["rps"] = data["requests"] / (data["duration_us"] / 1e6) if data["duration_us"] else 0.0
        data["errors"] = sum(data[k] for k in ("err_connect", "err_read", "err_write", "err_status", "err_timeout"))
        return data


def fill(port: int, tenant: str, count: int, pin: bool) -> dict[str, Any]:
    """Create `count` items as fast as possible (bench/loadgen.py in count mode, 16 connections)."""
    cmd = (["taskset", "-c", LOAD_CPU] if pin else []) + [sys.executable, str(BENCH / "loadgen.py")]
    cmd += [f"http://{HOST}:{port}/echo/v1/items", "--method", "POST", "--body", ITEM_BODY]
    cmd += ["-H", f"{TENANT_HEADER}: {tenant}", "-c", "16", "-n", str(count)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=clean_env(), check=False)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCHJSON ")), None)
    if line is None:
        raise RuntimeError(f"fill failed (rc={out.returncode}): {out.stderr[-400:]}")
    data: dict[str, Any] = json.loads(line[len("BENCHJSON ") :])
    if data["requests"] != count or data["err_status"]:
        raise RuntimeError(f"fill: {data['requests']}/{count} requests, {data['err_status']} bad statuses")
    return data


# ------------------------------------------------------------------------------------------------ the rows


@dataclass
class Row:
    name: str
    server: Proc
    method: str
    path: str
    reference: str | None
    """Name of the bare row whose req/s is the denominator of this row's ratio."""
    webhook: bool = False
    body: str = ""
    tenant: str = "bench"
    note: str = ""


@dataclass
class Measurement:
    row: str
    conns: int
    rep: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int
    duration_s: float
    server_cpu_pct: float
    other_cpu_pct: float
    """CPU (% of one CPU) used during the run by processes that are not ours: other work on the machine."""
    steal_pct: dict[str, float]
    warmup_rps: float
    attempt: int
    quiet_wait_s: float
    load: dict[str, Any] = field(repr=False)
    hooks_sent: int | None = None
    hooks_received: int | None = None
    hooks_lost: int | None = None
    drain_s: float | None = None
    sustained_per_s: float | None = None
    server_failed: int | None = None
    server_pending: int | None = None


def probe_count(port: int, tenant: str) -> int:
    """Create one more item: its sequential id (`it-N`) is the server's count of 201s for the tenant."""
    status, body = request(port, "POST", "/echo/v1/items", ITEM_BODY, tenant)
    item = expect(status, body, 201, "probe POST")
    return int(str(item["id"]).removeprefix("it-"))


def deliveries_count(port: int, tenant: str, status: str) -> int:
    code, body = request(port, "GET", f"/_emulator/deliveries?tenant={tenant}&status={status}&body=false")
    return len(expect(code, body, 200, "deliveries").get("deliveries", []))


class Bench:
    def __init__(self, args: argparse.Namespace, procs: Procs, load: LoadGen, receiver: Receiver) -> None:
        self.args = args
        self.procs = procs
        self.load = load
        self.receiver = receiver

    def register_hook(self, port: int, tenant: str) -> None:
        status, body = request(port, "PUT", "/echo/v1/webhook", json.dumps({"url": self.receiver.url(tenant)}), tenant)
        expect(status, body, 204, f"PUT webhook for {tenant}")

    def measure(self, row: Row, conns: int, rep: int) -> Measurement:
        """One measurement; repeated (up to --retries times) when other processes took CPU during it."""
        m = self._measure_once(row, conns, rep, 0)
        for attempt in range(1, self.args.retries + 1):
            if m.other_cpu_pct <= self.args.noise_limit:
                break
            log(f"    (other processes used {m.other_cpu_pct:.0f}% of a CPU during that run: measuring again)")
            m = self._measure_once(row, conns, rep, attempt)
        return m

    def _measure_once(self, row: Row, conns: int, rep: int, attempt: int) -> Measurement:
        a = self.args
        quiet_wait = wait_quiet(a.quiet_wait, a.noise_limit)
        spec = LoadSpec(row.server.port, row.method, row.path, row.tenant, row.body)
        if row.webhook:
            warm = f"{row.name}-warm-c{conns}-r{rep}-a{attempt}"
            self.register_hook(row.server.port, warm)
            w = self.load.run(LoadSpec(row.server.port, row.method, row.path, warm, row.body), conns, a.warmup)
            self.receiver.wait_for(warm, probe_count(row.server.port, warm), time.time(), a.drain_cap)
            spec.tenant = f"{row.name}-c{conns}-r{rep}-a{attempt}"
            self.register_hook(row.server.port, spec.tenant)
        else:
            w = self.load.run(spec, conns, a.warmup)
        time.sleep(0.5)
        pids = (row.server.pid, self.receiver.proc.pid)
        ticks0, ours0, t0 = cpu_times(), own_cpu_seconds(pids), time.monotonic()
        cpu0 = cpu_seconds(row.server.pid)
        r = self.load.run(spec, conns, a.duration)
        t_end, elapsed = time.time(), time.monotonic() - t0
        cpu1, ours1, ticks1 = cpu_seconds(row.server.pid), own_cpu_seconds(pids), cpu_times()
        other = max(0.0, busy_seconds(ticks0, ticks1) - (ours1 - ours0))
        m = Measurement(
            row=row.name, conns=conns, rep=rep, rps=round(r["rps"], 1), p50_ms=r["p50_us"] / 1000,
            p99_ms=r["p99_us"] / 1000, errors=r["errors"], requests=r["requests"],
            duration_s=r["duration_us"] / 1e6, server_cpu_pct=round(100 * (cpu1 - cpu0) / elapsed, 1),
            other_cpu_pct=round(100 * other / elapsed, 1), steal_pct=steal_pct(ticks0, ticks1),
            warmup_rps=round(w["rps"], 1), attempt=attempt, quiet_wait_s=round(quiet_wait, 1), load=r,
        )  # fmt: skip
        if row.webhook:
            sent = probe_count(row.server.port, spec.tenant)
            got, drain = self.receiver.wait_for(spec.tenant, sent, t_end, a.drain_cap)
            m.hooks_sent, m.hooks_received, m.hooks_lost = sent, got, max(0, sent - got)
            m.drain_s = round(drain, 2)
            m.sustained_per_s = round(got / (m.duration_s + drain), 1)
            m.server_failed = deliveries_count(row.server.port, spec.tenant, "failed")
            m.server_pending = deliveries_count(row.server.port, spec.tenant, "pending")
        extra = ""
        if row.webhook:
            extra = (
                f" hooks {m.hooks_received}/{m.hooks_sent} lost={m.hooks_lost} drain={m.drain_s}s"
                f" sustained={m.sustained_per_s:.0f}/s"
            )
        log(
            f"  {row.name:<19} c={conns:<3} rep={rep}: {m.rps:8.0f} req/s  p50={m.p50_ms:6.2f}ms p99={m.p99_ms:7.2f}ms"
            f" errors={m.errors} server-cpu={m.server_cpu_pct:.0f}% other-cpu={m.other_cpu_pct:.0f}%"
            f" (warm-up {m.warmup_rps:.0f}/s){extra}"
        )
        return m


# ------------------------------------------------------------------------------------------------- memory


def measure_memory(args: argparse.Namespace, procs: Procs) -> dict[str, Any]:
    """A fresh cxemu, one tenant without a webhook: RSS before, at checkpoints, and after `items` creations."""
    port = free_port()
    cmd = [sys.executable, "-m", "emulator", "serve", "--host", HOST, "--port", str(port)]
    cmd += ["--log-level", "warning", "--plugin", ECHO_PLUGIN]
    proc = procs.start("cxemu-memory", cmd, SERVER_CPU, port=port, env=clean_env())
    try:
        wait_ready(proc, "/_emulator/health")
        expect(*request(port, "POST", "/echo/v1/items", ITEM_BODY, "mem"), 201, "first item")
        expect(*request(port, "GET", "/echo/v1/items/it-1", None, "mem"), 200, "read item")
        time.sleep(0.5)
        rss0 = status_kb(proc.pid, "VmRSS")
        checkpoints = [(0, rss0)]
        steps = 4
        done = 0
        started = time.monotonic()
        for i in range(1, steps + 1):
            target = args.items * i // steps
            fill(port, "mem", target - done, procs.pin)
            done = target
            time.sleep(0.3)
            checkpoints.append((done, status_kb(proc.pid, "VmRSS")))
        fill_s = time.monotonic() - started
        expect(*request(port, "GET", f"/echo/v1/items/it-{args.items + 1}", None, "mem"), 200, "last item")
        rss_n = checkpoints[-1][1]
        half_n, half_rss = checkpoints[steps // 2]
        total_kb = (rss_n - rss0) / args.items
        marginal_kb = (rss_n - half_rss) / (args.items - half_n)
        return {
            "items": args.items,
            "fill_rate_per_s": round(args.items / fill_s, 1),
            "rss_kb_before": rss0,
            "rss_kb_after": rss_n,
            "checkpoints_items_rss_kb": checkpoints,
            "kb_per_item_total": round(total_kb, 3),
            "kb_per_item_marginal": round(marginal_kb, 3),
            "marginal_from_items": half_n,
            "mb_per_10k_total": round(total_kb * 10_000 / 1024, 2),
            "mb_per_10k_marginal": round(marginal_kb * 10_000 / 1024, 2),
            "journal_saturated_at_midpoint": half_n + 1 >= 10_000,
            "vmhwm_kb": status_kb(proc.pid, "VmHWM"),
        }
    finally:
        procs.stop(proc)


def measure_signing(args: argparse.Namespace, procs: Procs) -> dict[str, Any]:
    if not SIGNING_MODULE.exists():
        return {"available": False, "error": f"{SIGNING_MODULE.relative_to(REPO)} does not exist"}
    cmd = (["taskset", "-c", SERVER_CPU] if procs.pin else []) + [sys.executable, str(BENCH / "signing_rate.py")]
    ticks0 = cpu_times()
    out = subprocess.run(
        [*cmd, str(args.signing_seconds)], cwd=REPO, capture_output=True, text=True, timeout=300, env=clean_env(),
        check=False,
    )  # fmt: skip
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCHJSON ")), None)
    if line is None:
        return {"available": False, "error": f"signing_rate.py failed: {out.stderr[-400:]}"}
    result: dict[str, Any] = json.loads(line[len("BENCHJSON ") :])
    result["steal_pct"] = steal_pct(ticks0, cpu_times())
    return result


# ------------------------------------------------------------------------------------------------ summary


def _median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


def summarize(rows: list[Row], runs: list[Measurement], conns_list: list[int]) -> list[dict[str, Any]]:
    """One line per (row, conns): medians over the repetitions; ratio = median of the per-repetition ratios."""
    by_key = {(m.row, m.conns, m.rep): m for m in runs}
    out = []
    for conns in conns_list:
        for row in rows:
            ms = [m for m in runs if m.row == row.name and m.conns == conns]
            if not ms:
                continue
            ratios = []
            if row.reference is not None:
                for m in ms:
                    ref = by_key.get((row.reference, conns, m.rep))
                    if ref is not None and ref.rps > 0:
                        ratios.append(m.rps / ref.rps)
            line: dict[str, Any] = {
                "row": row.name,
                "conns": conns,
                "reps": len(ms),
                "rps": round(_median([m.rps for m in ms]), 1),
                "rps_all": [round(m.rps) for m in ms],
                "p50_ms": round(_median([m.p50_ms for m in ms]), 2),
                "p99_ms": round(_median([m.p99_ms for m in ms]), 2),
                "errors": sum(m.errors for m in ms),
                "server_cpu_pct": round(_median([m.server_cpu_pct for m in ms]), 1),
                "other_cpu_pct_max": max(m.other_cpu_pct for m in ms),
                "ratio": round(_median(ratios), 3) if ratios else None,
                "reference": row.reference,
            }
            if row.webhook:
                line.update(
                    hooks_sent=sum(m.hooks_sent or 0 for m in ms),
                    hooks_received=sum(m.hooks_received or 0 for m in ms),
                    hooks_lost=sum(m.hooks_lost or 0 for m in ms),
                    drain_s=round(_median([m.drain_s or 0.0 for m in ms]), 2),
                    sustained_per_s=round(_median([m.sustained_per_s or 0.0 for m in ms]), 1),
                )
            out.append(line)
    return out


def verdicts(summary: list[dict[str, Any]], memory: dict[str, Any], signing: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def lines(row: str) -> list[dict[str, Any]]:
        return [s for s in summary if s["row"] == row]

    gets = lines("cxemu-get")
    if gets:
        worst = min(s["ratio"] or 0.0 for s in gets)
        figures = ", ".join(f"c={s['conns']}: {s['ratio']:.2f}" for s in gets)
        out.append(_verdict("plain stateful GET >= 60% of bare Starlette", worst >= TARGETS["get_ratio"], figures))
    hooks = lines("cxemu-post-webhook")
    if hooks:
        ok = all(
            s["rps"] >= TARGETS["webhook_rps"]
            and s["sustained_per_s"] >= TARGETS["webhook_rps"]
            and s["hooks_lost"] == 0
            for s in hooks
        )
        figures = "; ".join(
            f"c={s['conns']}: {s['rps']:.0f} req/s, sustained {s['sustained_per_s']:.0f}/s, lost {s['hooks_lost']}"
            for s in hooks
        )
        out.append(_verdict("webhook-firing request >= 1,000 req/s, every webhook delivered", ok, figures))
    signed = lines("cxemu-post-signed")
    rate = float(signing.get("per_s") or 0.0)
    if signed and rate > 0:
        worst_rate = min(s["sustained_per_s"] for s in signed)
        lost = sum(s["hooks_lost"] for s in signed)
        ratio = worst_rate / rate
        figures = f"sustained {worst_rate:.0f}/s / raw {rate:.0f}/s = {ratio:.2f}, lost {lost} (INTERIM stand-in)"
        out.append(_verdict("signed deliveries >= 75% of raw signing rate", ratio >= 0.75 and lost == 0, figures))
    elif not signing.get("available"):
        out.append({"target": "signed deliveries >= 75% of raw signing rate", "met": None, "figures": "not measured"})
    if memory.get("items"):
        kb = memory["kb_per_item_marginal"]
        figures = f"{kb:.2f} KB/item marginal ({memory['kb_per_item_total']:.2f} KB/item incl. the bounded journal)"
        out.append(_verdict("idle memory <= 5 KB per conversation", kb <= TARGETS["kb_per_item"], figures))
    return out


def _verdict(target: str, met: bool, figures: str) -> dict[str, Any]:
    return {"target": target, "met": met, "figures": figures}


def render(result: dict[str, Any]) -> str:
    out = [
        f"## cxemu benchmark, {result['started_at']}",
        "",
        f"load generator: {result['generator']}; server CPU {SERVER_CPU}, load+receiver CPU {LOAD_CPU}"
        + ("" if result["pinned"] else " (NOT pinned)")
        + f"; {result['duration_s']:g} s per run after a {result['warmup_s']:g} s warm-up, {result['reps']} rep(s)",
        "",
        "| row | conns | req/s | p50 ms | p99 ms | ratio | server CPU % | other CPU % (max) | errors "
        "| webhooks recv/sent | lost | drain s | sustained/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in result["summary"]:
        ratio = f"{s['ratio']:.2f}x {s['reference']}" if s["ratio"] is not None else "reference"
        hooks = (
            (
                f"{s['hooks_received']:,}/{s['hooks_sent']:,}",
                f"{s['hooks_lost']:,}",
                f"{s['drain_s']:.2f}",
                f"{s['sustained_per_s']:,.0f}",
            )
            if "hooks_sent" in s
            else ("", "", "", "")
        )
        out.append(
            f"| {s['row']} | {s['conns']} | {s['rps']:,.0f} | {s['p50_ms']:.2f} | {s['p99_ms']:.2f} | {ratio} "
            f"| {s['server_cpu_pct']:.0f} | {s['other_cpu_pct_max']:.0f} | {s['errors']} | {' | '.join(hooks)} |"
        )
    mem = result["memory"]
    if mem.get("items"):
        out += [
            "",
            f"memory (fresh cxemu, {mem['items']:,} items, webhooks off, filled at {mem['fill_rate_per_s']:,.0f}/s): "
            f"RSS {mem['rss_kb_before'] / 1024:.1f} -> {mem['rss_kb_after'] / 1024:.1f} MiB; "
            f"{mem['kb_per_item_total']:.2f} KB/item overall ({mem['mb_per_10k_total']:.1f} MB per 10k), "
            f"{mem['kb_per_item_marginal']:.2f} KB/item marginal after {mem['marginal_from_items']:,} items "
            f"({mem['mb_per_10k_marginal']:.1f} MB per 10k)",
        ]
    peaks = ", ".join(f"{k} {v / 1024:.1f} MiB" for k, v in result["peak_rss_kb"].items())
    out.append(f"peak RSS (VmHWM): {peaks}")
    sig = result["signing"]
    if sig.get("available"):
        out.append(
            f"raw RS256 signing (8x8 webhook_headers, 1 thread, CPU {SERVER_CPU}): {sig['per_s']:,.0f}/s "
            f"({sig['cpu_per_signature_us']:.0f} µs CPU each)"
        )
    else:
        out.append(f"raw RS256 signing: not measured ({sig.get('error')})")
    out += ["", "| target | met | figures |", "|---|---|---|"]
    for v in result["verdicts"]:
        met = "n/a" if v["met"] is None else ("YES" if v["met"] else "NO")
        out.append(f"| {v['target']} | {met} | {v['figures']} |")
    return "\n".join(out)


# --------------------------------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: 3 s runs, 1 s warm-up, 1 rep (about 1 min)")
    ap.add_argument("--duration", type=float, help="seconds per measured run (default 10; --quick 3)")
    ap.add_argument("--warmup", type=float, help="seconds of warm-up before each run (default 3; --quick 1)")
    ap.add_argument("--reps", type=int, help="repetitions, interleaved (default 3; --quick 1)")
    ap.add_argument(
        "--connections",
        type=lambda s: [int(x) for x in s.split(",") if x.strip()],
        default=[64, 16],
        help="comma-separated connection counts (default 64,16)",
    )
    ap.add_argument("--items", type=int, help="items created for the memory measurement (default 20000)")
    ap.add_argument("--generator", choices=["auto", "wrk", "python"], default="auto")
    ap.add_argument("--drain-cap", type=float, default=120.0, help="max seconds to wait for a webhook backlog")
    ap.add_argument("--signing-seconds", type=float, help="seconds of the raw signing loop (default 5; --quick 2)")
    ap.add_argument(
        "--noise-limit",
        type=float,
        default=15.0,
        help="%% of a CPU other processes may use during a run before it is measured again (default 15)",
    )
    ap.add_argument("--retries", type=int, help="re-measurements of a noisy run (default 1; --quick 0)")
    ap.add_argument("--quiet-wait", type=float, help="max s to wait for a quiet machine (default 10; --quick 2)")
    ap.add_argument("--only", help="comma-separated rows to run (default all), e.g. bare-get,cxemu-get")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--no-signed", action="store_true", help="skip the RS256 stand-in row and the signing rate")
    ap.add_argument("--out", type=Path, help="JSON result file (default bench/results/bench-<time>.json)")
    args = ap.parse_args(argv)
    defaults = {"duration": (10.0, 3.0), "warmup": (3.0, 1.0), "reps": (3, 1), "items": (20_000, 20_000)}
    defaults.update(signing_seconds=(5.0, 2.0), retries=(1, 0), quiet_wait=(10.0, 2.0))
    for name, (full, quick) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    if args.duration <= 0 or args.warmup < 0 or args.reps < 1 or args.items < 4 or not args.connections:
        ap.error("--duration, --reps, --items and --connections must be positive")
    return args


def pick_generator(choice: str) -> str:
    has_wrk = shutil.which("wrk") is not None
    if choice == "wrk" and not has_wrk:
        sys.exit("bench: --generator wrk, but wrk is not installed (apt-get install -y wrk)")
    return "wrk" if (choice == "wrk" or (choice == "auto" and has_wrk)) else "python"


@contextlib.contextmanager
def terminate_on_signal(procs: Procs) -> Iterator[None]:
    def handler(signum: int, _frame: object) -> None:
        raise SystemExit(f"bench: stopped by signal {signum}")

    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        procs.stop_all()
        for s, h in old.items():
            signal.signal(s, h)


def start_servers(procs: Procs, with_signed: bool) -> dict[str, Proc]:
    servers: dict[str, Proc] = {}
    port = free_port()
    servers["receiver"] = procs.start(
        "receiver", [sys.executable, str(BENCH / "receiver.py"), str(port)], LOAD_CPU, port=port, env=clean_env()
    )
    port = free_port()
    bare = [sys.executable, "-m", "uvicorn", "bare_app:app", "--app-dir", str(BENCH), "--host", HOST]
    bare += ["--port", str(port), "--loop", "uvloop", "--http", "httptools", "--no-access-log"]
    bare += ["--log-level", "warning"]
    servers["bare"] = procs.start("bare", bare, SERVER_CPU, port=port, env=clean_env())
    for name, plugin in (("cxemu", ECHO_PLUGIN), ("cxemu-signed", SIGNED_PLUGIN)):
        if name == "cxemu-signed" and not with_signed:
            continue
        port = free_port()
        cmd = [sys.executable, "-m", "emulator", "serve", "--host", HOST, "--port", str(port)]
        cmd += ["--log-level", "warning", "--plugin", plugin]
        servers[name] = procs.start(name, cmd, SERVER_CPU, port=port, env=clean_env())
    for proc in servers.values():
        path = "/stats" if proc.name == "receiver" else "/_emulator/health" if "cxemu" in proc.name else "/"
        wait_ready(proc, path)
    return servers


def sanity(servers: dict[str, Proc], receiver: Receiver, bench: Bench) -> dict[str, Any]:
    """Every endpoint answers as expected and a webhook of each kind arrives, before anything is timed."""
    out: dict[str, Any] = {}
    bare = servers["bare"].port
    out["bare_get"] = expect(*request(bare, "GET", "/echo/v1/items/it-1", None, "bench"), 200, "bare GET")
    out["bare_post"] = expect(*request(bare, "POST", "/echo/v1/items", ITEM_BODY, "bench"), 201, "bare POST")
    for name in ("cxemu", "cxemu-signed"):
        proc = servers.get(name)
        if proc is None:
            continue
        item = expect(*request(proc.port, "POST", "/echo/v1/items", ITEM_BODY, "bench"), 201, f"{name} POST")
        if item["id"] != "it-1":
            raise RuntimeError(f"{name}: first item is {item['id']}, expected it-1")
        out[f"{name}_get"] = expect(*request(proc.port, "GET", "/echo/v1/items/it-1", None, "bench"), 200, "GET")
        bench.register_hook(proc.port, f"sanity-{name}")
        expect(*request(proc.port, "POST", "/echo/v1/items", ITEM_BODY, f"sanity-{name}"), 201, "sanity POST")
        got, _ = receiver.wait_for(f"sanity-{name}", 1, time.time(), 30.0)
        code, body = request(proc.port, "GET", f"/_emulator/deliveries?tenant=sanity-{name}&wait=10&body=false")
        d = expect(code, body, 200, "deliveries")["deliveries"]
        headers = d[0]["attempts"][-1]["headers"] if d and d[0]["attempts"] else {}
        out[f"{name}_webhook"] = {"received": got, "status": d[0]["status"] if d else None, "headers": sorted(headers)}
        if got != 1 or not d or d[0]["status"] != "delivered":
            raise RuntimeError(f"{name}: sanity webhook not delivered (received {got}, log {d[:1]})")
        if name == "cxemu-signed" and "x-8x8-signature" not in headers:
            raise RuntimeError(f"{name}: webhook has no x-8x8-signature header: {sorted(headers)}")
        out[f"{name}_modules"] = loaded_modules(proc.pid)
    out["bare_modules"] = loaded_modules(servers["bare"].pid)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    pin = shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2
    if not pin:
        log("bench: WARNING: no taskset or fewer than 2 CPUs; servers and load share the machine (not pinned)")
    generator = pick_generator(args.generator)
    procs = Procs(pin)
    load = LoadGen(generator, pin)
    with_signed = SIGNING_MODULE.exists() and not args.no_signed
    started_at = datetime.now(UTC).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    t_start = time.monotonic()
    log(f"bench: load generator = {load.version}" + ("" if generator == "wrk" else " (wrk not found: FALLBACK)"))
    with terminate_on_signal(procs):
        servers = start_servers(procs, with_signed)
        receiver = Receiver(servers["receiver"])
        bench = Bench(args, procs, load, receiver)
        checks = sanity(servers, receiver, bench)
        post = "/echo/v1/items"
        get = "/echo/v1/items/it-1"
        rows = [
            Row("bare-get", servers["bare"], "GET", get, None),
            Row("cxemu-get", servers["cxemu"], "GET", get, "bare-get"),
            Row("bare-post", servers["bare"], "POST", post, None, body=ITEM_BODY),
            Row("cxemu-post-webhook", servers["cxemu"], "POST", post, "bare-post", webhook=True, body=ITEM_BODY),
        ]
        if with_signed:
            rows.append(
                Row(
                    "cxemu-post-signed",
                    servers["cxemu-signed"],
                    "POST",
                    post,
                    "bare-post",
                    webhook=True,
                    body=ITEM_BODY,
                )
            )
        if args.only:
            wanted = {x.strip() for x in args.only.split(",")}
            rows = [r for r in rows if r.name in wanted]
        runs: list[Measurement] = []
        for rep in range(1, args.reps + 1):
            log(f"== repetition {rep}/{args.reps}")
            for conns in args.connections:
                for row in rows:
                    runs.append(bench.measure(row, conns, rep))
        peak = {name: status_kb(p.pid, "VmHWM") for name, p in servers.items()}
        for name in ("receiver", "bare", "cxemu", "cxemu-signed"):
            if name in servers:
                procs.stop(servers[name])
        memory: dict[str, Any] = {}
        if not args.skip_memory:
            log(f"== memory: {args.items:,} items on a fresh cxemu")
            memory = measure_memory(args, procs)
            peak["cxemu-memory"] = memory["vmhwm_kb"]
        signing: dict[str, Any] = {"available": False, "error": "skipped (--no-signed)"}
        if not args.no_signed:
            log("== raw RS256 signing rate")
            signing = measure_signing(args, procs)
    summary = summarize(rows, runs, args.connections)
    result: dict[str, Any] = {
        "started_at": started_at,
        "wall_s": round(time.monotonic() - t_start, 1),
        "generator": load.version,
        "generator_kind": generator,
        "pinned": pin,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "reps": args.reps,
        "connections": args.connections,
        "python": sys.version.split()[0],
        "machine": {"cpus": os.cpu_count(), "kernel": os.uname().release},
        "sanity": checks,
        "summary": summary,
        "memory": memory,
        "signing": signing,
        "peak_rss_kb": peak,
        "verdicts": verdicts(summary, memory, signing),
        "runs": [asdict(m) for m in runs],
    }
    text = render(result)
    log("")
    log(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = args.out or RESULTS / f"bench-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(result, indent=2))
    (RESULTS / "latest.md").write_text(text + "\n")
    log(f"\nresults: {out} (table: {RESULTS / 'latest.md'}); wall time {result['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
