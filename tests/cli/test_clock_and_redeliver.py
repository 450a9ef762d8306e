"""`cxemu clock` and `cxemu redeliver` against a real server: what they print, what they change, and their errors
(one `cxemu: error:` line, exit 2): bad arguments, the server refusing, 404, 401, an unreachable server."""

from __future__ import annotations

from typing import Any

import pytest

from emulator.pytest_plugin import WebhookSink
from tests.cli.conftest import ADMIN, Cli, control, new_8x8_conversation
from tests.support.procs import ServerProcess

START = "2026-01-01T00:00:00.000Z"


def one_line_error(code: int, out: str, err: str, expected: str) -> None:
    assert code == 2, (out, err)
    assert err.count("\n") == 1, err
    assert err.startswith(f"cxemu: error: {expected}"), err


# -- clock ----------------------------------------------------------------------------------------------------


def test_clock_reads_advances_and_runs_a_tenants_timeline(cli: Cli, server: ServerProcess) -> None:
    url = ("--url", server.url)
    assert cli("clock", "--tenant", "t-clock", *url) == (
        0,
        f"tenant t-clock: {START} (virtual clock), 0 timer(s) pending\n",
        "",
    )
    code, out, _ = cli("clock", "advance", "30", "--tenant", "t-clock", *url)
    assert code == 0
    assert out == "now 2026-01-01T00:00:30.000Z, 0 timer(s) run\n  t-clock: 2026-01-01T00:00:30.000Z\n"
    assert control(server, "GET", "/clock", params={"tenant": "t-clock"}).json()["now"] == 1767225630.0
    assert control(server, "GET", "/clock", params={"tenant": "t-other"}).json()["iso"] == START  # not moved
    code, out, _ = cli("clock", "run-until-idle", "--tenant", "t-clock", *url)
    assert (code, out.splitlines()[0]) == (0, "now 2026-01-01T00:00:30.000Z, 0 timer(s) run")


def test_clock_lists_a_tenants_pending_timers(cli: Cli, server: ServerProcess) -> None:
    new_8x8_conversation(server, "t-timers")
    code, out, _ = cli("clock", "--tenant", "t-timers", "--url", server.url)
    lines = out.splitlines()
    assert code == 0
    pending = int(lines[0].split(", ")[1].split()[0])
    assert pending >= 1
    assert len(lines) == 1 + pending
    assert all(" eightbyeight " in line for line in lines[1:]), out


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("clock", "advance"), "clock advance: how many seconds?"),
        (("clock", "advance", "soon"), "clock advance: seconds must be a number, got 'soon'"),
        (("clock", "advance", "-5"), "400 invalid_request: seconds"),
        (("clock", "run-until-idle", "5"), "clock run-until-idle: unexpected '5'"),
        (("clock", "5"), "argument ACTION: invalid choice"),
        (("clock", "--tenant", "a", "--tenant", "b"), "--tenant: one tenant to read"),
        (("clock", "advance", "1", "--tenant", ""), "400 invalid_request: tenant"),
    ],
    ids=[
        "no-seconds",
        "not-a-number",
        "negative",
        "idle-with-seconds",
        "unknown-action",
        "two-to-read",
        "empty-tenant",
    ],
)
def test_clock_errors_are_one_line(cli: Cli, server: ServerProcess, args: tuple[str, ...], expected: str) -> None:
    one_line_error(*cli(*args, "--url", server.url), expected)


def test_an_unreachable_server_is_one_line(cli: Cli) -> None:
    one_line_error(*cli("clock", "--url", "http://127.0.0.1:9"), "cannot reach cxemu at http://127.0.0.1:9 (")


def test_the_admin_token_comes_from_the_option_or_the_environment(
    cli: Cli, guarded_server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = ("--url", guarded_server.url)
    one_line_error(*cli("clock", *url), "401 unauthorized: pass the admin token (--admin-token or CXEMU_ADMIN_TOKEN)")
    one_line_error(*cli("clock", "--admin-token", "wrong", *url), "401 unauthorized: the admin token was refused")
    assert cli("clock", "--admin-token", ADMIN, *url)[0] == 0
    monkeypatch.setenv("CXEMU_ADMIN_TOKEN", ADMIN)
    assert cli("clock", *url)[0] == 0


# -- redeliver --------------------------------------------------------------------------------------------------


def a_delivery(server: ServerProcess, tenant: str) -> dict[str, Any]:
    """A settled 8x8 delivery of `tenant` (a new conversation's first webhook, to the built-in sink)."""
    new_8x8_conversation(server, tenant)
    found = control(server, "GET", "/deliveries", params={"tenant": tenant, "wait": 10}).json()["deliveries"]
    assert found[0]["status"] == "delivered", found
    return dict(found[0])


@pytest.mark.parametrize(
    ("flags", "how"), [((), "re-signed"), (("--re-sign",), "re-signed"), (("--as-was",), "as it was")]
)
def test_redeliver_prints_the_new_delivery_and_its_attempt(
    cli: Cli, server: ServerProcess, flags: tuple[str, ...], how: str
) -> None:
    tenant = f"t-re-{len(flags)}-{how[:2]}"
    original = a_delivery(server, tenant)
    control(server, "POST", "/clock/advance", params={"tenant": tenant}, json={"seconds": 60})
    code, out, err = cli("redeliver", original["id"], *flags, "--url", server.url)
    assert (code, err) == (0, ""), err
    first, attempt = out.splitlines()
    new_id = first.split(":")[0]
    assert first == f"{new_id}: redelivery of {original['id']} ({how}) -> {original['url']}"
    assert attempt.startswith("2026-01-01T00:01:00.")
    assert f" eightbyeight/{tenant} {original['event']} {original['subject']} -> {original['url']} [200] (" in attempt
    assert attempt.endswith(f") {new_id}")
    again = control(server, "GET", f"/deliveries/{new_id}").json()
    assert (again["redelivery_of"], again["status"]) == (original["id"], "delivered")
    sent, resent = original["attempts"][-1]["headers"], again["attempts"][-1]["headers"]
    assert (resent == sent) == (how == "as it was")
    assert control(server, "GET", f"/deliveries/{new_id}/signature").json()["verified"] is True


def test_redeliver_to_another_url(cli: Cli, server: ServerProcess, webhook_sink: WebhookSink) -> None:
    original = a_delivery(server, "t-re-to")
    code, out, _ = cli("redeliver", original["id"], "--to", webhook_sink.url_for("/moved"), "--url", server.url)
    assert code == 0
    assert f"-> {webhook_sink.url_for('/moved')} [200]" in out.splitlines()[1]
    [got] = webhook_sink.wait_for(path="/moved")
    assert got.headers["x-8x8-event-id"] == original["event_id"]


def test_a_redelivery_that_fails_shows_its_retry(cli: Cli, server: ServerProcess, webhook_sink: WebhookSink) -> None:
    original = a_delivery(server, "t-re-fail")
    webhook_sink.respond_with(500)
    code, out, _ = cli("redeliver", original["id"], "--to", webhook_sink.url_for("/down"), "--url", server.url)
    assert code == 0  # still pending: 8x8 retries in 1 s of the tenant's (virtual) time
    assert "-> " + webhook_sink.url_for("/down") + " [500], retry in 1 s (" in out.splitlines()[1], out


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("redeliver", "dlv_9999999"), "404 unknown_delivery: no delivery 'dlv_9999999'"),
        (("redeliver", "DELIVERY", "--to", "ftp://example.com/x"), "400 refused_url: url: not an http(s) URL"),
        (("redeliver", "DELIVERY", "--as-was", "--re-sign"), "argument --re-sign: not allowed with argument --as-was"),
        (("redeliver", "DELIVERY", "--wait", "0"), "argument --wait: must be more than 0"),
        (("redeliver",), "the following arguments are required: DELIVERY_ID"),
    ],
    ids=["unknown", "refused-url", "both-modes", "bad-wait", "no-id"],
)
def test_redeliver_errors_are_one_line(cli: Cli, server: ServerProcess, args: tuple[str, ...], expected: str) -> None:
    if "DELIVERY" in args:
        original = a_delivery(server, f"t-re-err-{abs(hash(args)) % 10_000}")
        args = tuple(original["id"] if a == "DELIVERY" else a for a in args)
    one_line_error(*cli(*args, "--url", server.url), expected)
