"""Fixtures of the Store contract: one real `redis-server` per session, and stores of either backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from emulator.core.clock import VirtualClock
from emulator.core.store import Store, Tx, open_store
from tests.support import echo_vendor
from tests.support.echo_vendor import EchoState
from tests.support.redis_server import SKIP_REASON, RedisServer, binary

BACKENDS = ["memory", "redis"]
SLUG = echo_vendor.SLUG

StoreFactory = Callable[..., Store]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real `redis-server` on a free port in a temporary folder, once per session (per xdist worker)."""
    if binary() is None:
        pytest.skip(SKIP_REASON)
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session's Redis, emptied for this test."""
    redis_server.flush()
    return redis_server.url


def registered(store: Store, committed: list[Tx[Any]] | None = None) -> Store:
    store.register(SLUG, EchoState, lambda tenant, ids: EchoState())
    if committed is not None:
        store.on_commit(committed.append)
    return store


@pytest.fixture(params=BACKENDS)
async def make_store(request: pytest.FixtureRequest) -> AsyncIterator[Callable[..., Awaitable[Store]]]:
    """Stores of the backend under test, the echo vendor registered and `load`ed; every store a test makes with
    Redis shares the one (emptied) database, as the workers of one deployment would. Closed at teardown."""
    state = "memory" if request.param == "memory" else request.getfixturevalue("redis_url")
    made: list[Store] = []

    async def factory(committed: list[Tx[Any]] | None = None, clock: VirtualClock | None = None) -> Store:
        store = registered(open_store(state, 7, clock or VirtualClock()), committed)
        store.load()
        made.append(store)
        return store

    yield factory
    for store in made:
        await store.close()
