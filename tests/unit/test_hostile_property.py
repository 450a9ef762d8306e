"""Property test (issue 18 §1): generated hostile JSON at every vendor endpoint and every control-plane
operation that takes a body, read from the checked-in contracts. Whatever is sent, accepted or refused:
- every control-plane view answers 200 with strict JSON (`core.web.parse_json` reads it back);
- a request answered 4xx changes no state (`GET /_emulator/state` before and after);
- every webhook body the emulator built is strict JSON (no `NaN`, no lone surrogate).

Bodies are JSON values with text from every Unicode category (lone surrogates included, sent escaped or as
invalid UTF-8), integers far past 64 bits, `NaN` and `Infinity`, nesting up to thousands deep, and objects
keyed by the operation's own field names so they get past the first checks. The run is derandomized with a
fixed example budget, so CI sees the same examples every time."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.app import create_app
from emulator.core.runtime import Emulator
from emulator.core.web import parse_json
from tests.conftest import make_settings

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
VIEWS = ("/state", "/requests?limit=0", "/deliveries?limit=0", "/tenants", "/clock", "/scenarios", "/sink", "/health")
SKIPPED = {
    ("POST", "/_emulator/state"),  # restores a whole snapshot: its own tests
    ("POST", "/_emulator/reset"),
    ("POST", "/oauth/token"),  # a form, not JSON
}
API_KEY = "prop-key"
PRODUCT_TOKEN = "00000000-0000-0000-0000-0000000000aa"
PARAMS = {"account_id": "acc-1", "chat_id": "chat-1", "call_id": "call-1", "path": "hook", "scenario_id": "s-1"}


@dataclass(frozen=True)
class Op:
    method: str
    path: str
    fields: tuple[str, ...]
    """The top-level property names of its JSON body (from the contract)."""


def _fields(doc: dict[str, Any], op: dict[str, Any]) -> tuple[str, ...]:
    schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    ref = schema.get("$ref", "")
    if ref:
        schema = doc.get("components", {}).get("schemas", {}).get(ref.rsplit("/", 1)[-1], {})
    return tuple(sorted(schema.get("properties", {})))


def operations() -> list[Op]:
    """Every operation with a request body, in every contract."""
    ops = []
    for file in sorted(CONTRACTS.glob("*.openapi.yaml")):
        doc = yaml.safe_load(file.read_text(encoding="utf-8"))
        for path, item in doc["paths"].items():
            for method, op in item.items():
                if method in ("post", "put", "patch") and (method.upper(), path) not in SKIPPED:
                    ops.append(Op(method.upper(), path, _fields(doc, op)))
    return ops


OPS = operations()

TEXT = st.text(st.characters(categories=("Cs", "L", "N", "P", "S", "Z", "Cc", "Co")), max_size=8)
NUMBER = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([10**400, -(10**300), 1e308]),
)
LEAF = st.one_of(st.none(), st.booleans(), NUMBER, TEXT)
VALUE = st.recursive(
    LEAF, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)), max_leaves=12
)


@st.composite
def bodies(draw: st.DrawFn, op: Op) -> bytes:
    kind = draw(st.sampled_from(["fields", "value", "deep", "huge-int"]))
    if kind == "deep":
        depth = draw(st.integers(min_value=500, max_value=5000))
        return b"[" * depth + b"]" * depth
    if kind == "huge-int":
        return b'{"n": ' + b"9" * draw(st.integers(min_value=4000, max_value=6000)) + b"}"
    value: Any = draw(VALUE)
    if kind == "fields" and op.fields:
        keys = draw(st.lists(st.sampled_from(op.fields), unique=True, max_size=len(op.fields)))
        value = {k: draw(VALUE) for k in keys}
    text = json.dumps(value, ensure_ascii=draw(st.booleans()), allow_nan=True)
    return text.encode("utf-8", "surrogatepass")  # a surrogate not escaped is invalid UTF-8


@dataclass
class World:
    runner: asyncio.Runner
    http: httpx.AsyncClient
    emu: Emulator
    params: dict[str, str]
    headers: dict[str, str]

    def run(self, coro: Any) -> Any:
        return self.runner.run(coro)


async def _prepare(http: httpx.AsyncClient) -> tuple[dict[str, str], dict[str, str]]:
    """Tenants of every vendor, and ids to put in the paths, made by ordinary requests before the run."""
    token = await http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("acme", "secret"))
    assert token.status_code == 200, token.text
    created = {"channelId": "1", "user": {"name": "Ada"}}
    conv = await http.post("/chat-gateway/v1/conversations", json=created, headers={"x-api-key": API_KEY})
    assert conv.status_code == 202, conv.text
    headers = {
        "content-type": "application/json",
        "x-api-key": API_KEY,
        "x-cm-producttoken": PRODUCT_TOKEN,
        "authorization": f"Bearer {token.json()['access_token']}",
    }
    return {**PARAMS, "conversationId": conv.json()["conversationId"]}, headers


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with asyncio.Runner() as runner:
        app = create_app(make_settings())
        emu: Emulator = app.state.emulator
        runner.run(emu.start())
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cxemu.test")
        params, headers = runner.run(_prepare(http))
        try:
            yield World(runner, http, emu, params, headers)
        finally:
            runner.run(http.aclose())
            runner.run(emu.stop())


def _url(world: World, op: Op) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: world.params.get(m.group(1), "1"), op.path)


async def _views(http: httpx.AsyncClient) -> dict[str, Any]:
    out = {}
    for view in VIEWS:
        got = await http.get(f"/_emulator{view}")
        assert got.status_code == 200, (view, got.status_code, got.text[:300])
        out[view] = parse_json(got.content)
    return out


async def _probe(world: World, op: Op, body: bytes) -> None:
    before = (await _views(world.http))["/state"]
    got = await world.http.request(op.method, _url(world, op), content=body, headers=world.headers)
    assert got.status_code < 500, (op, body[:200], got.status_code, got.text[:300])
    after = (await _views(world.http))["/state"]
    if 400 <= got.status_code < 500:
        assert after == before, (op, body[:200], got.status_code)
    for delivery in world.emu.dispatcher.deliveries():
        parse_json(delivery.body)


@settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
@given(data=st.data())
def test_hostile_bodies_anywhere_never_break_a_view_a_webhook_or_state(world: World, data: st.DataObject) -> None:
    op = data.draw(st.sampled_from(OPS), label="operation")
    body = data.draw(bodies(op), label="body")
    world.run(_probe(world, op, body))


def test_every_vendor_and_the_control_plane_are_probed() -> None:
    prefixes = {"/chat-gateway/", "/api/v1/tenant/", "/v1.0/", "/conversational/", "/api/public/", "/cx/api/"}
    prefixes.add("/_emulator/")
    assert {p for p in prefixes if any(op.path.startswith(p) for op in OPS)} == prefixes
