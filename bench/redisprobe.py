"""Redis's own work per 8x8 message on the owner's path: which commands and scripts, how long each, how many bytes.

    .venv/bin/python bench/redisprobe.py --redis redis://127.0.0.1:PORT/0 [-n 2000] [--conns 16] [--tree .]

Starts the tree's cxemu as the owner of every tenant (bench/owner.py, full speed, no valgrind) on a `redis-server` of
its own (flushed first: never point it at one that holds anything), makes 64 conversations with a webhook to
bench/receiver.py, sends a warm-up, then `-n` messages over `--conns` connections (bench/loadgen.py) and waits for
their webhooks. Around the measured messages: `INFO commandstats` (every command, a script's inner ones too, with
their usec), a zero-threshold `SLOWLOG` (each top-level call's usec; an `EVALSHA` named by its script: `_COMMIT`,
`_WRITE`, `_LOAD`...), `INFO stats` (bytes Redis read and wrote) and `INFO cpu` (Redis's CPU). Printed per message.
Wall time inside Redis, so a loaded machine inflates it: compare trees in one run (`--tree` twice). `--profile FILE`
runs the server under cProfile (the warm-up and set-up included; read it with `pstats`).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import HOST, Client, LoadSpec, expect, free_port, loadgen_cmd, received, settle_count, wait_listening
from vendors import API_KEY_HEADER, CONVERSATION_BODY, MESSAGE_BODY, P8, WEBHOOK_VERSION, vendor_config

CONVERSATIONS = 64
SCRIPT_FILES = ("emulator/core/redisstore.py", "emulator/core/redisruntime.py", "emulator/core/fleet.py")


def script_names(tree: Path) -> dict[str, str]:
    """SHA-1 -> name of every Lua script the tree's modules define (string constants, and sums of them)."""
    names: dict[str, str] = {}
    for rel in SCRIPT_FILES:
        path = tree / rel
        if not path.exists():
            continue
        found: dict[str, Any] = {}
        for node in ast.parse(path.read_text()).body:
            if not (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)):
                continue
            name = node.targets[0].id
            try:
                value = eval(compile(ast.Expression(node.value), "<script>", "eval"), {}, dict(found))
            except Exception:  # not a constant expression of earlier constants
                continue
            if isinstance(value, str) and "redis.call" in value:
                found[name] = value
                names[hashlib.sha1(value.encode(), usedforsecurity=False).hexdigest()] = name
            elif isinstance(value, str):
                found[name] = value
    return names


def hooks(rport: int) -> int:
    return received(rport, "/hook200/pr")


def send(spec: LoadSpec, conns: int, n: int) -> None:
    out = subprocess.run([*loadgen_cmd(spec, conns, False), "-n", str(n)], capture_output=True, text=True, check=False)
    line = next((x for x in out.stdout.splitlines() if x.startswith("BENCHJSON ")), "")
    got = json.loads(line[len("BENCHJSON ") :]) if line else {}
    if got.get("requests") != n or any(int(v) for k, v in got.items() if k.startswith("err_")):
        raise SystemExit(f"loadgen: {got or out.stdout[-400:] + out.stderr[-400:]}")


def probe(tree: Path, url: str, n: int, conns: int, profile: Path | None = None) -> dict[str, Any]:
    r = redis.Redis.from_url(url, decode_responses=True)
    r.flushdb()
    names = script_names(tree)
    rport, port = free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="redisprobe-") as tmp:
        receiver = subprocess.Popen(
            [sys.executable, str(Path(__file__).parent / "receiver.py"), str(rport)], stdout=subprocess.DEVNULL
        )
        config = vendor_config(Path(tmp), "pr", {"eightbyeight": {"behaviour": {"auto": False}, "signing": False}})
        python = [str(tree / ".venv/bin/python"), *(["-m", "cProfile", "-o", str(profile)] if profile else [])]
        cmd = [*python, str(tree / "bench/owner.py"), "serve", "--host", HOST, "--port"]
        cmd += [str(port), "--log-level", "warning", "--state", url, "--config", str(config), "--no-webhook-log"]
        env = {**os.environ, "CXEMU_LEASE_TTL": "300"}
        with (Path(tmp) / "server.log").open("wb") as sink:
            server = subprocess.Popen(cmd, cwd=tree, stdout=sink, stderr=subprocess.STDOUT, env=env)
        try:
            wait_listening(rport, "/stats", receiver)
            wait_listening(port, "/_emulator/health", server, Path(tmp) / "server.log")
            key = {API_KEY_HEADER: "pr"}
            with Client(port, key) as c:
                hook = json.dumps(
                    {"name": "default", "uri": f"http://{HOST}:{rport}/hook200/pr", "version": WEBHOOK_VERSION}
                )
                expect(*c.call("PUT", f"{P8}/webhooks/1", hook), 200, "PUT webhook")
                made = [c.call("POST", f"{P8}/conversations", CONVERSATION_BODY) for _ in range(CONVERSATIONS)]
            ids = [str(json.loads(body)["conversationId"]) for status, body in made if status == 202]
            paths = Path(tmp) / "paths"
            paths.write_text("".join(f"{P8}/conversations/{cid}/messages\n" for cid in ids))
            spec = LoadSpec(port, "POST", f"{P8}/conversations/{ids[0]}/messages", key, MESSAGE_BODY, paths)
            send(spec, conns, max(400, n // 4))
            settle_count(lambda: hooks(rport), 0, 20)
            time.sleep(0.5)  # what lingers (`LINGER`) is written
            base = hooks(rport)
            r.config_set("slowlog-log-slower-than", 0)
            r.config_set("slowlog-max-len", 1_000_000)
            r.slowlog_reset()
            r.config_resetstat()
            cpu0 = r.info("cpu")
            send(spec, conns, n)
            settle_count(lambda: hooks(rport), base + n, 20)
            time.sleep(0.5)
            cpu1 = r.info("cpu")
            stats = r.info("stats")
            commands = r.info("commandstats")
            slow = r.slowlog_get(2_000_000)
            r.config_set("slowlog-log-slower-than", 10_000)
        finally:
            server.terminate()
            receiver.terminate()
            server.wait(30)
            receiver.wait(30)
    calls: dict[str, list[int]] = defaultdict(list)
    for entry in slow:
        command = entry["command"]
        args = (command.decode(errors="replace") if isinstance(command, bytes) else str(command)).split(" ")
        name = args[0].upper()
        if name in ("EVALSHA", "EVAL") and len(args) > 1:
            name = f"{name} {names.get(args[1], args[1][:8])}"
        if name.startswith(("CONFIG", "INFO", "SLOWLOG")):
            continue
        calls[name].append(int(entry["duration"]))
    cpu = sum(float(cpu1[k]) - float(cpu0[k]) for k in ("used_cpu_sys", "used_cpu_user")) * 1e6
    return {
        "n": n,
        "cpu": cpu / n,
        "in": stats["total_net_input_bytes"] / n,
        "out": stats["total_net_output_bytes"] / n,
        "commands": {
            k.removeprefix("cmdstat_"): (v["calls"] / n, v["usec"] / n)
            for k, v in commands.items()
            if not k.startswith(("cmdstat_config", "cmdstat_info", "cmdstat_slowlog"))
        },
        "top": {k: (len(v) / n, sum(v) / n, statistics.median(v)) for k, v in calls.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--redis", required=True, help="a redis-server of its own (it is flushed)")
    ap.add_argument("--tree", action="append", type=Path, help="a cxemu checkout with its .venv (default: this one)")
    ap.add_argument("-n", type=int, default=2000)
    ap.add_argument("--conns", type=int, default=16)
    ap.add_argument("--profile", type=Path, help="run the server under cProfile, its stats written here (one tree)")
    args = ap.parse_args()
    for tree in args.tree or [Path(__file__).resolve().parent.parent]:
        got = probe(tree.resolve(), args.redis, args.n, args.conns, args.profile)
        print(f"== {tree}: {args.n} messages over {args.conns} connections, per message")
        print(f"Redis CPU {got['cpu']:.1f} us; bytes in {got['in']:.0f}, out {got['out']:.0f}")
        print("top-level calls (SLOWLOG):   calls   usec  median-usec-per-call")
        for name, (count, usec, med) in sorted(got["top"].items(), key=lambda kv: -kv[1][1]):
            print(f"  {name:24} {count:6.2f} {usec:7.1f} {med:6.0f}")
        print("every command (commandstats, a script's inner ones too):   calls   usec")
        for name, (count, usec) in sorted(got["commands"].items(), key=lambda kv: -kv[1][1]):
            print(f"  {name:24} {count:6.2f} {usec:7.1f}")


if __name__ == "__main__":
    main()
