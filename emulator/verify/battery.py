"""The battery: score a webhook receiver the way a vendor treats it (`run`), on the server, for the endpoint, the CLI,
the pytest helper and the dashboard alike.

For each check the battery makes a real subject in the tenant (`profiles`), sends the check's deliveries to the
receiver over real HTTP with the vendor's own bodies and headers (signed by the vendor's own hook; forged for the
signature checks), and decides the check with the strongest oracle the receiver allows:

1. `journal`: the receiver's own calls back into this server's vendor API whose subject is the check's subject,
   counted in the feed after the delivery was sent (a call that changed nothing has no subject and is not counted);
2. `probe`: `GET <probe>?event=<event id>` answering `{"count": n}`, the receiver's own count;
3. `status`: only the status codes, so the checks about side effects can only be advisory.

The oracle is chosen once per run by a calibration delivery (a valid one, on its own subject): the journal when
the receiver called back (within `settle` + the vendor's timeout of its answer, or within `settle` of the probe's
count of the event), else the probe when given and it counted the event, else the status codes. `settle` is
also how long the battery watches, once the expected side effects are in, for one too many (a side effect that
comes later than that is not seen).

The lost acknowledgement: the request is written, the battery waits until the answer starts to arrive (or the
vendor's timeout passes) and drops the connection without reading it, as a vendor whose timeout fired just then;
the retry that follows is the vendor's next attempt (retry header +1), sent after the ladder's first delay on the
tenant's timeline when the server runs the virtual clock (the timeline is moved), at once otherwise.

Every request is recorded in the feed as an `attempt` entry (and each check's event as a `delivery` entry) of the
tenant, with `data.verify` naming the check, so the dashboard's timeline shows them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import ssl
import struct
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

import httpx

from emulator.core.clock import wall_monotonic
from emulator.core.feed import Match
from emulator.core.runtime import Emulator
from emulator.verify.profiles import PROFILES, Event, Forgery, Profile, Sample
from emulator.verify.scorecard import CHECKS, CheckResult, Evidence, Scorecard, SentRequest, Status, summarize

BURST = 50
"""Deliveries sent at once by `burst-within-timeout`."""
LARGE_TEXT = 1024 * 1024
"""Characters of text in `edge-large-payload`'s message."""
UNICODE_TEXT = (
    "مرحبا بالعالم שלום \u202eevil\u202c \u200fRTL mark, emoji 👋🏽👩‍👩‍👧, a surrogate pair 𝄞😀, "
    "control chars \x01\x07\x1b\x7f, combining e\u0301, BOM \ufeff, zero width \u200b"
)
SIGNATURE_ONLY = {"jws-alg-none-rejected", "jws-hs256-confusion-rejected", "jws-attached-payload-rejected"}
"""The 8x8 JWS tricks."""
TIMESTAMP_ONLY = {"stale-timestamp-rejected"}
"""Checks of a scheme that signs a timestamp (Chatwoot's)."""
SIGNATURE_CHECKS = {"tampered-body-rejected", "wrong-key-rejected", "missing-signature-rejected",
                    "malformed-signature-rejected"} | SIGNATURE_ONLY | TIMESTAMP_ONLY  # fmt: skip
"""The checks that send forged signatures."""
RECEIVER_LIMIT = 64
"""Connections the battery opens to the receiver at once."""


POLL = 0.05
"""Seconds between two reads of a probe (the receiver's: it can only be polled)."""


@dataclass(frozen=True)
class Mark:
    """Where the oracles stood before a check's deliveries: the feed's last id, and the probe's total when it is
    counted by total."""

    feed: int
    total: int | None


class ProbeError(Exception):
    """The probe URL did not answer `{"count": n}`."""


@dataclass
class Answer:
    status: int | None
    latency_ms: float | None
    error: str | None
    request: SentRequest

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class Run:
    """One run of the battery against one receiver."""

    emu: Emulator
    profile: Profile
    tenant: str
    url: str
    probe: str | None
    settle: float
    client: httpx.AsyncClient
    timeout: float
    answers: list[Answer] = field(default_factory=list)
    oracle: Evidence = "status"
    check: str = ""
    verify: bool = True
    """Whether TLS certificates are verified (`webhook_tls_verify`)."""

    # -- sending ---------------------------------------------------------------------------------------------

    def _now(self) -> float:
        return self.emu.scheduler.now(self.tenant)

    def _request(self, headers: dict[str, str], body: bytes, note: str) -> SentRequest:
        return SentRequest(
            url=self.url,
            headers=dict(headers),
            body_base64=base64.b64encode(body).decode(),
            body_text=body.decode(errors="replace"),
            status=None,
            note=note,
        )

    def _record(self, event: Event, attempt: int, answer: Answer) -> None:
        req = answer.request
        data = {
            "verify": self.check,
            "event_id": event.event_id,
            "n": attempt,
            "url": self.url,
            "status": answer.status,
            "latency_ms": answer.latency_ms,
            "error": answer.error,
            "headers": dict(req.headers),
            "note": req.note,
            "outcome": "delivered" if answer.ok else "failed",
        }
        feed = self.emu.feed
        feed.record("attempt", event.event_type, self.profile.slug, self.tenant, event.subject, "integration",
                    self._now(), data)  # fmt: skip

    def announce(self, event: Event) -> None:
        """A `delivery` entry for an event the check is about to send."""
        data = {"verify": self.check, "event_id": event.event_id, "url": self.url, "event": event.event_type}
        self.emu.feed.record("delivery", event.event_type, self.profile.slug, self.tenant, event.subject,
                             "integration", self._now(), data)  # fmt: skip

    async def headers(self, event: Event, body: bytes, attempt: int, at: float | None) -> dict[str, str]:
        """The vendor's headers for one attempt, signed in a worker thread when the vendor signs (as the dispatcher
        does: an RS256 signature costs a millisecond or two, and the receiver's calls back need the loop)."""
        when = self._now() if at is None else at
        if self.emu.dispatcher.policy(self.profile.slug).sign_in_thread:
            return await asyncio.to_thread(self.profile.headers, self.tenant, event, body, attempt, when)
        return self.profile.headers(self.tenant, event, body, attempt, when)

    async def send(
        self, event: Event, *, attempt: int = 0, note: str = "", headers: dict[str, str] | None = None,
        body: bytes | None = None, at: float | None = None,
    ) -> Answer:  # fmt: skip
        """POST one attempt of `event` (its own body and headers unless given) and wait for the answer."""
        raw = self.profile.serialize(event.payload) if body is None else body
        sent = headers if headers is not None else await self.headers(event, raw, attempt, at)
        req = self._request(sent, raw, note or f"attempt {attempt}")
        started = wall_monotonic()
        status = error = None
        try:
            status = await self._post(raw, sent)
        except httpx.TimeoutException:
            error = f"no answer within the vendor's timeout ({self.timeout:g} s)"
        except httpx.HTTPError as exc:
            error = f"connection failed: {type(exc).__name__}: {exc}"
        latency = round((wall_monotonic() - started) * 1000, 3)
        req.status, req.latency_ms, req.error = status, latency, error
        answer = Answer(status, latency, error, req)
        self.answers.append(answer)
        self._record(event, attempt, answer)
        return answer

    async def _post(self, raw: bytes, headers: dict[str, str]) -> int:
        """One POST; a request that failed on a connection (a receiver may close a kept-alive one, e.g. after a
        request that raised) is sent once more on a fresh one, as the dispatcher's client does."""
        try:
            response = await self.client.post(self.url, content=raw, headers=headers)
        except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError):
            async with httpx.AsyncClient(timeout=self.client.timeout, trust_env=False, verify=self.verify) as fresh:
                response = await fresh.post(self.url, content=raw, headers=headers)
        return response.status_code

    async def send_lost(self, event: Event, *, attempt: int = 0) -> Answer:
        """Write one attempt, wait until its answer starts to arrive (or the timeout passes), then drop the
        connection without reading the answer."""
        raw = self.profile.serialize(event.payload)
        headers = await self.headers(event, raw, attempt, None)
        req = self._request(headers, raw, f"attempt {attempt}, connection dropped before the answer was read")
        parts = urlsplit(self.url)
        tls = parts.scheme == "https"
        port = parts.port or (443 if tls else 80)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        head = [f"POST {path} HTTP/1.1", f"Host: {parts.netloc}", f"Content-Length: {len(raw)}", "Connection: close"]
        head += [f"{k}: {v}" for k, v in headers.items() if k.lower() not in ("host", "content-length", "connection")]
        started = wall_monotonic()
        error = "dropped the connection before reading the answer"
        try:
            context = ssl.create_default_context() if tls else None
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(parts.hostname, port, ssl=context), self.timeout
            )
            try:
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + raw)
                await writer.drain()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(reader.read(1), self.timeout)
            finally:
                sock = writer.get_extra_info("socket")
                if sock is not None:  # a reset, not a graceful close: the answer can no longer be written
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
        except (OSError, TimeoutError) as exc:
            error = f"connection failed: {type(exc).__name__}: {exc}"
        latency = round((wall_monotonic() - started) * 1000, 3)
        req.latency_ms, req.error = latency, error
        answer = Answer(None, latency, error, req)
        self._record(event, attempt, answer)
        return answer

    async def wait_ladder(self) -> str:
        """Let the vendor's first retry delay pass on the tenant's timeline (virtual clock), or say it was not."""
        ladder = self.emu.dispatcher.policy(self.profile.slug).retry_ladder
        delay = ladder[0] if ladder else 0.0
        if not self.emu.scheduler.clock_of(self.tenant).virtual:
            return f"the retry went out at once (the server runs the system clock; the vendor waits {delay:g} s)"
        if delay:
            await self.emu.scheduler.advance(delay, tenants=[self.tenant])
        return f"the retry went out {delay:g} s later on the tenant's virtual timeline"

    # -- oracles ---------------------------------------------------------------------------------------------

    def _journal(self, subject: str, after: int) -> int:
        match = Match(vendor=self.profile.slug, tenant=self.tenant, subject=subject, kinds="request")
        return len(self.emu.feed.query(match, after=after, limit=0))

    async def _journal_wait(self, subject: str, after: int, expected: int, deadline: float) -> int:
        """The receiver's calls on `subject` since `after`: once `expected` are in (or `deadline` passes, wall
        time), watched for `settle` seconds more for one too many."""
        match = Match(vendor=self.profile.slug, tenant=self.tenant, subject=subject, kinds="request")
        listener, _, _ = self.emu.feed.listen(match)
        try:
            watch_until: float | None = None
            while True:
                count = self._journal(subject, after)
                now = wall_monotonic()
                if count > expected:
                    return count
                if count >= expected and watch_until is None:
                    watch_until = now + self.settle
                end = watch_until if watch_until is not None else deadline
                if now >= end:
                    return count
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(listener.batch(1000), end - now)
        finally:
            self.emu.feed.unlisten(listener)

    async def _probe_get(self, query: dict[str, str]) -> int:
        assert self.probe is not None
        sep = "&" if "?" in self.probe else "?"
        url = f"{self.probe}{sep}{urlencode(query)}" if query else self.probe
        try:
            r = await self.client.get(url)
            count = r.json()["count"]
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise ProbeError(f'the probe {url} did not answer {{"count": n}} ({type(exc).__name__}: {exc})') from None
        if not isinstance(count, int) or isinstance(count, bool):
            raise ProbeError(f"the probe {url} answered a count that is not an integer: {count!r}")
        return count

    async def _probe(self, event_ids: Sequence[str | None], mark: Mark) -> int:
        """The probe's count of these events (of everything since `mark` when the vendor's events carry no id a
        receiver can name: Samespace's)."""
        if mark.total is not None:
            return await self._probe_get({}) - mark.total
        return sum([await self._probe_get({"event": e}) for e in event_ids if e is not None])

    async def _probe_wait(self, event_ids: Sequence[str | None], mark: Mark, expected: int, deadline: float) -> int:
        """The probe's count, read until it reaches `expected` (or the deadline), then once more after `settle`."""
        count = await self._probe(event_ids, mark)
        while count < expected and wall_monotonic() < deadline:
            await asyncio.sleep(POLL)  # the probe is the receiver's: it can only be polled
            count = await self._probe(event_ids, mark)
        if count == expected and self.settle:
            await asyncio.sleep(self.settle)
            count = await self._probe(event_ids, mark)
        return count

    async def mark(self, ids: Sequence[str | None] = ()) -> Mark:
        """Where the oracles stand before a check's deliveries."""
        by_total = self.probe is not None and self.oracle != "journal" and (not ids or None in ids)
        return Mark(self.emu.feed.last_id, await self._probe_get({}) if by_total else None)

    async def effects(self, subject: str, event_ids: Sequence[str | None], mark: Mark, expected: int) -> int | None:
        """Side effects of a check (None with the status oracle)."""
        deadline = wall_monotonic() + self.settle + self.timeout
        if self.oracle == "journal":
            return await self._journal_wait(subject, mark.feed, expected, deadline)
        if self.oracle == "probe":
            return await self._probe_wait(event_ids, mark, expected, deadline)
        return None

    async def calibrate(self, sample: Sample, mark: Mark, answer: Answer) -> None:
        """Choose the oracle from what the receiver did with one valid delivery: the journal when it called back,
        else the probe when it counted the event, within `settle` + the vendor's timeout of the answer. Once the
        probe has counted the event the receiver is done with it, so a call back is waited for `settle` seconds
        more at most (a side effect comes within `settle`); a receiver that neither calls back nor counts costs the
        whole wait once per run."""
        if not answer.ok or (self.probe is None and not self.profile.calls_back):
            return
        deadline = wall_monotonic() + self.settle + self.timeout
        ids = [self.profile.visible_id(sample.main)]
        match = Match(vendor=self.profile.slug, tenant=self.tenant, subject=sample.subject, kinds="request")
        listener, _, _ = self.emu.feed.listen(match)
        try:
            while True:
                if self.profile.calls_back and self._journal(sample.subject, mark.feed) >= 1:
                    self.oracle = "journal"
                    return
                if self.oracle == "status" and self.probe is not None and await self._probe(ids, mark) >= 1:
                    self.oracle = "probe"  # counted; a call back, the stronger evidence, may still come
                    if not self.profile.calls_back:
                        return
                    deadline = min(deadline, wall_monotonic() + self.settle)  # ... within `settle` of the count
                left = deadline - wall_monotonic()
                if left <= 0:
                    return
                polling = self.probe is not None and self.oracle == "status"
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(listener.batch(1000), min(left, POLL) if polling else left)
        finally:
            self.emu.feed.unlisten(listener)


# -- the checks --------------------------------------------------------------------------------------------------


def _describe(answer: Answer) -> str:
    if answer.status is not None:
        return f"{answer.status}"
    return answer.error or "no answer"


def result(check: str, status: Status, evidence: Evidence, detail: str, answers: Sequence[Answer] = ()) -> CheckResult:
    requests = [a.request for a in answers] if status in ("fail", "advisory") else []
    return CheckResult(
        id=check, title=CHECKS[check], status=status, evidence=evidence, detail=detail, requests=requests
    )


def rejected(check: str, answers: Sequence[Answer], forgeries: Sequence[Forgery]) -> CheckResult:
    """A signature check: every forged request must be answered 4xx."""
    bad = [(a, f) for a, f in zip(answers, forgeries, strict=True) if a.status is None or not 400 <= a.status < 500]
    if not bad:
        got = ", ".join(_describe(a) for a in answers)
        return result(check, "pass", "status", f"rejected ({got}): {'; '.join(f.label for f in forgeries)}")
    a, f = bad[0]
    if a.ok:
        why = "accepted it"
    elif a.status is not None and a.status >= 500:
        why = "answered 5xx (the vendor retries it)"
    else:
        why = f"answered {_describe(a)}, not a 4xx"
    status: Status = "advisory" if check in TIMESTAMP_ONLY and a.ok else "fail"
    extra = " (Chatwoot documents no timestamp window: advisory)" if status == "advisory" else ""
    return result(check, status, "status", f"{f.label}: the receiver {why}{extra}", [x for x, _ in bad])


def dedupe_verdict(
    check: str, run: Run, answers: Sequence[Answer], count: int | None, expected: int, what: str, failing: str
) -> CheckResult:
    """A check about side effects: every answer 2xx, and `expected` side effects when they can be seen."""
    failed = [a for a in answers if not a.ok and a.error != "dropped the connection before reading the answer"]
    if failed:
        a = failed[0]
        return result(check, "fail", "status", f"{what}: answered {_describe(a)}, not a 2xx", answers)
    if count is None:
        return result(
            check, "advisory", "status",
            f"{what}: all answered 2xx, but its side effects cannot be seen (call back into cxemu, or give a probe)",
            answers,
        )  # fmt: skip
    if count == expected:
        return result(check, "pass", run.oracle, f"{what}: {count} side effect(s), as expected")
    why = failing if count > expected or expected > 1 else "the event was never processed"
    return result(check, "fail", run.oracle, f"{what}: {count} side effect(s), expected {expected}: {why}", answers)


async def run(
    emu: Emulator, vendor: str, url: str, tenant: str, *, probe: str | None = None,
    checks: Sequence[str] | None = None, settle: float = 1.0,
) -> Scorecard:  # fmt: skip
    """Score the receiver at `url` as `vendor` delivers to it, for `tenant` (see the module docstring)."""
    profile = PROFILES[vendor](emu, url)
    policy = emu.dispatcher.policy(vendor)
    wanted = list(CHECKS) if not checks else [c for c in CHECKS if c in checks]
    timeout = policy.timeout
    limits = httpx.Limits(max_connections=RECEIVER_LIMIT, max_keepalive_connections=RECEIVER_LIMIT)
    async with httpx.AsyncClient(
        timeout=httpx.Timeout(timeout), follow_redirects=False, trust_env=False, limits=limits,
        verify=emu.dispatcher.verify_tls,
    ) as client:  # fmt: skip
        r = Run(emu, profile, tenant, url, probe, settle, client, timeout, verify=emu.dispatcher.verify_tls)
        results = await _battery(r, wanted)
    return Scorecard(
        vendor=vendor, tenant=tenant, url=url, oracle=r.oracle, results=results, summary=summarize(results)
    )


async def _battery(r: Run, wanted: list[str]) -> list[CheckResult]:
    profile = r.profile
    out: dict[str, CheckResult] = {}
    unsigned = profile.signs()
    slug = profile.slug

    # calibration: one valid delivery on its own subject; also `signed-accepted` and the oracle
    r.check = "signed-accepted"
    sample = await profile.sample(r.tenant, "Hello from cxemu verify-receiver")
    r.announce(sample.main)
    before = await r.mark([profile.visible_id(sample.main)])
    first = await r.send(sample.main, note="a valid delivery")
    await r.calibrate(sample, before, first)
    if unsigned is not None:
        out["signed-accepted"] = result("signed-accepted", "not-applicable", "status", unsigned)
    elif first.ok and first.latency_ms is not None and first.latency_ms <= r.timeout * 1000:
        out["signed-accepted"] = result("signed-accepted", "pass", "status", f"answered {first.status} in "
                                        f"{first.latency_ms:.0f} ms (timeout {r.timeout:g} s)")  # fmt: skip
    else:
        out["signed-accepted"] = result(
            "signed-accepted", "fail", "status", f"a valid delivery was answered {_describe(first)}", [first]
        )

    for check in CHECKS:
        if check not in wanted or check == "signed-accepted" or check in out:
            continue
        r.check = check
        if check in SIGNATURE_CHECKS:
            out[check] = await _signature_check(r, check, unsigned, slug)
        else:
            out[check] = await DELIVERY[check](r)
    return [out[c] for c in CHECKS if c in wanted]


async def _signature_check(r: Run, check: str, unsigned: str | None, slug: str) -> CheckResult:
    if unsigned is not None:
        return result(check, "not-applicable", "status", unsigned)
    if check in SIGNATURE_ONLY and slug != "eightbyeight":
        return result(check, "not-applicable", "status", "only 8x8 signs with a JWS")
    if check in TIMESTAMP_ONLY and slug != "sangoma":
        return result(check, "not-applicable", "status", "8x8's signature carries its own transmission time; "
                      "no timestamp window is documented")  # fmt: skip
    sample = await r.profile.sample(r.tenant, f"Signature check {check}")
    answers: list[Answer] = []
    forgeries: list[Forgery] = []
    for event in sample.events[-1:]:
        fresh = r.profile.rekeyed(event, await r.profile.new_event_id(r.tenant))
        r.announce(fresh)
        body = r.profile.serialize(fresh.payload)
        forged = await asyncio.to_thread(r.profile.forgeries, check, r.tenant, fresh, body, r._now())
        for forgery in forged:
            forgeries.append(forgery)
            answers.append(await r.send(fresh, headers=forgery.headers, body=forgery.body, note=forgery.label))
    return rejected(check, answers, forgeries)


async def _fresh(r: Run, text: str) -> Sample:
    sample = await r.profile.sample(r.tenant, text)
    r.announce(sample.main)
    return sample


async def retry_deduplicated(r: Run) -> CheckResult:
    check = "retry-deduplicated"
    sample = await _fresh(r, "Retry check")
    ids = [r.profile.visible_id(sample.main)]
    before = await r.mark(ids)
    first = await r.send(sample.main, note="attempt 0")
    waited = await r.wait_ladder()
    second = await r.send(sample.main, attempt=1, note="attempt 1: the vendor's retry of the same event")
    count = await r.effects(sample.subject, ids, before, 1)
    header = r.profile.retry_header()
    what = (
        f"the same event sent twice ({header} 0 then 1; {waited})"
        if header
        else (f"the same event sent twice ({waited})")
    )
    if r.profile.slug == "sangoma" and not r.emu.dispatcher.policy("sangoma").retry_ladder:
        what += "; Chatwoot v4.10 does not retry, but a configured ladder or a redelivery sends it again"
    return dedupe_verdict(check, r, [first, second], count, 1, what, "the retry was processed again")


async def concurrent_deduplicated(r: Run) -> CheckResult:
    check = "concurrent-deduplicated"
    sample = await _fresh(r, "Concurrent check")
    ids = [r.profile.visible_id(sample.main)]
    before = await r.mark(ids)
    answers = await asyncio.gather(
        r.send(sample.main, note="copy 1 of 2, sent at once"), r.send(sample.main, note="copy 2 of 2, sent at once")
    )
    count = await r.effects(sample.subject, ids, before, 1)
    what = "two copies of one event sent at once"
    return dedupe_verdict(check, r, answers, count, 1, what, "both copies were processed (no atomic de-duplication)")


async def lost_ack_deduplicated(r: Run) -> CheckResult:
    check = "lost-ack-deduplicated"
    sample = await _fresh(r, "Lost acknowledgement check")
    ids = [r.profile.visible_id(sample.main)]
    before = await r.mark(ids)
    lost = await r.send_lost(sample.main)
    waited = await r.wait_ladder()
    retry = await r.send(sample.main, attempt=1, note="attempt 1: the retry after the lost answer")
    count = await r.effects(sample.subject, ids, before, 1)
    what = f"a delivery whose answer was lost, then its retry ({waited})"
    return dedupe_verdict(check, r, [lost, retry], count, 1, what, "the retry was processed again")


async def distinct_events_kept(r: Run) -> CheckResult:
    check = "distinct-events-kept"
    if r.profile.slug == "samespace":
        return result(check, "not-applicable", "status", "Samespace callbacks carry no event id: two callbacks "
                      "with the same body cannot be told apart")  # fmt: skip
    sample = await _fresh(r, "Distinct events check")
    one = r.profile.rekeyed(sample.main, await r.profile.new_event_id(r.tenant))
    two = r.profile.rekeyed(sample.main, await r.profile.new_event_id(r.tenant))
    ids = [r.profile.visible_id(one), r.profile.visible_id(two)]
    before = await r.mark(ids)
    answers = [await r.send(one, note="event 1"), await r.send(two, note="event 2: same body, another event id")]
    count = await r.effects(sample.subject, ids, before, 2)
    where = "in the body" if r.profile.event_id_in_body else "in the headers"
    what = f"two events with the same body and different event ids ({where})"
    return dedupe_verdict(check, r, answers, count, 2, what, "one was dropped (de-duplication on the body?)")


def _tolerated(check: str, answers: Sequence[Answer], what: str, *, need_2xx: bool) -> CheckResult:
    for a in answers:
        if a.status is None:
            return result(check, "fail", "status", f"{what}: {a.error}", answers)
        if a.status >= 500:
            return result(check, "fail", "status", f"{what}: answered {a.status}", answers)
        if need_2xx and not a.ok:
            why = "the vendor retries it until its ladder ends, then drops it"
            return result(check, "fail", "status", f"{what}: answered {a.status}, not a 2xx ({why})", answers)
    got = ", ".join(_describe(a) for a in answers)
    return result(check, "pass", "status", f"{what}: answered {got}")


async def out_of_order_tolerated(r: Run) -> CheckResult:
    sample = await _fresh(r, "Out of order check")
    answers = []
    for event in reversed(sample.events):
        answers.append(await r.send(event, note=f"{event.event_type}, sent out of order"))
    kinds = " then ".join(e.event_type for e in reversed(sample.events))
    return _tolerated("out-of-order-tolerated", answers, f"events in reverse order ({kinds})", need_2xx=False)


async def unknown_event_tolerated(r: Run) -> CheckResult:
    sample = await _fresh(r, "Unknown event check")
    event = r.profile.unknown(r.profile.rekeyed(sample.main, await r.profile.new_event_id(r.tenant)))
    answer = await r.send(event, note="an unknown event type")
    return _tolerated("unknown-event-tolerated", [answer], f"event type {event.event_type!r}", need_2xx=True)


async def extra_fields_tolerated(r: Run) -> CheckResult:
    sample = await _fresh(r, "Extra fields check")
    event = r.profile.extra_fields(r.profile.rekeyed(sample.main, await r.profile.new_event_id(r.tenant)))
    answer = await r.send(event, note="extra unknown fields")
    return _tolerated("extra-fields-tolerated", [answer], "a known event with extra fields", need_2xx=True)


async def burst_within_timeout(r: Run) -> CheckResult:
    check = "burst-within-timeout"
    sample = await _fresh(r, "Burst check")
    events = [r.profile.rekeyed(sample.main, await r.profile.new_event_id(r.tenant)) for _ in range(BURST)]
    answers = list(await asyncio.gather(*(r.send(e, note=f"burst {i + 1}/{BURST}") for i, e in enumerate(events))))
    bad = [a for a in answers if not a.ok]
    if bad:
        return result(check, "fail", "status", f"{len(bad)} of {BURST} concurrent deliveries were answered "
                      f"{_describe(bad[0])} (timeout {r.timeout:g} s)", bad[:3])  # fmt: skip
    slowest = max(a.latency_ms or 0.0 for a in answers)
    if slowest > r.timeout * 1000 / 2:
        slow = sorted(answers, key=lambda a: -(a.latency_ms or 0.0))[:3]
        return result(check, "advisory", "status", f"the slowest of {BURST} answers took {slowest:.0f} ms, over half "
                      f"the vendor's {r.timeout:g} s timeout: ack first, work after", slow)  # fmt: skip
    return result(check, "pass", "status", f"{BURST} concurrent deliveries, slowest answer {slowest:.0f} ms")


async def no_redirect(r: Run) -> CheckResult:
    check = "no-redirect"
    sample = await _fresh(r, "Redirect check")
    event = r.profile.rekeyed(sample.main, await r.profile.new_event_id(r.tenant))
    await r.send(event, note="a valid delivery")
    redirected = [a for a in r.answers if a.status is not None and 300 <= a.status < 400]
    if redirected:
        a = redirected[0]
        return result(check, "fail", "status", f"{len(redirected)} deliveries were answered {a.status}: "
                      "vendors do not follow redirects, so it counts as a failed delivery", redirected[:3])  # fmt: skip
    return result(check, "pass", "status", f"none of the {len(r.answers)} deliveries sent was answered with a 3xx")


async def _edge(r: Run, check: str, text: str, what: str) -> CheckResult:
    sample = await _fresh(r, f"Edge check {check}")
    event = r.profile.with_text(r.profile.rekeyed(sample.main, await r.profile.new_event_id(r.tenant)), text)
    answer = await r.send(event, note=what)
    return _tolerated(check, [answer], what, need_2xx=False)


async def edge_large_payload(r: Run) -> CheckResult:
    return await _edge(r, "edge-large-payload", "x" * LARGE_TEXT, f"a message of {LARGE_TEXT} characters")


async def edge_unicode_payload(r: Run) -> CheckResult:
    return await _edge(r, "edge-unicode-payload", UNICODE_TEXT, "RTL, emoji, surrogate pairs and control characters")


async def edge_empty_payload(r: Run) -> CheckResult:
    sample = await _fresh(r, "Empty payload check")
    event = r.profile.rekeyed(sample.main, await r.profile.new_event_id(r.tenant))
    answers = [
        await r.send(event, body=body, note=note)
        for body, note in ((b"", "an empty body, signed"), (b"{}", "`{}`, signed"))
    ]
    return _tolerated("edge-empty-payload", answers, "an empty body and `{}`", need_2xx=False)


DELIVERY: dict[str, Callable[[Run], Awaitable[CheckResult]]] = {
    "retry-deduplicated": retry_deduplicated,
    "concurrent-deduplicated": concurrent_deduplicated,
    "lost-ack-deduplicated": lost_ack_deduplicated,
    "distinct-events-kept": distinct_events_kept,
    "out-of-order-tolerated": out_of_order_tolerated,
    "unknown-event-tolerated": unknown_event_tolerated,
    "extra-fields-tolerated": extra_fields_tolerated,
    "burst-within-timeout": burst_within_timeout,
    "no-redirect": no_redirect,
    "edge-large-payload": edge_large_payload,
    "edge-unicode-payload": edge_unicode_payload,
    "edge-empty-payload": edge_empty_payload,
}


def default_tenant(emu: Emulator, vendor: str) -> str:
    """`verify-<n>`: the first such tenant the vendor does not have yet."""
    n = 1
    while emu.store.exists(vendor, f"verify-{n}"):
        n += 1
    return f"verify-{n}"
