"""`POST /_emulator/verify-receiver`: its error cases (bad body, unknown vendor, nothing answering, a probe that
does not count) in the control plane's envelope, never a 500; and the pytest helper `cxemu.verify_receiver`."""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest

from emulator.pytest_plugin import CxemuHandle
from tests.support.procs import ServerProcess
from tests.verify.receivers import Receiver, serve


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def post(server: ServerProcess, body: Any = None, content: bytes | None = None) -> httpx.Response:
    url = f"{server.url}/_emulator/verify-receiver"
    if content is not None:
        return httpx.post(url, content=content, headers={"content-type": "application/json"}, timeout=120)
    return httpx.post(url, json=body, timeout=120)


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        (b"not json", 400, "invalid_request", ""),
        ({"vendor": "cmcom"}, 400, "invalid_request", "url"),
        ({"vendor": "cmcom", "url": "http://127.0.0.1:9/", "extra": 1}, 400, "invalid_request", "extra"),
        ({"vendor": "cmcom", "url": "http://127.0.0.1:9/", "settle": 31}, 400, "invalid_request", "settle"),
        ({"vendor": "cmcom", "url": "http://127.0.0.1:9/", "settle": "1"}, 400, "invalid_request", "settle"),
        (
            {"vendor": "cmcom", "url": "http://127.0.0.1:9/", "checks": ["nope"]},
            400,
            "invalid_request",
            "checks: 'nope' is not a check",
        ),
        ({"vendor": "cmcom", "url": "ftp://127.0.0.1/x"}, 400, "invalid_request", "url"),
        ({"vendor": "nope", "url": "http://127.0.0.1:9/"}, 404, "unknown_vendor", "no vendor 'nope'"),
        ({"vendor": "cmcom", "url": "http://127.0.0.1:{port}/"}, 422, "unreachable", "url: nothing answers at"),
    ],
    ids=[
        "not-json",
        "no-url",
        "extra-field",
        "settle-too-big",
        "settle-a-string",
        "unknown-check",
        "not-http",
        "unknown-vendor",
        "unreachable",
    ],
)
def test_bad_requests_get_the_control_plane_error(
    server: ServerProcess, body: Any, status: int, code: str, message: str
) -> None:
    if isinstance(body, dict) and "{port}" in body.get("url", ""):
        body = body | {"url": body["url"].format(port=free_port())}
    r = post(server, content=body) if isinstance(body, bytes) else post(server, body)
    assert r.status_code == status, r.text
    assert r.json()["error"] == code
    assert message in r.json()["message"]


def test_an_unreachable_probe_is_422(server: ServerProcess) -> None:
    rx = Receiver("cmcom", server.url, "probe-down")
    with serve(rx):
        r = post(server, {"vendor": "cmcom", "url": rx.url, "probe": f"http://127.0.0.1:{free_port()}/count"})
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "unreachable"
    assert r.json()["message"].startswith("probe: nothing answers at")


def test_a_probe_that_does_not_count_is_422(server: ServerProcess) -> None:
    rx = Receiver("cmcom", server.url, "probe-bad")
    with serve(rx):
        r = post(server, {"vendor": "cmcom", "url": rx.url, "probe": rx.url, "checks": ["retry-deduplicated"]})
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "bad_probe"
    assert 'did not answer {"count": n}' in r.json()["message"]


def test_without_a_tenant_a_new_one_is_used_each_run(server: ServerProcess) -> None:
    rx = Receiver("cmcom", server.url, "unused")
    with serve(rx):  # the probe's count ends the calibration (without it: settle + CM's 10 s timeout, each run)
        body = {"vendor": "cmcom", "url": rx.url, "checks": ["unknown-event-tolerated"], "settle": 0.2,
                "probe": rx.url.removesuffix("/webhook") + "/count"}  # fmt: skip
        first = post(server, body)
        second = post(server, body)
    assert first.status_code == second.status_code == 200
    assert first.json()["tenant"].startswith("verify-")
    assert first.json()["tenant"] != second.json()["tenant"]
    assert first.json()["summary"] == {"pass": 1, "fail": 0, "advisory": 0, "not-applicable": 0}


def test_the_sends_are_in_the_journal_of_the_tenant(server: ServerProcess) -> None:
    rx = Receiver("eightbyeight", server.url, "journal-sends")
    with serve(rx):
        r = post(server, {"vendor": "eightbyeight", "url": rx.url, "tenant": "journal-sends", "settle": 0.2,
                          "checks": ["retry-deduplicated"]})  # fmt: skip
    assert r.status_code == 200, r.text
    params = {"tenant": "journal-sends", "kind": "attempt", "limit": 1000}
    journal = httpx.get(f"{server.url}/_emulator/journal", params=params, timeout=30).json()
    sent = [e["data"] for e in journal["entries"] if e["data"].get("verify") == "retry-deduplicated"]
    assert [(d["n"], d["status"], d["url"]) for d in sent] == [(0, 200, rx.url), (1, 200, rx.url)]


def test_the_pytest_helper_scores_a_receiver_on_the_tests_tenant(cxemu: CxemuHandle) -> None:
    # a flaw with one side effect too many (seen at once), not one too few (waited for until the vendor timeout)
    rx = Receiver("eightbyeight", cxemu.url, cxemu.tenant, flaw="retry-reprocessed")
    with serve(rx):
        card = cxemu.verify_receiver(rx.url, vendor="eightbyeight", checks=["retry-deduplicated", "no-redirect"],
                                     settle=0.2)  # fmt: skip
    assert card.tenant == cxemu.tenant
    assert card.failed == {"retry-deduplicated"}
    assert card.result("retry-deduplicated").evidence == "journal"
    assert card.result("no-redirect").status == "pass"
