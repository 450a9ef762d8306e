"""The client commands against a real server: `python -m emulator serve` in a child process (virtual clock), and
`cxemu` run in this process (`emulator.cli.main`) the way a user's shell runs it, its output captured."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from emulator.cli import main
from tests.support.procs import ServerProcess

ADMIN = "cli-admin-token-0123456789"

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One virtual-clock server per test module (tests use tenants of their own)."""
    log = tmp_path_factory.mktemp("cli") / "server.log"
    proc = ServerProcess("--port", "0", "--clock", "virtual", "--seed", "3", log=log)
    try:
        yield proc
    finally:
        proc.terminate()


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server whose control plane needs the admin token."""
    log = tmp_path_factory.mktemp("cli-admin") / "server.log"
    proc = ServerProcess("--port", "0", "--clock", "virtual", "--admin-token", ADMIN, log=log)
    try:
        yield proc
    finally:
        proc.terminate()


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """`cli(*args)` runs `cxemu *args` and returns (exit status, stdout, stderr)."""
    monkeypatch.delenv("CXEMU_ADMIN_TOKEN", raising=False)

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's own exits (bad options)
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def control(server: ServerProcess, method: str, path: str, **kwargs: object) -> httpx.Response:
    """A control-plane request made directly (to set up or check what a command did)."""
    return httpx.request(method, f"{server.url}/_emulator{path}", timeout=30, **kwargs)  # type: ignore[arg-type]


def start_8x8_conversation(server: ServerProcess, key: dict[str, str]) -> str:
    """A conversation started through the 8x8 API with `key` (a tenant's 8x8 credentials); its id."""
    created = httpx.post(
        f"{server.url}/chat-gateway/v1/conversations",
        json={"channelId": key["channelId"], "user": {"name": "Ann"}},
        headers={"x-api-key": key["apiKey"]},
        timeout=30,
    )
    assert created.status_code == 202, created.text
    return str(created.json()["conversationId"])


def new_8x8_conversation(server: ServerProcess, tenant: str) -> str:
    """A conversation of a newly provisioned 8x8 tenant."""
    r = control(server, "POST", "/tenants", json={"tenant": tenant, "vendors": ["eightbyeight"]})
    assert r.status_code == 201, r.text
    return start_8x8_conversation(server, r.json()["credentials"]["eightbyeight"])


def library() -> Path:
    return Path(__file__).resolve().parents[2] / "scenarios"
