"""Hostile JSON bodies (nested thousands deep) get each vendor's 4xx, never a 500, on every kind of route."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from emulator.app import create_app
from tests.conftest import make_settings

DEEP = b"[" * 100_000 + b"]" * 100_000
JSON = {"content-type": "application/json"}


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings())  # every built-in vendor
    await app.state.emulator.start()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cxemu.test") as client:
        yield client
    await app.state.emulator.stop()


async def sangoma_token(http: httpx.AsyncClient) -> str:
    got = await http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("acme", "secret"))
    assert got.status_code == 200, got.text
    return str(got.json()["access_token"])


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("POST", "/chat-gateway/v1/conversations", {"x-api-key": "k"}),
        ("POST", "/v1.0/message", {}),
        ("POST", "/api/public/v1/call/flow", {}),
        ("POST", "/cx/api/v1/digital-interactions/contacts/", {"authorization": "SANGOMA"}),
        ("POST", "/_emulator/clock/advance", {}),
        ("POST", "/_emulator/tenants", {}),
        ("PUT", "/_emulator/chaos", {}),
        ("PUT", "/_emulator/vendors/eightbyeight/tenants/t1/behaviour", {}),
        ("POST", "/_emulator/vendors/cmcom/tenants/t1/end-users/+31612345678/messages", {}),
        ("POST", "/_emulator/vendors/sangoma/tenants/acme/customers", {}),
        ("PUT", "/_emulator/vendors/samespace/tenants/t1/behaviour", {}),
    ],
)
async def test_a_body_nested_thousands_deep_is_a_client_error(
    http: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]
) -> None:
    if headers.get("authorization") == "SANGOMA":
        headers = {"authorization": f"Bearer {await sangoma_token(http)}"}
    got = await http.request(method, path, content=DEEP, headers={**JSON, **headers})
    assert 400 <= got.status_code < 500, (got.status_code, got.text[:300])
    assert got.headers["content-type"].split(";")[0].endswith("json"), got.headers["content-type"]
