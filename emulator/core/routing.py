"""A vendor's routes behind one prefix, matched segment by segment instead of regex by regex.

Starlette tries routes in order, one regular expression each; an 8x8 `GET /conversations/{id}` would be
tested against every route before it. `PrefixRoutes` keeps a vendor's routes in a tree keyed by path
segment (`{name}` segments match any non-empty segment), so a request costs one walk down the tree.
Matching, 405 with `Allow`, and path parameters behave as with plain Starlette routes. Parameters are whole
segments and strings: a convertor (`{id:int}`) or a partial segment (`{id}.json`) is refused with a
ValueError when the routes are built, rather than silently matched differently from Starlette.

`PrefixIndex` puts every vendor's `PrefixRoutes` behind one route keyed by a path's first segment, so a request
is tried against the few prefixes that can hold it (`/oauth` → 8x8's OAuth, then Sangoma's), not against every
vendor's prefixes in turn: the fourth vendor's requests cost what the first one's do.
"""

from __future__ import annotations

from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from starlette.routing import BaseRoute, Match, NoMatchFound, Route
from starlette.types import Receive, Scope, Send

FULL, PARTIAL, NONE = Match.FULL, Match.PARTIAL, Match.NONE
"""Starlette's `Match` members, read once: in Python 3.11 every `Match.FULL` goes through `EnumType`'s
`__getattr__` hook (about 1,000 instructions; a global read is a few), and every vendor request matches here."""


@dataclass(slots=True)
class _Node:
    static: dict[str, _Node] = field(default_factory=dict)
    param: tuple[str, _Node] | None = None
    route: Route | None = None


class PrefixRoutes(BaseRoute):
    """Every route whose path starts with `prefix + "/"`; other paths do not match."""

    def __init__(self, prefix: str, routes: list[Route]) -> None:
        self.prefix = prefix.rstrip("/")
        self.routes = routes
        self._head = self.prefix + "/"
        self._root = _Node()
        for route in routes:
            self._add(route)

    def _add(self, route: Route) -> None:
        node = self._root
        for seg in route.path[len(self.prefix) + 1 :].split("/"):
            if "{" in seg or "}" in seg:
                name = _param_name(route.path, seg)
                if node.param is None:
                    node.param = (name, _Node())
                elif node.param[0] != name:
                    raise ValueError(f"{route.path}: parameter {{{name}}} clashes with {{{node.param[0]}}}")
                node = node.param[1]
            else:
                node = node.static.setdefault(seg, _Node())
        if node.route is not None:
            raise ValueError(f"{route.path} is routed twice")
        node.route = route

    def _find(self, path: str) -> tuple[Route, dict[str, str]] | None:
        head = self._head
        if not path.startswith(head):
            return None
        node = self._root
        params: dict[str, str] = {}
        for seg in path[len(head) :].split("/"):
            nxt = node.static.get(seg)
            if nxt is None:
                if node.param is None or not seg:
                    return None
                params[node.param[0]] = seg
                nxt = node.param[1]
            node = nxt
        return (node.route, params) if node.route is not None else None

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return NONE, {}
        root = scope.get("root_path", "")
        path: str = scope["path"]
        return self.match(scope, path[len(root) :] if root and path.startswith(root) else path)

    def match(self, scope: Scope, path: str) -> tuple[Match, Scope]:
        """`matches` for a path with the root path already taken off (`PrefixIndex` works it out once)."""
        found = self._find(path)
        if found is None:
            return NONE, {}
        route, params = found
        outer = scope.get("path_params")
        child: dict[str, Any] = {
            "endpoint": route.endpoint,
            "path_params": {**outer, **params} if outer else params,
            "cxemu.route": route,
        }
        if route.methods and scope["method"] not in route.methods:
            return PARTIAL, child
        return FULL, child

    def handle(self, scope: Scope, receive: Receive, send: Send) -> Coroutine[Any, Any, None]:
        route: Route = scope["cxemu.route"]
        return route.handle(scope, receive, send)  # the route's own coroutine: no frame of this layer's

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        for route in self.routes:
            try:
                return route.url_path_for(name, **path_params)
            except Exception:
                continue
        raise NoMatchFound(name, path_params)


class PrefixIndex(BaseRoute):
    """`PrefixRoutes` looked up by the first segment of their prefix; those sharing one are tried in the order
    given, as Starlette would try them (the first full match wins, else the first partial one: a 405)."""

    def __init__(self, groups: list[PrefixRoutes]) -> None:
        self.groups = groups
        self.routes = [route for group in groups for route in group.routes]
        """Every route of every group (for what lists an app's routes)."""
        self._by_head: dict[str, list[PrefixRoutes]] = {}
        for group in groups:
            head = group.prefix.split("/")[1] if group.prefix.startswith("/") else ""
            if not head:
                raise ValueError(f"prefix {group.prefix!r}: an index needs a first path segment")
            self._by_head.setdefault(head, []).append(group)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return NONE, {}
        root = scope.get("root_path", "")
        path: str = scope["path"]
        if root and path.startswith(root):
            path = path[len(root) :]
        end = path.find("/", 1)
        candidates = self._by_head.get(path[1:end] if end > 0 else path[1:], ())
        partial: Scope | None = None
        for group in candidates:
            match, child = group.match(scope, path)
            if match is FULL:
                return match, child
            if match is PARTIAL and partial is None:
                partial = child
        return (PARTIAL, partial) if partial is not None else (NONE, {})

    def handle(self, scope: Scope, receive: Receive, send: Send) -> Coroutine[Any, Any, None]:
        route: Route = scope["cxemu.route"]
        return route.handle(scope, receive, send)  # the route's own coroutine: no frame of this layer's

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        for group in self.groups:
            try:
                return group.url_path_for(name, **path_params)
            except NoMatchFound:
                continue
        raise NoMatchFound(name, path_params)


def _param_name(path: str, seg: str) -> str:
    """The name of a whole-segment `{name}`; anything the tree would not match as Starlette does is refused."""
    name = seg[1:-1]
    if not (seg.startswith("{") and seg.endswith("}")) or "{" in name or "}" in name:
        raise ValueError(f"{path}: a parameter must be a whole path segment, got {seg!r}")
    if ":" in name:
        raise ValueError(f"{path}: path convertors ({seg}) are not supported; parameters match as strings")
    return name
