"""JSON-lines logging: one object per line with time, level, logger, message, and the job id.

The job id comes from a context variable (`job_context`) set by the worker around each job and
by the Slack listener around each command, so every line a job produces carries it without
threading it through calls. Anything passed as ``extra={...}`` is added to the object.

Every line is also made safe to keep (`JsonFormatter`), whoever wrote it (our code, bolt, rq,
waitress, Flask): no secret and no attacker-sized line.

- Redacted: Slack tokens (`xox?-`, `xapp-`), passwords in URLs (`redis://:pw@host`), any
  `response_url` value (rq logs job arguments and tracebacks; a response_url lets its holder post
  as the app for 30 minutes) and every URL slack_sdk's webhook client logs (it names the
  response_url in each retry line), the path secret of `/webhooks/tencent/<secret>` (Flask and
  waitress put the request path in exception lines), `Authorization` header values, and the exact
  values of the secrets in the environment (`SECRET_ENV`) or registered with `register_secret`.
- Bounded: the message to `MAX_MSG` characters, each extra field to `MAX_FIELD`, a traceback to
  its last `MAX_EXC` characters (the frames nearest the error), the whole line to `MAX_LINE`.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Iterable, Iterator

_job_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("lbhealth_job_id", default=None)

# Attributes every LogRecord has; anything else on a record came from `extra=` and is emitted.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}

MAX_MSG = 2000
MAX_FIELD = 500
MAX_EXC = 6000
MAX_LINE = 10_000

SECRET_ENV = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_CLIENT_SECRET",
              "LBHEALTH_TENCENT_WEBHOOK_SECRET", "LBHEALTH_EVENTBRIDGE_SECRET", "TENCENTCLOUD_SECRET_KEY",
              "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "REDIS_PASSWORD")
_PATTERNS = [
    (re.compile(r"\b(xox[a-z]|xapp)-[A-Za-z0-9-]+"), r"\1-<redacted>"),
    (re.compile(r"(response_url\W{1,6})[^\s\"'\\,}&]+"), r"\1<redacted>"),
    (re.compile(r"(https://hooks\.slack\.com/)[^\s\"'\\]+"), r"\1<redacted>"),
    (re.compile(r"(/webhooks/tencent/)[^\s\"'\\?#]+"), r"\1<redacted>"),
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@\"']*:)[^@\s/\"']+@"), r"\1<redacted>@"),  # URL passwords
    (re.compile(r"(?i)(authorization\W{1,6}(?:basic|bearer)?\s*)[^\s\"'\\,}]+"), r"\1<redacted>"),
]
# slack_sdk's webhook client (response_url) names its URL in every retry and error line.
_URL_LOGGERS = ("slack_sdk.webhook",)
_URL = re.compile(r"https?://[^\s\"'<>]+")
_secrets: set[str] = set()


def register_secret(*values: str | None) -> None:
    """Never log these values (e.g. a secret read from the config file rather than the environment)."""
    _secrets.update(v for v in values if isinstance(v, str) and len(v) >= 6)


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, "<redacted>")
    return text


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@contextlib.contextmanager
def job_context(job_id: str | None) -> Iterator[None]:
    token = _job_id.set(job_id)
    try:
        yield
    finally:
        _job_id.reset(token)


def current_job_id() -> str | None:
    return _job_id.get()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        try:
            message = record.getMessage()
        except Exception:  # a caller's bad %-format must not lose the line
            message = str(record.msg)
        out: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": _clip(redact(_URL.sub("<url>", message) if record.name.startswith(_URL_LOGGERS) else message), MAX_MSG),
        }
        job_id = getattr(record, "job_id", None) or _job_id.get()
        if not job_id and record.name.startswith("rq."):
            job_id = _rq_job_id()
        if job_id:
            out["job_id"] = job_id
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in out and not key.startswith("_"):
                out[key] = _field(value)
        if record.exc_info:
            exc = redact(self.formatException(record.exc_info))
            out["exc"] = exc if len(exc) <= MAX_EXC else "…" + exc[-(MAX_EXC - 1):]
        line = json.dumps(out, default=str, ensure_ascii=False)
        if len(line) > MAX_LINE:  # many fields at their limit, or a long JSON escape: cut the biggest
            out["msg"] = _clip(str(out["msg"]), 500)
            out["exc"] = "…" + str(out.get("exc", ""))[-2000:] if "exc" in out else None
            line = _clip(json.dumps({k: v for k, v in out.items() if v is not None}, default=str, ensure_ascii=False),
                         MAX_LINE)
        return line


def _field(value: object) -> object:
    if value is None or isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return _clip(redact(text), MAX_FIELD)


class Sampled:
    """At most one line per key per `every` seconds, the next one saying how many were not written.

    For what strangers trigger (refused requests): they decide how many requests are refused, not
    how many lines the log gets."""

    def __init__(self, logger: logging.Logger, every: float = 10.0) -> None:
        self.logger, self.every = logger, every
        self._last: dict[object, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def warning(self, key: object, msg: str, *args: object, **extra: object) -> None:
        now = time.monotonic()
        with self._lock:
            last, quiet = self._last.get(key, (float("-inf"), 0))
            if now - last < self.every:
                self._last[key] = (last, quiet + 1)
                return
            if len(self._last) > 1000:
                self._last.clear()
            self._last[key] = (now, 0)
        if quiet:
            extra["not_logged"] = quiet  # like this one, since the last line
        self.logger.warning(msg, *args, extra=extra)


def _rq_job_id() -> str | None:
    try:
        from rq import get_current_job

        job = get_current_job()
        return job.id if job is not None else None
    except Exception:
        return None


def json_handler(stream=None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    return handler


def setup_logging(level: str = "INFO", stream=None, secrets: Iterable[str | None] = ()) -> None:
    """Route the root logger (and rq's, bolt's) to one JSON-lines handler on stderr."""
    register_secret(*(os.environ.get(name) for name in SECRET_ENV), *secrets)
    handler = json_handler(stream)
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("rq.worker", "rq.scheduler", "slack_bolt", "slack_sdk"):
        lg = logging.getLogger(name)
        lg.handlers.clear()  # rq installs its own colourised handler; keep one format
        lg.propagate = True
    logging.getLogger("waitress.queue").setLevel("ERROR")  # "Task queue depth" warnings under bursts
