"""A fleet-wide request (snapshot, merged GET, reset) when another worker is frozen (SIGSTOP: it still accepts
connections, its kernel does, but answers nothing): the worker that got the request gives the frozen one up once its
beat in Redis is older than the lease ttl, and goes on, where it waited the forward timeout (`request_timeout` + 90
s: two minutes) before. A worker that beats but answers late (a big snapshot) is waited for, not cut off."""

from __future__ import annotations

import asyncio
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
import redis.asyncio as aioredis

from emulator.app import create_app
from emulator.core.fleet import WORKERS
from emulator.core.runtime import Emulator
from emulator.core.settings import Settings
from emulator.scenarios.receiver import WebhookSink
from tests.fleet.conftest import Worker, serve_fleet, workers
from tests.fleet.test_fleet_chaos import claim
from tests.fleet.test_fleet_serve import owner
from tests.fleet.test_leases import add_item
from tests.support import echo_vendor

TTL = 2.0
"""The fleets' lease ttl here: a frozen worker is given up about one ttl after its last beat."""
PATIENCE = 60
"""Seconds the test's client waits for an answer: many ttls, half the forward timeout the fan-out waited before."""


def beat_now(url: str, worker: Worker) -> None:
    """Write the worker's beat as if it had just beaten: its peers take it for live for one more ttl, so the next
    fan-out asks it (the test does not depend on how soon after the SIGSTOP its request comes)."""
    client = redis.Redis.from_url(url, decode_responses=True)
    try:  # the whole entry: a peer's sweeper removes a gone worker's entry once it took the worker's tenants over
        entry = {"address": worker.address, "pid": worker.pid, "beat": time.time()}
        client.hset(WORKERS, worker.id, json.dumps(entry))
    finally:
        client.close()


@pytest.mark.server
def test_fleet_wide_requests_go_on_without_a_frozen_worker(
    tmp_path: Path, redis_url: str, webhook_sink: WebhookSink
) -> None:
    server = serve_fleet(tmp_path, redis_url, "--lease-ttl", f"{TTL:g}")
    frozen = False
    try:
        a, b = workers(redis_url, 2)
        with httpx.Client(timeout=PATIENCE) as http:
            claim(http, a, "of-a", webhook_sink)
            claim(http, b, "of-b", webhook_sink)
            assert [owner(redis_url, t) for t in ("of-a", "of-b")] == [a.id, b.id]
            os.kill(b.pid, signal.SIGSTOP)
            frozen = True

            beat_now(redis_url, b)
            r = http.get(f"{a.url}/_emulator/state")  # a snapshot without b's tenants would restore without them
            assert r.status_code in (200, 503), r.text[:500]
            if r.status_code == 503:  # b was asked (the usual case) and given up: named
                assert b.address in r.json()["message"]
            else:  # b had been silent a ttl when the request came (a loaded machine): not asked, its tenant taken
                assert '"of-b"' in r.text

            beat_now(redis_url, b)
            r = http.get(f"{a.url}/_emulator/deliveries")  # merged: a's deliveries (b's once a took its tenant over)
            assert r.status_code == 200, r.text[:500]
            assert "of-a" in {d["tenant"] for d in r.json()["deliveries"]}

            beat_now(redis_url, b)
            r = http.post(f"{a.url}/_emulator/reset")  # b's tenant too, once its lease lapsed
            assert r.status_code == 200, r.text
            assert sorted(t["tenant"] for t in r.json()["reset"]) == ["of-a", "of-b"]
    finally:
        if frozen:
            os.kill(b.pid, signal.SIGCONT)
        status = server.terminate()
    assert status == 0, server.stderr()


# -- in process: a worker that beats but answers late ------------------------------------------------------


@pytest.fixture
async def worker(redis_url: str) -> AsyncIterator[tuple[Emulator, httpx.AsyncClient]]:
    """One started worker in process (the echo vendor, a short ttl), with a client of its app over ASGI."""
    settings = Settings(state=redis_url, clock="virtual", lease_ttl=1.0)
    app = create_app(settings, plugins=[echo_vendor.PLUGIN])
    emu: Emulator = app.state.emulator
    assert emu.fleet is not None
    emu.load_state()
    await emu.start()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cxemu.test")
    try:
        yield emu, client
    finally:
        await client.aclose()
        await emu.stop()


class SlowWorker:
    """Another worker as its peers see it: an entry in the registry it keeps beating (every ttl / 4) and a listener
    that answers a request only after it has beaten `beats` times since the request came: alive, and slow."""

    ID = "slow-1-1"

    def __init__(self, url: str, ttl: float, beats: int) -> None:
        self.redis: aioredis.Redis[Any] = aioredis.Redis.from_url(url, decode_responses=True)
        self.ttl = ttl
        self.beats = beats
        self.answered = False
        self._beaten = 0
        self._due: tuple[int, asyncio.Event] | None = None
        """The beat count at which the request being served is answered, and the event set then."""
        self._server: asyncio.Server | None = None
        self._beater: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.address = f"127.0.0.1:{port}"
        await self._beat()
        self._beater = asyncio.create_task(self._beat_on())

    async def _beat(self) -> None:
        entry = {"address": self.address, "pid": 1, "beat": time.time()}
        await self.redis.hset(WORKERS, self.ID, json.dumps(entry))
        self._beaten += 1
        if self._due is not None and self._beaten >= self._due[0]:
            self._due[1].set()

    async def _beat_on(self) -> None:
        while True:
            await asyncio.sleep(self.ttl / 4)  # a live worker's beat interval (a worker beats every ttl / 3)
            await self._beat()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        self._due = (self._beaten + self.beats, asyncio.Event())
        await self._due[1].wait()  # the answer takes `beats` beats: several ttls
        body = json.dumps({"tenants": [{"vendor": echo_vendor.SLUG, "tenant": "of-the-slow-one"}]}).encode()
        head = f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
        writer.write(head.encode() + body)
        await writer.drain()
        self.answered = True
        writer.close()

    async def stop(self) -> None:
        if self._beater is not None:
            self._beater.cancel()
            await asyncio.gather(self._beater, return_exceptions=True)
        if self._server is not None:
            self._server.close()
        await self.redis.hdel(WORKERS, self.ID)
        await self.redis.aclose()


async def test_a_worker_that_beats_but_answers_late_is_waited_for(
    worker: tuple[Emulator, httpx.AsyncClient], redis_url: str
) -> None:
    emu, client = worker
    assert emu.fleet is not None
    assert await emu.fleet.route("mine") is None
    await add_item(emu, "mine", "x")
    slow = SlowWorker(redis_url, emu.fleet.ttl, beats=10)  # 2.5 ttls: given up, were it taken for frozen
    await slow.start()
    try:
        r = await client.get("/_emulator/tenants")
        assert r.status_code == 200, r.text
        assert slow.answered
        assert {t["tenant"] for t in r.json()["tenants"]} == {"mine", "of-the-slow-one"}
    finally:
        await slow.stop()
