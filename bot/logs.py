"""JSON-lines logging: one object per line with time, level, logger, message, and the job id.

The job id comes from a context variable (`job_context`) set by the worker around each job and
by the Slack listener around each command, so every line a job produces carries it without
threading it through calls. Anything passed as ``extra={...}`` is added to the object.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterator

_job_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("lbhealth_job_id", default=None)

# Attributes every LogRecord has; anything else on a record came from `extra=` and is emitted.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


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
        out: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        job_id = getattr(record, "job_id", None) or _job_id.get()
        if not job_id and record.name.startswith("rq."):
            job_id = _rq_job_id()
        if job_id:
            out["job_id"] = job_id
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in out and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


def _rq_job_id() -> str | None:
    try:
        from rq import get_current_job

        job = get_current_job()
        return job.id if job is not None else None
    except Exception:
        return None


def setup_logging(level: str = "INFO", stream=None) -> None:
    """Route the root logger (and rq's, bolt's) to one JSON-lines handler on stderr."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
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
