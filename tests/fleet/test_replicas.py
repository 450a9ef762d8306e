"""Replicas and determinism across a fleet: two separate `cxemu serve` processes on one Redis (as on two hosts behind
a load balancer, each with `--advertise`) serve a tenant as one server whichever gets each request; and the same
seed and serial inputs give the same webhooks (bodies, signatures, event ids) and the same journal through a
fleet of two workers as through one server."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator.scenarios.receiver import ReceivedRequest, WebhookSink
from tests.fleet.conftest import TTL, serve_fleet, serve_single, workers
from tests.fleet.test_fleet_serve import CONVERSATION, P8, owner, post, texts
from tests.support.procs import ServerProcess

pytestmark = pytest.mark.server

SEED = "11"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def replica(tmp_path: Path, url: str, name: str) -> ServerProcess:
    """`cxemu serve` as one replica runs it: its forwarding address advertised (here a free port on this host)."""
    where = f"127.0.0.1:{free_port()}"
    return ServerProcess(
        "--port", "0", "--clock", "virtual", "--state", url, "--advertise", where, "--lease-ttl", TTL,
        "--log-level", "warning", log=tmp_path / f"{name}.log",
    )  # fmt: skip


@pytest.fixture
def replicas(tmp_path: Path, redis_url: str) -> Iterator[list[ServerProcess]]:
    """Two `cxemu serve` processes on one Redis, each advertising its own forwarding address."""
    started: list[ServerProcess] = []
    try:
        for name in ("east", "west"):
            started.append(replica(tmp_path, redis_url, name))
        yield started
    finally:
        for server in started:
            assert server.terminate() == 0, server.stderr()


def test_two_replicas_on_one_redis_serve_a_tenant_as_one_server(
    replicas: list[ServerProcess], redis_url: str, webhook_sink: WebhookSink
) -> None:
    east, west = replicas
    with httpx.Client(headers={"x-api-key": "replicated"}, timeout=60) as http:
        hook = {"name": "r", "uri": webhook_sink.url_for("/hook"), "version": "Chat Gateway v1.0"}
        assert http.put(f"{west.url}{P8}/webhooks/1", json=hook).status_code == 200
        r = http.post(f"{east.url}{P8}/conversations", json=CONVERSATION)
        assert r.status_code == 202, r.text
        cid = r.json()["conversationId"]
        said: list[str] = []
        for n in range(6):
            writer, reader = (east, west) if n % 2 else (west, east)
            r = post(http, writer.url, cid, f"replica {n}")
            assert r.status_code == 202, r.text
            said.append(f"replica {n}")
            assert texts(http, reader.url, cid) == said  # read your writes through the other replica
        journal = [
            (e["method"], e["path"])
            for e in http.get(f"{east.url}/_emulator/requests", params={"tenant": "replicated"}).json()["requests"]
        ]
    assert journal.count(("POST", f"{P8}/conversations/{cid}/messages")) == 6  # the owner journaled each once
    lease = owner(redis_url, "replicated")
    assert lease is not None
    got = webhook_sink.wait_for({"eventType": "MESSAGE"}, count=6, timeout=30)
    assert [r.json["data"]["text"] for r in got] == said  # one owner's dispatcher: in order


def run_inputs(bases: list[str], sink: WebhookSink, path: str) -> list[tuple[Any, ...]]:
    """The same serial inputs for tenant `det`, request n sent to `bases[n % len(bases)]`; returns its journal."""
    with httpx.Client(headers={"x-api-key": "det"}, timeout=60) as http:

        def at(n: int) -> str:
            return bases[n % len(bases)]

        hook = {"name": "d", "uri": sink.url_for(path), "version": "Chat Gateway v1.0"}
        assert http.put(f"{at(0)}{P8}/webhooks/1", json=hook).status_code == 200
        r = http.post(f"{at(1)}{P8}/conversations", json=CONVERSATION)
        assert r.status_code == 202, r.text
        cid = r.json()["conversationId"]
        for n in range(5):
            assert post(http, at(n), cid, f"det {n}").status_code == 202
        r = http.post(f"{at(0)}/_emulator/clock/advance", params={"tenant": "det", "seconds": 30})
        assert r.status_code == 200, r.text
        entries = http.get(f"{at(1)}/_emulator/requests", params={"tenant": "det"}).json()["requests"]
    return [(e["at"], e["method"], e["path"], e.get("query"), e["status"]) for e in entries]


def received(sink: WebhookSink, path: str, count: int) -> list[tuple[bytes, dict[str, str]]]:
    got: list[ReceivedRequest] = sink.wait_for({"eventType": "MESSAGE"}, path=path, count=count, timeout=30)
    return [(r.body, {k: v for k, v in r.headers.items() if k.startswith("x-8x8-")}) for r in got]


def test_the_same_seed_and_inputs_give_the_same_webhooks_and_journal_with_one_server_and_two_workers(
    tmp_path: Path, redis_url: str, webhook_sink: WebhookSink
) -> None:
    single = serve_single(tmp_path, redis_url, SEED)  # on its own database
    try:
        alone = run_inputs([single.url], webhook_sink, "/one")
        one = received(webhook_sink, "/one", 5)
    finally:
        assert single.terminate() == 0, single.stderr()
    fleet = serve_fleet(tmp_path, redis_url, "--seed", SEED)
    try:
        a, b = workers(redis_url, 2)
        together = run_inputs([a.url, b.url], webhook_sink, "/two")
        two = received(webhook_sink, "/two", 5)
    finally:
        assert fleet.terminate() == 0, fleet.stderr()
    assert two == one  # bodies, event ids, transmission times and signatures, byte for byte
    assert together == alone
