"""The client's console lines read as the server's own webhook line (`core.console`), and its server-sent event
parser reads the journal stream's frames (ids, kinds, comments and heartbeats, multi-line data)."""

from __future__ import annotations

import json

import pytest

from emulator.client import Frame, attempt_line, entry_line, parse_sse
from emulator.core.console import ConsoleLines
from emulator.core.delivery import Attempt, Delivery

AT = 1767225600.2


def delivery(status: str, *attempts: Attempt) -> Delivery:
    d = Delivery("dlv_0000007", 7, "eightbyeight", "demo", "ev", "QUEUED", "conv1", "http://h/hook", b"{}", {}, AT, AT)
    d.status = status  # type: ignore[assignment]  # one of the literal statuses, given by each case
    d.attempts.extend(attempts)
    if status == "pending":
        d.not_before = AT + 10
    return d


@pytest.mark.parametrize(
    "d",
    [
        delivery("delivered", Attempt(0, AT, "http://h/hook", {}, status=200, latency_ms=1.44)),
        delivery("pending", Attempt(0, AT, "http://h/hook", {}, status=500, latency_ms=3.0)),
        delivery("failed", Attempt(0, AT, "http://h/hook", {}, error="cannot connect", latency_ms=0.3)),
        delivery(
            "delivered",
            Attempt(0, AT, "http://h/hook", {}, status=200, latency_ms=1.0),
            Attempt(0, AT, "http://h/hook", {}, status=200, latency_ms=1.0, chaos="duplicate"),
        ),
        delivery(
            "delivered",
            Attempt(0, AT, "http://h/hook", {}, error="dropped by chaos", chaos="drop_first"),
            Attempt(1, AT + 1, "http://h/hook", {}, status=204, latency_ms=2.0),
        ),
    ],
    ids=["delivered", "retry", "gave-up", "duplicate", "second-attempt"],
)
def test_an_attempt_line_is_the_servers_console_line_and_the_delivery_id(d: Delivery) -> None:
    console = ConsoleLines(lambda tenant: d.attempts[-1].at)
    a = d.attempts[-1]
    assert attempt_line(d.to_json(), d.to_json()["attempts"][-1]) == f"{console.line(d, a, a.at)} {d.id}"


@pytest.mark.parametrize(
    ("entry", "line"),
    [
        (
            {
                "kind": "request",
                "type": "POST /chat-gateway/v1/conversations",
                "data": {"status": 202, "latency_ms": 2},
            },
            "2026-01-01T00:00:00.200Z eightbyeight/demo request POST /chat-gateway/v1/conversations -> 202 (2.0 ms)",
        ),
        (
            {"kind": "control", "type": "POST /_emulator/clock/advance", "data": {"status": 200}},
            "2026-01-01T00:00:00.200Z eightbyeight/demo control POST /_emulator/clock/advance -> 200",
        ),
        (
            {"kind": "event", "type": "QUEUED", "subject": "conv1", "data": {}},
            "2026-01-01T00:00:00.200Z eightbyeight/demo event QUEUED conv1",
        ),
        (
            {
                "kind": "attempt",
                "type": "QUEUED",
                "subject": "conv1",
                "data": {
                    "delivery_id": "dlv_1",
                    "n": 1,
                    "url": "http://h/",
                    "status": 500,
                    "latency_ms": 1,
                    "error": None,
                    "chaos": None,
                    "outcome": "retry",
                    "next_at": AT + 10,
                },
            },
            "2026-01-01T00:00:00.200Z eightbyeight/demo QUEUED conv1 -> http://h/ [500], retry in 10 s "
            "(1.0 ms, attempt 2) dlv_1",
        ),
        (
            {"kind": "action", "type": "say", "subject": "conv1", "party": "agent", "data": {"text": "Hi"}},
            '2026-01-01T00:00:00.200Z eightbyeight/demo action agent say conv1 "Hi"',
        ),
        (
            {"kind": "timer", "type": "eightbyeight.offer", "vendor": None, "tenant": None, "data": {}},
            "2026-01-01T00:00:00.200Z cxemu timer eightbyeight.offer -",
        ),
    ],
    ids=["request", "control", "event", "attempt", "action", "kernel-wide"],
)
def test_each_journal_kind_has_its_line(entry: dict[str, object], line: str) -> None:
    assert entry_line({"vendor": "eightbyeight", "tenant": "demo", "at": AT, **entry}) == line


def test_the_sse_parser_reads_frames_and_skips_comments() -> None:
    stream = [
        ": cxemu event stream",
        "",
        "id: 41",
        "event: request",
        'data: {"id": 41,',
        'data:  "kind": "request"}',
        "",
        ": heartbeat",
        "",
        "event: gap",
        'data: {"lost": 3}',
        "",
    ]
    assert list(parse_sse(iter(stream))) == [
        Frame(41, "request", {"id": 41, "kind": "request"}),
        Frame(None, "gap", json.loads('{"lost": 3}')),
    ]
