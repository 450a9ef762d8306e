"""`POST /_emulator/reset` without a tenant in a fleet, against a real Redis, when a worker does not answer its
fan-out: the tenants of a worker killed a moment ago (their leases still held by the dead worker) are reset once
their leases lapse, by the worker that got the reset; a tenant whose lease a live worker that did not answer still
renews is not reset, and the answer is a 503 naming it (the rest is reset; sent again later, it is reset too)."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from emulator.app import create_app
from emulator.core.fleet import WORKERS
from emulator.core.rediskeys import INDEX, tenant_key, vendor_key
from emulator.core.runtime import Emulator
from emulator.core.settings import Settings
from emulator.scenarios.receiver import WebhookSink
from tests.fleet.conftest import serve_fleet, workers
from tests.fleet.test_fleet_chaos import claim
from tests.fleet.test_fleet_serve import owner
from tests.fleet.test_leases import add_item
from tests.support import echo_vendor
from tests.support.redis_server import free_port

GHOST = "ghost-1-1"
"""A worker registered as live (fresh beat) at an address nobody listens on: alive but not answering."""


@pytest.mark.server
def test_a_reset_right_after_a_worker_is_killed_resets_that_workers_tenants_too(
    tmp_path: Path, redis_url: str, webhook_sink: WebhookSink
) -> None:
    # a lease ttl long enough that the reset comes while the killed worker's leases are still held
    server = serve_fleet(tmp_path, redis_url, "--lease-ttl", "3")
    stored = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        a, b = workers(redis_url, 2)
        with httpx.Client(timeout=60) as http:
            claim(http, a, "of-a", webhook_sink)
            claim(http, b, "of-b", webhook_sink)
            assert [owner(redis_url, t) for t in ("of-a", "of-b")] == [a.id, b.id]
            os.kill(b.pid, signal.SIGKILL)
            r = http.post(f"{a.url}/_emulator/reset")
            assert r.status_code == 200, r.text
            assert sorted(t["tenant"] for t in r.json()["reset"]) == ["of-a", "of-b"]
        for tenant in ("of-a", "of-b"):
            assert not stored.hexists(vendor_key("eightbyeight", tenant), "s"), tenant
        assert stored.smembers(INDEX) == set()
    finally:
        stored.close()
        status = server.terminate()
    assert status == 0, server.stderr()


@pytest.fixture
async def worker(redis_url: str) -> AsyncIterator[tuple[Emulator, httpx.AsyncClient]]:
    """One started worker in process (the echo vendor), with a client of its app over ASGI."""
    settings = Settings(state=redis_url, clock="virtual", lease_ttl=30)
    app = create_app(settings, plugins=[echo_vendor.PLUGIN])
    emu: Emulator = app.state.emulator
    assert emu.fleet is not None
    emu.fleet.address = f"127.0.0.1:{free_port()}"
    emu.load_state()
    await emu.start()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cxemu.test")
    try:
        yield emu, client
    finally:
        await client.aclose()
        await emu.stop()


async def test_a_reset_answers_503_naming_the_tenants_a_live_worker_that_did_not_answer_holds(
    worker: tuple[Emulator, httpx.AsyncClient], redis_url: str
) -> None:
    emu, client = worker
    assert emu.fleet is not None
    for tenant in ("mine", "theirs"):
        assert await emu.fleet.route(tenant) is None
        await add_item(emu, tenant, "x")
    stored: redis.Redis[Any] = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        entry = {"address": f"127.0.0.1:{free_port()}", "pid": 1, "beat": time.time()}
        stored.hset(WORKERS, GHOST, json.dumps(entry))
        emu.fleet.lose("theirs")  # the ghost holds it now, and keeps it (its lease outlives the reset's wait)
        stored.set(tenant_key("theirs", "owner"), f"{GHOST}:99", px=600_000)
        r = await client.post("/_emulator/reset")
        assert r.status_code == 503, r.text
        body = r.json()
        assert (body["error"], body["unreached"]) == ("unavailable", ["theirs"])
        assert "theirs" in body["message"]
        assert body["reset"] == [{"vendor": echo_vendor.SLUG, "tenant": "mine"}]
        assert stored.hexists(vendor_key(echo_vendor.SLUG, "theirs"), "s")  # untouched
        assert not stored.hexists(vendor_key(echo_vendor.SLUG, "mine"), "s")
        stored.delete(tenant_key("theirs", "owner"))  # the ghost's lease lapses: the next reset reaches the tenant
        r = await client.post("/_emulator/reset")
        assert r.status_code == 200, r.text
        assert r.json()["reset"] == [{"vendor": echo_vendor.SLUG, "tenant": "theirs"}]
        assert not stored.hexists(vendor_key(echo_vendor.SLUG, "theirs"), "s")
        assert stored.get(tenant_key("theirs", "owner")) is None  # claimed for the reset, let go once empty
    finally:
        stored.close()
