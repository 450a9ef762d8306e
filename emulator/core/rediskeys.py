"""The Redis key scheme of the shared state (`--state redis://`; docs/scaling.md).

Everything of one tenant name lives under one hash tag, `cxemu:{<tenant>}`, the name percent-encoded so no
brace, colon or percent sign in it can move the tag. A tenant name is also a timeline (the tenant's clock,
`core.clock`), shared by every vendor serving that name, so the tag is the name, not (vendor, name): every
vendor's state of the tenant, its timers, deliveries and the lease of the worker that owns it are in one Redis
Cluster slot, and one Lua script can check and write them together.

    cxemu:{<tenant>}:v:<vendor>     hash: a vendor's state of the tenant (core.redisstore)
    cxemu:{<tenant>}:<part>...      whatever else belongs to the tenant (each module names its parts)
    cxemu:tenants                   set: `<vendor>:<tenant>` of every stored tenant (both encoded)
    cxemu:<name>                    fleet-wide keys (outside any tenant's slot)
"""

from __future__ import annotations

from urllib.parse import quote, unquote

PREFIX = "cxemu"
INDEX = f"{PREFIX}:tenants"


def encoded(name: str) -> str:
    """`name` percent-encoded: no brace, colon or percent sign survives."""
    return quote(name, safe="")


def tenant_tag(tenant: str) -> str:
    """`cxemu:{<tenant>}`: the prefix of every key of the tenant; the braces are what a Cluster hashes."""
    return f"{PREFIX}:{{{encoded(tenant)}}}"


def tenant_key(tenant: str, *parts: str) -> str:
    """A key of the tenant: its tag, then the parts joined with colons (parts are the caller's own words)."""
    return ":".join((tenant_tag(tenant), *parts))


def vendor_key(vendor: str, tenant: str) -> str:
    """The hash holding `vendor`'s state of `tenant`."""
    return tenant_key(tenant, "v", encoded(vendor))


def member(vendor: str, tenant: str) -> str:
    """The tenant's member of `INDEX`: `<vendor>:<tenant>`, both encoded."""
    return f"{encoded(vendor)}:{encoded(tenant)}"


def unmember(text: str) -> tuple[str, str]:
    vendor, _, tenant = text.partition(":")
    return unquote(vendor), unquote(tenant)
