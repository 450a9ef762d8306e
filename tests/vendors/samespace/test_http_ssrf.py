"""The `http` step behind the outbound guard (issue 18 §5): every spelling of a private target takes the `fail`
branch with the guard's reason when cxemu listens beyond loopback (nothing is sent), is requested for real on
loopback, and the overrides (`allow_private_targets`, `webhook_allow_hosts`) let it through."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from emulator.pytest_plugin import WebhookSink
from tests.support.ssrf import ELSEWHERE, loopback_spellings
from tests.vendors.samespace.conftest import Ss, SsFactory, call_step, tenant
from tests.vendors.samespace.flows import http, play, played

SPELLINGS = loopback_spellings()
WIDE = "0.0.0.0"


async def run_calls(make_ss: SsFactory, sink: WebhookSink, hosts: dict[str, str], **settings: Any) -> dict[str, Any]:
    """One call per spelling, its http step aimed at the sink's port under that host; the `http` metadata."""
    ss: Ss = await make_ss(vendors=tenant(), **settings)
    port = urlsplit(sink.url).port
    calls = {}
    for name, written in hosts.items():
        flow = (
            call_step(next_step="look"),
            http("look", f"http://{written}:{port}/ssrf/{name}"),
            play("ok"),
            play("ko"),
        )
        calls[name] = await ss.start(*flow)
    await ss.idle()
    out = {}
    for name, call_id in calls.items():
        meta = await ss.metadata(call_id)
        (h,) = meta["http"]
        out[name] = {"last": played(meta)[-1], "error": h["error"], "status": h["status"]}
    return out


@pytest.mark.parametrize(
    "settings",
    [{"host": WIDE}, {"host": "127.0.0.1", "allow_private_targets": False}],
    ids=["wide-default", "loopback-turned-off"],
)
async def test_every_spelling_of_a_private_target_takes_the_fail_branch_with_the_reason(
    make_ss: SsFactory, webhook_sink: WebhookSink, settings: dict[str, Any]
) -> None:
    hosts = {**SPELLINGS, **{name: written for name, (written, _) in ELSEWHERE.items()}}

    got = await run_calls(make_ss, webhook_sink, hosts, **settings)

    for name, outcome in got.items():
        label = ELSEWHERE[name][1] if name in ELSEWHERE else "loopback"
        assert outcome["last"] == "ko", (name, outcome)
        assert outcome["status"] is None
        assert outcome["error"].startswith("refused: "), (name, outcome)
        assert f"in the {label} range" in outcome["error"], (name, outcome)
    assert webhook_sink.requests == []


@pytest.mark.parametrize(
    "settings",
    [{}, {"host": WIDE, "allow_private_targets": True}],
    ids=["loopback-default", "wide-allowed-by-flag"],
)
async def test_every_loopback_spelling_is_requested_when_private_targets_are_allowed(
    make_ss: SsFactory, webhook_sink: WebhookSink, settings: dict[str, Any]
) -> None:
    got = await run_calls(make_ss, webhook_sink, SPELLINGS, **settings)

    assert {name: (o["last"], o["status"]) for name, o in got.items()} == dict.fromkeys(SPELLINGS, ("ok", 200))
    port = urlsplit(webhook_sink.url).port
    hosts = {r.path.rsplit("/", 1)[1]: r.headers["host"] for r in webhook_sink.requests}
    assert hosts == {name: f"{written}:{port}" for name, written in SPELLINGS.items()}  # Host keeps the name


async def test_a_host_on_the_allow_list_is_requested_even_when_private(
    make_ss: SsFactory, webhook_sink: WebhookSink
) -> None:
    got = await run_calls(
        make_ss, webhook_sink, {"short": "127.1", "dotted": "127.0.0.1"}, host=WIDE, webhook_allow_hosts="127.1"
    )

    assert (got["short"]["last"], got["short"]["status"]) == ("ok", 200)
    assert got["dotted"]["error"] == "host '127.0.0.1' is not in the webhook allow-list"
