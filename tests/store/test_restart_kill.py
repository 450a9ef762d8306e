"""kill -9 a Redis-backed server during a burst of 8x8 messages with webhooks, restart it on the same Redis: every
event is delivered at least once, each conversation's order is kept, no attempt is missing from the delivery log
(the cut one is there as lost), every message answered 202 is still there. A short round here (two kill points);
`bench/killtest.py --rounds 20` runs the full proof (1,000 messages a round)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.killburst import run_round
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.server


@pytest.mark.parametrize("kill_after", [40, 170])
def test_kill_9_mid_burst_loses_no_event_and_keeps_order(
    tmp_path: Path, redis_server: RedisServer, kill_after: int
) -> None:
    redis_server.flush()
    result = run_round(redis_server.url, tmp_path, messages=200, conversations=8, kill_after=kill_after)
    assert result.problems == [], result.line()
    assert result.acked >= kill_after
    assert result.deliveries >= result.acked  # each message answered 202 has its MESSAGE webhook
    assert result.duplicates <= result.lost_attempts + result.unknown + 8  # duplicates only around the kill


def test_kill_9_of_the_owning_worker_of_a_fleet_mid_burst_loses_no_event_and_keeps_order(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    redis_server.flush()
    result = run_round(redis_server.url, tmp_path, messages=200, conversations=8, kill_after=60, workers=2)
    assert result.problems == [], result.line()
    assert result.acked >= 60
    assert result.deliveries >= result.acked
