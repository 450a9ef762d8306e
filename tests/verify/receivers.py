"""Webhook receivers built to be scored: a correct one per vendor, and the same one with one flaw (`FLAWS`), each a
real `http.server` on 127.0.0.1 in a thread of the test process.

A receiver verifies what its vendor signs (8x8: the detached JWS, with the public JWK fetched from cxemu by kid
and checked with `cryptography`, independently of cxemu's signing code; Chatwoot: the HMAC of timestamp and body),
de-duplicates on the vendor's event id atomically, and performs one side effect per event it processes: a call back
into cxemu's vendor API on the event's conversation (8x8, Chatwoot) where there is one, and a count served at
`GET /count?event=<id>` (the probe) in every case.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import select
import socket
import sys
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

FLAWS: dict[str, str] = {
    # flaw -> the check it fails (what the broken receiver does)
    "reserialized-body": "tampered-body-rejected",  # checks the signature over the parsed and re-serialised body
    "unknown-kid-accepted": "wrong-key-rejected",  # a kid it cannot fetch skips the check (fail open)
    "missing-accepted": "missing-signature-rejected",  # no signature header: accepted
    "malformed-accepted": "malformed-signature-rejected",  # a signature it cannot parse: accepted
    "alg-none-accepted": "jws-alg-none-rejected",  # trusts the header's alg, and "none" needs no signature
    "hs256-accepted": "jws-hs256-confusion-rejected",  # trusts the header's alg, HMAC keyed with the public key
    "attached-accepted": "jws-attached-payload-rejected",  # verifies an attached JWS over its own payload
    "stale-accepted": "stale-timestamp-rejected",  # ignores the timestamp's age (Chatwoot)
    "retry-reprocessed": "retry-deduplicated",  # de-duplicates on (event id, retry number)
    "racy-dedupe": "concurrent-deduplicated",  # checks, acts, then marks: concurrent copies both act
    "commit-after-ack": "lost-ack-deduplicated",  # marks an event done only once its answer was read whole
    "body-hash-dedupe": "distinct-events-kept",  # de-duplicates on a hash of the body
    "created-twice-500": "out-of-order-tolerated",  # a conversation's creation after its message is a 500
    "unknown-400": "unknown-event-tolerated",  # an event type it does not know is a 400
    "strict-schema-422": "extra-fields-tolerated",  # an unknown field is a 422
    "serial-slow": "burst-within-timeout",  # one request at a time, SERIAL_WORK of work each, before the answer
    "redirect-updates": "no-redirect",  # conversation updates are redirected to another path
    "large-500": "edge-large-payload",  # a body over 512 KiB is a 500
    "astral-500": "edge-unicode-payload",  # characters outside the BMP are a 500 (a utf8mb3 column)
    "empty-500": "edge-empty-payload",  # an empty body is a 500 (the JSON error is not handled)
}


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _number(text: str) -> int:
    return int.from_bytes(_b64url(text), "big")


@dataclass
class Receiver:
    """What a receiver knows and counts; `handler` serves it."""

    vendor: str
    cxemu: str
    tenant: str
    flaw: str | None = None
    secret: str = ""
    signed: bool = True
    calls_back: bool = True
    """Whether it calls back into cxemu (8x8); without, only the probe sees what it did."""
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    serial: threading.Lock = field(default_factory=threading.Lock)
    seen: set[str] = field(default_factory=set)
    twins: dict[str, threading.Event] = field(default_factory=dict)
    arrivals: Counter[str] = field(default_factory=Counter)
    event_locks: dict[str, threading.Lock] = field(default_factory=dict)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    """Every delivery's headers (lower-case names) and body, as received."""
    counts: Counter[str] = field(default_factory=Counter)
    conversations: set[str] = field(default_factory=set)
    keys: dict[str, rsa.RSAPublicKey] = field(default_factory=dict)
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))
    """Its calls into cxemu (one pool, as a real receiver keeps)."""

    # -- 8x8 -----------------------------------------------------------------------------------------------------

    def _jwk(self, kid: str) -> rsa.RSAPublicKey | None:
        if kid not in self.keys:
            r = self.http.get(f"{self.cxemu}/chat-gateway/v1/jwk/{kid}/public")
            if r.status_code != 200:
                return None
            jwk = r.json()
            self.keys[kid] = rsa.RSAPublicNumbers(_number(jwk["e"]), _number(jwk["n"])).public_key()
        return self.keys[kid]

    def verify_8x8(self, headers: Any, body: bytes) -> bool:
        jws = headers.get("x-8x8-signature")
        if jws is None:
            return self.flaw == "missing-accepted"
        try:
            head_b64, middle, sig_b64 = jws.split(".")
            head = json.loads(_b64url(head_b64))
            sig = _b64url(sig_b64)
            checked = json.loads(body) if self.flaw == "reserialized-body" else None
            raw = body if checked is None else json.dumps(checked, separators=(",", ":"), ensure_ascii=False).encode()
            payload = {
                "checksum": zlib.crc32(raw) & 0xFFFFFFFF,
                "cid": headers["x-8x8-customer-id"],
                "eid": headers["x-8x8-event-id"],
                "retry": int(headers["x-8x8-retry"]),
                "tid": headers["x-8x8-tenant-id"],
                "tt": int(headers["x-8x8-transmission-time"]),
            }
            signed = head_b64.encode() + b"." + json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        except (ValueError, KeyError, TypeError):
            return self.flaw == "malformed-accepted"
        alg = head.get("alg")
        if alg == "none" and self.flaw == "alg-none-accepted":
            return True
        tricked = (alg == "HS256" and self.flaw == "hs256-accepted") or (middle and self.flaw == "attached-accepted")
        profile = alg == "RS256" and head.get("b64") is False and head.get("crit") == ["b64"] and not middle
        if not (tricked or profile):
            return False
        key = self._jwk(str(head.get("kid")))
        if key is None:
            return self.flaw == "unknown-kid-accepted"
        if alg == "HS256":
            pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            return hmac.compare_digest(hmac.new(pem, signed, hashlib.sha256).digest(), sig)
        if middle:
            signed = f"{head_b64}.{middle}".encode()
        try:
            key.verify(sig, signed, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return False
        return True

    # -- Chatwoot ------------------------------------------------------------------------------------------------

    def verify_sangoma(self, headers: Any, body: bytes) -> bool:
        sent, stamp = headers.get("x-chatwoot-signature"), headers.get("x-chatwoot-timestamp")
        if sent is None or stamp is None:
            return self.flaw == "missing-accepted"
        if not sent.startswith("sha256=") or not all(c in "0123456789abcdef" for c in sent[7:]) or not stamp.isdigit():
            return self.flaw == "malformed-accepted"
        checked = body
        if self.flaw == "reserialized-body":
            checked = json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False).encode()
        expected = hmac.new(self.secret.encode(), stamp.encode() + b"." + checked, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, sent[7:]):
            return False
        return self.flaw == "stale-accepted" or abs(self.now() - int(stamp)) < 300

    def now(self) -> float:
        """The time of the server it receives from (a virtual clock's, in tests: read once, it moves by seconds)."""
        if self.clock is None:
            r = httpx.get(f"{self.cxemu}/_emulator/clock", params={"tenant": self.tenant}, timeout=10)
            self.clock = float(r.json()["now"])
        return self.clock

    clock: float | None = None

    # -- the event ---------------------------------------------------------------------------------------------

    def event_id(self, headers: Any, body: bytes, payload: Any) -> str:
        if self.flaw == "body-hash-dedupe":
            return hashlib.sha256(body).hexdigest()
        if self.vendor == "eightbyeight":
            key = headers.get("x-8x8-event-id", "")
            return f"{key}/{headers.get('x-8x8-retry')}" if self.flaw == "retry-reprocessed" else key
        if self.vendor == "sangoma":
            key = headers.get("x-chatwoot-delivery") or str(payload.get("id"))
            return f"{key}/{headers.get('x-chatwoot-timestamp')}" if self.flaw == "retry-reprocessed" else key
        if self.vendor == "cmcom":
            return str(payload.get("reference", ""))
        return hashlib.sha256(body).hexdigest()  # Samespace callbacks carry no id: the body is the event

    def side_effect(self, payload: dict[str, Any]) -> None:
        """The one call back into cxemu's vendor API an event causes: 8x8 posts a message to the conversation; the
        others only count (their receivers are scored by the probe)."""
        if self.calls_back and self.vendor == "eightbyeight" and payload.get("eventType") == "MESSAGE":
            conv = payload["conversationId"]
            url = f"{self.cxemu}/chat-gateway/v1/conversations/{conv}/messages"
            r = self.http.post(url, json={"authorType": "bot", "text": "got it"}, headers={"x-api-key": self.tenant})
            assert r.status_code < 300, r.text

    def relevant(self, payload: Any) -> bool:
        """Whether an event is one this receiver acts on."""
        if not isinstance(payload, dict):
            return False
        if self.vendor == "eightbyeight":
            return payload.get("eventType") == "MESSAGE"
        if self.vendor == "sangoma":
            return payload.get("event") == "message_created"
        if self.vendor == "cmcom":
            return "message" in payload
        return "event" in payload


KNOWN = {
    "eightbyeight": {"MESSAGE", "CONVERSATION_UPDATE", "QUEUED", "MEMBERS_CHANGED", "ACTIVITY", "TRANSFER"},
    "sangoma": {
        "message_created",
        "conversation_created",
        "contact_created",
        "webwidget_triggered",
        "message_updated",
        "conversation_updated",
        "conversation_status_changed",
    },
}


def handler_for(rx: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def answer(self, status: int, body: bytes = b"{}", headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path != "/count":
                self.answer(404)
                return
            event = parse_qs(parts.query).get("event", [None])[0]
            with rx.lock:
                count = rx.counts[event] if event is not None else sum(rx.counts.values())
            self.answer(200, json.dumps({"count": count}).encode())

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            with rx.lock:
                rx.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            if rx.flaw == "serial-slow":
                with rx.serial:
                    if self.peer_gone():  # its client gave up waiting (the vendor's timeout): nobody to answer
                        self.close_connection = True
                        return
                    time.sleep(SERIAL_WORK)  # the receiver's own slow work, before its answer
                    self.handle_delivery(body)
            else:
                self.handle_delivery(body)

        def handle_delivery(self, body: bytes) -> None:
            if rx.flaw == "large-500" and len(body) > 512 * 1024:
                self.answer(500, b'{"error":"too big"}')
                return
            verified = {"eightbyeight": rx.verify_8x8, "sangoma": rx.verify_sangoma}.get(rx.vendor)
            if verified is not None and rx.signed and not verified(self.headers, body):
                self.answer(401, b'{"error":"bad signature"}')
                return
            try:
                payload = json.loads(body)
            except ValueError:
                self.answer(500 if rx.flaw == "empty-500" else 400, b'{"error":"not json"}')
                return
            if not isinstance(payload, dict):
                self.answer(400)
                return
            if rx.flaw == "astral-500" and any(ord(c) > 0xFFFF for c in body.decode(errors="replace")):
                self.answer(500, b'{"error":"Incorrect string value"}')
                return
            kind = payload.get("eventType") or payload.get("event")
            known = KNOWN.get(rx.vendor)
            if rx.flaw == "unknown-400" and known is not None and kind not in known:
                self.answer(400, b'{"error":"unknown event"}')
                return
            if rx.flaw == "strict-schema-422" and "cxemuExtraField" in payload:
                self.answer(422, b'{"error":"unexpected field"}')
                return
            if rx.flaw == "redirect-updates" and kind == "CONVERSATION_UPDATE":
                self.answer(307, headers={"location": "/v2/webhooks"})
                return
            conv = str(payload.get("conversationId", ""))
            if rx.flaw == "created-twice-500" and kind == "CONVERSATION_UPDATE":
                with rx.lock:
                    if conv in rx.conversations:
                        self.answer(500, b'{"error":"duplicate key"}')
                        return
            if kind == "MESSAGE":
                with rx.lock:
                    rx.conversations.add(conv)
            if not rx.relevant(payload):
                self.answer(200)
                return
            event = rx.event_id(self.headers, body, payload)
            count_as = str(self.headers.get("x-8x8-event-id") or self.headers.get("x-chatwoot-delivery")
                           or payload.get("reference") or event)  # fmt: skip
            if rx.flaw == "racy-dedupe":
                self.racy(event, count_as, payload)
                return
            if rx.flaw == "commit-after-ack":
                self.commit_after_ack(event, count_as, payload)
                return
            with rx.lock:
                fresh = event not in rx.seen
                rx.seen.add(event)
            try:
                self.answer(200)  # ack first, work after (even when the ack is lost: the retry will not do it)
            finally:
                if fresh:
                    rx.side_effect(payload)
                    with rx.lock:
                        rx.counts[count_as] += 1

        def racy(self, event: str, count_as: str, payload: dict[str, Any]) -> None:
            """Check, act, then mark: a copy that arrives while the first is acting acts too (the first copy of an
            event holds its turn until a second copy arrives, or half a second passes, so the race is certain)."""
            with rx.lock:
                fresh = event not in rx.seen
                twin = rx.twins.setdefault(event, threading.Event())
                rx.arrivals[event] += 1
                first = rx.arrivals[event] == 1
            if fresh and first:
                twin.wait(0.5)
            else:
                twin.set()
            if fresh:
                rx.side_effect(payload)
                with rx.lock:
                    rx.counts[count_as] += 1
                    rx.seen.add(event)
            self.answer(200)

        def peer_gone(self, within: float = 0.0) -> bool:
            """Whether the client has closed or reset the connection (it is readable and has nothing to read), waiting
            up to `within` seconds for it to."""
            readable, _, _ = select.select([self.connection], [], [], within)
            if not readable:
                return False
            try:
                return self.connection.recv(1, socket.MSG_PEEK) == b""
            except OSError:
                return True

        def commit_after_ack(self, event: str, count_as: str, payload: dict[str, Any]) -> None:
            """One copy of an event at a time (a lock per event id): acts, answers (and closes), and marks the event
            done only once its client has read the whole answer and closed the connection cleanly; a copy that
            comes after a lost answer (a client that reset the connection instead) acts again."""
            with rx.lock:
                mine = rx.event_locks.setdefault(event, threading.Lock())
            with mine:
                with rx.lock:
                    fresh = event not in rx.seen
                if fresh:
                    rx.side_effect(payload)
                    with rx.lock:
                        rx.counts[count_as] += 1
                self.answer(200, headers={"connection": "close"})
                if fresh and self.read_whole():
                    with rx.lock:
                        rx.seen.add(event)

        def read_whole(self) -> bool:
            """Whether the client read the whole answer: it closes a `connection: close` answer's connection once it
            has (a FIN, so the connection reads as ended), and resets it when it leaves without reading it all."""
            readable, _, _ = select.select([self.connection], [], [], CLIENT_CLOSE)
            if not readable:
                return False
            try:
                return self.connection.recv(1, socket.MSG_PEEK) == b""
            except OSError:
                return False

    return Handler


SERIAL_WORK = 0.15
"""Seconds of work the `serial-slow` receiver does for each delivery, one delivery at a time: a burst of 50 takes
at least 7.5 s whatever the machine's speed, well over the vendor timeout of the server it is scored on
(`short_server`'s 3 s)."""
CLIENT_CLOSE = 60.0
"""How long the `commit-after-ack` receiver waits for its client to close or reset the connection after an answer
(only a hung client waits it out: either one ends the wait at once)."""


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # a burst of 50 connections at once (http.server's default backlog is 5)
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that drops its connection (the lost-acknowledgement check does) is no error of the receiver's."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextmanager
def serve(rx: Receiver) -> Iterator[Receiver]:
    """Run `rx` on a free port of 127.0.0.1 for the duration of the block."""
    httpd = _Server(("127.0.0.1", 0), handler_for(rx))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    rx.url = f"http://127.0.0.1:{httpd.server_address[1]}/webhook"
    try:
        yield rx
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)
        rx.http.close()
