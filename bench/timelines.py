"""Per-tenant timelines at scale: does advancing one tenant among thousands cost what it costs alone?

    .venv/bin/python bench/timelines.py [--tenants 10000] [--rounds 200]

Two measurements, each with one tenant and with `--tenants` tenants that all have pending timers:

- scheduler: every tenant has a tick (a persistent job that schedules itself 1 s on) and a timer an hour
  away; the figure is one `Scheduler.advance(1, tenants=[one])` (it runs exactly one tick), and the reads a
  request makes (`clock_of`, `now`) and `pending` of one tenant;
- server: every tenant has an 8x8 conversation waiting for its agent (created through the in-process app,
  every built-in vendor loaded); the figure is `POST /_emulator/clock/advance?tenant=<one>` of 0.001 s (no
  timer due) and an 8x8 `GET` of the conversation, through ASGI.

Prints a table and `BENCHJSON {...}`. Not part of `make test` or `make bench`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from emulator.app import create_app
from emulator.core.clock import DEFAULT_VIRTUAL_START, Scheduler, VirtualClock
from emulator.core.settings import Settings

CONVERSATION = {"channelId": "1", "user": {"name": "Ann"}, "assignment": {"type": "queue", "id": "100"}}


async def per_call(fn: Callable[[], Awaitable[Any]], rounds: int) -> float:
    """Median microseconds of one awaited call (after a few warm-up calls)."""
    for _ in range(5):
        await fn()
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - t0) * 1e6)
    return statistics.median(samples)


def per_sync(fn: Callable[[], Any], rounds: int) -> float:
    t0 = time.perf_counter()
    for _ in range(rounds):
        fn()
    return (time.perf_counter() - t0) * 1e6 / rounds


async def scheduler_figures(tenants: int, rounds: int) -> dict[str, float]:
    sched = Scheduler(VirtualClock(DEFAULT_VIRTUAL_START))

    def tick(vendor: str, tenant: str, args: Mapping[str, Any]) -> None:
        sched.schedule_job(1, "bench.tick", args, vendor=vendor, tenant=tenant)

    sched.register_job("bench.tick", tick)
    for i in range(tenants):
        sched.schedule_job(1, "bench.tick", {}, vendor="bench", tenant=f"t{i}")
        sched.call_later(3600, lambda: None, vendor="bench", tenant=f"t{i}")
    one = ["t0"]
    return {
        "advance_one_us": await per_call(lambda: sched.advance(1, tenants=one), rounds),
        "request_reads_us": per_sync(lambda: (sched.clock_of("t0").now(), sched.now("t0")), rounds * 100),
        "pending_one_us": per_sync(lambda: sched.pending(one), rounds * 10),
    }


async def server_figures(tenants: int, rounds: int) -> dict[str, float]:
    app = create_app(Settings.load({}, {"clock": "virtual", "log_level": "warning", "journal_size": 0}))
    emu = app.state.emulator
    await emu.start()
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://cxemu.bench") as client:
            conversations = {}
            for i in range(tenants):
                r = await client.post(
                    "/chat-gateway/v1/conversations", json=CONVERSATION, headers={"x-api-key": f"t{i}"}
                )
                assert r.status_code == 202, r.text
                conversations[f"t{i}"] = r.json()["conversationId"]
            await emu.scheduler.settle()
            assert emu.scheduler.pending_count() >= tenants
            path = f"/chat-gateway/v1/conversations/{conversations['t0']}"

            async def advance() -> None:
                r = await client.post("/_emulator/clock/advance?tenant=t0", json={"seconds": 0.001})
                assert r.status_code == 200, r.text

            async def get() -> None:
                r = await client.get(path, headers={"x-api-key": "t0"})
                assert r.status_code == 200, r.text

            return {"advance_one_us": await per_call(advance, rounds), "get_us": await per_call(get, rounds)}
    finally:
        await emu.stop()


async def run(tenants: int, rounds: int) -> dict[str, Any]:
    out: dict[str, Any] = {"tenants": tenants, "rounds": rounds}
    for name, measure in (("scheduler", scheduler_figures), ("server", server_figures)):
        out[name] = {"1": await measure(1, rounds), str(tenants): await measure(tenants, rounds)}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    result = asyncio.run(run(args.tenants, args.rounds))
    print(f"{'what':<34}{'1 tenant':>12}{f'{args.tenants} tenants':>18}")
    for part in ("scheduler", "server"):
        alone, many = result[part]["1"], result[part][str(args.tenants)]
        for key in alone:
            print(f"{part + ' ' + key:<34}{alone[key]:>10.1f}us{many[key]:>16.1f}us")
    print("BENCHJSON " + json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
