"""Dirty tracking of a vendor state's entity collections, so a Redis commit writes only what a unit of work touched.

A vendor's state is one pydantic model; its top-level `dict[K, Entity]` fields (conversations, chats, calls,
webhooks...) can hold thousands of entities, and serialising all of them on every commit is what made the Redis
backend's writes cost 13x the memory backend's (docs/scaling.md, "Measured (phase 1)"). The Redis store
(`core.redisstore`) replaces each such dict of a cached state with a `TrackedDict`: a dict that notes every key
whose entity it hands out or changes, so the commit serialises those entities only.

Conservative, never wrong: an entity that was handed out may have been mutated in place (vendor code mutates
entities and their nested lists freely), so every key reached through `[]`, `get`, `pop`, `setdefault`, assignment
or deletion is marked, and `values()`, `items()`, copies and `|` mark every key. Marks add up until the next
commit takes them, wherever they were made: inside a unit of work, in a commit hook after the commit (retention
evicts there; its evictions go with the tenant's next commit), or in a read (a read never mutates, so that costs
one needless serialisation at most). Only `keys()`, iteration over keys, `in` and `len` mark nothing: they hand out
no entity.

A `TrackedDict` also keeps each key's position (insertion order, as a dict keeps it), because a Redis hash keeps
no order and a reloaded state must list its entities in the order the cached one does (the snapshot, the vendors'
listings). The memory backend never builds a `TrackedDict`.

Code that runs after a commit and only reads (the vendors' `on_event` reactions: "runs inside the commit; only
schedules") reads entities with `look(collection, key)`, which marks nothing: otherwise each entity such a hook reads
is serialised again by the tenant's next commit only to find it unchanged (for an 8x8 message, its conversation:
~150 k instructions, docs/scaling.md). A hook that changes an entity reaches it the ordinary way (`[]`, `get`), so
the change is marked and committed. `look` is a plain `dict.get` on either backend.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, get_args, get_origin, get_type_hints

from pydantic import BaseModel, TypeAdapter
from pydantic_core import SchemaSerializer

FROZEN_ITEMS = "cxemu.frozen_items"
"""Metadata of a list field of a dataclass entity (`field(default_factory=list, metadata={FROZEN_ITEMS: True})`): its
items are never changed in place (vendor code puts a new object in the list for an item that changes), so a commit
serialises only the items it has not serialised before (by identity) and reuses the JSON of the others. An 8x8
conversation's messages: a message is appended and serialised once, not again with every message after it
(docs/scaling.md). An item changed in place instead would keep its old JSON in Redis: never do that to such a list."""


def look(entities: dict[Any, Any], key: Any, default: Any = None) -> Any:
    """`entities.get(key, default)` for code that only reads the entity: a `TrackedDict` does not mark the key, so
    the next commit does not serialise the entity again. Never change what it returns (module docstring)."""
    return dict.get(entities, key, default)


class TrackedDict(dict[Any, Any]):
    """A dict that marks the keys whose values it hands out or changes, and numbers keys in insertion order.

    `take()` returns the marked keys (all of them after `values()`, `items()` or a copy) and starts over."""

    __slots__ = ("_all", "_marks", "_next", "_pos")

    def __init__(
        self, items: Mapping[Any, Any] | None = None, positions: Iterable[int] | None = None, *, marked: bool = True
    ) -> None:
        dict.__init__(self, items or {})
        self._marks: set[Any] = set()
        self._all = marked
        """Every key counts as marked: a collection not written yet, or `values()` was called."""
        if positions is None:
            self._pos = {k: n for n, k in enumerate(dict.__iter__(self))}
        else:
            self._pos = dict(zip(dict.__iter__(self), positions, strict=True))
        self._next = max(self._pos.values(), default=-1) + 1

    # -- what the commit reads --------------------------------------------------------------------------

    def take(self) -> Iterable[Any]:
        """The keys marked since the last `take` (present or removed since), and no marks after."""
        if self._all:
            self._all, self._marks = False, set()
            return list(dict.__iter__(self)) + [k for k in self._pos if not dict.__contains__(self, k)]
        marks, self._marks = self._marks, set()
        return marks

    def untouched(self) -> bool:
        """Whether `take()` would return nothing (no key marked since the last `take`)."""
        return not self._all and not self._marks

    def mark_all(self) -> None:
        self._all = True

    def position(self, key: Any) -> int:
        return self._pos[key]

    def positions(self) -> dict[Any, int]:
        """Each key's position (keys removed since the last commit too)."""
        return self._pos

    def peek(self, key: Any) -> Any:
        """The value of `key` without marking it (for the commit that serialises it)."""
        return dict.__getitem__(self, key)

    def forget(self, key: Any) -> None:
        """Drop the position of a key that is gone (the commit wrote its removal)."""
        if not dict.__contains__(self, key):
            self._pos.pop(key, None)

    # -- reads that hand out entities -------------------------------------------------------------------

    def __getitem__(self, key: Any) -> Any:
        self._marks.add(key)
        return dict.__getitem__(self, key)

    def get(self, key: Any, default: Any = None) -> Any:
        self._marks.add(key)
        return dict.get(self, key, default)

    def values(self) -> Any:
        self._all = True
        return dict.values(self)

    def items(self) -> Any:
        self._all = True
        return dict.items(self)

    def __iter__(self) -> Iterator[Any]:
        # overridden (it adds nothing) so that `dict(d)`, `{**d}` and `x.update(d)` take CPython's slow path for
        # subclasses, which reads each value through `__getitem__` (and marks it) instead of copying them unseen
        return dict.__iter__(self)

    def copy(self) -> dict[Any, Any]:
        self._all = True
        return dict(dict.items(self))

    def __copy__(self) -> dict[Any, Any]:
        return self.copy()

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[Any, Any]:
        self._all = True
        return {copy.deepcopy(k, memo): copy.deepcopy(v, memo) for k, v in dict.items(self)}

    def __reduce__(self) -> Any:
        self._all = True
        return (dict, (dict(dict.items(self)),))

    def __or__(self, other: Any) -> Any:
        self._all = True
        return dict(dict.items(self)) | other

    def __ror__(self, other: Any) -> Any:
        self._all = True
        return other | dict(dict.items(self))

    # -- changes ----------------------------------------------------------------------------------------

    def _placed(self, key: Any) -> None:
        if not dict.__contains__(self, key):
            self._pos[key] = self._next
            self._next += 1

    def __setitem__(self, key: Any, value: Any) -> None:
        self._placed(key)
        self._marks.add(key)
        dict.__setitem__(self, key, value)

    def __delitem__(self, key: Any) -> None:
        dict.__delitem__(self, key)
        self._marks.add(key)

    def pop(self, key: Any, *default: Any) -> Any:
        self._marks.add(key)
        return dict.pop(self, key, *default)

    def popitem(self) -> tuple[Any, Any]:
        key, value = dict.popitem(self)
        self._marks.add(key)
        return key, value

    def setdefault(self, key: Any, default: Any = None) -> Any:
        self._placed(key)
        self._marks.add(key)
        return dict.setdefault(self, key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def __ior__(self, other: Any) -> TrackedDict:
        self.update(other)
        return self

    def clear(self) -> None:
        self._marks.update(dict.__iter__(self))
        dict.clear(self)


@dataclasses.dataclass(eq=False, slots=True)
class Seen:
    """The items of an entity's `FROZEN_ITEMS` list as last serialised: each item object and its JSON, in list order."""

    items: list[Any] = dataclasses.field(default_factory=list)
    texts: list[bytes] = dataclasses.field(default_factory=list)

    def reuse(self, items: list[Any], write: Callable[[Any], bytes]) -> tuple[list[bytes], list[int]]:
        """Each item's JSON, reused where the item is the object that was at its position before (`write` makes the
        others'), and the positions whose JSON is new; remembers these. The comparison runs in C (`map`, `compress`):
        an 8x8 message appended to a conversation of hundreds costs no Python step per message before it."""
        before, n = len(self.items), len(items)
        m = min(before, n)
        texts = self.texts[:m]
        same = list(map(operator.is_, items[:m], self.items[:m]))
        fresh = (
            list(range(m, n)) if all(same) else [*itertools.compress(range(m), map(operator.not_, same)), *range(m, n)]
        )
        for i in fresh:
            text = write(items[i])
            if i < m:
                texts[i] = text
            else:
                texts.append(text)
        self.items, self.texts = list(items), texts
        return texts, fresh


@dataclasses.dataclass(frozen=True)
class FrozenItems:
    """The `FROZEN_ITEMS` list of a collection's entities: the field, its JSON name and its items' serializer."""

    field: str
    name: bytes
    """`"<field>":`, as it goes in the entity's JSON."""
    items: SchemaSerializer = dataclasses.field(repr=False)

    def write(self, item: Any) -> bytes:
        """One item's JSON."""
        return self.items.to_json(item, by_alias=True)


@dataclasses.dataclass(frozen=True)
class Collection:
    """A top-level entity collection of a vendor's state: its field, its name in the JSON, how to write one entity."""

    field: str
    alias: str
    key: type[str] | type[int]
    """The type of the collection's keys (a Redis field name is `str(key)`; `key(name)` is the key back)."""
    adapter: TypeAdapter[Any]
    frozen: FrozenItems | None = None
    """The entities' list whose items are never changed in place (`FROZEN_ITEMS`), if they have one."""

    def dump(self, entity: Any, seen: Seen | None = None) -> bytes:
        """The entity's JSON. With `seen` (what the last dump of this entity kept; updated here) the items of its
        `FROZEN_ITEMS` list that are the same objects as then reuse their JSON: the list goes last in the object, the
        rest is what pydantic writes (the same values read back)."""
        # the adapter's serializer itself: what `adapter.dump_json(entity, by_alias=True)` calls, without its Python
        # wrapper (a dozen keyword arguments passed on) on every entity a commit writes
        serializer = self.adapter.serializer
        frozen = self.frozen
        if frozen is None or seen is None:
            return serializer.to_json(entity, by_alias=True)
        head = serializer.to_json(entity, by_alias=True, exclude={frozen.field})
        texts, _ = seen.reuse(getattr(entity, frozen.field), frozen.write)
        return self.join(head, texts)

    def split(self, entity: Any, seen: Seen) -> tuple[bytes, list[bytes], list[int]]:
        """The entity's JSON without its `FROZEN_ITEMS` list (its head), each item's JSON, and the positions whose item
        is not the object `seen` held there (their JSON is new; the others' is reused). `seen` is updated. The
        collection must have a `FROZEN_ITEMS` list. `join(head, items)` gives back what `dump` writes."""
        frozen = self.frozen
        assert frozen is not None
        head = self.adapter.serializer.to_json(entity, by_alias=True, exclude={frozen.field})
        texts, fresh = seen.reuse(getattr(entity, frozen.field), frozen.write)
        return head, texts, fresh

    def join(self, head: bytes, items: list[bytes]) -> bytes:
        """The entity's JSON from its head and its items' JSON (`split`): what `dump` writes."""
        frozen = self.frozen
        assert frozen is not None
        tail = frozen.name + b"[" + b",".join(items) + b"]}"
        return head[:-1] + (b"," + tail if len(head) > 2 else tail)


def collections_of(state_type: type[BaseModel]) -> tuple[Collection, ...]:
    """The fields of `state_type` that are `dict[K, V]` with V a dataclass or a pydantic model: each stored as its own
    Redis hash, one field per entity. Everything else stays in the state's one JSON document."""
    found = []
    for name, info in state_type.model_fields.items():
        hint = info.annotation
        if get_origin(hint) is not dict:
            continue
        key, value = get_args(hint)
        if key not in (str, int):
            continue
        if not (dataclasses.is_dataclass(value) or (isinstance(value, type) and issubclass(value, BaseModel))):
            continue
        alias = info.serialization_alias or info.alias or name
        found.append(Collection(name, alias, key, TypeAdapter(value), _frozen_items(value)))
    return tuple(found)


def _frozen_items(entity: Any) -> FrozenItems | None:
    """The `FROZEN_ITEMS` list of a dataclass entity type, if it has one (the first)."""
    if not (isinstance(entity, type) and dataclasses.is_dataclass(entity)):
        return None
    for f in dataclasses.fields(entity):
        if f.metadata.get(FROZEN_ITEMS):
            hint = get_type_hints(entity)[f.name]
            if get_origin(hint) is not list:
                raise TypeError(f"{entity.__name__}.{f.name}: {FROZEN_ITEMS} is for a list field")
            (item,) = get_args(hint)
            name = json.dumps(f.name).encode() + b":"
            return FrozenItems(f.name, name, TypeAdapter(item).serializer)
    return None
