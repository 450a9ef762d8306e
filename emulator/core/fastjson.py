"""Compact JSON for what the Redis backend writes for its own use (issue 16): the fleet feed's mirrored entries
(`core.fleetfeed`), the durable runtime's deliveries, attempts, jobs and outbox entries (`core.redisruntime`).

With `orjson` (a dependency of cxemu's: `core.web.json_bytes` encodes vendor responses with it too) an entry
costs a fraction of what `json` costs (bench/README.md, "The fleet feed's mirror, cheaper"); without it `json`
writes them. Either way the text reads back as the same values: the
same keys in the same order, the same strings (UTF-8, not `\\u`-escaped), the same numbers (orjson writes a float's
shortest round-trip form, as `repr` does). Dates and dataclasses go to `default`, as `json` sends them there; what
orjson refuses (an integer past 64 bits, nesting past 255 levels, a lone surrogate) is written by `json`, which
raises what it raised before for what neither can write. Nothing a vendor's client receives is encoded here: webhook
bodies and the local journal keep `json`, and responses have their own guard (`core.web.json_bytes`: orjson only
where its bytes are `json`'s). The memory backend never imports this module.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final

try:
    import orjson
except ModuleNotFoundError:  # pragma: no cover - a dependency of cxemu's
    orjson = None  # type: ignore[assignment]

Default = Callable[[Any], Any] | None

_PLAIN: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _fallback(value: Any, default: Default) -> bytes:
    encode = (
        _PLAIN
        if default is None
        else json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=default).encode
    )
    return encode(value).encode(errors="replace")  # a lone surrogate (never in strict JSON input) replaced


if orjson is not None:
    _dumps = orjson.dumps
    _OPTIONS: Final = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS

    def dumps(value: Any, default: Default = None) -> bytes:
        """`value` as compact UTF-8 JSON (see the module docstring)."""
        try:
            return _dumps(value, default=default, option=_OPTIONS)
        except TypeError:  # orjson.JSONEncodeError
            return _fallback(value, default)

else:  # pragma: no cover

    def dumps(value: Any, default: Default = None) -> bytes:
        """`value` as compact UTF-8 JSON (see the module docstring)."""
        return _fallback(value, default)


def dumps_text(value: Any) -> str:
    """`dumps` as text."""
    return dumps(value).decode()
