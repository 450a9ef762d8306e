"""`python -m emulator serve` as a child process, the way a user starts it."""

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


class ServerProcess:
    """A cxemu child in its own process group; `url` is read from the first line it prints."""

    def __init__(self, *args: str, log: Path, start_timeout: float = 30.0) -> None:
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

    def terminate(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 30.0) -> int:
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
