"""The door of POST /slack/events: Slack's signature is checked on the raw body before anything parses it.

Bolt builds its request (and parses the body: `payload=` JSON, JSON bodies) before its own signature
check, and reads the timestamp header with `int()`: from a stranger, `payload=%7B`, `payload=null`, a
deeply nested JSON body or `X-Slack-Request-Timestamp: abc` ended in a 500 with a traceback (and bolt
logged the full body of every badly signed request). This WSGI middleware answers every such request
itself, with a 4xx and one bounded log line, before bolt sees it:

    413  body larger than the limit (not read)
    401  no signing secret (Socket Mode only), timestamp not 1-12 digits, signature not `v0=<64 hex>`,
         timestamp more than 5 minutes away, signature does not match (slack_sdk's algorithm, raw bytes)
    415  signed, but neither form-encoded nor JSON
    400  signed, but not UTF-8, or `payload` / a JSON body that is not one JSON object

Only then does the request go on (its body re-wound) to the app, where bolt verifies it again.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import re
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

from bot.logs import Sampled

log = logging.getLogger("lbhealth.slack.gate")

TIMESTAMP = re.compile(r"\d{1,12}")
SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
MAX_SKEW = 5 * 60  # Slack's (and slack_sdk's) replay window
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


class Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def check(secret: str | None, timestamp: str | None, signature: str | None, content_type: str | None,
          body: bytes, *, now: float | None = None) -> None:
    """Raise Refused unless Slack signed `body` and it is a form or JSON object bolt can parse."""
    if not secret:
        raise Refused(401, "this app does not accept signed HTTP requests (no signing secret: Socket Mode)")
    if not timestamp or not TIMESTAMP.fullmatch(timestamp):
        raise Refused(401, "X-Slack-Request-Timestamp is missing or not a number")
    if not signature or not SIGNATURE.fullmatch(signature):
        raise Refused(401, "X-Slack-Signature is missing or not v0=<hex>")
    if abs((time.time() if now is None else now) - int(timestamp)) > MAX_SKEW:
        raise Refused(401, "X-Slack-Request-Timestamp is more than 5 minutes away")
    expected = "v0=" + hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise Refused(401, "signature does not match")
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media not in (FORM, JSON):
        raise Refused(415, f"content type {media[:60]!r} is neither {FORM} nor {JSON}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused(400, "body is not UTF-8") from exc
    if media == JSON:
        _object(text, "body")
        return
    payload = parse_qs(text, keep_blank_values=True, max_num_fields=200).get("payload") if text else None
    if payload is not None:
        if len(payload) != 1:
            raise Refused(400, "payload is given more than once")
        _object(payload[0], "payload")


def _object(text: str, what: str) -> None:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise Refused(400, f"{what} is not JSON") from exc
    except RecursionError as exc:
        raise Refused(400, f"{what} is nested too deeply") from exc
    if not isinstance(value, dict):
        raise Refused(400, f"{what} is not a JSON object")


class SlackGate:
    """WSGI middleware: `check` every POST to `path`; refuse with a small JSON answer, else pass it on."""

    def __init__(self, app: Callable, secret: str | None, max_body: int, *, path: str = "/slack/events",
                 clock: Callable[[], float] = time.time) -> None:
        self.app, self.secret, self.max_body, self.path, self.clock = app, secret, max_body, path, clock
        self._log = Sampled(log)  # one line per status per 10 s: forgers do not size our logs

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != self.path or environ.get("REQUEST_METHOD") != "POST":
            return self.app(environ, start_response)
        try:
            body = self._read(environ)
            check(self.secret, environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP"), environ.get("HTTP_X_SLACK_SIGNATURE"),
                  environ.get("CONTENT_TYPE"), body, now=self.clock())
        except Refused as r:
            self._log.warning(r.status, "slack request refused", status=r.status, reason=r.reason,
                              remote=environ.get("REMOTE_ADDR"))
            payload = json.dumps({"error": r.reason}).encode()
            start_response(f"{r.status} {HTTPStatus(r.status).phrase}", [("Content-Type", "application/json"),
                                                   ("Content-Length", str(len(payload)))])
            return [payload]
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        return self.app(environ, start_response)

    def _read(self, environ: dict[str, Any]) -> bytes:
        length = environ.get("CONTENT_LENGTH") or ""
        if length and not length.isdigit():
            raise Refused(400, "Content-Length is not a number")
        if length and int(length) > self.max_body:
            raise Refused(413, f"body of {length} bytes exceeds {self.max_body}")
        stream = environ["wsgi.input"]
        body = stream.read(int(length)) if length else stream.read(self.max_body + 1)
        if len(body) > self.max_body:
            raise Refused(413, f"body exceeds {self.max_body} bytes")
        return body
