"""Bench harness: processes pinned to CPUs, /proc CPU and steal accounting, a small HTTP client, the webhook
receiver, and the load generators (wrk, or bench/loadgen.py).

Every process is started in its own process group and stopped by signalling that group (`Procs`).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
SERVER_CPU = "0"
LOAD_CPU = "1"
NOT_CXEMU = ("receiver", "bare", "wiremock", "redis")
"""Servers of a run that are not cxemu (the receiver, the bare reference, the WireMock peer)."""
HOST = "127.0.0.1"
SIGNING_MODULE = REPO / "emulator" / "vendors" / "eightbyeight" / "signing.py"
CLK_TCK = os.sysconf("SC_CLK_TCK")
UNSATURATED_PCT = 85.0

# the echo vendor (test support), only with --with-echo
ECHO_PLUGIN = "tests.support.echo_vendor:PLUGIN"
TENANT_HEADER = "x-echo-tenant"
ITEM_BODY = '{"text":"hello bench"}'


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


def parents() -> dict[int, int]:
    """Every process's parent pid, from /proc."""
    out: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as fh:
                    out[int(entry.name)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return out


def family(pid: int, parent_of: dict[int, int]) -> list[int]:
    """`pid` and every process descending from it, given each process's parent."""
    children: dict[int, list[int]] = {}
    for child, parent in parent_of.items():
        children.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo += children.get(p, [])
    return found


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


def busy_seconds(before: dict[str, list[int]], after: dict[str, list[int]], cpus: Sequence[str] | None = None) -> float:
    """CPU seconds the CPUs (default all) spent busy (user, nice, system, irq, softirq) between two `cpu_times()`."""
    total = 0
    for cpu, vals in after.items():
        prev = before.get(cpu)
        if prev is not None and (cpus is None or cpu in cpus):
            total += sum(vals[i] - prev[i] for i in (0, 1, 2, 5, 6))
    return total / CLK_TCK


def own_cpu_seconds(pids: Sequence[int]) -> float:
    """CPU seconds of the given processes plus every child this harness has waited for (wrk, loadgen)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return sum(cpu_seconds(p) for p in pids) + ru.ru_utime + ru.ru_stime + time.process_time()


def wait_quiet(max_wait: float, limit_pct: float) -> float:
    """Wait (at most `max_wait` s) until the server CPU is quiet: less than `limit_pct` % busy over 0.5 s.
    Our servers are idle at this point and nothing else of ours runs there, so whatever is busy is someone else.
    Returns the seconds waited."""
    started = time.monotonic()
    while max_wait > 0:
        t0 = cpu_times()
        time.sleep(0.5)
        busy = busy_seconds(t0, cpu_times(), (f"cpu{SERVER_CPU}",))
        waited = time.monotonic() - started
        if busy / 0.5 * 100 < limit_pct or waited >= max_wait:
            return waited if waited > 0.6 else 0.0
    return 0.0


def loaded_modules(pid: int) -> dict[str, bool]:
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return {}
    return {"uvloop": "uvloop" in maps, "httptools": "httptools" in maps}


# ---------------------------------------------------------------------------------------------------- HTTP


def request(
    port: int,
    method: str,
    path: str,
    body: str | None = None,
    tenant: str | None = None,
    timeout: float = 10.0,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    """One request on a fresh connection; `tenant` is the echo vendor's tenant header."""
    sent = {"content-type": "application/json"} if body is not None else {}
    if tenant is not None:
        sent[TENANT_HEADER] = tenant
    sent.update(headers or {})
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body.encode() if body is not None else None, headers=sent)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def wait_listening(
    port: int, path: str, proc: subprocess.Popen[bytes] | None = None, log: Path | None = None, limit: float = 60.0
) -> None:
    """Until `GET path` on `port` answers (any status); fails at once if `proc` exited first, with `log`'s tail."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log is not None else ""
            raise SystemExit(f"the server exited ({proc.returncode}) before listening:\n{tail}")
        try:
            request(port, "GET", path)
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listened on {port} within {limit:.0f} s")


def received(port: int, *paths: str) -> int:
    """Webhooks bench/receiver.py on `port` counted on `paths` (0 while it does not answer)."""
    status, body = request(port, "GET", "/stats")
    if status != 200:
        return 0
    stats = json.loads(body)
    return sum(int(stats.get(p, {}).get("count", 0)) for p in paths)


def settle_count(count: Callable[[], int], want: int, quiet: float) -> int:
    """Until `count()` reaches `want`, or it did not move for `quiet` s; the last count."""
    last, since = -1, time.monotonic()
    while (got := count()) < want and time.monotonic() - since < quiet:
        if got != last:
            last, since = got, time.monotonic()
        time.sleep(0.05)
    return got


class Client:
    """One keep-alive connection for a burst of small requests (GETs are retried once on a new connection)."""

    def __init__(self, port: int, headers: dict[str, str] | None = None, timeout: float = 10.0) -> None:
        self.port = port
        self.headers = headers or {}
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def call(self, method: str, path: str, body: str | None = None) -> tuple[int, bytes]:
        headers = dict(self.headers)
        if body is not None:
            headers["content-type"] = "application/json"
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body.encode() if body is not None else None, headers=headers)
                resp = self.conn.getresponse()
                data = resp.read()
                if resp.will_close:
                    self.close()
                return resp.status, data
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt or method != "GET":
                    raise
        raise AssertionError("unreachable")


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
    """bench/receiver.py: counts webhooks per path; each run sends its webhooks to its own `/hook/<name>`."""

    def __init__(self, proc: Proc) -> None:
        self.proc = proc

    def url(self, name: str, *, ok200: bool = False) -> str:
        """`/hook/<name>` answers 204; `/hook200/<name>` answers 200 (CM.com counts only 200 as received)."""
        return f"http://{HOST}:{self.proc.port}/{'hook200' if ok200 else 'hook'}/{name}"

    def entry(self, name: str) -> dict[str, Any]:
        status, body = request(self.proc.port, "GET", "/stats")
        stats = expect(status, body, 200, "receiver /stats")
        found: dict[str, Any] = stats.get(f"/hook/{name}") or stats.get(f"/hook200/{name}") or {}
        return found

    def stats(self, name: str) -> tuple[int, float]:
        entry = self.entry(name)
        return int(entry.get("count", 0)), float(entry.get("last", 0.0))

    def wait_for(
        self,
        name: str,
        expected: int,
        t_end: float,
        cap: float,
        stall: float = 3.0,
        busy: Callable[[], bool] | None = None,
    ) -> tuple[int, float]:
        """Until `expected` hooks arrived, no progress for `stall` s (while `busy`, when given, says the server has
        none of them pending any more), or `cap` s. Returns (received, drain s)."""
        got, last = self.stats(name)
        progress_at = time.monotonic()
        deadline = progress_at + cap
        while got < expected and time.monotonic() < deadline:
            if time.monotonic() - progress_at >= stall:
                if busy is None or not busy():
                    break
                progress_at = time.monotonic()  # still pending on the server: a slow delivery, not a lost one
            time.sleep(0.1)
            now_got, last = self.stats(name)
            if now_got != got:
                got, progress_at = now_got, time.monotonic()
        return got, max(0.0, last - t_end) if got else 0.0


# ------------------------------------------------------------------------------------------ load generator


@dataclass
class LoadSpec:
    port: int
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    paths_file: Path | None = None
    """Rotate over these paths (one per line) instead of sending `path` every time."""


def _bench_json(out: subprocess.CompletedProcess[str], what: str) -> dict[str, Any]:
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCHJSON ")), None)
    if line is None:
        raise RuntimeError(f"{what} failed (rc={out.returncode}): {out.stdout[-400:]} {out.stderr[-400:]}")
    data: dict[str, Any] = json.loads(line[len("BENCHJSON ") :])
    data["rps"] = data["requests"] / (data["duration_us"] / 1e6) if data["duration_us"] else 0.0
    data["errors"] = sum(data[k] for k in ("err_connect", "err_read", "err_write", "err_status", "err_timeout"))
    return data


def loadgen_cmd(spec: LoadSpec, conns: int, pin: bool) -> list[str]:
    cmd = (["taskset", "-c", LOAD_CPU] if pin else []) + [sys.executable, str(BENCH / "loadgen.py")]
    cmd += [f"http://{HOST}:{spec.port}{spec.path}", "--method", spec.method, "-c", str(conns)]
    for name, value in spec.headers.items():
        cmd += ["-H", f"{name}: {value}"]
    if spec.body:
        cmd += ["--body", spec.body]
    if spec.paths_file is not None:
        cmd += ["--paths-file", str(spec.paths_file)]
    return cmd


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
        env = clean_env()
        if self.kind == "wrk":
            pin = ["taskset", "-c", LOAD_CPU] if self.pin else []
            secs = max(1, round(seconds))
            cmd = [*pin, "wrk", "-t2", f"-c{conns}", f"-d{secs}s", "--timeout", "5s", "-s", str(BENCH / "report.lua")]
            for name, value in spec.headers.items():
                cmd += ["-H", f"{name}: {value}"]
            cmd.append(f"http://{HOST}:{spec.port}{spec.path}")
            env.update(BENCH_METHOD=spec.method, BENCH_BODY=spec.body)
            if spec.paths_file is not None:
                env["BENCH_PATHS"] = str(spec.paths_file)
        else:
            cmd = [*loadgen_cmd(spec, conns, self.pin), "-d", str(seconds)]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 90, env=env, check=False)
        return _bench_json(out, "load generator")


def fill(spec: LoadSpec, count: int, pin: bool, conns: int = 16) -> dict[str, Any]:
    """Send exactly `count` requests as fast as possible (bench/loadgen.py in count mode); all must be 2xx."""
    cmd = [*loadgen_cmd(spec, conns, pin), "-n", str(count)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=clean_env(), check=False)
    data = _bench_json(out, "fill")
    if data["requests"] != count or data["errors"]:
        raise RuntimeError(f"fill {spec.path}: {data['requests']}/{count} requests, {data['errors']} errors")
    return data
