"""The state file (core/durable.py): atomic 0600 writes, the saver, reading a bad file, and what a restore of a
file from a server that died changes (a new id epoch, deliveries re-sent as retries, journal and log kept).

The process-level behaviour (kill -9, exit codes) is in tests/server/test_durable_state.py."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import stat
import tempfile
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from emulator.cli import main
from emulator.core import durable
from emulator.core.errors import ConfigError
from emulator.core.ids import EPOCH_SPAN, TenantIds, fmt_sequence
from emulator.core.journal import JournalEntry
from emulator.core.runtime import Emulator
from emulator.scenarios.receiver import WebhookSink
from tests.conftest import AppFactory, EmulatorFactory, make_settings
from tests.support import echo_vendor

ACME = {"x-echo-tenant": "acme"}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- the atomic write -------------------------------------------------------------------------------------


def test_the_file_is_owner_only_from_its_creation_even_over_a_world_readable_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.json"
    path.write_text("{}", encoding="utf-8")
    path.chmod(0o644)
    created: list[int] = []
    real_mkstemp = tempfile.mkstemp

    def mkstemp(**kwargs: Any) -> tuple[int, str]:
        fd, name = real_mkstemp(**kwargs)
        created.append(stat.S_IMODE(os.fstat(fd).st_mode))  # before a byte is written
        return fd, name

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    old_umask = os.umask(0)  # a permissive umask changes nothing: the mode is set at creation
    try:
        durable.write_json(path, {"secret": "token"})
    finally:
        os.umask(old_umask)
    assert created == [0o600]
    assert mode(path) == 0o600
    assert json.loads(path.read_text(encoding="utf-8")) == {"secret": "token"}


def test_the_data_is_on_disk_before_the_rename_and_the_rename_is_synced_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.json"
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append("fsync dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file")
        real_fsync(fd)

    def replace(src: str, dst: str | Path) -> None:
        assert json.loads(Path(src).read_text(encoding="utf-8")) == {"n": 1}  # complete before it gets the name
        calls.append("rename")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    durable.write_json(path, {"n": 1})
    assert calls == ["fsync file", "rename", "fsync dir"]


def test_a_save_that_fails_midway_leaves_the_previous_file_whole_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.json"
    durable.write_json(path, {"version": "old"})

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        durable.write_json(path, {"version": "new", "pad": "x" * 100_000})
    assert json.loads(path.read_text(encoding="utf-8")) == {"version": "old"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_a_reader_never_sees_a_partial_file_while_it_is_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    versions = [{"n": n, "pad": str(n) * 200_000} for n in range(30)]
    durable.write_json(path, versions[0])
    done = threading.Event()

    def writer() -> None:
        for v in versions[1:]:
            durable.write_json(path, v)
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    seen: set[int] = set()
    while True:
        finished = done.is_set()
        data = json.loads(path.read_bytes())  # raises on a partial file
        assert data == versions[data["n"]]
        seen.add(data["n"])
        if finished:
            break
    thread.join()
    assert data["n"] == 29


# -- reading a file that cannot be restored -----------------------------------------------------------------


def good_file() -> dict[str, Any]:
    return {
        "version": 1,
        "seed": 7,
        "clock": {"mode": "virtual", "now": 1_700_000_000.0},
        "store": {},
        "jobs": [],
        "deliveries": {"next_seq": 1, "pending": []},
        "durable": {"running": False, "journal": [], "log": []},
    }


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (json.dumps(good_file())[:60], "not JSON, truncated or corrupt"),
        ("", "not JSON, truncated or corrupt"),
        ("\x00\x00\x00", "not JSON, truncated or corrupt"),
        ("[1, 2]", "not a JSON object"),
        (json.dumps({**good_file(), "version": 2}), "version: Input should be 1"),
        (json.dumps({**good_file(), "durable": {"running": "yes"}}), "durable.running: Value error, must be a boolean"),
        (json.dumps({**good_file(), "extra": 1}), "extra: Extra inputs are not permitted"),
        (json.dumps({**good_file(), "epoch": -1}), "epoch: Input should be greater than or equal to 0"),
    ],
    ids=["truncated", "empty", "binary", "array", "version", "section", "unknown-key", "epoch"],
)
def test_a_file_that_cannot_be_restored_is_one_line_naming_it_and_the_way_out(
    tmp_path: Path, content: str, why: str
) -> None:
    path = tmp_path / "state.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        durable.read_state_file(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"state file {path}: cannot be restored: ")
    assert why in message
    assert message.endswith("(--state-reset starts empty instead)")


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda f: f["store"].update({"echo": {"acme": {"state": {"items": 5}, "counters": {}}}}), "items"),
        (lambda f: f["durable"]["journal"].append({"seq": 1}), "KeyError"),
        (lambda f: f["durable"]["journal"].append(journal_entry(body=5)), "not text"),
    ],
    ids=["vendor-state", "journal-missing-field", "journal-bad-type"],
)
def test_a_file_whose_content_cannot_be_applied_fails_before_start(tmp_path: Path, change: Any, why: str) -> None:
    path = tmp_path / "state.json"
    data = good_file()
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")
    emu = Emulator(make_settings(state_file=str(path)), [echo_vendor.PLUGIN])
    with pytest.raises(ConfigError) as caught:
        emu.load_state()
    assert "\n" not in str(caught.value)
    assert why in str(caught.value)
    assert not emu.started


def journal_entry(**changes: Any) -> dict[str, Any]:
    entry = {
        "seq": 1,
        "at": 1.0,
        "vendor": "echo",
        "tenant": "acme",
        "method": "GET",
        "path": "/echo/v1/items/it-1",
        "query": "",
        "headers": [["x-echo-tenant", "acme"]],
        "body": "",
        "status": 200,
        "latency_ms": 0.5,
    }
    entry.update(changes)
    return entry


def test_a_journal_entry_comes_back_byte_for_byte_whatever_its_bytes() -> None:
    entry = JournalEntry(
        seq=7,
        at=1.5,
        vendor="echo",
        tenant=None,
        method="POST",
        path="/echo/v1/items",
        query=b"a=%FF&b=\xe9",
        headers=[(b"x-echo-tenant", b"acme"), (b"x-raw", b"\xff\x00\xc3")],
        body=b'{"text":"caf\xc3\xa9"}\xff\xfe',
        size=40_000,
        status=400,
        latency_ms=0.25,
    )
    saved = json.loads(json.dumps(entry.persist()))
    assert JournalEntry.restored(saved) == entry
    del saved["size"]  # a file written before entries were excerpts: the body it kept was whole
    assert JournalEntry.restored(saved).size == len(entry.body)


# -- ids in an epoch ----------------------------------------------------------------------------------------


def test_epoch_0_is_the_numbering_of_before_and_a_later_epoch_is_a_range_of_its_own() -> None:
    def draw(epoch: int, counters: dict[str, int]) -> list[str]:
        gen = TenantIds(7, "echo", "a", counters, epoch)
        return [gen.new("item"), gen.new("seq", fmt_sequence(50)), gen.fake("agent").name()]

    assert draw(0, {}) == [
        TenantIds(7, "echo", "a", {}).new("item"),
        "50",
        TenantIds(7, "echo", "a", {}).fake("agent").name(),
    ]
    before = draw(0, {"item": 3, "seq": 3, "fake:agent": 3})
    after = draw(1, {"item": 3, "seq": 3, "fake:agent": 3})
    assert after[1] == str(50 + EPOCH_SPAN + 3)
    assert all(a != b for a, b in zip(before, after, strict=True))
    assert draw(1, {"item": 3, "seq": 3, "fake:agent": 3}) == after  # still a pure function of its inputs


# -- restoring the file of a server that died ----------------------------------------------------------------


async def app_with_file(make_app: AppFactory, path: Path, **overrides: Any) -> tuple[Emulator, httpx.AsyncClient]:
    app, client = await make_app(**{"state_file": str(path), "state_save_interval": 0, **overrides})
    assert isinstance(app, Starlette)
    emu = app.state.emulator
    assert isinstance(emu, Emulator)
    return emu, client


async def create(client: httpx.AsyncClient, text: str) -> str:
    r = await client.post("/echo/v1/items", json={"text": text}, headers=ACME)
    assert r.status_code == 201, r.text
    item_id: str = r.json()["id"]
    return item_id


async def test_a_running_servers_file_restores_into_a_new_epoch_with_its_journal_log_and_retries(
    tmp_path: Path, make_app: AppFactory, webhook_sink: WebhookSink
) -> None:
    path = tmp_path / "state.json"
    first, c1 = await app_with_file(make_app, path)
    assert json.loads(path.read_text(encoding="utf-8"))["durable"]["running"] is True  # saved at start
    assert (await c1.put("/echo/v1/webhook", json={"url": webhook_sink.url_for()}, headers=ACME)).status_code == 204
    assert [await create(c1, "one"), await create(c1, "two")] == ["it-1", "it-2"]
    delivered, _ = await first.dispatcher.wait(lambda d: d.subject in ("it-1", "it-2"), count=2)
    webhook_sink.respond_with(500)
    assert await create(c1, "three") == "it-3"
    [pending] = await first.dispatcher.wait(lambda d: d.subject == "it-3" and len(d.attempts) == 1, settled=False)
    assert first.saver is not None
    assert await first.saver.save(running=True) is None  # what a periodic save writes
    dlv_ids = {d.id for d in first.dispatcher.deliveries()}
    events = {d.event_id for d in first.dispatcher.deliveries()}

    webhook_sink.clear()
    webhook_sink.respond_with(200)
    second, c2 = await app_with_file(make_app, path)  # the first never stopped: its file still says running
    assert second.store.epoch == 1
    assert (await c2.get("/_emulator/state")).json()["epoch"] == 1
    new_id = await create(c2, "four")
    assert new_id == f"it-{EPOCH_SPAN + 4}"
    [new] = await second.dispatcher.wait(lambda d: d.subject == new_id)
    assert new.id not in dlv_ids
    assert new.event_id not in events
    logged = {d.id: d.status for d in second.dispatcher.deliveries()}
    assert logged[delivered.id] == "delivered"  # the log came back, and a delivered one is not sent again
    await second.scheduler.advance(60)
    [retried] = await second.dispatcher.wait(lambda d: d.id == pending.id)
    assert retried.event_id == pending.event_id
    assert [(a.n, a.status, a.error) for a in retried.attempts] == [
        (0, 500, None),
        (1, None, durable.UNCERTAIN),
        (2, 200, None),
    ]
    sent = [(r.json["id"], r.headers["x-echo-attempt"]) for r in webhook_sink.requests]
    assert sorted(sent) == sorted([("it-3", "2"), (new_id, "0")])
    journal = (await c2.get("/_emulator/requests", params={"path": "/echo/v1/items"})).json()["requests"]
    seqs = [e["seq"] for e in journal]
    assert [e["body"]["text"] for e in journal] == ["one", "two", "three", "four"]
    assert seqs[-1] > EPOCH_SPAN > seqs[-2]


async def test_a_clean_stop_keeps_the_epoch_and_continues_the_ids_exactly(
    tmp_path: Path, make_app: AppFactory, make_emulator: EmulatorFactory
) -> None:
    path = tmp_path / "state.json"
    first = await make_emulator(state_file=str(path), state_save_interval=0)
    first.store.epoch = 1
    async with first.store.tenant("echo", "acme") as tx:
        assert tx.ids.new("x", fmt_sequence(1)) == str(EPOCH_SPAN + 1)
    await first.stop()
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert (saved["durable"]["running"], saved["epoch"]) == (False, 1)

    second, client = await app_with_file(make_app, path)
    assert second.store.epoch == 1
    async with second.store.tenant("echo", "acme") as tx:
        assert tx.ids.new("x", fmt_sequence(1)) == str(EPOCH_SPAN + 2)
    snapshot = (await client.get("/_emulator/state")).json()
    third, other = await app_with_file(make_app, tmp_path / "other.json")
    assert third.store.epoch == 0
    assert (await other.post("/_emulator/state", json=snapshot)).status_code == 200  # the epoch goes with it
    assert third.store.epoch == 1


async def test_an_older_file_without_the_section_restores_as_a_clean_one(
    tmp_path: Path, make_emulator: EmulatorFactory
) -> None:
    path = tmp_path / "state.json"
    data = good_file()
    del data["durable"]
    data["store"] = {"echo": {"acme": {"state": {}, "counters": {"item": 2}}}}
    path.write_text(json.dumps(data), encoding="utf-8")
    emu = await make_emulator(state_file=str(path), state_save_interval=0)
    assert emu.store.epoch == 0
    async with emu.store.tenant("echo", "acme") as tx:
        assert tx.ids.new("item", fmt_sequence(1)) == "3"


async def test_state_reset_starts_empty_and_replaces_the_file(tmp_path: Path, make_emulator: EmulatorFactory) -> None:
    path = tmp_path / "state.json"
    path.write_text('{"version": 1, "seed"', encoding="utf-8")
    emu = await make_emulator(state_file=str(path), state_save_interval=0, state_reset=True)
    assert emu.store.tenants() == []
    assert json.loads(path.read_text(encoding="utf-8"))["durable"]["running"] is True


# -- the saver ----------------------------------------------------------------------------------------------


async def test_the_saver_saves_on_its_interval_while_the_server_runs(tmp_path: Path, make_app: AppFactory) -> None:
    path = tmp_path / "state.json"
    _, client = await app_with_file(make_app, path, state_save_interval=0.01)
    await create(client, "one")
    while "it-1" not in path.read_text(encoding="utf-8"):  # noqa: ASYNC110 (waits on the file: a periodic save)
        await asyncio.sleep(0.01)
    assert json.loads(path.read_text(encoding="utf-8"))["durable"]["running"] is True


async def test_a_save_is_skipped_when_nothing_changed_and_an_interval_of_0_saves_only_at_start_and_stop(
    tmp_path: Path, make_app: AppFactory
) -> None:
    path = tmp_path / "state.json"
    emu, client = await app_with_file(make_app, path)
    saver = emu.saver
    assert saver is not None
    assert saver.saves == 1  # at start
    assert await saver.save(running=True) is None
    assert saver.saves == 1  # nothing changed: nothing written
    await create(client, "one")
    assert "it-1" not in path.read_text(encoding="utf-8")  # no periodic save with an interval of 0
    assert await saver.save(running=True) is None
    assert saver.saves == 2
    assert "it-1" in path.read_text(encoding="utf-8")
    await emu.stop()
    assert saver.saves == 3
    assert json.loads(path.read_text(encoding="utf-8"))["durable"]["running"] is False


async def test_saves_never_overlap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gate, entered = threading.Event(), threading.Event()
    active: list[int] = []
    running = 0
    lock = threading.Lock()

    def slow_write(path: Path, data: Any) -> None:
        nonlocal running
        with lock:
            running += 1
            active.append(running)
        entered.set()
        gate.wait(30)
        with lock:
            running -= 1

    monkeypatch.setattr(durable, "write_json", slow_write)
    changes = iter(range(100))
    saver = durable.StateSaver(tmp_path / "s.json", 0, lambda running: dict, lambda: next(changes))
    first = asyncio.create_task(saver.save(running=True))
    second = asyncio.create_task(saver.save(running=False))
    assert await asyncio.to_thread(entered.wait, 30)
    for _ in range(20):
        await asyncio.sleep(0)
    assert active == [1]  # the second waits for the first
    gate.set()
    assert await asyncio.gather(first, second) == [None, None]
    assert active == [1, 1]
    assert saver.saves == 2


# -- the flags ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "line"),
    [
        (["--state-save-interval", "-1"], {}, "--state-save-interval: Input should be greater than or equal to 0"),
        (["--state-save-interval", "soon"], {}, "--state-save-interval: Input should be a valid number"),
        ([], {"CXEMU_STATE_SAVE_INTERVAL": "1e9"}, "CXEMU_STATE_SAVE_INTERVAL: Input should be less than or equal"),
        ([], {"CXEMU_STATE_RESET": "maybe"}, "CXEMU_STATE_RESET: Input should be a valid boolean"),
    ],
    ids=["negative", "not-a-number", "too-long", "reset-not-a-boolean"],
)
def test_bad_state_flags_stop_the_start_in_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, args: list[str], env: dict[str, str], line: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["serve", "--port", "0", *args]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    [got] = err.splitlines()
    assert got.startswith(f"cxemu: error: {line}")


async def test_a_smaller_delivery_log_keeps_the_newest_restored_deliveries(
    tmp_path: Path, make_app: AppFactory, webhook_sink: WebhookSink
) -> None:
    path = tmp_path / "state.json"
    first, client = await app_with_file(make_app, path)
    assert (await client.put("/echo/v1/webhook", json={"url": webhook_sink.url_for()}, headers=ACME)).status_code == 204
    for text in ("one", "two", "three"):
        await create(client, text)
    sent = await first.dispatcher.wait(lambda d: True, count=3)
    await first.stop()

    second, _ = await app_with_file(make_app, path, delivery_log_size=2)
    assert [d.id for d in second.dispatcher.deliveries()] == [d.id for d in sent[1:]]
    assert {d.status for d in second.dispatcher.deliveries()} == {"delivered"}
