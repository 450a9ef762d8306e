"""The one policy for URLs cxemu sends requests to (webhooks, scenario receivers, Samespace `http` steps).

`check_http_url(url, allow_hosts)` answers why a URL cannot be requested, or None when it can:

- it must split (`urllib.parse.urlsplit`) and carry a valid port: an unclosed IPv6 bracket or a port that is
  not a number in 0-65535 is "not a valid URL";
- the scheme must be `http` or `https` and there must be a host name: otherwise "not an http(s) URL";
- with an allow-list (the `webhook_allow_hosts` setting, for shared demo sandboxes), the host name must be
  on it, compared as `urlsplit` gives it (lower case, IPv6 without brackets).

The texts are what a user sees in the delivery log, a flow's `http` metadata and configuration errors, so
every caller reports the same words for the same URL.
"""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import urlsplit


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
