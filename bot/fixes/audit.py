"""The append-only record of every fix event: a Redis stream entry and a JSON log line.

Events: request, approval, rejection, refusal, preview, apply, conflict, failure, rollback,
verification. An entry holds who, what (the FIX ID), the target, the digest of what was
shown, the result and the time, never a token or a secret (values are bounded strings).
The Slack side records requests, approvals and rejections; the engine records the rest.
`lbhealth audit` reads the stream back.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

STREAM = "lbhealth:audit"
EVENTS = frozenset(
    {"request", "approval", "rejection", "refusal", "preview", "apply", "conflict", "failure", "rollback", "verification", "command"}
)
MAX_LEN = 100_000  # entries kept (approximate trim, XADD MAXLEN ~): months of fixes
_FIELD_MAX = 2000

log = logging.getLogger("lbhealth.audit")


def record(
    redis: Any,
    event: str,
    *,
    who: str,
    fix_id: str,
    target: str,
    digest: str = "",
    result: str = "",
    job_id: str = "",
    detail: str = "",
    after_write: bool = False,
) -> str | None:
    """Append one entry (XADD) and log it as JSON. Returns the stream id (None without Redis).

    Before a write, a Redis error is raised: nothing is changed that cannot be recorded. After a
    write (`after_write`), it is logged with the whole entry and swallowed: the change happened,
    and failing the job now would only hide its result from the person who approved it.
    """
    if event not in EVENTS:
        raise ValueError(f"unknown audit event {event!r}")
    entry = {
        "event": event,
        "who": who,
        "fix": fix_id,
        "target": target,
        "digest": digest,
        "result": result,
        "job": job_id,
        "detail": detail,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }
    entry = {k: str(v or "")[:_FIELD_MAX] for k, v in entry.items()}
    log.info("fix %s", event, extra={"audit": entry})
    if redis is None:
        return None
    try:
        entry_id = redis.xadd(STREAM, entry, maxlen=MAX_LEN, approximate=True)
    except Exception as exc:  # redis.RedisError and connection errors
        if not after_write:
            raise
        log.error("audit stream write failed after the change (%s); this line is the record", type(exc).__name__, extra={"audit": entry})
        return None
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


def parse_since(text: str | None, now: float | None = None) -> int:
    """`--since`: `30m`, `12h`, `7d`, an ISO time (`2026-12-04T10:00:00Z`) -> epoch milliseconds (0 = all)."""
    if not text:
        return 0
    text = text.strip()
    now = time.time() if now is None else now
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text[-1:] in units and text[:-1].isdigit():
        return int((now - int(text[:-1]) * units[text[-1]]) * 1000)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--since {text!r}: give a duration (30m, 12h, 7d) or an ISO time (2026-12-04T10:00:00Z)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def read(redis: Any, since_ms: int = 0, count: int = 1000) -> list[dict[str, str]]:
    """Entries from `since_ms` on, oldest first, each with its stream `id`."""
    rows = redis.xrange(STREAM, min=f"{since_ms}-0" if since_ms else "-", max="+", count=count)
    out = []
    for entry_id, fields in rows:
        item = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v) for k, v in fields.items()}
        item["id"] = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
        out.append(item)
    return out


def format_text(entries: list[dict[str, str]]) -> str:
    lines = []
    for e in entries:
        digest = (e.get("digest") or "")[:12]
        line = f"{e.get('time', '')}  {e.get('event', ''):<12} {e.get('fix', ''):<24} {e.get('target', '')}  by {e.get('who', '') or '-'}"
        if digest:
            line += f"  digest {digest}"
        if e.get("result"):
            line += f"  {e['result']}"
        lines.append(line)
    return "\n".join(lines) + ("\n" if lines else "")


def format_json(entries: list[dict[str, str]]) -> str:
    return "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries)
