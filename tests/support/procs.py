"""`python -m emulator serve` as a child process, the way a user starts it; `run_child` for a child run to its end.

Every wait here is on an event (a line printed, output, an exit) with a deadline that only catches a hang: on a
shared CI machine under a load of 20 and more a child runs ten times slower than on a quiet one, and a deadline
sized for the quiet machine fails a test that was making progress."""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]
BANNER = re.compile(r"^cxemu \S+ on (http://\S+)  \(")
START_TIMEOUT = 120.0
"""Seconds a server has to print its URL: about a second on a quiet machine, ten times more under a load of 20."""
QUIET = 170.0
"""Seconds a child (`run_child`) may print nothing before it is taken for hung."""


class ServerProcess:
    """A cxemu child in its own process group; `url` is read from the first line it prints."""

    def __init__(self, *args: str, log: Path, start_timeout: float = START_TIMEOUT) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CXEMU_")}
        self.log = log
        self._stderr: IO[bytes] = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "emulator", "serve", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            start_new_session=True,
        )
        try:
            self.banner = self._first_line(start_timeout)
            match = BANNER.match(self.banner)
            assert match is not None, f"unexpected first line {self.banner!r}; stderr: {self.stderr()}"
            self.url = match.group(1)
        except BaseException:
            self.kill()
            raise

    def _first_line(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        buffer = b""
        with selectors.DefaultSelector() as selector:
            selector.register(self.proc.stdout, selectors.EVENT_READ)
            while b"\n" not in buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    raise AssertionError(f"cxemu printed no URL within {timeout:g}s; stderr: {self.stderr()}")
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    raise AssertionError(f"cxemu exited with {self.proc.wait()}; stderr: {self.stderr()}")
                buffer += chunk
        return buffer.split(b"\n", 1)[0].decode()

    def stderr(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def terminate(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 60.0) -> int:
        """Stop it as a process manager (SIGTERM) or a user at the terminal (SIGINT) would; returns the exit status."""
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            self.kill()

    def kill(self) -> None:
        """Make sure nothing of it is left running (its whole process group), and close our ends."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._stderr.close()


def run_child(
    args: list[str], *, cwd: Path, env: dict[str, str], quiet: float = QUIET
) -> subprocess.CompletedProcess[str]:
    """Run `args` to its end and return what it printed, however long a loaded machine makes it take: the child
    (its whole process group) is killed only when it prints nothing for `quiet` seconds, taken for hung (an
    `AssertionError` with what it printed so far). Where `subprocess.run(timeout=...)` bounds the whole run, this
    bounds the silence: a pytest child prints a character per test, a `node --test` child a line per test, so a
    slow run that makes progress goes on and a hung one fails after `quiet` seconds. Python children write
    unbuffered (`PYTHONUNBUFFERED`), so what they print arrives as they print it."""
    proc = subprocess.Popen(
        args,
        cwd=cwd,
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    got: dict[int, list[bytes]] = {out_fd: [], err_fd: []}
    try:
        with selectors.DefaultSelector() as selector:
            for stream in (proc.stdout, proc.stderr):
                selector.register(stream, selectors.EVENT_READ)
            while selector.get_map():
                ready = selector.select(quiet)
                if not ready:
                    so_far = b"".join(got[out_fd] + got[err_fd]).decode(errors="replace")
                    raise AssertionError(f"{args[:4]} printed nothing for {quiet:g}s (hung?); so far:\n{so_far}")
                for key, _ in ready:
                    chunk = os.read(key.fd, 65536)
                    if chunk:
                        got[key.fd].append(chunk)
                    else:
                        selector.unregister(key.fileobj)
        status = proc.wait(quiet)
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()
    out, err = (b"".join(got[fd]).decode(errors="replace") for fd in (out_fd, err_fd))
    return subprocess.CompletedProcess(args, status, out, err)
