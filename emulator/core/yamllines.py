"""YAML with a line number for every node: what the scenario loader and the config file loader report errors with.

`LineLoader(text).load_with_lines()` returns the data and fills `.lines` (path -> 1-based line) and
`.duplicates`; `format_path(("steps", 3, "within"))` is `steps[3].within`.
"""

from __future__ import annotations

from typing import Any

import yaml

PathKey = tuple[str | int, ...]
MAX_NODES = 200_000
"""A document expands to at most this many values (YAML aliases could otherwise multiply them)."""


class TooLarge(Exception):
    pass


class LineLoader(yaml.SafeLoader):
    """A safe YAML loader that also records the line of every mapping value and sequence item.

    `lines[("steps", 3, "expect_webhook", "within")]` is the 1-based line of that value; duplicate keys are
    an error rather than silently taking the last one.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.lines: dict[PathKey, int] = {}
        self.duplicates: list[tuple[int, PathKey]] = []
        self.walked = 0

    def load_with_lines(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        data = self.construct_document(node)
        self._walk(node, data, ())
        return data

    def _walk(self, node: yaml.Node, data: Any, path: PathKey) -> None:
        self.walked += 1
        if self.walked > MAX_NODES:
            raise TooLarge
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode) and isinstance(data, dict):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = key_node.value
                if key == "<<":
                    continue
                if key in seen:
                    self.duplicates.append((key_node.start_mark.line + 1, (*path, key)))
                seen.add(key)
                actual = _data_key(data, key)
                if actual is not _NO_KEY:
                    self.lines[(*path, key)] = key_node.start_mark.line + 1
                    self._walk(value_node, data[actual], (*path, key))
        elif isinstance(node, yaml.SequenceNode) and isinstance(data, list):
            for i, (item_node, item) in enumerate(zip(node.value, data, strict=False)):
                self.lines[(*path, i)] = item_node.start_mark.line + 1
                self._walk(item_node, item, (*path, i))


_NO_KEY = object()


def _data_key(data: dict[Any, Any], key: str) -> Any:
    if key in data:
        return key
    for k in data:
        if str(k) == key:
            return k
    return _NO_KEY


def format_path(parts: PathKey) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def nearest_line(lines: dict[PathKey, int], path: PathKey) -> int | None:
    """The line of `path`, or of its nearest ancestor that has one."""
    key = path
    while key and key not in lines:
        key = key[:-1]
    return lines.get(key)
