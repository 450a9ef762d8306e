"""The measured runs: a row's definition (`Row`), one measurement (`Measurement`), the signed-drain result
(`Drain`), and `Bench`, which warms up, runs the load generator against a row and samples CPU and steal.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import queueprobe
from harness import (
    ITEM_BODY,
    SERVER_CPU,
    TENANT_HEADER,
    UNSATURATED_PCT,
    LoadGen,
    LoadSpec,
    Proc,
    Procs,
    Receiver,
    busy_seconds,
    cpu_seconds,
    cpu_times,
    expect,
    family,
    fill,
    log,
    own_cpu_seconds,
    parents,
    request,
    steal_pct,
    wait_quiet,
)
from vendors import (
    HOOKS_PER_CONVERSATION,
    MESSAGE_BODY,
    P8,
    QUEUE_PROBE,
    QUEUE_SAMPLES,
    REPORTS_PER_MESSAGE,
    api_key,
    cm_body,
    cm_provision,
    cm_sent,
    cm_status_webhook,
    cm_token,
    create_conversations,
    message_total,
    point_webhook,
    set_chaos,
    write_paths,
)
from wiremock import RUN_HEADER

# ------------------------------------------------------------------------------------------------ the rows


def settled(count: Callable[[], int], gap: float = 0.25, cap: float = 10.0) -> int:
    """A server count read once it stopped moving (two reads `gap` s apart agree, or `cap` s): the requests wrk had in
    flight when a warm-up stopped are still committed after it returns, and one committed after the count was read
    but before the run's webhook target was set sends its webhook to the warm-up's path: counted as sent, never
    received (the Redis rows, whose commits take ~40 ms at c=64, showed 1-9 such "lost" webhooks a run). The same
    holds at a run's end: what wrk had in flight is committed after it returns, and fires to the run's path, so a
    count read at once undercounts what was sent (those rows showed received > sent: 5,487 / 5,480)."""
    last, deadline = count(), time.monotonic() + cap
    while time.monotonic() < deadline:
        time.sleep(gap)
        now = count()
        if now == last:
            break
        last = now
    return last


@dataclass
class Row:
    name: str
    server: Proc
    method: str
    path: str
    reference: str | None
    """Name of the bare row whose req/s is the denominator of this row's ratio."""
    kind: str = "plain"
    """plain (no webhook), echo-webhook (echo vendor, fresh tenant per run), 8x8-webhook (256 conversations),
    cm-webhook (CM.com, fresh tenant per run, REPORTS_PER_MESSAGE status reports per request), wm-webhook
    (WireMock's webhook stub: one webhook per request to /hook/<the run's x-bench-run header>), bare-webhook (the
    floor: bench/bare_app.py's `/floor/...` routes, `hooks` webhooks per request to /hook/<x-bench-run> or, with
    two, /hook200/<x-bench-run>; the app counts the requests of each run)."""
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    extra: tuple[Proc, ...] = ()
    """Other processes whose CPU counts as the server's (the Redis rows: redis-server, the other replica); with
    them, the server's descendants count too (the workers of `--workers N`)."""
    tenants: int = 1
    """8x8-webhook: the conversations are spread over this many fresh tenants (a fleet's workers each own some)."""
    hooks: int = 1
    """bare-webhook: webhooks per request."""
    send: Proc | None = None
    """Where the load goes when not to `server` (the Redis forwarding row: the replica that does not own the
    tenant); the tenants are set up through `server`, which then owns them."""

    @property
    def webhook(self) -> bool:
        return self.kind != "plain"

    def cpu_parts(self) -> dict[str, float]:
        """CPU seconds so far of the server ("server"), and with `extra` processes, of each of them (by name), each
        with its live descendants (the workers of `--workers N`; one that exits takes its time along)."""
        if not self.extra:
            return {"server": cpu_seconds(self.server.pid)}
        tree = parents()
        return {p.name: sum(cpu_seconds(q) for q in family(p.pid, tree)) for p in (self.server, *self.extra)}


@dataclass
class Measurement:
    row: str
    conns: int
    rep: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int
    duration_s: float
    server_cpu_pct: float
    cpu_us_per_request: float
    """Server CPU time per completed request (for webhook rows: the request plus its delivery)."""
    other_cpu_pct: float
    """CPU (% of one CPU) used during the run by processes that are not ours: other work on the machine."""
    other_server_cpu_pct: float
    """The same, on the server's CPU only: this is what makes a measurement unfair (it is retried)."""
    steal_pct: dict[str, float]
    """% of each CPU's time the hypervisor gave to other guests: the server (or wrk) could not run then."""
    warmup_rps: float
    attempt: int
    quiet_wait_s: float
    load: dict[str, Any] = field(repr=False)
    hooks_sent: int | None = None
    hooks_received: int | None = None
    hooks_lost: int | None = None
    drain_s: float | None = None
    sustained_per_s: float | None = None
    server_failed: int | None = None
    server_pending: int | None = None
    queue: dict[str, Any] | None = None
    """`--queue-probe`, CM's row: the dispatcher's backlog during and after the run (`queueprobe.summary`)."""
    cpu_us_parts: dict[str, float] | None = None
    """Rows with `extra` processes (the Redis rows): CPU µs per request of each (the server's under its name)."""


def noise_pct(other_server_cpu_pct: float, steal: dict[str, float]) -> float:
    """How much of the server CPU was not ours during a run: other processes on it (visible in /proc/stat) plus
    hypervisor steal on it (other guests of the host). Above --noise-limit the run is measured again."""
    return round(other_server_cpu_pct + steal.get(f"cpu{SERVER_CPU}", 0.0), 1)


@dataclass
class Drain:
    """One 8x8-signed-drain measurement: N signed deliveries held back, then drained by the dispatcher."""

    rep: int
    attempt: int
    deliveries: int
    """N: message requests fired (all 202) = MESSAGE webhooks expected."""
    fire_s: float
    fire_rps: float
    held_s: float
    """Chaos `delay_seconds`: how long each new delivery was held back."""
    received: int
    lost: int
    wait_s: float
    """First receipt - end of the firing (negative: the drain overlapped the firing)."""
    window_s: float
    """Seconds the rate is measured over: first receipt (or end of the firing) to last receipt."""
    rate: float
    """Deliveries per second at the receiver over `window_s`."""
    overlap: bool
    server_cpu_pct: float
    cpu_us_per_delivery: float
    other_server_cpu_pct: float
    steal_pct: dict[str, float]
    raw_signing_per_s: float
    """Raw signing rate of the same repetition: the mean of the measurements just before and just after."""
    ratio: float
    """rate / raw_signing_per_s: the target's figure."""
    server_failed: int
    quiet_wait_s: float
    raw_signing_runs: list[float] = field(default_factory=list)
    raw_cpu_us: float = 0.0
    """CPU µs per raw signature (mean of the bracketing measurements)."""
    cpu_ratio: float = 0.0
    """raw_cpu_us / cpu_us_per_delivery: the same ratio in CPU time (a cross-check that steal does not move)."""

    def set_raw(self, runs: list[dict[str, Any]]) -> None:
        ok = [r for r in runs if r.get("available")]
        if not ok:
            return
        self.raw_signing_runs = [float(r["per_s"]) for r in ok]
        self.raw_signing_per_s = round(statistics.fmean(self.raw_signing_runs), 1)
        self.ratio = round(self.rate / self.raw_signing_per_s, 4) if self.raw_signing_per_s > 0 else 0.0
        self.raw_cpu_us = round(statistics.fmean(float(r["cpu_per_signature_us"]) for r in ok), 1)
        self.cpu_ratio = round(self.raw_cpu_us / self.cpu_us_per_delivery, 4) if self.cpu_us_per_delivery else 0.0


def probe_count(port: int, tenant: str) -> int:
    """Echo vendor: create one more item: its sequential id (`it-N`) is the server's count of 201s for the tenant."""
    status, body = request(port, "POST", "/echo/v1/items", ITEM_BODY, tenant)
    item = expect(status, body, 201, "probe POST")
    return int(str(item["id"]).removeprefix("it-"))


def floor_sent(port: int, run: str) -> int:
    """bench/bare_app.py's own count of the floor requests of `run` it answered (each fires the row's hooks)."""
    return int(expect(*request(port, "GET", f"/floor/sent/{run}"), 200, "floor count")["sent"])


def deliveries_count(port: int, tenant: str, status: str) -> int:
    code, body = request(port, "GET", f"/_emulator/deliveries?tenant={tenant}&status={status}&body=false")
    return len(expect(code, body, 200, "deliveries").get("deliveries", []))


class Bench:
    def __init__(
        self, args: argparse.Namespace, procs: Procs, load: LoadGen, receiver: Receiver, workdir: Path
    ) -> None:
        self.args = args
        self.procs = procs
        self.load = load
        self.receiver = receiver
        self.workdir = workdir
        self.deadline: float = time.monotonic() + float(args.budget)
        self.runs_left = 0
        """Measurements still to do (set by the caller); the time they need is kept free of retries and waits."""
        self.drains_left = 0
        self.around: Callable[[Row, int], AbstractContextManager[object]] = lambda _row, _conns: nullcontext()
        """Entered around each measured run's load only (not its set-up or warm-up): bench/rowprof.py's py-spy."""
        self.fire_rate_guess = 1500.0
        """Message requests/s while deliveries are held back; sets the hold of the next drain (updated per run)."""

    def per_run_s(self) -> float:
        """Wall seconds of one measurement, on average (webhook rows also create their conversations)."""
        return float(self.args.warmup + self.args.duration + 2.5)

    def per_drain_s(self) -> float:
        return float(2.5 * self.args.drain_seconds + 8.0)

    def slack(self) -> float:
        """Seconds of the budget not needed by the remaining measurements, drains, memory and signing."""
        memory = 0.0 if self.args.skip_memory else self.args.mem_conversations / 450
        if not self.args.skip_memory and "samespace-post-flow" in self.args.wanted:
            memory += self.args.mem_calls / 1000
        tail = memory + float(2 * self.args.reps * (self.args.signing_seconds + 1.5))
        needed = self.runs_left * self.per_run_s() + self.drains_left * self.per_drain_s()
        return self.deadline - time.monotonic() - needed - tail

    def register_hook(self, port: int, tenant: str) -> None:
        status, body = request(port, "PUT", "/echo/v1/webhook", json.dumps({"url": self.receiver.url(tenant)}), tenant)
        expect(status, body, 204, f"PUT webhook for {tenant}")

    def setup_conversations(self, port: int, key: str, count: int | None = None) -> list[str]:
        """A fresh 8x8 tenant `key` with `count` (default `--conversations`) conversations, their webhooks
        delivered to /hook/<key>-setup (so they are not counted in the run)."""
        point_webhook(port, key, self.receiver.url(f"{key}-setup"))
        ids = create_conversations(port, key, count or self.args.conversations, self.procs.pin)
        expected = HOOKS_PER_CONVERSATION * len(ids)
        busy = self.pending(port, [key])
        got, _ = self.receiver.wait_for(f"{key}-setup", expected, time.time(), self.args.drain_cap, busy=busy)
        if got != expected:
            log(f"    (setup of {key}: {got}/{expected} conversation webhooks arrived)")
        return ids

    @staticmethod
    def pending(port: int, tenants: list[str]) -> Callable[[], bool]:
        """Whether cxemu still has deliveries of these tenants pending: a webhook wait that stalls goes on while it
        has (a slow delivery, e.g. a Redis commit behind a busy machine, is late, not lost; a run counted as lost
        what arrived after a 3 s stall)."""
        return lambda: any(deliveries_count(port, t, "pending") for t in tenants)

    def measure(self, row: Row, conns: int, rep: int) -> Measurement:
        """One measurement; repeated (up to --retries times) when other processes took CPU during it."""
        self.runs_left -= 1
        m = self._measure_once(row, conns, rep, 0)
        for attempt in range(1, self.args.retries + 1):
            noise = noise_pct(m.other_server_cpu_pct, m.steal_pct)
            starved = self.load.kind == "wrk" and m.server_cpu_pct < UNSATURATED_PCT
            if noise <= self.args.noise_limit and not starved:
                break
            why = f"{noise:.0f}% of the server CPU was not ours (other processes + steal)"
            if noise <= self.args.noise_limit:
                why = f"the server was busy only {m.server_cpu_pct:.0f}% (steal on the load CPU?)"
            if self.slack() < self.per_run_s():
                log(f"    ({why}, but no time left in --budget to measure it again)")
                break
            log(f"    ({why}: measuring again)")
            m = self._measure_once(row, conns, rep, attempt)
        return m

    def _measure_once(self, row: Row, conns: int, rep: int, attempt: int) -> Measurement:
        a = self.args
        port = row.server.port
        tag = f"{row.name}-c{conns}-r{rep}-a{attempt}"
        spec = LoadSpec(port, row.method, row.path, dict(row.headers), row.body)
        ids: list[str] = []
        before = 0
        keys = [tag] if row.tenants == 1 else [f"{tag}-t{i}" for i in range(row.tenants)]
        tenants = [cm_token(tag)] if row.kind == "cm-webhook" else keys  # as the server logs them (CM: the token)
        owned: dict[str, list[str]] = {}
        befores: dict[str, int] = {}
        if row.kind == "8x8-webhook":
            # a fresh tenant: 256 conversations, their own webhook path; requests rotate over the conversations
            # (with `tenants`, the conversations are spread over that many tenants, each request with its key)
            per = max(1, a.conversations // len(keys))
            owned = {k: self.setup_conversations(port, k, per) for k in keys}
            ids = owned[keys[0]]
            to = row.send.port if row.send is not None else port
            spec = LoadSpec(to, row.method, f"{P8}/conversations/{ids[0]}/messages", api_key(tag), row.body)
            keyed = [(cid, k) for i in range(per) for k in keys for cid in owned[k][i : i + 1]]
            tenant_keys = [k for _, k in keyed] if len(keys) > 1 else []
            spec.paths_file = write_paths(self.workdir, tag, [c for c, _ in keyed], tenant_keys)
        elif row.kind == "cm-webhook":
            # a fresh tenant (product token = its name, a GUID) whose warm-up reports go to their own path
            cm_provision(port, cm_token(tag), self.receiver.url(f"{tag}-setup", ok200=True))
            spec = LoadSpec(port, row.method, row.path, {}, cm_body(cm_token(tag)))
        quiet_wait = wait_quiet(min(a.quiet_wait, max(0.0, self.slack())), a.noise_limit)
        if row.kind == "echo-webhook":
            warm = f"{tag}-warm"
            self.register_hook(port, warm)
            w = self.load.run(LoadSpec(port, row.method, row.path, {TENANT_HEADER: warm}, row.body), conns, a.warmup)
            self.receiver.wait_for(warm, probe_count(port, warm), time.time(), a.drain_cap)
            spec.headers = {TENANT_HEADER: tag}
            self.register_hook(port, tag)
        elif row.kind == "8x8-webhook":
            w = self.load.run(spec, conns, a.warmup)  # its webhooks go to the setup path too
            for k in keys:
                befores[k] = settled(lambda k=k: message_total(port, k, owned[k]))
                expected = HOOKS_PER_CONVERSATION * len(owned[k]) + befores[k]
                self.receiver.wait_for(f"{k}-setup", expected, time.time(), a.drain_cap, busy=self.pending(port, [k]))
            for k in keys:
                point_webhook(port, k, self.receiver.url(tag))
        elif row.kind == "wm-webhook":  # the warm-up's webhooks go to their own path and are drained first
            spec.headers = {RUN_HEADER: f"{tag}-setup"}
            w = self.load.run(spec, conns, a.warmup)
            self.receiver.wait_for(f"{tag}-setup", int(w["requests"]), time.time(), a.drain_cap)
            spec.headers = {RUN_HEADER: tag}
        elif row.kind == "bare-webhook":  # as wm-webhook, with the app's own count of what it answered
            spec.headers = {RUN_HEADER: f"{tag}-setup"}
            w = self.load.run(spec, conns, a.warmup)
            expected = row.hooks * floor_sent(port, f"{tag}-setup")
            self.receiver.wait_for(f"{tag}-setup", expected, time.time(), a.drain_cap)
            spec.headers = {RUN_HEADER: tag}
        elif row.kind == "cm-webhook":
            w = self.load.run(spec, conns, a.warmup)
            before = settled(lambda: cm_sent(port, cm_token(tag)))
            busy = self.pending(port, [cm_token(tag)])
            self.receiver.wait_for(f"{tag}-setup", REPORTS_PER_MESSAGE * before, time.time(), a.drain_cap, busy=busy)
            cm_status_webhook(port, cm_token(tag), self.receiver.url(tag, ok200=True))
        else:
            w = self.load.run(spec, conns, a.warmup)
        time.sleep(0.5)
        pids = (self.receiver.proc.pid,)
        ticks0, t0 = cpu_times(), time.monotonic()
        parts0 = row.cpu_parts()
        cpu0 = sum(parts0.values())
        ours0 = own_cpu_seconds(pids) + cpu0
        probed = QUEUE_PROBE["on"] and row.kind == "cm-webhook"
        if probed:
            request(port, "GET", QUEUE_SAMPLES)  # (what the warm-up left: read and dropped)
        t_start = time.time()
        with self.around(row, conns):
            r = self.load.run(spec, conns, a.duration)
        t_end, elapsed = time.time(), time.monotonic() - t0
        parts1 = row.cpu_parts()
        cpu1 = sum(parts1.values())
        ours1, ticks1 = own_cpu_seconds(pids) + cpu1, cpu_times()
        other = max(0.0, busy_seconds(ticks0, ticks1) - (ours1 - ours0))
        cpus = (f"cpu{SERVER_CPU}",) if self.procs.pin else None
        other_server = max(0.0, busy_seconds(ticks0, ticks1, cpus) - (cpu1 - cpu0)) if self.procs.pin else other
        m = Measurement(
            row=row.name, conns=conns, rep=rep, rps=round(r["rps"], 1), p50_ms=r["p50_us"] / 1000,
            p99_ms=r["p99_us"] / 1000, errors=r["errors"], requests=r["requests"],
            duration_s=r["duration_us"] / 1e6, server_cpu_pct=round(100 * (cpu1 - cpu0) / elapsed, 1),
            cpu_us_per_request=round((cpu1 - cpu0) / max(1, r["requests"]) * 1e6, 1),
            other_cpu_pct=round(100 * other / elapsed, 1),
            other_server_cpu_pct=round(100 * other_server / elapsed, 1), steal_pct=steal_pct(ticks0, ticks1),
            warmup_rps=round(w["rps"], 1), attempt=attempt, quiet_wait_s=round(quiet_wait, 1), load=r,
        )  # fmt: skip
        if row.extra:
            done = max(1, r["requests"])
            m.cpu_us_parts = {k: round((parts1[k] - parts0.get(k, 0.0)) / done * 1e6, 1) for k in parts1}
        if row.webhook:
            echo = row.kind == "echo-webhook"
            if echo:
                sent = probe_count(port, tag)
            elif row.kind == "wm-webhook":  # WireMock keeps no count: the requests wrk saw completed
                sent = int(r["requests"])
            elif row.kind == "bare-webhook":
                sent = row.hooks * floor_sent(port, tag)
            elif row.kind == "cm-webhook":  # read once it stops moving, as before the run (`settled`)
                sent = REPORTS_PER_MESSAGE * (settled(lambda: cm_sent(port, cm_token(tag))) - before)
            elif row.kind == "8x8-webhook":
                sent = settled(lambda: sum(message_total(port, k, owned[k]) - befores[k] for k in keys))
            else:
                sent = settled(lambda: message_total(port, tag, ids)) - before
            busy = None if row.kind in ("wm-webhook", "bare-webhook") else self.pending(port, tenants)
            got, drain = self.receiver.wait_for(tag, sent, t_end, a.drain_cap, busy=busy)
            m.hooks_sent, m.hooks_received, m.hooks_lost = sent, got, max(0, sent - got)
            m.drain_s = round(drain, 2)
            m.sustained_per_s = round(got / (m.duration_s + drain), 1)
            if probed:
                samples = expect(*request(port, "GET", QUEUE_SAMPLES), 200, "queue samples")["samples"]
                m.queue = queueprobe.summary(samples, t_start, t_end)
            if row.kind not in ("wm-webhook", "bare-webhook"):
                m.server_failed = sum(deliveries_count(port, k, "failed") for k in tenants)
                m.server_pending = sum(deliveries_count(port, k, "pending") for k in tenants)
        extra = ""
        if row.webhook:
            extra = (
                f" hooks {m.hooks_received}/{m.hooks_sent} lost={m.hooks_lost} drain={m.drain_s}s"
                f" sustained={m.sustained_per_s:.0f}/s"
            )
            if m.queue:
                extra += f"\n    backlog: {json.dumps(m.queue)}"
        log(
            f"  {row.name:<25} c={conns:<3} rep={rep}: {m.rps:8.0f} req/s  p50={m.p50_ms:6.2f}ms"
            f" p99={m.p99_ms:7.2f}ms errors={m.errors} server-cpu={m.server_cpu_pct:.0f}%"
            f" ({m.cpu_us_per_request:.0f} µs/req) other-cpu: server's {m.other_server_cpu_pct:.0f}%,"
            f" all {m.other_cpu_pct:.0f}%; steal {'/'.join(f'{v:.0f}' for v in m.steal_pct.values())}%"
            f" (warm-up {m.warmup_rps:.0f}/s){extra}"
        )
        return m

    # -- 8x8-signed-drain ---------------------------------------------------------------------------------

    def drain(self, server: Proc, rep: int, raw_rate: float) -> Drain:
        """Measured again (up to --retries times) when other processes took CPU during the drain."""
        self.drains_left -= 1
        d = self._drain_once(server, rep, raw_rate, 0)
        for attempt in range(1, self.args.retries + 1):
            noise = noise_pct(d.other_server_cpu_pct, d.steal_pct)
            if noise <= self.args.noise_limit or self.slack() < self.per_drain_s():
                break
            log(f"    ({noise:.0f}% of the server CPU was not ours (other processes + steal): measuring again)")
            d = self._drain_once(server, rep, raw_rate, attempt)
        return d

    def _drain_once(self, server: Proc, rep: int, raw_rate: float, attempt: int) -> Drain:
        """Fire N message requests while `PUT /_emulator/chaos {"delay": 1, "delay_seconds": D}` holds every new
        delivery back D seconds; the deliveries fall due from D seconds after the first request on, faster than
        they can be sent, so from the first receipt on the dispatcher has a backlog and drains it flat out.
        Rate = receipts / (last receipt - first receipt), at the receiver."""
        a = self.args
        port = server.port
        key = f"8x8-signed-drain-r{rep}-a{attempt}"
        ids = self.setup_conversations(port, key)
        paths = write_paths(self.workdir, key, ids)
        n = max(500, math.ceil(a.drain_seconds * raw_rate / 100) * 100)
        held = round(1.5 + n / self.fire_rate_guess, 1)
        set_chaos(port, {"delay": 1.0, "delay_seconds": held, "tenant": key})
        try:
            point_webhook(port, key, self.receiver.url(key))
            quiet_wait = wait_quiet(min(a.quiet_wait, max(0.0, self.slack())), a.noise_limit)
            spec = LoadSpec(port, "POST", f"{P8}/conversations/{ids[0]}/messages", api_key(key), MESSAGE_BODY, paths)
            t_fire = time.time()
            fired = fill(spec, n, self.procs.pin, conns=64)
            t_fired = time.time()
            got_fired = self.receiver.stats(key)[0]
            fire_s = t_fired - t_fire
            self.fire_rate_guess = max(200.0, 0.75 * n / fire_s)
            time.sleep(max(0.0, t_fire + held - 0.3 - time.time()))
            pids = (server.pid, self.receiver.proc.pid)
            ticks0, ours0, cpu0, w0 = cpu_times(), own_cpu_seconds(pids), cpu_seconds(server.pid), time.monotonic()
            got, _ = self.receiver.wait_for(key, n, time.time(), a.drain_cap)
            cpu1, ours1, ticks1, wall = (
                cpu_seconds(server.pid),
                own_cpu_seconds(pids),
                cpu_times(),
                time.monotonic() - w0,
            )
        finally:
            set_chaos(port, {})
        entry = self.receiver.entry(key)
        first, last = float(entry.get("first", 0.0)), float(entry.get("last", 0.0))
        overlap = got_fired > 0 or first < t_fired
        if overlap:  # the first deliveries went out while requests were still being fired: count from the end
            window, count = last - t_fired, got - got_fired
        else:
            window, count = last - first, got - 1
        rate = count / window if window > 0 else 0.0
        if self.procs.pin:  # what others used on the server CPU
            other = max(0.0, busy_seconds(ticks0, ticks1, (f"cpu{SERVER_CPU}",)) - (cpu1 - cpu0))
        else:
            other = max(0.0, busy_seconds(ticks0, ticks1) - (ours1 - ours0))
        d = Drain(
            rep=rep, attempt=attempt, deliveries=n, fire_s=round(fire_s, 2), fire_rps=round(fired["rps"], 1),
            held_s=held, received=got, lost=max(0, n - got), wait_s=round(first - t_fired, 2),
            window_s=round(window, 2), rate=round(rate, 1), overlap=overlap,
            server_cpu_pct=round(100 * (cpu1 - cpu0) / wall, 1) if wall > 0 else 0.0,
            cpu_us_per_delivery=round((cpu1 - cpu0) / max(1, got) * 1e6, 1),
            other_server_cpu_pct=round(100 * other / wall, 1) if wall > 0 else 0.0,
            steal_pct=steal_pct(ticks0, ticks1),
            raw_signing_per_s=raw_rate, ratio=round(rate / raw_rate, 4) if raw_rate > 0 else 0.0,
            server_failed=deliveries_count(port, key, "failed"), quiet_wait_s=round(quiet_wait, 1),
        )  # fmt: skip
        log(
            f"  8x8-signed-drain          rep={rep}: {n:,} held {held:g}s (fired at {d.fire_rps:,.0f}/s in"
            f" {d.fire_s:.1f}s), received {got:,} lost {d.lost}; {d.rate:,.0f} deliveries/s over {d.window_s:.2f}s"
            f"{' (OVERLAP with the firing)' if overlap else ''}; server-cpu={d.server_cpu_pct:.0f}%"
            f" ({d.cpu_us_per_delivery:.0f} µs/delivery), other {d.other_server_cpu_pct:.0f}%,"
            f" steal {d.steal_pct.get(f'cpu{SERVER_CPU}', 0.0):.0f}%"
        )
        return d
