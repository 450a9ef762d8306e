"""cxemu benchmark: cxemu's real vendor paths against a bare Starlette app, in one run, on this machine.

    make bench                    # full run (about 10 minutes)
    make bench ARGS=--quick       # smoke run (about 2 minutes)
    .venv/bin/python bench/run.py --duration 8 --connections 64,16 --reps 3

Servers run pinned to CPU 0 (`taskset -c 0`); the load generator and the webhook receiver to CPU 1. The load
generator is wrk when it is installed (`apt-get install -y wrk`), otherwise bench/loadgen.py (asyncio). Rows:

  bare-get / bare-post         bench/bare_app.py under uvicorn: the reference every ratio is taken against
  bare-post-webhook            the floor under 8x8-post-message-unsigned: the same bare app answers 202 and fires one
                               8x8-shaped webhook through cxemu's own webhook client (httpclient.py), nothing else
  bare-post-2webhooks          the floor under cmcom-post-message: CM's 200, then two status-report-shaped webhooks
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
  wiremock-get, wiremock-post, wiremock-post-webhook
                               the peer: WireMock 3.13 standalone (npm `wiremock`'s jar under the machine's java),
                               warmed until its rate settles; skipped with the reason when java or npm is missing
                               (or with --no-wiremock); see wiremock.py
  cxemu-get, cxemu-post-webhook   (--with-echo) the test-only echo vendor, for comparison with older runs
  8x8-get@redis, 8x8-post-message-unsigned@redis, 8x8-post-message-unsigned@redis-hop, 8x8-post-tenants@redis-w1,
  8x8-post-tenants@redis-w2
                               (--redis) the Redis backend (issue 16): CPU per request of cxemu + redis-server
                               against the memory rows, the forwarding hop, one and two workers; skipped with the
                               reason when redis-server or the `redis` extra is missing; see redisrows.py

With `--listener` every cxemu server also has a live `/_emulator/events` stream open and read for the whole run
(`listener.py`: what a reader of every entry costs; `--listener display`: what a dashboard page's display-mode
stream costs); the result's `listener` says what each stream got.

The 8x8 servers are `python -m emulator serve --config <tmp>/eightbyeight*.yaml --webhook-url <receiver>`; the
config turns simulated agents off (`behaviour.auto: false`), so a conversation fires exactly three webhooks
(CONVERSATION_UPDATE created and active, QUEUED) and each posted message exactly one (MESSAGE, isEcho). The
Sangoma, CM.com and Samespace rows each have their own cxemu (configs in `cmcom_section`, `SAMESPACE_SECTION`).

Measurements are interleaved: each repetition runs every row once per connection count, so ratios are taken
between numbers measured within the same minute (the VM's noise moves over minutes). Each measurement is
preceded by a warm-up at the same connection count. Results: a table on stdout and bench/results/*.json.
Every process is started in its own process group and stopped by signalling that group.

Files: this one is the entry point (arguments, the repetition loop, results). `harness.py` starts and stops
processes and samples CPU and steal, and holds the HTTP helpers, the receiver and the load generators;
`vendors.py` has each vendor's constants, configs and set-up calls; `rows.py` starts the servers, checks them
and lists the rows; `measure.py` runs a row (`Bench`); `memory.py` has the memory rows and the signing rate;
`report.py` summarises, judges against the targets and renders the tables; `wiremock.py` the WireMock peer.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redisrows
import wiremock
from dashboard import dashboards
from harness import LOAD_CPU, RESULTS, SIGNING_MODULE, LoadGen, Procs, Receiver, log, status_kb
from listener import Listeners
from measure import Bench, Drain, Measurement
from memory import measure_call_memory, measure_memory, signing_run
from report import RowInfo, combine_drains, combine_signing, render, summarize, verdicts
from rows import ALL_ROWS, ECHO_ROWS, build_rows, sanity, start_servers
from vendors import QUEUE_PROBE, WEBHOOK_LOG

# --------------------------------------------------------------------------------------------------- main


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
    ap.add_argument(
        "--redis",
        action="store_true",
        help="add the Redis backend's rows (a redis-server is started; needs it and the `redis` extra): "
        + ", ".join(redisrows.ROWS),
    )
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--no-wiremock", action="store_true", help="skip the WireMock rows " + ", ".join(wiremock.ROWS))
    ap.add_argument(
        "--wiremock-warmup",
        type=float,
        help="WireMock JIT warm-up before the first repetition: at least this many seconds, then until its rate"
        " settles (default 300; --quick 20)",
    )
    ap.add_argument(
        "--wiremock-warmup-max",
        type=float,
        help="stop the WireMock warm-up after this many s (default 480; --quick 40)",
    )
    ap.add_argument(
        "--with-dashboard",
        action="store_true",
        help="keep a headless chromium on the dashboard's live journal of every cxemu during the rows (dashboard.py)",
    )
    ap.add_argument(
        "--listener",
        nargs="?",
        const="full",
        choices=("full", "display"),
        help="keep one unfiltered /_emulator/events stream open and read on every cxemu server: full (every entry, "
        "the default) or display (the dashboard's display mode: the newest 100 every 0.5 s)",
    )
    ap.add_argument(
        "--webhook-log",
        action="store_true",
        help="run cxemu at log level info with its console line per delivery attempt (default: both off)",
    )
    ap.add_argument(
        "--queue-probe",
        action="store_true",
        help="load bench/queueprobe.py into the CM server: each CM run logs its dispatcher's backlog (pending "
        "deliveries by quarter of the run, the largest, when it emptied after the run)",
    )
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
    defaults.update(drain_seconds=(5.0, 3.0), wiremock_warmup=(300.0, 20.0), wiremock_warmup_max=(480.0, 40.0))
    for name, (full, quick) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    if args.duration <= 0 or args.warmup < 0 or args.reps < 1 or args.mem_conversations < 4 or not args.connections:
        ap.error("--duration, --reps, --mem-conversations and --connections must be positive")
    if args.conversations < 1 or args.drain_seconds <= 0 or args.mem_calls < 4:
        ap.error("--conversations, --drain-seconds and --mem-calls must be positive")
    known = set(ALL_ROWS + ECHO_ROWS + redisrows.ROWS)
    args.wanted = {x.strip() for x in args.only.split(",") if x.strip()} if args.only else set(ALL_ROWS)
    if args.with_echo and not args.only:
        args.wanted |= set(ECHO_ROWS)
    if args.redis:  # with the memory rows they are compared with
        args.wanted |= {*redisrows.ROWS, *redisrows.MEMORY_ROW.values(), "bare-get", "bare-post"}
    if args.no_signed:
        args.wanted -= {"8x8-post-message", "8x8-signed-drain"}
    if args.no_wiremock:
        args.wanted -= set(wiremock.ROWS)
    if args.wanted - known:
        ap.error(f"--only: unknown rows {sorted(args.wanted - known)}")
    return args


def peer_setup(args: argparse.Namespace) -> dict[str, Any]:
    """The WireMock jar (under "jar") and what the result records of it, or why its rows are skipped."""
    if not args.wanted & set(wiremock.ROWS):
        return {"skipped": "not requested (--no-wiremock or --only)"}
    path, why = wiremock.jar()
    if path is None:
        log(f"bench: WireMock rows SKIPPED: {why}")
        args.wanted -= set(wiremock.ROWS)
        return {"skipped": why}
    return {"jar": path, "version": wiremock.VERSION, "java": wiremock.java_version()}


def redis_setup(args: argparse.Namespace) -> dict[str, Any]:
    """What the result records of the Redis rows: the rows asked for, or why they are skipped."""
    asked = sorted(args.wanted & (set(redisrows.ROWS) - {redisrows.TENANTS_MEMORY}))
    if not asked:
        return {"skipped": "not requested (--redis or --only)"}
    why = redisrows.skip_reason()
    if why is not None:
        log(f"bench: Redis rows SKIPPED: {why}")
        args.wanted -= set(redisrows.ROWS) - {redisrows.TENANTS_MEMORY}
        return {"skipped": why, "rows": asked}
    return {"rows": asked}


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
    WEBHOOK_LOG["on"] = args.webhook_log
    QUEUE_PROBE["on"] = args.queue_probe
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
    peer = peer_setup(args)
    redis_info = redis_setup(args)
    workdir = Path(tempfile.mkdtemp(prefix="cxemu-bench-"))
    try:
        with terminate_on_signal(procs), contextlib.ExitStack() as watching:
            servers = start_servers(procs, args.wanted, workdir, peer.pop("jar", None))
            receiver = Receiver(servers["receiver"])
            bench = Bench(args, procs, load, receiver, workdir)
            checks = sanity(servers, receiver, bench)
            listeners = Listeners(servers, args.listener) if args.listener else None
            rows = build_rows(servers, checks, args.wanted)
            if "wiremock" in servers:
                log(f"== wiremock warm-up at c={args.connections[0]} (>= {args.wiremock_warmup:g} s, until it settles)")
                warm = wiremock.warm_up(
                    load, receiver, servers["wiremock"].port, args.connections[0], args.wiremock_warmup,
                    args.wiremock_warmup_max,
                )  # fmt: skip
                peer["warmup"] = warm.record()
                bench.deadline += warm.seconds
            runs: list[Measurement] = []
            drains: list[Drain] = []
            signing_reps: list[dict[str, Any]] = []
            bench.runs_left = args.reps * len(args.connections) * len(rows)
            bench.drains_left = args.reps if with_drain else 0
            dashboard = watching.enter_context(dashboards(servers)) if args.with_dashboard else []
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
            watching.close()
            listened = listeners.stop() if listeners is not None else None
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
        "dashboard": dashboard,
        "python": sys.version.split()[0],
        "machine": {"cpus": os.cpu_count(), "kernel": os.uname().release},
        "sanity": checks,
        "summary": summary,
        "drain": drain,
        "drains": [asdict(d) for d in drains],
        "memory": memory,
        "call_memory": call_memory,
        "signing": signing,
        "listener": listened,
        "wiremock": peer,
        "redis": redis_info,
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
