"""Instructions per delivery of the webhook dispatcher and its client alone (no server, no vendor route).

    .venv/bin/python bench/dispatchcount.py                       # this tree: 8x8 and CM shapes, 2,000 requests each
    .venv/bin/python bench/dispatchcount.py --tree /work/main --tree . --shape 8x8 -n 2000

Runs, under valgrind's callgrind, one process with the real `WebhookDispatcher` (uvloop, a system clock) sending to
bench/receiver.py (its own process, not counted); the counters are zeroed after a warm-up (which also fills the
delivery log, so it is trimmed on every new delivery, as in a long run) and dumped once `-n` requests' deliveries
have settled: the count divided by the deliveries is what one costs the dispatcher and the client (submit, the
key's queue and pump, the attempt and its record, the request's bytes, the answer's parse, the timeout heap, the
log, the JSON body), with the loop's own work for it, and nothing of a server's request. The server's `gc` settings
apply. Deliveries are made as a server under load makes them: a new request's as one settles, on the next turn of
the loop. Each count takes 2-6 minutes.

  8x8   one delivery per request, subject = one of `--conns` conversations, two requests of each in flight (a
        conversation's next message arrives while its webhook is out, as in the 8x8 row: its pump goes on), the 8x8
        unsigned policy (seven headers)
  8x8-1 the same with one request of each conversation in flight: each delivery starts its key's pump (most of the
        8x8 row's deliveries do: a conversation's next message comes after its webhook went out)
  cm    two deliveries per request on the request's own subject (CM's two status reports), CM's policy, 200s
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = r"""
import asyncio, gc, os, sys, time
import uvloop
sys.path.insert(0, os.getcwd())
from emulator.core.clock import Scheduler, SystemClock
from emulator.core.store import Outbound
from emulator.core.webhooks import WebhookDispatcher, WebhookPolicy

shape, n, conns, port, log_size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
BODY = {
    "eventType": "MESSAGE", "eventId": "", "conversationId": "", "timestamp": "2026-12-07T10:00:00.000Z",
    "message": {"id": "", "type": "TEXT", "text": "hello from the benchmark", "direction": "OUTBOUND"},
}


async def main() -> None:
    sched = Scheduler(SystemClock())
    d = WebhookDispatcher(sched, seed=7, log_size=log_size)
    if shape.startswith("8x8"):
        from emulator.vendors.eightbyeight.delivery import RETRY_LADDER, UNSIGNED, unsigned_headers
        policy = WebhookPolicy(retry_ladder=RETRY_LADDER, headers=unsigned_headers, signature=UNSIGNED)
        d.register("eightbyeight", policy)
        vendor, url, each = "eightbyeight", f"http://127.0.0.1:{port}/hook/dc", 1
        profile = {"tenant_id": "tenant-1", "customer_id": "cust-1"}
    else:
        d.register("cmcom", WebhookPolicy(retry_ladder=(60.0,) * 10, success_statuses=range(200, 201)))
        vendor, url, each = "cmcom", f"http://127.0.0.1:{port}/hook200/dc", 2
        profile = {}
    loop = asyncio.get_running_loop()
    ahead = 2 * conns if shape == "8x8" else conns  # 8x8: a conversation's next message comes while one is sent
    made = 0
    settled = 0
    done = loop.create_future()
    total = 0

    def request(i: int, subject: str | None = None) -> None:
        nonlocal made
        if subject is None:
            subject = f"msg-{i}" if shape == "cm" else f"conv-{i % conns}"
        for k in range(each):
            made += 1
            payload = dict(BODY, eventId=f"evt-{made:08d}", conversationId=subject)
            d.submit(vendor, "t1", Outbound(url, payload, "MESSAGE", subject, f"evt-{made:08d}", dict(profile)))

    def on_attempt(dl, a) -> None:
        nonlocal settled
        if dl.status == "pending":
            return
        settled += 1
        if settled % each == 0:
            nxt = settled // each + ahead - 1
            if nxt < total:
                loop.call_soon(request, nxt, dl.subject if shape == "8x8-1" else None)  # 8x8-1: its next message
        if settled == total * each and not done.done():
            done.set_result(None)

    d.attempt_listeners.append(on_attempt)

    async def run(count: int) -> None:
        nonlocal settled, total, done
        settled, total, done = 0, count, loop.create_future()
        if count == 0:
            return
        for i in range(min(ahead, count)):
            request(i)
        await done

    await run(max(2 * conns, log_size))  # warm-up: connections made, routes known, the log full (trimmed from now on)
    gc.freeze()  # as the server does (emulator.cli)
    gc.set_threshold(20_000, 20, 50)
    print("ready", flush=True)
    sys.stdin.readline()  # the counters are zeroed now
    await run(n)
    print("done", flush=True)
    sys.stdin.readline()  # the counters are dumped now
    assert all(x.status == "delivered" for x in d.deliveries()), "a delivery failed"
    await d.close()


uvloop.run(main())
"""


def count(tree: Path, shape: str, n: int, conns: int, port: int, log_size: int, keep: Path | None) -> int:
    """The instructions of `n` requests' deliveries (counters zeroed after the warm-up, dumped once all settled)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cg.out"
        cmd = ["valgrind", "--tool=callgrind", "-q", f"--callgrind-out-file={out}"]
        cmd += [str(tree / ".venv/bin/python"), "-c", CHILD, shape, str(n), str(conns), str(port), str(log_size)]
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        proc = subprocess.Popen(cmd, cwd=tree, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert proc.stdin is not None
        assert proc.stdout is not None
        for word, control in (("ready", "-z"), ("done", "-d")):
            line = proc.stdout.readline().strip()
            if line != word:
                proc.kill()
                raise SystemExit(f"dispatchcount: the child said {line!r}, not {word!r}")
            subprocess.run(["callgrind_control", control, str(proc.pid)], check=True, capture_output=True)
            proc.stdin.write("\n")
            proc.stdin.flush()
        if proc.wait() != 0:
            raise SystemExit("dispatchcount: the child failed")
        dumps = sorted(Path(tmp).glob("cg.out.*"))
        total = 0
        for line in dumps[0].read_text(errors="replace").splitlines():
            if line.startswith(("summary:", "totals:")):
                total = max(total, int(line.split()[1]))
        if keep is not None:
            shutil.copy(dumps[0], keep)
        return total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tree", action="append", type=Path)
    ap.add_argument("--shape", action="append", choices=["8x8", "8x8-1", "cm"])
    ap.add_argument("-n", type=int, default=2000, help="deliveries' requests counted (CM: two deliveries each)")
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--log-size", type=int, default=1000, help="the delivery log's size (full before counting)")
    ap.add_argument("--port", type=int, default=18931)
    ap.add_argument("--keep", type=Path, help="a folder to keep the callgrind outputs in (callgrind_annotate)")
    args = ap.parse_args()
    trees = [t.resolve() for t in (args.tree or [Path(".")])]
    shapes = args.shape or ["8x8", "8x8-1", "cm"]
    receiver = subprocess.Popen([sys.executable, str(HERE / "receiver.py"), str(args.port)], stdout=subprocess.PIPE)
    try:
        assert receiver.stdout is not None
        receiver.stdout.readline()
        for shape in shapes:
            for tree in trees:
                keep = None if args.keep is None else args.keep / f"{shape}-{tree.name}.out"
                full = count(tree, shape, args.n, args.conns, args.port, args.log_size, keep)
                each = 2 if shape == "cm" else 1
                per = full / (args.n * each)
                print(f"{shape:5} {tree}: {per / 1000:.1f} k instructions per delivery", flush=True)
    finally:
        receiver.terminate()
        receiver.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
