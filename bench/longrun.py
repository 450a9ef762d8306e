"""A long run at a steady rate over all four vendors: does a long-running sandbox stay flat in memory and in server
CPU per request? (issue 19 part 4; a benchmark mode, not a test.)

    .venv/bin/python bench/longrun.py --minutes 30 [--rate 230] [--tenants 8] [--config FILE] [--profile DIR]

One cxemu (every built-in vendor, default settings apart from the Samespace callee below, webhooks to the built-in
sink) pinned to CPU 0; this client (asyncio, a small keep-alive HTTP/1.1 pool of its own: httpx would cost more CPU
than the server) on CPU 1 starts `--rate` ÷ 9 *cycles* a second, open loop (a cycle that is late does not hold the
next one back). One cycle, on the next tenant of each vendor in turn:

* 8x8: create a conversation, post a message, GET it, the user leaves (`PATCH …/participants/user`): it ends;
* Sangoma: start a conversation for one of the tenant's 50 contacts (made at the start), post a message, resolve it;
* CM.com: one message to a number never used before (a new chat; its status reports follow on the clock);
* Samespace: a call flow (a call, then `play`); the callee answers after one 0.5 s ring: the call ends ~1 s later.

Every minute it prints and records: requests answered that minute, server CPU ms per request (utime + stime from
/proc, every thread), RSS (`VmRSS`), client-side p50/p99 latency, errors. At the end `POST /_emulator/reset`, then
RSS again. `--profile DIR` runs the server under cProfile (written to DIR/server.prof when it stops), to compare a
short run's profile with a long one's. Output: a table on stdout and `bench/results/longrun-<time>.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import HOST, LOAD_CPU, RESULTS, SERVER_CPU, Procs, clean_env, cpu_seconds, free_port, status_kb, wait_ready
from vendors import P8, SAMESPACE_SECTION, cm_token, cxemu_cmd, vendor_config

REQUESTS_PER_CYCLE = 9
MAX_IN_FLIGHT = 64
"""Cycles under way at once at most: past it a cycle is skipped (and counted), so a server starved of CPU by the
rest of the machine is not buried under a backlog that would measure the backlog, not the server."""
CONTACTS = 50


class Reply:
    """A response: status and body."""

    def __init__(self, status: int, body: bytes) -> None:
        self.status_code, self.content = status, body

    def json(self) -> Any:
        return json.loads(self.content)


class Pool:
    """Keep-alive HTTP/1.1 connections to one server, at most `size` at once (responses: content-length or none)."""

    def __init__(self, port: int, size: int = 64) -> None:
        self.port = port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.slots = asyncio.Semaphore(size)

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        form: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        body = b"" if json_body is None else json.dumps(json_body).encode()
        kind = "application/json"
        if form is not None:
            body, kind = form.encode(), "application/x-www-form-urlencoded"
        lines = [f"{method} {path} HTTP/1.1", f"host: {HOST}", f"content-length: {len(body)}", f"content-type: {kind}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        async with self.slots:
            while self.idle:  # a kept connection the server closed while it was idle (`idle_timeout`): the next
                try:
                    return await self._send(self.idle.pop(), request)
                except (asyncio.IncompleteReadError, ConnectionError):
                    continue
            return await self._send(await asyncio.open_connection(HOST, self.port), request)

    async def _send(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], request: bytes) -> Reply:
        reader, writer = conn
        try:
            writer.write(request)
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            status = int(head[0].split()[1])
            length = next((int(h.split(":", 1)[1]) for h in head if h.lower().startswith("content-length:")), 0)
            data = await reader.readexactly(length) if length else b""
        except BaseException:
            writer.close()
            raise
        self.idle.append(conn)
        return Reply(status, data)

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()


@dataclass
class Minute:
    requests: int = 0
    errors: int = 0
    skipped: int = 0
    latencies: list[float] = field(default_factory=list)


class Load:
    """The cycles, their tenants and what each minute saw."""

    def __init__(self, client: Pool, tenants: int) -> None:
        self.http = client
        self.tenants = tenants
        self.minute = Minute()
        self.tokens: dict[int, str] = {}
        self.contacts: dict[int, list[int]] = {}
        self.n = 0
        self.failures: dict[str, int] = {}

    async def call(self, method: str, path: str, **kw: Any) -> Reply | None:
        started = time.monotonic()
        try:
            resp = await self.http.request(method, path, **kw)
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            self._fail(f"{method} {path.split('?')[0][:40]}: {type(exc).__name__}")
            return None
        self.minute.latencies.append(time.monotonic() - started)
        self.minute.requests += 1
        if resp.status_code >= 400:
            self._fail(f"{method} {path[:40]}: {resp.status_code}")
            return None
        return resp

    def _fail(self, what: str) -> None:
        self.minute.errors += 1
        self.failures[what] = self.failures.get(what, 0) + 1

    async def setup(self) -> None:
        for t in range(self.tenants):
            basic = base64.b64encode(f"lr{t}:secret".encode()).decode()
            resp = await self.call(
                "POST", "/oauth/token", form="grant_type=client_credentials",
                headers={"authorization": f"Basic {basic}"},
            )  # fmt: skip
            assert resp is not None, self.failures
            self.tokens[t] = resp.json()["access_token"]
            self.contacts[t] = []
            for i in range(CONTACTS):
                body = {"tenant_domain": self.domain(t), "name": f"Customer {i}", "inbox_id": 2}
                made = await self.call(
                    "POST", "/cx/api/v1/digital-interactions/contacts/", json_body=body, headers=self.bearer(t)
                )
                assert made is not None, self.failures
                self.contacts[t].append(int(made.json()["payload"]["contact"]["id"]))

    @staticmethod
    def domain(t: int) -> str:
        return f"lr{t}.cx.sangoma.com"

    def bearer(self, t: int) -> dict[str, str]:
        return {"authorization": f"Bearer {self.tokens[t]}"}

    async def cycle(self) -> None:
        n = self.n
        self.n += 1
        t = n % self.tenants
        await asyncio.gather(self.eightbyeight(t), self.sangoma(t, n), self.cmcom(t, n), self.samespace(t))

    async def eightbyeight(self, t: int) -> None:
        key = {"x-api-key": f"lr{t}"}
        made = await self.call(
            "POST", f"{P8}/conversations", json_body={"channelId": "1", "user": {"name": "U"}}, headers=key
        )
        if made is None:
            return
        conv = f"{P8}/conversations/{made.json()['conversationId']}"
        await self.call("POST", f"{conv}/messages", json_body={"authorType": "user", "text": "hi"}, headers=key)
        await self.call("GET", conv, headers=key)
        await self.call("PATCH", f"{conv}/participants/user", json_body={"removed": True}, headers=key)

    async def sangoma(self, t: int, n: int) -> None:
        di, auth, dom = "/cx/api/v1/digital-interactions", self.bearer(t), self.domain(t)
        contact = self.contacts[t][n // self.tenants % CONTACTS]
        body = {"tenant_domain": dom, "contact_id": contact, "inbox_id": 2}
        made = await self.call("POST", f"{di}/conversations/", json_body=body, headers=auth)
        if made is None:
            return
        conv = made.json()["id"]
        msg = {"tenant_domain": dom, "conversation_id": conv, "content": "hello", "message_type": "incoming"}
        await self.call("POST", f"{di}/messages/", json_body=msg, headers=auth)
        await self.call(
            "POST",
            f"{di}/conversations/finish/",
            json_body={"tenant_domain": dom, "conversation_id": conv},
            headers=auth,
        )

    async def cmcom(self, t: int, n: int) -> None:
        msg = {
            "from": "Acme",
            "to": [{"number": f"0031{600000000 + n:09d}"}],
            "body": {"type": "auto", "content": "Hi"},
        }
        body = {"messages": {"authentication": {"producttoken": cm_token(f"lr{t}")}, "msg": [msg]}}
        await self.call("POST", "/v1.0/message", json_body=body)

    async def samespace(self, t: int) -> None:
        flow = [
            {"id": "0", "type": "call", "number": "917507161643", "caller_id": "123456", "next_step": "1"},
            {"id": "1", "type": "play", "text": "hello"},
        ]
        await self.call(
            "POST", "/api/public/v1/call/flow", json_body={"cloud_id": f"lr{t}", "auth_token": "tok", "flow": flow}
        )


def pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000


async def drive(port: int, pid: int, args: argparse.Namespace) -> dict[str, Any]:
    client = Pool(port)
    try:
        load = Load(client, args.tenants)
        await load.setup()
        interval = REQUESTS_PER_CYCLE / args.rate
        minutes: list[dict[str, Any]] = []
        tasks: set[asyncio.Task[None]] = set()
        start = time.monotonic()
        cpu0, next_mark, next_cycle = cpu_seconds(pid), start + 60, start
        head = f"{'min':>4} {'req':>7} {'req/s':>6} {'CPU ms/req':>10} {'RSS MiB':>8} {'p50 ms':>7} {'p99 ms':>7}"
        print(f"{head} err skipped")
        while len(minutes) < args.minutes:
            now = time.monotonic()
            if now >= next_mark:
                cpu = cpu_seconds(pid)
                m, load.minute = load.minute, Minute()
                row = {
                    "minute": len(minutes) + 1,
                    "requests": m.requests,
                    "cpu_ms_per_req": round((cpu - cpu0) * 1000 / max(1, m.requests), 3),
                    "rss_mib": round(status_kb(pid, "VmRSS") / 1024, 1),
                    "p50_ms": round(pct(m.latencies, 0.5), 2),
                    "p99_ms": round(pct(m.latencies, 0.99), 2),
                    "errors": m.errors,
                    "skipped_cycles": m.skipped,
                }
                minutes.append(row)
                shown = f"{row['rss_mib']:>8.1f} {row['p50_ms']:>7.2f} {row['p99_ms']:>7.2f} {m.errors} {m.skipped}"
                print(
                    f"{row['minute']:>4} {m.requests:>7} {m.requests / 60:>6.0f} {row['cpu_ms_per_req']:>10.3f} "
                    f"{shown}",
                    flush=True,
                )
                cpu0, next_mark = cpu, next_mark + 60
            if now >= next_cycle:
                if len(tasks) < MAX_IN_FLIGHT:
                    task = asyncio.create_task(load.cycle())
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                else:
                    load.minute.skipped += 1
                next_cycle += interval
            await asyncio.sleep(max(0.0, min(next_cycle, next_mark) - time.monotonic()))
        await asyncio.gather(*tasks)
        await asyncio.sleep(5)  # the last calls and status reports end
        before = status_kb(pid, "VmRSS") / 1024
        reset = await client.request("POST", "/_emulator/reset")
        await asyncio.sleep(2)
        after = status_kb(pid, "VmRSS") / 1024
        state = await client.request("GET", "/_emulator/tenants")
        return {
            "minutes": minutes,
            "reset": {
                "status": reset.status_code,
                "rss_before_mib": round(before, 1),
                "rss_after_mib": round(after, 1),
            },
            "tenants_after_reset": len(state.json().get("tenants", [])),
            "failures": load.failures,
        }
    finally:
        client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--rate", type=float, default=230.0, help="requests a second (open loop)")
    parser.add_argument("--tenants", type=int, default=8, help="tenants per vendor")
    parser.add_argument("--config", type=Path, help="extra YAML config of the server (replaces the default one)")
    parser.add_argument("--profile", type=Path, help="run the server under cProfile, written to DIR/server.prof")
    parser.add_argument("--no-pin", action="store_true")
    args = parser.parse_args()
    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"cxemu-longrun-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    config = args.config or vendor_config(work, "longrun", SAMESPACE_SECTION)
    port = free_port()
    cmd = cxemu_cmd(port, config=config)
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
        cmd[1:1] = ["-m", "cProfile", "-o", str(args.profile / "server.prof")]
    procs = Procs(pin=not args.no_pin)
    try:
        server = procs.start("longrun", cmd, SERVER_CPU, port=port, env=clean_env())
        wait_ready(server, "/_emulator/health")
        if not args.no_pin:
            os.sched_setaffinity(0, {int(LOAD_CPU)})
        result = asyncio.run(drive(port, server.pid, args))
    finally:
        procs.stop_all()
    result["settings"] = {"minutes": args.minutes, "rate": args.rate, "tenants": args.tenants}
    print(json.dumps({k: v for k, v in result.items() if k != "minutes"}, indent=1))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"longrun-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=1))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
