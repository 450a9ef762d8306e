"""The Redis backend's rows (issue 16; `run.py --redis`, or name them in `--only`).

Each row runs the same requests as its memory row, on cxemu serving `--state redis://` from a `redis-server` the
harness starts (`--save '' --appendonly no`, in the run's temp dir, pinned to the server CPU); every deployment has
its own database, so each is a fleet of its own. CPU µs per request is the CPU of cxemu (every process of it: the
supervisor and its workers) plus redis-server's, from /proc, divided by the completed requests:

  8x8-get@redis                          8x8-get on one worker (the signed config, as 8x8-get's server)
  8x8-post-message-unsigned@redis        8x8-post-message-unsigned on one worker (the tenant's owner)
  8x8-post-message-unsigned@redis-hop    the same requests sent to a second replica (another `cxemu serve` on the
                                         same Redis) that does not own the tenant, so each is forwarded to the
                                         owner: CPU = both replicas + Redis
  8x8-post-tenants                       (memory, for the two below) 8x8-post-message-unsigned's server, with the
                                         run's conversations spread over 8 tenants, every request with its key
  8x8-post-tenants@redis-w1              the webhook row over 8 tenants (32 conversations each, every request
                                         with its tenant's key), `cxemu serve --workers 1`
  8x8-post-tenants@redis-w2              the same with `--workers 2`: the kernel spreads connections over the two
                                         workers, each tenant is owned by one, so about half the requests are
                                         forwarded to the other worker

The one-worker rows and the hop run cxemu and Redis on the server CPU (so "CPU µs per request" is all theirs and
req/s is what one core gives); the -w1 and -w2 rows may use both CPUs, which they share with the load generator and
the receiver (this machine has two: two workers, Redis, wrk and the receiver cannot each have a core, see
bench/README.md). Skipped, with the reason, when redis-server or the `redis` extra (redis-py, hiredis) is missing.
"""

from __future__ import annotations

import importlib.util
import shutil
import socket
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness import HOST, LOAD_CPU, SERVER_CPU, Proc, Procs, Receiver, clean_env, expect, free_port, request
from measure import Row
from vendors import (
    CONVERSATION_BODY,
    HOOKS_PER_CONVERSATION,
    MESSAGE_BODY,
    P8,
    api_key,
    cxemu_cmd,
    eightbyeight_config,
    point_webhook,
)

GET = "8x8-get@redis"
POST = "8x8-post-message-unsigned@redis"
HOP = "8x8-post-message-unsigned@redis-hop"
W1 = "8x8-post-tenants@redis-w1"
W2 = "8x8-post-tenants@redis-w2"
TENANTS_MEMORY = "8x8-post-tenants"
ROWS = (TENANTS_MEMORY, GET, POST, HOP, W1, W2)
MEMORY_ROW = {GET: "8x8-get", POST: "8x8-post-message-unsigned", HOP: "8x8-post-message-unsigned"}
MEMORY_ROW.update({W1: TENANTS_MEMORY, W2: TENANTS_MEMORY})
"""The memory row each Redis row's CPU per request is compared with."""
TENANTS = 8
"""Tenants of the -w1/-w2 rows (the run's conversations are spread over them)."""
BOTH_CPUS = f"{SERVER_CPU},{LOAD_CPU}"

# deployment name -> (database, signed, workers, CPUs); the hop's two replicas share one database (one fleet)
DEPLOYMENTS = {
    "8x8@redis": (0, True, 1, SERVER_CPU),
    "8x8-unsigned@redis": (1, False, 1, SERVER_CPU),
    "hop-owner@redis": (2, False, 1, SERVER_CPU),
    "hop-other@redis": (2, False, 1, SERVER_CPU),
    "w1@redis": (3, False, 1, BOTH_CPUS),
    "w2@redis": (4, False, 2, BOTH_CPUS),
}
NEEDS = {GET: ("8x8@redis",), POST: ("8x8-unsigned@redis",), HOP: ("hop-owner@redis", "hop-other@redis")}
NEEDS.update({W1: ("w1@redis",), W2: ("w2@redis",), TENANTS_MEMORY: ()})


def skip_reason() -> str | None:
    """Why the Redis rows cannot run here, or None."""
    if shutil.which("redis-server") is None:
        return "redis-server is not installed (apt-get install -y redis-server)"
    for module in ("redis", "hiredis"):
        if importlib.util.find_spec(module) is None:
            return f"the `redis` extra is not installed ({module} is missing: pip install -e '.[redis]')"
    return None


def _wait_redis(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((HOST, port), timeout=1.0) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"redis-server on port {port} did not answer PING within {timeout:g} s")
        time.sleep(0.1)


def start(procs: Procs, wanted: set[str], workdir: Path, default_hook: str) -> dict[str, Proc]:
    """redis-server and the cxemu deployments the wanted Redis rows need (not waited for: `start_servers` does)."""
    names = [n for row in ROWS if row in wanted for n in NEEDS[row]]
    if not names:
        return {}
    folder = workdir / "redis"
    folder.mkdir(exist_ok=True)
    port = free_port()
    cmd = ["redis-server", "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no"]
    cmd += ["--dir", str(folder), "--databases", "16"]
    servers = {"redis": procs.start("redis", cmd, SERVER_CPU, port=port)}
    _wait_redis(port)
    for name in names:
        db, signed, workers, cpus = DEPLOYMENTS[name]
        config = eightbyeight_config(workdir, "eightbyeight" if signed else "eightbyeight-unsigned", signing=signed)
        at = free_port()
        cmd = cxemu_cmd(at, config=config, webhook_url=default_hook)
        cmd += ["--state", f"redis://{HOST}:{port}/{db}", "--workers", str(workers)]
        servers[name] = procs.start(name, cmd, cpus, port=at, env=clean_env())
    return servers


def sanity(servers: dict[str, Proc], receiver: Receiver) -> dict[str, Any]:
    """Each deployment answers and a conversation and a message fire their webhooks (3 + 1), before any timing;
    the hop's second replica serves (by forwarding) a tenant its first owns."""
    out: dict[str, Any] = {}
    for name in DEPLOYMENTS:
        proc = servers.get(name)
        if proc is None or name == "hop-other@redis":
            continue
        key = f"sanity-{name.replace('@', '-')}"
        point_webhook(proc.port, key, receiver.url(key))
        made = request(proc.port, "POST", f"{P8}/conversations", CONVERSATION_BODY, headers=api_key(key))
        conv = expect(*made, 202, key)
        via = servers["hop-other@redis"] if name == "hop-owner@redis" else proc
        path = f"{P8}/conversations/{conv['conversationId']}/messages"
        expect(*request(via.port, "POST", path, MESSAGE_BODY, headers=api_key(key)), 202, f"{name} POST message")
        got, _ = receiver.wait_for(key, HOOKS_PER_CONVERSATION + 1, time.time(), 30.0)
        if got != HOOKS_PER_CONVERSATION + 1:
            raise RuntimeError(f"{name}: a conversation and a message fired {got} webhooks, expected 4")
        out[f"{name}_webhooks"] = got
    proc = servers.get("8x8@redis")
    if proc is not None:  # the conversation 8x8-get@redis reads
        made = request(proc.port, "POST", f"{P8}/conversations", CONVERSATION_BODY, headers=api_key("bench"))
        out["8x8@redis_get_path"] = f"{P8}/conversations/{expect(*made, 202, 'conv')['conversationId']}"
        got = request(proc.port, "GET", out["8x8@redis_get_path"], headers=api_key("bench"))
        out["8x8@redis_get"] = expect(*got, 200, "GET")
    return out


def build(servers: dict[str, Proc], checks: dict[str, Any], wanted: set[str]) -> list[Row]:
    message_path = f"{P8}/conversations/{{id}}/messages"
    rows: list[Row] = []
    if TENANTS_MEMORY in wanted and "8x8-unsigned" in servers:
        memory = servers["8x8-unsigned"]
        row = Row(TENANTS_MEMORY, memory, "POST", message_path, "bare-post", "8x8-webhook", MESSAGE_BODY)
        row.tenants = TENANTS
        rows.append(row)
    if "redis" not in servers:
        return rows
    redis = servers["redis"]
    if GET in wanted:
        rows.append(Row(GET, servers["8x8@redis"], "GET", checks["8x8@redis_get_path"], "bare-get", extra=(redis,)))
        rows[-1].headers = api_key("bench")
    for name, server, extra, send, tenants in (
        (POST, "8x8-unsigned@redis", (), None, 1),
        (HOP, "hop-owner@redis", ("hop-other@redis",), "hop-other@redis", 1),
        (W1, "w1@redis", (), None, TENANTS),
        (W2, "w2@redis", (), None, TENANTS),
    ):
        if name in wanted:
            procs = (redis, *(servers[e] for e in extra))
            row = Row(name, servers[server], "POST", message_path, "bare-post", "8x8-webhook", MESSAGE_BODY)
            row.extra, row.tenants, row.send = procs, tenants, servers[send] if send else None
            rows.append(row)
    return rows


def table(summary: Sequence[dict[str, Any]]) -> list[str]:
    """The Redis rows against their memory rows: CPU µs per request (cxemu + Redis together) and the ratio, and the
    webhook throughput of two workers against one."""
    lines = {(s["row"], s["conns"]): s for s in summary}
    if not any(row in ROWS for row, _ in lines):
        return []
    out = [
        "",
        "Redis backend (issue 16; bench/redisrows.py): CPU µs/req = cxemu (all its processes) + redis-server, from"
        " /proc; ratio = that ÷ the memory row's CPU µs/req (target <= 1.5x); w2/w1 = webhooks sustained/s with two"
        " workers ÷ with one (target >= 1.7x where each has a core: not on this 2-CPU machine, see bench/README.md)",
        "",
        "| row | conns | req/s | CPU µs/req | of which Redis | memory row's CPU µs/req | ratio | sustained/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (row, conns), s in lines.items():
        if row not in ROWS:
            continue
        memory = lines.get((MEMORY_ROW.get(row, ""), conns))
        mem_cpu = memory["cpu_us_per_request"] if memory else None
        ratio = f"{s['cpu_us_per_request'] / mem_cpu:.2f}x" if mem_cpu else "n/a"
        redis = s.get("cpu_us_parts", {}).get("redis")
        sustained = s.get("sustained_per_s")
        out.append(
            f"| {row} | {conns} | {s['rps']:,.0f} | {s['cpu_us_per_request']:.0f} "
            f"| {'' if redis is None else format(redis, '.0f')} | {'' if mem_cpu is None else format(mem_cpu, '.0f')} "
            f"| {ratio} | {'' if sustained is None else format(sustained, ',.0f')} |"
        )
    for (row, conns), s in lines.items():
        other = lines.get((W1, conns))
        if row == W2 and other and other.get("sustained_per_s"):
            factor = s["sustained_per_s"] / other["sustained_per_s"]
            out.append(f"w2/w1 at c={conns}: {factor:.2f}x webhooks sustained/s")
    return out
