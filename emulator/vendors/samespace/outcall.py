"""The `http` step's real outbound request (samespace.md §4.2, §4.4).

- `{{name}}` in the URL, header values and a string or JSON body is replaced by the call's collected variable
  (URL-quoted in the URL; an unknown name becomes empty [inf]).
- An emulator-only rewrite [inf]: a URL starting with a key of the cloud's `http_overrides` is sent to the
  value + the rest, so a flow written for a real backend (the seed's `https://subdoomain.domain.com/...`) can
  run against a local server unchanged. The metadata shows both `url` and `sent_to`.
- Safety: the target passes cxemu's one outbound policy (`core.outbound.Guard`: http(s) only,
  `settings.webhook_allow_hosts` when set, and the SSRF guard), as webhooks do: the name is resolved once,
  the addresses checked, and the request sent to the checked address (the URL's name stays in `Host` and
  TLS's SNI), so a refused target (e.g. `http://127.1/` while cxemu listens beyond loopback) takes the
  `fail` branch with the guard's reason; a wall-clock timeout; at most `max_bytes` of the answer are read;
  redirects are not followed (a redirect could leave the allow-list). It never raises: every failure is an
  `Outcome` with `error` set, and routes the call to `fail`.
- The request goes through httpx, not the kernel's webhook client (`core.httpclient`, POST only, an excerpt of
  the answer, built for throughput): a step may use any method, reads up to `max_bytes` and says how much was
  cut, and the `error` a flow's metadata shows names httpx's own failure (`ConnectError`, `InvalidURL` for a
  control character in the URL, `LocalProtocolError` for a malformed header).

The request runs outside any unit of work. On a virtual clock the call waits for it without its tenant's time
moving (the job that runs it is tracked work that `advance`/`run_until_idle` of that timeline wait for), so
routing is deterministic -- and that tenant's timeline (only: other tenants' time moves on) is held for as
long as the request takes, `http_timeout` at most. So that a dead backend cannot hold it once per call (or per
loop iteration), a timeout or a failed connection marks the target (`origin`) unreachable for `http_fail_fast`
seconds of the emulator's clock: http steps to it fail at once meanwhile (engine.py). A name that does not
resolve fails as fast as the resolver says so. Requests of calls that reach their http step at the same
instant are sent together (httpjob.py); a slow backend that does answer still holds the clock for its latency
once per instant at which requests are due.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from emulator.core.outbound import Guard, Refused

_VAR = re.compile(r"\{\{\s*([^{}\s]+)\s*\}\}")


def render(text: str, variables: Mapping[str, str], *, url: bool = False) -> str:
    def value(m: re.Match[str]) -> str:
        found = variables.get(m.group(1), "")
        return quote(found, safe="") if url else found

    return _VAR.sub(value, text)


def render_body(body: Any, variables: Mapping[str, str]) -> Any:
    if isinstance(body, str):
        return render(body, variables)
    if isinstance(body, dict):
        return {render(str(k), variables): render_body(v, variables) for k, v in body.items()}
    if isinstance(body, list):
        return [render_body(v, variables) for v in body]
    return body


def override(url: str, overrides: Mapping[str, str]) -> str:
    """The URL after the longest matching `http_overrides` prefix is replaced."""
    for prefix in sorted(overrides, key=len, reverse=True):
        if url.startswith(prefix):
            return overrides[prefix] + url[len(prefix) :]
    return url


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    sent_to: str
    headers: dict[str, str]
    body: Any


@dataclass(frozen=True)
class Outcome:
    status: int | None
    excerpt: str
    truncated: bool
    error: str | None
    unreachable: bool = False
    """No answer at all: a timeout, or no connection (the name does not resolve, the port is closed...)."""

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300


def build(
    method: str,
    url: str,
    headers: Mapping[str, str] | None,
    body: Any,
    variables: Mapping[str, str],
    overrides: Mapping[str, str],
) -> Request:
    rendered = render(url, variables, url=True)
    return Request(
        method=method,
        url=rendered,
        sent_to=override(rendered, overrides),
        headers={k: render(v, variables) for k, v in (headers or {}).items()},
        body=render_body(body, variables),
    )


def origin(url: str) -> str | None:
    """`scheme://host:port` of a URL (what the fail-fast memo is keyed by), None if it is not a valid URL."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    return f"{parts.scheme}://{parts.hostname}:{port}" if parts.hostname else None


async def perform(req: Request, *, timeout: float, max_bytes: int, guard: Guard, user_agent: str = "cxemu") -> Outcome:
    """Send `req` and read at most `max_bytes` of the answer; never raises."""
    problem = guard.check(req.sent_to)
    if problem is not None:
        return Outcome(None, "", False, problem)
    content: bytes | None = None
    headers = {"user-agent": user_agent, **req.headers}
    if isinstance(req.body, str):
        content = req.body.encode()
    elif req.body is not None:
        content = json.dumps(req.body, separators=(",", ":"), ensure_ascii=False).encode()
        headers.setdefault("content-type", "application/json")
    try:
        async with asyncio.timeout(
            timeout
        ):  # a total bound: httpx's timeout is per read, a drip-feeding server beats it
            return await _exchange(req, headers, content, timeout, max_bytes, guard)
    except Refused as exc:
        return Outcome(None, "", False, str(exc))
    except (httpx.TimeoutException, TimeoutError):
        return Outcome(None, "", False, f"timed out after {timeout:g}s", unreachable=True)
    except (httpx.ConnectError, OSError) as exc:  # a name that does not resolve reads as httpx's own ConnectError
        name = "ConnectError" if isinstance(exc, socket.gaierror) else type(exc).__name__
        return Outcome(None, "", False, f"{name}: {exc}", unreachable=True)
    except Exception as exc:  # any failure (httpx.InvalidURL is no HTTPError) routes `fail`, never a stuck call
        return Outcome(None, "", False, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)


async def _exchange(
    req: Request, headers: dict[str, str], content: bytes | None, timeout: float, max_bytes: int, guard: Guard
) -> Outcome:
    """Resolve and check the target once, then send to the checked address (name kept in `Host` and SNI)."""
    parts = urlsplit(req.sent_to)  # judged as the resolver reads it (`0177.0.0.1` is 127.0.0.1), as webhooks are
    assert parts.hostname is not None  # checked by `guard.check`
    address = (await guard.addresses(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)))[0]
    userinfo, _, written = parts.netloc.rpartition("@")
    shown = f"[{address}]" if ":" in address else address
    netloc = f"{userinfo}@{shown}" if userinfo else shown
    url = httpx.URL(parts._replace(netloc=f"{netloc}:{parts.port}" if parts.port else netloc).geturl())
    if not any(k.lower() == "host" for k in headers):
        headers = {"host": written, **headers}
    extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
    async with (
        httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as client,
        client.stream(req.method, url, headers=headers, content=content, extensions=extensions) as response,
    ):
        kept = bytearray()
        truncated = False
        async for chunk in response.aiter_bytes():
            room = max_bytes - len(kept)
            if len(chunk) > room:
                kept += chunk[:room]
                truncated = True
                break
            kept += chunk
        return Outcome(response.status_code, kept[:512].decode(errors="replace"), truncated, None)
