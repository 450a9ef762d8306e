"""The scorecard of a receiver: its wire models (the endpoint's reply, what `score` returns), the checks' ids and
titles, and its three renderings: a text table, a replayable `curl` per request of a failure, and JUnit XML.

Pure: no I/O, nothing of the server's; the CLI and the pytest helper use it on the JSON the server sent.
"""

from __future__ import annotations

import base64
import shlex
from typing import Literal
from xml.etree import ElementTree as ET

from pydantic import BaseModel, Field

Status = Literal["pass", "fail", "advisory", "not-applicable"]
Evidence = Literal["journal", "probe", "status"]

SIGNATURE_CHECKS: tuple[tuple[str, str], ...] = (
    ("signed-accepted", "a valid signed delivery is answered 2xx within the vendor's timeout"),
    ("tampered-body-rejected", "a body changed after signing is answered 4xx"),
    ("wrong-key-rejected", "a delivery signed with a key or secret that is not the tenant's is answered 4xx"),
    ("missing-signature-rejected", "a delivery without its signature header is answered 4xx"),
    ("malformed-signature-rejected", "garbage in the signature header is answered 4xx"),
    ("jws-alg-none-rejected", 'a JWS with alg "none" and no signature is answered 4xx'),
    ("jws-hs256-confusion-rejected", "an HS256 JWS keyed with the public key (PEM and JWK forms) is answered 4xx"),
    ("jws-attached-payload-rejected", "a JWS with its payload attached instead of detached is answered 4xx"),
    ("stale-timestamp-rejected", "a validly signed delivery with a one-hour-old timestamp is answered 4xx"),
)
DELIVERY_CHECKS: tuple[tuple[str, str], ...] = (
    ("retry-deduplicated", "the same event re-sent as the vendor's retry is answered 2xx with no second side effect"),
    ("concurrent-deduplicated", "two copies of one event sent at once give one side effect"),
    ("lost-ack-deduplicated", "a delivery whose answer is lost, then the vendor's retry, give one side effect"),
    ("distinct-events-kept", "two events with the same body but different event ids give two side effects"),
    ("out-of-order-tolerated", "a conversation's events sent in reverse order get no 5xx"),
    ("unknown-event-tolerated", "an unknown event type is answered 2xx"),
    ("extra-fields-tolerated", "a known event with extra unknown fields is answered 2xx"),
    ("burst-within-timeout", "a burst of concurrent deliveries is all answered within the vendor's timeout"),
    ("no-redirect", "a delivery is never answered with a redirect (vendors do not follow them)"),
    ("edge-large-payload", "a 1 MB message gets no 5xx and no dropped connection"),
    ("edge-unicode-payload", "RTL text, emoji, surrogate pairs and control characters get no 5xx"),
    ("edge-empty-payload", "an empty body and `{}` get a 2xx or 4xx, never a 5xx or a dropped connection"),
)
CHECKS: dict[str, str] = dict(SIGNATURE_CHECKS + DELIVERY_CHECKS)
"""Every check id (stable: scorecards, JUnit test names and example receivers use them) and its title."""


class SentRequest(BaseModel):
    """One request the battery sent, byte for byte, and what came back."""

    method: str = "POST"
    url: str
    headers: dict[str, str]
    body_base64: str = Field(description="the exact body bytes, base64")
    body_text: str = Field(description="the body as UTF-8 text (undecodable bytes replaced)")
    status: int | None = Field(description="the receiver's status; null when no answer was read")
    latency_ms: float | None = None
    error: str | None = Field(None, description="why no answer was read (timeout, connection dropped)")
    note: str = Field("", description="what this request is (e.g. `retry 1`, `alg none`)")

    @property
    def body(self) -> bytes:
        return base64.b64decode(self.body_base64)


class CheckResult(BaseModel):
    id: str
    title: str
    status: Status
    evidence: Evidence
    detail: str = Field(description="one sentence")
    requests: list[SentRequest] = Field(default_factory=list, description="for fail and advisory: what was sent")


class Summary(BaseModel):
    passed: int = Field(0, alias="pass")
    fail: int = 0
    advisory: int = 0
    not_applicable: int = Field(0, alias="not-applicable")

    model_config = {"populate_by_name": True, "serialize_by_alias": True}


class Scorecard(BaseModel):
    vendor: str
    tenant: str
    url: str
    oracle: Evidence = Field(description="the strongest side-effect oracle this receiver allowed")
    results: list[CheckResult]
    summary: Summary

    def result(self, check: str) -> CheckResult:
        return next(r for r in self.results if r.id == check)

    @property
    def failed(self) -> set[str]:
        return {r.id for r in self.results if r.status == "fail"}


def summarize(results: list[CheckResult]) -> Summary:
    counts = {s: sum(1 for r in results if r.status == s) for s in ("pass", "fail", "advisory", "not-applicable")}
    return Summary.model_validate(counts)


def table(card: Scorecard) -> str:
    """The scorecard as a text table: id, status, evidence, detail."""
    rows = [("check", "status", "evidence", "detail")]
    rows += [(r.id, r.status, r.evidence, r.detail) for r in card.results]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:<{widths[2]}}  {d}" for a, b, c, d in rows]
    s = card.summary
    lines.append("")
    lines.append(
        f"{card.vendor} receiver {card.url} (tenant {card.tenant}, oracle {card.oracle}): "
        f"{s.passed} pass, {s.fail} fail, {s.advisory} advisory, {s.not_applicable} not applicable"
    )
    return "\n".join(lines)


def ansi_c(data: bytes) -> str:
    """`data` as a bash `$'...'` word that gives back exactly these bytes."""
    out = []
    for b in data:
        ch = chr(b)
        if ch == "'" or ch == "\\":
            out.append("\\" + ch)
        elif 0x20 <= b < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\x{b:02x}")
    return "$'" + "".join(out) + "'"


def curl(req: SentRequest, body_file: str | None = None) -> str:
    """A `curl` command that sends `req` again, byte for byte: the body from `body_file` (`--data-binary @file`)
    when given, else inline as a `$'...'` word."""
    parts = ["curl", "-sS", "-i", "-X", req.method, shlex.quote(req.url)]
    for name, value in req.headers.items():
        parts += ["-H", shlex.quote(f"{name}: {value}")]
    if body_file is not None:
        parts += ["--data-binary", shlex.quote("@" + body_file)]
    else:
        parts += ["--data-binary", ansi_c(req.body)]
    return " ".join(parts)


def junit(card: Scorecard) -> bytes:
    """The scorecard as JUnit XML (the Ant/Jenkins schema): one testsuite, one testcase per check; a fail is a
    `<failure>`, not-applicable `<skipped>`, an advisory passes with its detail in `<system-out>`."""
    s = card.summary
    suite = ET.Element(
        "testsuite",
        {
            "name": f"cxemu verify-receiver {card.vendor}",
            "tests": str(len(card.results)),
            "failures": str(s.fail),
            "errors": "0",
            "skipped": str(s.not_applicable),
            "time": "0",
        },
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (("url", card.url), ("tenant", card.tenant), ("oracle", card.oracle)):
        ET.SubElement(props, "property", {"name": name, "value": value})
    for r in card.results:
        case = ET.SubElement(suite, "testcase", {"name": r.id, "classname": f"cxemu.verify.{card.vendor}", "time": "0"})
        text = f"{r.detail} (evidence: {r.evidence})"
        if r.status == "fail":
            failure = ET.SubElement(case, "failure", {"message": r.detail, "type": "fail"})
            failure.text = "\n".join([text, *(curl(q) for q in r.requests)])
        elif r.status == "not-applicable":
            ET.SubElement(case, "skipped", {"message": r.detail})
        elif r.status == "advisory":
            out = ET.SubElement(case, "system-out")
            out.text = f"advisory: {text}"
    suites = ET.Element("testsuites")
    suites.append(suite)
    xml: bytes = ET.tostring(suites, encoding="utf-8", xml_declaration=True)
    return xml
