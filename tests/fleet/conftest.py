"""Fixtures of the fleet tests: the session's real `redis-server` (tests/store's), and `cxemu serve --workers 2` on
it as a user runs it, with each worker's private address and pid read from the fleet's registry in Redis."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from tests.store.conftest import redis_server, redis_url
from tests.support.procs import ServerProcess
from tests.support.redis_server import SKIP_REASON, RedisServer, binary

__all__ = ["redis_server", "redis_url"]

TTL = "1"
"""Lease ttl of the fleets under test (seconds): a killed owner's tenants are taken over after about this."""


@dataclass
class Worker:
    id: str
    address: str
    pid: int

    @property
    def url(self) -> str:
        return f"http://{self.address}"


def workers(url: str, count: int, timeout: float = 60.0, gone: frozenset[str] = frozenset()) -> list[Worker]:
    """The `count` workers registered in Redis (waits for them, polling the registry with a deadline)."""
    client = redis.Redis.from_url(url, decode_responses=True)
    client.config_set("notify-keyspace-events", "Kh")  # each beat of a worker is an event to wait on
    changes = client.pubsub(ignore_subscribe_messages=True)
    changes.subscribe("__keyspace@0__:cxemu:workers")
    deadline = time.monotonic() + timeout
    try:
        while True:
            found = [
                Worker(worker, entry["address"], entry["pid"])
                for worker, text in sorted(client.hgetall("cxemu:workers").items())
                if worker not in gone and (entry := json.loads(text))["address"]
            ]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(found)} of {count} workers registered within {timeout:g}s")
            changes.get_message(timeout=deadline - time.monotonic())  # the registry changed (or the deadline)
    finally:
        changes.close()
        client.close()


Fleet = tuple[ServerProcess, list[Worker]]
"""The fleet under test: `cxemu serve` (its public port) and its workers."""


def serve_fleet(tmp_path: Path, url: str, *more: str, name: str = "fleet") -> ServerProcess:
    return ServerProcess(
        "--port", "0", "--clock", "virtual", "--state", url, "--workers", "2", "--lease-ttl", TTL,
        "--log-level", "info", "--no-webhook-log", *more, log=tmp_path / f"{name}.log",
    )  # fmt: skip


def serve_single(tmp_path: Path, url: str, seed: str) -> ServerProcess:
    """One Redis-backed `cxemu serve` on database 1 of the fleet's Redis: what a fleet's answers are compared with
    (the same seed and inputs give the same bytes)."""
    one_url = url.rpartition("/")[0] + "/1"
    return ServerProcess(
        "--port", "0", "--clock", "virtual", "--seed", seed, "--state", one_url, "--log-level", "warning",
        log=tmp_path / "single.log",
    )  # fmt: skip


@contextlib.contextmanager
def fleet_on_own_redis(tmp_path: Path, name: str) -> Iterator[tuple[RedisServer, list[Worker]]]:
    """A two-worker fleet on a Redis of its own (with its append-only file, so a test may stop and start it): the
    Redis and the workers. The fleet must stop cleanly (exit status 0) after the test."""
    (tmp_path / "redis").mkdir()
    own = RedisServer(tmp_path / "redis", aof=True)
    server = serve_fleet(tmp_path, own.url, name=name)
    try:
        yield own, workers(own.url, 2)
    finally:
        status = server.terminate()
        own.stop()
    assert status == 0, server.stderr()


@pytest.fixture
def fleet(tmp_path: Path, redis_url: str) -> Iterator[Fleet]:
    """`cxemu serve --workers 2` on the emptied Redis, and its two workers."""
    server = serve_fleet(tmp_path, redis_url)
    try:
        yield server, workers(redis_url, 2)
    finally:
        status = server.terminate()
        assert status == 0, server.stderr()


SharedFleet = tuple[str, ServerProcess, list[Worker]]
"""A module's fleet: its Redis's URL, `cxemu serve` and its workers."""


@pytest.fixture(scope="module")
def shared_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedFleet]:
    """`cxemu serve --workers 2` on a Redis of its own (the session's is emptied for each test), once for the tests
    of a module that only touch tenants of their own and neither stop, kill nor reconfigure the fleet: a fleet
    costs three processes' start. The fleet must stop cleanly (exit status 0) after the module."""
    if binary() is None:
        pytest.skip(SKIP_REASON)
    folder = tmp_path_factory.mktemp("shared-fleet")
    (folder / "redis").mkdir()
    own = RedisServer(folder / "redis")
    try:
        server = serve_fleet(folder, own.url, name="shared-fleet")
        try:
            yield own.url, server, workers(own.url, 2)
        finally:
            status = server.terminate()
        assert status == 0, server.stderr()
    finally:
        own.stop()
