"""Subset matching, JSON paths and `{{variable}}` templates, shared by scenarios and the pytest plugin.

`subset_mismatches(expected, actual)` reads `expected` as a subset of `actual`: objects by key (extra keys in
`actual` are fine), lists item by item (same length), anything else by equality. Two operators can stand in
for a value: `{"$regex": "pattern"}` (a string that `re.search`es the pattern) and `{"$exists": false}` (the
key must be absent; `true`: present with any value).

`get_path(obj, "data.sender.id")` reads a value by a dotted path with `[n]` list indexes (`$.` optional).

`interpolate(value, variables)` replaces `{{name}}` (or `{{name.path[0].x}}`) in every string of a nested
value; a string that is exactly one `{{...}}` becomes the variable's value itself (a number stays a number).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from emulator.scenarios.errors import ScenarioError

OPERATORS = ("$regex", "$exists")
_MISSING = object()


def _operator(expected: Any) -> str | None:
    if isinstance(expected, Mapping) and len(expected) == 1:
        (key,) = expected
        if isinstance(key, str) and key in OPERATORS:
            return key
    return None


def subset_mismatches(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Where `actual` differs from `expected`, read as a subset (see the module docstring)."""
    op = _operator(expected)
    if op == "$regex":
        assert isinstance(expected, Mapping)
        pattern = str(expected["$regex"])
        if not isinstance(actual, str):
            return [f"{path or '.'}: expected a string matching /{pattern}/, got {actual!r}"]
        try:
            hit = re.search(pattern, actual) is not None
        except re.error as exc:
            return [f"{path or '.'}: bad $regex /{pattern}/ ({exc})"]
        return [] if hit else [f"{path or '.'}: expected a match of /{pattern}/, got {actual!r}"]
    if op == "$exists":
        return []  # handled by the parent (key presence); a present key satisfies `true`
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            return [f"{path or '.'}: expected an object, got {describe(actual)}"]
        out: list[str] = []
        for key, value in expected.items():
            exists = _operator(value) == "$exists"
            if key not in actual:
                if not (exists and not value["$exists"]):
                    out.append(f"{path}.{key}: missing ({path or '.'} has {_keys(actual)})")
            elif exists and not value["$exists"]:
                out.append(f"{path}.{key}: expected no such key, got {describe(actual[key])}")
            else:
                out.extend(subset_mismatches(value, actual[key], f"{path}.{key}"))
        return out
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path or '.'}: expected {_short(expected)}, got {describe(actual)}"]
        out = []
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            out.extend(subset_mismatches(e, a, f"{path}[{i}]"))
        return out
    if expected == actual:
        return []
    return [f"{path or '.'}: expected {expected!r}, got {describe(actual)}"]


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe(value: Any, limit: int = 100) -> str:
    """The value itself when short; else what is there: an object's keys, a list's length (never a cut body)."""
    text = repr(value)
    if len(text) <= limit:
        return text
    if isinstance(value, Mapping):
        return f"an object with {_keys(value)}"
    if isinstance(value, list):
        first = f", the first {describe(value[0], 60)}" if value else ""
        return f"a list of {len(value)} items{first}"
    return text[: limit - 3] + "..."


def _keys(value: Mapping[Any, Any], limit: int = 40) -> str:
    keys = [str(k) for k in value]
    if not keys:
        return "no keys"
    shown = ", ".join(keys[:limit]) + (f", ... ({len(keys)} in all)" if len(keys) > limit else "")
    return f"keys {shown}"


# -- JSON paths -------------------------------------------------------------------------------------------

_SEGMENT = re.compile(r"([^.\[\]]+)|\[(-?\d+)\]")


def parse_path(path: str) -> list[str | int]:
    """`a.b[0].c` -> ["a", "b", 0, "c"]; a leading `$` or `$.` is optional. Raises ValueError when malformed."""
    text = path.strip()
    if text.startswith("$"):
        text = text[1:].lstrip(".")
    parts: list[str | int] = []
    pos = 0
    while pos < len(text):
        if text[pos] == "." and parts:
            pos += 1
        m = _SEGMENT.match(text, pos)
        if m is None:
            raise ValueError(f"bad path {path!r} at {text[pos:]!r}")
        parts.append(int(m.group(2)) if m.group(2) is not None else m.group(1))
        pos = m.end()
    return parts


def get_path(obj: Any, path: str | list[str | int]) -> Any:
    """The value at `path` in `obj`; raises ScenarioError naming the first segment that is not there."""
    parts = parse_path(path) if isinstance(path, str) else path
    cur = obj
    walked = ""
    for part in parts:
        if isinstance(part, int):
            if not isinstance(cur, list) or not -len(cur) <= part < len(cur):
                raise ScenarioError(f"{walked or '.'} has no item [{part}] (it is {describe(cur, 80)})")
            cur = cur[part]
            walked += f"[{part}]"
        else:
            if isinstance(cur, list) and part.lstrip("-").isdigit():
                return get_path(cur, [int(part), *parts[parts.index(part) + 1 :]])
            if not isinstance(cur, Mapping) or part not in cur:
                where = _keys(cur) if isinstance(cur, Mapping) else f"it is {describe(cur, 80)}"
                raise ScenarioError(f"{walked or '.'} has no {part!r} ({where})")
            cur = cur[part]
            walked += f".{part}"
    return cur


# -- templates --------------------------------------------------------------------------------------------

_VAR = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")


def lookup(name: str, variables: Mapping[str, Any]) -> Any:
    """`name` or `name.path[0]` among `variables`; raises ScenarioError for an unknown variable."""
    try:
        parts = parse_path(name)
    except ValueError as exc:
        raise ScenarioError(f"{{{{{name}}}}}: {exc}") from None
    head = parts[0] if parts else name
    if not isinstance(head, str) or head not in variables:
        known = ", ".join(sorted(variables)) or "none"
        raise ScenarioError(f"unknown variable {{{{{name}}}}} (known: {known})")
    if len(parts) == 1:
        return variables[head]
    try:
        return get_path(variables[head], parts[1:])
    except ScenarioError as exc:
        raise ScenarioError(f"{{{{{name}}}}}: {exc}") from None


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def interpolate(value: Any, variables: Mapping[str, Any]) -> Any:
    """Replace `{{...}}` in every string (keys included) of a nested value; see the module docstring."""
    if isinstance(value, str):
        if "{{" not in value:
            return value
        whole = _VAR.fullmatch(value.strip())
        if whole is not None and value.strip() == value:
            return lookup(whole.group(1), variables)
        return _VAR.sub(lambda m: _text(lookup(m.group(1), variables)), value)
    if isinstance(value, Mapping):
        return {interpolate(k, variables): interpolate(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, variables) for v in value]
    return value


def compact(value: Any, limit: int = 200) -> str:
    """One-line JSON of `value`, cut at `limit` characters."""
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
