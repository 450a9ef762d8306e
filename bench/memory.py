"""Memory rows (RSS growth of a fresh cxemu while 8x8 conversations, or Samespace calls, pile up) and the
single-thread signing rate (bench/signing_rate.py on the servers' core).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness import (
    BENCH,
    REPO,
    SERVER_CPU,
    SIGNING_MODULE,
    LoadSpec,
    Procs,
    Receiver,
    busy_seconds,
    clean_env,
    cpu_times,
    expect,
    fill,
    free_port,
    log,
    request,
    status_kb,
    steal_pct,
    wait_ready,
)
from vendors import (
    CONVERSATION_BODY,
    FLOW_BODY,
    HOOKS_PER_CONVERSATION,
    P8,
    SAMESPACE_SECTION,
    SS_CLOUD,
    SS_FLOW_PATH,
    api_key,
    cxemu_cmd,
    eightbyeight_config,
    samespace_call,
    vendor_config,
)

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
