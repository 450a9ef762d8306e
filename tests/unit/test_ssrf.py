"""The outbound guard (issue 18 §5) for webhooks: every spelling of a loopback, private, link-local or metadata
host is refused when cxemu listens beyond loopback, allowed on loopback, and both are overridable
(`allow_private_targets`, `webhook_allow_hosts`); the connection goes to the address checked, resolved once
per new connection. The Samespace `http` step's matrix is in tests/vendors/samespace/test_http_ssrf.py."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from emulator.core.httpclient import HttpClient
from emulator.core.outbound import Guard, listens_on_loopback, refused_range
from emulator.core.runtime import Emulator
from emulator.core.store import Outbound
from emulator.core.webhooks import Delivery, DeliveryFilter
from emulator.pytest_plugin import WebhookSink
from tests.conftest import EmulatorFactory
from tests.support import echo_vendor
from tests.support.ssrf import ELSEWHERE, loopback_spellings
from tests.unit.test_webhook_tls import HttpsReceiver, self_signed

SPELLINGS = loopback_spellings()
WIDE = "0.0.0.0"  # a non-loopback listening address: set in Settings, never bound by these tests


def host_of(written: str) -> str:
    """The host as `urlsplit` gives it (what the allow-list compares): lower case, IPv6 without brackets."""
    hostname = urlsplit(f"http://{written}/").hostname
    assert hostname is not None
    return hostname


async def send_all(emu: Emulator, port: int, hosts: dict[str, str]) -> dict[str, Delivery]:
    """One webhook per spelling (each its own subject), all settled."""
    sent = {}
    for name, written in hosts.items():
        outbound = Outbound(f"http://{written}:{port}/ssrf/{name}", {"n": name}, "created", name, f"evt-{name}")
        sent[name] = emu.dispatcher.submit(echo_vendor.SLUG, "a", outbound)
    await emu.dispatcher.wait(DeliveryFilter(tenant="a"), count=len(sent), timeout=30)
    return sent


def outcomes(sent: dict[str, Delivery]) -> dict[str, str]:
    """Per spelling: `delivered`, or the error of the only attempt when the delivery failed at once."""
    out = {}
    for name, d in sent.items():
        if d.status == "delivered":
            out[name] = "delivered"
        else:
            assert d.status == "failed", (name, d.attempts)
            assert len(d.attempts) == 1, (name, d.attempts)
            out[name] = d.attempts[0].error or ""
    return out


def port_of(sink: WebhookSink) -> int:
    port = urlsplit(sink.url).port
    assert port is not None
    return port


REFUSING: list[dict[str, Any]] = [
    {"host": WIDE},
    {"host": WIDE, "allow_private_targets": False},
    {"host": "127.0.0.1", "allow_private_targets": False},
    {"host": "::1", "allow_private_targets": False},
]


@pytest.mark.parametrize(
    "settings", REFUSING, ids=["wide-default", "wide-explicit", "loopback-turned-off", "v6-loopback-turned-off"]
)
async def test_every_spelling_of_a_private_target_is_refused_and_nothing_is_sent(
    make_emulator: EmulatorFactory, webhook_sink: WebhookSink, settings: dict[str, Any]
) -> None:
    emu = await make_emulator(**settings)
    hosts = {**SPELLINGS, **{name: written for name, (written, _) in ELSEWHERE.items()}}

    sent = await send_all(emu, port_of(webhook_sink), hosts)

    got = outcomes(sent)
    for name, error in got.items():
        label = ELSEWHERE[name][1] if name in ELSEWHERE else "loopback"
        assert error.startswith("refused: "), (name, error)
        assert f"in the {label} range" in error, (name, error)
        assert "--allow-private-targets" in error
    assert webhook_sink.requests == []  # not one of them reached the receiver listening on 127.0.0.1


@pytest.mark.parametrize(
    "settings",
    [{}, {"host": "localhost"}, {"host": WIDE, "allow_private_targets": True}],
    ids=["loopback-default", "localhost-default", "wide-allowed-by-flag"],
)
async def test_every_loopback_spelling_is_delivered_when_private_targets_are_allowed(
    make_emulator: EmulatorFactory, webhook_sink: WebhookSink, settings: dict[str, Any]
) -> None:
    emu = await make_emulator(**settings)

    sent = await send_all(emu, port_of(webhook_sink), SPELLINGS)

    assert outcomes(sent) == dict.fromkeys(SPELLINGS, "delivered")
    port = port_of(webhook_sink)
    hosts = {r.path.rsplit("/", 1)[1]: r.headers["host"] for r in webhook_sink.requests}
    assert hosts == {name: f"{written}:{port}" for name, written in SPELLINGS.items()}  # Host keeps the name


async def test_hosts_on_the_allow_list_are_allowed_even_when_private(
    make_emulator: EmulatorFactory, webhook_sink: WebhookSink
) -> None:
    allowed = dict(list(SPELLINGS.items())[::2])  # every other spelling named on the allow-list
    emu = await make_emulator(host=WIDE, webhook_allow_hosts=[host_of(h) for h in allowed.values()])

    sent = await send_all(emu, port_of(webhook_sink), SPELLINGS)

    got = outcomes(sent)
    assert {n for n, outcome in got.items() if outcome == "delivered"} == set(allowed)
    assert all("not in the webhook allow-list" in got[n] for n in SPELLINGS if n not in allowed)


async def test_a_redelivery_passes_the_guard_too(make_emulator: EmulatorFactory, webhook_sink: WebhookSink) -> None:
    emu = await make_emulator(host=WIDE)
    (first,) = (await send_all(emu, port_of(webhook_sink), {"dotted": "127.0.0.1"})).values()

    again = emu.dispatcher.redeliver(first.id)

    assert again is not None
    assert again.redelivery_of == first.id
    await emu.dispatcher.wait(DeliveryFilter(event_id=first.event_id, status="failed"), count=2, timeout=10)
    assert (again.attempts[0].error or "").startswith("refused: 127.0.0.1 is in the loopback range")
    assert len(again.attempts) == 1
    assert webhook_sink.requests == []


# -- resolution: once per new connection, and the connection goes to the address checked ---------------------


@dataclass(frozen=True)
class CountingGuard(Guard):
    """A guard that answers every name with `address` and notes each name it was asked for."""

    address: str = "127.0.0.1"
    calls: list[str] = field(default_factory=list)

    async def addresses(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        return [self.address]


async def test_the_name_is_resolved_once_per_connection_and_the_checked_address_is_used(
    webhook_sink: WebhookSink,
) -> None:
    guard = CountingGuard()
    client = HttpClient(guard=guard)
    url = f"http://receiver.test:{port_of(webhook_sink)}/named"  # a name no resolver knows: only the guard's answer
    try:
        for n in range(5):
            assert (await client.post(url, b"{}", {}, 5)).status == 200, n
    finally:
        await client.close()

    assert guard.calls == ["receiver.test"]  # five requests on one keep-alive connection: one resolution
    assert {r.headers["host"] for r in webhook_sink.wait_for(path="/named", count=5)} == {
        f"receiver.test:{port_of(webhook_sink)}"
    }


async def test_tls_names_the_host_of_the_url_not_the_address_connected_to(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    names: list[str | None] = []
    context.sni_callback = lambda _sock, name, _ctx: names.append(name)
    receiver = HttpsReceiver()
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0, ssl=context)
    client = HttpClient(guard=CountingGuard(), verify_tls=False)
    try:
        url = f"https://receiver.test:{server.sockets[0].getsockname()[1]}/hook"
        assert (await client.post(url, b"{}", {}, 5)).status == 200
    finally:
        await client.close()
        server.close()
        await server.wait_closed()

    assert names == ["receiver.test"]  # SNI: the URL's name, though the connection went to 127.0.0.1
    assert receiver.bodies == [b"{}"]


async def test_an_unguarded_connection_is_never_reused_for_a_guarded_request(webhook_sink: WebhookSink) -> None:
    client = HttpClient(guard=Guard(allow_private=False))
    url = webhook_sink.url_for("/own")
    try:
        assert (await client.post(url, b"{}", {}, 5, guarded=False)).status == 200  # this server's own sink
        with pytest.raises(Exception, match=r"refused: 127\.0\.0\.1 is in the loopback range"):
            await client.post(url, b"{}", {}, 5)
    finally:
        await client.close()
    assert len(webhook_sink.requests) == 1


# -- the policy itself ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "label"),
    [
        ("8.8.8.8", None),
        ("2606:4700::1111", None),
        ("::ffff:8.8.8.8", None),
        ("127.255.0.9", "loopback"),
        ("0.1.2.3", "unspecified"),
        ("::", "unspecified"),
        ("fec0::1", "private"),
        ("2002:a00:1::", "private"),
        ("255.255.255.255", "reserved"),
        ("ff02::1", "multicast"),
    ],
)
def test_refused_ranges(address: str, label: str | None) -> None:
    assert refused_range(ipaddress.ip_address(address)) == label


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        *[(h, True) for h in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost", "LOCALHOST")],
        *[(h, False) for h in ("0.0.0.0", "::", "192.168.1.5", "cxemu.example.com")],
    ],
)
def test_the_default_follows_the_listening_address(host: str, loopback: bool) -> None:
    assert listens_on_loopback(host) is loopback
    assert Guard.for_server(host).allow_private is loopback
    assert Guard.for_server(host, allow_private=not loopback).allow_private is not loopback


async def test_a_name_that_does_not_resolve_is_a_resolver_error_not_a_refusal() -> None:
    with pytest.raises(socket.gaierror):
        await Guard(allow_private=False).addresses("no-such-host.invalid", 80)
