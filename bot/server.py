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
import socket
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
    bolt = create_bolt_app(settings, redis, client, socket_mode=socket_mode, verify_token=True)
    app = create_app(settings, redis, client, bolt_app=bolt)
    return app, bolt, redis, client


def serve_http(app, host: str, port: int, threads: int, max_body: int, ready: threading.Event | None = None,
               sockets: list[socket.socket] | None = None):
    from waitress.server import create_server

    where = {"sockets": sockets} if sockets else {"host": host, "port": port}
    server = create_server(app, threads=threads, max_request_body_size=max_body, connection_limit=1000,
                           backlog=1024, channel_timeout=30, ident="lbhealth", asyncore_use_poll=True, **where)
    if ready is not None:
        ready.set()
    log.info("serving", extra={"host": host, "port": port, "threads": threads, "pid": os.getpid()})
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
    processes = 1 if socket_mode else max(1, int(settings.lbhealth_http_processes))
    if processes > 1:
        return serve_prefork(settings, host, port, processes)

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


def serve_prefork(settings: Any, host: str, port: int, processes: int) -> int:
    """N web processes on one listening socket (LBHEALTH_HTTP_PROCESSES), plus the intake consumer.

    One Python process acknowledges at most ~1/0.6 ms = ~1,600 commands/s on one core (the GIL);
    a burst of 200 arrives at once, so its last ack waits for the 199 before it. Forked processes
    share the socket (the kernel hands each connection to one of them) and use every core.
    Metrics are then kept in prometheus_client's multiprocess files and summed at /metrics.
    """
    import tempfile

    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="lbhealth-metrics-")
    if "prometheus_client" in sys.modules and not _multiprocess_values():
        log.warning("prometheus_client was imported before multiprocess mode was set; metrics are per process")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)

    def child() -> None:  # in a forked child: build everything fresh (no threads were inherited)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        app, *_ = build(settings)
        server = serve_http(app, host, port, settings.lbhealth_http_threads, settings.lbhealth_max_body_bytes,
                            sockets=[sock])
        signal.signal(signal.SIGTERM, lambda *_: server.close())
        try:
            server.run()
        except (OSError, ValueError):
            pass
        os._exit(0)

    def spawn() -> int:
        pid = os.fork()
        if pid == 0:
            try:
                child()
            finally:
                os._exit(1)
        return pid

    children = {spawn() for _ in range(processes)}  # fork before this process starts any thread
    intake = IntakeProcess()
    intake.start()
    stopping = threading.Event()

    def stop(signum: int, _frame: Any) -> None:
        log.info("shutting down", extra={"signal": signum})
        stopping.set()
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("serving", extra={"host": host, "port": port, "processes": processes})
    while children:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if pid not in children:
            continue
        children.discard(pid)
        if not stopping.is_set():
            log.warning("web process exited; restarting", extra={"pid": pid, "status": status})
            children.add(spawn())
    intake.stop()
    sock.close()
    return 0


def _multiprocess_values() -> bool:
    from prometheus_client import values

    return values.ValueClass is not values.MutexValue


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
    os.nice(10)
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
