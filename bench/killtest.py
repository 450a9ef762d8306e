"""kill -9 a Redis-backed cxemu during a burst of 8x8 messages with webhooks, then restart it; N rounds (issue 16).

    .venv/bin/python bench/killtest.py [--rounds 20] [--messages 1000] [--conversations 20] [--workers 2]

Each round (`tests/support/killburst.py`, which says what is checked): an empty `redis-server` (Debian's package) in a
temporary folder, a `cxemu serve --state redis://` child, `--messages` user messages over `--conversations`
conversations whose webhooks post to a real receiver; SIGKILL once a share of them (between 10 % and 90 %, a
different point each round, the same points every run) were answered; a new server on the same Redis; the rest of
the messages. With `--workers N` (N > 1) the server is `cxemu serve --workers N --lease-ttl 1`, and the worker
that owns the tenant is the one killed: another takes the tenant over, the parent starts the killed one again, and
the messages go on through the same port. A line per round, then the totals; exit status 1 if any round found a
problem.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.killburst import run_round  # noqa: E402
from tests.support.redis_server import SKIP_REASON, RedisServer, binary  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--conversations", type=int, default=20)
    parser.add_argument("--workers", type=int, default=1, help="1: kill and restart the server; more: kill a worker")
    args = parser.parse_args()
    if binary() is None:
        print(SKIP_REASON, file=sys.stderr)
        return 2
    failed = 0
    totals = {"duplicates": 0, "lost": 0, "unknown": 0, "received": 0, "deliveries": 0}
    with tempfile.TemporaryDirectory(prefix="cxemu-killtest-") as tmp:
        server = RedisServer(Path(tmp))
        try:
            for n in range(args.rounds):
                server.flush()
                folder = Path(tmp) / f"round-{n}"
                folder.mkdir()
                share = 0.1 + 0.8 * ((n * 7919) % 97) / 96  # 10-90 %, spread over the rounds, the same every run
                kill_after = max(1, int(args.messages * share))
                started = time.monotonic()
                result = run_round(
                    server.url,
                    folder,
                    messages=args.messages,
                    conversations=args.conversations,
                    kill_after=kill_after,
                    workers=args.workers,
                )
                took = time.monotonic() - started
                print(f"round {n + 1:2d}: kill after {kill_after:4d}: {result.line()} ({took:.1f} s)", flush=True)
                failed += bool(result.problems)
                totals["duplicates"] += result.duplicates
                totals["lost"] += result.lost_attempts
                totals["unknown"] += result.unknown
                totals["received"] += result.received
                totals["deliveries"] += result.deliveries
        finally:
            server.stop()
    print(
        f"{args.rounds} rounds, {failed} failed; deliveries {totals['deliveries']}, received {totals['received']}, "
        f"duplicates {totals['duplicates']}, attempts logged as lost {totals['lost']}, "
        f"requests cut by the kill {totals['unknown']}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
