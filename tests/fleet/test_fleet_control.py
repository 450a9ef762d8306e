"""The control plane's part of a fleet, without a fleet: which tenant a control request is about (it goes to that
tenant's owner), and how the answers of a fan-out merge into the one a single server would give."""

from __future__ import annotations

from typing import Any

import pytest

from emulator.core.fleet_control import FANNED, control_tenant


def scope(method: str, path: str, query: str = "") -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "query_string": query.encode()}


@pytest.mark.parametrize(
    ("method", "path", "query", "body", "tenant"),
    [
        ("GET", "/_emulator/clock", "tenant=acme", b"", "acme"),
        ("POST", "/_emulator/reset", "vendor=echo&tenant=acme", b"", "acme"),
        ("GET", "/_emulator/deliveries", "tenant=acme&wait=5&count=2", b"", "acme"),
        ("POST", "/_emulator/clock/advance", "tenant=a&tenant=b", b"", None),
        ("POST", "/_emulator/reset", "", b"", None),
        ("POST", "/_emulator/vendors/eightbyeight/tenants/acme/conversations/c1/agent", "", b"", "acme"),
        ("PUT", "/_emulator/vendors/cmcom/tenants/a%20b/webhooks", "", b"", "a b"),
        ("POST", "/_emulator/tenants", "", b'{"tenant": "acme", "vendors": ["echo"]}', "acme"),
        ("POST", "/_emulator/tenants", "", b"{not json", None),
        ("POST", "/_emulator/tenants", "", b'["acme"]', None),
        ("GET", "/_emulator/tenants", "", b"", None),
    ],
    ids=[
        "query",
        "reset-one",
        "long-poll",
        "several",
        "fleet-wide",
        "hand-action",
        "encoded",
        "provision",
        "provision-bad-json",
        "provision-not-object",
        "listing",
    ],
)
def test_the_tenant_a_control_request_is_about(
    method: str, path: str, query: str, body: bytes, tenant: str | None
) -> None:
    assert control_tenant(scope(method, path, query), body) == tenant


def test_a_fanned_out_reset_lists_every_workers_tenants_once_in_order() -> None:
    merge = FANNED[("POST", "/_emulator/reset")]
    mine = {"reset": [{"vendor": "echo", "tenant": "b"}]}
    others = [{"reset": [{"vendor": "echo", "tenant": "a"}, {"vendor": "echo", "tenant": "b"}]}, {"reset": []}]
    assert merge(mine, others) == {"reset": [{"vendor": "echo", "tenant": "a"}, {"vendor": "echo", "tenant": "b"}]}


def test_a_fanned_out_advance_counts_every_workers_timers_and_joins_their_timelines() -> None:
    merge = FANNED[("POST", "/_emulator/clock/advance")]
    mine = {"now": 10.0, "iso": "x", "timers_run": 2, "timelines": {"b": 10.0}}
    merged = merge(mine, [{"now": 10.0, "iso": "x", "timers_run": 3, "timelines": {"a": 12.0}}])
    assert merged == {"now": 10.0, "iso": "x", "timers_run": 5, "timelines": {"a": 12.0, "b": 10.0}}


def test_fanned_out_journals_and_deliveries_come_back_in_time_order() -> None:
    requests = FANNED[("GET", "/_emulator/requests")]
    merged = requests({"requests": [{"seq": 1, "at": 5.0}]}, [{"requests": [{"seq": 1, "at": 3.0}]}])
    assert [r["at"] for r in merged["requests"]] == [3.0, 5.0]
    deliveries = FANNED[("GET", "/_emulator/deliveries")]
    merged = deliveries(
        {"deliveries": [{"id": "d2", "created_at": 2.0}]}, [{"deliveries": [{"id": "d1", "created_at": 1.0}]}]
    )
    assert [d["id"] for d in merged["deliveries"]] == ["d1", "d2"]
