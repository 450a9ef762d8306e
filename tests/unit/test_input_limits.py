"""Input that cannot hurt (issue 18 §1), in process: strict JSON everywhere, the body size limit, journal
excerpts, and views that answer 200 whatever was sent. The server-level limits (431, timeouts, a body refused
while it streams) are in tests/server/test_server_limits.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from emulator import cli
from emulator.app import create_app
from emulator.core.errors import ConfigError
from emulator.core.journal import BODY_BYTES, HEADER_BYTES
from emulator.core.settings import Settings
from emulator.core.web import parse_json
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
JSON = {"content-type": "application/json"}
KEY = {"x-api-key": "acme-key"}
CONV = "/chat-gateway/v1/conversations"
FLOW = "/api/public/v1/call/flow"
LONE = b'"\\ud800"'
VIEWS = ("/state", "/requests?limit=0", "/deliveries", "/tenants", "/clock", "/scenarios", "/sink", "/health")


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(max_body_bytes=64 * 1024))  # every built-in vendor
    await app.state.emulator.start()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cxemu.test") as client:
        yield client
    await app.state.emulator.stop()


async def views_answer(http: httpx.AsyncClient) -> dict[str, Any]:
    """Every control-plane view answers 200 with strict JSON; returns them by path."""
    out = {}
    for view in VIEWS:
        got = await http.get(f"/_emulator{view}")
        assert got.status_code == 200, (view, got.status_code, got.text[:300])
        out[view] = parse_json(got.content)
    return out


async def store_of(http: httpx.AsyncClient) -> Any:
    got = await http.get("/_emulator/state")
    assert got.status_code == 200, got.text[:300]
    return got.json()["store"]


def body(template: str, hole: bytes) -> bytes:
    return template.encode().replace(b"HOLE", hole)


# -- the shared parser --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"[NaN]", "NaN is not a JSON number"),
        (b'{"a": Infinity}', "Infinity is not a JSON number"),
        (b"[-Infinity]", "-Infinity is not a JSON number"),
        (b"[1e400]", "out of range"),
        (b'["\\ud800"]', "lone surrogate"),
        (b'{"\\udc00": 1}', "lone surrogate"),
        (b'["a\\ud83d"]', "lone surrogate"),
        (b'"\xff"', "not UTF-8"),
        (b'"\xed\xa0\x80"', "not UTF-8"),  # a surrogate encoded in UTF-8 bytes
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"a": 1', "not valid JSON"),
    ],
)
def test_parse_json_refuses_what_is_not_strict_json(raw: bytes, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_json(raw)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b'["\\ud83d\\ude00"]', ["\U0001f600"]),  # a whole pair is one character
        (b'["\\\\ud800"]', ["\\ud800"]),  # an escaped backslash: the text \ud800, not an escape
        (b"\xef\xbb\xbf[1.5, -0.0, 1e300]", [1.5, -0.0, 1e300]),
        (b'{"n": 123456789012345678901234567890}', {"n": 123456789012345678901234567890}),
        ('["caf\u00e9"]', ["caf\u00e9"]),
    ],
)
def test_parse_json_accepts_strict_json(raw: bytes | str, value: Any) -> None:
    assert parse_json(raw) == value


def test_parse_json_refuses_a_lone_surrogate_in_text() -> None:
    with pytest.raises(ValueError, match="lone surrogate"):
        parse_json('["\ud800"]')


# -- issue 18 §1 defects, each through the vendor's own 400 -------------------------------------------------


@pytest.mark.parametrize("hole", [LONE, b'"\\udfff tail"'])
async def test_a_lone_surrogate_in_an_8x8_user_name_is_a_400_and_breaks_no_view(
    http: httpx.AsyncClient, hole: bytes
) -> None:
    before = await store_of(http)
    raw = body('{"channelId": "1", "user": {"name": HOLE, "language": "en"}}', hole)
    got = await http.post(CONV, content=raw, headers={**JSON, **KEY})
    assert got.status_code == 400, got.text
    assert got.headers["content-type"].startswith("application/problem+json")
    await views_answer(http)
    assert await store_of(http) == before  # no conversation was created


async def test_a_lone_surrogate_in_an_8x8_message_is_a_400_and_breaks_no_view(http: httpx.AsyncClient) -> None:
    created = await http.post(CONV, json={"channelId": "1", "user": {"name": "Ada"}}, headers=KEY)
    assert created.status_code == 202, created.text
    conv = created.json()["conversationId"]
    before = await store_of(http)
    raw = body('{"authorType": "user", "text": HOLE}', LONE)
    got = await http.post(f"{CONV}/{conv}/messages", content=raw, headers={**JSON, **KEY})
    assert got.status_code == 400, got.text
    await views_answer(http)
    assert await store_of(http) == before


@pytest.mark.parametrize("hole", [b"NaN", b"Infinity", b"-Infinity", b"1e999"])
async def test_nan_in_8x8_card_content_is_a_400(http: httpx.AsyncClient, hole: bytes) -> None:
    created = await http.post(CONV, json={"channelId": "1", "user": {"name": "Ada"}}, headers=KEY)
    conv = created.json()["conversationId"]
    before = await store_of(http)
    card = '{"contentType": "application/vnd.microsoft.card.adaptive", "content": {"type": "AdaptiveCard", "x": HOLE}}'
    raw = body(f'{{"authorType": "bot", "text": "pick", "cards": [{card}]}}', hole)
    got = await http.post(f"{CONV}/{conv}/messages", content=raw, headers={**JSON, **KEY})
    assert got.status_code == 400, got.text
    await views_answer(http)
    assert await store_of(http) == before


@pytest.mark.parametrize("hole", [b"NaN", LONE])
async def test_nan_or_a_lone_surrogate_in_a_samespace_http_body_is_a_400(http: httpx.AsyncClient, hole: bytes) -> None:
    flow = (
        '{"cloud_id": "c1", "auth_token": "t1", "flow": ['
        '{"id": "0", "type": "call", "number": "917507161643", "caller_id": "123456", "next_step": "look"},'
        '{"id": "look", "type": "http", "url": "http://127.0.0.1:9/x", "body": {"v": HOLE},'
        ' "next_step": {"success": "0", "fail": "0"}}]}'
    )
    before = await store_of(http)
    got = await http.post(FLOW, content=body(flow, hole), headers=JSON)
    assert got.status_code == 400, got.text
    assert set(got.json()) >= {"message"}, got.text
    await views_answer(http)
    assert await store_of(http) == before


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        (CONV, KEY),
        ("/v1.0/message", {}),
        (FLOW, {}),
        ("/_emulator/chaos", {}),
        ("/_emulator/tenants", {}),
        ("/_emulator/vendors/eightbyeight/tenants/t1/behaviour", {}),
    ],
)
async def test_a_deep_array_nan_or_binary_body_leaves_every_view_answering(
    http: httpx.AsyncClient, path: str, headers: dict[str, str]
) -> None:
    method = "PUT" if path.endswith(("chaos", "behaviour")) else "POST"
    for raw in (b"[" * 20_000 + b"]" * 20_000, b"[NaN]", LONE, b"\xff\xfe\x00binary", b'"\xed\xa0\x80"'):
        got = await http.request(method, path, content=raw, headers={**JSON, **headers})
        assert 400 <= got.status_code < 500, (path, raw[:20], got.status_code, got.text[:200])
    views = await views_answer(http)
    if not path.startswith("/_emulator"):
        bodies = [r["body"] for r in views["/requests?limit=0"]["requests"] if r["path"] == path]
        assert bodies[0].startswith("[[[")  # kept as text
        assert "\ufffd" in bodies[3]  # invalid UTF-8 replaced


# -- the body size limit ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "headers", "shape"),
    [
        (CONV, KEY, {"message", "errors"}),
        ("/v1.0/message", {}, {"details", "errorCode"}),
        (FLOW, {}, {"message"}),
        ("/_emulator/tenants", {}, {"error", "message"}),
        ("/_emulator/sink/anything", {}, {"error", "message"}),
    ],
)
async def test_a_body_over_the_limit_is_a_413_in_the_vendors_shape_and_changes_nothing(
    http: httpx.AsyncClient, path: str, headers: dict[str, str], shape: set[str]
) -> None:
    before = await store_of(http)
    big = json.dumps({"text": "x" * 10 * 1024 * 1024}).encode()  # the 10 MB body
    got = await http.post(path, content=big, headers={**JSON, **headers})
    assert got.status_code == 413, got.text[:300]
    assert shape <= set(got.json()), got.text
    assert got.headers["connection"] == "close"
    assert await store_of(http) == before
    assert len((await http.get("/_emulator/sink")).json()["requests"]) == 0


@pytest.mark.parametrize(("path", "headers"), [(CONV, KEY), ("/_emulator/tenants", {})])
async def test_a_streamed_body_without_a_length_is_cut_off_at_the_limit(
    http: httpx.AsyncClient, path: str, headers: dict[str, str]
) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(1000):  # 16 MB if it were all read
            sent += 1
            yield b" " * 16 * 1024

    before = await store_of(http)
    got = await http.post(path, content=chunks(), headers={**JSON, **headers})
    assert got.status_code == 413, got.text[:300]
    assert sent < 1000  # the rest was never read
    assert await store_of(http) == before


async def test_a_body_at_the_limit_is_read(http: httpx.AsyncClient) -> None:
    raw = json.dumps({"channelId": "1", "user": {"name": "Ada"}}).encode()
    padded = raw + b" " * (64 * 1024 - len(raw))
    got = await http.post(CONV, content=padded, headers={**JSON, **KEY})
    assert got.status_code == 202, got.text


async def test_multipart_uploads_have_their_own_limit() -> None:
    app = create_app(make_settings(max_body_bytes=4096, max_upload_bytes=256 * 1024))
    await app.state.emulator.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cxemu.test") as http:
            created = await http.post(CONV, json={"channelId": "1", "user": {"name": "Ada"}}, headers=KEY)
            conv = created.json()["conversationId"]
            url = f"{CONV}/{conv}/attachments"
            small = await http.post(url, files={"attachment": ("a.bin", b"a" * 100 * 1024)}, headers=KEY)
            assert small.status_code == 200, small.text[:300]  # over max_body_bytes, under max_upload_bytes
            large = await http.post(url, files={"attachment": ("b.bin", b"b" * 300 * 1024)}, headers=KEY)
            assert large.status_code == 413, large.text[:300]
            form = httpx.Request("POST", url, files={"attachment": ("c.bin", b"c" * 300 * 1024)})

            async def chunks() -> AsyncIterator[bytes]:  # the same kind of form, with no Content-Length
                yield form.read()

            ctype = form.headers["content-type"]
            chunked = await http.post(url, content=chunks(), headers={**KEY, "content-type": ctype})
            assert chunked.status_code == 413, chunked.text[:300]
    finally:
        await app.state.emulator.stop()


# -- journal excerpts ---------------------------------------------------------------------------------------


async def test_the_journal_keeps_excerpts_of_large_bodies_and_headers(http: httpx.AsyncClient) -> None:
    padding = {f"x-pad-{i}": "v" * 1000 for i in range(40)}  # 40 KB of headers
    raw = json.dumps({"channelId": "1", "user": {"name": "Ada"}, "pad": "p" * 50_000}).encode()
    got = await http.post(CONV, content=raw, headers={**JSON, **KEY, **padding})
    assert got.status_code in (202, 400), got.text[:300]
    [entry] = (await http.get("/_emulator/requests", params={"path": CONV})).json()["requests"]
    assert (entry["size"], entry["truncated"]) == (len(raw), True)
    assert entry["body"] == raw[:BODY_BYTES].decode()
    assert sum(len(k) + len(v) for k, v in entry["headers"].items()) <= HEADER_BYTES
    small = await http.post(CONV, json={"channelId": "1", "user": {"name": "Bo"}}, headers=KEY)
    assert small.status_code == 202
    entry = (await http.get("/_emulator/requests", params={"path": CONV})).json()["requests"][-1]
    assert (entry["body"], entry["truncated"]) == ({"channelId": "1", "user": {"name": "Bo"}}, False)


# -- scenario files loaded over HTTP ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('text: "Your balance is 12.34."', 'text: "Your balance \\ud800 is 12.34."'),  # said by an actor later
        ("seed: 42", "seed: 42\nsetup_extra: .nan"),
    ],
)
async def test_a_scenario_with_a_lone_surrogate_or_nan_is_refused(http: httpx.AsyncClient, old: str, new: str) -> None:
    text = (SCENARIOS / "eightbyeight" / "01_queue_agent_chat_end.yaml").read_text(encoding="utf-8")
    assert old in text
    got = await http.post("/_emulator/scenarios", content=text.replace(old, new).encode())
    assert got.status_code == 400, got.text[:300]
    assert "not valid" in got.json()["message"]
    assert (await views_answer(http))["/scenarios"]["scenarios"] == []


# -- the settings ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "cli", "culprit"),
    [
        ({}, {"max_body_bytes": "10"}, "--max-body-bytes: Input should be greater than or equal to 1024"),
        ({"CXEMU_MAX_BODY_BYTES": "lots"}, {}, "CXEMU_MAX_BODY_BYTES: Input should be a valid integer"),
        ({"CXEMU_MAX_HEADERS": "5"}, {}, "CXEMU_MAX_HEADERS: Input should be greater than or equal to 10"),
        ({"CXEMU_REQUEST_TIMEOUT": "0"}, {}, "CXEMU_REQUEST_TIMEOUT: Input should be greater than 0"),
        ({"CXEMU_IDLE_TIMEOUT": "-1"}, {}, "CXEMU_IDLE_TIMEOUT: Input should be greater than 0"),
        ({"CXEMU_MAX_HEADER_BYTES": "2000000"}, {}, "CXEMU_MAX_HEADER_BYTES: Input should be less than or equal to"),
    ],
)
def test_a_bad_limit_names_its_variable_or_flag(env: dict[str, str], cli: dict[str, Any], culprit: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.load(env, cli)
    assert str(caught.value).startswith(culprit), str(caught.value)


def test_the_max_body_flag_and_its_alias_set_the_limit() -> None:
    for flag in ("--max-body-bytes", "--max-body"):
        args = cli._parser().parse_args(["serve", flag, "4096"])
        assert cli._settings(args).max_body_bytes == 4096


def test_a_bad_max_body_flag_exits_2_with_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXEMU_")}
    run = subprocess.run(
        [sys.executable, "-m", "emulator", "serve", "--max-body", "tiny"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert run.stderr.splitlines() == [
        "cxemu: error: --max-body-bytes: Input should be a valid integer, unable to parse string as an integer"
    ]


async def test_a_scenario_in_json_with_escaped_surrogate_pairs_is_read_as_json_reads_it(
    http: httpx.AsyncClient,
) -> None:
    text = (SCENARIOS / "eightbyeight" / "01_queue_agent_chat_end.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    data["name"] = "smile \U0001f600"
    got = await http.post("/_emulator/scenarios", content=json.dumps(data).encode())  # "\ud83d\ude00" escaped
    assert got.status_code == 201, got.text[:300]
    assert got.json()["name"] == "smile \U0001f600"
    await views_answer(http)
