"""The Business Messaging send API: responses, every documented error code, status reports (cmcom.md §3.1)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from emulator.app import create_app
from emulator.core.errors import ConfigError
from emulator.pytest_plugin import WebhookSink
from emulator.vendors import cmcom
from emulator.vendors.cmcom import state as st
from tests.conftest import make_settings
from tests.vendors.cmcom.conftest import (
    STATUS_PATH,
    TOKEN,
    Cm,
    CmFactory,
    bodies,
    envelope,
    msg,
    tenant_config,
    vendor_settings,
)

NO_READ = {"read_after": None, "delivered_after": 100_000}


def entry(to: str | None, *, code: int = 0, details: str | None = None, ref: str | None = None, parts: int = 1):
    status = "Rejected" if code else "Accepted"
    return {
        "to": to,
        "status": status,
        "reference": ref,
        "parts": 0 if code else parts,
        "messageDetails": details,
        "messageErrorCode": code,
    }


async def test_one_message_is_accepted(cm: Cm) -> None:
    resp = await cm.send(envelope(msg("Hello", reference="ref_A")))
    assert resp.status_code == 200
    assert resp.json() == {
        "details": "Created 1 message(s)",
        "errorCode": 0,
        "messages": [entry("0031612345678", ref="ref_A")],
    }


@pytest.mark.parametrize("casing", ["producttoken", "productToken"], ids=["dotnet", "js"])
async def test_either_token_casing_authenticates(cm: Cm, casing: str) -> None:
    resp = await cm.send(envelope(msg(), casing=casing))
    assert resp.status_code == 200, resp.text
    assert resp.json()["errorCode"] == 0


async def test_several_msg_and_to_entries_make_one_message_each(cm: Cm) -> None:
    body = envelope(msg("one", "0031600000001", "0031600000002"), msg("two", "+31600000003", reference="r2"))
    resp = await cm.send(body)
    assert resp.status_code == 200
    out = resp.json()
    assert out["details"] == "Created 3 message(s)"
    assert [m["to"] for m in out["messages"]] == ["0031600000001", "0031600000002", "+31600000003"]
    assert [m["reference"] for m in out["messages"]] == [None, None, "r2"]


async def test_partial_acceptance_is_200_with_error_code_201(cm: Cm) -> None:
    resp = await cm.send(envelope(msg("Hi", "00447911123456", "00447911123457a", reference="ref_A")))
    assert resp.status_code == 200
    assert resp.json() == {
        "details": "Created 1 message(s)",
        "errorCode": 201,
        "messages": [
            entry("00447911123456", ref="ref_A"),
            entry("00447911123457a", code=303, details="Gsm '00447911123457a' is not a number.", ref="ref_A"),
        ],
    }


async def test_nothing_accepted_is_400_with_error_code_201(cm: Cm) -> None:
    resp = await cm.send(envelope(msg("", reference="ref_B")))
    assert resp.status_code == 400
    assert resp.json() == {
        "details": "Created 0 message(s)",
        "errorCode": 201,
        "messages": [entry("0031612345678", code=304, details="A body without content was found", ref="ref_B")],
    }


LONG_SENDER = "AlphaNumeric12"
PER_MESSAGE_ERRORS = [
    ("301-long-alnum", msg(sender=LONG_SENDER), 301, f"Invalid sender '{LONG_SENDER}'"),
    ("301-17-digits", msg(sender="12345678901234567"), 301, "Invalid sender"),
    ("301-missing", {k: v for k, v in msg().items() if k != "from"}, 301, "Invalid sender"),
    ("302-no-to", msg() | {"to": []}, 302, "No recipients were given"),
    ("302-no-number", msg() | {"to": [{"phone": "0031612345678"}]}, 302, "Invalid recipient"),
    ("303-msisdn", msg("x", "0031-61234"), 303, "Gsm '0031-61234' is not a number."),
    ("304-empty", msg(""), 304, "A body without content was found"),
    (
        "304-too-long",
        msg("x" * 200, maximumNumberOfMessageParts=1, allowedChannels=["SMS"]),
        304,
        "The body needs 2 message parts",
    ),
    ("305-body-type", msg() | {"body": {"type": "html", "content": "x"}}, 305, "Invalid value for field 'body.type'"),
    ("305-channel", msg(allowedChannels=["Pigeon"]), 305, "unknown channel 'Pigeon'"),
    ("305-parts", msg(minimumNumberOfMessageParts=9), 305, "'minimumNumberOfMessageParts'"),
    ("305-parts-order", msg(minimumNumberOfMessageParts=3, maximumNumberOfMessageParts=2), 305, "is more than"),
    ("305-reference", msg(reference=12), 305, "Invalid value for field 'reference'"),
    ("305-rich", msg(richContent=[]), 305, "Invalid value for field 'richContent'"),
    # no body text, so the text is looked for in a `conversation` that is not an array (was a 500)
    ("305-rich-conversation", msg("", richContent={"conversation": True}), 305, "richContent.conversation"),
    ("305-suggestion", msg(richContent={"suggestions": [{"label": "x"}]}), 305, "richContent.suggestions.action"),
]


@pytest.mark.parametrize(
    ("body", "code", "details"), [p[1:] for p in PER_MESSAGE_ERRORS], ids=[p[0] for p in PER_MESSAGE_ERRORS]
)
async def test_each_message_is_judged_on_its_own(cm: Cm, body: dict[str, Any], code: int, details: str) -> None:
    resp = await cm.send(envelope(msg("fine"), body))
    assert resp.status_code == 200, resp.text  # the good message goes out: partial acceptance
    out = resp.json()
    assert out["errorCode"] == 201
    assert out["messages"][0]["messageErrorCode"] == 0
    bad = out["messages"][1]
    assert (bad["status"], bad["messageErrorCode"], bad["parts"]) == ("Rejected", code, 0)
    assert details in bad["messageDetails"]


@pytest.mark.parametrize(
    ("rule", "body", "code", "details"),
    [
        ({"spam_patterns": ["free money"]}, msg("Get FREE money now"), 401, "The message was filtered as spam"),
        ({"blacklist": ["+31612345678"]}, msg(), 402, "The recipient '0031612345678' is blacklisted"),
        (
            {"channels": ["SMS"]},
            msg(allowedChannels=["WhatsApp"]),
            403,
            "None of the allowed channels (WhatsApp) is configured on this account",
        ),
    ],
    ids=["401-spam", "402-blacklisted", "403-no-channel"],
)
async def test_account_rules_reject_messages(
    make_cm: CmFactory, rule: dict[str, Any], body: dict[str, Any], code: int, details: str
) -> None:
    env = await make_cm(vendors=vendor_settings(tenant_config(**rule)))
    resp = await env.send(envelope(body))
    assert resp.status_code == 400
    assert resp.json()["messages"] == [entry("0031612345678", code=code, details=details)]


REQUEST_ERRORS = [
    ("202-not-json", b"{nope", 202, "The request is malformed: the body is not valid JSON"),
    ("202-no-messages", b'{"msg": []}', 202, "The request is malformed: no 'messages' object"),
    ("203-no-msg", b'{"messages": {"authentication": {"producttoken": "T"}}}', 203, None),
    ("203-empty-msg", b'{"messages": {"authentication": {"producttoken": "T"}, "msg": []}}', 203, None),
    ("203-msg-not-objects", b'{"messages": {"authentication": {"producttoken": "T"}, "msg": [1]}}', 203, None),
    ("101-no-token", b'{"messages": {"authentication": {}, "msg": [{}]}}', 101, None),
]


@pytest.mark.parametrize(
    ("raw", "code", "details"), [e[1:] for e in REQUEST_ERRORS], ids=[e[0] for e in REQUEST_ERRORS]
)
async def test_requests_refused_as_a_whole(cm: Cm, raw: bytes, code: int, details: str | None) -> None:
    resp = await cm.http.post("/v1.0/message", content=raw.replace(b'"T"', f'"{TOKEN}"'.encode()))
    assert resp.status_code == 400
    out = resp.json()
    assert (out["errorCode"], out["messages"]) == (code, [])
    expected = {
        203: "The 'msg' array is missing, empty or not an array",
        101: "No account found for the given authentication",
    }
    assert out["details"] == (details or expected[code])


@pytest.mark.parametrize(
    ("token", "code", "details"),
    [
        ("11111111-2222-3333-4444-555555555555", 101, "No account found for the given authentication"),
        ("not-a-token", 103, "The product token 'not-a-token' is incorrect"),
    ],
    ids=["101-unknown", "103-malformed"],
)
async def test_strict_auth_refuses_unknown_tokens(make_cm: CmFactory, token: str, code: int, details: str) -> None:
    env = await make_cm(auth="strict", vendors=vendor_settings(tenant_config()))
    resp = await env.send(envelope(msg(), token=token))
    assert resp.status_code == 400
    assert resp.json() == {"details": details, "errorCode": code, "messages": []}
    assert (await env.send(envelope(msg()))).status_code == 200  # the configured token works


async def test_insufficient_balance_is_102(make_cm: CmFactory) -> None:
    env = await make_cm(vendors=vendor_settings(tenant_config(insufficient_balance=True)))
    resp = await env.send(envelope(msg()))
    assert resp.status_code == 400
    assert resp.json() == {"details": "Your balance is insufficient", "errorCode": 102, "messages": []}


async def test_an_internal_failure_is_500_in_cms_envelope(cm: Cm, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(st, "send", boom)
    resp = await cm.send(envelope(msg()))
    assert resp.status_code == 500
    assert resp.json() == {"details": "Internal server error", "errorCode": 500, "messages": []}


async def test_unknown_method_gets_cms_envelope(cm: Cm) -> None:
    resp = await cm.http.get("/v1.0/message")
    assert resp.status_code == 405
    assert resp.json()["errorCode"] == 202


@pytest.mark.parametrize(
    ("text", "parts"),
    [("a" * 160, 1), ("a" * 161, 2), ("é" * 160, 1), ("€" * 80, 1), ("Ω" * 160, 1), ("漢" * 71, 2)],
    ids=["160-gsm", "161-gsm", "gsm-accent", "gsm-euro", "gsm-greek", "ucs2-71"],
)
async def test_sms_parts_follow_the_encoding(cm: Cm, text: str, parts: int) -> None:
    resp = await cm.send(envelope(msg(text, allowedChannels=["SMS"])))
    assert resp.json()["messages"][0]["parts"] == parts


async def test_rich_content_templates_and_interactive_messages_are_accepted(cm: Cm) -> None:
    rich = {
        "conversation": [
            {"text": "Hi!", "media": {"mediaName": "logo", "mediaUri": "https://x.test/a.png", "mimeType": "image/png"}}
        ],
        "suggestions": [
            {"action": "reply", "label": "Yes", "postbackdata": "YES"},
            {"action": "OpenUrl", "label": "Site", "url": "https://cm.com"},
        ],
    }
    template = {
        "conversation": [
            {
                "template": {
                    "whatsapp": {
                        "namespace": "ns",
                        "elementName": "hello",
                        "language": {"code": "en", "policy": "deterministic"},
                    }
                }
            }
        ]
    }
    interactive = {
        "conversation": [
            {
                "interactive": {
                    "type": "button",
                    "body": {"text": "Pick"},
                    "action": {"buttons": [{"type": "reply", "reply": {"id": "a", "title": "A"}}]},
                }
            }
        ]
    }
    body = envelope(
        msg("", allowedChannels=["WhatsApp"], richContent=rich),
        msg("", allowedChannels=["WhatsApp"], richContent=template),
        msg("fallback", allowedChannels=["WhatsApp"], richContent=interactive),
    )
    resp = await cm.send(body)
    assert resp.status_code == 200, resp.text
    assert resp.json()["errorCode"] == 0


async def test_status_reports_follow_the_clock(cm: Cm, webhook_sink: WebhookSink) -> None:
    body = envelope(
        msg("Hi", "0031600000001", reference="wa", allowedChannels=["WhatsApp"]),
        msg("Hi", "0031600000002", reference="sms", allowedChannels=["SMS"]),
    )
    start = cm.now()
    assert (await cm.send(body)).status_code == 200
    await cm.advance(0.5)
    await cm.delivered(2, event="StatusReport")
    await cm.advance(1.5)
    await cm.delivered(4, event="StatusReport")
    await cm.advance(3)
    await cm.delivered(5, event="StatusReport")
    reports = bodies(webhook_sink, STATUS_PATH)
    seen = [(r["messages"]["msg"]["reference"], r["messages"]["msg"]["status"]["code"]) for r in reports]
    assert seen == [("wa", "0"), ("sms", "0"), ("wa", "2"), ("sms", "2"), ("wa", "4")]
    assert reports[0] == {
        "messages": {
            "msg": {
                "received": "2026-01-01T00:00:00",
                "to": "0031600000001",
                "reference": "wa",
                "status": {"code": "0", "errorCode": "", "errorDescription": ""},
                "operator": "20416",
            }
        }
    }  # the documented shape, field for field: no channel
    assert cm.now() == start + 5


async def test_an_unreachable_number_fails(make_cm: CmFactory, webhook_sink: WebhookSink) -> None:
    env = await make_cm(vendors=vendor_settings(tenant_config(webhook_sink, unreachable=["0031612345678"])))
    assert (await env.send(envelope(msg(allowedChannels=["WhatsApp"])))).status_code == 200
    await env.advance(10)
    await env.delivered(2, event="StatusReport")
    codes = [b["messages"]["msg"]["status"] for b in bodies(webhook_sink, STATUS_PATH)]
    assert codes == [
        {"code": "0", "errorCode": "", "errorDescription": ""},
        {"code": "3", "errorCode": "5", "errorDescription": "Message could not be delivered to the recipient"},
    ]


async def test_a_sent_report_and_the_codes_are_configurable(make_cm: CmFactory, webhook_sink: WebhookSink) -> None:
    behaviour = {"sent_after": 1.0}
    codes = {"accepted": "A", "sent": "S", "delivered": "D", "read": "R"}
    env = await make_cm(vendors=vendor_settings(tenant_config(webhook_sink, behaviour=behaviour), status_codes=codes))
    assert (await env.send(envelope(msg(allowedChannels=["WhatsApp"], reference="r")))).status_code == 200
    await env.advance(1)
    await env.delivered(2, event="StatusReport")
    await env.advance(4)
    await env.delivered(4, event="StatusReport")
    reports = [b["messages"]["msg"] for b in bodies(webhook_sink, STATUS_PATH)]
    assert [r["status"]["code"] for r in reports] == ["A", "S", "D", "R"]


async def test_reports_due_at_one_instant_share_one_clock_job(make_cm: CmFactory, webhook_sink: WebhookSink) -> None:
    """Accepted and Delivered due together are one job (one unit of work, in that order); Read, due later, is its
    own. A job of an older state file (one `status`) still reports."""
    behaviour = {"accepted_after": 2.0, "delivered_after": 2.0, "read_after": 3.0}
    env = await make_cm(vendors=vendor_settings(tenant_config(webhook_sink, behaviour=behaviour)))
    assert (await env.send(envelope(msg(allowedChannels=["WhatsApp"], reference="r")))).status_code == 200
    jobs = [t.job for t in env.emu.scheduler.pending([env.tenant]) if t.job and t.job["kind"] == "cmcom.status"]
    assert [(j["args"]["statuses"]) for j in jobs] == [["Accepted", "Delivered"], ["Read"]]
    message = jobs[0]["args"]["msg"]
    env.emu.scheduler.schedule_job(4.0, "cmcom.status", {"msg": message, "status": "Read"}, vendor="cmcom",
                                   tenant=env.tenant)  # fmt: skip
    await env.advance(2)
    await env.delivered(2, event="StatusReport")
    await env.advance(2)
    await env.delivered(4, event="StatusReport")
    reports = [b["messages"]["msg"]["status"]["code"] for b in bodies(webhook_sink, STATUS_PATH)]
    assert reports == ["0", "2", "4", "4"]


def test_a_sent_report_needs_its_code() -> None:
    settings = make_settings(vendors={"cmcom": {"behaviour": {"sent_after": 1}}})
    with pytest.raises(ConfigError, match=r"sent_after needs status_codes\.sent"):
        create_app(settings, plugins=[cmcom.PLUGIN])


async def test_status_reports_are_retried_for_7_days_mo_for_a_month(
    make_cm: CmFactory, webhook_sink: WebhookSink
) -> None:
    """Every 5 minutes; status reports stop after `status_retry_for`, MO after `retry_for` (short here)."""
    section = {"retry_interval": 300, "status_retry_for": 600, "retry_for": 1200}
    env = await make_cm(vendors=vendor_settings(tenant_config(webhook_sink, behaviour=NO_READ), **section))
    webhook_sink.respond_with(500)
    assert (await env.send(envelope(msg(allowedChannels=["SMS"], reference="r")))).status_code == 200
    await env.customer(text="Hi")
    await env.advance(0.5)  # the Accepted report is due
    await env.emu.scheduler.settle()
    for _ in range(5):
        await env.advance(300)
    await env.delivered(1, event="StatusReport", status="failed")
    await env.delivered(1, event="MO", status="failed")
    attempts = {d.event_type: [a.at for a in d.attempts] for d in env.emu.dispatcher.deliveries()}
    assert [t - attempts["StatusReport"][0] for t in attempts["StatusReport"]] == [0, 300, 600]
    assert [t - attempts["MO"][0] for t in attempts["MO"]] == [0, 300, 600, 900, 1200]
    defaults = (await make_cm()).emu.dispatcher.policy("cmcom")  # CM's own windows
    by_type = {d.event_type: d for d in env.emu.dispatcher.deliveries()}
    assert defaults.ladder(by_type["StatusReport"]) == (300.0,) * (7 * 288)
    assert defaults.ladder(by_type["MO"]) == (300.0,) * (30 * 288)
    forced = (await make_cm(webhooks={"cmcom": {"retry_ladder": [1]}})).emu.dispatcher.policy("cmcom")
    assert forced.ladder(by_type["StatusReport"]) == forced.ladder(by_type["MO"]) == (1.0,)


async def test_a_burst_past_the_tenants_share_of_the_pool_loses_and_reorders_no_report(
    cm: Cm, webhook_sink: WebhookSink
) -> None:
    """300 messages at once, each with Accepted and Delivered due together: more reports than the tenant's share of
    the webhook pool (256 in flight), so some wait for a slot; every report still arrives, once, Accepted first."""
    sends = [
        cm.send(envelope(msg("Hi", "0031600000001", reference=f"m{i}", allowedChannels=["SMS"]))) for i in range(300)
    ]
    assert {r.status_code for r in await asyncio.gather(*sends)} == {200}
    await cm.advance(2)
    await cm.delivered(600, event="StatusReport")

    seen: dict[str, list[str]] = {}
    for report in bodies(webhook_sink, STATUS_PATH):
        seen.setdefault(report["messages"]["msg"]["reference"], []).append(report["messages"]["msg"]["status"]["code"])
    assert seen == {f"m{i}": ["0", "2"] for i in range(300)}
    assert cm.emu.dispatcher.pending_count == 0
