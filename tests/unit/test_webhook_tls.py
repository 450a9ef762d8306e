"""`webhook_tls_verify`: https webhook targets have their certificates verified (default), or, turned off,
a local https receiver with a self-signed certificate gets its webhooks. The certificate is made here."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from emulator.core.delivery import Delivery
from emulator.core.runtime import Emulator
from emulator.core.settings import Settings
from emulator.core.store import Outbound
from tests.conftest import EmulatorFactory
from tests.support import echo_vendor


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by its own key (no CA anyone trusts)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class HttpsReceiver:
    """A local https receiver answering 200 to each request and keeping the bodies."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.url = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")
                )
                self.bodies.append(await reader.readexactly(length))
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass  # the client hung up, or refused the certificate
        writer.close()


@pytest.fixture
async def receiver(tmp_path: Path) -> AsyncIterator[HttpsReceiver]:
    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    got = HttpsReceiver()
    server = await asyncio.start_server(got.handle, "127.0.0.1", 0, ssl=context)
    got.url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook"
    yield got
    server.close()
    await server.wait_closed()


async def first_attempt(emu: Emulator, url: str) -> Delivery:
    emu.dispatcher.submit(echo_vendor.SLUG, "t1", Outbound(url, {"n": 1}, "created", "it-1", "evt-1"))
    [delivery] = await emu.dispatcher.wait(lambda d: len(d.attempts) >= 1, settled=False, timeout=30)
    return delivery


async def test_a_self_signed_receiver_is_refused_by_default(
    make_emulator: EmulatorFactory, receiver: HttpsReceiver
) -> None:
    emu = await make_emulator()
    delivery = await first_attempt(emu, receiver.url)
    [attempt] = delivery.attempts
    assert delivery.status == "pending"  # retried on the ladder, like any failed attempt
    assert attempt.status is None
    assert attempt.error is not None
    assert "TLS certificate not accepted: self-signed certificate" in attempt.error
    assert "webhook_tls_verify: false accepts self-signed certificates" in attempt.error
    assert receiver.bodies == []


async def test_with_verification_off_a_self_signed_receiver_gets_the_webhook(
    make_emulator: EmulatorFactory, receiver: HttpsReceiver
) -> None:
    emu = await make_emulator(webhook_tls_verify=False)
    delivery = await first_attempt(emu, receiver.url)
    await emu.dispatcher.wait(lambda d: d.status == "delivered", timeout=30)
    assert (delivery.status, delivery.attempts[0].status, delivery.attempts[0].response_excerpt) == (
        "delivered",
        200,
        "ok",
    )
    assert receiver.bodies == [delivery.body]


def test_the_setting_defaults_to_verify_and_reads_the_environment() -> None:
    assert Settings.load({}).webhook_tls_verify is True
    assert Settings.load({"CXEMU_WEBHOOK_TLS_VERIFY": "false"}).webhook_tls_verify is False
    with pytest.raises(ValueError, match="CXEMU_WEBHOOK_TLS_VERIFY: Input should be a valid boolean"):
        Settings.load({"CXEMU_WEBHOOK_TLS_VERIFY": "sometimes"})
