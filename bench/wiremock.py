"""WireMock as a peer: the same interleaved rows run against a warm WireMock 3.13 standalone, so cxemu's figures
read against the mock most integrations would otherwise use.

  wiremock-get            GET  /peer/v1/conversations/conv-1            200, a static conversation body (~300 B)
  wiremock-post           POST /peer/v1/conversations/conv-1/messages   202, a templated id (response-template)
  wiremock-post-webhook   POST /peer/v1/hooked/conversations/conv-1/messages   the same + one webhook per request
                          (WireMock's built-in `webhook` serve-event listener, a templated MESSAGE-like body) to the
                          bench receiver at /hook/<x-bench-run header>, so each run counts its own webhooks

The jar comes from the npm package `wiremock` (which bundles `wiremock-standalone-<version>.jar`), installed by
`npm install` into bench/.peers/ (git-ignored) the first time; it runs under the machine's `java` directly (not
through the package's node wrapper), pinned to the server CPU like every server here, with
`--no-request-journal --disable-request-logging` (the journal would grow without bound). Without java or npm
(or when the install fails) the rows are skipped and the reason is printed and kept in the result JSON.

A JVM on one core keeps getting faster for minutes (cold: ~350 req/s; warm: 6-15k), so before the first
repetition `warm_up` sends 5 s chunks at the first connection count, round-robin over the three stubs, until
every stub's last three chunks agree within 5 % and `--wiremock-warmup` seconds have passed (at most
`--wiremock-warmup-max`). The measured runs then have their usual per-run warm-up like every other row.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import BENCH, HOST, LoadGen, LoadSpec, Receiver, expect, log, request

VERSION = "3.13.2"
PEERS = BENCH / ".peers"
"""npm prefix the jar is installed into (git-ignored)."""
RUN_HEADER = "x-bench-run"
"""The webhook stub posts to /hook/<this header's value>: each run (and its warm-up) names its own path."""
GET_PATH = "/peer/v1/conversations/conv-1"
POST_PATH = "/peer/v1/conversations/conv-1/messages"
HOOK_PATH = "/peer/v1/hooked/conversations/conv-1/messages"
POST_BODY = '{"authorType":"user","text":"hi"}'
ROWS = ("wiremock-get", "wiremock-post", "wiremock-post-webhook")
CHUNK_S = 5.0
SETTLE_CHUNKS = 3
SETTLE_SPREAD = 0.05

CONVERSATION = {
    "conversationId": "conv-1",
    "channelId": "1",
    "status": "ACTIVE",
    "createdTime": "2026-01-15T10:21:33.000Z",
    "user": {"name": "Bench User", "email": None, "customerId": None},
    "queueId": "1",
    "agentId": None,
}
ACCEPTED = '{"messageId":"{{randomValue type=\'UUID\'}}","conversationId":"conv-1","status":"ACCEPTED"}'
HOOK_BODY = (
    '{"eventType":"MESSAGE","conversationId":"conv-1","data":{"messageId":"{{randomValue type=\'UUID\'}}",'
    '"authorType":"user","text":"hi","isEcho":true,"createdTime":"2026-01-15T10:21:33.000Z"}}'
)


def jar() -> tuple[Path | None, str]:
    """The standalone jar (installed from npm into bench/.peers/ when missing), or None and why not."""
    if shutil.which("java") is None:
        return None, "java is not installed (apt-get install -y default-jre-headless)"
    found = sorted(PEERS.glob(f"node_modules/wiremock/build/wiremock-standalone-{VERSION}.jar"))
    if found:
        return found[-1], ""
    if shutil.which("npm") is None:
        return None, "npm is not installed (apt-get install -y npm), so the wiremock package cannot be fetched"
    log(f"bench: installing npm wiremock@{VERSION} into {PEERS} (once)")
    PEERS.mkdir(parents=True, exist_ok=True)
    cmd = ["npm", "install", "--no-save", "--no-audit", "--no-fund", "--prefix", str(PEERS), f"wiremock@{VERSION}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    found = sorted(PEERS.glob(f"node_modules/wiremock/build/wiremock-standalone-{VERSION}.jar"))
    if out.returncode != 0 or not found:
        return None, f"npm install wiremock@{VERSION} failed (rc={out.returncode}): {out.stderr[-300:].strip()}"
    return found[-1], ""


def java_version() -> str:
    out = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=30, check=False)
    lines = (out.stderr or out.stdout).splitlines()
    return lines[0].strip() if lines else "java (unknown version)"


def write_root(workdir: Path, receiver_port: int) -> Path:
    """WireMock's --root-dir with the three stubs (mappings/*.json)."""
    root = workdir / "wiremock"
    (root / "mappings").mkdir(parents=True, exist_ok=True)
    json_headers = {"Content-Type": "application/json"}
    stubs: dict[str, dict[str, Any]] = {
        "get": {
            "request": {"method": "GET", "urlPath": GET_PATH},
            "response": {"status": 200, "headers": json_headers, "body": json.dumps(CONVERSATION)},
        },
        "post": {
            "request": {"method": "POST", "urlPath": POST_PATH},
            "response": {
                "status": 202,
                "headers": json_headers,
                "body": ACCEPTED,
                "transformers": ["response-template"],
            },
        },
        "hook": {
            "request": {"method": "POST", "urlPath": HOOK_PATH},
            "response": {
                "status": 202,
                "headers": json_headers,
                "body": ACCEPTED,
                "transformers": ["response-template"],
            },
            "serveEventListeners": [
                {
                    "name": "webhook",
                    "parameters": {
                        "method": "POST",
                        "url": f"http://{HOST}:{receiver_port}/hook/{{{{originalRequest.headers.{RUN_HEADER}}}}}",
                        "headers": json_headers,
                        "body": HOOK_BODY,
                    },
                }
            ],
        },
    }
    for name, stub in stubs.items():
        (root / "mappings" / f"{name}.json").write_text(json.dumps(stub, indent=2))
    return root


def command(jar_path: Path, port: int, root: Path) -> list[str]:
    return [
        "java", "-jar", str(jar_path), "--port", str(port), "--bind-address", HOST, "--root-dir", str(root),
        "--no-request-journal", "--disable-request-logging", "--disable-banner",
    ]  # fmt: skip


def sanity(port: int, receiver: Receiver) -> dict[str, Any]:
    """Each stub answers as declared and the webhook stub posts exactly one webhook to the run's path."""
    got = expect(*request(port, "GET", GET_PATH), 200, "wiremock GET")
    if got != CONVERSATION:
        raise RuntimeError(f"wiremock: GET answered {got}")
    posted = expect(*request(port, "POST", POST_PATH, POST_BODY), 202, "wiremock POST")
    if posted.get("status") != "ACCEPTED" or len(str(posted.get("messageId"))) != 36:
        raise RuntimeError(f"wiremock: POST answered {posted}")
    expect(*request(port, "POST", HOOK_PATH, POST_BODY, headers={RUN_HEADER: "sanity-wiremock"}), 202, "hook POST")
    received, _ = receiver.wait_for("sanity-wiremock", 1, time.time(), 30.0)
    time.sleep(0.5)  # nothing more may come
    received, _ = receiver.stats("sanity-wiremock")
    if received != 1:
        raise RuntimeError(f"wiremock: the webhook stub fired {received} webhooks, expected 1")
    return {"get_bytes": len(json.dumps(CONVERSATION)), "webhooks": received}


@dataclass
class WarmUp:
    """The JIT warm-up before the first repetition: req/s of every 5 s chunk, per stub."""

    chunks: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0
    settled: bool = False

    def record(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 1),
            "settled": self.settled,
            "cold_rps": {k: round(v[0]) for k, v in self.chunks.items() if v},
            "last_rps": {k: [round(x) for x in v[-SETTLE_CHUNKS:]] for k, v in self.chunks.items()},
            "chunks": {k: [round(x) for x in v] for k, v in self.chunks.items()},
        }


def settled(rates: list[float]) -> bool:
    last = rates[-SETTLE_CHUNKS:]
    return (
        len(last) == SETTLE_CHUNKS
        and min(last) > 0
        and (max(last) - min(last)) / statistics.fmean(last) <= SETTLE_SPREAD
    )


def warm_up(load: LoadGen, receiver: Receiver, port: int, conns: int, min_s: float, max_s: float) -> WarmUp:
    """5 s chunks round-robin over the stubs until every stub's rate has settled and `min_s` has passed, or `max_s`
    has passed. The webhook stub's chunks post to /hook/wiremock-warm and are drained after each chunk."""
    specs = {
        "wiremock-get": LoadSpec(port, "GET", GET_PATH),
        "wiremock-post": LoadSpec(port, "POST", POST_PATH, {}, POST_BODY),
        "wiremock-post-webhook": LoadSpec(port, "POST", HOOK_PATH, {RUN_HEADER: "wiremock-warm"}, POST_BODY),
    }
    warm = WarmUp({name: [] for name in specs})
    started = time.monotonic()
    sent = 0
    while True:
        for name, spec in specs.items():
            r = load.run(spec, conns, CHUNK_S)
            warm.chunks[name].append(float(r["rps"]))
            if name == "wiremock-post-webhook":
                sent += int(r["requests"])
                receiver.wait_for("wiremock-warm", sent, time.time(), 60.0)
        warm.seconds = time.monotonic() - started
        warm.settled = all(settled(v) for v in warm.chunks.values())
        log(
            f"  wiremock warm-up {warm.seconds:5.0f}s: "
            + ", ".join(f"{k.removeprefix('wiremock-')} {v[-1]:,.0f}/s" for k, v in warm.chunks.items())
            + (" (settled)" if warm.settled else "")
        )
        if (warm.settled and warm.seconds >= min_s) or warm.seconds >= max_s:
            return warm
