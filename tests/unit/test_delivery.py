"""One delivery record: the dataclasses, the log entry, the snapshot entry and their models stay in step."""

from __future__ import annotations

import dataclasses

from emulator.core.delivery import (
    Attempt,
    AttemptOut,
    Delivery,
    DeliveryOut,
    SnapshotAttempt,
    SnapshotDelivery,
)


def _delivery() -> Delivery:
    d = Delivery(
        id="dlv_1",
        seq=3,
        vendor="echo",
        tenant="t1",
        event_id="ev_1",
        event_type="item.created",
        subject="it-1",
        url="http://127.0.0.1:1/hook",
        body=b'{"a":1}',
        profile={"k": "v"},
        created_at=10.0,
        not_before=11.0,
    )
    d.attempts.append(Attempt(n=0, at=10.0, url=d.url, headers={"x": "y"}, status=500, latency_ms=1.5))
    return d


def test_every_shape_of_an_attempt_has_the_same_fields() -> None:
    names = [f.name for f in dataclasses.fields(Attempt)]
    assert names == list(AttemptOut.model_fields) == list(SnapshotAttempt.model_fields)


def test_the_log_entry_is_a_delivery_out() -> None:
    out = _delivery().to_json()
    assert list(out) == list(DeliveryOut.model_fields)
    assert DeliveryOut.model_validate(out).model_dump() == out
    assert "body" not in _delivery().to_json(with_body=False)


def test_the_snapshot_entry_round_trips() -> None:
    d = _delivery()
    saved = d.persist()
    assert set(saved) == set(SnapshotDelivery.model_fields)
    back = Delivery.restored(SnapshotDelivery.model_validate(saved))
    assert back == d
