"""One worker thread for CPU-heavy header hooks (webhook signing), fed in batches.

`run_in_executor` costs a thread hand-off and a loop wake-up per call. Under load many deliveries wait
for a signature at once, so this worker takes every job queued so far, runs them one after another, and
hands all the results back to the loop in one wake-up. Jobs run off the event loop, in order. Queuing a job
takes no lock unless the worker sleeps (only then is it woken).
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

A = TypeVar("A")

_Job = tuple[Callable[[Any], Any], Any, asyncio.Future[Any]]


class Offload:
    """A single lazily started daemon thread; `await offload.run(fn, arg)` returns `fn(arg)`'s result."""

    def __init__(self) -> None:
        self._jobs: deque[_Job] = deque()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped = False
        self._running = False
        """A worker thread serves this offload (set when it is started, cleared when it ends)."""
        self._sleeping = False
        """The worker waits for jobs: a new job must wake it (otherwise it takes the job on its next round)."""

    async def run(self, fn: Callable[[A], T], arg: A) -> T:
        return await self.submit(fn, arg)

    def submit(self, fn: Callable[[A], T], arg: A) -> asyncio.Future[T]:
        """`fn(arg)` queued for the worker; the future has its result (`run` without a coroutine of its own)."""
        loop = asyncio.get_running_loop()
        if self._stopped or not self._running or self._loop is not loop:
            self._start(loop)
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.append((fn, arg, future))  # a deque's append is atomic: no lock while the worker is busy
        if self._sleeping:
            with self._wake:
                self._wake.notify()
        return future

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._stopped = False
        self._running = True
        self._thread = threading.Thread(target=self._work, args=(loop,), name="cxemu-offload", daemon=True)
        self._thread.start()

    def _work(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            self._serve(loop)
        finally:
            if threading.current_thread() is self._thread:
                self._running = False

    def _serve(self, loop: asyncio.AbstractEventLoop) -> None:
        while True:
            with self._wake:
                # `_sleeping` is set before the queue is looked at, under the lock: a job appended after the
                # look sees it set and notifies, which waits for the lock, i.e. until this thread waits
                self._sleeping = True
                while not self._jobs and not self._stopped:
                    self._wake.wait()
                self._sleeping = False
                if self._stopped:
                    return
            batch = []
            while self._jobs:
                batch.append(self._jobs.popleft())
            results: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
            for fn, arg, future in batch:
                try:
                    results.append((future, fn(arg), None))
                except BaseException as exc:  # handed to the awaiting coroutine
                    results.append((future, None, exc))
            try:
                loop.call_soon_threadsafe(_deliver, results)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                return

    def stop(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify()


def _deliver(results: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, value, exc in results:
        if future.cancelled():
            continue
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(value)
