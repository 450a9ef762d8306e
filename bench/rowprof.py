"""Where a row's server time goes: py-spy over the measured part of `bench/run.py` rows, shares by leaf frame.

    .venv/bin/python bench/rowprof.py --rows bare-post-webhook,8x8-post-message-unsigned --conns 64 --duration 10

Each row runs as in `bench/run.py` (same servers, set-up and warm-up, pinned the same way), once; py-spy (pinned
beside the load generator) records the server only during the measured run (`Bench.around`), at `--rate` Hz,
raw stacks of every thread that is not idle. Printed per row: the shares of all samples by where the leaf frame
is (uvicorn, Starlette, cxemu's webhook client, its dispatcher, ...; a C call such as a socket write is counted
on the Python frame that made it), then the leaf frames with the most samples. `--keep DIR` keeps the raw files.
Needs py-spy (`.venv/bin/pip install py-spy`; as root, or with ptrace allowed).
"""

from __future__ import annotations

import argparse
import contextlib
import linecache
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from harness import BENCH, LOAD_CPU, REPO, LoadGen, Procs, Receiver, log
from measure import Bench, Row
from rows import build_rows, sanity, start_servers
from run import parse_args

AREAS = (
    ("emulator/core/httpclient.py", "cxemu's webhook client (httpclient.py)"),
    ("emulator/core/webhooks.py", "cxemu's dispatcher (webhooks.py)"),
    ("emulator/vendors/", "the vendor's handler (emulator/vendors)"),
    ("emulator/", "the rest of cxemu (store, unit of work, feed, journal, clock, app layers)"),
    ("bare_app.py", "the floor's own route (bare_app.py)"),
    ("uvicorn/", "uvicorn"),
    ("starlette/", "Starlette"),
    ("asyncio/runners.py", "the event loop in C (uvloop: epoll, reads, callbacks' glue)"),
    ("asyncio/", "asyncio (Python part)"),
    ("json/", "json"),
)


WRITES = (
    ("emulator/core/httpclient.py", "the webhook's socket write (kernel: loopback TCP)"),
    (
        "",
        "the answer's socket write (kernel: loopback TCP)",
    ),
)
"""A leaf frame on a `transport.write(` line: the time is the kernel's send (on loopback it also runs the peer's
receive path on this core), whoever calls it (uvicorn's `send`, cxemu's one-write `sent`, the webhook client)."""


ROOTS = (
    sysconfig.get_paths()["purelib"],
    sysconfig.get_paths()["platlib"],
    sysconfig.get_paths()["stdlib"],
    REPO,
    BENCH,
)
"""Where py-spy's shortened paths (`uvicorn/...`, `emulator/...`, `bare_app.py`) are found."""


def source_line(path: str, line: int) -> str:
    for root in ("", *ROOTS):
        text = linecache.getline(os.path.join(root, path), line)
        if text:
            return text
    return ""


def area(frame: str) -> str:
    where = frame.rsplit("(", 1)[-1].rstrip(")")
    path, _, line = where.rpartition(":")
    if line.isdigit() and "transport.write(" in source_line(path, int(line)):
        return next(name for part, name in WRITES if part in path)
    for part, name in AREAS:
        if part in where:
            return name
    return "other (stdlib, uvloop/httptools callbacks, ...)"


def shares(raw: Path) -> tuple[int, Counter[str], Counter[str]]:
    """(samples, samples by area of the leaf frame, samples by leaf frame) of a py-spy raw file."""
    total, areas, leaves = 0, Counter[str](), Counter[str]()
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = [f for f in stack.split(";") if "(" in f and not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        n = int(count)
        total += n
        leaf = frames[-1]
        areas[area(leaf)] += n
        leaves[leaf.replace(str(Path(sys.prefix)), "").replace(os.getcwd(), "")] += n
    return total, areas, leaves


def report(title: str, raw: Path, top: int) -> None:
    total, areas, leaves = shares(raw)
    log(f"\n{title}; {total:,} samples")
    for name, n in areas.most_common():
        log(f"  {100 * n / max(1, total):5.1f} %  {name}")
    log("  leaf frames:")
    for frame, n in leaves.most_common(top):
        log(f"  {100 * n / max(1, total):5.1f} %  {frame}")


@contextlib.contextmanager
def spy(py_spy: str, pid: int, out: Path, seconds: float, rate: int) -> Iterator[None]:
    cmd = ["taskset", "-c", LOAD_CPU, py_spy, "record", "-p", str(pid), "-r", str(rate), "-f", "raw", "-o", str(out)]
    cmd += ["-d", str(int(seconds + 1)), "--nonblocking"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        yield
    finally:
        _, err = proc.communicate(timeout=seconds + 60)
        if proc.returncode != 0:
            log(f"py-spy failed ({proc.returncode}): {err.decode(errors='replace')[-400:]}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default="", help="comma-separated rows of bench/run.py (webhook rows or plain)")
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--rate", type=int, default=250, help="py-spy samples per second (default 250)")
    ap.add_argument("--top", type=int, default=15, help="leaf frames listed per row (default 15)")
    ap.add_argument("--keep", type=Path, help="keep the raw py-spy files in this directory")
    ap.add_argument("--read", type=Path, nargs="+", metavar="RAW", help="measure nothing: the shares of these files")
    a = ap.parse_args(argv)
    if a.read:
        for raw in a.read:
            report(raw.stem, raw, a.top)
        return 0
    if not a.rows:
        ap.error("--rows (or --read)")
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        print("rowprof: py-spy is not installed (.venv/bin/pip install py-spy)", file=sys.stderr)
        return 2
    fixed = ["--reps", "1", "--skip-memory", "--no-wiremock", "--no-signed", "--retries", "0"]
    args = parse_args(["--only", a.rows, "--duration", str(a.duration), "--connections", str(a.conns), *fixed])
    procs = Procs(shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2)
    if procs.pin:
        os.sched_setaffinity(0, {int(LOAD_CPU)})
    load = LoadGen("wrk" if shutil.which("wrk") else "python", procs.pin)
    work = Path(tempfile.mkdtemp(prefix="rowprof-"))
    out_dir = a.keep or work
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        servers = start_servers(procs, args.wanted, work)
        receiver = Receiver(servers["receiver"])
        bench = Bench(args, procs, load, receiver, work)
        rows = build_rows(servers, sanity(servers, receiver, bench), args.wanted)
        files: dict[str, Path] = {}

        def around(row: Row, conns: int) -> contextlib.AbstractContextManager[None]:
            files[row.name] = out_dir / f"{row.name}-c{conns}.raw"
            return spy(py_spy, row.server.pid, files[row.name], a.duration, a.rate)

        bench.around = around
        bench.runs_left = len(rows)
        for row in rows:
            m = bench.measure(row, a.conns, 1)
            report(
                f"{row.name} (c={a.conns}): {m.cpu_us_per_request:.0f} µs server CPU per request",
                files[row.name],
                a.top,
            )
    finally:
        procs.stop_all()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
