"""The act-as consoles under `/_emulator/ui/act/...`: act as any party of a conversation, chat or call by hand.

| path | page |
|---|---|
| `/act` | the vendors' consoles and the tenants each has |
| `/act/open?vendor=&tenant=` | to the console of any tenant (303) |
| `/act/{vendor}/{tenant}` | the console (`templates/act/<vendor>.html`); `?part=state` only its state (for refreshes) |

Each console's forms call the same control-plane routes the tests use (`/_emulator/vendors/<vendor>/tenants/...`,
hand actions in each vendor's `hands.py`), or the vendor API itself where a client would (8x8: a customer's chat is
created through `POST /chat-gateway/v1/conversations`; Samespace: a call is placed through `POST /call/flow`);
`static/act.js` sends them, shows the equivalent `curl` and refreshes the state after each action and on every
batch of the tenant's journal stream. "Save as scenario" downloads `GET /_emulator/scenarios/export`.

Browsing changes nothing: the pages read through `Store.view` (a tenant that does not exist yet is shown as its
constructor builds it, kept nowhere).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.templating import Jinja2Templates

if TYPE_CHECKING:
    from emulator.core.runtime import Emulator

SHOWN = 20
"""Conversations, chats or calls a console shows (the newest)."""
TENANT = re.compile(r"^[A-Za-z0-9._@+:-]{1,128}$")


def _newest(items: Any, key: Callable[[Any], Any]) -> list[Any]:
    return sorted(items, key=key, reverse=True)[:SHOWN]


def _configured(emu: Emulator, vendor: str, tenant: str) -> Any:
    tenants = getattr(emu.vendor_config(vendor), "tenants", None) or {}
    return tenants.get(tenant) if isinstance(tenants, dict) else None


def eightbyeight(emu: Emulator, tenant: str, state: Any) -> dict[str, Any]:
    configured = _configured(emu, "eightbyeight", tenant)
    keys = getattr(configured, "api_keys", None) or [tenant]
    return {
        "api_key": keys[0],
        "channel": next(iter(state.channels), "1"),
        "queues": list(state.queues.values()),
        "agents": list(state.agents.values()),
        "items": _newest(state.conversations.values(), lambda c: c.created),
    }


def sangoma(emu: Emulator, tenant: str, state: Any) -> dict[str, Any]:
    agents = {a.id: a for a in state.agents.values()}
    convs = list(state.conversations.values())
    assignee = {c.display_id: agents[c.assignee_id].name for c in convs if c.assignee_id in agents}
    return {
        "widgets": [i for i in state.inboxes.values() if i.channel_type == "Channel::WebWidget"],
        "agents": list(agents.values()),
        "assignee": assignee,
        "items": _newest(state.conversations.values(), lambda c: c.display_id),
        "calls": _newest(state.calls.values(), lambda c: c.created_at),
    }


def cmcom(emu: Emulator, tenant: str, state: Any) -> dict[str, Any]:
    return {
        "channels": list(state.channels),
        "agents": list(state.agents.values()),
        "items": _newest(state.chats.values(), lambda c: c.created),
    }


def samespace(emu: Emulator, tenant: str, state: Any) -> dict[str, Any]:
    return {
        "auth_token": state.auth_token or "demo-token",
        "items": _newest(state.calls.values(), lambda c: c.created_at),
        "numbers": state.numbers,
    }


CONSOLES: dict[str, tuple[str, Callable[[Emulator, str, Any], dict[str, Any]]]] = {
    "eightbyeight": ("8x8 agent desk and customer", eightbyeight),
    "sangoma": ("Sangoma agent, web-widget customer and soft-phone", sangoma),
    "cmcom": ("CM.com end user and Customer Contact agent", cmcom),
    "samespace": ("Samespace phone", samespace),
}


def routes(emu: Emulator, templates: Jinja2Templates) -> list[BaseRoute]:
    """The consoles' pages (those of the vendors this server serves)."""
    served = {slug: CONSOLES[slug] for slug in emu.plugins if slug in CONSOLES}

    def page(request: Request, name: str, status: int = 200, **context: Any) -> Response:
        return templates.TemplateResponse(request, name, context, status_code=status)

    async def index(request: Request) -> Response:
        tenants = {slug: [t for v, t in emu.store.tenants(slug)] for slug in served}
        return page(request, "act/index.html", consoles=served, tenants=tenants)

    async def open_console(request: Request) -> Response:
        vendor, tenant = request.query_params.get("vendor", ""), request.query_params.get("tenant", "").strip()
        if vendor not in served or not TENANT.match(tenant):
            message = f"choose a vendor ({', '.join(served)}) and a tenant name (letters, digits, . _ @ + : -)"
            return page(request, "error.html", 400, title="Act", message=message)
        return RedirectResponse(f"{vendor}/{tenant}", 303)  # relative: /_emulator/ui/act/<vendor>/<tenant>

    async def console(request: Request) -> Response:
        vendor, tenant = request.path_params["vendor"], request.path_params["tenant"]
        if vendor not in served or not TENANT.match(tenant):
            return page(request, "error.html", 404, title="Act", message=f"no console for {vendor}/{tenant}")
        state = emu.store.view(vendor, tenant)
        context = served[vendor][1](emu, tenant, state)
        sink = f"{str(request.base_url).rstrip('/')}/_emulator/sink/{vendor}/{tenant}"
        exists = emu.store.exists(vendor, tenant)
        context.update(vendor=vendor, tenant=tenant, title=served[vendor][0], state=state, sink=sink, exists=exists)
        part = request.query_params.get("part")
        if part == "state":
            return page(request, f"act/{vendor}_state.html", **context)
        if part is not None:
            return page(request, "error.html", 400, title="Act", message="part: only `state`")
        return page(request, f"act/{vendor}.html", **context)

    return [
        Route("/act", index, methods=["GET"]),
        Route("/act/open", open_console, methods=["GET"]),
        Route("/act/{vendor}/{tenant}", console, methods=["GET"]),
    ]
