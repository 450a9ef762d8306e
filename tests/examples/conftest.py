"""The example receivers (`examples/receivers/`) run for real: each as `python <file> --port 0 --cxemu URL
--tenant T` in a child process, against a real cxemu server (virtual clock, seed 3, Chatwoot signing on) that
serves their keys and takes their calls back. Deliveries are signed with `cxemu sign`."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator.cli import main
from emulator.client import parse_sse
from tests.support.procs import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
RECEIVERS = ROOT / "examples" / "receivers"
SEED = "3"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("receivers")
    config = folder / "cxemu.yaml"
    config.write_text("vendors:\n  sangoma:\n    signing: true\n", encoding="utf-8")
    proc = ServerProcess(
        "--port", "0", "--clock", "virtual", "--seed", SEED, "--config", str(config), log=folder / "server.log"
    )  # fmt: skip
    try:
        yield proc
    finally:
        proc.terminate()


class Receiver:
    """One example receiver in its own process; `url` from the line it prints when it listens."""

    def __init__(self, name: str, cxemu: str, tenant: str, *extra: str, log: Path) -> None:
        self.log = log
        self._stderr = log.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(RECEIVERS / f"{name}.py"),
                "--port",
                "0",
                "--cxemu",
                cxemu,
                "--tenant",
                tenant,
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.proc.stdout, selectors.EVENT_READ)
            if not selector.select(60):
                self.stop()
                raise AssertionError(f"{name} printed nothing within 60 s")
        line = self.proc.stdout.readline().decode()
        if not line.startswith("listening on "):
            self.stop()
            raise AssertionError(f"{name} did not start: {line!r} {log.read_text(errors='replace')[-2000:]!r}")
        self.url = line.removeprefix("listening on ").strip()
        self.http = httpx.Client(timeout=30)

    def post(self, body: bytes, headers: dict[str, str], path: str = "/webhook") -> httpx.Response:
        """One delivery on a connection of its own, as a vendor sends it (uvicorn closes a connection whose
        request raised, which a pooled client would only find out on its next request)."""
        return httpx.post(f"{self.url}{path}", content=body, headers=headers, timeout=30)

    def count(self, event: str | None = None) -> int:
        params = {"event": event} if event is not None else None
        return int(self.http.get(f"{self.url}/count", params=params).json()["count"])

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        self._stderr.close()
        if hasattr(self, "http"):
            self.http.close()


StartReceiver = Callable[..., Receiver]


@pytest.fixture
def start_receiver(server: ServerProcess, tmp_path: Path) -> Iterator[StartReceiver]:
    """`start_receiver(name, tenant, *flags)`: a running example receiver, stopped after the test."""
    started: list[Receiver] = []

    def start(name: str, tenant: str, *extra: str) -> Receiver:
        receiver = Receiver(name, server.url, tenant, *extra, log=tmp_path / f"{name}-{len(started)}.log")
        started.append(receiver)
        return receiver

    try:
        yield start
    finally:
        for receiver in started:
            receiver.stop()


@pytest.fixture
def sign(capsys: pytest.CaptureFixture[str], tmp_path: Path, server: ServerProcess) -> Callable[..., dict[str, str]]:
    """`sign(vendor, tenant, body, *flags)`: the headers `cxemu sign --server` prints for `body`."""

    def run(vendor: str, tenant: str, body: bytes, *flags: str) -> dict[str, str]:
        path = tmp_path / "body.json"
        path.write_bytes(body)
        capsys.readouterr()
        code = main(["sign", "--vendor", vendor, "--tenant", tenant, "--seed", SEED, "--server", server.url,
                     "--body", str(path), "--json", *flags])  # fmt: skip
        out, err = capsys.readouterr()
        assert code == 0, err
        return dict(json.loads(out)["headers"])

    return run


def wait_for_requests(server: ServerProcess, tenant: str, type_: str, count: int = 1) -> list[dict[str, Any]]:
    """The tenant's first `count` vendor API requests of `type_` (`POST /path`) in the journal, as they come."""
    params = {"tenant": tenant, "kind": "request", "type": type_}
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    url = f"{server.url}/_emulator/events"
    with httpx.stream("GET", url, params={**params, "after": "0"}, timeout=httpx.Timeout(30, read=60)) as r:
        for frame in parse_sse(r.iter_lines()):
            if frame.kind == "request":
                found.append(frame.entry)
            if len(found) >= count or time.monotonic() > deadline:
                break
    assert len(found) >= count, f"{len(found)} of {count} {type_} requests of {tenant} within 60 s"
    return found


def journal(server: ServerProcess, tenant: str, type_: str) -> list[dict[str, Any]]:
    """The tenant's vendor API requests of `type_` so far."""
    r = httpx.get(f"{server.url}/_emulator/journal", params={"tenant": tenant, "kind": "request", "type": type_})
    return list(r.json()["entries"])
