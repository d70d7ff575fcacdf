"""The Flask app of `lbhealth serve`: Slack's endpoint, health and metrics (origins add their routes).

    POST /slack/events          slash commands and interactions (bolt, signed requests only)
    GET  /healthz               the process answers
    GET  /readyz                Redis answers (503 otherwise, and the log says so once)
    GET  /metrics               Prometheus text format (bot.metrics.REGISTRY)

The alarm webhooks and other origins are registered by the composition root (bot.app).
Bodies larger than LBHEALTH_MAX_BODY_BYTES are refused with 413 before anything reads them.
"""

from __future__ import annotations

import logging
from functools import partial
from http import HTTPStatus

from flask import Flask, Response, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis import Redis
from slack_bolt import App, BoltRequest
from slack_bolt.adapter.flask import SlackRequestHandler

from bot import metrics
from bot.queue import queue_counts
from bot.readiness import RedisHealth
from bot.settings import Settings
from bot.slack.gate import SlackGate

log = logging.getLogger("lbhealth.http")


def create_flask(settings: Settings, redis: Redis, bolt: App, health: RedisHealth) -> Flask:
    app = Flask("lbhealth")
    max_body = settings.lbhealth_max_body_bytes
    app.config["MAX_CONTENT_LENGTH"] = max_body  # also bounds chunked bodies with no Content-Length
    handler = SlackRequestHandler(bolt)
    counts = partial(queue_counts, redis)
    metrics.register_queue_gauges(counts)

    @app.before_request
    def _refuse_large_bodies() -> Response | None:
        if request.content_length is not None and request.content_length > max_body:
            log.warning("request body too large", extra={"path": request.path, "bytes": request.content_length})
            return Response("request body too large\n", status=413, mimetype="text/plain")
        return None

    @app.post("/slack/events")
    def slack_events() -> Response:
        return handler.handle(request)

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("ok\n", mimetype="text/plain")

    @app.get("/readyz")
    def readyz() -> Response:
        problem = health.check()
        if problem is not None:
            return Response(f"redis unavailable: {problem.split(':', 1)[0]}\n", status=503, mimetype="text/plain")
        return Response("ready\n", mimetype="text/plain")

    @app.get("/metrics")
    def prometheus() -> Response:
        return Response(generate_latest(metrics.scrape_registry(counts)), mimetype=CONTENT_TYPE_LATEST)

    # Slack's requests skip Flask's request context (~0.16 ms of the ~0.35 ms a command costs here):
    # ... and nothing reaches bolt before its signature is checked on the raw body (bot.slack.gate):
    app.wsgi_app = SlackGate(SlackFastPath(app.wsgi_app, bolt, max_body), settings.slack_signing_secret, max_body)
    app.extensions["lbhealth.bolt"] = bolt
    return app


class SlackFastPath:
    """WSGI middleware: POST /slack/events with a Content-Length goes straight to bolt.

    Everything else (and a chunked Slack request, which has no Content-Length) goes to Flask,
    whose /slack/events route does the same through bolt's Flask adapter.
    """

    def __init__(self, wsgi_app, bolt: App, max_body: int) -> None:
        self.wsgi_app = wsgi_app
        self.bolt = bolt
        self.max_body = max_body

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") != "/slack/events" or environ.get("REQUEST_METHOD") != "POST":
            return self.wsgi_app(environ, start_response)
        length = environ.get("CONTENT_LENGTH")
        if not length or not length.isdigit():
            return self.wsgi_app(environ, start_response)
        n = int(length)
        if n > self.max_body:
            log.warning("request body too large", extra={"path": "/slack/events", "bytes": n})
            start_response("413 Request Entity Too Large", [("Content-Type", "text/plain")])
            return [b"request body too large\n"]
        body = environ["wsgi.input"].read(n).decode("utf-8", "replace")
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        resp = self.bolt.dispatch(BoltRequest(body=body, query=environ.get("QUERY_STRING", ""), headers=headers))
        payload = (resp.body or "").encode("utf-8")
        out_headers = [(k, v) for k, values in resp.headers.items() for v in values if k.lower() != "content-length"]
        out_headers.append(("Content-Length", str(len(payload))))
        start_response(f"{resp.status} {HTTPStatus(resp.status).phrase}", out_headers)
        return [payload]
