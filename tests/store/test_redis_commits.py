"""What the Redis backend writes per commit (issue 16 phase 2) and the hooks a fleet of workers sets on the store.

A vendor state's entity collections (`dict[K, Entity]` fields) are stored one Redis hash each, one field per entity,
and a commit writes only the entities its unit of work reached (`core.tracked`). Whatever a unit does to a
collection, a store that reads Redis afresh must rebuild exactly the state the committing store holds, in the same
order: the memory backend, running the same units, is the oracle. Then the fleet's hooks: `fence` (a commit is
refused once this worker's lease is gone), `authoritative` (an owner's unit of work reads nothing from Redis),
`outbox` (an entry appended atomically with the state) and `load_tenant` (a claiming worker reads a tenant whole)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from emulator.core.clock import VirtualClock
from emulator.core.ids import TenantIds
from emulator.core.rediskeys import tenant_key, vendor_key
from emulator.core.redisstore import OUTBOX, OWNER, Fenced, StateUnavailable, collection_key, items_key
from emulator.core.store import StateConflict, Store, Tx, open_store
from emulator.core.tracked import FROZEN_ITEMS
from emulator.vendors.eightbyeight import state as ebe
from emulator.vendors.eightbyeight.constants import SLUG as SLUG_8X8
from tests.store.conftest import SLUG, registered
from tests.support.echo_vendor import EchoState, Item
from tests.support.redis_server import RedisServer

TRACKED = "tracked"
"""A vendor of this test only: its state has an int-keyed collection of dataclasses, a str-keyed one of models."""


@dataclasses.dataclass(slots=True)
class Line:
    text: str
    seen: bool = False


@dataclasses.dataclass(slots=True)
class Entity:
    id: int
    tags: list[str] = dataclasses.field(default_factory=list)
    note: str | None = None


@dataclasses.dataclass(slots=True)
class Log:
    id: int
    lines: list[Line] = dataclasses.field(default_factory=list, metadata={FROZEN_ITEMS: True})


class Note(BaseModel):
    text: str
    seen: int = 0


class TrackedState(BaseModel):
    title: str = ""
    entities: dict[int, Entity] = Field(default_factory=dict)
    notes: dict[str, Note] = Field(default_factory=dict)
    order: list[int] = Field(default_factory=list)
    logs: dict[int, Log] = Field(default_factory=dict)


def new_tracked(tenant: str, ids: TenantIds) -> TrackedState:
    return TrackedState(title=tenant, entities={1: Entity(1, ["first"])}, notes={"a": Note(text="made")})


def make(url: str, committed: list[Tx[Any]] | None = None) -> Store:
    store = registered(open_store(url, 7, VirtualClock()), committed)
    store.register(TRACKED, TrackedState, new_tracked)
    store.load()
    return store


@pytest.fixture
async def stores(redis_url: str) -> AsyncIterator[Callable[..., Store]]:
    """`stores()` makes a store on the test's Redis (`stores("memory")` one in memory); all closed at teardown."""
    made: list[Store] = []

    def factory(state: str = redis_url, committed: list[Tx[Any]] | None = None) -> Store:
        made.append(store := make(state, committed))
        return store

    yield factory
    for store in made:
        await store.close()


def client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, decode_responses=True)


def tracked(store: Store, tenant: str = "t") -> TrackedState:
    state = store.peek(TRACKED, tenant)
    assert isinstance(state, TrackedState)
    return state


# -- what a commit writes ------------------------------------------------------------------------------------


async def test_each_entity_is_a_field_of_its_collection_hash_and_the_rest_stays_in_the_state_document(
    stores: Callable[..., Store], redis_url: str
) -> None:
    store = stores()
    async with store.tenant(TRACKED, "t") as tx:
        tx.state.entities[7] = Entity(7, ["x"])
    with client(redis_url) as r:
        document = json.loads(r.hget(vendor_key(TRACKED, "t"), "s") or "")
        assert document == {"title": "t", "order": []}
        stored = r.hgetall(collection_key(TRACKED, "t", "entities"))
        assert stored == {"1": '0 {"id":1,"tags":["first"],"note":null}', "7": '1 {"id":7,"tags":["x"],"note":null}'}
        assert r.hgetall(collection_key(TRACKED, "t", "notes")) == {"a": '0 {"text":"made","seen":0}'}


async def test_a_commit_writes_the_entities_its_unit_reached_and_no_other(
    stores: Callable[..., Store], redis_url: str
) -> None:
    store = stores()
    async with store.tenant(TRACKED, "t") as tx:
        for n in range(2, 40):
            tx.state.entities[n] = Entity(n)
    key = collection_key(TRACKED, "t", "entities")
    with client(redis_url) as r:
        r.hset(key, "30", "sentinel")  # had the commit below rewritten entity 30, this would be gone
        async with store.tenant(TRACKED, "t") as tx:
            tx.state.entities[5].tags.append("changed in place")
            del tx.state.entities[6]
            tx.state.title = "renamed"
        assert r.hget(key, "30") == "sentinel"
        assert r.hget(key, "5") == '4 {"id":5,"tags":["changed in place"],"note":null}'
        assert not r.hexists(key, "6")
        assert json.loads(r.hget(vendor_key(TRACKED, "t"), "s") or "")["title"] == "renamed"
        version = r.hget(vendor_key(TRACKED, "t"), "v")
        async with store.tenant(TRACKED, "t") as tx:
            assert tx.state.entities[5].tags == ["changed in place"]  # reached, unchanged: nothing to commit
        assert r.hget(vendor_key(TRACKED, "t"), "v") == version


async def test_an_entity_changed_after_the_commit_by_a_commit_hook_goes_with_the_next_commit(
    stores: Callable[..., Store], redis_url: str
) -> None:
    committed: list[Tx[Any]] = []
    store = stores(committed=committed)

    def evict(tx: Tx[Any]) -> None:  # as retention does: after the commit, while the tenant's lock is held
        if isinstance(tx.state, TrackedState) and tx.events:
            for entity in tx.state.entities.values():
                entity.note = "swept"
            tx.state.notes.pop("a", None)

    store.on_commit(evict)
    async with store.tenant(TRACKED, "t") as tx:
        tx.emit("made", "t")
    async with store.tenant(TRACKED, "t") as tx:
        tx.state.title = "later"
    fresh = stores()
    assert tracked(fresh).entities[1].note == "swept"
    assert tracked(fresh).notes == {}
    assert fresh.snapshot() == store.snapshot()


async def test_an_entity_reached_with_a_key_of_another_type_is_written(
    stores: Callable[..., Store], redis_url: str
) -> None:
    store = stores()
    async with store.tenant(TRACKED, "t") as tx:
        tx.state.entities[1].tags.clear()
    async with store.tenant(TRACKED, "t") as tx:
        found = tx.state.entities.get(True)  # True == 1: the same entity
        assert found is not None
        found.note = "via True"
        assert tx.state.entities.get("1") is None  # a str is never an int key: reaches nothing, deletes nothing
    fresh = stores()
    assert tracked(fresh).entities == {1: Entity(1, [], "via True")}


async def test_a_state_stored_whole_by_phase_1_is_read_and_its_next_commit_splits_it(
    stores: Callable[..., Store], redis_url: str
) -> None:
    whole = {"title": "old", "entities": {"3": {"id": 3, "tags": ["kept"], "note": None}}, "notes": {}, "order": [3]}
    with client(redis_url) as r:
        r.hset(vendor_key(TRACKED, "t"), mapping={"v": 4, "s": json.dumps(whole), "c": "{}", "p": "0"})
        r.sadd("cxemu:tenants", f"{TRACKED}:t")
        store = stores()
        assert tracked(store).entities == {3: Entity(3, ["kept"])}
        async with store.tenant(TRACKED, "t") as tx:
            tx.state.title = "new"
        assert json.loads(r.hget(vendor_key(TRACKED, "t"), "s") or "") == {"title": "new", "order": [3]}
        assert r.hgetall(collection_key(TRACKED, "t", "entities")) == {"3": '0 {"id":3,"tags":["kept"],"note":null}'}
    assert stores().snapshot() == store.snapshot()


REACH: dict[str, Callable[[dict[int, Entity]], Entity]] = {
    "[]": lambda es: es[1],
    "get": lambda es: es.get(1) or Entity(0),
    "values": lambda es: next(iter(es.values())),
    "items": lambda es: next(iter(es.items()))[1],
    "setdefault": lambda es: es.setdefault(1, Entity(0)),
    "dict()": lambda es: dict(es)[1],
    "{**}": lambda es: {**es}[1],
    "update": lambda es: (other := {}, other.update(es), other[1])[2],
    "copy": lambda es: es.copy()[1],
    "|": lambda es: (es | {})[1],
    "{} |": lambda es: ({} | es)[1],
    "sorted items": lambda es: sorted(es.items())[0][1],
    "min of values": lambda es: min(es.values(), key=lambda e: e.id),
}


@pytest.mark.parametrize("reach", list(REACH), ids=list(REACH))
async def test_an_entity_changed_in_place_is_written_however_the_unit_reached_it(
    stores: Callable[..., Store], reach: str
) -> None:
    store = stores()
    async with store.tenant(TRACKED, "t") as tx:
        tx.state.entities[2] = Entity(2)
    async with store.tenant(TRACKED, "t") as tx:
        REACH[reach](tx.state.entities).tags.append("changed")
    assert tracked(stores()).entities[1].tags == ["first", "changed"]


# -- whatever units do, a store reading Redis afresh rebuilds the same state (memory is the oracle) -------------

KEYS = st.integers(min_value=1, max_value=4)
OPS = st.one_of(
    st.tuples(st.just("set"), KEYS, st.text(max_size=3)),
    st.tuples(st.just("del"), KEYS, st.none()),
    st.tuples(st.just("pop"), KEYS, st.none()),
    st.tuples(st.just("tag"), KEYS, st.text(max_size=3)),  # a nested list changed through `[]`
    st.tuples(st.just("get-note"), KEYS, st.text(max_size=3)),  # a field changed through `get`
    st.tuples(st.just("values"), st.none(), st.text(max_size=3)),  # every entity changed through `values()`
    st.tuples(st.just("items"), st.none(), st.text(max_size=3)),
    st.tuples(st.just("setdefault"), KEYS, st.text(max_size=3)),
    st.tuples(st.just("update"), KEYS, st.text(max_size=3)),
    st.tuples(st.just("popitem"), st.none(), st.none()),
    st.tuples(st.just("clear"), st.none(), st.none()),
    st.tuples(st.just("replace-filtered"), KEYS, st.none()),  # the vendor assigns a new dict (evictions do)
    st.tuples(st.just("replace-reversed"), st.none(), st.none()),
    st.tuples(st.just("copy-then-change"), KEYS, st.text(max_size=3)),  # a copy hands the same entities out
    st.tuples(st.just("note"), st.text(max_size=2), st.text(max_size=3)),
    st.tuples(st.just("title"), st.none(), st.text(max_size=3)),
    st.tuples(st.just("line"), KEYS, st.text(max_size=3)),  # a FROZEN_ITEMS list: appended, replaced, shortened
    st.tuples(st.just("reline"), KEYS, st.text(max_size=3)),
    st.tuples(st.just("unline"), KEYS, st.none()),
    st.tuples(st.just("del-log"), KEYS, st.none()),
    st.tuples(st.just("replace-logs"), st.none(), st.none()),
)


def apply(state: TrackedState, op: tuple[str, Any, Any]) -> None:
    kind, key, text = op
    es = state.entities
    if kind == "set":
        es[key] = Entity(key, [text])
    elif kind == "del" and key in es:
        del es[key]
    elif kind == "pop":
        es.pop(key, None)
    elif kind == "tag" and key in es:
        es[key].tags.append(text)
    elif kind == "get-note" and (found := es.get(key)) is not None:
        found.note = text
    elif kind == "values":
        for entity in es.values():
            entity.tags.append(text)
    elif kind == "items":
        for _, entity in es.items():
            entity.note = text
    elif kind == "setdefault":
        es.setdefault(key, Entity(key)).tags.append(text)
    elif kind == "update":
        es.update({key: Entity(key, note=text)})
    elif kind == "popitem" and es:
        es.popitem()
    elif kind == "clear":
        es.clear()
    elif kind == "replace-filtered":
        state.entities = {k: v for k, v in es.items() if k != key}
    elif kind == "replace-reversed":
        state.entities = dict(reversed(list(es.items())))
    elif kind == "copy-then-change" and key in es:
        dict(es)[key].note = text
    elif kind == "note":
        state.notes[key or "empty"] = Note(text=text, seen=len(state.notes))
    elif kind == "title":
        state.title = text
    elif kind == "line":
        state.logs.setdefault(key, Log(key)).lines.append(Line(text))
    elif kind == "reline" and key in state.logs and state.logs[key].lines:
        state.logs[key].lines[-1] = Line(text, seen=True)
    elif kind == "unline" and key in state.logs and state.logs[key].lines:
        state.logs[key].lines.pop(0)
    elif kind == "del-log":
        state.logs.pop(key, None)
    elif kind == "replace-logs":
        state.logs = dict(reversed(list(state.logs.items())))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(units=st.lists(st.lists(OPS, max_size=6), min_size=1, max_size=5))
async def test_after_any_units_of_work_a_fresh_read_of_redis_is_the_state_memory_holds(
    redis_server: RedisServer, units: list[list[tuple[str, Any, Any]]]
) -> None:
    redis_server.flush()
    memory, store = make("memory"), make(redis_server.url)
    try:
        for ops in units:
            for each in (memory, store):
                async with each.tenant(TRACKED, "t") as tx:
                    for op in ops:
                        apply(tx.state, op)
        fresh = make(redis_server.url)
        try:
            assert store.snapshot() == memory.snapshot()
            assert fresh.snapshot() == memory.snapshot()
            assert list(tracked(fresh).entities) == list(tracked(memory).entities)  # the order, too
        finally:
            await fresh.close()
    finally:
        await store.close()


# -- the fleet's hooks -------------------------------------------------------------------------------------------


async def test_a_fenced_commit_is_refused_once_the_lease_holds_another_value_and_keeps_nothing(
    stores: Callable[..., Store], redis_url: str
) -> None:
    committed: list[Tx[Any]] = []
    store = stores(committed=committed)
    held: dict[str, str | None] = {"t": "w1:1"}
    store.fence = held.get
    owner = tenant_key("t", OWNER)

    async def titled(title: str) -> None:
        async with store.tenant(TRACKED, "t") as tx:
            tx.state.title = title
            tx.emit("titled", "t")

    async def added() -> None:
        async with store.tenant(TRACKED, "t") as tx:
            tx.state.entities[9] = Entity(9)
            tx.emit("added", "9")

    with client(redis_url) as r:
        with pytest.raises(Fenced) as caught:  # no lease at all: refused
            await titled("never")
        assert isinstance(caught.value, StateConflict)
        assert (caught.value.status_code, caught.value.code) == (409, "conflict")
        assert not r.exists(vendor_key(TRACKED, "t"))
        r.set(owner, "w1:1")
        await titled("mine")
        assert [t.state.title for t in committed] == ["mine"]
        r.set(owner, "w2:2")  # another worker took the tenant over (a new fencing token)
        with pytest.raises(Fenced):
            await added()
        assert len(committed) == 1  # the refused unit's events never left
        assert not r.hexists(collection_key(TRACKED, "t", "entities"), "9")
        held["t"] = None  # a fleet's worker that holds no lease on the tenant commits nothing either
        with pytest.raises(Fenced):
            await titled("no lease")
        held["t"] = "w2:2"  # this worker took the tenant (back) over
        async with store.tenant(TRACKED, "t") as tx:
            assert 9 not in tx.state.entities  # the refused unit's state was read afresh, not kept
            tx.state.title = "owned again"
        assert json.loads(r.hget(vendor_key(TRACKED, "t"), "s") or "")["title"] == "owned again"


def commands(r: redis.Redis) -> dict[str, int]:
    """Calls per command since the last `CONFIG RESETSTAT`, those a script runs included (the test's own INFO and
    CONFIG left out)."""
    stats: dict[str, Any] = r.info("commandstats")  # type: ignore[assignment]
    own = ("cmdstat_info", "cmdstat_config|resetstat")
    return {k.removeprefix("cmdstat_"): v["calls"] for k, v in stats.items() if k not in own}


async def test_a_list_of_frozen_items_is_written_whatever_units_do_to_it_by_replacing_items(
    stores: Callable[..., Store],
) -> None:
    store = stores()  # each item's JSON is kept by identity (`FROZEN_ITEMS`): new, replaced, moved and gone items
    steps: list[Callable[[list[Line]], None]] = [
        lambda lines: lines.extend([Line("a"), Line("b")]),
        lambda lines: lines.append(Line("c")),
        lambda lines: lines.__setitem__(1, dataclasses.replace(lines[1], seen=True)),
        lambda lines: lines.pop(0),
        lambda lines: lines.insert(0, Line("first")),
        lambda lines: lines.reverse(),
        lambda lines: lines.append(lines[0]),  # the same object twice
        lambda lines: lines.clear(),
        lambda lines: lines.append(Line("again")),
    ]
    for step in steps:
        async with store.tenant(TRACKED, "t") as tx:
            step(tx.state.logs.setdefault(1, Log(1)).lines)
            expected = [dataclasses.astuple(line) for line in tx.state.logs[1].lines]
        assert [dataclasses.astuple(line) for line in tracked(stores()).logs[1].lines] == expected
    async with store.tenant(TRACKED, "t") as tx:
        tx.state.logs[2] = Log(2, [Line("x")])
        del tx.state.logs[1]
    assert [(k, [line.text for line in e.lines]) for k, e in tracked(stores()).logs.items()] == [(2, ["x"])]


async def test_an_appended_frozen_item_is_one_field_of_the_items_hash_not_its_entity_written_again(
    stores: Callable[..., Store], redis_url: str
) -> None:
    store = stores()
    async with store.tenant(TRACKED, "t") as tx:
        tx.state.logs[1] = Log(1, [Line("a"), Line("b")])
    entities, items = collection_key(TRACKED, "t", "logs"), items_key(TRACKED, "t", "logs")
    with client(redis_url) as r:
        assert r.hgetall(entities) == {"1": '0+ {"id":1}'}
        assert r.hgetall(items) == {"1\x000": '{"text":"a","seen":false}', "1\x001": '{"text":"b","seen":false}'}
        r.hset(items, "1\x000", '{"text":"only a fresh read sees this","seen":false}')  # the next commit leaves it
        r.hset(entities, "1", '0+ {"id":1,"changed":"behind its back"}')  # an append leaves the entity's field too
        async with store.tenant(TRACKED, "t") as tx:
            tx.state.logs[1].lines.append(Line("c"))
        assert r.hgetall(entities) == {"1": '0+ {"id":1,"changed":"behind its back"}'}
        r.hset(entities, "1", '0+ {"id":1}')
        assert r.hget(items, "1\x000") == '{"text":"only a fresh read sees this","seen":false}'
        assert r.hget(items, "1\x002") == '{"text":"c","seen":false}'
        async with store.tenant(TRACKED, "t") as tx:
            del tx.state.logs[1].lines[1:]
        assert r.hgetall(entities) == {"1": '0+ {"id":1}'}
        assert list(r.hgetall(items)) == ["1\x000"]
        async with store.tenant(TRACKED, "t") as tx:
            tx.state.logs[2] = Log(2, [Line("x")])
            del tx.state.logs[1]
        assert r.hgetall(entities) == {"2": '1+ {"id":2}'}
        assert r.hgetall(items) == {"2\x000": '{"text":"x","seen":false}'}


async def test_an_entity_stored_with_its_frozen_items_inline_is_read_and_its_next_commit_splits_them(
    stores: Callable[..., Store], redis_url: str
) -> None:
    with client(redis_url) as r:  # as commits before the items hash wrote it
        r.hset(vendor_key(TRACKED, "t"), mapping={"v": 4, "s": '{"title":"t","order":[]}', "c": "{}", "p": "0"})
        r.hset(collection_key(TRACKED, "t", "logs"), "5", '0 {"id":5,"lines":[{"text":"old","seen":true}]}')
        r.sadd("cxemu:tenants", f"{TRACKED}:t")
        store = stores()
        assert tracked(store).logs == {5: Log(5, [Line("old", True)])}
        async with store.tenant(TRACKED, "t") as tx:
            tx.state.logs[5].lines.append(Line("new"))
        assert r.hgetall(collection_key(TRACKED, "t", "logs")) == {"5": '0+ {"id":5}'}
        assert len(r.hgetall(items_key(TRACKED, "t", "logs"))) == 2
    assert tracked(stores()).logs == {5: Log(5, [Line("old", True), Line("new")])}


async def test_an_entity_stored_with_its_items_counted_is_read_and_its_next_commit_drops_the_count(
    stores: Callable[..., Store], redis_url: str
) -> None:
    with client(redis_url) as r:  # as branch pipe wrote it: "<position>+<count>"
        r.hset(vendor_key(TRACKED, "t"), mapping={"v": 4, "s": '{"title":"t","order":[]}', "c": "{}", "p": "0"})
        r.hset(collection_key(TRACKED, "t", "logs"), "5", '0+2 {"id":5}')
        r.hset(
            items_key(TRACKED, "t", "logs"), mapping={"5\x000": '{"text":"a","seen":true}', "5\x001": '{"text":"b"}'}
        )
        r.sadd("cxemu:tenants", f"{TRACKED}:t")
        store = stores()
        assert tracked(store).logs == {5: Log(5, [Line("a", True), Line("b")])}
        async with store.tenant(TRACKED, "t") as tx:
            del tx.state.logs[5].lines[0]
        assert r.hgetall(collection_key(TRACKED, "t", "logs")) == {"5": '0+ {"id":5}'}
        assert r.hgetall(items_key(TRACKED, "t", "logs")) == {"5\x000": '{"text":"b","seen":false}'}
    assert tracked(stores()).logs == {5: Log(5, [Line("b")])}


async def test_an_8x8_card_action_is_written_to_redis(redis_url: str) -> None:
    made: list[Store] = []

    def ebe_store() -> Store:  # a conversation's messages are `FROZEN_ITEMS`: a card action replaces its message
        store = open_store(redis_url, 7, VirtualClock())
        store.register(
            SLUG_8X8,
            ebe.EightByEightState,
            lambda t, ids: ebe.EightByEightState(tenant=t, tenant_id=t, customer_id="c"),
        )
        store.load()
        made.append(store)
        return store

    try:
        store = ebe_store()
        card = ebe.Card("k1", "application/vnd.microsoft.card.adaptive")
        async with store.tenant(SLUG_8X8, "t") as tx:
            conv = ebe.Conversation(id="c1", channelId="1", created=1.0, user_participant="u", bot_participant="b")
            conv.messages.append(
                ebe.Message(id="m1", text="pick", at=2.0, author_id="b", author_type="bot", cards=[card])
            )
            tx.state.conversations["c1"] = conv
        for kind in ("Action.Submit", "Action.Execute"):
            async with store.tenant(SLUG_8X8, "t") as tx:
                ebe.card_action(tx, tx.state.conversations["c1"], "k1", kind, {})
        state = ebe_store().peek(SLUG_8X8, "t")
        assert isinstance(state, ebe.EightByEightState)
        (got,) = state.conversations["c1"].messages[0].cards
        assert (got.actionSubmitted, got.actionExecuted) == (True, True)  # a card changed in place would not be
    finally:
        for store in made:
            await store.close()


async def test_an_owners_units_of_work_read_nothing_from_redis_and_its_commits_are_one_script(
    stores: Callable[..., Store], redis_url: str
) -> None:
    store, other = stores(), stores()
    async with store.tenant(TRACKED, "t") as tx:
        tx.state.title = "created"
    store.authoritative = lambda tenant: tenant == "t"
    with client(redis_url) as r:
        r.config_resetstat()
        await store.refresh()
        async with store.tenant(TRACKED, "t") as tx:
            assert tx.state.title == "created"
        assert commands(r) == {}  # no change-stream read, no version check: nothing at all
        async with store.tenant(TRACKED, "t") as tx:
            tx.state.entities[1].note = "owned"
        calls = commands(r)  # (the script's own commands count too)
        assert calls["evalsha"] == 1  # the commit alone: no version read before it ...
        assert "xadd" not in calls  # ... and no change-stream entry after
        async with other.tenant(TRACKED, "t") as tx:  # nobody else may write an owned tenant; if one does ...
            tx.state.title = "behind the owner's back"
        async with store.tenant(TRACKED, "t") as tx:
            assert tx.state.title == "created"  # ... the owner does not read it ...
            state = tx.state
        with pytest.raises(StateConflict):  # ... and its commit is still checked against the version
            async with store.tenant(TRACKED, "t") as tx:
                tx.state.title = "lost"
        async with store.tenant(TRACKED, "t") as tx:  # after a failed commit the owner reads the tenant again
            assert tx.state.title == "behind the owner's back"
            assert tx.state is not state


async def test_the_outbox_entry_is_written_with_the_state_or_not_at_all(
    stores: Callable[..., Store], redis_url: str
) -> None:
    store, other = stores(), stores()
    store.outbox = lambda tx: json.dumps([e.kind for e in tx.events]) if tx.events else None
    outbox = tenant_key("t", OUTBOX)

    async def overtaken() -> None:
        async with store.tenant(TRACKED, "t") as tx:
            tx.state.title = "lost"
            tx.emit("lost", "t")
            async with other.tenant(TRACKED, "t") as rival:
                rival.state.title = "won"

    with client(redis_url) as r:
        async with store.tenant(TRACKED, "t") as tx:
            tx.state.title = "one"
            tx.emit("first", "t")
        async with store.tenant(TRACKED, "t") as tx:
            tx.state.title = "two"  # no event: nothing for the outbox
        version = r.hget(vendor_key(TRACKED, "t"), "v")
        async with store.tenant(TRACKED, "t") as tx:
            tx.emit("typing", "t")  # an event that changes no state still reaches the outbox, the version stays
        assert r.lrange(outbox, 0, -1) == ['["first"]', '["typing"]']
        assert r.hget(vendor_key(TRACKED, "t"), "v") == version

        with pytest.raises(StateConflict):
            await overtaken()
        assert r.lrange(outbox, 0, -1) == ['["first"]', '["typing"]']  # neither the state nor the entry
        assert json.loads(r.hget(vendor_key(TRACKED, "t"), "s") or "")["title"] == "won"


async def test_load_tenant_replaces_every_vendors_cached_state_of_the_name_with_what_redis_holds(
    stores: Callable[..., Store], redis_url: str
) -> None:
    clock = VirtualClock()
    writer = registered(open_store(redis_url, 7, clock))
    writer.register(TRACKED, TrackedState, new_tracked)
    writer.load()
    reader = stores()
    try:
        async with reader.tenant(TRACKED, "t") as tx:
            tx.state.title = "what the reader had"
        async with reader.tenant(SLUG, "gone") as tx:
            tx.state.webhook_url = "http://127.0.0.1:1/old"
        clock.set(clock.now() + 60)
        async with writer.tenant(TRACKED, "t") as tx:
            tx.state.entities[2] = Entity(2, ["from the writer"])
            tx.state.title = "what the writer made"
        async with writer.tenant(SLUG, "t") as tx:
            tx.state.items["x"] = Item(id="x", text="echo", createdAt=tx.now())
        writer.reset(SLUG, "gone")
        reader.authoritative = lambda tenant: True  # an owner's cache is used as it is: load_tenant is what fills it

        assert await reader.load_tenant("t") == clock.now()
        assert await reader.load_tenant("gone") is None
        assert reader.snapshot() == writer.snapshot()
        async with reader.tenant(TRACKED, "t") as tx:
            assert list(tx.state.entities) == [1, 2]
            tx.state.entities[2].tags.append("and the reader")
        async with reader.tenant(SLUG, "t") as tx:
            assert isinstance(tx.state, EchoState)
            assert tx.state.items["x"].text == "echo"
    finally:
        await writer.close()
    assert tracked(stores()).entities[2].tags == ["from the writer", "and the reader"]


@pytest.mark.usefixtures("redis_server")  # skips where redis-server is absent
async def test_an_owners_commit_while_redis_is_down_fails_cleanly_and_the_next_one_reads_afresh(
    tmp_path: Path,
) -> None:
    own = RedisServer(tmp_path, aof=True)
    committed: list[Tx[Any]] = []
    store = make(own.url, committed)
    store.authoritative = lambda tenant: True
    try:
        async with store.tenant(TRACKED, "t") as tx:
            tx.state.title = "kept"
        own.stop()

        async def lost() -> None:
            async with store.tenant(TRACKED, "t") as tx:
                tx.state.title = "lost"
                tx.emit("titled", "t")

        with pytest.raises(StateUnavailable):
            await lost()
        # the owner's commit is pipelined: its hooks ran once it was sent; its failure forgot the tenant here (the
        # deliveries they made never go: tests/fleet/test_pipelined.py)
        assert len(committed) == 1
        assert store.slot(TRACKED, "t") is None
        own.start()
        async with store.tenant(TRACKED, "t") as tx:
            assert tx.state.title == "kept"  # the cache was stale after the failure: read again, not trusted
            tx.state.title = "after"
        restarted = make(own.url)
        assert tracked(restarted).title == "after"
        await restarted.close()
    finally:
        await store.close()
        own.stop()
