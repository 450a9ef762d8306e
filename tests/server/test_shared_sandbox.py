"""`cxemu serve` as a shared sandbox, through the real CLI and uvicorn (issue 18 §4): the bind warning and the
admin token over real HTTP."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from emulator.pytest_plugin import CxemuHandle, CxemuServer, ServerThread
from tests.support.procs import ServerProcess

TOKEN = "sandbox-token-0123456789abcdef"


def test_a_public_bind_without_an_admin_token_warns(tmp_path: Path) -> None:
    # the warning is written before the banner, so once the banner is read it is in the log
    server = ServerProcess("--host", "0.0.0.0", "--port", "0", log=tmp_path / "open.log")
    try:
        assert "WARNING: the control plane is open on 0.0.0.0" in server.stderr()
        assert "--admin-token" in server.stderr()
    finally:
        server.kill()


def test_insisting_or_an_admin_token_silences_the_warning(tmp_path: Path) -> None:
    for args in (("--insecure-open-control-plane",), ("--admin-token", TOKEN)):
        server = ServerProcess("--host", "0.0.0.0", "--port", "0", *args, log=tmp_path / "quiet.log")
        try:
            assert "WARNING" not in server.stderr()
        finally:
            server.kill()


def test_the_admin_token_guards_the_control_plane_over_http(tmp_path: Path) -> None:
    server = ServerProcess("--port", "0", "--admin-token", TOKEN, log=tmp_path / "guarded.log")
    try:
        assert "admin token set" in server.banner
        assert TOKEN not in server.banner
        with httpx.Client(base_url=server.url, timeout=30) as c:
            assert c.get("/_emulator/health").status_code == 200
            r = c.get("/_emulator/state")
            assert r.status_code == 401
            assert r.headers["www-authenticate"].startswith("Bearer")
            r = c.get("/_emulator/state", headers={"Authorization": f"Bearer {TOKEN}"})
            assert r.status_code == 200
            assert r.json()["redacted"] is True
            # the sink's receiving POST stays open: cxemu and receivers call it
            assert c.post("/_emulator/sink/anything", json={}).status_code == 200
    finally:
        assert server.terminate() == 0
    assert TOKEN not in server.stderr()


def test_the_pytest_plugin_sends_the_admin_token(monkeypatch: pytest.MonkeyPatch) -> None:
    server = ServerThread({"admin_token": TOKEN, "clock": "virtual"})
    server.start()
    try:
        monkeypatch.delenv("CXEMU_ADMIN_TOKEN", raising=False)
        bare = CxemuHandle(CxemuServer(url=server.url), "t-bare")
        with pytest.raises(AssertionError, match="401"):
            bare.reset()
        bare.close()
        monkeypatch.setenv("CXEMU_ADMIN_TOKEN", TOKEN)
        handle = CxemuHandle(CxemuServer(url=server.url), "t-sandbox")
        try:
            handle.reset()
            assert handle.credentials("eightbyeight")["apiKey"] == "t-sandbox"
            assert handle.deliveries() == []
            assert handle.run_until_idle()["timers_run"] >= 0
        finally:
            handle.close()
    finally:
        server.stop()
