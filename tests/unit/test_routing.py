"""PrefixRoutes: a vendor's routes matched segment by segment."""

from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route

from emulator.core.routing import PrefixIndex, PrefixRoutes


async def ok(request: Request) -> Response:
    return Response("ok")


ROUTES = PrefixRoutes(
    "/api/v1",
    [
        Route("/api/v1/items", ok, methods=["GET", "POST"]),
        Route("/api/v1/items/{item_id}", ok, methods=["GET"]),
        Route("/api/v1/items/verify", ok, methods=["POST"]),
        Route("/api/v1/items/{item_id}/parts/{part_id}", ok, methods=["DELETE"]),
    ],
)


def scope(method: str, path: str) -> dict[str, object]:
    return {"type": "http", "method": method, "path": path, "root_path": ""}


@pytest.mark.parametrize(
    ("method", "path", "match", "params"),
    [
        ("GET", "/api/v1/items", Match.FULL, {}),
        ("GET", "/api/v1/items/a1", Match.FULL, {"item_id": "a1"}),
        ("POST", "/api/v1/items/verify", Match.FULL, {}),  # a static segment wins over a parameter
        ("DELETE", "/api/v1/items/a1/parts/p9", Match.FULL, {"item_id": "a1", "part_id": "p9"}),
        ("PUT", "/api/v1/items/a1", Match.PARTIAL, {"item_id": "a1"}),  # -> 405 with Allow
        ("GET", "/api/v1/items/", Match.NONE, None),  # an empty segment is no parameter
        ("GET", "/api/v1/nope", Match.NONE, None),
        ("GET", "/api/v2/items", Match.NONE, None),
        ("GET", "/api/v1", Match.NONE, None),
    ],
    ids=[
        "list",
        "param",
        "static-first",
        "two-params",
        "wrong-method",
        "empty-segment",
        "unknown",
        "other-prefix",
        "bare",
    ],
)
def test_matching(method: str, path: str, match: Match, params: dict[str, str] | None) -> None:
    got, child = ROUTES.matches(scope(method, path))
    assert got == match
    if params is not None:
        assert child["path_params"] == params


def test_clashing_parameter_names_are_refused() -> None:
    with pytest.raises(ValueError, match="clashes"):
        PrefixRoutes("/p", [Route("/p/{a}", ok), Route("/p/{b}/x", ok)])


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/p/items/{id:int}", r"/p/items/\{id:int\}: path convertors \(\{id:int\}\) are not supported"),
        ("/p/{path:path}", r"path convertors \(\{path:path\}\)"),
        ("/p/items/{id}.json", r"/p/items/\{id\}.json: a parameter must be a whole path segment, got '\{id\}.json'"),
        ("/p/v{n}", r"a parameter must be a whole path segment, got 'v\{n\}'"),
        ("/p/{a}{b}", r"a parameter must be a whole path segment, got '\{a\}\{b\}'"),
    ],
    ids=["int-convertor", "path-convertor", "suffix", "prefix", "two-in-one-segment"],
)
def test_parameters_the_tree_cannot_match_like_starlette_are_refused(path: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PrefixRoutes("/p", [Route("/p/ok/{a}", ok), Route(path, ok)])


# -- PrefixIndex: every vendor's prefixes behind one lookup by first segment -----------------------------------

INDEX = PrefixIndex(
    [
        PrefixRoutes("/oauth/v2", [Route("/oauth/v2/token", ok, methods=["POST"])]),
        PrefixRoutes("/oauth", [Route("/oauth/token", ok, methods=["POST"]), Route("/oauth/v2/other", ok)]),
        ROUTES,
        PrefixRoutes("/api/provisioning", [Route("/api/provisioning/schedules", ok, methods=["GET"])]),
    ]
)


@pytest.mark.parametrize(
    ("method", "path", "match", "route"),
    [
        ("POST", "/oauth/v2/token", Match.FULL, "/oauth/v2/token"),
        ("POST", "/oauth/token", Match.FULL, "/oauth/token"),  # the second prefix of the same first segment
        ("GET", "/oauth/v2/other", Match.FULL, "/oauth/v2/other"),  # the first prefix has no such route
        ("GET", "/oauth/v2/token", Match.PARTIAL, "/oauth/v2/token"),  # -> 405, as Starlette would answer
        ("GET", "/api/provisioning/schedules", Match.FULL, "/api/provisioning/schedules"),
        ("GET", "/api/v1/items/a1", Match.FULL, "/api/v1/items/{item_id}"),
        ("GET", "/elsewhere/v1/items", Match.NONE, None),
        ("GET", "/", Match.NONE, None),
        ("GET", "/oauth", Match.NONE, None),
    ],
    ids=["first", "second-prefix", "fall-through", "wrong-method", "shared-head", "param", "unknown", "root", "bare"],
)
def test_an_index_tries_only_the_prefixes_of_a_paths_first_segment_in_order(
    method: str, path: str, match: Match, route: str | None
) -> None:
    got, child = INDEX.matches(scope(method, path))
    assert got == match
    if route is not None:
        assert child["cxemu.route"].path == route


def test_an_index_needs_a_first_segment() -> None:
    with pytest.raises(ValueError, match="needs a first path segment"):
        PrefixIndex([PrefixRoutes("", [Route("/x", ok)])])
