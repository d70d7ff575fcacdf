"""`lbhealth serve`: the web app (bot.app) on gunicorn's pre-fork server, or Slack's Socket Mode.

gunicorn is used as a library (a BaseApplication), so `lbhealth serve` stays the command: its
arbiter binds the socket, forks LBHEALTH_HTTP_PROCESSES web processes, restarts one that dies and
stops them all on SIGTERM. Each web process builds its own app after the fork (no thread or
connection crosses a fork) and serves it with waitress (LBHEALTH_HTTP_THREADS threads), see
WaitressWorker for the measurement behind that choice.

Why several processes: one Python process acknowledges at most ~1,600 commands/s on one core (the
GIL); a burst of 200 arrives at once, so its last ack waits for the 199 before it (one process:
ack p99 187 ms, over the 150 ms bar; two: see the README's benchmark figures).

`--socket-mode` (SLACK_APP_TOKEN, no public URL needed): one web process, which also holds bolt's
Socket Mode connection; HTTP still serves health, metrics and webhooks on --port.

With several processes, Prometheus metrics are kept in prometheus_client's multiprocess files
(PROMETHEUS_MULTIPROC_DIR, set here before prometheus_client is imported) and summed at /metrics.

The web processes start and keep running when Redis is down: /readyz answers 503 and the log says
"Redis unavailable" once (bot.readiness); nothing restarts.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import threading
import time
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.workers.base import Worker
from waitress.server import create_server

from bot.logs import setup_logging
from bot.settings import Settings, get_settings

log = logging.getLogger("lbhealth.server")


class WebServer(BaseApplication):
    def __init__(self, settings: Settings, host: str, port: int, *, socket_mode: bool = False,
                 webhook_options: dict[str, Any] | None = None) -> None:
        self.settings = settings
        self.webhook_options = webhook_options  # benches: SNS certificates from a file
        self.bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.socket_mode = socket_mode
        super().__init__()

    def load_config(self) -> None:
        s = self.settings
        options = {
            "bind": [self.bind],
            "workers": 1 if self.socket_mode else max(1, s.lbhealth_http_processes),
            "worker_class": WaitressWorker,
            "backlog": 1024,
            "timeout": 30,
            "graceful_timeout": 10,
            "keepalive": 5,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": s.lbhealth_log_level.lower(),
            "proc_name": "lbhealth-serve",
            "child_exit": _child_exit,
        }
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        # Imported here, in the forked web process, after PROMETHEUS_MULTIPROC_DIR is set (main):
        # prometheus_client picks its value class when first imported.
        from bot.app import build_app

        setup_logging(self.settings.lbhealth_log_level)
        app = build_app(self.settings, verify_token=True, socket_mode=self.socket_mode,
                        webhook_options=self.webhook_options)
        app.deps.health.check()  # says once, now, if Redis cannot be reached
        if self.socket_mode:
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            SocketModeHandler(app.bolt, self.settings.slack_app_token, web_client=app.deps.slack).connect()
            log.info("socket mode connected")
        return app.flask


class WaitressWorker(Worker):
    """A gunicorn worker that serves with waitress: gunicorn's arbiter forks, restarts and stops the
    processes; waitress (asyncore I/O loop + a thread pool) serves the requests on the inherited socket.

    Why not gunicorn's own gthread worker (measured on this 2-CPU box, loaded by other work): on
    bench/slack_ack.py (3 x 200 concurrent commands, 2 web processes) gthread gave an ack p99 of
    131 ms (0.55-0.65 ms of CPU per ack, load 2.5) and this worker 80.5 ms (0.40-0.55 ms, load 3.2);
    on bench/alarm_storm.py with one web process, gthread's webhook p99 was 178 ms against
    waitress's 149 ms (median of 3 runs each, load 5-7).
    """

    def run(self) -> None:
        settings: Settings = self.app.settings
        server = create_server(
            self.wsgi, sockets=[s.sock for s in self.sockets], threads=settings.lbhealth_http_threads,
            max_request_body_size=settings.lbhealth_max_body_bytes, connection_limit=1000, backlog=1024,
            channel_timeout=30, ident="lbhealth", asyncore_use_poll=True,
        )
        threading.Thread(target=self._heartbeat, args=(server,), name="gunicorn-heartbeat", daemon=True).start()
        try:
            server.run()
        except (OSError, ValueError):  # closed by the heartbeat thread on shutdown
            pass

    def _heartbeat(self, server: Any) -> None:
        """Tell the arbiter this process lives; close the server when asked to stop or orphaned."""
        while self.alive and self.ppid == os.getppid():
            self.notify()
            time.sleep(1.0)
        server.close()


def _child_exit(_server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def use_metrics_dir() -> None:
    """Per-process metrics files, summed at /metrics (before prometheus_client is first imported)."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="lbhealth-metrics-")


def main(args: argparse.Namespace) -> int:
    settings = get_settings()
    setup_logging(settings.lbhealth_log_level)
    socket_mode = bool(args.socket_mode)
    if socket_mode and not settings.slack_app_token:
        print("lbhealth serve --socket-mode needs SLACK_APP_TOKEN (an xapp- app-level token)", file=sys.stderr)
        return 2
    if not socket_mode and not settings.slack_signing_secret:
        print("lbhealth serve needs SLACK_SIGNING_SECRET (Basic Information > App Credentials)", file=sys.stderr)
        return 2
    use_metrics_dir()
    WebServer(settings, args.host, args.port, socket_mode=socket_mode).run()
    return 0
