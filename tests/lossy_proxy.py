"""A TCP proxy on 127.0.0.1 in front of a database server that can lose a COMMIT.

The tests of the uncertain commit need the real thing: a connection that breaks while its
COMMIT is on the way. Armed, the proxy watches what the client sends for the next COMMIT
(MariaDB's COM_QUERY, PostgreSQL's simple query) and cuts the connection:

- `BEFORE`: without passing the COMMIT on; the server rolls the transaction back;
- `AFTER`: after the server received it, before its answer reaches the client; the server
  commits and the client never hears of it;
- `STALL`: not at all: the COMMIT is held back and both sides wait, as behind a hung server,
  until `release()` closes the connection (the server then rolls back).

`refuse_for` keeps new connections out for a while, as a server that went away would.
"""

from __future__ import annotations

import contextlib
import enum
import select
import socket
import threading
import time
from collections.abc import Iterator

_MARKERS = (b"\x03commit", b"commit\x00")  # MariaDB COM_QUERY; PostgreSQL 'Q' + C string


class Cut(enum.Enum):
    BEFORE = "before"
    AFTER = "after"
    STALL = "stall"


class LossyProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._armed: Cut | None = None
        self._refuse_until = 0.0
        self._refuse_after_cut = 0.0
        self._lock = threading.Lock()
        self.cuts = 0
        self._closing = False
        self._released = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def arm(self, cut: Cut, *, refuse_for: float = 0.0) -> None:
        """Cut the connection that sends the next COMMIT; then refuse new ones for a while."""
        with self._lock:
            self._armed = cut
            self._refuse_after_cut = refuse_for

    def wait_until_open(self) -> None:
        """Until new connections are let through again (for the test's cleanup)."""
        time.sleep(max(0.0, self._refuse_until - time.monotonic()))

    def release(self) -> None:
        """Close the connections held by a `STALL`."""
        self._released.set()

    def close(self) -> None:
        self._released.set()
        self._closing = True
        self._listener.close()

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if time.monotonic() < self._refuse_until:
                client.close()
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, client: socket.socket, server: socket.socket) -> None:
        with contextlib.closing(client), contextlib.closing(server):
            sockets = [client, server]
            while True:
                readable, _, _ = select.select(sockets, [], [], 1.0)
                if self._closing:
                    return
                for source in readable:
                    data = source.recv(65536)
                    if not data:
                        return
                    cut = self._take_cut(data) if source is client else None
                    if cut is Cut.STALL:
                        self._released.wait(60)
                    if cut is Cut.AFTER:
                        server.sendall(data)
                        time.sleep(0.3)  # the server commits; its answer is never passed on
                    if cut is not None:
                        return
                    (server if source is client else client).sendall(data)

    def _take_cut(self, data: bytes) -> Cut | None:
        """The cut to make, if this chunk from the client carries the armed COMMIT."""
        with self._lock:
            cut = self._armed
            if cut is None or not any(marker in data.lower() for marker in _MARKERS):
                return None
            self._armed = None
            self.cuts += 1
            self._refuse_until = time.monotonic() + self._refuse_after_cut
        return cut


@contextlib.contextmanager
def lossy_proxy(host: str, port: int) -> Iterator[LossyProxy]:
    proxy = LossyProxy(host, port)
    try:
        yield proxy
    finally:
        proxy.close()
