"""`cxemu sign` and `cxemu verify-signature`: each vendor's webhook signature as real vectors, for a developer's
own verification code (README "Signing and verifying webhooks by hand").

- `sign` prints the headers a receiver gets with a body (or, with `--json`, the headers, the body, the exact
  text the signature covers and the key to verify it with). It signs through the vendors' own header hooks
  (`eightbyeight.delivery.Signer`, `sangoma.delivery.signed_headers`) with the key or secret a server with the
  same seed uses, so its output is byte-identical to that server's delivery of the same body, ids and time.
  Offline by default (`--seed`, default 0, as `cxemu serve`); `--server URL` takes the tenant's ids, secret
  and clock from a running server (its seed must still be given: a server never reveals its private key).
- `verify-signature` checks headers and a body the way a careful receiver does, sharing no code with the
  signing path: joserfc for 8x8's detached RS256 JWS (RFC 7515 + RFC 7797), `hmac.compare_digest` for
  Chatwoot's HMAC. Exit 0 `valid: ...`, exit 1 `invalid: <why>` (no header, a malformed one, a trick such as
  `alg: none`, a wrong kid, a changed body...).
- CM.com and Samespace do not sign their webhooks: both commands say so and exit 2.

Bad options, unreadable files and an unreachable server are `ConfigError`s: one `cxemu: error: ...` line, exit 2.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import sys
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulator.client import Client, ClientError
from emulator.core.clock import DEFAULT_VIRTUAL_START
from emulator.core.errors import ConfigError
from emulator.core.ids import TenantIds, derive_bytes, fmt_alnum, fmt_uuid
from emulator.core.webhooks import AttemptContext
from emulator.vendors.cmcom import delivery as cm_delivery
from emulator.vendors.eightbyeight.constants import WEBHOOK_CUSTOMER_HEADER as X8_CUSTOMER
from emulator.vendors.eightbyeight.constants import WEBHOOK_EVENT_ID_HEADER as X8_EVENT
from emulator.vendors.eightbyeight.constants import WEBHOOK_RETRY_HEADER as X8_RETRY
from emulator.vendors.eightbyeight.constants import WEBHOOK_SIGNATURE_HEADER as X8_SIGNATURE
from emulator.vendors.eightbyeight.constants import WEBHOOK_TENANT_HEADER as X8_TENANT
from emulator.vendors.eightbyeight.constants import WEBHOOK_TRANSMISSION_TIME_HEADER as X8_TIME
from emulator.vendors.eightbyeight.delivery import Signer
from emulator.vendors.samespace import delivery as ss_delivery
from emulator.vendors.sangoma.constants import SIGNATURE_HEADER as CW_SIGNATURE
from emulator.vendors.sangoma.constants import TIMESTAMP_HEADER as CW_TIMESTAMP
from emulator.vendors.sangoma.delivery import signed_headers
from emulator.vendors.sangoma.state import SECRET

COMMANDS = ("sign", "verify-signature")
SIGNED = ("eightbyeight", "sangoma")
UNSIGNED = {"cmcom": cm_delivery.UNSIGNED.why, "samespace": ss_delivery.UNSIGNED.why}
"""Why there is nothing to sign or verify, in the words of the vendor's own delivery policy."""
VENDORS = (*SIGNED, *UNSIGNED)
DEFAULT_TENANT = "demo"
BASE_HEADERS = {"content-type": "application/json", "user-agent": "cxemu"}
"""What every cxemu webhook carries besides the vendor's own headers (`core.webhooks`)."""

SECRET_OF = ("webhook", "api-inbox")
"""Sangoma's offline secret: the tenant's first account webhook / agent bot, or its default API inbox."""


# -- options ------------------------------------------------------------------------------------------------


def add_commands(sub: Any) -> None:
    """The `sign` and `verify-signature` subparsers (on `cxemu`'s `_commands` action)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--vendor", required=True, help=f"the vendor: {', '.join(VENDORS)}")
    common.add_argument("--tenant", help=f"the tenant (default {DEFAULT_TENANT!r})")
    common.add_argument("--seed", help="the server's seed (default 0, as `cxemu serve`)")
    common.add_argument("--server", metavar="URL", help="take ids, secrets and keys from this running server")
    common.add_argument("--admin-token", help="the server's admin token (default: CXEMU_ADMIN_TOKEN)")
    common.add_argument("--secret", help="Sangoma: the webhook secret (default: the tenant's, see --secret-of)")
    common.add_argument(
        "--secret-of",
        choices=SECRET_OF,
        default="webhook",
        help="Sangoma without --secret: the tenant's first webhook or agent bot (default), or its API inbox",
    )
    common.add_argument("--webhook-url", help="Sangoma with --server: the webhook, bot or inbox (by URL) to use")

    sign = sub.add_parser("sign", parents=[common], help="sign a webhook body as the vendor does; print its headers")
    sign.add_argument("--body", default="-", metavar="FILE", help="the body (a file, or - for stdin: the default)")
    sign.add_argument("--event-id", help="the event id (default: derived from the seed, tenant and body)")
    sign.add_argument("--retry", default="0", help="the attempt: 0 first, 1 for the first retry... (default 0)")
    sign.add_argument("--time", help="transmission time, unix seconds (default 2026-01-01T00:00:00Z, the virtual "
                      "clock's start; with --server the tenant's clock)")  # fmt: skip
    sign.add_argument("--tenant-id", help="8x8: x-8x8-tenant-id (default: the tenant name)")
    sign.add_argument("--customer-id", help="8x8: x-8x8-customer-id (default: the tenant's seeded one)")
    sign.add_argument("--json", action="store_true", help="print headers, body, signed text and key as JSON")

    verify = sub.add_parser("verify-signature", parents=[common], help="check a webhook's signature; exit 1 if bad")
    verify.add_argument("--headers", metavar="FILE", help="the headers: `Name: value` lines or a JSON object")
    verify.add_argument("-H", "--header", action="append", default=[], metavar="'NAME: VALUE'", help="a header")
    verify.add_argument("--body", required=True, metavar="FILE", help="the raw body (a file, or - for stdin)")
    verify.add_argument("--jwk", metavar="FILE", help="8x8: the public JWK (or a JWKS) to verify with")


def run(args: argparse.Namespace) -> int:
    """Run `sign` or `verify-signature`; `ConfigError` (printed by `cli.main`, exit 2) for any error."""
    vendor = args.vendor
    if vendor in UNSIGNED:
        raise ConfigError(f"--vendor {vendor}: nothing to {'sign' if args.command == 'sign' else 'verify'}: "
                          f"{UNSIGNED[vendor]}")  # fmt: skip
    if vendor not in SIGNED:
        raise ConfigError(f"--vendor {vendor!r}: not a vendor; vendors: {', '.join(VENDORS)}")
    source = _source(args)
    try:
        if args.command == "sign":
            return _sign(args, source)
        return _verify(args, source)
    except ClientError as exc:
        raise ConfigError(str(exc)) from None
    finally:
        source.close()


def _whole(flag: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{flag}: must be a whole number >= 0, got {text!r}") from None
    if value < 0:
        raise ConfigError(f"{flag}: must be a whole number >= 0, got {text!r}")
    return value


def _read(flag: str, name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(name).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{flag} {name}: cannot read ({exc.strerror})") from None


# -- where keys and ids come from: the seed, or a running server --------------------------------------------


class Source:
    """The tenant's ids, secret and key: derived from the seed offline, read from a server with `--server`."""

    def __init__(self, vendor: str, tenant: str, seed: int, server: str | None, token: str | None) -> None:
        self.vendor, self.tenant, self.seed = vendor, tenant, seed
        self.client = Client(server, token) if server else None

    def close(self) -> None:
        if self.client is not None:
            self.client.close()

    def view(self) -> dict[str, Any]:
        """The tenant's world as the control plane shows it (`GET /_emulator/vendors/<vendor>/tenants/<t>`)."""
        assert self.client is not None
        try:
            return dict(self.client.call("GET", f"/vendors/{self.vendor}/tenants/{self.tenant}"))
        except ClientError as exc:
            if exc.status == 404:
                raise ConfigError(f"--tenant {self.tenant}: {self.client.url} has no {self.vendor} tenant of that "
                                  "name (create it first, e.g. POST /_emulator/tenants)") from None  # fmt: skip
            raise

    def now(self) -> float:
        if self.client is None:
            return DEFAULT_VIRTUAL_START
        return float(self.client.clock(self.tenant)["now"])

    # 8x8 ------------------------------------------------------------------------------------------------

    def ids_8x8(self) -> tuple[str, str]:
        """(x-8x8-tenant-id, x-8x8-customer-id): a server's tenant view, or what an unconfigured tenant gets."""
        if self.client is not None:
            view = self.view()
            return str(view["tenantId"]), str(view["customerId"])
        # eightbyeight.state.new_state: the tenant name, and the tenant's first "customer" id
        return self.tenant, TenantIds(self.seed, "eightbyeight", self.tenant, {}).new("customer", fmt_alnum(12))

    def public_jwk(self, kid: str | None) -> dict[str, Any] | None:
        """The public JWK of `kid`: fetched from the server's JWK endpoint, or the seed's own key offline
        (None when the server serves no such kid)."""
        if self.client is None:
            return dict(Signer(self.seed).jwk())
        import httpx

        url = f"{self.client.url}/chat-gateway/v1/jwk/{kid}/public"
        try:
            r = httpx.get(url, timeout=30)
        except httpx.TransportError as exc:
            raise ConfigError(f"cannot reach cxemu at {self.client.url} ({exc})") from None
        if r.status_code == 404:
            return None
        if not r.is_success:
            raise ConfigError(f"GET {url}: {r.status_code} {r.text.strip()[:200]}")
        return dict(r.json())

    # Sangoma ---------------------------------------------------------------------------------------------

    def secrets(self, args: argparse.Namespace) -> list[tuple[str, str]]:
        """(what, secret) pairs to sign or verify with: `--secret`, or the tenant's (see `--secret-of`)."""
        if args.secret is not None:
            return [("--secret", args.secret)]
        if self.client is None:
            ids = TenantIds(self.seed, "sangoma", self.tenant, {})
            if args.secret_of == "api-inbox":
                return [("the default API inbox's secret", ids.new("inbox_secret", SECRET))]
            return [("the tenant's first webhook or agent bot secret", ids.new("secret", SECRET))]
        view = self.view()
        found = [
            *((f"webhook {h['url']}", h["url"], h["secret"]) for h in view.get("webhooks", [])),
            *((f"agent bot {b['outgoing_url']}", b["outgoing_url"], b["secret"]) for b in view.get("agent_bots", [])),
            *(
                (f"API inbox {i['name']} {i.get('webhook_url') or ''}".rstrip(), i.get("webhook_url"), i["secret"])
                for i in view.get("inboxes", [])
                if i.get("secret") and i.get("webhook_url")  # an API inbox without a URL sends nothing
            ),
        ]
        if args.webhook_url:
            found = [f for f in found if f[1] == args.webhook_url]
            if not found:
                raise ConfigError(f"--webhook-url {args.webhook_url}: no webhook, agent bot or API inbox of tenant "
                                  f"{self.tenant} has this URL")  # fmt: skip
        if not found:
            raise ConfigError(f"--tenant {self.tenant}: it has no webhook, agent bot or API inbox with a secret")
        return [(what, secret) for what, _, secret in found]


def _source(args: argparse.Namespace) -> Source:
    seed = _whole("--seed", args.seed) if args.seed is not None else 0
    token = args.admin_token or os.environ.get("CXEMU_ADMIN_TOKEN") or None
    return Source(args.vendor, args.tenant or DEFAULT_TENANT, seed, args.server, token)


# -- sign ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signed:
    headers: dict[str, str]
    signed: str
    """The exact text the signature covers."""
    key: dict[str, Any]


def sign_8x8(
    seed: int, body: bytes, *, tenant_id: str, customer_id: str, event_id: str, retry: int, time: float
) -> Signed:
    """The headers a server with `seed` sends with `body` (its own header hook, so byte for byte the same)."""
    signer = Signer(seed)
    profile = {"tenant_id": tenant_id, "customer_id": customer_id}
    ctx = AttemptContext("eightbyeight", tenant_id, event_id, "", "", "", body, retry, time, profile)
    headers = {**BASE_HEADERS, **signer.headers(ctx)}
    protected = headers[X8_SIGNATURE].split(".")[0]
    payload = _payload_8x8(body, headers)
    key = {"kid": signer.kid, "jwk": signer.jwk(), "jwk_path": f"/chat-gateway/v1/jwk/{signer.kid}/public"}
    return Signed(headers, f"{protected}.{payload.decode()}", key)


def sign_sangoma(secret: str, body: bytes, *, event_id: str, time: float) -> Signed:
    ctx = AttemptContext("sangoma", "", event_id, "", "", "", body, 0, time, {"secret": secret})
    headers = {**BASE_HEADERS, **signed_headers(ctx)}
    signed = headers[CW_TIMESTAMP].encode() + b"." + body
    return Signed(headers, signed.decode(errors="replace"), {"secret": secret})


def _sign(args: argparse.Namespace, source: Source) -> int:
    body = _read("--body", args.body)
    retry = _whole("--retry", args.retry)
    time = _time(args.time) if args.time is not None else source.now()
    digest = hashlib.sha256(body).hexdigest()
    event_id = args.event_id or fmt_uuid(derive_bytes(source.seed, args.vendor, source.tenant, "cli-event", digest), 0)
    if args.vendor == "eightbyeight":
        tenant_id, customer_id = args.tenant_id, args.customer_id
        if tenant_id is None or customer_id is None:
            own_tenant_id, own_customer_id = source.ids_8x8()
            tenant_id, customer_id = tenant_id or own_tenant_id, customer_id or own_customer_id
        if source.client is not None:
            kid = Signer(source.seed).kid
            if source.public_jwk(kid) is None:
                raise ConfigError(f"--seed {source.seed}: {source.client.url} does not sign with this seed's key "
                                  f"(kid {kid}); pass the seed it was started with")  # fmt: skip
        out = sign_8x8(
            source.seed,
            body,
            tenant_id=tenant_id,
            customer_id=customer_id,
            event_id=event_id,
            retry=retry,
            time=time,
        )
    else:
        secrets = source.secrets(args)
        if len(secrets) > 1:
            listed = "; ".join(what for what, _ in secrets)
            raise ConfigError(f"--tenant {source.tenant}: several secrets ({listed}): pick one with --webhook-url")
        out = sign_sangoma(secrets[0][1], body, event_id=event_id, time=time)
    if args.json:
        doc = {
            "vendor": args.vendor,
            "tenant": source.tenant,
            "headers": out.headers,
            "body": body.decode(errors="replace"),
            "body_base64": base64.b64encode(body).decode(),
            "signed": out.signed,
            "key": out.key,
        }
        print(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        for name, value in out.headers.items():
            print(f"{name}: {value}")
    return 0


def _time(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"--time: must be unix seconds (a number), got {text!r}") from None
    if not 0 <= value < 1e11:
        raise ConfigError(f"--time: must be unix seconds between 0 and 1e11, got {text!r}")
    return value


# -- verify-signature ---------------------------------------------------------------------------------------


class Invalid(Exception):
    """The signature is not valid; `str()` says why in one line."""


_HEADER_LINE = re.compile(r"^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$")


def parse_headers(lines: Sequence[str], where: str) -> dict[str, str]:
    """`Name: value` lines (blank lines and an HTTP request or status line skipped), names lower-cased."""
    out: dict[str, str] = {}
    for n, line in enumerate(lines, 1):
        text = line.rstrip("\r\n")
        if not text.strip() or (n == 1 and re.match(r"^(HTTP/|[A-Z]+ \S+ HTTP/)", text)):
            continue
        found = _HEADER_LINE.match(text)
        if found is None:
            raise ConfigError(f"{where}{n}: not a 'Name: value' header line: {text[:80]!r}")
        out[found[1].lower()] = found[2]
    return out


def _headers(args: argparse.Namespace) -> dict[str, str]:
    out: dict[str, str] = {}
    if args.headers:
        raw = _read("--headers", args.headers).decode("utf-8", errors="replace")
        if raw.lstrip().startswith("{"):
            try:
                doc = json.loads(raw)
            except ValueError as exc:
                raise ConfigError(f"--headers {args.headers}: not a JSON object of headers ({exc})") from None
            if not isinstance(doc, dict) or not all(isinstance(v, str) for v in doc.values()):
                raise ConfigError(f"--headers {args.headers}: a JSON object of header names to string values")
            out.update({str(k).lower(): v for k, v in doc.items()})
        else:
            out.update(parse_headers(raw.splitlines(), f"--headers {args.headers}:"))
    for given in args.header:
        out.update(parse_headers([given], "-H "))
    if not args.headers and not args.header:
        raise ConfigError("verify-signature: give the headers (--headers FILE or -H 'Name: value')")
    return out


def _verify(args: argparse.Namespace, source: Source) -> int:
    headers = _headers(args)
    body = _read("--body", args.body)
    try:
        if args.vendor == "eightbyeight":
            detail = verify_8x8(headers, body, _jwk_lookup(args, source))
        else:
            detail = verify_sangoma(headers, body, source.secrets(args))
    except Invalid as exc:
        print(f"invalid: {exc}")
        return 1
    print(f"valid: {detail}")
    return 0


JwkLookup = Callable[[str], tuple[dict[str, Any] | None, str]]
"""`lookup(kid) -> (its public JWK or None, where keys come from)`."""


def _jwk_lookup(args: argparse.Namespace, source: Source) -> JwkLookup:
    if args.jwk:
        try:
            doc = json.loads(_read("--jwk", args.jwk))
        except ValueError as exc:
            raise ConfigError(f"--jwk {args.jwk}: not JSON ({exc})") from None
        keys = doc.get("keys") if isinstance(doc, dict) and "keys" in doc else [doc]
        if not isinstance(keys, list) or not all(isinstance(k, dict) and k.get("kty") for k in keys):
            raise ConfigError(f'--jwk {args.jwk}: not a JWK (an object with kty) or a JWKS ({{"keys": [...]}})')

        def from_file(kid: str) -> tuple[dict[str, Any] | None, str]:
            match = [k for k in keys if k.get("kid") in (kid, None)]
            kids = ", ".join(str(k.get("kid")) for k in keys)
            return (match[0] if match else None), f"--jwk {args.jwk} (kid {kids})"

        return from_file

    def served(kid: str) -> tuple[dict[str, Any] | None, str]:
        where = f"{source.client.url}'s JWK endpoint" if source.client else f"the key of seed {source.seed}"
        jwk = source.public_jwk(kid)
        if jwk is not None and source.client is None and jwk.get("kid") != kid:
            return None, f"{where} (kid {jwk.get('kid')})"
        return jwk, where

    return served


def _b64url(text: str, what: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text) or len(text) % 4 == 1:
        raise Invalid(f"malformed {X8_SIGNATURE}: its {what} is not unpadded base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, binascii.Error):
        raise Invalid(f"malformed {X8_SIGNATURE}: its {what} is not unpadded base64url") from None


def _payload_8x8(body: bytes, headers: Mapping[str, str]) -> bytes:
    """The detached payload 8x8 signs, rebuilt from the body and the `x-8x8-*` headers (eightbyeight.md §1.5)."""
    h = {k.lower(): v for k, v in headers.items()}
    for name in (X8_TENANT, X8_CUSTOMER, X8_EVENT, X8_TIME, X8_RETRY):
        if name not in h:
            raise Invalid(f"no {name} header: the signed payload is rebuilt from it")
    numbers = {}
    for name in (X8_RETRY, X8_TIME):
        if not re.fullmatch(r"[0-9]+", h[name]):
            raise Invalid(f"{name} is {h[name]!r}, not a whole number")
        numbers[name] = int(h[name])
    document = {
        "checksum": zlib.crc32(body) & 0xFFFFFFFF,
        "cid": h[X8_CUSTOMER],
        "eid": h[X8_EVENT],
        "retry": numbers[X8_RETRY],
        "tid": h[X8_TENANT],
        "tt": numbers[X8_TIME],
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def verify_8x8(headers: Mapping[str, str], body: bytes, lookup: JwkLookup) -> str:
    """Check an 8x8 webhook as a careful receiver does; the detail of a valid one, else `Invalid(why)`."""
    try:
        from joserfc import jws
        from joserfc.errors import JoseError
        from joserfc.jwk import RSAKey
    except ImportError:
        raise ConfigError("verify-signature --vendor eightbyeight needs joserfc, an independent JOSE library: "
                          "pip install 'cxemu[verify]'") from None  # fmt: skip

    h = {k.lower(): v for k, v in headers.items()}
    compact = h.get(X8_SIGNATURE)
    if compact is None:
        raise Invalid(f"no {X8_SIGNATURE} header: 8x8 signs every webhook")
    parts = compact.split(".")
    if len(parts) != 3:
        raise Invalid(f"malformed {X8_SIGNATURE}: a compact JWS has 3 dot-separated parts, this has {len(parts)}")
    try:
        protected = json.loads(_b64url(parts[0], "protected header"))
    except (ValueError, UnicodeDecodeError):
        raise Invalid(f"malformed {X8_SIGNATURE}: its protected header is not JSON") from None
    if not isinstance(protected, dict):
        raise Invalid(f"malformed {X8_SIGNATURE}: its protected header is not a JSON object")
    alg = protected.get("alg")
    if alg != "RS256":
        raise Invalid(f"alg is {alg!r}: 8x8 signs with RS256 only, and a receiver must not take the algorithm "
                      "from the header (alg none, or HS256 keyed with the public key, are forgeries)")  # fmt: skip
    if protected.get("b64") is not False or protected.get("crit") != ["b64"]:
        raise Invalid('not 8x8\'s unencoded detached payload: the header must have "b64": false and '
                      '"crit": ["b64"] (RFC 7797)')  # fmt: skip
    if parts[1]:
        raise Invalid("the JWS carries an attached payload: 8x8 detaches it, the receiver rebuilds it from the body "
                      "and the x-8x8-* headers (an attached one is not what was checked)")  # fmt: skip
    signature = _b64url(parts[2], "signature")
    if not signature:
        raise Invalid(f"{X8_SIGNATURE} has an empty signature")
    kid = protected.get("kid")
    if not isinstance(kid, str) or not kid:
        raise Invalid("the JWS header names no kid, so no key can be fetched for it")
    payload = _payload_8x8(body, h)
    jwk, where = lookup(kid)
    if jwk is None:
        raise Invalid(f"wrong key: signed with kid {kid!r}, which {where} does not have")
    try:
        key = RSAKey.import_key(dict(jwk))
        jws.deserialize_compact(compact, key, algorithms=["RS256"], payload=payload)
    except JoseError as exc:
        checksum = zlib.crc32(body) & 0xFFFFFFFF
        raise Invalid(
            f"the RS256 signature does not verify ({exc.error}) over the payload rebuilt from the body and headers "
            f"{payload.decode()}: the body (CRC-32 {checksum}) or an x-8x8-* header was changed after signing, "
            f"or another key signed it"
        ) from None
    except ValueError as exc:
        raise Invalid(f"the JWK for kid {kid!r} from {where} is not an RSA public key ({exc})") from None
    return f"RS256 detached JWS by kid {kid} ({where}) over {payload.decode()}"


def verify_sangoma(headers: Mapping[str, str], body: bytes, secrets: Sequence[tuple[str, str]]) -> str:
    """Check a signed Chatwoot webhook: `sha256=` hex HMAC-SHA256 of `{timestamp}.{body}`, in constant time."""
    h = {k.lower(): v for k, v in headers.items()}
    sent = h.get(CW_SIGNATURE.lower())
    if sent is None:
        raise Invalid(f"no {CW_SIGNATURE} header (signing is on: every delivery carries one)")
    timestamp = h.get(CW_TIMESTAMP.lower())
    if timestamp is None:
        raise Invalid(f"no {CW_TIMESTAMP} header: the signature covers it")
    if not re.fullmatch(r"[0-9]+", timestamp):
        raise Invalid(f"{CW_TIMESTAMP} is {timestamp!r}, not unix seconds")
    if not re.fullmatch(r"sha256=[0-9a-f]{64}", sent):
        raise Invalid(f"malformed {CW_SIGNATURE}: expected 'sha256=' and 64 lower-case hex digits, got {sent[:80]!r}")
    signed = timestamp.encode() + b"." + body
    for what, secret in secrets:
        expected = "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        if hmac.compare_digest(expected.encode(), sent.encode()):
            return f"HMAC-SHA256 of '{{timestamp}}.{{body}}' with {what}"
    tried = "; ".join(what for what, _ in secrets)
    raise Invalid(f"the HMAC does not match with {tried}: the body or {CW_TIMESTAMP} was changed after signing, "
                  "or another secret signed it")  # fmt: skip
