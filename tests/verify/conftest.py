"""The battery against real receivers: a cxemu server in a child process (virtual clock), receivers from
`receivers.py` on 127.0.0.1 in this process, and the scorecard asked for over HTTP (`score`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from emulator.verify.client import score
from emulator.verify.scorecard import Scorecard
from tests.support.procs import ServerProcess
from tests.verify.receivers import Receiver, serve

SIGNED_CHATWOOT = "vendors:\n  sangoma:\n    signing: true\n"
SHORT_TIMEOUT = 3
"""The 8x8 receiver timeout (seconds) of `short_server` (8x8's own is 10 s): the battery waits that long (and
`settle`) for a side effect that never comes, or for a receiver that never calls back to do so, and a burst at a
receiver that answers one delivery at a time runs into it."""

Score = Callable[..., Scorecard]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One virtual-clock server per module (each test uses a tenant of its own)."""
    folder = tmp_path_factory.mktemp("verify")
    proc = ServerProcess("--port", "0", "--clock", "virtual", "--seed", "5", log=folder / "server.log")
    try:
        yield proc
    finally:
        proc.terminate()


@pytest.fixture(scope="module")
def signed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A virtual-clock server that signs Chatwoot webhooks (`vendors.sangoma.signing: true`)."""
    folder = tmp_path_factory.mktemp("verify-signed")
    config = folder / "cxemu.yaml"
    config.write_text(SIGNED_CHATWOOT)
    proc = ServerProcess("--port", "0", "--clock", "virtual", "--config", str(config), log=folder / "server.log")
    try:
        yield proc
    finally:
        proc.terminate()


@pytest.fixture(scope="module")
def short_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A virtual-clock server whose 8x8 receivers have `SHORT_TIMEOUT` seconds to answer
    (`webhooks.eightbyeight.timeout`)."""
    folder = tmp_path_factory.mktemp("verify-short")
    config = folder / "cxemu.yaml"
    config.write_text(f"webhooks:\n  eightbyeight:\n    timeout: {SHORT_TIMEOUT}\n")
    proc = ServerProcess("--port", "0", "--clock", "virtual", "--config", str(config), log=folder / "server.log")
    try:
        yield proc
    finally:
        proc.terminate()


def tenant_secret(server: ServerProcess, tenant: str) -> str:
    """The API inbox's webhook secret, as the tenant view shows it (what a Chatwoot receiver is configured with)."""
    import httpx

    made = httpx.post(f"{server.url}/_emulator/tenants", json={"tenant": tenant, "vendors": ["sangoma"]}, timeout=30)
    assert made.status_code == 201, made.text
    view = httpx.get(f"{server.url}/_emulator/vendors/sangoma/tenants/{tenant}", timeout=30).json()
    inbox = next(i for i in view["inboxes"] if i["channel_type"] == "Channel::Api")
    return str(inbox["secret"])


def run_score(
    server: ServerProcess, vendor: str, tenant: str, *, flaw: str | None = None, probe: bool = True,
    calls_back: bool = True, secret: str = "", signed: bool = True, checks: list[str] | None = None,
) -> Scorecard:  # fmt: skip
    rx = Receiver(vendor, server.url, tenant, flaw=flaw, secret=secret, signed=signed, calls_back=calls_back)
    with serve(rx):
        count = rx.url.removesuffix("/webhook") + "/count"
        return score(rx.url, vendor, server=server.url, tenant=tenant, probe=count if probe else None, settle=0.3,
                     checks=checks)  # fmt: skip


def tenant_name(request: pytest.FixtureRequest) -> str:
    return "t-" + "".join(c if c.isalnum() else "-" for c in request.node.name)[:60]


@pytest.fixture
def tenant(request: pytest.FixtureRequest) -> str:
    return tenant_name(request)
