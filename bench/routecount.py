"""A vendor route's own work, in one process: no socket, no delivery, no other process.

    .venv/bin/python bench/routecount.py --row 8x8 -n 1000                  # runs it (a sanity pass, no valgrind)
    .venv/bin/python bench/routecount.py --row 8x8 -n 1000 --callgrind      # under callgrind: k instructions
    .venv/bin/python bench/routecount.py --row cm -n 1000 --profile         # cProfile of the counted requests
    .venv/bin/python bench/routecount.py --row cm --profile --sort cumulative --top 90

The app is built as `cxemu serve` builds it (bench/icount.py's configs: 8x8 with agents off and an unsigned
webhook; CM.com with both status reports due at once) and driven through uvicorn's own `RequestResponseCycle`
(cxemu's guarded httptools protocol, as the server runs it) on a fake transport that keeps what is written.
`dispatcher.submit` is stubbed (the webhook is built, not queued or sent): what is left is the route's own path,
its unit of work, events, journal and feed entries. 200 warm-up requests, then `-n` counted ones inside one
`functools.reduce` call, which `--toggle-collect=functools_reduce` counts alone; `PYTHONHASHSEED=0`, the collector
tuned as `cli._tune_gc`, on uvloop. `--check` prints a digest of every answer, every webhook built and the feed's
and journal's entries (compare two trees).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))

from vendors import (
    API_KEY_HEADER,
    CM_PATH,
    CM_SANITY_TENANT,
    CONVERSATION_BODY,
    MESSAGE_BODY,
    P8,
    WEBHOOK_VERSION,
    cm_body,
    cm_token,
    cmcom_section,
    vendor_config,
)

CONVERSATIONS = 64
WARM = 200


class Transport(asyncio.Transport):
    """What uvicorn's protocol writes to, kept; the answer is complete when `done` says so."""

    def __init__(self) -> None:
        super().__init__()
        self.out: list[bytes] = []
        self.closing = False
        self.waiter: asyncio.Future[None] | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.out.append(bytes(data))
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


def raw(method: str, path: str, headers: dict[str, str], body: str) -> bytes:
    data = body.encode()
    head = [f"{method} {path} HTTP/1.1", "host: 127.0.0.1:8000"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    if data:
        head += ["content-type: application/json", f"content-length: {len(data)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + data


def build(row: str, work: Path, clock: str) -> tuple[Any, Any]:
    from emulator.app import create_app
    from emulator.core.settings import Settings

    if row == "8x8":
        section: dict[str, Any] = {"eightbyeight": {"behaviour": {"auto": False}, "signing": False}}
    else:
        section = cmcom_section("http://127.0.0.1:9/hook")
    config = vendor_config(work, "rc", section)
    settings = Settings.load(
        os.environ, {"config": str(config), "webhook_log": False, "clock": clock, "host": "127.0.0.1", "port": 8000}
    )
    return create_app(settings), settings


async def main_async(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import uvicorn
    from uvicorn.server import ServerState

    from emulator.cli import _tune_gc
    from emulator.core.httpguard import protocol_for

    virtual = args.row == "8x8" or args.check
    app, settings = build(args.row, work, "virtual" if virtual else "system")
    emulator = app.state.emulator
    built: list[bytes] = []
    digest = hashlib.sha256()
    policies = emulator.dispatcher.policies

    submitted = [0]

    def submit(vendor: str, tenant: str, outbound: Any) -> None:
        submitted[0] += 1
        if args.check:
            body = policies[vendor].serialize(outbound.payload)
            built.append(body if isinstance(body, bytes) else str(body).encode())
            built.append(repr((outbound.event_id, outbound.event_type, outbound.subject, outbound.url)).encode())
            built.append(repr(sorted(dict(outbound.profile).items())).encode())

    config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False, http=protocol_for(settings))
    config.load()
    await emulator.start()
    emulator.dispatcher.submit = submit
    state = ServerState()
    transport = Transport()
    protocol: Any = config.http_protocol_class(config=config, server_state=state, app_state={})  # type: ignore[call-arg]
    protocol.connection_made(transport)
    loop = asyncio.get_running_loop()

    async def call(data: bytes) -> bytes:
        transport.out.clear()
        protocol.data_received(data)  # uvicorn starts the request's task
        while protocol.cycle is None or not protocol.cycle.response_complete:
            transport.waiter = loop.create_future()
            await transport.waiter  # set by the answer's write
        if args.check and args.row == "cm":  # the status reports due at once, on the virtual clock
            await emulator.scheduler.advance(0)
        return b"".join(transport.out)

    def status(answer: bytes) -> int:
        return int(answer.split(b" ", 2)[1])

    if args.row == "8x8":
        key = {API_KEY_HEADER: "ic"}
        hook = json.dumps({"name": "default", "uri": "http://127.0.0.1:9/hook", "version": WEBHOOK_VERSION})
        assert status(await call(raw("PUT", f"{P8}/webhooks/1", key, hook))) == 200
        paths = []
        for _ in range(CONVERSATIONS):
            answer = await call(raw("POST", f"{P8}/conversations", key, CONVERSATION_BODY))
            assert status(answer) == 202, answer
            cid = json.loads(answer.split(b"\r\n\r\n", 1)[1])["conversationId"]
            paths.append(f"{P8}/conversations/{cid}/messages")
        requests = [raw("POST", p, key, MESSAGE_BODY) for p in paths]
        want = 202
    else:
        requests = [raw("POST", CM_PATH, {}, cm_body(cm_token(CM_SANITY_TENANT)))]
        want = 200
    built.clear()

    async def run(first: int, n: int, answers: list[bytes] | None) -> None:
        for i in range(first, first + n):
            answer = await call(requests[i % len(requests)])
            assert status(answer) == want, answer
            if answers is not None:
                answers.append(answer)
        for _ in range(8):  # what the last requests scheduled at once (CM's status jobs)
            await asyncio.sleep(0)

    # run_until_complete needs the loop not running: the counted part runs after this coroutine returns
    return {
        "run": run,
        "built": built,
        "digest": digest,
        "emulator": emulator,
        "tune": _tune_gc,
        "submitted": submitted,
    }


def steady(entry: dict[str, Any]) -> bytes:
    """An entry's JSON without the request's wall-clock latency (the one field that differs run to run)."""
    entry = dict(entry)
    entry.pop("latency_ms", None)
    if isinstance(entry.get("data"), dict):
        entry["data"] = {k: v for k, v in entry["data"].items() if k != "latency_ms"}
    return json.dumps(entry, sort_keys=True, default=str).encode()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--row", choices=("8x8", "cm"), default="8x8")
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--callgrind", action="store_true", help="re-run this under callgrind and print k instr/request")
    ap.add_argument("--profile", action="store_true", help="cProfile the counted requests (--top rows by --sort)")
    ap.add_argument("--sort", default="tottime", help="--profile's order (pstats: tottime, cumulative, ...)")
    ap.add_argument("--top", type=int, default=40, help="--profile's rows")
    ap.add_argument("--check", action="store_true", help="print a digest of the answers and webhooks built")
    ap.add_argument("--out", type=Path, help="with --callgrind: keep the callgrind output here")
    args = ap.parse_args()
    if args.callgrind:
        out = args.out or Path(tempfile.mkdtemp(prefix="routecount-")) / "callgrind.out"
        env = dict(os.environ, PYTHONHASHSEED="0")
        cmd = ["valgrind", "--tool=callgrind", "--toggle-collect=functools_reduce", f"--callgrind-out-file={out}"]
        cmd += [sys.executable, __file__, "--row", args.row, "-n", str(args.n)]
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        text = out.read_text(errors="replace")
        total = int(re.findall(r"^summary: (\d+)", text, re.M)[-1])
        print(f"{args.row}: {total / args.n / 1000:.1f} k instructions per request ({out})")
        return 0
    with tempfile.TemporaryDirectory(prefix="routecount-") as tmp:
        loop = uvloop.new_event_loop()  # as `cxemu serve` runs (uvicorn's loop "auto")
        asyncio.set_event_loop(loop)
        ctx = loop.run_until_complete(main_async(args, Path(tmp)))
        run = ctx["run"]
        loop.run_until_complete(run(0, WARM, None))
        ctx["built"].clear()
        ctx["submitted"][0] = 0
        ctx["tune"]()
        answers: list[bytes] | None = [] if args.check else None

        def counted(acc: None, first: int) -> None:  # the only call of functools.reduce: what callgrind counts
            loop.run_until_complete(run(first, args.n, answers))

        if args.profile:
            import cProfile
            import pstats

            prof = cProfile.Profile()
            prof.enable()
            functools.reduce(counted, [WARM], None)
            prof.disable()
            pstats.Stats(prof).sort_stats(args.sort).print_stats(args.top)
        else:
            functools.reduce(counted, [WARM], None)
        if args.check:
            digest = ctx["digest"]
            for a in answers or []:
                digest.update(a)
            for b in ctx["built"]:
                digest.update(b)
            emulator = ctx["emulator"]
            for e in emulator.feed.entries():  # the feed's and the journal's entries as their JSON (no wall time)
                digest.update(steady(e.to_json()))
            for j in emulator.journal.entries():
                digest.update(steady(j.to_json()))
            made = len(ctx["built"]) // 3
            print(f"{args.row}: {len(answers or [])} answers, {made} webhooks built, {digest.hexdigest()}")
        print(f"{args.row}: {ctx['submitted'][0]} webhooks for {args.n} requests", file=sys.stderr)
        loop.run_until_complete(ctx["emulator"].stop())
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
