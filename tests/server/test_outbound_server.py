"""The outbound guard in a real `cxemu serve` (issue 18 §5): bound beyond loopback, webhooks to a loopback
receiver are refused (each fails at once with the reason) unless `--allow-private-targets` is given."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator.pytest_plugin import WebhookSink
from tests.support.procs import ServerProcess

pytestmark = pytest.mark.server

KEY = {"x-api-key": "demo"}
CONVERSATION = {"channelId": "1", "user": {"name": "James Jones"}, "assignment": {"type": "queue", "id": "100"}}


def created_deliveries(url: str) -> list[dict[str, Any]]:
    """One 8x8 conversation, the clock run until idle; every delivery once settled."""
    with httpx.Client(base_url=url, timeout=30) as http:
        assert http.post("/chat-gateway/v1/conversations", json=CONVERSATION, headers=KEY).status_code == 202
        assert http.post("/_emulator/clock/run-until-idle", json={}).status_code == 200
        made = len(http.get("/_emulator/deliveries", params={"body": "false"}).json()["deliveries"])
        sent: list[dict[str, Any]] = http.get("/_emulator/deliveries", params={"wait": 20, "count": made}).json()[
            "deliveries"
        ]
    assert len(sent) == made >= 6
    return sent


@pytest.mark.parametrize("allow", [False, True], ids=["refused-by-default", "allowed-by-flag"])
def test_a_wildcard_bind_refuses_loopback_receivers_unless_allowed(
    tmp_path: Path, webhook_sink: WebhookSink, allow: bool
) -> None:
    target = webhook_sink.url_for("/hooks")
    flags = ["--allow-private-targets"] if allow else []
    proc = ServerProcess(
        "--host", "0.0.0.0", "--port", "0", "--clock", "virtual", "--webhook-url", target, *flags,
        log=tmp_path / "stderr.log",
    )  # fmt: skip
    try:
        sent = created_deliveries(proc.url)
    finally:
        assert proc.terminate() == 0

    assert {d["url"] for d in sent} == {target}
    if allow:
        assert {d["status"] for d in sent} == {"delivered"}
        assert len(webhook_sink.requests) == len(sent)
    else:
        assert {d["status"] for d in sent} == {"failed"}
        assert {len(d["attempts"]) for d in sent} == {1}
        assert {d["attempts"][0]["error"].split(" (")[0] for d in sent} == {
            "refused: 127.0.0.1 is in the loopback range"
        }
        assert webhook_sink.requests == []
