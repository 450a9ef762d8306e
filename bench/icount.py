"""Instructions per request: a noise-free complement to the throughput rows of `bench/run.py`.

    .venv/bin/python bench/icount.py                          # this tree, every row, 1,000 requests each
    .venv/bin/python bench/icount.py --tree /tmp/old --tree . --rows 8x8-post-message-unsigned --reps 2
    .venv/bin/python bench/icount.py --rows cmcom-post-message --listen none --listen display --reps 2
    .venv/bin/python bench/icount.py --rows bare-get,8x8-get -n 2000 --conns 64   # 64 requests in flight

On a shared machine requests/s moves 9-13 % from run to run, so a 5 % change cannot be seen in one run. This
counts the CPU instructions the server executes per request instead: the server runs under valgrind's
callgrind (about 50 times slower, so only a thousand requests are sent), its counters are zeroed after a
warm-up, the requests are sent one at a time, the webhooks they fire are waited for, and the count is
dumped (with `--conns N`, bench/loadgen.py sends them over N connections at once, as wrk keeps them in flight:
what a server does per request when many are ready per turn of its loop). Repeated runs agree within about 1 %,
whatever else the machine is doing; comparing two trees (`--tree`, each with its own `.venv`, as
`git worktree add` + `make install` gives) shows what a change costs.

Rows (the same requests as `bench/run.py`; each server is started with the same config as there):

  bare-get                     the reference: GET /echo/v1/items/it-1 on bench/bare_app.py (uvicorn, no cxemu)
  bare-post                    the POST reference: POST /echo/v1/items (a small JSON body, 201) on the same app
  bare-post-webhook            the floor under the 8x8 webhook row: the same app's 202 + one 8x8-shaped webhook
                               through cxemu's webhook client (bench/bare_app.py), no cxemu
  bare-post-2webhooks          the floor under the CM.com row: CM's 200 + two status-report-shaped webhooks
  8x8-get                      GET /chat-gateway/v1/conversations/{id}
  8x8-post-message-unsigned    POST …/messages: 202 + one unsigned MESSAGE webhook to the receiver
  8x8-post-message             the same, RS256-signed (the signature dominates)
  sangoma-get                  GET /cx/api/v1/digital-interactions/inboxes/ with a bearer token
  cmcom-post-message           POST /v1.0/message: 200 + two status reports to the receiver

The Samespace row is left out: its call runs on the system clock, which valgrind's slowness would change.
Needs `valgrind` (`apt-get install -y valgrind`); the receiver is bench/receiver.py (uvloop, httptools).

Backends (`--backend`, repeatable, interleaved like trees; `--redis URL` names the Redis, flushed before each run):

  memory        the default
  redis         `--state URL`: every unit of work checks its tenant's version, commits go to the change stream
  redis-owner   the same as the owner of every tenant in a fleet (bench/owner.py: `authoritative`, `fence`)

`--keep DIR` copies each count's callgrind file there (`<tree>-<backend>-<row>-c<conns>.1.out`), for
`callgrind_annotate --inclusive=yes` (C functions only: a Python function's cost is inside the eval loop's).

With Redis it also prints Redis's own time per request: the `usec` of the commands the count sent (`INFO
commandstats`, zeroed with the counters; the commands a script runs are inside its own time, so left out).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import HOST, REPO, Client, LoadSpec, expect, free_port, loadgen_cmd, received, settle_count, wait_listening
from listener import MODES, Stream
from vendors import (
    API_KEY_HEADER,
    CM_PATH,
    CM_SANITY_TENANT,
    CONVERSATION_BODY,
    FLOOR_CM_PATH,
    FLOOR_MESSAGE_PATH,
    MESSAGE_BODY,
    P8,
    SANGOMA_INBOXES,
    WEBHOOK_VERSION,
    cm_body,
    cm_token,
    cmcom_section,
    sangoma_token,
    vendor_config,
)
from wiremock import RUN_HEADER

ROWS = (
    "bare-get",
    "bare-post",
    "bare-post-webhook",
    "bare-post-2webhooks",
    "8x8-get",
    "8x8-post-message-unsigned",
    "8x8-post-message",
    "sangoma-get",
    "cmcom-post-message",
)
FLOOR = {
    "bare-post-webhook": (FLOOR_MESSAGE_PATH, MESSAGE_BODY, 1, 202),
    "bare-post-2webhooks": (FLOOR_CM_PATH, cm_body(cm_token(CM_SANITY_TENANT)), 2, 200),
}
"""The floor rows: path, body, webhooks per request, the answer's status (bench/bare_app.py)."""
CONVERSATIONS = 64
BARE_BODY = '{"text":"hello"}'
SLOW = 120.0
"""Seconds a request may take under callgrind (~50x slower; far more on a machine loaded past its cores, where a
server's first requests, loading code, passed the harness's usual 10 s)."""


@dataclass
class Server:
    port: int
    pid: int
    out: Path
    hook: str
    receiver_port: int


BACKENDS = ("memory", "redis", "redis-owner")
SCRIPTED = {"hmget", "hget", "hset", "hdel", "hgetall", "get", "rpush", "hincrby", "hexists", "del"}
"""Commands only the store's scripts send: their time is in the script's (`evalsha`)."""


@dataclass(frozen=True)
class Backend:
    name: str = "memory"
    redis: str | None = None

    def args(self, tree: Path) -> tuple[list[str], list[str]]:
        """How to start the tree's cxemu (instead of `-m emulator`) and the arguments the backend adds."""
        if self.name == "memory" or self.redis is None:
            return ["-m", "emulator"], []
        start = [str(REPO / "bench" / "owner.py")] if self.name == "redis-owner" else ["-m", "emulator"]
        return start, ["--state", self.redis]

    def redis_cli(self, *args: str) -> str:
        assert self.redis is not None
        done = subprocess.run(["redis-cli", "-u", self.redis, *args], check=True, capture_output=True, text=True)
        return done.stdout

    def flush(self) -> None:
        if self.redis is not None and self.name != "memory":
            self.redis_cli("FLUSHDB")

    def zero(self) -> None:
        if self.redis is not None and self.name != "memory":
            self.redis_cli("CONFIG", "RESETSTAT")

    def usec(self) -> float | None:
        """Redis's time in the commands sent since `zero` (µs), None for memory."""
        if self.redis is None or self.name == "memory":
            return None
        total = 0.0
        for line in self.redis_cli("INFO", "commandstats").splitlines():
            name, _, fields = line.partition(":")
            command = name.removeprefix("cmdstat_")
            if not name.startswith("cmdstat_") or command in SCRIPTED or command.startswith(("info", "config")):
                continue
            total += float(dict(f.split("=") for f in fields.split(","))["usec"])
        return total


@contextmanager
def server(
    tree: Path,
    work: Path,
    config: Callable[[str], dict[str, Any]] | None,
    *,
    bare: bool = False,
    backend: Backend = Backend(),
) -> Iterator[Server]:
    """The tree's cxemu (`bare`: bench/bare_app.py, as `bench/run.py` starts it) under callgrind (counting off
    until zeroed) and a receiver; both stopped after."""
    rport, port = free_port(), free_port()
    receiver = subprocess.Popen(
        [sys.executable, str(REPO / "bench" / "receiver.py"), str(rport)], stdout=subprocess.DEVNULL
    )
    hook = f"http://{HOST}:{rport}/hook200/ic"
    start, extra = backend.args(tree)
    python = str(tree / ".venv" / "bin" / "python")
    cmd = [python, *start, "serve", "--host", HOST, "--port", str(port), "--log-level", "warning", *extra]
    if (
        "no-webhook-log"
        in subprocess.run(
            [python, "-m", "emulator", "serve", "--help"], cwd=tree, capture_output=True, text=True
        ).stdout
    ):
        cmd.append("--no-webhook-log")
    if config is not None:
        cmd += ["--config", str(vendor_config(work, "ic", config(hook)))]
    if bare:
        cmd = [str(tree / ".venv" / "bin" / "uvicorn"), "bare_app:app", "--app-dir", "bench", "--host", HOST]
        cmd += ["--port", str(port), "--loop", "uvloop", "--http", "httptools", "--no-access-log"]
        cmd += ["--log-level", "warning"]
    out = work / "callgrind.out"
    vg = ["valgrind", "--tool=callgrind", "-q", f"--callgrind-out-file={out}"]
    log = work / "server.log"
    with log.open("wb") as sink:
        # under valgrind (~50x slower) a fleet-of-one worker can miss its lease renewals for longer than the default
        # 5 s, then its commits are refused: the Redis backends run with a lease no count outlasts; and a delivery's
        # change lingers 50x its 0.05 s for a write to ride with (bench/owner.py), as the server runs 50x slower
        env = {**os.environ, "CXEMU_LEASE_TTL": "300", "ICOUNT_LINGER": "2.5"}
        env["BARE_WEBHOOK_BASE"] = f"http://{HOST}:{rport}"  # the floor rows' webhooks (to /hook/ic, /hook200/ic)
        proc = subprocess.Popen([*vg, *cmd], cwd=tree, stdout=sink, stderr=subprocess.STDOUT, env=env)
    try:
        wait_listening(rport, "/stats", proc, log, 900)
        wait_listening(port, "/echo/v1/items/it-1" if bare else "/_emulator/health", proc, log, 900)
        yield Server(port, proc.pid, out, hook, rport)
    finally:
        proc.send_signal(signal.SIGINT)
        receiver.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        receiver.wait()


def hooks(s: Server) -> int:
    return received(s.receiver_port, "/hook200/ic", "/hook/ic")


def settle(s: Server, want: int) -> None:
    """Until the receiver has `want` webhooks (the server is done with them), or nothing arrived for 30 s."""
    settle_count(lambda: hooks(s), want, 30)


def count(
    s: Server,
    send: Callable[[int], None],
    n: int,
    hooks_each: int,
    backend: Backend = Backend(),
    many: Sender | None = None,
) -> tuple[float, float | None]:
    """Zero the counters, send `n` requests (one at a time, or `many` at once), wait for their webhooks, dump:
    instructions per request (and Redis's µs per request with a Redis backend)."""
    for old in s.out.parent.glob(s.out.name + "*"):
        old.unlink()
    before = hooks(s)
    subprocess.run(["callgrind_control", "-z", str(s.pid)], check=True, capture_output=True)
    backend.zero()
    if many is not None:
        many(n)
    else:
        for i in range(n):
            send(i)
    settle(s, before + n * hooks_each)
    subprocess.run(["callgrind_control", "-d", str(s.pid)], check=True, capture_output=True)
    usec = backend.usec()
    total = 0
    for dump in s.out.parent.glob(s.out.name + "*"):
        for line in dump.read_text(errors="replace").splitlines():
            if line.startswith(("summary:", "totals:")):
                total = max(total, int(line.split()[1]))
    return total / n, None if usec is None else usec / n


Sender = Callable[[int], None]
"""Sends `n` requests of a row at once, over `--conns` connections (bench/loadgen.py in count mode)."""


def concurrent(work: Path, spec: LoadSpec, conns: int, rotate: list[str] | None = None) -> Sender:
    """`n` requests over `conns` keep-alive connections at once, as wrk keeps them in flight: the server has
    many requests ready per turn of its loop (what a one-at-a-time count does not see). Each call opens its
    connections anew: their set-up is counted too (use `-n` well above `--conns`)."""
    if rotate is not None:
        spec.paths_file = work / "rotate.paths"
        spec.paths_file.write_text("".join(p + "\n" for p in rotate))

    def send(n: int) -> None:
        cmd = [*loadgen_cmd(spec, conns, False), "-n", str(n), "--timeout", "600"]  # callgrind is ~50x slower
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, check=False)
        line = next((x for x in out.stdout.splitlines() if x.startswith("BENCHJSON ")), "")
        got = json.loads(line[len("BENCHJSON ") :]) if line else {}
        errors = sum(int(v) for k, v in got.items() if k.startswith("err_"))
        if got.get("requests") != n or errors:
            raise SystemExit(f"loadgen: {got or out.stdout[-400:] + out.stderr[-400:]}")

    return send


def measure(
    tree: Path,
    row: str,
    n: int,
    listen: str | None = None,
    backend: Backend = Backend(),
    conns: int = 1,
    keep: Path | None = None,
) -> tuple[float, float | None]:
    backend.flush()
    with (
        tempfile.TemporaryDirectory(prefix="icount-") as tmp,
        run_row(tree, Path(tmp), row, backend) as (s, send, each, spec),
    ):
        load, rotate = spec(s)
        many = None if conns < 2 else concurrent(Path(tmp), load, conns, rotate)
        stream = None
        if listen is not None:  # read in a thread here, as a browser would on its own machine
            stream = Stream(row, s.port, MODES[listen])
            threading.Thread(target=stream.run, name="icount-listener", daemon=True).start()
        try:
            for i in range(max(200, n // 4)):  # warm-up: caches, pools, first-use imports
                send(i)
            if many is not None:
                many(max(200, n // 4))
            settle(s, 0)
            got = count(s, send, n, each, backend, many)
            if keep is not None:  # the count's callgrind file, for callgrind_annotate (--inclusive=yes)
                keep.mkdir(parents=True, exist_ok=True)
                for dump in s.out.parent.glob(s.out.name + "*"):
                    name = f"{tree.name}-{backend.name}-{row}-c{conns}{dump.name.removeprefix(s.out.name)}.out"
                    shutil.copyfile(dump, keep / name)
            return got
        finally:
            if stream is not None:
                stream.stop()
                print(f"  ({listen} stream: {stream.frames:,} entries, {stream.skipped:,} passed over)", flush=True)


Spec = Callable[[Server], tuple[LoadSpec, list[str] | None]]
"""A row's requests for `concurrent`: the load spec and the paths it rotates over (None: always its path)."""


@contextmanager
def run_row(
    tree: Path,
    work: Path,
    row: str,
    backend: Backend = Backend(),
) -> Iterator[tuple[Server, Callable[[int], None], int, Spec]]:
    if row == "bare-get":
        with server(tree, work, None, bare=True) as s, Client(s.port, timeout=SLOW) as c:
            yield s, lambda i: ok(c.call("GET", "/echo/v1/items/it-1"), 200), 0, lambda s: (
                LoadSpec(s.port, "GET", "/echo/v1/items/it-1"), None,
            )  # fmt: skip
    elif row == "bare-post":
        with server(tree, work, None, bare=True) as s, Client(s.port, timeout=SLOW) as c:
            yield s, lambda i: ok(c.call("POST", "/echo/v1/items", BARE_BODY), 201), 0, lambda s: (
                LoadSpec(s.port, "POST", "/echo/v1/items", {"content-type": "application/json"}, BARE_BODY), None,
            )  # fmt: skip
    elif row in FLOOR:
        path, body, each, status = FLOOR[row]
        run = {RUN_HEADER: "ic"}
        with server(tree, work, None, bare=True) as s, Client(s.port, run, timeout=SLOW) as c:
            yield s, lambda i: ok(c.call("POST", path, body), status), each, lambda s: (
                LoadSpec(s.port, "POST", path, run, body), None,
            )  # fmt: skip
    elif row.startswith("8x8"):
        signing = row == "8x8-post-message"
        config = {"eightbyeight": {"behaviour": {"auto": False}, "signing": signing}}
        key = {API_KEY_HEADER: "ic"}
        with server(tree, work, lambda _hook: config, backend=backend) as s, Client(s.port, key, timeout=SLOW) as c:
            webhook = json.dumps({"name": "default", "uri": s.hook, "version": WEBHOOK_VERSION})
            expect(*c.call("PUT", f"{P8}/webhooks/1", webhook), 200, "PUT webhook")
            created = [c.call("POST", f"{P8}/conversations", CONVERSATION_BODY) for _ in range(CONVERSATIONS)]
            ids = [str(json.loads(body)["conversationId"]) for status, body in created if status == 202]
            settle(s, 3 * CONVERSATIONS)
            if row == "8x8-get":
                gets = [f"{P8}/conversations/{cid}" for cid in ids]
                yield s, lambda i: ok(c.call("GET", gets[i % CONVERSATIONS]), 200), 0, lambda s: (
                    LoadSpec(s.port, "GET", gets[0], key), gets,
                )  # fmt: skip
            else:
                path = [f"{P8}/conversations/{cid}/messages" for cid in ids]
                yield s, lambda i: ok(c.call("POST", path[i % CONVERSATIONS], MESSAGE_BODY), 202), 1, lambda s: (
                    LoadSpec(s.port, "POST", path[0], key, MESSAGE_BODY), path,
                )  # fmt: skip
    elif row == "sangoma-get":
        with server(tree, work, None, backend=backend) as s:
            auth = {"authorization": f"Bearer {sangoma_token(s.port)}"}
            with Client(s.port, auth, timeout=SLOW) as c:
                yield s, lambda i: ok(c.call("GET", SANGOMA_INBOXES), 200), 0, lambda s: (
                    LoadSpec(s.port, "GET", SANGOMA_INBOXES, auth), None,
                )  # fmt: skip
    elif row == "cmcom-post-message":
        with server(
            tree, work, cmcom_section, backend=backend
        ) as s:  # the configured tenant, status reports to the receiver
            body = cm_body(cm_token(CM_SANITY_TENANT))
            json_type = {"content-type": "application/json"}
            with Client(s.port, json_type, timeout=SLOW) as c:
                yield s, lambda i: ok(c.call("POST", CM_PATH, body), 200), 2, lambda s: (
                    LoadSpec(s.port, "POST", CM_PATH, json_type, body), None,
                )  # fmt: skip
    else:
        raise SystemExit(f"unknown row {row!r}; rows: {', '.join(ROWS)}")


def ok(answer: tuple[int, bytes], want: int) -> None:
    expect(*answer, want, "request")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tree", action="append", type=Path, help="a cxemu checkout with its .venv (default: this one)")
    ap.add_argument("--rows", default=",".join(ROWS), help="comma-separated rows")
    ap.add_argument("-n", type=int, default=1000, help="measured requests per run")
    ap.add_argument("--reps", type=int, default=1, help="runs per (tree, row), interleaved across trees")
    ap.add_argument(
        "--listen",
        action="append",
        choices=("none", "full", "display", "display-callgrind"),
        help="an unfiltered /_emulator/events stream read during the count: none, full (every entry), display "
        "(the dashboard's display mode) or display-callgrind (the same at callgrind's pace, listener.MODES); repeat to "
        "compare, interleaved like trees (default: none)",
    )
    ap.add_argument(
        "--backend",
        action="append",
        choices=BACKENDS,
        help="the state backend: memory, redis or redis-owner (repeat to compare, interleaved like trees; "
        "default: memory); the Redis ones need --redis",
    )
    ap.add_argument("--redis", help="the Redis the Redis backends use, e.g. redis://127.0.0.1:6379/0 (flushed)")
    ap.add_argument(
        "--conns",
        type=int,
        default=1,
        help="send the measured requests over this many connections at once (bench/loadgen.py), as wrk keeps "
        "them in flight, instead of one at a time (default 1)",
    )
    ap.add_argument("--keep", type=Path, help="copy each count's callgrind file into this directory")
    args = ap.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("icount: valgrind is not installed (apt-get install -y valgrind)", file=sys.stderr)
        return 2
    trees = [t.resolve() for t in (args.tree or [REPO])]
    listens = args.listen or ["none"]
    backends = [Backend(b, args.redis) for b in args.backend or ["memory"]]
    if any(b.name != "memory" for b in backends) and (args.redis is None or shutil.which("redis-cli") is None):
        print("icount: the Redis backends need --redis URL and redis-cli", file=sys.stderr)
        return 2
    runs = [(tree, listen, backend) for tree in trees for listen in listens for backend in backends]
    names = [
        tree.name + ("" if len(listens) < 2 else f"/{listen}") + ("" if len(backends) < 2 else f"/{backend.name}")
        for tree, listen, backend in runs
    ]
    results: dict[tuple[str, int], list[float]] = {}
    redis_usec: dict[tuple[str, int], list[float]] = {}
    for row in [r.strip() for r in args.rows.split(",") if r.strip()]:
        for _ in range(args.reps):
            for i, (tree, listen, backend) in enumerate(runs):
                got, usec = measure(
                    tree, row, args.n, None if listen == "none" else listen, backend, args.conns, args.keep
                )
                k = got / 1000
                results.setdefault((row, i), []).append(k)
                own = ""
                if usec is not None:
                    redis_usec.setdefault((row, i), []).append(usec)
                    own = f"  + redis-server {usec:6.1f} µs/request"
                print(
                    f"{row:28s} {tree} {listen:8s} {backend.name:11s} {k:8.1f} k instructions/request{own}", flush=True
                )
    print("\nrow                          " + "  ".join(f"{name:>20s}" for name in names))
    for row in dict.fromkeys(r for r, _ in results):
        means = [statistics.fmean(results[(row, i)]) for i in range(len(runs))]
        ratios = "" if len(runs) < 2 else f"   last/first {means[-1] / means[0]:.3f}"
        print(f"{row:28s} " + "  ".join(f"{m:20.1f}" for m in means) + ratios)
        if any((row, i) in redis_usec for i in range(len(runs))):
            cells = [
                f"{statistics.fmean(redis_usec[(row, i)]):17.1f} µs" if (row, i) in redis_usec else " " * 20
                for i in range(len(runs))
            ]
            print(f"{'  redis-server':28s} " + "  ".join(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
