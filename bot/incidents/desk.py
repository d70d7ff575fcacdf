"""AlarmDesk: after an alarm is recorded, off the request path, find the Service, route the channel,
post the root message once and queue the diagnosis; a sweeper picks up what a dead process left."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from bot.incidents.messages import root_message
from bot.incidents.store import MAX_FOLLOW_ATTEMPTS, PENDING, Incidents, incident_hash
from bot.incidents.transitions import RELEASE
from bot.incidents.updates import RootUpdates
from bot.policy import NotAdmitted
from bot.slack.posting import PostUnknown, post_once
from bot.webhooks.alarms import Alarm
from bot.webhooks.jobs import alarm_job

log = logging.getLogger("bot.incidents")


@dataclass
class Delivery:
    """What the webhook answers after recording an alarm."""

    outcome: str
    incident_id: str = ""
    queued: bool = False
    root_ts: str | None = None
    info: dict[str, Any] = field(default_factory=dict)


class AlarmDesk:
    """Records an alarm, then (off the request path) finds the Service, posts the root message once and
    queues the diagnosis; keeps the root message up to date.

    The webhook answers as soon as the Lua transition has recorded the alarm: an incident that needs a
    job is then in the `pending` sorted set, durably. The follow-up (map -> route -> root -> enqueue ->
    mark queued) runs in a small thread pool; if this process dies first, the sweeper of any web
    process (or the next delivery of the alarm) picks the incident up from `pending` after
    `requeue_after` seconds. A per-incident lock keeps two follow-ups from running at once; the root
    claim and the queue's dedup key make a repeated follow-up harmless.

    `enqueue(redis, job, post_root=...)` is bot.queue.enqueue_diagnosis (or a stand-in);
    `mapper(alarm)` returns the mapping dict (checks.collect.alarm_map) or None; `route(alarm, mapping)`
    returns the channel; `slack` is a slack_sdk WebClient (None: nothing posted).
    """

    def __init__(
        self,
        incidents: Incidents,
        *,
        slack: Any,
        enqueue: Callable[..., Any],
        route: Callable[[Alarm, dict[str, Any] | None], str | None],
        mapper: Callable[[Alarm], dict[str, Any] | None] | None = None,
        metrics: Any = None,
        follow_up_threads: int = 8,
        sweep_every: float = 2.0,
    ) -> None:
        self.incidents = incidents
        self.slack = slack
        self.enqueue = enqueue
        self.route = route
        self.mapper = mapper
        self.metrics = metrics
        self.updates = RootUpdates(incidents, slack)
        self._pool = ThreadPoolExecutor(max_workers=follow_up_threads, thread_name_prefix="incident-follow-up")
        self._inflight: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.sweep_every = sweep_every
        self._sweeper: threading.Thread | None = None

    # -- the webhook path -------------------------------------------------------------------
    def receive(self, alarm: Alarm) -> Delivery:
        """Record durably (raises redis errors: the caller answers 5xx), then hand off the rest."""
        out = self.incidents.record(alarm)
        key = out.incident_key
        if out.outcome == "duplicate" and self.metrics:
            self.metrics.deduplicated(alarm.source)
        if out.need_enqueue:
            self.submit(key)
        if out.outcome == "resolved":
            self.updates.schedule(key, 0.0, resolved=True)
        elif out.refresh:
            self.updates.schedule(key, self.incidents.policy.update_every)
        self._start_sweeper()
        return Delivery(out.outcome, out.incident_id, out.need_enqueue, out.root_ts, {"count": out.count})

    def submit(self, key: str) -> Any:
        """Run the follow-up of `key` in the pool, unless this process already is."""
        with self._lock:
            fut = self._inflight.get(key)
            if fut is not None and not fut.done():
                return fut
            fut = self._pool.submit(self._follow_up_safely, key)
            self._inflight[key] = fut
        return fut

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait for the follow-ups submitted so far (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                futs = [f for f in self._inflight.values() if not f.done()]
            if not futs:
                return True
            if time.monotonic() > deadline:
                return False
            futs[0].result(timeout=max(0.01, deadline - time.monotonic()))

    def _follow_up_safely(self, key: str) -> None:
        try:
            self.follow_up(key)
        except Exception:  # Redis or Slack down: the sweeper tries again
            log.exception("incident follow-up failed for %s; will retry", key)
        finally:
            with self._lock:
                fut = self._inflight.get(key)
                if fut is not None and fut.done():
                    self._inflight.pop(key, None)

    def follow_up(self, key: str) -> bool:
        """Find the Service, route, post the root message (once), queue the diagnosis. True if it queued."""
        redis = self.incidents.redis
        lock_key, token = incident_hash(key) + ":follow", uuid.uuid4().hex
        if not redis.set(lock_key, token, nx=True, ex=60):
            return False  # another follow-up of this incident is running (here or in another replica)
        try:
            t0 = time.perf_counter()
            inc = self.incidents.get(key)
            if inc and inc.get("state") == "resolved" and not inc.get("root_ts") and self.slack is not None:
                # it recovered before we got to it: say so (one root message, marked resolved), no diagnosis
                alarm = Alarm.from_dict(inc.get("alarm") if isinstance(inc.get("alarm"), dict) else {})
                try:
                    channel = inc.get("channel") or self.route(alarm, inc.get("mapping") if isinstance(inc.get("mapping"), dict) else None)
                except NotAdmitted:
                    channel = None
                if channel:
                    self._ensure_root(key, channel)
            if not inc or inc.get("state") != "open" or inc["queued_seq"] >= inc["job_seq"]:
                redis.zrem(PENDING, key)
                return False
            attempts = int(redis.hincrby(incident_hash(key), "follow_attempts", 1))
            if attempts > MAX_FOLLOW_ATTEMPTS:
                log.error("incident %s: gave up after %d attempts to post its root message and queue its diagnosis",
                          inc["id"], attempts - 1)
                self.incidents.set_fields(key, error=f"root message or job failed {attempts - 1} times")
                redis.zrem(PENDING, key)
                return False
            raw = inc.get("alarm") if isinstance(inc.get("alarm"), dict) else {}
            alarm = Alarm.from_dict(raw)
            mapping = inc.get("mapping") if isinstance(inc.get("mapping"), dict) else None
            if mapping is None and self.mapper is not None:
                mapping = self.mapper(alarm)
                if mapping:
                    self.incidents.set_fields(key, mapping=mapping)
            t_map = time.perf_counter()
            try:
                channel = inc.get("channel") or self.route(alarm, mapping)
            except NotAdmitted as exc:  # bot.policy: the cluster's channels, or the sender's bound on new incidents
                log.error("alarm %s (%s): %s; no diagnosis", alarm.name, key, exc.reason)
                self.incidents.set_fields(key, error=exc.reason)
                redis.zrem(PENDING, key)
                return False
            if not channel:
                log.error("alarm %s (%s): no channel to post to (set LBHEALTH_ALARM_CHANNEL or alarm_routes); no diagnosis",
                          alarm.name, key)
                self.incidents.set_fields(key, error="no alarm channel configured")
                redis.zrem(PENDING, key)
                return False
            seq = inc["job_seq"]
            job = alarm_job(alarm, _Seq(inc["id"], seq), channel=channel, root_ts=inc.get("root_ts"), mapping=mapping)

            def post_root(_job: Any) -> str | None:
                return self._ensure_root(key, channel)

            result = self.enqueue(redis, job, post_root=post_root)
            if getattr(result, "created", True) is False:
                elsewhere = {"channel": getattr(result, "channel", None), "root_ts": getattr(result, "root_ts", None)}
                self.incidents.set_fields(key, elsewhere=elsewhere)
                self._ensure_root(key, channel)
            self.incidents.mark_queued(key, seq)
            self.incidents.set_fields(key, queued_at=repr(self.incidents.clock()), follow_attempts=0)
            log.info("incident %s: Service %s, mapped in %.0f ms; root posted and job queued in %.0f ms", inc["id"],
                     ", ".join((mapping or {}).get("services") or []) or "not found", (t_map - t0) * 1000,
                     (time.perf_counter() - t_map) * 1000)
            return getattr(result, "created", True) is not False
        finally:
            redis.eval(RELEASE, 1, lock_key, token)

    # -- the safety net ------------------------------------------------------------------------
    def sweep(self) -> list[str]:
        """Follow up incidents recorded but not queued for `requeue_after` s (a process died in between)."""
        cutoff = self.incidents.clock() - self.incidents.policy.requeue_after
        keys = [k.decode() if isinstance(k, bytes) else k
                for k in self.incidents.redis.zrangebyscore(PENDING, "-inf", cutoff, start=0, num=100)]
        for key in keys:
            self.submit(key)
        return keys

    def _start_sweeper(self) -> None:
        if self._sweeper is not None or self.sweep_every <= 0:
            return
        with self._lock:
            if self._sweeper is not None:
                return
            self._sweeper = threading.Thread(target=self._sweep_loop, name="incident-sweeper", daemon=True)
            self._sweeper.start()

    def _sweep_loop(self) -> None:
        while not self._stop.wait(self.sweep_every):
            try:
                self.sweep()
            except Exception as exc:  # Redis down: try again next round
                log.warning("incident sweep failed: %s", exc)

    def _ensure_root(self, key: str, channel: str) -> str | None:
        """The root ts: posted now if nobody has (claimed in Redis), else whatever is stored."""
        if self.slack is not None and self.incidents.claim_root(key):
            return self._post_root(key, channel)
        return (self.incidents.get(key) or {}).get("root_ts")

    def _post_root(self, key: str, channel: str) -> str | None:
        """Post the root message once (bot.slack.posting: a post Slack may have taken is looked for first)."""
        inc = self.incidents.get(key) or {}
        msg = root_message(inc)
        try:
            ts = post_once(self.slack, channel=channel, marker=f"incident:{inc.get('id')}:root",
                           search_first=bool(inc.get("root_unknown")), text=msg["text"], blocks=msg["blocks"],
                           unfurl_links=False)
        except Exception as exc:  # nothing is queued; the incident stays pending and is retried
            log.warning("incident %s: root message not posted to %s: %s", inc.get("id"), channel, exc)
            if isinstance(exc, PostUnknown):
                self.incidents.set_fields(key, root_unknown="1")
            self.incidents.redis.hdel(incident_hash(key), "root_claim")
            raise
        self.incidents.set_root(key, channel, ts)
        return ts

    def close(self) -> None:
        self._stop.set()
        self.drain(timeout=5)
        self._pool.shutdown(wait=False)
        self.updates.stop()


@dataclass
class _Seq:
    incident_id: str
    job_seq: int
