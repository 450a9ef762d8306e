"""`cxemu serve --state-file` as a process that dies: kill -9 and restart, a corrupt file, `--state-reset`, the
file's mode. The pieces (atomic write, epochs, the saver) are tested in tests/unit/test_durable.py."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator.core.ids import EPOCH_SPAN
from emulator.pytest_plugin import WebhookSink
from tests.support.procs import ROOT, ServerProcess

pytestmark = pytest.mark.server

ACME = {"x-echo-tenant": "acme"}
ECHO = ("--plugin", "tests.support.echo_vendor:PLUGIN")


def serve(tmp_path: Path, state_file: Path, name: str, *extra: str) -> ServerProcess:
    return ServerProcess(
        "--port", "0", "--clock", "virtual", *ECHO, "--state-file", str(state_file), "--log-level", "warning",
        *extra, log=tmp_path / f"{name}.stderr",
    )  # fmt: skip


def saved_when(path: Path, ready: Callable[[dict[str, Any]], bool], timeout: float = 120.0) -> dict[str, Any]:
    """Wait until the state file's content passes `ready` (it is rewritten by the server's periodic saves)."""
    deadline = time.monotonic() + timeout
    seen: dict[str, Any] = {}
    while time.monotonic() < deadline:
        if path.exists():
            seen = json.loads(path.read_bytes())  # never partial: the file is replaced atomically
            if ready(seen):
                return seen
        time.sleep(0.02)
    raise AssertionError(f"the state file never got there; last seen: {json.dumps(seen)[:2000]}")


def items_of(saved: dict[str, Any]) -> list[str]:
    return sorted(saved["store"].get("echo", {}).get("acme", {}).get("state", {}).get("items", {}))


def create(http: httpx.Client, text: str) -> str:
    r = http.post("/echo/v1/items", json={"text": text}, headers=ACME)
    assert r.status_code == 201, r.text
    item_id: str = r.json()["id"]
    return item_id


def deliveries(http: httpx.Client, **params: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = http.get("/_emulator/deliveries", params=params).json()["deliveries"]
    return found


def test_after_kill_9_no_id_is_issued_again_and_nothing_delivered_is_sent_again_as_new(
    tmp_path: Path, webhook_sink: WebhookSink
) -> None:
    state_file = tmp_path / "state.json"
    first = serve(tmp_path, state_file, "first", "--state-save-interval", "0.05")
    try:
        with httpx.Client(base_url=first.url, timeout=60) as http:
            assert http.put("/echo/v1/webhook", json={"url": webhook_sink.url_for()}, headers=ACME).status_code == 204
            assert [create(http, "one"), create(http, "two")] == ["it-1", "it-2"]
            webhook_sink.wait_for({"event": "created"}, count=2)
            webhook_sink.respond_with(500)  # the receiver fails: it-3's webhook waits for its retry
            assert create(http, "three") == "it-3"
            webhook_sink.wait_for({"id": "it-3"}, headers={"x-sink-status": "500"})

            def ready(saved: dict[str, Any]) -> bool:
                pending = saved["deliveries"]["pending"]
                logged = {d["subject"]: d["status"] for d in saved["durable"]["log"]}
                return (
                    items_of(saved) == ["it-1", "it-2", "it-3"]
                    and [(d["subject"], len(d["attempts"])) for d in pending] == [("it-3", 1)]
                    and logged == {"it-1": "delivered", "it-2": "delivered"}
                )

            periodic = saved_when(state_file, ready)  # a periodic save, the server still running
            assert periodic["durable"]["running"] is True

            # after that save: it-3's webhook goes out, it-4 is created and delivered
            webhook_sink.respond_with(200)
            assert http.post("/_emulator/clock/advance", json={"seconds": 60}).status_code == 200
            webhook_sink.wait_for({"id": "it-3"}, headers={"x-sink-status": "200"})
            assert create(http, "four") == "it-4"
            webhook_sink.wait_for({"id": "it-4"})
            assert http.post("/_emulator/clock/advance", json={"seconds": 0}).status_code == 200  # settle
            before = deliveries(http)
            assert {d["status"] for d in before} == {"delivered"}
        first.kill()  # SIGKILL: no shutdown, no final save
    finally:
        first.kill()
    # Whatever later periodic saves wrote, put the file back as that save left it: everything after it is what a
    # crash loses, at the worst moment, whatever the timing of the saves was.
    state_file.write_text(json.dumps(periodic), encoding="utf-8")
    issued_items = {"it-1", "it-2", "it-3", "it-4"}
    issued_events = {r.headers["x-echo-event-id"] for r in webhook_sink.requests}
    issued_deliveries = {d["id"] for d in before}
    event_of = {r.json["id"]: r.headers["x-echo-event-id"] for r in webhook_sink.requests}
    webhook_sink.clear()

    second = serve(tmp_path, state_file, "second")
    try:
        with httpx.Client(base_url=second.url, timeout=60) as http:
            assert http.get("/_emulator/state").json()["epoch"] == 1
            assert http.get("/echo/v1/items/it-4", headers=ACME).status_code == 404  # lost with the crash
            new_items = [create(http, "five"), create(http, "six")]
            assert new_items == [f"it-{EPOCH_SPAN + 4}", f"it-{EPOCH_SPAN + 5}"]
            assert issued_items.isdisjoint(new_items)
            webhook_sink.wait_for({"event": "created"}, count=2)
            assert http.post("/_emulator/clock/advance", json={"seconds": 60}).status_code == 200  # it-3's retry
            [resent] = webhook_sink.wait_for({"id": "it-3"})
            assert http.post("/_emulator/clock/advance", json={"seconds": 0}).status_code == 200  # settle
            assert deliveries(http, status="pending") == []
            after = deliveries(http)

        assert second.terminate() == 0, second.stderr()
    finally:
        second.kill()
    assert "Traceback" not in second.stderr()

    # it-3's webhook may have gone out before the crash: sent again, at least once, as a retry of the same event
    assert resent.headers["x-echo-event-id"] == event_of["it-3"]
    assert int(resent.headers["x-echo-attempt"]) >= 1
    # nothing else from before the crash was sent again; everything new has ids never seen before
    received = sorted((r.json["id"], r.headers["x-echo-attempt"]) for r in webhook_sink.requests)
    assert received == sorted([("it-3", resent.headers["x-echo-attempt"]), *((i, "0") for i in new_items)])
    new_events = {r.headers["x-echo-event-id"] for r in webhook_sink.requests if r.json["id"] in new_items}
    assert len(new_events) == 2
    assert issued_events.isdisjoint(new_events)
    settled_before_save = {d["id"] for d in before if d["subject"] in ("it-1", "it-2")}
    logged = {d["id"]: d for d in after}
    assert settled_before_save <= set(logged)  # the delivery log survived
    new_deliveries = {d["id"] for d in after if d["subject"] in new_items}
    assert len(new_deliveries) == 2
    assert issued_deliveries.isdisjoint(new_deliveries)

    # a clean stop keeps the epoch: the next start goes on exactly where this one stopped
    clean = json.loads(state_file.read_text(encoding="utf-8"))
    assert (clean["durable"]["running"], clean["epoch"]) == (False, 1)
    third = serve(tmp_path, state_file, "third")
    try:
        with httpx.Client(base_url=third.url, timeout=60) as http:
            assert create(http, "seven") == f"it-{EPOCH_SPAN + 6}"
        assert third.terminate() == 0, third.stderr()
    finally:
        third.kill()


def test_the_journal_survives_a_restart(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    first = serve(tmp_path, state_file, "first")
    try:
        with httpx.Client(base_url=first.url, timeout=60) as http:
            create(http, "kept")
        assert first.terminate() == 0, first.stderr()
    finally:
        first.kill()
    second = serve(tmp_path, state_file, "second")
    try:
        with httpx.Client(base_url=second.url, timeout=60) as http:
            journal = http.get("/_emulator/requests", params={"path": "/echo/v1/items"}).json()["requests"]
            assert [(e["method"], e["body"], e["status"]) for e in journal] == [("POST", {"text": "kept"}, 201)]
        assert second.terminate() == 0, second.stderr()
    finally:
        second.kill()


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`cxemu serve` run to its end (the timeout only guards the test run: a start that hangs fails it)."""
    return subprocess.run(
        [sys.executable, "-m", "emulator", "serve", "--port", "0", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: text[: len(text) // 2],
        lambda text: "",
        lambda text: text.replace('"version":1', '"version":"1"'),
    ],
    ids=["truncated", "empty", "wrong-type"],
)
def test_a_corrupt_state_file_stops_the_start_with_one_line_and_exit_2(
    tmp_path: Path, damage: Callable[[str], str]
) -> None:
    state_file = tmp_path / "state.json"
    first = serve(tmp_path, state_file, "first")
    try:
        with httpx.Client(base_url=first.url, timeout=60) as http:
            create(http, "x" * 150)
        assert first.terminate() == 0, first.stderr()
    finally:
        first.kill()
    good = state_file.read_text(encoding="utf-8")
    state_file.write_text(damage(good), encoding="utf-8")

    done = run_cli(*ECHO, "--state-file", str(state_file))
    assert done.returncode == 2
    assert done.stdout == ""  # it never started: no banner
    [line] = done.stderr.splitlines()
    assert line.startswith(f"cxemu: error: state file {state_file}: cannot be restored: ")
    assert line.endswith("(--state-reset starts empty instead)")
    assert state_file.read_text(encoding="utf-8") == damage(good)  # left as it was, for a look


def test_state_reset_starts_empty_over_a_corrupt_file_and_replaces_it(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    state_file.write_text('{"version": 1, "store": {"echo": ', encoding="utf-8")
    server = serve(tmp_path, state_file, "reset", "--state-reset")
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            assert http.get("/_emulator/tenants").json()["tenants"] == []
            replaced = json.loads(state_file.read_text(encoding="utf-8"))  # saved at start
            assert (replaced["store"], replaced["durable"]["running"]) == ({}, True)
            assert create(http, "fresh") == "it-1"
        assert server.terminate() == 0, server.stderr()
    finally:
        server.kill()
    assert items_of(json.loads(state_file.read_text(encoding="utf-8"))) == ["it-1"]


def test_the_state_file_is_owner_only(tmp_path: Path) -> None:
    fresh, older = tmp_path / "fresh.json", tmp_path / "older.json"
    older.write_text(
        json.dumps({"version": 1, "seed": 0, "clock": {"mode": "virtual", "now": 1.0e9}, "store": {}, "jobs": []}
                   | {"deliveries": {"next_seq": 1, "pending": []}}),
        encoding="utf-8",
    )  # fmt: skip
    older.chmod(0o644)  # as a version before this one wrote it
    for path in (fresh, older):
        server = serve(tmp_path, path, path.stem)
        try:
            assert httpx.get(f"{server.url}/_emulator/health", timeout=60).status_code == 200  # started
            assert stat.S_IMODE(path.stat().st_mode) == 0o600  # saved at start, holding every tenant's secrets
            assert server.terminate() == 0, server.stderr()
        finally:
            server.kill()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".tmp") == []
