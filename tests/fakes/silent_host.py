"""A loopback TCP server that accepts every connection, reads what arrives, and never answers.

It stands in for a certificate host (or an HTTPS proxy in front of one) that hangs: the SNS
certificate fetcher must time out on it off the request thread. `requests` records the first
line each connection sent (for an HTTPS proxy: `CONNECT sns.<region>.amazonaws.com:443 ...`,
which shows the target host was never resolved or contacted from here).
"""

from __future__ import annotations

import socket
import threading


class SilentHost:
    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(512)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests: list[bytes] = []
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True, name="silent-host").start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self._lock:
                self._conns.append(conn)
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        try:
            first = conn.recv(4096)
        except OSError:
            return
        with self._lock:
            self.requests.append(first.split(b"\r\n", 1)[0])

    def stop(self) -> None:
        self._stop.set()
        self.sock.close()
        with self._lock:
            for conn in self._conns:
                conn.close()

    def __enter__(self) -> SilentHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":  # for benches: print the URL, serve until killed
    import sys
    import time

    host = SilentHost()
    print(host.url, flush=True)
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w", encoding="utf-8") as f:
            f.write(host.url)
    while True:
        time.sleep(3600)
