"""`POST /_emulator/verify-receiver`: run the battery (`battery.run`) against a receiver and answer its scorecard.

The call answers when the battery is done (seconds; a receiver that never answers costs the vendor's timeout per
request), with 200 and the scorecard, whatever the receiver did: its failures are results, not errors. Errors are
about the request: 400 a bad body (an unknown check id, a URL that is not http(s), a URL the outbound policy
refuses), 404 a vendor this server does not have, 422 a receiver (or probe) nothing answers at.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, Strict
from starlette.requests import Request
from starlette.responses import Response

from emulator import __version__
from emulator.core.api import Api
from emulator.core.contracts import Body, Reply
from emulator.core.errors import EmulatorError
from emulator.core.runtime import Emulator
from emulator.core.types import AS_NUMBER, AS_STR
from emulator.core.web import ErrorOut, RequestModel, error, guarded, json_body, reply
from emulator.verify.battery import ProbeError, default_tenant, run
from emulator.verify.profiles import PROFILES
from emulator.verify.scorecard import CHECKS, Scorecard

API: Api[Emulator] = Api("verify", __version__, "", mount="/_emulator", tags=["verify"], wrap=guarded)

MAX_SETTLE = 30.0
URL = r"^https?://[^/?#\s@]+(?:[/?#]\S*)?$"
"""An http(s) URL with a host (what the contract says; the handler checks it parses too)."""
CONNECT_TIMEOUT = 5.0


Vendor = Literal["eightbyeight", "sangoma", "cmcom", "samespace"]
CheckId = Annotated[str, Strict(), Field(json_schema_extra={"enum": list(CHECKS)}), AS_STR]
"""A check id (the contract lists them; the handler answers 400 for another)."""


class VerifyIn(RequestModel):
    vendor: Vendor = Field(description="vendor slug")
    url: Annotated[str, Strict(), Field(min_length=8, max_length=2048, pattern=URL), AS_STR] = Field(
        description="the receiver's URL (http or https)"
    )
    tenant: Annotated[str, Strict(), Field(min_length=1, max_length=256), AS_STR] | None = Field(
        None, description="the tenant whose subjects, keys and timeline are used (default: a new `verify-<n>`)"
    )
    probe: Annotated[str, Strict(), Field(min_length=8, max_length=2048, pattern=URL), AS_STR] | None = Field(
        None, description='a URL answering `GET <probe>?event=<id>` with `{"count": n}`: the receiver\'s side effects'
    )
    checks: list[CheckId] | None = Field(None, description="check ids to run (default: all)")
    settle: Annotated[float, Strict(), Field(ge=0, le=MAX_SETTLE), AS_NUMBER] = Field(
        1.0, description="seconds after its answer a side effect may still come (and is watched for)"
    )


def _http_url(name: str, url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{name}: {url!r} is not an http(s) URL"
    return None


async def _unreachable(url: str) -> str | None:
    """Why nothing answers at `url`'s host and port (a TCP connection is tried), or None."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(parts.hostname, port), CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        return f"nothing answers at {parts.hostname}:{port} ({type(exc).__name__}: {exc})"
    writer.transport.abort()
    return None


@API.op(
    "POST",
    "/verify-receiver",
    "verifyReceiver",
    "Score a webhook receiver the way a vendor treats it",
    {
        200: Reply("the scorecard (failures of the receiver are results)", Scorecard),
        400: Reply("bad body, unknown check, or a URL the outbound policy refuses", ErrorOut),
        404: Reply("no such vendor", ErrorOut),
        409: Reply("the tenant cannot host the battery's subjects", ErrorOut),
        422: Reply("nothing answers at the receiver's (or the probe's) address", ErrorOut),
    },
    body=Body(VerifyIn),
)
async def verify_receiver(emu: Emulator, request: Request) -> Response:
    """Body `{"vendor", "url", "tenant"?, "probe"?, "checks"?, "settle"?}`: sends the vendor's battery of
    deliveries to `url` and answers the scorecard when it is done (see `emulator.verify.battery`)."""
    raw = await json_body(request)
    vendor = raw.get("vendor") if isinstance(raw, dict) else None
    if isinstance(vendor, str) and (vendor not in PROFILES or vendor not in emu.plugins):
        return error(404, "unknown_vendor", f"no vendor {vendor!r} (verify-receiver knows {', '.join(PROFILES)})")
    body = VerifyIn.model_validate(raw)
    if body.vendor not in emu.plugins:
        return error(404, "unknown_vendor", f"no vendor {body.vendor!r} (verify-receiver knows {', '.join(PROFILES)})")
    unknown = [c for c in body.checks or [] if c not in CHECKS]
    if unknown:
        return error(400, "invalid_request", f"checks: {unknown[0]!r} is not a check ({', '.join(CHECKS)})")
    for name, url in (("url", body.url), ("probe", body.probe)):
        if url is None:
            continue
        bad = _http_url(name, url) or await emu.dispatcher.refusal(url)
        if bad is not None:
            return error(400, "refused_url", bad if bad.startswith(name) else f"{name}: {bad}")
        down = await _unreachable(url)
        if down is not None:
            return error(422, "unreachable", f"{name}: {down}")
    tenant = body.tenant or default_tenant(emu, body.vendor)
    try:
        card = await run(emu, body.vendor, body.url, tenant, probe=body.probe, checks=body.checks, settle=body.settle)
    except ProbeError as exc:
        return error(422, "bad_probe", str(exc))
    except EmulatorError as exc:  # the tenant cannot host the battery's subjects (e.g. a configured one)
        return error(409, exc.code, f"tenant {tenant!r}: {exc.message}")
    return reply(card)
