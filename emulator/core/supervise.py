"""`cxemu serve --workers N`: the parent binds the port once and runs N worker processes serving it.

Each worker is `python -m emulator serve` with the parent's arguments, the listening socket inherited
(`--worker-fd`, the kernel spreads connections between the workers) and its index (`--worker-index`); each builds
its own Emulator on the shared Redis and joins the fleet (`core.fleet`), with a private listener of its own for
requests the other workers forward to it (`private_listener`). The parent restarts a worker that exits
unexpectedly, gives up on one that keeps failing at start (or that stops on a configuration error, status 2), and
on SIGTERM or SIGINT stops every worker gracefully (each releases its tenant leases) and exits 0.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from types import FrameType

from emulator.core.errors import ConfigError
from emulator.core.settings import shown_state

LOG = logging.getLogger(__name__)

EXIT_USAGE = 2
QUICK = 5.0
"""Seconds: a worker that exits sooner than this after its start failed at start."""
QUICK_LIMIT = 5
"""Failed starts in a row after which the parent gives up (stops every worker, exits 1)."""

Listen = Callable[[str, int, socket.AddressFamily], socket.socket]


def check_redis(url: str) -> None:
    """A `ConfigError` of one line unless the state's Redis answers (before any worker starts)."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise ConfigError(f"state {shown_state(url)}: Redis did not answer ({exc})") from None
    finally:
        client.close()


def private_listener(advertise: str | None, index: int, listen: Listen) -> tuple[str, socket.socket]:
    """The listener other workers forward to, and the address they use: 127.0.0.1 on a free port, or with
    `--advertise HOST:PORT` PORT+index on every interface (HOST is how other replicas reach this host)."""
    if advertise is None:
        sock = listen("127.0.0.1", 0, socket.AF_INET)
        return f"127.0.0.1:{sock.getsockname()[1]}", sock
    host, _, text = advertise.rpartition(":")
    port = int(text) + index
    if port > 65535:
        raise ConfigError(f"--advertise {advertise}: worker {index} would listen on port {port}, past 65535")
    family = socket.AF_INET6 if host.startswith("[") else socket.AF_INET
    try:
        sock = listen("::" if family == socket.AF_INET6 else "0.0.0.0", port, family)  # documented
    except ConfigError as exc:
        raise ConfigError(f"--advertise {advertise}: worker {index} cannot listen on port {port} ({exc})") from None
    return f"{host}:{port}", sock


def run(sock: socket.socket, workers: int, argv: list[str]) -> int:
    """Run `workers` worker processes on `sock` until SIGTERM/SIGINT; the exit status."""
    fd = sock.fileno()
    os.set_inheritable(fd, True)
    children: dict[int, tuple[int, subprocess.Popen[bytes], float]] = {}
    stopping = False
    quick = dict.fromkeys(range(workers), 0)

    def spawn(index: int) -> None:
        cmd = [sys.executable, "-m", "emulator", *argv, "--worker-fd", str(fd), "--worker-index", str(index)]
        proc = subprocess.Popen(cmd, pass_fds=(fd,))
        children[proc.pid] = (index, proc, time.monotonic())

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        if not stopping:
            sock.close()  # connections now go to the workers' own copies until they stop, then are refused
        stopping = True
        for _, proc, _ in list(children.values()):
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)
    for index in range(workers):
        spawn(index)
    status = 0
    while children:
        try:
            pid, raw = os.wait()
        except ChildProcessError:
            break
        entry = children.pop(pid, None)
        if entry is None:
            continue
        index, proc, started = entry
        proc.returncode = code = os.waitstatus_to_exitcode(raw)
        if stopping:
            continue
        quick[index] = quick[index] + 1 if time.monotonic() - started < QUICK else 0
        if code == EXIT_USAGE or quick[index] >= QUICK_LIMIT:
            print(f"cxemu: error: worker {index} exited with status {code}; stopping", file=sys.stderr, flush=True)
            status = EXIT_USAGE if code == EXIT_USAGE else 1
            stop(signal.SIGTERM, None)
            continue
        LOG.warning("worker %d exited with status %s; starting it again", index, code)
        spawn(index)
    if not stopping:
        sock.close()
    return status
