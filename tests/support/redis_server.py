"""A real `redis-server` (Debian's package) on a free loopback port in a temporary folder, for the tests of the
Redis backend. Started once per test session (per xdist worker), stopped at teardown; the tests that need it
skip, saying why, where `redis-server` is not installed (`.ci/run` installs it)."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from pathlib import Path

SKIP_REASON = "redis-server is not installed (apt-get install redis-server; .ci/run does)"


def binary() -> str | None:
    return shutil.which("redis-server")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """One `redis-server` child: no RDB snapshots; with `aof`, an append-only file so a restart keeps the data."""

    def __init__(self, folder: Path, *, aof: bool = False, timeout: float = 30.0) -> None:
        exe = binary()
        assert exe is not None, SKIP_REASON
        self.folder = folder
        self.aof = aof
        self.timeout = timeout
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [
            binary() or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
            "--save", "", "--appendonly", "yes" if self.aof else "no", "--appendfsync", "always",
            "--protected-mode", "yes", "--daemonize", "no", "--logfile", str(self.folder / "redis.log"),
        ]  # fmt: skip
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.wait_ready()

    def wait_ready(self) -> None:
        """Poll the socket until the server answers PING (a deadline, no fixed sleeps)."""
        deadline = time.monotonic() + self.timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"redis-server exited with {self.proc.returncode}: {self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        return
            except OSError as exc:  # not listening yet, or still loading its data (-LOADING)
                last = exc
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(0.01)  # yields the CPU to the server starting up; returns at once if it exits
        raise AssertionError(f"redis-server did not answer PING within {self.timeout:g}s ({last}): {self.log()}")

    def log(self) -> str:
        path = self.folder / "redis.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def restart(self) -> None:
        """Stop and start again on the same port and folder (with `aof`, the data comes back)."""
        self.stop()
        self.start()

    def flush(self) -> None:
        """Empty every database (between tests)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5.0) as sock:
            sock.sendall(b"FLUSHALL\r\n")
            assert sock.recv(64).startswith(b"+OK")
