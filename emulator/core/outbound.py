"""The one policy for URLs cxemu sends requests to (webhooks, scenario receivers, Samespace `http` steps).

Two checks, both reported with the same words by every caller (the delivery log, a flow's `http` metadata,
configuration errors):

- `check_http_url(url, allow_hosts)`: the URL itself, before anything is sent.
  - it must split (`urllib.parse.urlsplit`) and carry a valid port: an unclosed IPv6 bracket or a port that
    is not a number in 0-65535 is "not a valid URL";
  - the scheme must be `http` or `https` and there must be a host name: otherwise "not an http(s) URL";
  - with an allow-list (the `webhook_allow_hosts` setting, for shared demo sandboxes), the host name must be
    on it, compared as `urlsplit` gives it (lower case, IPv6 without brackets).
- `Guard.addresses(host, port)`: where a new connection may go (the SSRF guard). The name is resolved once
  (`getaddrinfo`, so every spelling the resolver accepts is judged by the address it means: `2130706433`,
  `0177.0.0.1`, `0x7f.0.0.1`, `127.1`, `localhost` and `/etc/hosts` names all end as 127.0.0.1) and the
  caller connects to the address returned, never to the name again, so a second answer of the resolver
  (DNS rebinding) is never used; TLS and the `Host` header keep the name. Addresses in `refused_range`
  (loopback, private, link-local, CGNAT, unspecified, multicast, reserved, the cloud metadata addresses, and
  IPv4 addresses inside IPv6: mapped, compatible, NAT64, 6to4) are left out; when none is left the request
  is refused (`Refused`). The guard is off (`allow_private`) when cxemu listens on loopback (a developer's
  own receivers are `localhost`) unless `allow_private_targets` says otherwise, and it never applies to a
  host on the allow-list (naming a host is allowing it). Redirects are never followed by any caller.

`Guard.for_server(listen_host, allow_hosts, allow_private)` builds the policy from the settings.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_RANGES: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.ip_network(net), label)
    for net, label in (
        ("169.254.169.254/32", "cloud metadata"),
        ("fd00:ec2::254/128", "cloud metadata"),
        ("0.0.0.0/8", "unspecified"),
        ("127.0.0.0/8", "loopback"),
        ("10.0.0.0/8", "private"),
        ("172.16.0.0/12", "private"),
        ("192.168.0.0/16", "private"),
        ("100.64.0.0/10", "CGNAT"),
        ("169.254.0.0/16", "link-local"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("fc00::/7", "private"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "private"),
        ("ff00::/8", "multicast"),
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
ALLOW_HINT = "--allow-private-targets or webhook_allow_hosts allows them"


class Refused(Exception):
    """The target resolves only to addresses the guard refuses (the text says which and why)."""


def check_http_url(url: str, allow_hosts: Collection[str] | None = None) -> str | None:
    """Why `url` cannot be requested (see the module docstring), or None when it can."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number or out of range)
    except ValueError as exc:  # e.g. "http://[::1/x": an unclosed IPv6 bracket
        return f"not a valid URL: {url!r} ({exc})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"not an http(s) URL: {url!r}"
    if allow_hosts is not None and parts.hostname not in allow_hosts:
        return f"host {parts.hostname!r} is not in the webhook allow-list"
    return None


def refused_range(address: IPAddress) -> str | None:
    """The name of the refused range `address` is in (its embedded IPv4 address judged for IPv6), or None."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_v4(address)
        if embedded is not None:
            return refused_range(embedded)
    for net, label in _RANGES:
        if address in net:
            return label
    return None


def _embedded_v4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    value = int(address)
    if address in _NAT64 or (1 < value < 2**32):  # NAT64, or IPv4-compatible (::a.b.c.d)
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    return None


def listens_on_loopback(host: str) -> bool:
    """Whether a server bound to `host` is reachable only from this machine."""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Guard:
    """The outbound policy in force (see the module docstring)."""

    allow_hosts: frozenset[str] | None = None
    allow_private: bool = True

    @classmethod
    def for_server(
        cls, listen_host: str, allow_hosts: Collection[str] | None = None, allow_private: bool | None = None
    ) -> Guard:
        """The policy of a server bound to `listen_host`: private targets are allowed on loopback unless
        `allow_private` (the `allow_private_targets` setting) says otherwise."""
        return cls(
            allow_hosts=frozenset(allow_hosts) if allow_hosts else None,
            allow_private=listens_on_loopback(listen_host) if allow_private is None else allow_private,
        )

    def check(self, url: str) -> str | None:
        """`check_http_url` with this policy's allow-list."""
        return check_http_url(url, self.allow_hosts)

    async def addresses(self, host: str, port: int) -> list[str]:
        """The addresses a new connection to `host` may use, in the resolver's order. Raises `Refused`, or
        `OSError` when the name does not resolve."""
        found = _literal(host)  # an address as written: no resolver round trip
        if not found:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
            found = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not found:
            raise OSError(f"{host} has no address")
        if self.allow_private or (self.allow_hosts is not None and host in self.allow_hosts):
            return found
        allowed = [a for a in found if refused_range(ipaddress.ip_address(a)) is None]
        if not allowed:
            first = ipaddress.ip_address(found[0])
            shown = host if host == found[0] else f"{host} ({first})"
            inner = _embedded_v4(first) if isinstance(first, ipaddress.IPv6Address) else None
            note = f", IPv4 {inner} inside IPv6" if inner is not None else ""
            raise Refused(
                f"refused: {shown} is in the {refused_range(first)} range{note} "
                f"(private targets are refused; {ALLOW_HINT})"
            )
        return allowed


def _literal(host: str) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        return []
