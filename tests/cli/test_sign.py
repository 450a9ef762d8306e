"""`cxemu sign` and `cxemu verify-signature` against a real server's deliveries: what `sign` prints is byte for
byte what the server sent to a real receiver (8x8's detached JWS, Chatwoot's HMAC), `verify-signature` accepts
those deliveries and says why a changed or forged one is not valid, and every bad input is one `cxemu: error:`
line with exit 2."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from emulator.scenarios.receiver import ReceivedRequest, WebhookSink
from tests.cli.conftest import Cli, control, start_8x8_conversation
from tests.support.procs import ServerProcess

SEED = "3"
SANGOMA_DI = "/cx/api/v1/digital-interactions"
TRANSPORT = {"host", "content-length", "accept-encoding", "connection", "x-sink-status"}
"""Headers the HTTP client adds, or the sink records: not the vendor's."""


@pytest.fixture(scope="module")
def sink() -> Iterator[WebhookSink]:
    receiver = WebhookSink()
    try:
        yield receiver
    finally:
        receiver.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, sink: WebhookSink) -> Iterator[ServerProcess]:
    """Seed 3, virtual clock, Chatwoot signing on; 8x8 tenants' webhooks go to `sink`."""
    folder = tmp_path_factory.mktemp("sign")
    config = folder / "cxemu.yaml"
    config.write_text("vendors:\n  sangoma:\n    signing: true\n", encoding="utf-8")
    proc = ServerProcess(
        "--port", "0", "--clock", "virtual", "--seed", SEED, "--config", str(config),
        "--webhook-url", sink.url_for("/8x8"), log=folder / "server.log",
    )  # fmt: skip
    try:
        yield proc
    finally:
        proc.terminate()


def vendor_headers(received: ReceivedRequest) -> dict[str, str]:
    return {k: v for k, v in received.headers.items() if k not in TRANSPORT}


def printed_headers(out: str) -> dict[str, str]:
    pairs = (line.split(": ", 1) for line in out.splitlines())
    return {name.lower(): value for name, value in pairs}


def an_8x8_delivery(server: ServerProcess, sink: WebhookSink, tenant: str) -> ReceivedRequest:
    """The first webhook a new 8x8 tenant's new conversation sends, as the receiver got it."""
    r = control(server, "POST", "/tenants", json={"tenant": tenant, "vendors": ["eightbyeight"]})
    assert r.status_code == 201, r.text
    start_8x8_conversation(server, r.json()["credentials"]["eightbyeight"])
    return sink.wait_for(headers={"x-8x8-tenant-id": tenant}, timeout=30)[0]


def a_chatwoot_delivery(server: ServerProcess, sink: WebhookSink, tenant: str) -> tuple[ReceivedRequest, str]:
    """A signed `message_created` of a Sangoma tenant's first account webhook (registered through the API), as
    the receiver got it, and that webhook's secret."""
    creds = control(server, "POST", "/tenants", json={"tenant": tenant, "vendors": ["sangoma"]}).json()
    creds = creds["credentials"]["sangoma"]
    with httpx.Client(base_url=server.url, timeout=30) as http:
        token = http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "scope": "cx.digital-interactions"},
            auth=(creds["client_id"], creds["client_secret"]),
        ).json()["access_token"]
        auth, domain = {"authorization": f"Bearer {token}"}, {"tenant_domain": creds["tenant_domain"]}
        hook = http.post(
            f"{SANGOMA_DI}/webhooks",
            json={**domain, "url": sink.url_for(f"/sangoma/{tenant}"), "subscriptions": ["message_created"]},
            headers=auth,
        )
        assert hook.status_code == 200, hook.text
        contact = http.post(f"{SANGOMA_DI}/contacts", json={**domain, "name": "Ada", "inbox_id": 2}, headers=auth)
        conversation = {**domain, "contact_id": contact.json()["payload"]["contact"]["id"], "inbox_id": 2}
        opened = http.post(
            f"{SANGOMA_DI}/conversations", json={**conversation, "initial_message": "héllo ✓"}, headers=auth
        )
        assert opened.status_code == 200, opened.text
    got = sink.wait_for(path=f"/sangoma/{tenant}", timeout=30)[0]
    return got, hook.json()["payload"]["webhook"]["secret"]


def files(tmp_path: Path, received: ReceivedRequest) -> tuple[str, str]:
    """The received body and headers (`Name: value` lines, as `cxemu sign` prints them) as files."""
    body, headers = tmp_path / "body.json", tmp_path / "headers.txt"
    body.write_bytes(received.body)
    headers.write_text("".join(f"{k}: {v}\n" for k, v in vendor_headers(received).items()), encoding="utf-8")
    return str(body), str(headers)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# -- 8x8 ------------------------------------------------------------------------------------------------------


def test_8x8_sign_prints_exactly_what_the_server_sent(
    cli: Cli, server: ServerProcess, sink: WebhookSink, tmp_path: Path
) -> None:
    tenant = "sign-8x8-same"
    got = an_8x8_delivery(server, sink, tenant)
    body, _ = files(tmp_path, got)
    when = str(int(got.headers["x-8x8-transmission-time"]) / 1000)
    ids = ("--event-id", got.headers["x-8x8-event-id"], "--retry", got.headers["x-8x8-retry"], "--time", when)
    offline = cli("sign", "--vendor", "eightbyeight", "--tenant", tenant, "--seed", SEED, *ids, "--body", body)
    assert offline[0] == 0, offline
    assert printed_headers(offline[1]) == vendor_headers(got)
    # the tenant's ids and clock from the server: the same, the time being the tenant's clock now
    code, out, err = cli("sign", "--vendor", "eightbyeight", "--tenant", tenant, "--seed", SEED, "--server",
                         server.url, "--event-id", got.headers["x-8x8-event-id"], "--body", body)  # fmt: skip
    assert (code, err) == (0, "")
    now = control(server, "GET", "/clock", params={"tenant": tenant}).json()["now"]
    assert printed_headers(out)["x-8x8-transmission-time"] == str(round(now * 1000))
    assert printed_headers(out)["x-8x8-customer-id"] == got.headers["x-8x8-customer-id"]


def test_8x8_sign_json_carries_the_key_the_server_serves(cli: Cli, server: ServerProcess, tmp_path: Path) -> None:
    body = tmp_path / "b.json"
    body.write_bytes(b'{"eventType":"MESSAGE"}')
    code, out, _ = cli("sign", "--vendor", "eightbyeight", "--seed", SEED, "--json", "--body", str(body))
    doc = json.loads(out)
    served = httpx.get(f"{server.url}{doc['key']['jwk_path']}", timeout=30)
    assert (code, served.status_code) == (0, 200)
    assert doc["key"]["jwk"] == served.json()
    assert base64.b64decode(doc["body_base64"]) == body.read_bytes()
    protected = doc["headers"]["x-8x8-signature"].split(".")[0]
    assert doc["signed"].startswith(protected + '.{"checksum":')
    # same seed, tenant, body and ids: the same output, run after run
    assert cli("sign", "--vendor", "eightbyeight", "--seed", SEED, "--json", "--body", str(body))[1] == out
    other = json.loads(cli("sign", "--vendor", "eightbyeight", "--seed", "4", "--json", "--body", str(body))[1])
    assert other["key"]["kid"] != doc["key"]["kid"]


def test_8x8_verify_signature_accepts_a_real_delivery_from_every_key_source(
    cli: Cli, server: ServerProcess, sink: WebhookSink, tmp_path: Path
) -> None:
    got = an_8x8_delivery(server, sink, "sign-8x8-verify")
    body, headers = files(tmp_path, got)
    kid = json.loads(base64.urlsafe_b64decode(got.headers["x-8x8-signature"].split(".")[0] + "=="))["kid"]
    jwk = tmp_path / "jwk.json"
    jwk.write_text(httpx.get(f"{server.url}/chat-gateway/v1/jwk/{kid}/public", timeout=30).text, encoding="utf-8")
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [json.loads(jwk.read_text())]}), encoding="utf-8")
    base = ("verify-signature", "--vendor", "eightbyeight", "--headers", headers, "--body", body)
    for source in (("--server", server.url), ("--seed", SEED), ("--jwk", str(jwk)), ("--jwk", str(jwks))):
        code, out, err = cli(*base, *source)
        assert (code, err) == (0, ""), (source, out, err)
        assert out.startswith(f"valid: RS256 detached JWS by kid {kid} ("), out
    header_flags = [a for k, v in vendor_headers(got).items() for a in ("-H", f"{k}: {v}")]
    assert cli("verify-signature", "--vendor", "eightbyeight", *header_flags, "--body", body, "--seed", SEED)[0] == 0


def forged(headers: dict[str, str], change: str) -> dict[str, str]:
    """The headers of a real delivery with one thing done to them, as an attacker or a bug would."""
    out = dict(headers)
    protected_b64, _, signature = out["x-8x8-signature"].split(".")
    protected = json.loads(base64.urlsafe_b64decode(protected_b64 + "=="))
    if change == "missing":
        del out["x-8x8-signature"]
    elif change == "garbage":
        out["x-8x8-signature"] = "not a jws"
    elif change == "alg-none":
        out["x-8x8-signature"] = f"{b64url(json.dumps({**protected, 'alg': 'none'}).encode())}.."
    elif change == "hs256":
        header = b64url(json.dumps({**protected, "alg": "HS256"}).encode())
        mac = hmac.new(b"-----BEGIN PUBLIC KEY-----", header.encode() + b".x", hashlib.sha256).digest()
        out["x-8x8-signature"] = f"{header}..{b64url(mac)}"
    elif change == "attached":
        out["x-8x8-signature"] = f"{protected_b64}.{b64url(b'{}')}.{signature}"
    elif change == "no-event-id":
        del out["x-8x8-event-id"]
    elif change == "retry-not-a-number":
        out["x-8x8-retry"] = "one"
    elif change == "retry-plus-one":
        out["x-8x8-retry"] = str(int(out["x-8x8-retry"]) + 1)
    elif change == "unknown-kid":
        out["x-8x8-signature"] = f"{b64url(json.dumps({**protected, 'kid': 'nope'}).encode())}..{signature}"
    return out


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ("missing", "no x-8x8-signature header"),
        ("garbage", "malformed x-8x8-signature: a compact JWS has 3 dot-separated parts, this has 1"),
        ("alg-none", "alg is 'none': 8x8 signs with RS256 only"),
        ("hs256", "alg is 'HS256': 8x8 signs with RS256 only"),
        ("attached", "the JWS carries an attached payload"),
        ("no-event-id", "no x-8x8-event-id header: the signed payload is rebuilt from it"),
        ("retry-not-a-number", "x-8x8-retry is 'one', not a whole number"),
        ("retry-plus-one", "the RS256 signature does not verify (bad_signature)"),
        ("unknown-kid", "wrong key: signed with kid 'nope', which"),
    ],
    ids=lambda v: v if " " not in v else "",
)
def test_8x8_verify_signature_says_why_a_forged_delivery_is_invalid(
    cli: Cli, server: ServerProcess, sink: WebhookSink, tmp_path: Path, change: str, why: str
) -> None:
    got = an_8x8_delivery(server, sink, f"sign-8x8-{change}")
    body, _ = files(tmp_path, got)
    bad = tmp_path / "forged.txt"
    bad.write_text("".join(f"{k}: {v}\n" for k, v in forged(vendor_headers(got), change).items()), encoding="utf-8")
    code, out, err = cli("verify-signature", "--vendor", "eightbyeight", "--headers", str(bad), "--body", body,
                         "--server", server.url)  # fmt: skip
    assert (code, err) == (1, ""), (out, err)
    assert out.startswith(f"invalid: {why}"), out


def test_8x8_verify_signature_explains_a_changed_body_and_a_wrong_key(
    cli: Cli, server: ServerProcess, sink: WebhookSink, tmp_path: Path
) -> None:
    got = an_8x8_delivery(server, sink, "sign-8x8-tampered")
    _, headers = files(tmp_path, got)
    tampered = tmp_path / "tampered.json"
    tampered.write_bytes(got.body.replace(b'"eventType"', b'"eventType" '))
    code, out, _ = cli("verify-signature", "--vendor", "eightbyeight", "--headers", headers, "--body", str(tampered),
                       "--seed", SEED)  # fmt: skip
    assert code == 1
    assert "the body (CRC-32 " in out, out
    assert "was changed after signing, or another key signed it" in out, out
    code, out, _ = cli("verify-signature", "--vendor", "eightbyeight", "--headers", headers, "--body",
                       str(tmp_path / "body.json"), "--seed", "0")  # fmt: skip
    assert code == 1
    assert out.startswith("invalid: wrong key: signed with kid "), out
    assert "which the key of seed 0 (kid " in out, out


# -- Sangoma (Chatwoot) ---------------------------------------------------------------------------------------


def test_sangoma_sign_prints_exactly_what_the_server_sent_with_the_tenants_secret(
    cli: Cli, server: ServerProcess, sink: WebhookSink, tmp_path: Path
) -> None:
    tenant = "sign-cw-same"
    got, secret = a_chatwoot_delivery(server, sink, tenant)
    body, _ = files(tmp_path, got)
    ids = ("--event-id", got.headers["x-chatwoot-delivery"], "--time", got.headers["x-chatwoot-timestamp"])
    # offline: the secret a tenant's first webhook gets from the seed; with --secret; from the server
    for source in (("--seed", SEED), ("--secret", secret), ("--server", server.url, "--seed", "99")):
        code, out, err = cli("sign", "--vendor", "sangoma", "--tenant", tenant, *source, *ids, "--body", body)
        assert (code, err) == (0, ""), (source, err)
        assert printed_headers(out) == vendor_headers(got), source
    code, out, _ = cli("sign", "--vendor", "sangoma", "--tenant", tenant, "--secret", secret, "--json", *ids,
                       "--body", body)  # fmt: skip
    doc = json.loads(out)
    assert doc["signed"] == f"{got.headers['x-chatwoot-timestamp']}.{got.body.decode()}"
    assert doc["key"] == {"secret": secret}


def test_sangoma_verify_signature_accepts_a_real_delivery_and_says_why_not_otherwise(
    cli: Cli, server: ServerProcess, sink: WebhookSink, tmp_path: Path
) -> None:
    tenant = "sign-cw-verify"
    got, secret = a_chatwoot_delivery(server, sink, tenant)
    body, headers = files(tmp_path, got)
    base = ("verify-signature", "--vendor", "sangoma", "--tenant", tenant, "--headers", headers)
    for source in (("--server", server.url), ("--seed", SEED), ("--secret", secret)):
        code, out, _ = cli(*base, "--body", body, *source)
        assert code == 0, (source, out)
        assert out.startswith("valid: HMAC-SHA256 of '{timestamp}.{body}' with "), out
    assert "with webhook " + sink.url_for(f"/sangoma/{tenant}") in cli(*base, "--body", body, "--server", server.url)[1]
    tampered = tmp_path / "tampered.json"
    tampered.write_bytes(got.body + b" ")
    code, out, _ = cli(*base, "--body", str(tampered), "--secret", secret)
    assert (code, out) == (1, "invalid: the HMAC does not match with --secret: the body or X-Chatwoot-Timestamp was "
                               "changed after signing, or another secret signed it\n")  # fmt: skip
    assert cli(*base, "--body", body, "--secret", "not-the-secret")[0] == 1
    sent = vendor_headers(got)
    for drop, why in (
        ("x-chatwoot-signature", "no X-Chatwoot-Signature header"),
        ("x-chatwoot-timestamp", "no X-Chatwoot-Timestamp header: the signature covers it"),
    ):
        kept = [a for k, v in sent.items() if k != drop for a in ("-H", f"{k}: {v}")]
        code, out, _ = cli("verify-signature", "--vendor", "sangoma", *kept, "--body", body, "--secret", secret)
        assert (code, out.split(" (")[0].rstrip("\n")) == (1, f"invalid: {why}"), out
    garbage = ["-H", "X-Chatwoot-Signature: md5=abc", "-H", f"X-Chatwoot-Timestamp: {sent['x-chatwoot-timestamp']}"]
    code, out, _ = cli("verify-signature", "--vendor", "sangoma", *garbage, "--body", body, "--secret", secret)
    assert (code, out) == (1, "invalid: malformed X-Chatwoot-Signature: expected 'sha256=' and 64 lower-case hex "
                               "digits, got 'md5=abc'\n")  # fmt: skip


# -- vendors that do not sign, and bad input -------------------------------------------------------------------


@pytest.mark.parametrize("vendor", ["cmcom", "samespace"])
@pytest.mark.parametrize("command", ["sign", "verify-signature"])
def test_vendors_that_do_not_sign_say_so(cli: Cli, tmp_path: Path, vendor: str, command: str) -> None:
    body = tmp_path / "b.json"
    body.write_bytes(b"{}")
    extra = ("-H", "a: b") if command == "verify-signature" else ()
    code, out, err = cli(command, "--vendor", vendor, "--body", str(body), *extra)
    assert (code, out) == (2, "")
    assert err.startswith(f"cxemu: error: --vendor {vendor}: nothing to "), err
    assert "does not sign" in err or "unsigned" in err, err
    assert err.count("\n") == 1


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("sign", "--vendor", "nine-by-nine", "--body", "BODY"), "--vendor 'nine-by-nine': not a vendor; vendors: "
                                                                 "eightbyeight, sangoma, cmcom, samespace"),
        (("sign", "--body", "BODY"), "the following arguments are required: --vendor"),
        (("sign", "--vendor", "eightbyeight", "--body", "MISSING"), "--body MISSING: cannot read (No such file"),
        (("sign", "--vendor", "eightbyeight", "--body", "BODY", "--retry", "-1"), "--retry: must be a whole number"),
        (("sign", "--vendor", "eightbyeight", "--body", "BODY", "--seed", "x"), "--seed: must be a whole number"),
        (("sign", "--vendor", "sangoma", "--body", "BODY", "--time", "noon"), "--time: must be unix seconds"),
        (("verify-signature", "--vendor", "sangoma", "--body", "BODY"), "verify-signature: give the headers"),
        (("verify-signature", "--vendor", "sangoma", "--body", "BODY", "-H", "no colon"),
         "-H 1: not a 'Name: value' header line: 'no colon'"),
        (("verify-signature", "--vendor", "sangoma", "--body", "BODY", "--headers", "BAD_HEADERS"),
         "--headers HEADERS:2: not a 'Name: value' header line: 'this is not a header'"),
        (("verify-signature", "--vendor", "sangoma", "--body", "BODY", "--headers", "MISSING"),
         "--headers MISSING: cannot read (No such file"),
        (("verify-signature", "--vendor", "eightbyeight", "--body", "BODY", "-H", "a: b", "--jwk", "BODY"),
         "--jwk BODY: not a JWK (an object with kty) or a JWKS"),
        (("sign", "--vendor", "eightbyeight", "--body", "BODY", "--server", "http://127.0.0.1:PORT"),
         "cannot reach cxemu at http://127.0.0.1:PORT"),
    ],
    ids=["bad-vendor", "no-vendor", "unreadable-body", "bad-retry", "bad-seed", "bad-time", "no-headers",
         "malformed-header", "malformed-headers-file", "unreadable-headers", "bad-jwk", "unreachable"],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(cli: Cli, tmp_path: Path, args: tuple[str, ...], expected: str) -> None:
    body = tmp_path / "body.json"
    body.write_bytes(b'{"a": 1}')
    bad = tmp_path / "headers.txt"
    bad.write_text("X-Chatwoot-Timestamp: 1\nthis is not a header\n", encoding="utf-8")
    port = str(closed_port())
    names = {"BODY": str(body), "MISSING": str(tmp_path / "missing"), "BAD_HEADERS": str(bad)}
    argv = [names.get(a, a).replace("PORT", port) for a in args]
    code, out, err = cli(*argv)
    wanted = expected.replace("BODY", str(body)).replace("MISSING", str(tmp_path / "missing"))
    wanted = wanted.replace("HEADERS", str(bad)).replace("PORT", port)
    assert (code, out) == (2, ""), err
    assert err.count("\n") == 1, err
    assert err.startswith(f"cxemu: error: {wanted}") or f"error: {wanted}" in err, err


def test_server_errors_are_one_line(cli: Cli, server: ServerProcess, tmp_path: Path) -> None:
    body = tmp_path / "body.json"
    body.write_bytes(b"{}")
    code, _, err = cli("sign", "--vendor", "eightbyeight", "--tenant", "never-made", "--server", server.url,
                       "--seed", SEED, "--body", str(body))  # fmt: skip
    assert (code, err) == (2, f"cxemu: error: --tenant never-made: {server.url} has no eightbyeight tenant of that "
                              "name (create it first, e.g. POST /_emulator/tenants)\n")  # fmt: skip
    control(server, "POST", "/tenants", json={"tenant": "sign-seed", "vendors": ["eightbyeight"]})
    code, _, err = cli("sign", "--vendor", "eightbyeight", "--tenant", "sign-seed", "--server", server.url,
                       "--seed", "0", "--body", str(body))  # fmt: skip
    assert code == 2
    assert err.startswith(f"cxemu: error: --seed 0: {server.url} does not sign with this seed's key (kid "), err
    control(server, "POST", "/tenants", json={"tenant": "sign-no-hook", "vendors": ["sangoma"]})
    code, _, err = cli("sign", "--vendor", "sangoma", "--tenant", "sign-no-hook", "--server", server.url,
                       "--webhook-url", "http://127.0.0.1:1/x", "--body", str(body))  # fmt: skip
    assert (code, err) == (2, "cxemu: error: --webhook-url http://127.0.0.1:1/x: no webhook, agent bot or API inbox "
                              "of tenant sign-no-hook has this URL\n")  # fmt: skip


def test_sign_reads_the_body_from_stdin_by_default(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    body = tmp_path / "b.json"
    body.write_bytes(b'{"event":"message_created"}')
    from_file = cli("sign", "--vendor", "sangoma", "--secret", "k", "--body", str(body))
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(body.read_bytes())))
    assert cli("sign", "--vendor", "sangoma", "--secret", "k") == from_file
    mac = hmac.new(b"k", b"1767225600." + body.read_bytes(), hashlib.sha256).hexdigest()
    assert printed_headers(from_file[1])["x-chatwoot-signature"] == f"sha256={mac}"
