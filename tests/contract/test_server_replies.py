"""The answers the server gives before a route sees the request, as every contract declares them: the 413 of a body
over the limit (`core.limits`, in each API's own error shape) and the HTTP server's own 408 and 431
(`core.httpguard`). The 413s are the ones an app with a small body limit really sends, checked against the
operation's declared reply; the server's 408 and 431 over real sockets are in tests/server/test_server_limits.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import jsonschema_rs
import pytest

from emulator.app import control_contract, create_app
from emulator.core.contracts import SERVER_REPLIES
from emulator.vendors import VENDORS
from tests.conftest import make_settings

LIMIT = 1024
BIG = b"{" + b" " * 2 * LIMIT + b"}"
DOCUMENTS: dict[str, Callable[[], dict[str, Any]]] = {
    "control-plane": control_contract,
    **{p.slug: p.contract for p in VENDORS if p.contract is not None},
}


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, ops in doc["paths"].items() for method, op in ops.items()]


def _resolve(doc: dict[str, Any], reply: dict[str, Any]) -> dict[str, Any]:
    ref = reply.get("$ref")
    if ref is None:
        return reply
    out: dict[str, Any] = doc["components"]["responses"][ref.rsplit("/", 1)[1]]
    return out


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_every_operation_declares_the_servers_own_408_and_431(name: str) -> None:
    doc = DOCUMENTS[name]()
    for path, method, op in _operations(doc):
        for status in SERVER_REPLIES:
            reply = _resolve(doc, op["responses"][str(status)])
            assert set(reply["content"]) == {"text/plain"}, (path, method, status)
            assert reply["headers"]["Connection"]["schema"] == {"const": "close"}


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(max_body_bytes=LIMIT), plugins=list(VENDORS))
    await app.state.emulator.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cxemu.test") as client:
            yield client
    finally:
        await app.state.emulator.stop()


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
async def test_a_body_over_the_limit_gets_the_413_its_operation_declares(http: httpx.AsyncClient, name: str) -> None:
    """Every operation whose body the server reads declares a 413, and the one sent for it (from the app with a
    1 KiB limit) has the declared media type and schema; a GET or HEAD, whose body is never read, declares none."""
    doc = DOCUMENTS[name]()
    problems = []
    checked = 0
    for path, method, op in _operations(doc):
        if method in ("get", "head"):
            assert "413" not in op["responses"], (path, method)
            continue
        declared = op["responses"].get("413")
        if declared is None:
            problems.append(f"{method} {path}: no 413 declared")
            continue
        url = path
        for param in op.get("parameters", []):
            if param["in"] == "path":
                url = url.replace(f"{{{param['name']}}}", "x1")
        got = await http.request(method.upper(), url, content=BIG, headers={"content-type": "application/json"})
        checked += 1
        if got.status_code != 413:
            problems.append(f"{method} {path}: {got.status_code}")
            continue
        media_type = got.headers["content-type"].split(";")[0]
        if media_type not in declared["content"]:
            problems.append(f"{method} {path}: {media_type} not in {sorted(declared['content'])}")
            continue
        assert got.headers["connection"] == "close"
        schema = {**declared["content"][media_type]["schema"], "components": doc["components"]}
        problems += [
            f"{method} {path}: {e.message}" for e in jsonschema_rs.validator_for(schema).iter_errors(got.json())
        ]
    assert not problems, "\n".join(problems)
    assert checked > 0
