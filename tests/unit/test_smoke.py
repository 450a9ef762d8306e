from __future__ import annotations

import httpx

from tests.support import echo_vendor


async def test_echo_item_roundtrip(client: httpx.AsyncClient) -> None:
    h = {"x-echo-tenant": "a"}
    r = await client.post("/echo/v1/items", json={"text": "hi"}, headers=h)
    assert r.status_code == 201, r.text
    item = r.json()
    assert item["id"] == "it-1"
    r = await client.get(f"/echo/v1/items/{item['id']}", headers=h)
    assert r.json()["text"] == "hi"
    assert echo_vendor.SLUG == "echo"
