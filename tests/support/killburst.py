"""kill -9 during a burst of 8x8 messages with webhooks, then a restart on the same Redis (issue 16's done-when).

One round: a Redis-backed `cxemu serve` (a child process), one 8x8 tenant whose webhook posts to a real receiver
(`WebhookSink`, answers 200), `conversations` conversations; a thread per conversation posts its share of
`messages` user messages one after another (so each conversation's order is defined). Once `kill_after` of them
were answered, the server gets SIGKILL; each thread notes the message it had in flight (its fate is unknown), a
new server starts on the same Redis and the threads go on with their next messages. When every delivery of the
new server's log is settled, the round checks:

- every delivery of the log (the restored ones and the new ones) was delivered, and its event id reached the
  receiver at least once;
- no attempt is missing from the log: each event id reached the receiver at most as many times as its delivery
  has attempts, and attempts are numbered 0, 1, 2... (a cut attempt is there, as lost);
- every message answered 202 is in the conversation after the restart, and each conversation's MESSAGE webhooks,
  in the order they first reached the receiver, are its messages in order (per-conversation order kept);
- duplicates (receipts past the first of an event id) are counted, with how many attempts were logged as lost.

`bench/killtest.py --rounds 20` runs it in a loop; `tests/store/test_restart_kill.py` runs a short round.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis

from emulator.core.rediskeys import tenant_key
from emulator.scenarios.receiver import WebhookSink
from tests.support.procs import ServerProcess

P8 = "/chat-gateway/v1"
TENANT = "kill-demo"
KEY = {"x-api-key": TENANT}
LOST_MARK = "outcome unknown"


@dataclass
class RoundResult:
    messages: int
    acked: int
    unknown: int
    deliveries: int
    received: int
    duplicates: int
    lost_attempts: int
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        verdict = "ok" if not self.problems else "FAILED: " + "; ".join(self.problems[:5])
        return (
            f"messages {self.messages} (202: {self.acked}, cut by the kill: {self.unknown}), deliveries "
            f"{self.deliveries}, received {self.received}, duplicates {self.duplicates}, lost attempts "
            f"{self.lost_attempts}: {verdict}"
        )


def serve(folder: Path, url: str, name: str, workers: int = 1) -> ServerProcess:
    fleet = ("--workers", str(workers), "--lease-ttl", "1") if workers > 1 else ()
    return ServerProcess(
        "--port", "0", "--clock", "virtual", "--state", url, "--log-level", "warning", *fleet,
        log=folder / f"{name}.log",
    )  # fmt: skip


def kill_owner(url: str) -> int:
    """SIGKILL the fleet worker that owns the tenant (its lease in Redis names it, the registry its pid)."""
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        lease = str(client.get(tenant_key(TENANT, "owner")))
        worker = lease.rpartition(":")[0]
        pid = int(json.loads(str(client.hget("cxemu:workers", worker)))["pid"])
    finally:
        client.close()
    os.kill(pid, signal.SIGKILL)
    return pid


class _Burst:
    """The message senders: a thread per conversation, stopping at the kill and going on against the new server."""

    def __init__(self, cids: list[str], per_conversation: int, kill_after: int, fleet: bool = False) -> None:
        self.cids = cids
        self.fleet = fleet
        """A fleet: the server stays up while one worker dies; an error answer then has an unknown fate."""
        self.per = per_conversation
        self.kill_after = kill_after
        self.acked: dict[str, list[str]] = {cid: [] for cid in cids}
        self.unknown: dict[str, list[str]] = {cid: [] for cid in cids}
        self.next: dict[str, int] = dict.fromkeys(cids, 0)
        self._count = 0
        self._lock = threading.Lock()
        self.reached = threading.Event()
        self.failures: list[str] = []

    def run(self, base: str) -> None:
        threads = [threading.Thread(target=self._send, args=(base, cid)) for cid in self.cids]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _send(self, base: str, cid: str) -> None:
        with httpx.Client(base_url=base, headers=KEY, timeout=60) as http:
            while self.next[cid] < self.per:
                text = f"{cid}:{self.next[cid]}"
                try:
                    r = http.post(f"{P8}/conversations/{cid}/messages", json={"authorType": "user", "text": text})
                except httpx.HTTPError:  # the server was killed under this request: its fate is unknown
                    self.unknown[cid].append(text)
                    self.next[cid] += 1
                    return
                self.next[cid] += 1
                if self.fleet and r.status_code >= 500:  # forwarded to the worker killed under it: fate unknown
                    self.unknown[cid].append(text)
                    return
                if r.status_code != 202:
                    self.failures.append(f"{text}: {r.status_code} {r.text[:120]}")
                    continue
                self.acked[cid].append(text)
                with self._lock:
                    self._count += 1
                    if self._count == self.kill_after:
                        self.reached.set()


def run_round(
    redis_url: str, folder: Path, *, messages: int, conversations: int, kill_after: int, workers: int = 1
) -> RoundResult:
    """One round (module docstring); Redis must be empty. With `workers` above 1, `cxemu serve --workers N`: the
    worker owning the tenant is killed, the others take it over and its parent starts it again."""
    sink = WebhookSink()
    per = messages // conversations
    first = serve(folder, redis_url, "first", workers)
    second: ServerProcess | None = None
    try:
        with httpx.Client(base_url=first.url, headers=KEY, timeout=60) as http:
            body = {"name": "sink", "uri": sink.url_for("/hook"), "version": "Chat Gateway v1.0"}
            r = http.put(f"{P8}/webhooks/1", json=body)
            assert r.status_code == 200, r.text
            cids = []
            for _ in range(conversations):
                r = http.post(f"{P8}/conversations", json={"channelId": "1", "user": {"name": "Kim"}})
                assert r.status_code == 202, r.text
                cids.append(str(r.json()["conversationId"]))
        burst = _Burst(cids, per, kill_after, fleet=workers > 1)
        sender = threading.Thread(target=burst.run, args=(first.url,))
        sender.start()
        burst.reached.wait(600)
        if workers > 1:
            kill_owner(redis_url)  # SIGKILL one worker, mid-burst; the fleet stays up
            sender.join()
            burst.run(first.url)
            base = first.url
        else:
            first.kill()  # SIGKILL, mid-burst
            sender.join()
            second = serve(folder, redis_url, "second")
            burst.run(second.url)
            base = second.url
        with httpx.Client(base_url=base, headers=KEY, timeout=120) as http:
            return _check(http, sink, burst, messages=per * conversations)
    finally:
        first.kill()
        if second is not None:
            second.terminate()
        sink.close()


def _check(http: httpx.Client, sink: WebhookSink, burst: _Burst, *, messages: int) -> RoundResult:
    problems = list(burst.failures)
    logged = _settled_log(http)
    received: Counter[str] = Counter(q.headers.get("x-8x8-event-id", "") for q in sink.requests)
    lost = 0
    for d in logged:
        numbers = [a["n"] for a in d["attempts"] if a["chaos"] != "duplicate"]
        lost += sum(1 for a in d["attempts"] if a["error"] and LOST_MARK in a["error"])
        if d["status"] != "delivered":
            problems.append(f"{d['id']} {d['event']} is {d['status']}")
        if numbers != list(range(len(numbers))):
            problems.append(f"{d['id']}: attempts numbered {numbers}")
        if received[d["event_id"]] < 1:
            problems.append(f"{d['id']} {d['event']}: event {d['event_id']} never reached the receiver")
        if received[d["event_id"]] > len(numbers):
            problems.append(f"{d['id']}: {received[d['event_id']]} receipts, {len(numbers)} attempts logged")
    ids = [d["id"] for d in logged]
    if len(set(ids)) != len(ids):
        problems.append("delivery ids repeat")
    known = {d["event_id"] for d in logged}
    strays = [e for e in received if e not in known]
    if strays:
        problems.append(f"{len(strays)} event ids reached the receiver without a delivery in the log")
    # per conversation: the messages, and the MESSAGE webhooks in the order they first arrived
    first_seen: dict[str, list[str]] = defaultdict(list)
    seen: set[str] = set()
    for q in sink.requests:
        event_id = q.headers.get("x-8x8-event-id", "")
        payload: Any = q.json
        if event_id in seen or not isinstance(payload, dict) or payload.get("eventType") != "MESSAGE":
            continue
        seen.add(event_id)
        first_seen[str(payload["conversationId"])].append(str(payload["data"]["text"]))
    for cid in burst.cids:
        texts = _texts(http, cid)
        missing = [t for t in burst.acked[cid] if t not in texts]
        if missing:
            problems.append(f"{cid}: answered 202 and gone after the restart: {missing[:3]}")
        if first_seen[cid] != texts:
            problems.append(f"{cid}: webhooks {first_seen[cid][:4]}... in another order than {texts[:4]}...")
    total = sum(received.values())
    return RoundResult(
        messages=messages,
        acked=sum(len(v) for v in burst.acked.values()),
        unknown=sum(len(v) for v in burst.unknown.values()),
        deliveries=len(logged),
        received=total,
        duplicates=total - len(received),
        lost_attempts=lost,
        problems=problems,
    )


def _settled_log(http: httpx.Client) -> list[dict[str, Any]]:
    """The new server's delivery log once nothing in it is pending (long-polls, no sleeps; what is still pending
    after ten long polls is reported by the checks)."""
    for _ in range(10):
        logged = _deliveries(http, {"tenant": TENANT, "body": "false"})
        if not any(d["status"] == "pending" for d in logged):
            break
        _deliveries(
            http, {"tenant": TENANT, "body": "false", "settled": "true", "count": str(len(logged)), "wait": "30"}
        )
    return logged


UNAVAILABLE_ASKS = 5
"""How often `_deliveries` asks while the answer is a 503 `unavailable`."""


def _deliveries(http: httpx.Client, params: dict[str, str]) -> list[dict[str, Any]]:
    """`GET /_emulator/deliveries`: the list of a 200. A 503 in the control plane's error shape with the code
    `unavailable` is what a fleet answers for a tenant whose owner was just killed once the worker asked has
    waited about twice the lease's ttl for the lease to lapse (`Fleet.route`), or when its forward failed: asked
    again, a few times (each ask is that wait on the server's side, no sleep here). Any other answer fails the
    round with its status and text."""
    for _ in range(UNAVAILABLE_ASKS):
        r = http.get("/_emulator/deliveries", params=params)
        if r.status_code != 503 or not _coded(r, "unavailable"):
            break
    assert r.status_code == 200, f"GET /_emulator/deliveries {params}: {r.status_code} {r.text[:300]}"
    found = r.json().get("deliveries")
    assert isinstance(found, list), r.text[:300]
    return found


def _coded(r: httpx.Response, code: str) -> bool:
    """Whether the answer is the control plane's error shape (`{"error", "message"}`) with this code."""
    try:
        body = r.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("error") == code and isinstance(body.get("message"), str)


def _texts(http: httpx.Client, cid: str) -> list[str]:
    """The user messages of a conversation, oldest first (one page holds them: 1,000 at most)."""
    r = http.get(f"{P8}/conversations/{cid}/messages", params={"size": "1000", "sort": "createdAt:asc"})
    assert r.status_code == 200, r.text
    return [m["text"] for m in r.json()["_embedded"]["messages"] if m["author"]["type"] == "user"]
