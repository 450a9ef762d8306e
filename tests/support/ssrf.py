"""The SSRF matrix shared by the webhook and Samespace `http` step tests: host spellings a URL may carry.

`LOOPBACK` spellings all mean 127.0.0.1 (a receiver there is reachable, so "allowed" is tested by a real
delivery); `ELSEWHERE` are other refused ranges, tested only for refusal (nothing is ever sent to them).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

LOOPBACK: dict[str, str] = {
    "dotted": "127.0.0.1",
    "decimal": "2130706433",
    "octal": "0177.0.0.1",
    "hex": "0x7f000001",
    "hex-dotted": "0x7f.0.0.1",
    "short": "127.1",
    "v4-mapped-v6": "[::ffff:127.0.0.1]",
    "localhost": "localhost",
}
ELSEWHERE: dict[str, tuple[str, str]] = {
    # id: (host as written, the range the refusal names)
    "v6-loopback": ("[::1]", "loopback"),
    "v4-compat-v6": ("[::127.0.0.1]", "loopback"),
    "nat64": ("[64:ff9b::a00:1]", "private"),
    "rfc1918-10": ("10.0.0.1", "private"),
    "rfc1918-172": ("172.16.0.1", "private"),
    "rfc1918-192": ("192.168.1.1", "private"),
    "ula": ("[fd12:3456::1]", "private"),
    "link-local": ("169.254.1.1", "link-local"),
    "link-local-v6": ("[fe80::1]", "link-local"),
    "metadata": ("169.254.169.254", "cloud metadata"),
    "metadata-v6": ("[fd00:ec2::254]", "cloud metadata"),
    "cgnat": ("100.64.0.1", "CGNAT"),
    "unspecified": ("0.0.0.0", "unspecified"),
    "multicast": ("224.0.0.1", "multicast"),
}


def etc_hosts_loopback_name() -> str | None:
    """A name other than `localhost` that /etc/hosts maps to 127.0.0.0/8, if there is one."""
    try:
        lines = Path("/etc/hosts").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2:
            continue
        try:
            loopback = ipaddress.ip_address(fields[0]) in ipaddress.ip_network("127.0.0.0/8")
        except ValueError:
            continue
        names = [n for n in fields[1:] if not n.startswith("localhost") and "." not in n]
        if loopback and names:
            return names[0]
    return None


def loopback_spellings() -> dict[str, str]:
    """`LOOPBACK`, plus an /etc/hosts name when the machine has one."""
    name = etc_hosts_loopback_name()
    return {**LOOPBACK, **({"etc-hosts": name} if name else {})}
