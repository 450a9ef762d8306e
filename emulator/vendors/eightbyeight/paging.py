"""Paging, sorting and FIQL filtering of 8x8 list endpoints (OAS parameters size, page, sort, filter).

`size` (default 20) and `page` (0-based) slice the list; `sort` is `field:asc|desc`; `filter` is FIQL:
comparisons `field==value` / `field!=value` (`*` is a wildcard), `=lt=` `=le=` `=gt=` `=ge=`, joined by
`;` (and) and `,` (or), with parentheses. Fields are dotted paths into the resource as 8x8 returns it
(`routingOption.id` also reads `routingOptions.id`, as in 8x8's own example).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from emulator.vendors.eightbyeight import errors
from emulator.vendors.eightbyeight.constants import DEFAULT_PAGE_NUMBER, DEFAULT_PAGE_SIZE

MAX_PAGE_SIZE = 1000
Predicate = Callable[[Mapping[str, Any]], bool]


@dataclass(frozen=True)
class Paging:
    size: int
    page: int
    sort_field: str
    descending: bool
    where: Predicate | None


def _int(params: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value.is_integer() or not lo <= value <= hi:
        raise errors.general_error("invalid_parameter", f"Invalid value {raw!r} for parameter {name}.")
    return int(value)


def parse(params: Mapping[str, str], *, default_sort: str, sortable: tuple[str, ...] | None = None) -> Paging:
    size = _int(params, "size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    page = _int(params, "page", DEFAULT_PAGE_NUMBER, 0, 10_000_000)
    sort = params.get("sort") or default_sort
    field, _, direction = sort.partition(":")
    direction = direction.lower() or "asc"
    if direction not in ("asc", "desc") or not field or (sortable is not None and field not in sortable):
        raise errors.general_error("invalid_sort", f"Invalid sort parameter {sort!r}.")
    raw_filter = params.get("filter")
    where = parse_fiql(raw_filter) if raw_filter else None
    return Paging(size=size, page=page, sort_field=field, descending=direction == "desc", where=where)


def resolve(item: Mapping[str, Any], path: str) -> Any:
    value: Any = item
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        if part not in value and part + "s" in value:
            part = part + "s"
        value = value.get(part)
    return value


_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if isinstance(value, bool | int | float):
        return (1, float(value))
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return (1, int(value))  # webhook and channel ids are numeric strings ("2" before "10")
    if isinstance(value, str) and _INSTANT.fullmatch(value):
        # instants print without a zero fraction ("…:00Z" vs "…:00.050Z"), so compare them as times, not text
        return (1, datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
    return (2, str(value))


def apply(items: list[dict[str, Any]], paging: Paging) -> tuple[list[dict[str, Any]], int]:
    """The requested page of `items` (wire dicts) and the total after filtering."""
    hits = [i for i in items if paging.where is None or paging.where(i)]
    hits.sort(key=lambda i: _sort_key(resolve(i, paging.sort_field)), reverse=paging.descending)
    start = paging.page * paging.size
    return hits[start : start + paging.size], len(hits)


# -- FIQL -------------------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<and>;)|(?P<or>,)|(?P<cmp>[A-Za-z_][\w.]*(?:==|!=|=[a-z]+=)(?:\"[^\"]*\"|'[^']*'|[^;,()]*)))"
)
_CMP = re.compile(r"(?P<field>[A-Za-z_][\w.]*)(?P<op>==|!=|=[a-z]+=)(?P<value>.*)", re.S)


def _invalid(text: str) -> errors.EightByEightError:
    return errors.general_error("invalid_filter", f"Invalid filter expression {text!r}.")


def _compare(field: str, op: str, raw: str) -> Predicate:
    if not raw:  # FIQL: an argument is one or more characters (`name==` is malformed)
        raise _invalid(f"{field}{op}")
    value = raw[1:-1] if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'" else raw

    def as_text(item: Mapping[str, Any]) -> str | None:
        got = resolve(item, field)
        if got is None:
            return None
        return str(got).lower() if isinstance(got, bool) else str(got)

    if op in ("==", "!="):
        wanted = op == "=="

        def eq(item: Mapping[str, Any]) -> bool:
            got = as_text(item)
            hit = got is not None and (fnmatch.fnmatchcase(got, value) if "*" in value else got == value)
            return hit == wanted

        return eq
    ops: dict[str, Callable[[float, float], bool]] = {
        "=lt=": lambda a, b: a < b,
        "=le=": lambda a, b: a <= b,
        "=gt=": lambda a, b: a > b,
        "=ge=": lambda a, b: a >= b,
    }
    if op not in ops:
        raise _invalid(f"{field}{op}{raw}")
    try:
        bound = float(value)
    except ValueError:
        raise _invalid(f"{field}{op}{raw}") from None
    check = ops[op]

    def cmp(item: Mapping[str, Any]) -> bool:
        got = resolve(item, field)
        try:
            return got is not None and check(float(got), bound)
        except (TypeError, ValueError):
            return False

    return cmp


def parse_fiql(text: str) -> Predicate:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise _invalid(text)
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    idx = 0

    def peek() -> str | None:
        return tokens[idx][0] if idx < len(tokens) else None

    def take() -> tuple[str, str]:
        nonlocal idx
        tok = tokens[idx]
        idx += 1
        return tok

    def disjunction() -> Predicate:
        parts = [conjunction()]
        while peek() == "or":
            take()
            parts.append(conjunction())
        return parts[0] if len(parts) == 1 else (lambda item: any(p(item) for p in parts))

    def conjunction() -> Predicate:
        parts = [atom()]
        while peek() == "and":
            take()
            parts.append(atom())
        return parts[0] if len(parts) == 1 else (lambda item: all(p(item) for p in parts))

    def atom() -> Predicate:
        if peek() == "lp":
            take()
            inner = disjunction()
            if peek() != "rp":
                raise _invalid(text)
            take()
            return inner
        if peek() != "cmp":
            raise _invalid(text)
        m = _CMP.fullmatch(take()[1].strip())
        if m is None:
            raise _invalid(text)
        return _compare(m["field"], m["op"], m["value"].strip())

    if not tokens:
        raise _invalid(text)
    predicate = disjunction()
    if idx != len(tokens):
        raise _invalid(text)
    return predicate
