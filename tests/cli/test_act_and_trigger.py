"""`cxemu act` (hand actions of each vendor's parties) and `cxemu trigger` (a flow of the scenario library run on a
tenant of the running server, its webhooks printed) against a real server, with their errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator.pytest_plugin import WebhookSink
from tests.cli.conftest import Cli, control, library, start_8x8_conversation
from tests.support.procs import ServerProcess


def one_line_error(code: int, out: str, err: str, expected: str) -> None:
    assert code == 2, (out, err)
    assert err.count("\n") == 1, err
    assert err.startswith(f"cxemu: error: {expected}"), err


def provision(server: ServerProcess, tenant: str) -> dict[str, Any]:
    r = control(server, "POST", "/tenants", json={"tenant": tenant})
    assert r.status_code == 201, r.text
    return dict(r.json()["credentials"])


def queued_8x8_conversation(server: ServerProcess, tenant: str) -> str:
    """A conversation waiting in its queue, with no simulated agent to pick it up."""
    key = provision(server, tenant)["eightbyeight"]
    r = control(server, "PUT", f"/vendors/eightbyeight/tenants/{tenant}/behaviour", json={"auto": False})
    assert r.status_code == 200, r.text
    conversation = start_8x8_conversation(server, key)
    control(server, "POST", "/clock/advance", params={"tenant": tenant}, json={"seconds": 1})
    return conversation


# -- act ----------------------------------------------------------------------------------------------------


def test_act_as_the_8x8_agent_joins_and_says(cli: Cli, server: ServerProcess) -> None:
    conv = queued_8x8_conversation(server, "t-act-8")
    url = ("--tenant", "t-act-8", "--url", server.url)
    code, out, err = cli("act", "eightbyeight", "agent", conv, "join", *url)
    assert (code, err) == (0, ""), err
    joined = json.loads(out)
    assert (joined["conversation"], joined["state"]) == (conv, "active")
    assert joined["agentId"]
    code, out, _ = cli("act", "eightbyeight", "agent", conv, "say", "Hello", "there", *url)
    assert code == 0
    found = control(server, "GET", "/deliveries", params={"tenant": "t-act-8", "event": "MESSAGE", "wait": 10})
    [message] = found.json()["deliveries"]
    assert message["body"]["data"]["text"] == "Hello there"
    assert message["body"]["data"]["sender"] == {"id": joined["agentId"], "type": "agent"}


def test_act_as_the_8x8_customer_says_and_leaves(cli: Cli, server: ServerProcess) -> None:
    conv = queued_8x8_conversation(server, "t-act-8c")
    url = ("--tenant", "t-act-8c", "--url", server.url)
    code, out, err = cli("act", "eightbyeight", "customer", conv, "say", "Where", "is", "my", "order?", *url)
    assert (code, err) == (0, ""), err
    assert json.loads(out)["conversation"] == conv
    found = control(server, "GET", "/deliveries", params={"tenant": "t-act-8c", "event": "MESSAGE", "wait": 10})
    [message] = found.json()["deliveries"]
    assert message["body"]["data"]["text"] == "Where is my order?"
    assert message["body"]["data"]["sender"]["type"] == "user"
    code, out, err = cli("act", "eightbyeight", "customer", conv, "leave", *url)
    assert (code, err) == (0, ""), err
    assert json.loads(out)["state"] == "idle"
    code, out, err = cli("act", "eightbyeight", "customer", conv, "say", "still there?", *url)
    assert (code, err) == (0, ""), err
    assert json.loads(out)["state"] != "idle"  # a message on an idle conversation queues it again (§1.7 row 11)
    one_line_error(*cli("act", "eightbyeight", "customer", "no-such-conversation", "leave", *url), "404 rejected: ")


def test_act_as_a_samespace_phone_answers_a_ringing_call(cli: Cli, server: ServerProcess) -> None:
    creds = provision(server, "t-act-ss")["samespace"]
    number = "917507161643"
    r = control(server, "PUT", f"/vendors/samespace/tenants/t-act-ss/numbers/{number}", json={"answer": "no-answer"})
    assert r.status_code == 200, r.text
    flow = [
        {"id": "0", "type": "call", "number": number, "caller_id": "123456", "next_step": 1},
        {"id": 1, "type": "play", "text": "hello there"},
    ]
    placed = httpx.post(
        f"{server.url}/api/public/v1/call/flow",
        json={"cloud_id": creds["cloud_id"], "auth_token": creds["auth_token"], "flow": flow},
        timeout=30,
    )
    assert placed.status_code == 200, placed.text
    call = str(placed.json()["call_id"])
    url = ("--tenant", "t-act-ss", "--url", server.url)
    one_line_error(*cli("act", "samespace", "call", call, "answer", *url), "409 ")  # dialling, not ringing yet
    control(server, "POST", "/clock/advance", params={"tenant": "t-act-ss"}, json={"seconds": 5})
    code, out, err = cli("act", "samespace", "call", call, "answer", *url)
    assert (code, err) == (0, ""), err
    assert json.loads(out)["status"] == "answered"


def test_act_as_a_sangoma_widget_visitor_and_a_cm_end_user(cli: Cli, server: ServerProcess) -> None:
    provision(server, "t-act-multi")
    url = ("--tenant", "t-act-multi", "--url", server.url)
    code, out, _ = cli("act", "sangoma", "widget", "start", "Hi", "there", "--field", "name=Ann Lee", *url)
    assert code == 0
    started = json.loads(out)
    view = control(server, "GET", "/vendors/sangoma/tenants/t-act-multi").json()
    [conv] = [c for c in view["conversations"] if c["id"] == started["conversation_id"]]
    code, out, _ = cli("act", "sangoma", "customer", str(conv["id"]), "say", "anyone?", *url)
    assert code == 0
    code, out, _ = cli("act", "cmcom", "end-user", "+31612345678", "say", "hello", "--field", "channel=SMS", *url)
    assert code == 0
    chat = json.loads(out)
    assert (chat["channel"], chat["client"]) == ("SMS", "+31612345678")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("act", "nobody", "agent", "c", "join"), "act: unknown vendor 'nobody'; vendors: eightbyeight, sangoma,"),
        (
            ("act", "eightbyeight", "bot", "c", "join"),
            "act eightbyeight: unknown party 'bot'; parties: agent, customer",
        ),
        (("act", "eightbyeight", "agent"), "act eightbyeight agent CONVERSATION VERB: the conversation id is missing"),
        (
            ("act", "eightbyeight", "agent", "c"),
            "act eightbyeight agent CONVERSATION VERB: the verb is missing; verbs:",
        ),
        (
            ("act", "eightbyeight", "agent", "c", "dance"),
            "act eightbyeight agent CONVERSATION VERB: unknown verb 'dance'",
        ),
        (
            ("act", "eightbyeight", "agent", "c", "join", "now"),
            "act eightbyeight agent CONVERSATION VERB: join takes no",
        ),
        (("act", "eightbyeight", "agent", "c", "join", "--field", "x"), "--field 'x': must be KEY=VALUE"),
        (("act", "eightbyeight", "agent", "nope", "join"), "404 rejected: "),
        (("act", "cmcom", "agent", "nope", "take_over"), "404 unknown_tenant: no CM.com tenant 't-act-none'"),
        (("act", "samespace", "call", "nope", "digits", "12"), "404 unknown_tenant: no Samespace cloud 't-act-none'"),
    ],
    ids=[
        "vendor",
        "party",
        "no-id",
        "no-verb",
        "unknown-verb",
        "extra-argument",
        "bad-field",
        "unknown-conversation",
        "unknown-tenant",
        "unknown-cloud",
    ],
)
def test_act_errors_are_one_line(cli: Cli, server: ServerProcess, args: tuple[str, ...], expected: str) -> None:
    tenant = "t-act-err" if "nope" in args and args[1] == "eightbyeight" else "t-act-none"
    if tenant == "t-act-err":
        provision(server, tenant)
    one_line_error(*cli(*args, "--tenant", tenant, "--url", server.url), expected)


def test_act_needs_a_tenant(cli: Cli, server: ServerProcess) -> None:
    one_line_error(
        *cli("act", "eightbyeight", "agent", "c", "join", "--url", server.url),
        "the following arguments are required: --tenant",
    )


# -- trigger ----------------------------------------------------------------------------------------------------


def test_trigger_lists_the_library(cli: Cli) -> None:
    code, out, _ = cli("trigger", "--list")
    files = sorted(library().glob("*/*.yaml"))
    assert code == 0
    assert len(out.splitlines()) == len(files)
    assert "eightbyeight queue_agent_chat_end  Queue to agent to chat to end" in out.splitlines()
    code, out, _ = cli("trigger", "--list", "samespace")
    assert {line.split()[0] for line in out.splitlines()} == {"samespace"}


def test_trigger_runs_a_flow_and_prints_each_webhook(
    cli: Cli, server: ServerProcess, webhook_sink: WebhookSink
) -> None:
    hook = webhook_sink.url_for("/trigger")
    code, out, err = cli(
        "trigger",
        "eightbyeight",
        "queue_agent_chat_end",
        "--tenant",
        "t-trig",
        "--webhook-url",
        hook,
        "--url",
        server.url,
    )
    assert (code, err) == (0, ""), err
    lines = out.splitlines()
    assert lines[0].endswith(": Queue to agent to chat to end (eightbyeight/t-trig)")
    assert lines[-1].endswith(": passed (15 steps, 13 webhooks)")
    attempts = lines[1:-1]
    assert len(attempts) == 13
    assert all(" eightbyeight/t-trig " in line and f"-> {hook} [200] (" in line for line in attempts), out
    assert [line.split()[2] for line in attempts[:3]] == ["CONVERSATION_UPDATE", "CONVERSATION_UPDATE", "QUEUED"]
    received = webhook_sink.wait_for(path="/trigger", count=13)
    assert [r.json["eventType"] for r in received][:3] == ["CONVERSATION_UPDATE", "CONVERSATION_UPDATE", "QUEUED"]
    assert control(server, "GET", "/scenarios").json()["scenarios"] == []  # unloaded once it ended


def test_a_flow_that_fails_exits_1_with_its_failed_steps(cli: Cli, server: ServerProcess, tmp_path: Path) -> None:
    folder = tmp_path / "eightbyeight"
    folder.mkdir()
    text = (library() / "eightbyeight" / "01_queue_agent_chat_end.yaml").read_text(encoding="utf-8")
    lines = [
        line.replace("12.34", "12.43") if "expect_webhook" in line else line for line in text.splitlines(keepends=True)
    ]
    (folder / "01_broken.yaml").write_text("".join(lines), "utf-8")  # one expectation the agent's words miss
    code, out, _ = cli(
        "trigger", "eightbyeight", "broken", "--tenant", "t-trig-fail", "--library", str(tmp_path), "--url", server.url
    )
    assert code == 1
    assert ": failed (15 steps, " in out
    assert "expect_webhook MESSAGE" in out.splitlines()[-1]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("trigger",), "trigger: name a VENDOR and a FLOW (`cxemu trigger --list` names them)"),
        (("trigger", "eightbyeight"), "trigger: name a VENDOR and a FLOW"),
        (("trigger", "nobody", "x"), "trigger: no flows for vendor 'nobody'; vendors: cmcom, eightbyeight,"),
        (
            ("trigger", "eightbyeight", "nothing"),
            "trigger eightbyeight: no flow 'nothing'; flows: queue_agent_chat_end,",
        ),
        (("trigger", "--list", "nobody"), "trigger: no flows for vendor 'nobody'"),
        (("trigger", "--list", "--library", "/no/such"), "--library /no/such: no scenario library there"),
        (
            ("trigger", "eightbyeight", "queue_agent_chat_end", "--tenant", "bad name"),
            "400 invalid_request: tenant: letters, digits",
        ),
        (
            ("trigger", "eightbyeight", "queue_agent_chat_end", "--webhook-url", "ftp://x"),
            "400 invalid_request: webhook_url: must be an http:// or https:// URL",
        ),
    ],
    ids=["nothing", "no-flow", "vendor", "flow", "list-vendor", "library", "bad-tenant", "bad-webhook-url"],
)
def test_trigger_errors_are_one_line(cli: Cli, server: ServerProcess, args: tuple[str, ...], expected: str) -> None:
    one_line_error(*cli(*args, "--url", server.url), expected)
