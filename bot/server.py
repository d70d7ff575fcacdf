"""`lbhealth serve`: the web app on waitress (HTTP mode), or bolt's Socket Mode client.

HTTP mode serves bot.http's one Flask app (Slack, webhooks, /healthz, /readyz, /metrics) with
waitress threads. Socket Mode (`--socket-mode`, SLACK_APP_TOKEN) runs the same bolt listeners
over Slack's WebSocket, so a team can try lbhealth without a public URL; the web app still
serves health, metrics and webhooks on --port.

Either way a child process (`python -m bot.server --intake`) consumes accepted commands
(bot.slack.intake): root message, dedup, enqueue. It is restarted if it dies.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
from typing import Any

from redis import Redis

log = logging.getLogger("lbhealth.server")


def build(settings: Any, *, socket_mode: bool = False):
    """(flask_app, bolt_app, redis, web_client) from settings."""
    from bot.http import create_app
    from bot.slack.app import create_bolt_app
    from bot.slack.client import web_client

    redis = Redis.from_url(settings.redis_url, health_check_interval=30)
    client = web_client(settings.slack_bot_token, settings.slack_api_url)
    bolt = create_bolt_app(settings, redis, client, socket_mode=socket_mode)
    app = create_app(settings, redis, client, bolt_app=bolt)
    return app, bolt, redis, client


def serve_http(app, host: str, port: int, threads: int, max_body: int, ready: threading.Event | None = None):
    from waitress.server import create_server

    server = create_server(app, host=host, port=port, threads=threads, max_request_body_size=max_body,
                           connection_limit=1000, backlog=1024, channel_timeout=30, ident="lbhealth")
    if ready is not None:
        ready.set()
    log.info("serving", extra={"host": host, "port": server.effective_port, "threads": threads})
    return server


def main(args: argparse.Namespace) -> int:
    from bot.logs import setup_logging
    from bot.settings import get_settings

    settings = get_settings()
    setup_logging(settings.lbhealth_log_level)
    host = getattr(args, "host", None) or "0.0.0.0"
    port = int(getattr(args, "port", None) or 3000)
    socket_mode = bool(getattr(args, "socket_mode", False))
    if socket_mode and not settings.slack_app_token:
        print("lbhealth serve --socket-mode needs SLACK_APP_TOKEN (an xapp- app-level token)", file=sys.stderr)
        return 2
    if not socket_mode and not settings.slack_signing_secret:
        print("lbhealth serve needs SLACK_SIGNING_SECRET (Basic Information > App Credentials)", file=sys.stderr)
        return 2
    app, bolt, _redis, client = build(settings, socket_mode=socket_mode)
    server = serve_http(app, host, port, settings.lbhealth_http_threads, settings.lbhealth_max_body_bytes)
    intake = IntakeProcess()
    intake.start()
    socket_handler = None
    if socket_mode:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        socket_handler = SocketModeHandler(bolt, settings.slack_app_token, web_client=client)
        socket_handler.connect()  # non-blocking; the HTTP server below keeps the process alive
        log.info("socket mode connected")

    def stop(signum: int, _frame: Any) -> None:
        log.info("shutting down", extra={"signal": signum})
        if socket_handler is not None:
            socket_handler.close()
        intake.stop()
        server.close()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.run()
    except (OSError, ValueError):  # closed by the signal handler
        pass
    finally:
        intake.stop()
    return 0


class IntakeProcess:
    """The intake consumer as a supervised child process."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self._supervise, name="intake-supervisor", daemon=True)

    def _spawn(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "bot.server", "--intake"])

    def start(self) -> None:
        self._spawn()
        self._thread.start()

    def _supervise(self) -> None:
        while not self.stopping.wait(1.0):
            if self.proc is not None and self.proc.poll() is not None and not self.stopping.is_set():
                log.warning("intake consumer exited; restarting", extra={"code": self.proc.returncode})
                self._spawn()

    def stop(self) -> None:
        self.stopping.set()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def run_intake() -> int:
    """`python -m bot.server --intake`: consume accepted commands until SIGTERM."""
    from bot.logs import setup_logging
    from bot.settings import get_settings
    from bot.slack.client import web_client
    from bot.slack.intake import IntakeConsumer

    settings = get_settings()
    setup_logging(settings.lbhealth_log_level)
    # Follow-up work yields the CPU to the acknowledgements of the web process next to it
    # (Slack's 3 s deadline applies to those; a root message a few ms later is harmless).
    os.nice(5)
    redis = Redis.from_url(settings.redis_url, health_check_interval=30)
    consumer = IntakeConsumer(settings, redis, web_client(settings.slack_bot_token, settings.slack_api_url),
                              threads=settings.lbhealth_listener_threads).start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    log.info("intake consumer started", extra={"consumer": consumer.name})
    done.wait()
    consumer.stop()
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bot.server", description="Serve the lbhealth Slack app")
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--port", type=int, default=3000)
    p.add_argument("--socket-mode", action="store_true")
    p.add_argument("--intake", action="store_true", help="run only the intake consumer (started by serve)")
    return p


if __name__ == "__main__":
    from bot.server import main as _main
    from bot.server import run_intake as _run_intake

    _args = _parser().parse_args()
    sys.exit(_run_intake() if _args.intake else _main(_args))
