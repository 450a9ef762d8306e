"""Every check of the battery, scored against real receivers: a correct one per vendor passes every check that
applies, and for every check a receiver with one flaw fails exactly it (`receivers.FLAWS`)."""

from __future__ import annotations

import pytest

from emulator.verify.scorecard import CHECKS
from tests.support.procs import ServerProcess
from tests.verify.conftest import run_score, tenant_secret
from tests.verify.receivers import FLAWS

JWS_ONLY = {"jws-alg-none-rejected", "jws-hs256-confusion-rejected", "jws-attached-payload-rejected"}
SIGNATURE = {"signed-accepted", "tampered-body-rejected", "wrong-key-rejected", "missing-signature-rejected",
             "malformed-signature-rejected", "stale-timestamp-rejected"} | JWS_ONLY  # fmt: skip
DEDUPE = {"retry-deduplicated", "concurrent-deduplicated", "lost-ack-deduplicated", "distinct-events-kept"}
ALSO_FAILS = {"retry-reprocessed": {"lost-ack-deduplicated"}}
"""A receiver that processes a retry again fails the lost acknowledgement too: that check ends with a retry."""

SHORT = ["body-hash-dedupe", "serial-slow"]
"""The 8x8 flaws scored on `short_server`: the side effect `body-hash-dedupe` drops is waited for until the vendor
timeout passes, and the burst of `serial-slow` outlasts it; a shorter timeout ends both waits sooner."""
X8_FLAWS = [f for f in FLAWS if f != "stale-accepted" and f not in SHORT]


def test_a_correct_8x8_receiver_passes_every_check_with_the_journal_as_evidence(
    server: ServerProcess, tenant: str
) -> None:
    card = run_score(server, "eightbyeight", tenant)
    statuses = {r.id: r.status for r in card.results}
    assert statuses == {c: "not-applicable" if c == "stale-timestamp-rejected" else "pass" for c in CHECKS}
    assert card.oracle == "journal"
    assert {r.id: r.evidence for r in card.results if r.id in DEDUPE} == dict.fromkeys(DEDUPE, "journal")
    assert card.summary.passed == len(CHECKS) - 1
    assert card.tenant == tenant


@pytest.mark.parametrize("flaw", [*X8_FLAWS, *SHORT], ids=[*X8_FLAWS, *SHORT])
def test_an_8x8_receiver_with_one_flaw_fails_exactly_its_check(
    request: pytest.FixtureRequest, tenant: str, flaw: str
) -> None:
    server: ServerProcess = request.getfixturevalue("server" if flaw in X8_FLAWS else "short_server")
    card = run_score(server, "eightbyeight", tenant, flaw=flaw)
    assert card.failed == {FLAWS[flaw]} | ALSO_FAILS.get(flaw, set()), card.model_dump_json(indent=1)
    failed = card.result(FLAWS[flaw])
    assert failed.requests, "a failure shows the requests that made it"
    assert all(q.url.endswith("/webhook") and q.body_base64 is not None for q in failed.requests)


def test_without_callbacks_or_a_probe_the_side_effect_checks_are_advisory(
    short_server: ServerProcess, tenant: str
) -> None:
    # nothing shows the receiver's side effects: the calibration waits out settle + the vendor timeout for them
    card = run_score(short_server, "eightbyeight", tenant, probe=False, calls_back=False,
                     checks=[*DEDUPE, "no-redirect"])  # fmt: skip
    assert card.oracle == "status"
    assert {r.id: (r.status, r.evidence) for r in card.results if r.id in DEDUPE} == dict.fromkeys(
        DEDUPE, ("advisory", "status")
    )
    assert all(r.requests for r in card.results if r.status == "advisory")


def test_the_probe_is_the_evidence_when_the_receiver_does_not_call_back(
    short_server: ServerProcess, tenant: str
) -> None:
    card = run_score(short_server, "eightbyeight", tenant, calls_back=False, flaw="body-hash-dedupe",
                     checks=sorted(DEDUPE))  # fmt: skip
    assert card.oracle == "probe"
    assert card.result("distinct-events-kept").status == "fail"
    assert card.result("distinct-events-kept").evidence == "probe"
    assert card.result("retry-deduplicated").status == "pass"


def test_a_correct_chatwoot_receiver_passes_the_hmac_checks(signed_server: ServerProcess, tenant: str) -> None:
    card = run_score(signed_server, "sangoma", tenant, secret=tenant_secret(signed_server, tenant))
    statuses = {r.id: r.status for r in card.results}
    assert statuses == {c: "not-applicable" if c in JWS_ONLY else "pass" for c in CHECKS}, card.model_dump_json(
        indent=1
    )
    assert card.oracle == "probe"


@pytest.mark.parametrize(
    ("flaw", "check", "status"),
    [
        ("reserialized-body", "tampered-body-rejected", "fail"),
        ("missing-accepted", "missing-signature-rejected", "fail"),
        ("malformed-accepted", "malformed-signature-rejected", "fail"),
        ("stale-accepted", "stale-timestamp-rejected", "advisory"),
    ],
    ids=["tampered", "missing", "malformed", "stale"],
)
def test_a_chatwoot_receiver_with_one_flaw_is_caught(
    signed_server: ServerProcess, tenant: str, flaw: str, check: str, status: str
) -> None:
    secret = tenant_secret(signed_server, tenant)
    card = run_score(signed_server, "sangoma", tenant, flaw=flaw, secret=secret, checks=sorted(SIGNATURE - JWS_ONLY))
    assert {r.id: r.status for r in card.results if r.status in ("fail", "advisory")} == {check: status}


def test_a_chatwoot_receiver_of_an_unsigned_server_has_no_signature_checks(server: ServerProcess, tenant: str) -> None:
    card = run_score(server, "sangoma", tenant, signed=False)
    for check in SIGNATURE:
        r = card.result(check)
        assert r.status == "not-applicable"
        assert "signing is off" in r.detail or "only 8x8" in r.detail
    assert card.failed == set()
    assert card.result("retry-deduplicated").status == "pass"
    assert "Chatwoot v4.10 does not retry" in card.result("retry-deduplicated").detail


@pytest.mark.parametrize("vendor", ["cmcom", "samespace"])
def test_unsigned_vendors_are_scored_on_delivery_alone(server: ServerProcess, tenant: str, vendor: str) -> None:
    card = run_score(server, vendor, tenant)
    assert card.failed == set(), card.model_dump_json(indent=1)
    assert {card.result(c).status for c in SIGNATURE} == {"not-applicable"}
    assert card.oracle == "probe"
    expected_na = {"distinct-events-kept"} if vendor == "samespace" else set()
    assert {r.id for r in card.results if r.status == "not-applicable"} == SIGNATURE | expected_na


def test_a_vendors_unsigned_receiver_fails_its_dedupe_flaw(server: ServerProcess, tenant: str) -> None:
    card = run_score(server, "cmcom", tenant, flaw="racy-dedupe", checks=sorted(DEDUPE))
    assert card.failed == {"concurrent-deduplicated"}
