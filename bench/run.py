"""cxemu benchmark: cxemu's real vendor paths against a bare Starlette app, in one run, on this machine.

    make bench                    # full run (about 10 minutes)
    make bench ARGS=--quick       # smoke run (about 2 minutes)
    .venv/bin/python bench/run.py --duration 8 --connections 64,16 --reps 3

Servers run pinned to CPU 0 (`taskset -c 0`); the load generator and the webhook receiver to CPU 1. The load
generator is wrk when it is installed (`apt-get install -y wrk`), otherwise bench/loadgen.py (asyncio). Rows:

  bare-get / bare-post         bench/bare_app.py under uvicorn: the reference every ratio is taken against
  8x8-get                      GET /chat-gateway/v1/conversations/{id} (x-api-key): a plain stateful read
  8x8-post-message             POST …/conversations/{id}/messages: 202 + one RS256-signed MESSAGE webhook (echo)
                               per request to the local receiver; the requests rotate over 256 conversations
  8x8-post-message-unsigned    the same on a cxemu whose config says `signing: false`
  8x8-signed-drain             delivery-only throughput: N messages fired while chaos holds every delivery back,
                               then the dispatcher drains them all (deliveries/s at the receiver)
  signing                      raw single-thread rate of the 8x8 `webhook_headers` (RS256), same core
  sangoma-get                  GET /cx/api/v1/digital-interactions/inboxes/ with a bearer token (POST /oauth/token
                               first): Sangoma's stateful read
  cmcom-post-message           POST /v1.0/message, one message: 200 + two status reports (Accepted, Delivered, due
                               at once) per request to the local receiver, which answers 200 (CM counts only 200)
  samespace-post-flow          POST /api/public/v1/call/flow (call, then play): 200 + a call that rings, answers,
                               plays and hangs up on the system clock within ~0.9 s (no callbacks)
  memory                       RSS growth of a fresh cxemu while 20,000 8x8 conversations are created, and of
                               another while 20,000 Samespace calls are placed (with samespace-post-flow)
  cxemu-get, cxemu-post-webhook   (--with-echo) the test-only echo vendor, for comparison with older runs

The 8x8 servers are `python -m emulator serve --config <tmp>/eightbyeight*.yaml --webhook-url <receiver>`; the
config turns simulated agents off (`behaviour.auto: false`), so a conversation fires exactly three webhooks
(CONVERSATION_UPDATE created and active, QUEUED) and each posted message exactly one (MESSAGE, isEcho). The
Sangoma, CM.com and Samespace rows each have their own cxemu (configs in `cmcom_section`, `SAMESPACE_SECTION`).

Measurements are interleaved: each repetition runs every row once per connection count, so ratios are taken
between numbers measured within the same minute (the VM's noise moves over minutes). Each measurement is
preceded by a warm-up at the same connection count. Results: a table on stdout and bench/results/*.json.
Every process is started in its own process group and stopped by signalling that group.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import math
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
SERVER_CPU = "0"
LOAD_CPU = "1"
HOST = "127.0.0.1"
SIGNING_MODULE = REPO / "emulator" / "vendors" / "eightbyeight" / "signing.py"
CLK_TCK = os.sysconf("SC_CLK_TCK")
UNSATURATED_PCT = 85.0

# the echo vendor (test support), only with --with-echo
ECHO_PLUGIN = "tests.support.echo_vendor:PLUGIN"
TENANT_HEADER = "x-echo-tenant"
ITEM_BODY = '{"text":"hello bench"}'

# 8x8 Chat Gateway v1
P8 = "/chat-gateway/v1"
API_KEY_HEADER = "x-api-key"
CONVERSATION_BODY = '{"channelId":"1","user":{"name":"Bench User"}}'
MESSAGE_BODY = '{"authorType":"user","text":"hi"}'
WEBHOOK_VERSION = "Chat Gateway v1.0"
HOOKS_PER_CONVERSATION = 3
"""Webhooks one new conversation fires with agents off: CONVERSATION_UPDATE (created, active) and QUEUED."""

# Sangoma CX: OAuth client credentials, then Digital Interactions (Chatwoot) with a bearer token
SANGOMA_TOKEN_PATH = "/oauth/token"
SANGOMA_INBOXES = "/cx/api/v1/digital-interactions/inboxes/"
SANGOMA_CLIENT = ("bench", "bench-secret")
SANGOMA_INBOXES_EXPECTED = [("Website", "Channel::WebWidget"), ("API", "Channel::Api")]
"""The default inboxes of a new tenant (sangoma/config.py DEFAULT_INBOXES): what the GET must list."""

# CM.com Business Messaging: the product token is in the body; status reports go to the status webhook
CM_PATH = "/v1.0/message"
CM_CONTROL = "/_emulator/vendors/cmcom/tenants"
CM_RECIPIENT = "0031612345678"
REPORTS_PER_MESSAGE = 2
"""Status reports one accepted message fires with the bench config: Accepted, then Delivered (it goes out on SMS,
which has no read receipts; `read_after: null` anyway)."""
CM_ACCEPTED = {
    "details": "Created 1 message(s)",
    "errorCode": 0,
    "messages": [
        {"to": CM_RECIPIENT, "status": "Accepted", "reference": None, "parts": 1, "messageDetails": None,
         "messageErrorCode": 0},
    ],
}  # fmt: skip

# Samespace Call Flow: auth in the body; a `call` then a `play`, executed on the (system) clock
SS_FLOW_PATH = "/api/public/v1/call/flow"
SS_CALL_PATH = "/api/public/v1/call"
SS_CLOUD, SS_TOKEN = "bench", "bench-token"
FLOW_BODY = json.dumps(
    {
        "cloud_id": SS_CLOUD,
        "auth_token": SS_TOKEN,
        "flow": [
            {"id": "0", "type": "call", "number": "917507161643", "caller_id": "123456", "next_step": "1"},
            {"id": "1", "type": "play", "text": "hello"},
        ],
    },
    separators=(",", ":"),
)

TARGETS = {
    "get_ratio": 0.60,
    "webhook_rps": 1000.0,
    "signed_ratio": 0.75,
    "kb_per_conversation": 5.0,
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


class Client:
    """One keep-alive connection for a burst of small requests (GETs are retried once on a new connection)."""

    def __init__(self, port: int, headers: dict[str, str] | None = None) -> None:
        self.port = port
        self.headers = headers or {}
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
                self.conn = http.client.HTTPConnection(HOST, self.port, timeout=10.0)
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

    def wait_for(self, name: str, expected: int, t_end: float, cap: float, stall: float = 3.0) -> tuple[int, float]:
        """Until `expected` hooks arrived, no progress for `stall` s, or `cap` s. Returns (received, drain s)."""
        got, last = self.stats(name)
        progress_at = time.monotonic()
        deadline = progress_at + cap
        while got < expected and time.monotonic() < deadline and time.monotonic() - progress_at < stall:
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


# -------------------------------------------------------------------------------------------- 8x8 helpers


def api_key(key: str) -> dict[str, str]:
    return {API_KEY_HEADER: key}


def point_webhook(port: int, key: str, url: str) -> None:
    """PUT the tenant's default webhook `1` (channel `1` delivers to it) to `url`. Creates the tenant if new."""
    body = json.dumps({"name": "default", "uri": url, "version": WEBHOOK_VERSION})
    expect(*request(port, "PUT", f"{P8}/webhooks/1", body, headers=api_key(key)), 200, f"PUT webhook of {key}")


def set_chaos(port: int, chaos: dict[str, Any]) -> None:
    expect(*request(port, "PUT", "/_emulator/chaos", json.dumps(chaos)), 200, "PUT /_emulator/chaos")


def create_conversations(port: int, key: str, count: int, pin: bool) -> list[str]:
    """`count` conversations on channel 1 (POST /conversations in count mode), then their ids from the list."""
    fill(LoadSpec(port, "POST", f"{P8}/conversations", api_key(key), CONVERSATION_BODY), count, pin)
    ids: list[str] = []
    with Client(port, api_key(key)) as client:
        for page in range(count // 1000 + 2):
            data = expect(*client.call("GET", f"{P8}/conversations?size=1000&page={page}"), 200, "conversations")
            batch = [str(c["id"]) for c in data["_embedded"]["conversations"]]
            ids += batch
            if len(batch) < 1000:
                break
    if len(ids) != count:
        raise RuntimeError(f"{key}: {len(ids)} conversations listed, {count} created")
    return ids


def message_total(port: int, key: str, ids: Sequence[str]) -> int:
    """Messages stored in these conversations (page.totalElements of each list): the server's count of 202s."""
    total = 0
    with Client(port, api_key(key)) as client:
        for cid in ids:
            data = expect(*client.call("GET", f"{P8}/conversations/{cid}/messages?size=1"), 200, "messages")
            total += int(data["page"]["totalElements"])
    return total


def write_paths(workdir: Path, name: str, ids: Sequence[str]) -> Path:
    path = workdir / f"{name}.paths"
    path.write_text("".join(f"{P8}/conversations/{cid}/messages\n" for cid in ids))
    return path


def eightbyeight_config(workdir: Path, name: str, *, signing: bool) -> Path:
    """The YAML config of an 8x8 bench server: simulated agents off, signing on or off."""
    path = workdir / f"{name}.yaml"
    config = {"vendors": {"eightbyeight": {"behaviour": {"auto": False}, "signing": signing}}}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def vendor_config(workdir: Path, name: str, section: dict[str, Any]) -> Path:
    """A YAML config file with this `vendors:` section."""
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"vendors": section}, sort_keys=False))
    return path


def cmcom_section(sanity_hook: str) -> dict[str, Any]:
    """CM.com: status reports due at once (Accepted and Delivered at 0 s, no Read), agents off; the sanity tenant's
    status webhook set in the config (each measured run's fresh tenant gets its own through the control plane)."""
    return {
        "cmcom": {
            "behaviour": {"accepted_after": 0, "delivered_after": 0, "read_after": None, "agents_auto": False},
            "tenants": {"sanity-cmcom": {"product_tokens": ["sanity-cmcom"], "status_webhook": sanity_hook}},
        }
    }


SAMESPACE_SECTION = {"samespace": {"default_callee": {"rings": 1}, "behaviour": {"ring_seconds": 0.5}}}
"""Samespace: the callee answers after one 0.5 s ring; `play "hello"` lasts 0.4 s (150 words/min): a call is over
~0.9 s after its request, so its whole life on the clock falls inside the measured run that placed it."""


def sangoma_token(port: int, client: tuple[str, str] = SANGOMA_CLIENT) -> str:
    """POST /oauth/token (form, HTTP Basic); in open auth an unknown client id becomes a tenant."""
    basic = base64.b64encode(f"{client[0]}:{client[1]}".encode()).decode()
    headers = {"content-type": "application/x-www-form-urlencoded", "authorization": f"Basic {basic}"}
    status, body = request(port, "POST", SANGOMA_TOKEN_PATH, "grant_type=client_credentials", headers=headers)
    data = expect(status, body, 200, "Sangoma POST /oauth/token")
    if data.get("token_type") != "bearer" or "cx.digital-interactions" not in str(data.get("scope")).split():
        raise RuntimeError(f"Sangoma token: unexpected answer {data}")
    return str(data["access_token"])


def cm_body(token: str) -> str:
    """The one-message envelope of tests/vendors/cmcom (`msg()` defaults): product token in the body."""
    msg = {"from": "Acme", "to": [{"number": CM_RECIPIENT}], "body": {"type": "auto", "content": "Hello"}}
    return json.dumps({"messages": {"authentication": {"producttoken": token}, "msg": [msg]}}, separators=(",", ":"))


def cm_provision(port: int, tenant: str, status_hook: str) -> None:
    """A fresh CM.com tenant (its product token is its name) whose status reports go to `status_hook`."""
    body = json.dumps({"tenant": tenant, "vendors": ["cmcom"]})
    expect(*request(port, "POST", "/_emulator/tenants", body), 201, f"provision CM tenant {tenant}")
    cm_status_webhook(port, tenant, status_hook)


def cm_status_webhook(port: int, tenant: str, url: str) -> None:
    path = f"{CM_CONTROL}/{tenant}/webhooks"
    hooks = expect(*request(port, "PUT", path, json.dumps({"status": url})), 200, f"PUT CM webhooks of {tenant}")
    if hooks.get("status") != url:
        raise RuntimeError(f"CM {tenant}: status webhook is {hooks.get('status')}, expected {url}")


def cm_sent(port: int, tenant: str) -> int:
    """Messages the tenant sent (MT entries in its chats' transcripts): the server's count of accepted sends."""
    chats = expect(*request(port, "GET", f"{CM_CONTROL}/{tenant}/chats"), 200, "CM chats")["chats"]
    total = 0
    for chat in chats:
        full = expect(*request(port, "GET", f"{CM_CONTROL}/{tenant}/chats/{chat['chatId']}"), 200, "CM chat")
        total += sum(1 for e in full["transcript"] if e["direction"] == "MT")
    return total


def samespace_call(port: int, call_id: str, wait_s: float = 10.0) -> dict[str, Any]:
    """The call's metadata once it has ended (or after `wait_s`)."""
    path = f"{SS_CALL_PATH}/{call_id}?cloud_id={SS_CLOUD}&auth_token={SS_TOKEN}"
    deadline = time.monotonic() + wait_s
    while True:
        call: dict[str, Any] = expect(*request(port, "GET", path), 200, "Samespace call metadata")["call"]
        if call.get("ended_at") or time.monotonic() > deadline:
            return call
        time.sleep(0.2)


def cxemu_cmd(port: int, *, config: Path | None = None, webhook_url: str | None = None, plugin: str = "") -> list[str]:
    cmd = [sys.executable, "-m", "emulator", "serve", "--host", HOST, "--port", str(port), "--log-level", "warning"]
    if config is not None:
        cmd += ["--config", str(config)]
    if webhook_url is not None:
        cmd += ["--webhook-url", webhook_url]
    if plugin:
        cmd += ["--plugin", plugin]
    return cmd


# ------------------------------------------------------------------------------------------------ the rows


@dataclass
class Row:
    name: str
    server: Proc
    method: str
    path: str
    reference: str | None
    """Name of the bare row whose req/s is the denominator of this row's ratio."""
    kind: str = "plain"
    """plain (no webhook), echo-webhook (echo vendor, fresh tenant per run), 8x8-webhook (256 conversations),
    cm-webhook (CM.com, fresh tenant per run, REPORTS_PER_MESSAGE status reports per request)."""
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def webhook(self) -> bool:
        return self.kind != "plain"


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
    cpu_us_per_request: float
    """Server CPU time per completed request (for webhook rows: the request plus its delivery)."""
    other_cpu_pct: float
    """CPU (% of one CPU) used during the run by processes that are not ours: other work on the machine."""
    other_server_cpu_pct: float
    """The same, on the server's CPU only: this is what makes a measurement unfair (it is retried)."""
    steal_pct: dict[str, float]
    """% of each CPU's time the hypervisor gave to other guests: the server (or wrk) could not run then."""
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


def noise_pct(other_server_cpu_pct: float, steal: dict[str, float]) -> float:
    """How much of the server CPU was not ours during a run: other processes on it (visible in /proc/stat) plus
    hypervisor steal on it (other guests of the host). Above --noise-limit the run is measured again."""
    return round(other_server_cpu_pct + steal.get(f"cpu{SERVER_CPU}", 0.0), 1)


@dataclass
class Drain:
    """One 8x8-signed-drain measurement: N signed deliveries held back, then drained by the dispatcher."""

    rep: int
    attempt: int
    deliveries: int
    """N: message requests fired (all 202) = MESSAGE webhooks expected."""
    fire_s: float
    fire_rps: float
    held_s: float
    """Chaos `delay_seconds`: how long each new delivery was held back."""
    received: int
    lost: int
    wait_s: float
    """First receipt - end of the firing (negative: the drain overlapped the firing)."""
    window_s: float
    """Seconds the rate is measured over: first receipt (or end of the firing) to last receipt."""
    rate: float
    """Deliveries per second at the receiver over `window_s`."""
    overlap: bool
    server_cpu_pct: float
    cpu_us_per_delivery: float
    other_server_cpu_pct: float
    steal_pct: dict[str, float]
    raw_signing_per_s: float
    """Raw signing rate of the same repetition: the mean of the measurements just before and just after."""
    ratio: float
    """rate / raw_signing_per_s: the target's figure."""
    server_failed: int
    quiet_wait_s: float
    raw_signing_runs: list[float] = field(default_factory=list)
    raw_cpu_us: float = 0.0
    """CPU µs per raw signature (mean of the bracketing measurements)."""
    cpu_ratio: float = 0.0
    """raw_cpu_us / cpu_us_per_delivery: the same ratio in CPU time (a cross-check that steal does not move)."""

    def set_raw(self, runs: list[dict[str, Any]]) -> None:
        ok = [r for r in runs if r.get("available")]
        if not ok:
            return
        self.raw_signing_runs = [float(r["per_s"]) for r in ok]
        self.raw_signing_per_s = round(statistics.fmean(self.raw_signing_runs), 1)
        self.ratio = round(self.rate / self.raw_signing_per_s, 4) if self.raw_signing_per_s > 0 else 0.0
        self.raw_cpu_us = round(statistics.fmean(float(r["cpu_per_signature_us"]) for r in ok), 1)
        self.cpu_ratio = round(self.raw_cpu_us / self.cpu_us_per_delivery, 4) if self.cpu_us_per_delivery else 0.0


def probe_count(port: int, tenant: str) -> int:
    """Echo vendor: create one more item: its sequential id (`it-N`) is the server's count of 201s for the tenant."""
    status, body = request(port, "POST", "/echo/v1/items", ITEM_BODY, tenant)
    item = expect(status, body, 201, "probe POST")
    return int(str(item["id"]).removeprefix("it-"))


def deliveries_count(port: int, tenant: str, status: str) -> int:
    code, body = request(port, "GET", f"/_emulator/deliveries?tenant={tenant}&status={status}&body=false")
    return len(expect(code, body, 200, "deliveries").get("deliveries", []))


class Bench:
    def __init__(
        self, args: argparse.Namespace, procs: Procs, load: LoadGen, receiver: Receiver, workdir: Path
    ) -> None:
        self.args = args
        self.procs = procs
        self.load = load
        self.receiver = receiver
        self.workdir = workdir
        self.deadline: float = time.monotonic() + float(args.budget)
        self.runs_left = 0
        """Measurements still to do (set by the caller); the time they need is kept free of retries and waits."""
        self.drains_left = 0
        self.fire_rate_guess = 1500.0
        """Message requests/s while deliveries are held back; sets the hold of the next drain (updated per run)."""

    def per_run_s(self) -> float:
        """Wall seconds of one measurement, on average (webhook rows also create their conversations)."""
        return float(self.args.warmup + self.args.duration + 2.5)

    def per_drain_s(self) -> float:
        return float(2.5 * self.args.drain_seconds + 8.0)

    def slack(self) -> float:
        """Seconds of the budget not needed by the remaining measurements, drains, memory and signing."""
        memory = 0.0 if self.args.skip_memory else self.args.mem_conversations / 450
        if not self.args.skip_memory and "samespace-post-flow" in self.args.wanted:
            memory += self.args.mem_calls / 1000
        tail = memory + float(2 * self.args.reps * (self.args.signing_seconds + 1.5))
        needed = self.runs_left * self.per_run_s() + self.drains_left * self.per_drain_s()
        return self.deadline - time.monotonic() - needed - tail

    def register_hook(self, port: int, tenant: str) -> None:
        status, body = request(port, "PUT", "/echo/v1/webhook", json.dumps({"url": self.receiver.url(tenant)}), tenant)
        expect(status, body, 204, f"PUT webhook for {tenant}")

    def setup_conversations(self, port: int, key: str) -> list[str]:
        """A fresh 8x8 tenant `key` with `--conversations` conversations, their webhooks delivered to
        /hook/<key>-setup (so they are not counted in the run)."""
        point_webhook(port, key, self.receiver.url(f"{key}-setup"))
        ids = create_conversations(port, key, self.args.conversations, self.procs.pin)
        expected = HOOKS_PER_CONVERSATION * len(ids)
        got, _ = self.receiver.wait_for(f"{key}-setup", expected, time.time(), self.args.drain_cap)
        if got != expected:
            log(f"    (setup of {key}: {got}/{expected} conversation webhooks arrived)")
        return ids

    def measure(self, row: Row, conns: int, rep: int) -> Measurement:
        """One measurement; repeated (up to --retries times) when other processes took CPU during it."""
        self.runs_left -= 1
        m = self._measure_once(row, conns, rep, 0)
        for attempt in range(1, self.args.retries + 1):
            noise = noise_pct(m.other_server_cpu_pct, m.steal_pct)
            starved = self.load.kind == "wrk" and m.server_cpu_pct < UNSATURATED_PCT
            if noise <= self.args.noise_limit and not starved:
                break
            why = f"{noise:.0f}% of the server CPU was not ours (other processes + steal)"
            if noise <= self.args.noise_limit:
                why = f"the server was busy only {m.server_cpu_pct:.0f}% (steal on the load CPU?)"
            if self.slack() < self.per_run_s():
                log(f"    ({why}, but no time left in --budget to measure it again)")
                break
            log(f"    ({why}: measuring again)")
            m = self._measure_once(row, conns, rep, attempt)
        return m

    def _measure_once(self, row: Row, conns: int, rep: int, attempt: int) -> Measurement:
        a = self.args
        port = row.server.port
        tag = f"{row.name}-c{conns}-r{rep}-a{attempt}"
        spec = LoadSpec(port, row.method, row.path, dict(row.headers), row.body)
        ids: list[str] = []
        before = 0
        if row.kind == "8x8-webhook":
            # a fresh tenant: 256 conversations, their own webhook path; requests rotate over the conversations
            ids = self.setup_conversations(port, tag)
            spec = LoadSpec(port, row.method, f"{P8}/conversations/{ids[0]}/messages", api_key(tag), row.body)
            spec.paths_file = write_paths(self.workdir, tag, ids)
        elif row.kind == "cm-webhook":
            # a fresh tenant (product token = its name) whose warm-up reports go to their own path
            cm_provision(port, tag, self.receiver.url(f"{tag}-setup", ok200=True))
            spec = LoadSpec(port, row.method, row.path, {}, cm_body(tag))
        quiet_wait = wait_quiet(min(a.quiet_wait, max(0.0, self.slack())), a.noise_limit)
        if row.kind == "echo-webhook":
            warm = f"{tag}-warm"
            self.register_hook(port, warm)
            w = self.load.run(LoadSpec(port, row.method, row.path, {TENANT_HEADER: warm}, row.body), conns, a.warmup)
            self.receiver.wait_for(warm, probe_count(port, warm), time.time(), a.drain_cap)
            spec.headers = {TENANT_HEADER: tag}
            self.register_hook(port, tag)
        elif row.kind == "8x8-webhook":
            w = self.load.run(spec, conns, a.warmup)  # its webhooks go to the setup path too
            before = message_total(port, tag, ids)
            expected = HOOKS_PER_CONVERSATION * len(ids) + before
            self.receiver.wait_for(f"{tag}-setup", expected, time.time(), a.drain_cap)
            point_webhook(port, tag, self.receiver.url(tag))
        elif row.kind == "cm-webhook":
            w = self.load.run(spec, conns, a.warmup)
            before = cm_sent(port, tag)
            self.receiver.wait_for(f"{tag}-setup", REPORTS_PER_MESSAGE * before, time.time(), a.drain_cap)
            cm_status_webhook(port, tag, self.receiver.url(tag, ok200=True))
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
        cpus = (f"cpu{SERVER_CPU}",) if self.procs.pin else None
        other_server = max(0.0, busy_seconds(ticks0, ticks1, cpus) - (cpu1 - cpu0)) if self.procs.pin else other
        m = Measurement(
            row=row.name, conns=conns, rep=rep, rps=round(r["rps"], 1), p50_ms=r["p50_us"] / 1000,
            p99_ms=r["p99_us"] / 1000, errors=r["errors"], requests=r["requests"],
            duration_s=r["duration_us"] / 1e6, server_cpu_pct=round(100 * (cpu1 - cpu0) / elapsed, 1),
            cpu_us_per_request=round((cpu1 - cpu0) / max(1, r["requests"]) * 1e6, 1),
            other_cpu_pct=round(100 * other / elapsed, 1),
            other_server_cpu_pct=round(100 * other_server / elapsed, 1), steal_pct=steal_pct(ticks0, ticks1),
            warmup_rps=round(w["rps"], 1), attempt=attempt, quiet_wait_s=round(quiet_wait, 1), load=r,
        )  # fmt: skip
        if row.webhook:
            echo = row.kind == "echo-webhook"
            if echo:
                sent = probe_count(port, tag)
            elif row.kind == "cm-webhook":
                sent = REPORTS_PER_MESSAGE * (cm_sent(port, tag) - before)
            else:
                sent = message_total(port, tag, ids) - before
            got, drain = self.receiver.wait_for(tag, sent, t_end, a.drain_cap)
            m.hooks_sent, m.hooks_received, m.hooks_lost = sent, got, max(0, sent - got)
            m.drain_s = round(drain, 2)
            m.sustained_per_s = round(got / (m.duration_s + drain), 1)
            m.server_failed = deliveries_count(port, tag, "failed")
            m.server_pending = deliveries_count(port, tag, "pending")
        extra = ""
        if row.webhook:
            extra = (
                f" hooks {m.hooks_received}/{m.hooks_sent} lost={m.hooks_lost} drain={m.drain_s}s"
                f" sustained={m.sustained_per_s:.0f}/s"
            )
        log(
            f"  {row.name:<25} c={conns:<3} rep={rep}: {m.rps:8.0f} req/s  p50={m.p50_ms:6.2f}ms"
            f" p99={m.p99_ms:7.2f}ms errors={m.errors} server-cpu={m.server_cpu_pct:.0f}%"
            f" ({m.cpu_us_per_request:.0f} µs/req) other-cpu: server's {m.other_server_cpu_pct:.0f}%,"
            f" all {m.other_cpu_pct:.0f}%; steal {'/'.join(f'{v:.0f}' for v in m.steal_pct.values())}%"
            f" (warm-up {m.warmup_rps:.0f}/s){extra}"
        )
        return m

    # -- 8x8-signed-drain ---------------------------------------------------------------------------------

    def drain(self, server: Proc, rep: int, raw_rate: float) -> Drain:
        """Measured again (up to --retries times) when other processes took CPU during the drain."""
        self.drains_left -= 1
        d = self._drain_once(server, rep, raw_rate, 0)
        for attempt in range(1, self.args.retries + 1):
            noise = noise_pct(d.other_server_cpu_pct, d.steal_pct)
            if noise <= self.args.noise_limit or self.slack() < self.per_drain_s():
                break
            log(f"    ({noise:.0f}% of the server CPU was not ours (other processes + steal): measuring again)")
            d = self._drain_once(server, rep, raw_rate, attempt)
        return d

    def _drain_once(self, server: Proc, rep: int, raw_rate: float, attempt: int) -> Drain:
        """Fire N message requests while `PUT /_emulator/chaos {"delay": 1, "delay_seconds": D}` holds every new
        delivery back D seconds; the deliveries fall due from D seconds after the first request on, faster than
        they can be sent, so from the first receipt on the dispatcher has a backlog and drains it flat out.
        Rate = receipts / (last receipt - first receipt), at the receiver."""
        a = self.args
        port = server.port
        key = f"8x8-signed-drain-r{rep}-a{attempt}"
        ids = self.setup_conversations(port, key)
        paths = write_paths(self.workdir, key, ids)
        n = max(500, math.ceil(a.drain_seconds * raw_rate / 100) * 100)
        held = round(1.5 + n / self.fire_rate_guess, 1)
        set_chaos(port, {"delay": 1.0, "delay_seconds": held, "tenant": key})
        try:
            point_webhook(port, key, self.receiver.url(key))
            quiet_wait = wait_quiet(min(a.quiet_wait, max(0.0, self.slack())), a.noise_limit)
            spec = LoadSpec(port, "POST", f"{P8}/conversations/{ids[0]}/messages", api_key(key), MESSAGE_BODY, paths)
            t_fire = time.time()
            fired = fill(spec, n, self.procs.pin, conns=64)
            t_fired = time.time()
            got_fired = self.receiver.stats(key)[0]
            fire_s = t_fired - t_fire
            self.fire_rate_guess = max(200.0, 0.75 * n / fire_s)
            time.sleep(max(0.0, t_fire + held - 0.3 - time.time()))
            pids = (server.pid, self.receiver.proc.pid)
            ticks0, ours0, cpu0, w0 = cpu_times(), own_cpu_seconds(pids), cpu_seconds(server.pid), time.monotonic()
            got, _ = self.receiver.wait_for(key, n, time.time(), a.drain_cap)
            cpu1, ours1, ticks1, wall = (
                cpu_seconds(server.pid),
                own_cpu_seconds(pids),
                cpu_times(),
                time.monotonic() - w0,
            )
        finally:
            set_chaos(port, {})
        entry = self.receiver.entry(key)
        first, last = float(entry.get("first", 0.0)), float(entry.get("last", 0.0))
        overlap = got_fired > 0 or first < t_fired
        if overlap:  # the first deliveries went out while requests were still being fired: count from the end
            window, count = last - t_fired, got - got_fired
        else:
            window, count = last - first, got - 1
        rate = count / window if window > 0 else 0.0
        if self.procs.pin:  # what others used on the server CPU
            other = max(0.0, busy_seconds(ticks0, ticks1, (f"cpu{SERVER_CPU}",)) - (cpu1 - cpu0))
        else:
            other = max(0.0, busy_seconds(ticks0, ticks1) - (ours1 - ours0))
        d = Drain(
            rep=rep, attempt=attempt, deliveries=n, fire_s=round(fire_s, 2), fire_rps=round(fired["rps"], 1),
            held_s=held, received=got, lost=max(0, n - got), wait_s=round(first - t_fired, 2),
            window_s=round(window, 2), rate=round(rate, 1), overlap=overlap,
            server_cpu_pct=round(100 * (cpu1 - cpu0) / wall, 1) if wall > 0 else 0.0,
            cpu_us_per_delivery=round((cpu1 - cpu0) / max(1, got) * 1e6, 1),
            other_server_cpu_pct=round(100 * other / wall, 1) if wall > 0 else 0.0,
            steal_pct=steal_pct(ticks0, ticks1),
            raw_signing_per_s=raw_rate, ratio=round(rate / raw_rate, 4) if raw_rate > 0 else 0.0,
            server_failed=deliveries_count(port, key, "failed"), quiet_wait_s=round(quiet_wait, 1),
        )  # fmt: skip
        log(
            f"  8x8-signed-drain          rep={rep}: {n:,} held {held:g}s (fired at {d.fire_rps:,.0f}/s in"
            f" {d.fire_s:.1f}s), received {got:,} lost {d.lost}; {d.rate:,.0f} deliveries/s over {d.window_s:.2f}s"
            f"{' (OVERLAP with the firing)' if overlap else ''}; server-cpu={d.server_cpu_pct:.0f}%"
            f" ({d.cpu_us_per_delivery:.0f} µs/delivery), other {d.other_server_cpu_pct:.0f}%,"
            f" steal {d.steal_pct.get(f'cpu{SERVER_CPU}', 0.0):.0f}%"
        )
        return d


# ------------------------------------------------------------------------------------------------- memory


def measure_memory(args: argparse.Namespace, procs: Procs, receiver: Receiver, workdir: Path) -> dict[str, Any]:
    """A fresh 8x8 cxemu (agents off, signing off, webhooks to the receiver): RSS before, at checkpoints, and
    after `--mem-conversations` conversations. Every webhook is delivered (204), so the delivery log stays at
    its bound (`delivery_log_size`, 5,000) and nothing waits for a retry."""
    port = free_port()
    config = eightbyeight_config(workdir, "eightbyeight-memory", signing=False)
    cmd = cxemu_cmd(port, config=config, webhook_url=receiver.url("mem"))
    proc = procs.start("cxemu-memory", cmd, SERVER_CPU, port=port, env=clean_env())
    count = args.mem_conversations
    try:
        wait_ready(proc, "/_emulator/health")
        first = expect(
            *request(port, "POST", f"{P8}/conversations", CONVERSATION_BODY, headers=api_key("mem")), 202, "conv"
        )
        cid = first["conversationId"]
        expect(*request(port, "GET", f"{P8}/conversations/{cid}", headers=api_key("mem")), 200, "read conversation")
        receiver.wait_for("mem", HOOKS_PER_CONVERSATION, time.time(), 10.0)
        time.sleep(0.5)
        rss0 = status_kb(proc.pid, "VmRSS")
        checkpoints = [(0, rss0)]
        steps = 4
        done = 0
        started = time.monotonic()
        spec = LoadSpec(port, "POST", f"{P8}/conversations", api_key("mem"), CONVERSATION_BODY)
        for i in range(1, steps + 1):
            target = count * i // steps
            fill(spec, target - done, procs.pin)
            done = target
            got, _ = receiver.wait_for("mem", HOOKS_PER_CONVERSATION * (done + 1), time.time(), 60.0)
            time.sleep(0.3)
            checkpoints.append((done, status_kb(proc.pid, "VmRSS")))
        fill_s = time.monotonic() - started
        listed = expect(*request(port, "GET", f"{P8}/conversations?size=1", headers=api_key("mem")), 200, "list")
        stored = int(listed["page"]["totalElements"])
        if stored != count + 1:
            raise RuntimeError(f"memory: {stored} conversations stored, expected {count + 1}")
        rss_n = checkpoints[-1][1]
        half_n, half_rss = checkpoints[steps // 2]
        total_kb = (rss_n - rss0) / count
        marginal_kb = (rss_n - half_rss) / (count - half_n)
        return {
            "conversations": count,
            "fill_rate_per_s": round(count / fill_s, 1),
            "webhooks_received": got,
            "webhooks_expected": HOOKS_PER_CONVERSATION * (count + 1),
            "rss_kb_before": rss0,
            "rss_kb_after": rss_n,
            "checkpoints_conversations_rss_kb": checkpoints,
            "kb_per_conversation_total": round(total_kb, 3),
            "kb_per_conversation_marginal": round(marginal_kb, 3),
            "marginal_from": half_n,
            "mb_per_10k_total": round(total_kb * 10_000 / 1024, 2),
            "mb_per_10k_marginal": round(marginal_kb * 10_000 / 1024, 2),
            "journal_saturated_at_midpoint": half_n + 1 >= 10_000,
            "vmhwm_kb": status_kb(proc.pid, "VmHWM"),
        }
    finally:
        procs.stop(proc)


def measure_call_memory(args: argparse.Namespace, procs: Procs, workdir: Path) -> dict[str, Any]:
    """A fresh cxemu with the bench's Samespace config: RSS before and after `--mem-calls` flows (the body of
    `samespace-post-flow`), placed in 4 steps; after each step a marker flow is placed and waited for until it
    has ended, so every call of the step has run its course (ended calls are kept: one more call each)."""
    port = free_port()
    config = vendor_config(workdir, "samespace-memory", SAMESPACE_SECTION)
    proc = procs.start("samespace-memory", cxemu_cmd(port, config=config), SERVER_CPU, port=port, env=clean_env())
    count = args.mem_calls

    def marker() -> None:
        placed = expect(*request(port, "POST", SS_FLOW_PATH, FLOW_BODY), 200, "Samespace POST flow")
        call = samespace_call(port, str(placed["call_id"]), wait_s=60.0)
        if call.get("status") != "completed":
            raise RuntimeError(f"memory: marker call did not complete: {call.get('status')}")

    try:
        wait_ready(proc, "/_emulator/health")
        marker()
        time.sleep(0.5)
        rss0 = status_kb(proc.pid, "VmRSS")
        checkpoints = [(0, rss0)]
        steps = 4
        done = 0
        started = time.monotonic()
        spec = LoadSpec(port, "POST", SS_FLOW_PATH, {}, FLOW_BODY)
        for i in range(1, steps + 1):
            target = count * i // steps
            fill(spec, target - done, procs.pin)
            done = target
            marker()
            time.sleep(0.3)
            checkpoints.append((done, status_kb(proc.pid, "VmRSS")))
        fill_s = time.monotonic() - started
        calls = expect(*request(port, "GET", f"/_emulator/vendors/samespace/tenants/{SS_CLOUD}/calls"), 200, "calls")
        statuses: dict[str, int] = {}
        for c in calls["calls"]:
            statuses[c["status"]] = statuses.get(c["status"], 0) + 1
        if sum(statuses.values()) != count + steps + 1 or set(statuses) != {"completed"}:
            raise RuntimeError(f"memory: {statuses} calls stored, expected {count + steps + 1} completed")
        rss_n = checkpoints[-1][1]
        half_n, half_rss = checkpoints[steps // 2]
        total_kb = (rss_n - rss0) / count
        marginal_kb = (rss_n - half_rss) / (count - half_n)
        return {
            "calls": count,
            "fill_rate_per_s": round(count / fill_s, 1),
            "rss_kb_before": rss0,
            "rss_kb_after": rss_n,
            "checkpoints_calls_rss_kb": checkpoints,
            "kb_per_call_total": round(total_kb, 3),
            "kb_per_call_marginal": round(marginal_kb, 3),
            "marginal_from": half_n,
            "mb_per_10k_total": round(total_kb * 10_000 / 1024, 2),
            "mb_per_10k_marginal": round(marginal_kb * 10_000 / 1024, 2),
            "vmhwm_kb": status_kb(proc.pid, "VmHWM"),
        }
    finally:
        procs.stop(proc)


def signing_run(args: argparse.Namespace, procs: Procs, rep: int) -> dict[str, Any]:
    sig = measure_signing(args, procs)
    sig["rep"] = rep
    if sig.get("available"):
        cpu_us = sig["cpu_per_signature_us"]
        log(f"  raw RS256 signing         rep={rep}: {sig['per_s']:8,.0f}/s ({cpu_us:.0f} µs CPU each)")
    return sig


def measure_signing(args: argparse.Namespace, procs: Procs) -> dict[str, Any]:
    if not SIGNING_MODULE.exists():
        return {"available": False, "error": f"{SIGNING_MODULE.relative_to(REPO)} does not exist"}
    cmd = (["taskset", "-c", SERVER_CPU] if procs.pin else []) + [sys.executable, str(BENCH / "signing_rate.py")]
    ticks0, ru0 = cpu_times(), resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        [*cmd, str(args.signing_seconds)], cwd=REPO, capture_output=True, text=True, timeout=300, env=clean_env(),
        check=False,
    )  # fmt: skip
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCHJSON ")), None)
    if line is None:
        return {"available": False, "error": f"signing_rate.py failed: {out.stderr[-400:]}"}
    result: dict[str, Any] = json.loads(line[len("BENCHJSON ") :])
    ticks1, ru1 = cpu_times(), resource.getrusage(resource.RUSAGE_CHILDREN)
    own = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    if procs.pin:
        other = max(0.0, busy_seconds(ticks0, ticks1, (f"cpu{SERVER_CPU}",)) - own)
        result["other_server_cpu_pct"] = round(100 * other / max(0.1, float(result.get("seconds", 1.0))), 1)
    result["steal_pct"] = steal_pct(ticks0, ticks1)
    return result


# ------------------------------------------------------------------------------------------------ summary


def _median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


@dataclass
class RowInfo:
    """What the summary needs of a row."""

    name: str
    reference: str | None
    webhook: bool


def summarize(
    rows: Sequence[Row | RowInfo], runs: list[Measurement], conns_list: list[int], noise_limit: float
) -> list[dict[str, Any]]:
    """One line per (row, conns): medians over the repetitions; ratio = median of the per-repetition ratios."""
    by_key = {(m.row, m.conns, m.rep): m for m in runs}
    out = []
    for conns in conns_list:
        for row in rows:
            ms = [m for m in runs if m.row == row.name and m.conns == conns]
            if not ms:
                continue
            ratios, cpu_ratios = [], []
            if row.reference is not None:
                for m in ms:
                    ref = by_key.get((row.reference, conns, m.rep))
                    if ref is not None and ref.rps > 0:
                        ratios.append(m.rps / ref.rps)
                    if ref is not None and m.cpu_us_per_request > 0:
                        cpu_ratios.append(ref.cpu_us_per_request / m.cpu_us_per_request)
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
                "cpu_us_per_request": round(_median([m.cpu_us_per_request for m in ms]), 1),
                "other_server_cpu_pct_max": max(m.other_server_cpu_pct for m in ms),
                "steal_server_pct": round(_median([m.steal_pct.get(f"cpu{SERVER_CPU}", 0.0) for m in ms]), 1),
                "noisy_runs": sum(1 for m in ms if noise_pct(m.other_server_cpu_pct, m.steal_pct) > noise_limit),
                "ratio": round(_median(ratios), 4) if ratios else None,
                "cpu_ratio": round(_median(cpu_ratios), 4) if cpu_ratios else None,
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


def combine_signing(reps: list[dict[str, Any]], skipped: bool) -> dict[str, Any]:
    """The per-repetition raw signing measurements as one record (medians) plus the list."""
    ok = [r for r in reps if r.get("available")]
    if not ok:
        reason = "skipped (--no-signed)" if skipped else (reps[0].get("error") if reps else "signing.py not found")
        return {"available": False, "error": reason, "per_rep": reps}
    return {
        "available": True,
        "per_s": round(_median([r["per_s"] for r in ok]), 1),
        "cpu_per_signature_us": round(_median([r["cpu_per_signature_us"] for r in ok]), 1),
        "per_rep": reps,
    }


def combine_drains(drains: list[Drain], noise_limit: float) -> dict[str, Any]:
    if not drains:
        return {}
    return {
        "reps": len(drains),
        "deliveries": sum(d.deliveries for d in drains),
        "received": sum(d.received for d in drains),
        "lost": sum(d.lost for d in drains),
        "rate": round(_median([d.rate for d in drains]), 1),
        "raw_signing_per_s": round(_median([d.raw_signing_per_s for d in drains]), 1),
        "ratio": round(_median([d.ratio for d in drains]), 4),
        "ratios": [d.ratio for d in drains],
        "cpu_ratio": round(_median([d.cpu_ratio for d in drains]), 4),
        "window_s": round(_median([d.window_s for d in drains]), 2),
        "server_cpu_pct": round(_median([d.server_cpu_pct for d in drains]), 1),
        "cpu_us_per_delivery": round(_median([d.cpu_us_per_delivery for d in drains]), 1),
        "overlaps": sum(1 for d in drains if d.overlap),
        "noisy_runs": sum(1 for d in drains if noise_pct(d.other_server_cpu_pct, d.steal_pct) > noise_limit),
    }


def verdicts(
    summary: list[dict[str, Any]], memory: dict[str, Any], drain: dict[str, Any], signing: dict[str, Any]
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def lines(row: str) -> list[dict[str, Any]]:
        return [s for s in summary if s["row"] == row]

    gets = lines("8x8-get")
    if gets:
        worst = min(s["ratio"] or 0.0 for s in gets)
        figures = ", ".join(
            f"c={s['conns']}: {s['ratio'] or 0.0:.4f} ({s['rps']:,.0f} req/s; CPU ratio {s['cpu_ratio'] or 0.0:.3f})"
            for s in gets
        )
        out.append(_verdict("plain stateful GET (8x8-get) >= 60% of bare-get", worst >= TARGETS["get_ratio"], figures))
    hooks = lines("8x8-post-message-unsigned")
    if hooks:
        ok = all(
            s["rps"] >= TARGETS["webhook_rps"]
            and s["sustained_per_s"] >= TARGETS["webhook_rps"]
            and s["hooks_lost"] == 0
            for s in hooks
        )
        figures = "; ".join(
            f"c={s['conns']}: {s['rps']:,.0f} req/s, sustained {s['sustained_per_s']:,.0f}/s, lost {s['hooks_lost']}"
            for s in hooks
        )
        out.append(_verdict("unsigned webhook request >= 1,000 req/s, every webhook delivered", ok, figures))
    if drain:
        ok = drain["ratio"] >= TARGETS["signed_ratio"] and drain["lost"] == 0
        figures = (
            f"drain {drain['rate']:,.0f}/s vs raw signing {drain['raw_signing_per_s']:,.0f}/s: ratio"
            f" {drain['ratio']:.3f} (per rep {', '.join(f'{r:.3f}' for r in drain['ratios'])}; in CPU time"
            f" {drain['cpu_ratio']:.3f}); lost {drain['lost']} of {drain['deliveries']:,}"
        )
        out.append(_verdict("signed deliveries (8x8-signed-drain) >= 75% of raw signing rate", ok, figures))
    elif not signing.get("available"):
        out.append({"target": "signed deliveries >= 75% of raw signing rate", "met": None, "figures": "not measured"})
    if memory.get("conversations"):
        kb = memory["kb_per_conversation_marginal"]
        figures = (
            f"{kb:.2f} KB/conversation marginal ({memory['mb_per_10k_marginal']:.1f} MB per 10k);"
            f" {memory['kb_per_conversation_total']:.2f} KB incl. the bounded journal and delivery log"
        )
        out.append(_verdict("memory <= 5 KB per 8x8 conversation", kb <= TARGETS["kb_per_conversation"], figures))
    return out


def _verdict(target: str, met: bool, figures: str) -> dict[str, Any]:
    return {"target": target, "met": met, "figures": figures}


def render(result: dict[str, Any]) -> str:
    out = [
        f"## cxemu benchmark, {result['started_at']}",
        "",
        f"load generator: {result['generator']}; server CPU {SERVER_CPU}, load+receiver CPU {LOAD_CPU}"
        + ("" if result["pinned"] else " (NOT pinned)")
        + f"; {result['duration_s']:g} s per run after a {result['warmup_s']:g} s warm-up, {result['reps']} rep(s);"
        f" webhook rows rotate over {result['conversations']} conversations of a fresh tenant per run",
        f"ratio = req/s / req/s of the bare row, median of the per-repetition ratios; noisy run = other processes used"
        f" plus hypervisor steal more than {result['noise_limit']:g} % of the server CPU during it (after"
        f" {result['retries']} retry); steal % = median steal on the server CPU; CPU ratio = bare CPU µs/req ÷ the"
        " row's (steal-proof cross-check of the ratio)",
        "",
        "| row | conns | req/s | p50 ms | p99 ms | ratio | CPU ratio | server CPU % | CPU µs/req | steal % "
        "| noisy runs | errors | webhooks recv/sent | lost | drain s | sustained/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in result["summary"]:
        if s["reference"] is None:
            ratio = "reference"
        elif s["ratio"] is None:
            ratio = "n/a"
        else:
            ratio = f"{s['ratio']:.3f}x {s['reference']}"
        if s["server_cpu_pct"] < UNSATURATED_PCT:
            ratio += " (*)"
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
            f"| {'' if s['cpu_ratio'] is None else format(s['cpu_ratio'], '.3f')} "
            f"| {s['server_cpu_pct']:.0f} | {s['cpu_us_per_request']:.0f} | {s['steal_server_pct']:.0f} "
            f"| {s['noisy_runs']}/{s['reps']} "
            f"| {s['errors']} | {' | '.join(hooks)} |"
        )
    if any(s["server_cpu_pct"] < UNSATURATED_PCT for s in result["summary"]):
        out.append(
            f"(*) server below {UNSATURATED_PCT:g} % CPU: it was not the bottleneck (the load generator or other "
            "processes were), so that row's req/s and ratio understate the server"
        )
    drains = result["drains"]
    if drains:
        out += [
            "",
            "8x8-signed-drain: N signed MESSAGE deliveries held back by chaos (`delay_seconds` = held), then drained;"
            " rate = receipts / (last - first receipt) at the receiver; raw = bench/signing_rate.py on the same core,"
            " mean of the runs just before and just after the drain; CPU ratio = raw CPU µs/signature ÷ drain CPU"
            " µs/delivery",
            "",
            "| rep | N | fired req/s | held s | recv/sent | lost | drain window s | deliveries/s | raw signing/s "
            "| ratio | server CPU % | CPU µs/delivery | raw CPU µs/signature | CPU ratio | other + steal % |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for d in drains:
            out.append(
                f"| {d['rep']} | {d['deliveries']:,} | {d['fire_rps']:,.0f} | {d['held_s']:g} "
                f"| {d['received']:,}/{d['deliveries']:,} | {d['lost']} | {d['window_s']:.2f}"
                f"{' (overlap)' if d['overlap'] else ''} | {d['rate']:,.0f} | {d['raw_signing_per_s']:,.0f} "
                f"| {d['ratio']:.3f} | {d['server_cpu_pct']:.0f} | {d['cpu_us_per_delivery']:.0f} "
                f"| {d['raw_cpu_us']:.0f} | {d['cpu_ratio']:.3f} "
                f"| {noise_pct(d['other_server_cpu_pct'], d['steal_pct']):.0f} |"
            )
    mem = result["memory"]
    if mem.get("conversations"):
        out += [
            "",
            f"memory (fresh 8x8 cxemu, agents off, signing off, webhooks delivered to the receiver;"
            f" {mem['conversations']:,} conversations created at {mem['fill_rate_per_s']:,.0f}/s,"
            f" webhooks {mem['webhooks_received']:,}/{mem['webhooks_expected']:,}): "
            f"RSS {mem['rss_kb_before'] / 1024:.1f} -> {mem['rss_kb_after'] / 1024:.1f} MiB; "
            f"{mem['kb_per_conversation_total']:.2f} KB/conversation overall ({mem['mb_per_10k_total']:.1f} MB per"
            f" 10k), {mem['kb_per_conversation_marginal']:.2f} KB/conversation marginal after"
            f" {mem['marginal_from']:,} ({mem['mb_per_10k_marginal']:.1f} MB per 10k)",
        ]
    calls = result.get("call_memory") or {}
    if calls.get("calls"):
        out.append(
            f"memory per Samespace call (fresh cxemu, `samespace-post-flow`'s flow and config, every call ended;"
            f" {calls['calls']:,} calls placed at {calls['fill_rate_per_s']:,.0f}/s): RSS"
            f" {calls['rss_kb_before'] / 1024:.1f} -> {calls['rss_kb_after'] / 1024:.1f} MiB;"
            f" {calls['kb_per_call_total']:.2f} KB/call overall ({calls['mb_per_10k_total']:.1f} MB per 10k),"
            f" {calls['kb_per_call_marginal']:.2f} KB/call marginal after {calls['marginal_from']:,}"
            f" ({calls['mb_per_10k_marginal']:.1f} MB per 10k)"
        )
    peaks = ", ".join(f"{k} {v / 1024:.1f} MiB" for k, v in result["peak_rss_kb"].items())
    out.append(f"peak RSS (VmHWM): {peaks}")
    sig = result["signing"]
    if sig.get("available"):
        out.append(
            f"raw RS256 signing (8x8 webhook_headers, 1 thread, CPU {SERVER_CPU}, before and after each drain): "
            f"{sig['per_s']:,.0f}/s median ({sig['cpu_per_signature_us']:.0f} µs CPU each); each run (repetition): "
            + ", ".join(f"{r.get('per_s', 0):,.0f}/s ({r.get('rep', '?')})" for r in sig["per_rep"])
        )
    else:
        out.append(f"raw RS256 signing: not measured ({sig.get('error')})")
    out += ["", "| target | met | figures |", "|---|---|---|"]
    for v in result["verdicts"]:
        met = "n/a" if v["met"] is None else ("YES" if v["met"] else "NO")
        out.append(f"| {v['target']} | {met} | {v['figures']} |")
    return "\n".join(out)


# --------------------------------------------------------------------------------------------------- main

ALL_ROWS = (
    "bare-get",
    "8x8-get",
    "bare-post",
    "8x8-post-message",
    "8x8-post-message-unsigned",
    "8x8-signed-drain",
    "sangoma-get",
    "cmcom-post-message",
    "samespace-post-flow",
)
ECHO_ROWS = ("cxemu-get", "cxemu-post-webhook")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: 3 s runs, 1 s warm-up, 1 rep (about 2 min)")
    ap.add_argument("--duration", type=float, help="seconds per measured run (default 8; --quick 3)")
    ap.add_argument("--warmup", type=float, help="seconds of warm-up before each run (default 2; --quick 1)")
    ap.add_argument("--reps", type=int, help="repetitions, interleaved (default 3; --quick 1)")
    ap.add_argument(
        "--connections",
        type=lambda s: [int(x) for x in s.split(",") if x.strip()],
        default=[64, 16],
        help="comma-separated connection counts (default 64,16)",
    )
    ap.add_argument(
        "--conversations", type=int, default=256, help="conversations per webhook run, rotated over (default 256)"
    )
    ap.add_argument(
        "--drain-seconds",
        type=float,
        help="8x8-signed-drain: N = this many seconds of deliveries at the raw signing rate (default 5; --quick 3)",
    )
    ap.add_argument(
        "--mem-conversations", type=int, help="conversations created for the memory measurement (default 20000)"
    )
    ap.add_argument(
        "--mem-calls", type=int, default=20_000, help="Samespace calls placed for the memory per call (default 20000)"
    )
    ap.add_argument("--generator", choices=["auto", "wrk", "python"], default="auto")
    ap.add_argument("--drain-cap", type=float, default=120.0, help="max seconds to wait for a webhook backlog")
    ap.add_argument(
        "--signing-seconds", type=float, help="seconds of the raw signing loop, per repetition (default 3; --quick 2)"
    )
    ap.add_argument(
        "--noise-limit",
        type=float,
        default=15.0,
        help="%% of a CPU other processes may use during a run before it is measured again (default 15)",
    )
    ap.add_argument("--budget", type=float, help="wall seconds for the whole run (default 900; --quick 200)")
    ap.add_argument("--retries", type=int, help="re-measurements of a noisy run (default 1; --quick 0)")
    ap.add_argument("--quiet-wait", type=float, help="max s to wait for a quiet machine (default 10; --quick 2)")
    ap.add_argument("--only", help=f"comma-separated rows to run (default all): {', '.join(ALL_ROWS + ECHO_ROWS)}")
    ap.add_argument("--with-echo", action="store_true", help="add the echo vendor rows " + ", ".join(ECHO_ROWS))
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument(
        "--no-signed", action="store_true", help="skip 8x8-post-message, 8x8-signed-drain and the raw signing rate"
    )
    ap.add_argument("--out", type=Path, help="JSON result file (default bench/results/bench-<time>.json)")
    ap.add_argument(
        "--rerender",
        type=Path,
        metavar="JSON",
        help="measure nothing: recompute the summary and verdicts of a result file with this code, rewrite it "
        "and bench/results/latest.md",
    )
    args = ap.parse_args(argv)
    defaults = {"duration": (8.0, 3.0), "warmup": (2.0, 1.0), "reps": (3, 1), "mem_conversations": (20_000, 20_000)}
    defaults.update(signing_seconds=(3.0, 2.0), retries=(1, 0), quiet_wait=(10.0, 2.0), budget=(900.0, 200.0))
    defaults.update(drain_seconds=(5.0, 3.0))
    for name, (full, quick) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    if args.duration <= 0 or args.warmup < 0 or args.reps < 1 or args.mem_conversations < 4 or not args.connections:
        ap.error("--duration, --reps, --mem-conversations and --connections must be positive")
    if args.conversations < 1 or args.drain_seconds <= 0 or args.mem_calls < 4:
        ap.error("--conversations, --drain-seconds and --mem-calls must be positive")
    known = set(ALL_ROWS + ECHO_ROWS)
    args.wanted = {x.strip() for x in args.only.split(",") if x.strip()} if args.only else set(ALL_ROWS)
    if args.with_echo and not args.only:
        args.wanted |= set(ECHO_ROWS)
    if args.no_signed:
        args.wanted -= {"8x8-post-message", "8x8-signed-drain"}
    if args.wanted - known:
        ap.error(f"--only: unknown rows {sorted(args.wanted - known)}")
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


def start_servers(procs: Procs, wanted: set[str], workdir: Path) -> dict[str, Proc]:
    servers: dict[str, Proc] = {}
    port = free_port()
    servers["receiver"] = procs.start(
        "receiver", [sys.executable, str(BENCH / "receiver.py"), str(port)], LOAD_CPU, port=port, env=clean_env()
    )
    default_hook = f"http://{HOST}:{port}/hook/default"
    port = free_port()
    bare = [sys.executable, "-m", "uvicorn", "bare_app:app", "--app-dir", str(BENCH), "--host", HOST]
    bare += ["--port", str(port), "--loop", "uvloop", "--http", "httptools", "--no-access-log"]
    bare += ["--log-level", "warning"]
    servers["bare"] = procs.start("bare", bare, SERVER_CPU, port=port, env=clean_env())
    signed = {"8x8-get", "8x8-post-message", "8x8-signed-drain"}
    wants = {
        "8x8": bool(wanted & signed),
        "8x8-unsigned": "8x8-post-message-unsigned" in wanted,
        "cxemu": bool(wanted & set(ECHO_ROWS)),
    }
    wants.update(
        sangoma="sangoma-get" in wanted, cmcom="cmcom-post-message" in wanted, samespace="samespace-post-flow" in wanted
    )
    for name, needed in wants.items():
        if not needed:
            continue
        port = free_port()
        if name == "cxemu":
            cmd = cxemu_cmd(port, plugin=ECHO_PLUGIN)
        elif name == "sangoma":  # defaults: a new tenant has two inboxes
            cmd = cxemu_cmd(port, webhook_url=default_hook)
        elif name == "cmcom":  # CM counts only 200 as received: its hooks go to /hook200/...
            sanity_hook = f"http://{HOST}:{servers['receiver'].port}/hook200/sanity-cmcom"
            config = vendor_config(workdir, "cmcom", cmcom_section(sanity_hook))
            cmd = cxemu_cmd(port, config=config, webhook_url=default_hook.replace("/hook/", "/hook200/") + "-cmcom")
        elif name == "samespace":  # no callback URL: call events are not posted
            cmd = cxemu_cmd(port, config=vendor_config(workdir, "samespace", SAMESPACE_SECTION))
        else:
            config = eightbyeight_config(workdir, name.replace("8x8", "eightbyeight"), signing=name == "8x8")
            cmd = cxemu_cmd(port, config=config, webhook_url=default_hook)
        servers[name] = procs.start(name, cmd, SERVER_CPU, port=port, env=clean_env())
    for proc in servers.values():
        path = "/stats" if proc.name == "receiver" else "/" if proc.name == "bare" else "/_emulator/health"
        wait_ready(proc, path)
    return servers


def sanity(servers: dict[str, Proc], receiver: Receiver, bench: Bench) -> dict[str, Any]:
    """Every endpoint answers as expected and each kind of webhook arrives, before anything is timed."""
    out: dict[str, Any] = {}
    bare = servers["bare"].port
    out["bare_get"] = expect(*request(bare, "GET", "/echo/v1/items/it-1", None, "bench"), 200, "bare GET")
    out["bare_post"] = expect(*request(bare, "POST", "/echo/v1/items", ITEM_BODY, "bench"), 201, "bare POST")
    out["bare_modules"] = loaded_modules(servers["bare"].pid)
    proc = servers.get("cxemu")
    if proc is not None:
        item = expect(*request(proc.port, "POST", "/echo/v1/items", ITEM_BODY, "bench"), 201, "echo POST")
        if item["id"] != "it-1":
            raise RuntimeError(f"echo: first item is {item['id']}, expected it-1")
        out["cxemu_get"] = expect(*request(proc.port, "GET", "/echo/v1/items/it-1", None, "bench"), 200, "GET")
        bench.register_hook(proc.port, "sanity-cxemu")
        expect(*request(proc.port, "POST", "/echo/v1/items", ITEM_BODY, "sanity-cxemu"), 201, "sanity POST")
        got, _ = receiver.wait_for("sanity-cxemu", 1, time.time(), 30.0)
        if got != 1:
            raise RuntimeError(f"echo: sanity webhook not delivered (received {got})")
        out["cxemu_modules"] = loaded_modules(proc.pid)
    for name in ("8x8", "8x8-unsigned"):
        proc = servers.get(name)
        if proc is None:
            continue
        port, key = proc.port, f"sanity-{name}"
        point_webhook(port, key, receiver.url(key))
        conv = expect(*request(port, "POST", f"{P8}/conversations", CONVERSATION_BODY, headers=api_key(key)), 202, key)
        cid = conv["conversationId"]
        got, _ = receiver.wait_for(key, HOOKS_PER_CONVERSATION, time.time(), 30.0)
        if got != HOOKS_PER_CONVERSATION:
            raise RuntimeError(f"{name}: a new conversation fired {got} webhooks, expected {HOOKS_PER_CONVERSATION}")
        expect(*request(port, "GET", f"{P8}/conversations/{cid}", headers=api_key(key)), 200, f"{name} GET")
        path = f"{P8}/conversations/{cid}/messages"
        expect(*request(port, "POST", path, MESSAGE_BODY, headers=api_key(key)), 202, f"{name} POST message")
        got, _ = receiver.wait_for(key, HOOKS_PER_CONVERSATION + 1, time.time(), 30.0)
        time.sleep(0.5)
        got, _ = receiver.stats(key)
        q = f"/_emulator/deliveries?tenant={key}&event=MESSAGE&wait=10"
        d = expect(*request(port, "GET", q), 200, "deliveries")["deliveries"]
        headers = d[0]["attempts"][-1]["headers"] if d and d[0]["attempts"] else {}
        data = (d[0].get("body") or {}).get("data", {}) if d else {}
        out[f"{name}_webhook"] = {
            "received": got,
            "status": d[0]["status"] if d else None,
            "headers": sorted(headers),
            "is_echo": data.get("isEcho"),
        }
        if got != HOOKS_PER_CONVERSATION + 1 or len(d) != 1 or d[0]["status"] != "delivered" or not data.get("isEcho"):
            raise RuntimeError(f"{name}: expected one delivered MESSAGE (isEcho) webhook; got {got - 3}, log {d[:1]}")
        signed = "x-8x8-signature" in headers
        if signed != (name == "8x8"):
            raise RuntimeError(f"{name}: x-8x8-signature {'present' if signed else 'missing'}: {sorted(headers)}")
        out[f"{name}_modules"] = loaded_modules(proc.pid)
    proc = servers.get("8x8")
    if proc is not None:  # the conversation 8x8-get reads
        conv = expect(
            *request(proc.port, "POST", f"{P8}/conversations", CONVERSATION_BODY, headers=api_key("bench")), 202, "conv"
        )
        out["8x8_get_path"] = f"{P8}/conversations/{conv['conversationId']}"
        out["8x8_get"] = expect(*request(proc.port, "GET", out["8x8_get_path"], headers=api_key("bench")), 200, "GET")
    proc = servers.get("sangoma")
    if proc is not None:  # the token sangoma-get sends; the inboxes it reads
        token = sangoma_token(proc.port)
        out["sangoma_get_headers"] = {"authorization": f"Bearer {token}"}
        status, raw = request(proc.port, "GET", SANGOMA_INBOXES, headers=out["sangoma_get_headers"])
        data = expect(status, raw, 200, "Sangoma GET inboxes")
        listed = [(i.get("name"), i.get("channel_type")) for i in data.get("payload", [])]
        if listed != SANGOMA_INBOXES_EXPECTED:
            raise RuntimeError(f"sangoma: GET inboxes listed {listed}, expected {SANGOMA_INBOXES_EXPECTED}")
        status, _ = request(proc.port, "GET", SANGOMA_INBOXES)
        if status != 401:
            raise RuntimeError(f"sangoma: GET inboxes without a token answered {status}, expected 401")
        out["sangoma_get"] = {"inboxes": listed, "body_bytes": len(raw)}
        out["sangoma_modules"] = loaded_modules(proc.pid)
    proc = servers.get("cmcom")
    if proc is not None:  # the configured tenant: one message, exactly two status reports, both received (200)
        port, key = proc.port, "sanity-cmcom"
        data = expect(*request(port, "POST", CM_PATH, cm_body(key)), 200, "CM send")
        if data != CM_ACCEPTED:
            raise RuntimeError(f"cmcom: send answered {data}, expected {CM_ACCEPTED}")
        receiver.wait_for(key, REPORTS_PER_MESSAGE, time.time(), 30.0)
        time.sleep(0.5)  # nothing more may come
        got, _ = receiver.stats(key)
        q = f"/_emulator/deliveries?tenant={key}&event=StatusReport&wait=10"
        d = expect(*request(port, "GET", q), 200, "deliveries")["deliveries"]
        codes = sorted(str(x["body"]["messages"]["msg"]["status"]["code"]) for x in d)
        statuses = sorted(str(x["status"]) for x in d)
        sent = cm_sent(port, key)
        out["cmcom_webhook"] = {"received": got, "codes": codes, "statuses": statuses, "sent": sent}
        if got != REPORTS_PER_MESSAGE or codes != ["0", "2"] or statuses != ["delivered"] * 2 or sent != 1:
            raise RuntimeError(f"cmcom: expected 1 message and 2 delivered reports (0, 2); got {out['cmcom_webhook']}")
        out["cmcom_modules"] = loaded_modules(proc.pid)
    proc = servers.get("samespace")
    if proc is not None:  # one flow: accepted as queued, then dialled, answered, played and hung up on the clock
        data = expect(*request(proc.port, "POST", SS_FLOW_PATH, FLOW_BODY), 200, "Samespace POST flow")
        if data.get("success") is not True or data.get("status") != "queued" or not data.get("call_id"):
            raise RuntimeError(f"samespace: POST flow answered {data}")
        call = samespace_call(proc.port, str(data["call_id"]))
        steps = [(st["id"], st["result"]) for st in call.get("steps", [])]
        out["samespace_call"] = {"status": call.get("status"), "end_reason": call.get("end_reason"), "steps": steps}
        if call.get("status") != "completed" or [sid for sid, _ in steps] != ["0", "1"]:
            raise RuntimeError(f"samespace: the call did not run call -> play -> end: {out['samespace_call']}")
        out["samespace_modules"] = loaded_modules(proc.pid)
    return out


def build_rows(servers: dict[str, Proc], checks: dict[str, Any], wanted: set[str]) -> list[Row]:
    message_path = f"{P8}/conversations/{{id}}/messages"  # the real paths come from each run's conversations
    rows: list[Row] = [Row("bare-get", servers["bare"], "GET", "/echo/v1/items/it-1", None)]
    if "cxemu" in servers:
        rows.append(Row("cxemu-get", servers["cxemu"], "GET", "/echo/v1/items/it-1", "bare-get"))
        rows[-1].headers = {TENANT_HEADER: "bench"}
    if "8x8" in servers:
        rows.append(Row("8x8-get", servers["8x8"], "GET", checks["8x8_get_path"], "bare-get"))
        rows[-1].headers = api_key("bench")
    if "sangoma" in servers:
        rows.append(Row("sangoma-get", servers["sangoma"], "GET", SANGOMA_INBOXES, "bare-get"))
        rows[-1].headers = dict(checks["sangoma_get_headers"])
    rows.append(Row("bare-post", servers["bare"], "POST", "/echo/v1/items", None, body=ITEM_BODY))
    rows[-1].headers = {TENANT_HEADER: "bench"}
    if "cxemu" in servers:
        rows.append(
            Row(
                "cxemu-post-webhook", servers["cxemu"], "POST", "/echo/v1/items", "bare-post", "echo-webhook", ITEM_BODY
            )
        )
    if "8x8" in servers:
        rows.append(
            Row("8x8-post-message", servers["8x8"], "POST", message_path, "bare-post", "8x8-webhook", MESSAGE_BODY)
        )
    if "8x8-unsigned" in servers:
        rows.append(
            Row(
                "8x8-post-message-unsigned",
                servers["8x8-unsigned"],
                "POST",
                message_path,
                "bare-post",
                "8x8-webhook",
                MESSAGE_BODY,
            )
        )
    if "cmcom" in servers:  # the body (product token = the run's fresh tenant) is set per run
        rows.append(Row("cmcom-post-message", servers["cmcom"], "POST", CM_PATH, "bare-post", "cm-webhook"))
    if "samespace" in servers:
        rows.append(Row("samespace-post-flow", servers["samespace"], "POST", SS_FLOW_PATH, "bare-post", body=FLOW_BODY))
    return [r for r in rows if r.name in wanted]


def rerender(path: Path, noise_limit: float) -> int:
    result: dict[str, Any] = json.loads(path.read_text())
    runs = [Measurement(**m) for m in result["runs"]]
    drains = [Drain(**d) for d in result.get("drains", [])]
    rows = [RowInfo(s["row"], s["reference"], "hooks_sent" in s) for s in result["summary"]]
    rows = list({r.name: r for r in rows}.values())
    result["summary"] = summarize(rows, runs, result["connections"], result.get("noise_limit", noise_limit))
    result["drain"] = combine_drains(drains, result.get("noise_limit", noise_limit))
    result["verdicts"] = verdicts(result["summary"], result["memory"], result["drain"], result["signing"])
    text = render(result)
    log(text)
    path.write_text(json.dumps(result, indent=2))
    (RESULTS / "latest.md").write_text(text + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.rerender is not None:
        return rerender(args.rerender, args.noise_limit)
    pin = shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2
    if not pin:
        log("bench: WARNING: no taskset or fewer than 2 CPUs; servers and load share the machine (not pinned)")
    generator = pick_generator(args.generator)
    procs = Procs(pin)
    if pin:  # the harness itself stays off the server CPU
        os.sched_setaffinity(0, {int(LOAD_CPU)})
    load = LoadGen(generator, pin)
    with_signing = SIGNING_MODULE.exists() and not args.no_signed
    with_drain = with_signing and "8x8-signed-drain" in args.wanted
    started_at = datetime.now(UTC).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    t_start = time.monotonic()
    why = "" if generator == "wrk" else " (FALLBACK: wrk is not installed)" if args.generator == "auto" else ""
    log(f"bench: load generator = {load.version}{why}")
    workdir = Path(tempfile.mkdtemp(prefix="cxemu-bench-"))
    try:
        with terminate_on_signal(procs):
            servers = start_servers(procs, args.wanted, workdir)
            receiver = Receiver(servers["receiver"])
            bench = Bench(args, procs, load, receiver, workdir)
            checks = sanity(servers, receiver, bench)
            rows = build_rows(servers, checks, args.wanted)
            runs: list[Measurement] = []
            drains: list[Drain] = []
            signing_reps: list[dict[str, Any]] = []
            bench.runs_left = args.reps * len(args.connections) * len(rows)
            bench.drains_left = args.reps if with_drain else 0
            for rep in range(1, args.reps + 1):
                log(f"== repetition {rep}/{args.reps}")
                for conns in args.connections:
                    for row in rows:
                        runs.append(bench.measure(row, conns, rep))
                if with_signing:  # the reference, measured in the same minutes as the signed rows
                    sig = signing_run(args, procs, rep)
                    signing_reps.append(sig)
                    if sig.get("available") and with_drain:  # the drain, bracketed by two raw measurements
                        d = bench.drain(servers["8x8"], rep, float(sig["per_s"]))
                        after = signing_run(args, procs, rep)
                        signing_reps.append(after)
                        d.set_raw([sig, after])
                        drains.append(d)
                        log(
                            f"  8x8-signed-drain          rep={rep}: {d.rate:,.0f}/s ÷ raw {d.raw_signing_per_s:,.0f}/s"
                            f" = {d.ratio:.2f} (CPU: {d.raw_cpu_us:.0f} ÷ {d.cpu_us_per_delivery:.0f} µs ="
                            f" {d.cpu_ratio:.2f})"
                        )
            peak = {name: status_kb(p.pid, "VmHWM") for name, p in servers.items()}
            for name, proc in servers.items():
                if name != "receiver":
                    procs.stop(proc)
            memory: dict[str, Any] = {}
            if not args.skip_memory:
                log(f"== memory: {args.mem_conversations:,} 8x8 conversations on a fresh cxemu")
                memory = measure_memory(args, procs, receiver, workdir)
                peak["cxemu-memory"] = memory["vmhwm_kb"]
                log(
                    f"  {memory['kb_per_conversation_marginal']:.2f} KB/conversation marginal,"
                    f" {memory['kb_per_conversation_total']:.2f} overall"
                )
            call_memory: dict[str, Any] = {}
            if not args.skip_memory and "samespace-post-flow" in args.wanted:
                log(f"== memory: {args.mem_calls:,} Samespace calls on a fresh cxemu")
                call_memory = measure_call_memory(args, procs, workdir)
                peak["samespace-memory"] = call_memory["vmhwm_kb"]
                log(
                    f"  {call_memory['kb_per_call_marginal']:.2f} KB/call marginal,"
                    f" {call_memory['kb_per_call_total']:.2f} overall"
                )
            peak["receiver"] = status_kb(servers["receiver"].pid, "VmHWM")
            procs.stop(servers["receiver"])
            signing = combine_signing(signing_reps, args.no_signed)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    summary = summarize(rows, runs, args.connections, args.noise_limit)
    drain = combine_drains(drains, args.noise_limit)
    result: dict[str, Any] = {
        "started_at": started_at,
        "wall_s": round(time.monotonic() - t_start, 1),
        "generator": load.version,
        "generator_kind": generator,
        "pinned": pin,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "reps": args.reps,
        "conversations": args.conversations,
        "noise_limit": args.noise_limit,
        "retries": args.retries,
        "connections": args.connections,
        "python": sys.version.split()[0],
        "machine": {"cpus": os.cpu_count(), "kernel": os.uname().release},
        "sanity": checks,
        "summary": summary,
        "drain": drain,
        "drains": [asdict(d) for d in drains],
        "memory": memory,
        "call_memory": call_memory,
        "signing": signing,
        "peak_rss_kb": peak,
        "verdicts": verdicts(summary, memory, drain, signing),
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
