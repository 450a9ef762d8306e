"""The console line per webhook delivery attempt, in the spirit of `stripe listen`.

One line per attempt at log level info (logger `emulator.core.console`), once the dispatcher has decided what
comes next (`time vendor/tenant event subject -> target outcome (latency)`):

    2026-01-01T00:00:00.200Z eightbyeight/demo QUEUED Nh3k… -> http://127.0.0.1:8080/_emulator/sink/… [200] (1.4 ms)
    2026-01-01T00:00:05.000Z cmcom/acme status 8a1f… -> http://127.0.0.1:3000/hook error: cannot connect to
        127.0.0.1:3000: Connection refused, retry in 300 s (0.3 ms, attempt 2)

The time is that of the delivery's tenant's timeline (virtual on `--clock virtual`), the subject is the
delivery's ordering key (conversation, chat, call), and a failed attempt says when the retry is due or that
the delivery gave up.
`attach(emu)` registers the line as a dispatcher attempt listener unless `settings.webhook_log` is off
(`--no-webhook-log`, `CXEMU_WEBHOOK_LOG=false`); nothing is formatted when info is not logged, and the lines
of attempts that end in the same turn of the event loop share one log record.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from emulator.core.clock import iso
from emulator.core.runtime import Emulator
from emulator.core.webhooks import Attempt, Delivery

LOG = logging.getLogger(__name__)


def outcome(d: Delivery, a: Attempt, now: float) -> str:
    """What became of one attempt, and what comes next."""
    result = f"[{a.status}]" if a.status is not None else f"error: {a.error}"
    if a.chaos == "duplicate":
        return f"{result} (chaos duplicate)"
    if d.status == "pending" and a is d.attempts[-1]:
        return f"{result}, retry in {max(0.0, d.not_before - now):g} s"
    if d.status == "failed":
        return f"{result}, gave up after {len(d.attempts)} attempts"
    return result


class ConsoleLines:
    """The attempt listener. Lines of attempts that end in the same turn of the event loop go out as one log
    record (one line each), so that under load the line costs its formatting and not a record, a lock and a
    write per attempt."""

    def __init__(self, now_of: Callable[[str | None], float]) -> None:
        self.now_of = now_of
        """The time of a delivery's tenant (`Scheduler.now`)."""
        self._batch: list[str] = []
        self._second = -1
        self._stamp = ""

    def __call__(self, d: Delivery, a: Attempt) -> None:
        if not LOG.isEnabledFor(logging.INFO):
            return
        if not self._batch:
            asyncio.get_running_loop().call_soon(self.flush)
        self._batch.append(self.line(d, a, self.now_of(d.tenant)))

    def line(self, d: Delivery, a: Attempt, now: float) -> str:
        second = int(a.at)
        if second != self._second:  # the date part changes once a second at most
            self._second, self._stamp = second, iso(second)[:-1]
        millis = min(999, round((a.at - second) * 1e6) // 1000)
        plain = d.status == "delivered" and a.chaos is None  # the common case, kept cheap
        after = f"[{a.status}]" if plain else outcome(d, a, now)
        tail = f", attempt {a.n + 1})" if a.n else ")"
        return (
            f"{self._stamp}.{millis:03d}Z {d.vendor}/{d.tenant} {d.event_type} {d.subject or '-'} -> {a.url} "
            f"{after} ({a.latency_ms:.1f} ms{tail}"
        )

    def flush(self) -> None:
        lines, self._batch = self._batch, []
        if lines:
            LOG.info("%s", "\n".join(lines))


def attach(emu: Emulator) -> None:
    """Log every delivery attempt of `emu` unless the settings turn the line off."""
    if emu.settings.webhook_log:
        emu.dispatcher.attempt_listeners.append(ConsoleLines(emu.scheduler.now))
