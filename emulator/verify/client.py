"""The client side of the battery: `score(url, vendor, ...)` for tests and scripts, and `cxemu verify-receiver`.

`cxemu verify-receiver --vendor V --url RECEIVER [--server CXEMU] [--tenant T] [--probe URL] [--check ID ...]
[--settle S] [--junit FILE] [--bodies DIR]` prints the scorecard as a table and, for every failed check, each
request it sent as a `curl` command that sends the same bytes again (the body inline as a `$'...'` word, or from a
file in `--bodies DIR`), then the body's raw bytes. Exit status: 0 when no check failed, 1 when one did, 2 for an
error (bad option, unknown vendor, a receiver or server nothing answers at, a `--junit` file that cannot be
written), with one `cxemu: error: ...` line.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emulator.client import DEFAULT_URL, Client, ClientError
from emulator.core.errors import ConfigError
from emulator.verify.scorecard import CHECKS, Scorecard, curl, junit, table

COMMAND = "verify-receiver"
TIMEOUT = 900.0
"""Wall seconds the client waits for a scorecard (a receiver that never answers costs a timeout per request)."""


def score(
    url: str,
    vendor: str,
    *,
    server: str = DEFAULT_URL,
    tenant: str | None = None,
    probe: str | None = None,
    checks: Sequence[str] | None = None,
    settle: float | None = None,
    admin_token: str | None = None,
) -> Scorecard:
    """The scorecard of the receiver at `url` as `vendor` treats it, from the cxemu server at `server` (which the
    receiver calls back into, for `tenant`). Raises `ClientError` when the server refuses the run."""
    body: dict[str, Any] = {"vendor": vendor, "url": url}
    for name, value in (("tenant", tenant), ("probe", probe), ("settle", settle)):
        if value is not None:
            body[name] = value
    if checks:
        body["checks"] = list(checks)
    with Client(server, admin_token, timeout=TIMEOUT) as client:
        raw = client.call("POST", "/verify-receiver", body=body, timeout=TIMEOUT)
    return Scorecard.model_validate(raw)


def add_command(sub: Any) -> None:
    """`verify-receiver`'s subparser (on `cxemu`'s commands)."""
    p = sub.add_parser(COMMAND, help="score a webhook receiver the way a vendor treats it; exit 1 if a check fails")
    p.add_argument("--vendor", required=True, help="eightbyeight, sangoma, cmcom or samespace")
    p.add_argument("--url", required=True, help="the receiver's URL")
    p.add_argument("--server", default=DEFAULT_URL, help=f"the running cxemu (default {DEFAULT_URL})")
    p.add_argument("--tenant", help="the tenant the receiver calls back as (default: a new verify-<n>)")
    p.add_argument("--probe", help='a URL answering GET <probe>?event=<id> with {"count": n}')
    p.add_argument("--check", action="append", metavar="ID", help="run only this check (repeatable)")
    p.add_argument("--settle", type=float, help="seconds a side effect may come after the answer (default 1)")
    p.add_argument("--junit", metavar="FILE", help="also write the scorecard as JUnit XML")
    p.add_argument("--bodies", metavar="DIR", help="write failed requests' bodies here; curl reads them from it")
    p.add_argument("--admin-token", help="the server's admin token (default: CXEMU_ADMIN_TOKEN)")


def run(args: argparse.Namespace) -> int:
    """Run `cxemu verify-receiver`; `ConfigError` (exit 2) for an error."""
    unknown = [c for c in args.check or [] if c not in CHECKS]
    if unknown:
        raise ConfigError(f"--check: {unknown[0]!r} is not a check ({', '.join(CHECKS)})")
    for flag, value in (("--junit", args.junit), ("--bodies", args.bodies)):
        if value is None:
            continue
        folder = Path(value).parent if flag == "--junit" else Path(value)
        if not folder.is_dir():
            raise ConfigError(f"{flag}: {folder} is not a folder that exists")
        if flag == "--junit" and Path(value).is_dir():
            raise ConfigError(f"--junit: {value} is a folder, not a file")
    token = args.admin_token or os.environ.get("CXEMU_ADMIN_TOKEN") or None
    try:
        card = score(
            args.url, args.vendor, server=args.server, tenant=args.tenant, probe=args.probe, checks=args.check,
            settle=args.settle, admin_token=token,
        )  # fmt: skip
    except ClientError as exc:
        raise ConfigError(str(exc)) from None
    print(table(card))
    for line in failures(card, Path(args.bodies) if args.bodies else None):
        print(line)
    if args.junit:
        try:
            Path(args.junit).write_bytes(junit(card))
        except OSError as exc:
            raise ConfigError(f"--junit: cannot write {args.junit} ({exc.strerror or exc})") from None
    return 1 if card.summary.fail else 0


def failures(card: Scorecard, bodies: Path | None) -> list[str]:
    """For every failed check, each request it sent as a replayable `curl` and its body's raw bytes."""
    out: list[str] = []
    for r in card.results:
        if r.status != "fail":
            continue
        out += ["", f"FAIL {r.id}: {r.detail}"]
        for i, req in enumerate(r.requests, 1):
            answer = f"answered {req.status}" if req.status is not None else (req.error or "no answer")
            out.append(f"  request {i} ({req.note}; {answer}):")
            body_file = None
            if bodies is not None:
                path = bodies / f"{r.id}-{i}.body"
                path.write_bytes(req.body)
                body_file = str(path)
            out.append("    " + curl(req, body_file))
            out.append(f"    raw body ({len(req.body)} bytes): {req.body[:2048]!r}" + (
                " ..." if len(req.body) > 2048 else ""
            ))  # fmt: skip
    return out
