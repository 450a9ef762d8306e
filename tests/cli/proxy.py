"""A TCP proxy in front of a server whose live connections a test can cut (`cut()`), as a network drop would:
both sockets are shut down at once, so the client sees its stream end mid-way and must reconnect."""

from __future__ import annotations

import contextlib
import socket
import threading
from urllib.parse import urlsplit


class CuttingProxy:
    def __init__(self, target_url: str) -> None:
        parts = urlsplit(target_url)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._lock = threading.Lock()
        self._live: list[socket.socket] = []
        self.accepted = 0
        self._accepted = threading.Condition(self._lock)
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._live += [client, upstream]
                self.accepted += 1
                self._accepted.notify_all()
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def wait_accepted(self, count: int, timeout: float = 30.0) -> None:
        """Block until `count` connections were made through the proxy in all."""
        with self._lock:
            if not self._accepted.wait_for(lambda: self.accepted >= count, timeout):
                raise AssertionError(f"{self.accepted} connections through the proxy, expected {count}")

    def cut(self) -> None:
        """Drop every live connection."""
        with self._lock:
            live, self._live = self._live, []
        for sock in live:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self._listener.close()
        self.cut()
