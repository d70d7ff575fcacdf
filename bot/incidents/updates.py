"""Root-message updates off the request path: the repeat counter (coalesced, at most one `chat.update`
per incident per `update_every` s, rendered from the state in Redis at that moment) and, on recovery,
the resolved note in the thread. A small timer thread runs them when due.

A Slack error that retrying cannot fix (bot.slack.client.PERMANENT: the message or channel is gone,
the token revoked, ...) ends the update at once; other failures are tried again a few times.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from bot.incidents.messages import render, root_message
from bot.incidents.store import Incidents
from bot.slack import client as slack
from bot.slack.posting import post_once
from bot.webhooks.alarms import Alarm

log = logging.getLogger("bot.incidents")

RETRY_DELAY = 5.0
MAX_RETRIES = 5


class RootUpdates:
    """Schedules and renders updates of incident root messages (`slack` None: nothing is posted)."""

    def __init__(self, incidents: Incidents, slack_client: Any) -> None:
        self.incidents = incidents
        self.slack = slack_client
        self.scheduler = Scheduler(self._render_due)

    def schedule(self, key: str, delay: float, resolved: bool = False) -> None:
        self.scheduler.schedule(key, delay, resolved=resolved)

    def stop(self) -> None:
        self.scheduler.stop()

    def _render_due(self, key: str, resolved: bool, attempt: int) -> float | None:
        """Update the root (and post the resolved note). Returns a retry delay or None."""
        with self.incidents.render_lock(key):
            return self._render_locked(key, resolved, attempt)

    def _render_locked(self, key: str, resolved: bool, attempt: int) -> float | None:
        inc = self.incidents.get(key)
        if not inc or self.slack is None:
            return None
        if not inc.get("root_ts"):
            return 1.0 if attempt < 20 else None  # the opener is still posting it
        channel, ts = inc["channel"], inc["root_ts"]
        try:
            if resolved and inc.get("state") == "resolved" and not inc.get("resolved_noted"):
                self._post_resolved_note(key, inc, channel, ts)
            msg = root_message(inc)
            slack.call(self.slack, "chat_update", channel=channel, ts=ts, text=msg["text"], blocks=msg["blocks"])
        except Exception as exc:
            if slack.slack_error(exc) in slack.PERMANENT:
                log.warning("incident %s: root update refused by Slack (%s); not retried", inc.get("id"),
                            slack.slack_error(exc))
                return None
            log.warning("incident %s: root update failed: %s", inc.get("id"), exc)
            return RETRY_DELAY if attempt < MAX_RETRIES else None
        return None

    def _post_resolved_note(self, key: str, inc: dict[str, Any], channel: str, ts: str) -> None:
        raw = inc.get("resolve_alarm") or inc.get("alarm")
        note = render("incident_resolved.j2", incident=inc,
                      elapsed=(inc.get("resolved_at") or 0) - (inc.get("opened_at") or 0),
                      alarm=Alarm.from_dict(raw) if isinstance(raw, dict) else None)
        post_once(self.slack, channel=channel, thread_ts=ts, marker=f"incident:{inc.get('id')}:resolved:{inc.get('resolved_at')}",
                  text=note["text"], blocks=note["blocks"])
        self.incidents.set_fields(key, resolved_noted=str(inc.get("resolved_at")))


class Scheduler:
    """One daemon thread running `fn(key, resolved, attempt)` when due; one pending entry per key."""

    def __init__(self, fn: Callable[[str, bool, int], float | None]) -> None:
        self.fn = fn
        self._heap: list[tuple[float, int, str, bool, int]] = []
        self._pending: dict[str, bool] = {}
        self._cond = threading.Condition()
        self._seq = 0
        self._stop = False
        self._thread: threading.Thread | None = None

    def schedule(self, key: str, delay: float, resolved: bool = False, attempt: int = 0) -> None:
        with self._cond:
            if key in self._pending and not resolved:
                return
            self._pending[key] = self._pending.get(key, False) or resolved
            self._seq += 1
            heapq.heappush(self._heap, (time.monotonic() + delay, self._seq, key, resolved, attempt))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="incident-updates", daemon=True)
                self._thread.start()
            self._cond.notify()

    def idle(self) -> bool:
        with self._cond:
            return not self._heap and not self._pending

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stop and (not self._heap or self._heap[0][0] > time.monotonic()):
                    self._cond.wait(timeout=(self._heap[0][0] - time.monotonic()) if self._heap else 1.0)
                if self._stop:
                    return
                _, _, key, resolved, attempt = heapq.heappop(self._heap)
                resolved = self._pending.pop(key, resolved) or resolved
            try:
                retry = self.fn(key, resolved, attempt)
            except Exception:
                log.exception("incident update crashed")
                retry = None
            if retry is not None:
                self.schedule(key, retry, resolved, attempt + 1)

    def stop(self, timeout: float = 2.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
