"""core.chaos: seeded fault decisions per delivery, limited to a vendor or tenant, and the faked first attempts."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from emulator.core.chaos import ChaosConfig, decide, dropped, timed_out
from emulator.core.delivery import Delivery


def delivery(event_id: str, vendor: str = "echo", tenant: str = "t1") -> Delivery:
    return Delivery(
        id="dlv_0000001",
        seq=1,
        vendor=vendor,
        tenant=tenant,
        event_id=event_id,
        event_type="item.created",
        subject="it-1",
        url="http://127.0.0.1:9/hook",
        body=b"{}",
        profile={},
        created_at=100.0,
        not_before=100.0,
    )


def marks(chaos: ChaosConfig, seed: int, events: int = 40, **where: str) -> list[tuple[list[str], float]]:
    out = []
    for n in range(events):
        d = delivery(f"ev{n}", **where)
        decide(chaos, seed, d)
        out.append((d.chaos, d.not_before))
    return out


HALF = ChaosConfig(duplicate=0.5, drop_first=0.5, delay=0.5, delay_seconds=7, timeout=0.5)


def test_the_same_seed_and_events_give_the_same_faults() -> None:
    first = marks(HALF, 3)
    assert first == marks(HALF, 3)
    assert first != marks(HALF, 4)
    for fault in ("duplicate", "drop_first", "delay", "timeout"):
        assert 0 < sum(fault in m for m, _ in first) < len(first)
    assert {at for m, at in first} == {100.0, 107.0}
    assert all((at == 107.0) == ("delay" in m) for m, at in first)


def test_reorder_holds_every_delivery_within_the_window() -> None:
    found = marks(ChaosConfig(reorder_window=10), 1)
    assert all(m == ["reorder"] for m, _ in found)
    assert all(100.0 <= at < 110.0 for _, at in found)
    assert len({at for _, at in found}) > 1


@pytest.mark.parametrize(
    ("chaos", "where"),
    [
        (ChaosConfig(), {}),
        (HALF.model_copy(update={"vendor": "other"}), {}),
        (HALF.model_copy(update={"tenant": "other"}), {}),
    ],
    ids=["off", "other-vendor", "other-tenant"],
)
def test_no_faults_when_off_or_limited_to_others(chaos: ChaosConfig, where: dict[str, str]) -> None:
    assert all(m == [] and at == 100.0 for m, at in marks(chaos, 3, **where))


def test_only_the_first_attempt_is_dropped_or_timed_out() -> None:
    d = delivery("ev1")
    d.chaos = ["drop_first", "timeout"]
    first = dropped(d, 0, 5.0)
    assert first is not None
    assert (first.error, first.chaos, first.headers) == ("dropped by chaos", "drop_first", {})
    late = timed_out(d, 0, 6.0, {"x": "1"})
    assert late is not None
    assert (late.error, late.chaos, late.headers) == ("receiver timed out (chaos)", "timeout", {"x": "1"})
    assert dropped(d, 1, 7.0) is None
    assert timed_out(d, 1, 7.0, {}) is None
    assert dropped(delivery("ev2"), 0, 5.0) is None


def test_bad_config_is_refused() -> None:
    with pytest.raises(ValidationError):
        ChaosConfig(duplicate=1.5)
    with pytest.raises(ValidationError):
        ChaosConfig.model_validate({"duplicates": 0.1})
