"""`cxemu` as a worker of a fleet that owns every tenant it serves (the Redis backend's owner path, issue 16).

    python bench/owner.py serve --state redis://127.0.0.1:6379/0 ...     # the arguments of `cxemu`

A fleet of workers (`--workers N`) gives each tenant one owner, which serves it from its cache: the store's
`authoritative` says so, and its `fence` names the lease the commit script checks. This runs one server in that
state for every tenant, so `bench/icount.py --backend redis-owner` can count what the owner's path costs
before the fleet itself exists: the first commit of each tenant sets its lease (`cxemu:{<tenant>}:owner`) to this
worker's, as a claim would. `ICOUNT_LINGER` (seconds) replaces `core.redisruntime.LINGER`: bench/icount.py
sets it 50 times longer, as valgrind makes everything else slower (a delivery's change then rides with the next
write as it does at full speed, instead of going alone). Not for anything but measuring.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import redis

from emulator.cli import main
from emulator.core import redisruntime
from emulator.core.rediskeys import tenant_key
from emulator.core.redisstore import OWNER, RedisStore

LEASE = "bench-owner:1"

_init = RedisStore.__init__


def _owner(self: RedisStore, *args: Any, **kwargs: Any) -> None:
    _init(self, *args, **kwargs)
    client = redis.Redis.from_url(self.url, decode_responses=True)
    held: set[str] = set()

    def fence(tenant: str) -> str:
        if tenant not in held:  # claimed on first use (a blocking call, once per tenant, in the warm-up)
            client.set(tenant_key(tenant, OWNER), LEASE)
            held.add(tenant)
        return LEASE

    self.authoritative = lambda tenant: True
    self.fence = fence


RedisStore.__init__ = _owner  # type: ignore[method-assign]

if "ICOUNT_LINGER" in os.environ:  # a tree without LINGER ignores it
    redisruntime.LINGER = float(os.environ["ICOUNT_LINGER"])

if __name__ == "__main__":
    sys.exit(main())
