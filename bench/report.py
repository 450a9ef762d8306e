"""Summaries and verdicts: medians per row and connection count, ratios against the bare app, the targets
(`TARGETS`), and the Markdown tables written to stdout and bench/results/latest.md.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness import LOAD_CPU, SERVER_CPU, UNSATURATED_PCT
from measure import Drain, Measurement, Row, noise_pct
from redisrows import table as redis_table

TARGETS = {
    "get_ratio": 0.75,
    "peer_webhook_factor": 2.0,
    "webhook_rps": 1000.0,
    "signed_ratio": 0.75,
    "kb_per_conversation": 5.0,
}


# ------------------------------------------------------------------------------------------------ summary


def _median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


@dataclass
class RowInfo:
    """What the summary needs of a row."""

    name: str
    reference: str | None
    webhook: bool


def summarize(
    rows: Sequence[Row | RowInfo], runs: list[Measurement], conns_list: list[int], noise_limit: float
) -> list[dict[str, Any]]:
    """One line per (row, conns): medians over the repetitions; ratio = median of the per-repetition ratios."""
    by_key = {(m.row, m.conns, m.rep): m for m in runs}
    out = []
    for conns in conns_list:
        for row in rows:
            ms = [m for m in runs if m.row == row.name and m.conns == conns]
            if not ms:
                continue
            ratios, cpu_ratios = [], []
            if row.reference is not None:
                for m in ms:
                    ref = by_key.get((row.reference, conns, m.rep))
                    if ref is not None and ref.rps > 0:
                        ratios.append(m.rps / ref.rps)
                    if ref is not None and m.cpu_us_per_request > 0:
                        cpu_ratios.append(ref.cpu_us_per_request / m.cpu_us_per_request)
            line: dict[str, Any] = {
                "row": row.name,
                "conns": conns,
                "reps": len(ms),
                "rps": round(_median([m.rps for m in ms]), 1),
                "rps_all": [round(m.rps) for m in ms],
                "p50_ms": round(_median([m.p50_ms for m in ms]), 2),
                "p99_ms": round(_median([m.p99_ms for m in ms]), 2),
                "errors": sum(m.errors for m in ms),
                "server_cpu_pct": round(_median([m.server_cpu_pct for m in ms]), 1),
                "cpu_us_per_request": round(_median([m.cpu_us_per_request for m in ms]), 1),
                "other_server_cpu_pct_max": max(m.other_server_cpu_pct for m in ms),
                "steal_server_pct": round(_median([m.steal_pct.get(f"cpu{SERVER_CPU}", 0.0) for m in ms]), 1),
                "noisy_runs": sum(1 for m in ms if noise_pct(m.other_server_cpu_pct, m.steal_pct) > noise_limit),
                "ratio": round(_median(ratios), 4) if ratios else None,
                "cpu_ratio": round(_median(cpu_ratios), 4) if cpu_ratios else None,
                "reference": row.reference,
            }
            parts = [m.cpu_us_parts for m in ms if m.cpu_us_parts]
            if parts:  # the Redis rows: each process's share
                line["cpu_us_parts"] = {k: round(_median([p.get(k, 0.0) for p in parts]), 1) for k in parts[0]}
            if row.webhook:
                line.update(
                    hooks_sent=sum(m.hooks_sent or 0 for m in ms),
                    hooks_received=sum(m.hooks_received or 0 for m in ms),
                    hooks_lost=sum(m.hooks_lost or 0 for m in ms),
                    drain_s=round(_median([m.drain_s or 0.0 for m in ms]), 2),
                    sustained_per_s=round(_median([m.sustained_per_s or 0.0 for m in ms]), 1),
                )
            out.append(line)
    return out


def combine_signing(reps: list[dict[str, Any]], skipped: bool) -> dict[str, Any]:
    """The per-repetition raw signing measurements as one record (medians) plus the list."""
    ok = [r for r in reps if r.get("available")]
    if not ok:
        reason = "skipped (--no-signed)" if skipped else (reps[0].get("error") if reps else "signing.py not found")
        return {"available": False, "error": reason, "per_rep": reps}
    return {
        "available": True,
        "per_s": round(_median([r["per_s"] for r in ok]), 1),
        "cpu_per_signature_us": round(_median([r["cpu_per_signature_us"] for r in ok]), 1),
        "per_rep": reps,
    }


def combine_drains(drains: list[Drain], noise_limit: float) -> dict[str, Any]:
    if not drains:
        return {}
    return {
        "reps": len(drains),
        "deliveries": sum(d.deliveries for d in drains),
        "received": sum(d.received for d in drains),
        "lost": sum(d.lost for d in drains),
        "rate": round(_median([d.rate for d in drains]), 1),
        "raw_signing_per_s": round(_median([d.raw_signing_per_s for d in drains]), 1),
        "ratio": round(_median([d.ratio for d in drains]), 4),
        "ratios": [d.ratio for d in drains],
        "cpu_ratio": round(_median([d.cpu_ratio for d in drains]), 4),
        "window_s": round(_median([d.window_s for d in drains]), 2),
        "server_cpu_pct": round(_median([d.server_cpu_pct for d in drains]), 1),
        "cpu_us_per_delivery": round(_median([d.cpu_us_per_delivery for d in drains]), 1),
        "overlaps": sum(1 for d in drains if d.overlap),
        "noisy_runs": sum(1 for d in drains if noise_pct(d.other_server_cpu_pct, d.steal_pct) > noise_limit),
    }


def verdicts(
    summary: list[dict[str, Any]], memory: dict[str, Any], drain: dict[str, Any], signing: dict[str, Any]
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def lines(row: str) -> list[dict[str, Any]]:
        return [s for s in summary if s["row"] == row]

    gets = lines("8x8-get")
    if gets:
        worst = min(s["ratio"] or 0.0 for s in gets)
        figures = ", ".join(
            f"c={s['conns']}: {s['ratio'] or 0.0:.4f} ({s['rps']:,.0f} req/s; CPU ratio {s['cpu_ratio'] or 0.0:.3f})"
            for s in gets
        )
        peer = {s["conns"]: s["rps"] for s in lines("wiremock-get")}
        if peer:
            figures += "; vs wiremock-get: " + ", ".join(
                f"c={s['conns']}: {s['rps'] / peer[s['conns']]:.2f}x" for s in gets if peer.get(s["conns"])
            )
        out.append(_verdict("plain stateful GET (8x8-get) >= 75% of bare-get", worst >= TARGETS["get_ratio"], figures))
    hooks = lines("8x8-post-message-unsigned")
    if hooks:
        ok = all(
            s["rps"] >= TARGETS["webhook_rps"]
            and s["sustained_per_s"] >= TARGETS["webhook_rps"]
            and s["hooks_lost"] == 0
            for s in hooks
        )
        figures = "; ".join(
            f"c={s['conns']}: {s['rps']:,.0f} req/s, sustained {s['sustained_per_s']:,.0f}/s, lost {s['hooks_lost']}"
            for s in hooks
        )
        out.append(_verdict("unsigned webhook request >= 1,000 req/s, every webhook delivered", ok, figures))
    peer_hooks = {s["conns"]: s for s in lines("wiremock-post-webhook")}
    for row, what in (
        ("8x8-post-message-unsigned", "8x8 message + unsigned webhook"),
        ("cmcom-post-message", "CM.com status reports"),
    ):
        mine = [s for s in lines(row) if s["conns"] in peer_hooks]
        if not mine:
            continue
        factor = TARGETS["peer_webhook_factor"]
        ok = all(
            s["hooks_lost"] == 0 and s["sustained_per_s"] >= factor * peer_hooks[s["conns"]]["sustained_per_s"]
            for s in mine
        )
        figures = "; ".join(
            f"c={s['conns']}: {s['sustained_per_s']:,.0f}/s vs {peer_hooks[s['conns']]['sustained_per_s']:,.0f}/s"
            f" = {s['sustained_per_s'] / max(1.0, peer_hooks[s['conns']]['sustained_per_s']):.2f}x,"
            f" lost {s['hooks_lost']}"
            for s in mine
        )
        out.append(_verdict(f"{what} sustained/s >= {factor:g}x wiremock-post-webhook, 0 lost", ok, figures))
    if drain:
        ok = drain["ratio"] >= TARGETS["signed_ratio"] and drain["lost"] == 0
        figures = (
            f"drain {drain['rate']:,.0f}/s vs raw signing {drain['raw_signing_per_s']:,.0f}/s: ratio"
            f" {drain['ratio']:.3f} (per rep {', '.join(f'{r:.3f}' for r in drain['ratios'])}; in CPU time"
            f" {drain['cpu_ratio']:.3f}); lost {drain['lost']} of {drain['deliveries']:,}"
        )
        out.append(_verdict("signed deliveries (8x8-signed-drain) >= 75% of raw signing rate", ok, figures))
    elif not signing.get("available"):
        out.append({"target": "signed deliveries >= 75% of raw signing rate", "met": None, "figures": "not measured"})
    if memory.get("conversations"):
        kb = memory["kb_per_conversation_marginal"]
        figures = (
            f"{kb:.2f} KB/conversation marginal ({memory['mb_per_10k_marginal']:.1f} MB per 10k);"
            f" {memory['kb_per_conversation_total']:.2f} KB incl. the bounded journal and delivery log"
        )
        out.append(_verdict("memory <= 5 KB per 8x8 conversation", kb <= TARGETS["kb_per_conversation"], figures))
    return out


def _verdict(target: str, met: bool, figures: str) -> dict[str, Any]:
    return {"target": target, "met": met, "figures": figures}


PEER_PAIRS = (
    ("8x8-get", "wiremock-get", "rps"),
    ("bare-post", "wiremock-post", "rps"),
    ("8x8-post-message-unsigned", "wiremock-post-webhook", "sustained_per_s"),
    ("8x8-post-message", "wiremock-post-webhook", "sustained_per_s"),
    ("cmcom-post-message", "wiremock-post-webhook", "sustained_per_s"),
    ("bare-post-webhook", "wiremock-post-webhook", "sustained_per_s"),
    ("bare-post-2webhooks", "wiremock-post-webhook", "sustained_per_s"),
)
"""cxemu row, WireMock row, and the figure compared (webhook rows: webhooks delivered per second, sustained)."""


def peer_table(result: dict[str, Any]) -> list[str]:
    """cxemu's rows against the warm WireMock's, same run (medians); or why WireMock was not measured."""
    peer = result.get("wiremock") or {}
    if peer.get("skipped"):
        return ["", f"WireMock rows: skipped ({peer['skipped']})"]
    by = {(s["row"], s["conns"]): s for s in result["summary"]}
    lines = []
    for conns in result["connections"]:
        for mine, theirs, key in PEER_PAIRS:
            a, b = by.get((mine, conns)), by.get((theirs, conns))
            if a is None or b is None or not b.get(key):
                continue
            what = "req/s" if key == "rps" else "webhooks/s sustained"
            lines.append(
                f"| {conns} | {mine} | {a[key]:,.0f} | {theirs} | {b[key]:,.0f} | {what} | {a[key] / b[key]:.2f}x |"
            )
    if not lines:
        return []
    warm = peer.get("warmup") or {}
    head = [
        "",
        f"WireMock {peer.get('version', '?')} ({peer.get('java', 'java')}), warmed {warm.get('seconds', 0):.0f} s"
        f" before the first repetition ({'settled' if warm.get('settled') else 'NOT settled'}: last chunks"
        f" {warm.get('last_rps')} req/s; cold {warm.get('cold_rps')}); same run, medians:",
        "",
        "| conns | cxemu row | cxemu | WireMock row | WireMock | figure | cxemu ÷ WireMock |",
        "|---:|---|---:|---|---:|---|---:|",
    ]
    return head + lines


FLOOR_PAIRS = (
    ("8x8-post-message-unsigned", "bare-post-webhook", 1),
    ("cmcom-post-message", "bare-post-2webhooks", 2),
)
"""cxemu's webhook row, its floor (bench/bare_app.py: the same requests and webhooks without cxemu), webhooks per
request."""


def floor_table(result: dict[str, Any]) -> list[str]:
    """cxemu's webhook rows against their floors (same run, medians): what cxemu adds over uvicorn + Starlette + its
    own webhook client, and, with the WireMock row, the CPU per request 2x WireMock's webhooks/s would allow."""
    by = {(s["row"], s["conns"]): s for s in result["summary"]}
    lines = []
    for conns in result["connections"]:
        peer = by.get(("wiremock-post-webhook", conns))
        for mine, floor, hooks in FLOOR_PAIRS:
            a, b = by.get((mine, conns)), by.get((floor, conns))
            if a is None or b is None or not b.get("sustained_per_s") or not b.get("cpu_us_per_request"):
                continue
            budget, vs_peer = "", ""
            if peer and peer.get("sustained_per_s"):
                budget = f"{1e6 * hooks / (2 * peer['sustained_per_s']):,.0f}"
                vs_peer = f"{b['sustained_per_s'] / peer['sustained_per_s']:.2f}x"
            lines.append(
                f"| {conns} | {mine} | {a['sustained_per_s']:,.0f} | {a['cpu_us_per_request']:,.0f} | {floor} "
                f"| {b['sustained_per_s']:,.0f} | {b['cpu_us_per_request']:,.0f} "
                f"| {a['sustained_per_s'] / b['sustained_per_s']:.2f} "
                f"| {a['cpu_us_per_request'] / b['cpu_us_per_request']:.2f} "
                f"| {a['cpu_us_per_request'] - b['cpu_us_per_request']:+,.0f} | {vs_peer} | {budget} |"
            )
    if not lines:
        return []
    return [
        "",
        "The floor (bench/bare_app.py: the same requests answered by a bare Starlette route that fires the same"
        " webhooks through cxemu's webhook client, nothing else of cxemu); same run, medians; budget = server CPU"
        " per request that 2x wiremock-post-webhook's webhooks/s would allow on one core:",
        "",
        "| conns | cxemu row | webhooks/s | CPU µs/req | floor row | webhooks/s | CPU µs/req | cxemu ÷ floor "
        "(webhooks/s) | cxemu ÷ floor (CPU) | cxemu - floor µs | floor ÷ WireMock | 2x WireMock budget µs/req |",
        "|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
        *lines,
    ]


def render(result: dict[str, Any]) -> str:
    out = [
        f"## cxemu benchmark, {result['started_at']}",
        "",
        f"load generator: {result['generator']}; server CPU {SERVER_CPU}, load+receiver CPU {LOAD_CPU}"
        + ("" if result["pinned"] else " (NOT pinned)")
        + f"; {result['duration_s']:g} s per run after a {result['warmup_s']:g} s warm-up, {result['reps']} rep(s);"
        f" webhook rows rotate over {result['conversations']} conversations of a fresh tenant per run",
        f"ratio = req/s / req/s of the bare row, median of the per-repetition ratios; noisy run = other processes used"
        f" plus hypervisor steal more than {result['noise_limit']:g} % of the server CPU during it (after"
        f" {result['retries']} retry); steal % = median steal on the server CPU; CPU ratio = bare CPU µs/req ÷ the"
        " row's (steal-proof cross-check of the ratio)",
        "",
        "| row | conns | req/s | p50 ms | p99 ms | ratio | CPU ratio | server CPU % | CPU µs/req | steal % "
        "| noisy runs | errors | webhooks recv/sent | lost | drain s | sustained/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in result["summary"]:
        if s["reference"] is None:
            ratio = "reference"
        elif s["ratio"] is None:
            ratio = "n/a"
        else:
            ratio = f"{s['ratio']:.3f}x {s['reference']}"
        if s["server_cpu_pct"] < UNSATURATED_PCT:
            ratio += " (*)"
        hooks = (
            (
                f"{s['hooks_received']:,}/{s['hooks_sent']:,}",
                f"{s['hooks_lost']:,}",
                f"{s['drain_s']:.2f}",
                f"{s['sustained_per_s']:,.0f}",
            )
            if "hooks_sent" in s
            else ("", "", "", "")
        )
        out.append(
            f"| {s['row']} | {s['conns']} | {s['rps']:,.0f} | {s['p50_ms']:.2f} | {s['p99_ms']:.2f} | {ratio} "
            f"| {'' if s['cpu_ratio'] is None else format(s['cpu_ratio'], '.3f')} "
            f"| {s['server_cpu_pct']:.0f} | {s['cpu_us_per_request']:.0f} | {s['steal_server_pct']:.0f} "
            f"| {s['noisy_runs']}/{s['reps']} "
            f"| {s['errors']} | {' | '.join(hooks)} |"
        )
    if any(s["server_cpu_pct"] < UNSATURATED_PCT for s in result["summary"]):
        out.append(
            f"(*) server below {UNSATURATED_PCT:g} % CPU: it was not the bottleneck (the load generator or other "
            "processes were), so that row's req/s and ratio understate the server"
        )
    out += peer_table(result)
    out += floor_table(result)
    out += redis_table(result["summary"])
    drains = result["drains"]
    if drains:
        out += [
            "",
            "8x8-signed-drain: N signed MESSAGE deliveries held back by chaos (`delay_seconds` = held), then drained;"
            " rate = receipts / (last - first receipt) at the receiver; raw = bench/signing_rate.py on the same core,"
            " mean of the runs just before and just after the drain; CPU ratio = raw CPU µs/signature ÷ drain CPU"
            " µs/delivery",
            "",
            "| rep | N | fired req/s | held s | recv/sent | lost | drain window s | deliveries/s | raw signing/s "
            "| ratio | server CPU % | CPU µs/delivery | raw CPU µs/signature | CPU ratio | other + steal % |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for d in drains:
            out.append(
                f"| {d['rep']} | {d['deliveries']:,} | {d['fire_rps']:,.0f} | {d['held_s']:g} "
                f"| {d['received']:,}/{d['deliveries']:,} | {d['lost']} | {d['window_s']:.2f}"
                f"{' (overlap)' if d['overlap'] else ''} | {d['rate']:,.0f} | {d['raw_signing_per_s']:,.0f} "
                f"| {d['ratio']:.3f} | {d['server_cpu_pct']:.0f} | {d['cpu_us_per_delivery']:.0f} "
                f"| {d['raw_cpu_us']:.0f} | {d['cpu_ratio']:.3f} "
                f"| {noise_pct(d['other_server_cpu_pct'], d['steal_pct']):.0f} |"
            )
    mem = result["memory"]
    if mem.get("conversations"):
        out += [
            "",
            f"memory (fresh 8x8 cxemu, agents off, signing off, webhooks delivered to the receiver;"
            f" {mem['conversations']:,} conversations created at {mem['fill_rate_per_s']:,.0f}/s,"
            f" webhooks {mem['webhooks_received']:,}/{mem['webhooks_expected']:,}): "
            f"RSS {mem['rss_kb_before'] / 1024:.1f} -> {mem['rss_kb_after'] / 1024:.1f} MiB; "
            f"{mem['kb_per_conversation_total']:.2f} KB/conversation overall ({mem['mb_per_10k_total']:.1f} MB per"
            f" 10k), {mem['kb_per_conversation_marginal']:.2f} KB/conversation marginal after"
            f" {mem['marginal_from']:,} ({mem['mb_per_10k_marginal']:.1f} MB per 10k)",
        ]
    calls = result.get("call_memory") or {}
    if calls.get("calls"):
        out.append(
            f"memory per Samespace call (fresh cxemu, `samespace-post-flow`'s flow and config, every call ended;"
            f" {calls['calls']:,} calls placed at {calls['fill_rate_per_s']:,.0f}/s): RSS"
            f" {calls['rss_kb_before'] / 1024:.1f} -> {calls['rss_kb_after'] / 1024:.1f} MiB;"
            f" {calls['kb_per_call_total']:.2f} KB/call overall ({calls['mb_per_10k_total']:.1f} MB per 10k),"
            f" {calls['kb_per_call_marginal']:.2f} KB/call marginal after {calls['marginal_from']:,}"
            f" ({calls['mb_per_10k_marginal']:.1f} MB per 10k)"
        )
    peaks = ", ".join(f"{k} {v / 1024:.1f} MiB" for k, v in result["peak_rss_kb"].items())
    out.append(f"peak RSS (VmHWM): {peaks}")
    sig = result["signing"]
    if sig.get("available"):
        out.append(
            f"raw RS256 signing (8x8 webhook_headers, 1 thread, CPU {SERVER_CPU}, before and after each drain): "
            f"{sig['per_s']:,.0f}/s median ({sig['cpu_per_signature_us']:.0f} µs CPU each); each run (repetition): "
            + ", ".join(f"{r.get('per_s', 0):,.0f}/s ({r.get('rep', '?')})" for r in sig["per_rep"])
        )
    else:
        out.append(f"raw RS256 signing: not measured ({sig.get('error')})")
    out += ["", "| target | met | figures |", "|---|---|---|"]
    for v in result["verdicts"]:
        met = "n/a" if v["met"] is None else ("YES" if v["met"] else "NO")
        out.append(f"| {v['target']} | {met} | {v['figures']} |")
    return "\n".join(out)
