"""`cxemu tail` against a real server: the unified journal (SPEC §1) as console lines or JSON, filtered, and resumed
after a dropped connection (a proxy cuts it) with no entry lost or shown twice; its errors."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cli.conftest import ADMIN, Cli, control, new_8x8_conversation
from tests.cli.proxy import CuttingProxy
from tests.support.procs import ROOT, ServerProcess


class Tail:
    """`python -m emulator tail ...` as a child process, its stdout read line by line."""

    def __init__(self, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CXEMU_")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "emulator", "tail", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._buffer = b""

    def line(self, timeout: float = 30.0) -> str:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self.proc.stdout, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    raise AssertionError(f"tail printed no line within {timeout:g}s")
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                    raise AssertionError(f"tail exited with {self.proc.wait()}: {err}")
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode()

    def lines(self, count: int) -> list[str]:
        return [self.line() for _ in range(count)]

    def close(self) -> int:
        try:
            return self.proc.wait(30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(10)
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()


@pytest.fixture
def tails() -> Iterator[list[Tail]]:
    made: list[Tail] = []
    yield made
    for tail in made:
        if tail.proc.poll() is None:
            tail.proc.kill()
        tail.close()


def journal(server: ServerProcess, **filters: str) -> list[dict[str, Any]]:
    r = control(server, "GET", "/journal", params={**filters, "limit": "1000"})
    assert r.status_code == 200, r.text
    return list(r.json()["entries"])


def test_tail_prints_the_tenants_journal_as_console_lines(server: ServerProcess, tails: list[Tail]) -> None:
    control(server, "POST", "/tenants", json={"tenant": "t-tail", "vendors": ["eightbyeight"]})
    tail = Tail("--url", server.url, "--tenant", "t-tail", "--after", "0", "--count", "200")
    tails.append(tail)
    conv = new_8x8_conversation(server, "t-tail")
    control(server, "POST", "/clock/advance", params={"tenant": "t-tail"}, json={"seconds": 1})
    entries = journal(server, tenant="t-tail")
    lines = tail.lines(len(entries))
    assert len(lines) == len(entries)
    request = next(line for line in lines if " request POST /chat-gateway/v1/conversations -> 202 (" in line)
    assert request.startswith("2026-01-01T00:00:00.000Z eightbyeight/t-tail request ")
    attempt = next(line for line in lines if " QUEUED " in line and " -> " in line and "[200]" in line)
    assert f" eightbyeight/t-tail QUEUED {conv} -> http://" in attempt


def test_tail_json_prints_the_entries_as_the_journal_has_them(server: ServerProcess, tails: list[Tail]) -> None:
    control(server, "POST", "/tenants", json={"tenant": "t-tail-json", "vendors": ["eightbyeight"]})
    tail = Tail("--url", server.url, "--tenant", "t-tail-json", "--kind", "request", "--json", "--after", "0")
    tails.append(tail)
    new_8x8_conversation(server, "t-tail-json")
    [expected] = journal(server, tenant="t-tail-json", kind="request")
    assert json.loads(tail.line()) == expected


def test_tail_resumes_after_a_dropped_connection_without_a_gap(server: ServerProcess, tails: list[Tail]) -> None:
    proxy = CuttingProxy(server.url)
    try:
        control(server, "POST", "/tenants", json={"tenant": "t-tail-cut", "vendors": ["eightbyeight"]})
        tail = Tail("--url", proxy.url, "--tenant", "t-tail-cut", "--kind", "request", "--json", "--count", "6")
        tails.append(tail)
        proxy.wait_accepted(1)
        new_8x8_conversation(server, "t-tail-cut")
        first = json.loads(tail.line())
        proxy.cut()
        for _ in range(5):  # while the tail is cut off: the server keeps them for the replay
            new_8x8_conversation(server, "t-tail-cut")
        proxy.wait_accepted(2)  # it came back
        rest = [json.loads(line) for line in tail.lines(5)]
        assert tail.close() == 0
    finally:
        proxy.close()
    expected = journal(server, tenant="t-tail-cut", kind="request")
    assert [e["id"] for e in [first, *rest]] == [e["id"] for e in expected]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--kind", "webhook"), "--kind webhook: not a journal kind (request, control, event,"),
        (("--after", "-1"), "argument --after: must be 0 or more"),
        (("--count", "0"), "argument --count: must be 1 or more"),
    ],
    ids=["unknown-kind", "negative-after", "zero-count"],
)
def test_tail_argument_errors_are_one_line(
    cli: Cli, server: ServerProcess, args: tuple[str, ...], expected: str
) -> None:
    code, _, err = cli("tail", *args, "--url", server.url)
    assert code == 2
    assert err.startswith(f"cxemu: error: {expected}"), err


def test_tail_of_an_unreachable_or_guarded_server_is_one_line(cli: Cli, guarded_server: ServerProcess) -> None:
    code, _, err = cli("tail", "--url", "http://127.0.0.1:9")
    assert (code, err.count("\n")) == (2, 1)
    assert err.startswith("cxemu: error: cannot reach cxemu at http://127.0.0.1:9 (")
    code, _, err = cli("tail", "--url", guarded_server.url)
    assert (code, err) == (
        2,
        "cxemu: error: 401 unauthorized: pass the admin token (--admin-token or CXEMU_ADMIN_TOKEN)\n",
    )
    assert ADMIN
