"""What commit hooks do to the next commit (issue 16: the Redis backend's writes at <= 1.5x memory's CPU).

A commit hook runs after the commit (the kernel's event translation and the vendors' `on_event` reactions, which
only schedule; retention, which evicts). On the Redis backend every entity a hook reaches the ordinary way is
marked (`core.tracked`), so the tenant's next commit serialises it to see whether it changed: a change a hook makes
in place is committed on either backend. A hook that only reads takes the entity with `look`, and then the next
commit does not serialise it again (an 8x8 message's conversation cost ~150 k instructions per request that way)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from pydantic import BaseModel, Field, field_serializer

from emulator.core.clock import VirtualClock
from emulator.core.ids import TenantIds
from emulator.core.store import Store, Tx, open_store
from emulator.core.tracked import look

LOOKED = "looked"
"""A vendor of this test only: one collection whose entities count how often they are serialised."""

SERIALISED: dict[str, int] = {}
"""Per note id: how many times it was turned into JSON."""


class Note(BaseModel):
    id: str
    text: str = ""
    seen: int = 0

    @field_serializer("id")
    def _count(self, value: str) -> str:
        SERIALISED[value] = SERIALISED.get(value, 0) + 1
        return value


class LookedState(BaseModel):
    title: str = ""
    notes: dict[str, Note] = Field(default_factory=dict)


def new_state(tenant: str, ids: TenantIds) -> LookedState:
    return LookedState(title=tenant, notes={"a": Note(id="a"), "b": Note(id="b")})


@pytest.fixture(params=["memory", "redis"])
async def make(request: pytest.FixtureRequest) -> AsyncIterator[Callable[..., Store]]:
    """`make(hook)` a store of the backend under test (every store of a test shares the one emptied Redis), with
    `hook` as its commit hook; all closed at teardown."""
    state = "memory" if request.param == "memory" else request.getfixturevalue("redis_url")
    made: list[Store] = []

    def factory(hook: Callable[[Tx[Any]], None] | None = None) -> Store:
        store = open_store(state, 7, VirtualClock())
        store.register(LOOKED, LookedState, new_state)
        if hook is not None:
            store.on_commit(hook)
        store.load()
        made.append(store)
        return store

    yield factory
    for store in made:
        await store.close()


def notes(store: Store) -> LookedState:
    state = store.peek(LOOKED, "t")
    assert isinstance(state, LookedState)
    return state


async def test_an_entity_a_commit_hook_changes_in_place_is_committed(make: Callable[..., Store]) -> None:
    def react(tx: Tx[Any]) -> None:  # reached with `get`: the change is marked
        note = tx.state.notes.get("a")
        assert note is not None
        note.seen += 1

    store = make(react)
    async with store.tenant(LOOKED, "t") as tx:
        tx.emit("made", "a")
    async with store.tenant(LOOKED, "t") as tx:  # a later unit that changes something else
        tx.state.title = "later"
    assert notes(store).notes["a"].seen == 1
    if store.shared:  # what another process reads back from Redis
        fresh = make()
        assert notes(fresh).notes["a"].seen == 1
        assert fresh.snapshot() == store.snapshot()


async def test_an_entity_a_commit_hook_only_looks_at_is_not_serialised_by_the_next_commit(
    make: Callable[..., Store],
) -> None:
    looked: list[Note] = []

    def react(tx: Tx[Any]) -> None:
        looked.append(look(tx.state.notes, "a"))

    store = make(react)
    async with store.tenant(LOOKED, "t") as tx:
        tx.state.notes["a"].text = "changed by the unit"
        tx.emit("changed", "a")
    assert len(looked) == 1
    assert looked[0].text == "changed by the unit"
    before = dict(SERIALISED)
    async with store.tenant(LOOKED, "t") as tx:
        tx.state.title = "later"
    assert dict(SERIALISED) == before  # neither note: the unit reached none, the hook only looked
    if store.shared:
        assert notes(make()).notes["a"].text == "changed by the unit"


async def test_an_entity_a_commit_hook_reaches_with_get_is_serialised_again_by_the_next_commit(redis_url: str) -> None:
    """The other side of the test above: without `look` the hook's read costs the next commit a serialisation."""

    def react(tx: Tx[Any]) -> None:
        tx.state.notes.get("b")

    store = open_store(redis_url, 7, VirtualClock())
    store.register(LOOKED, LookedState, new_state)
    store.on_commit(react)
    store.load()
    try:
        async with store.tenant(LOOKED, "t") as tx:
            tx.emit("made", "b")
        before = SERIALISED.get("b", 0)
        async with store.tenant(LOOKED, "t") as tx:
            tx.state.title = "later"
        assert SERIALISED.get("b", 0) == before + 1
    finally:
        await store.close()
