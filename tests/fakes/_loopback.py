"""The lifecycle the fake API servers share: a ThreadingHTTPServer on a free loopback port."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class LoopbackServer:
    """Subclasses call `_listen(handler_class, name)` from their `start()`; the rest is here."""

    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def _listen(self, handler: type[BaseHTTPRequestHandler], name: str, host: str = "127.0.0.1", queue_size: int = 128) -> None:
        # The backlog must be set before listen(): set after the constructor it was ignored (5), so
        # a client opening ~10 connections at once on a busy machine lost SYNs and waited 1 s.
        self._server = ThreadingHTTPServer((host, 0), handler, bind_and_activate=False)
        self._server.daemon_threads = True
        self._server.request_queue_size = queue_size
        try:
            self._server.server_bind()
            self._server.server_activate()
        except OSError:
            self._server.server_close()
            raise
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True)
        self._thread.start()

    def start(self) -> Any:
        raise NotImplementedError

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Any:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the server first"
        return self._server.server_address[1]
