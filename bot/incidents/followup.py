"""The follow-up of a recorded alarm, in the worker: find the Service, route the channel, post the
root message once and queue the diagnosis; a sweeper picks up what a dead worker left.

The web tier only records an alarm (bot.incidents.desk): its ServiceAccount has no Kubernetes
permissions, so finding the Service behind a load balancer happens here, with the worker's read
grants. The Lua transition puts an incident that needs a diagnosis into `pending` (the record) and
its key on `wake` (a hint); the dispatcher thread of each worker process blocks on `wake`, and the
sweeper follows up every `pending` entry older than `requeue_after` seconds (a worker that died
mid-follow-up, a hint lost with Redis). A per-incident lock keeps two follow-ups from running at
once; the root claim and the queue's dedup key make a repeated follow-up harmless.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError

from bot.incidents.messages import root_message
from bot.incidents.store import MAX_FOLLOW_ATTEMPTS, PENDING, WAKE, Incidents, incident_hash
from bot.incidents.transitions import RELEASE
from bot.policy import NotAdmitted
from bot.slack.posting import PostUnknown, post_once
from bot.webhooks.alarms import Alarm
from bot.webhooks.jobs import alarm_job

log = logging.getLogger("bot.incidents")


class FollowUps:
    """Follows up recorded incidents in a worker process (threads started by `start`).

    `enqueue(redis, job, post_root=...)` is bot.queue.enqueue_diagnosis; `mapper(alarm)` returns the
    mapping dict (bot.webhooks.jobs.Mapper) or None; `route(alarm, mapping)` returns the channel or
    raises NotAdmitted; `slack` is a slack_sdk WebClient (None: nothing posted)."""

    def __init__(
        self,
        incidents: Incidents,
        *,
        slack: Any,
        enqueue: Callable[..., Any],
        route: Callable[[Alarm, dict[str, Any] | None], str | None],
        mapper: Callable[[Alarm], dict[str, Any] | None] | None = None,
        threads: int = 2,
        sweep_every: float = 2.0,
    ) -> None:
        self.incidents = incidents
        self.slack = slack
        self.enqueue = enqueue
        self.route = route
        self.mapper = mapper
        self.sweep_every = sweep_every
        self._pool = ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="incident-follow-up")
        self._inflight: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- dispatch ----------------------------------------------------------------------------------
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
        """Follow up every pending incident now, whatever its age, and wait (tests, `lbhealth` one-shots)."""
        redis = self.incidents.redis
        redis.delete(WAKE)
        for raw in redis.zrange(PENDING, 0, -1):
            self.submit(raw.decode() if isinstance(raw, bytes) else raw)
        return self.wait(timeout)

    def wait(self, timeout: float = 10.0) -> bool:
        """Wait for the follow-ups submitted so far."""
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

    # -- one incident -------------------------------------------------------------------------------
    def follow_up(self, key: str) -> bool:
        """Find the Service, route, post the root message (once), queue the diagnosis. True if it queued."""
        redis = self.incidents.redis
        lock_key, token = incident_hash(key) + ":follow", uuid.uuid4().hex
        if not redis.set(lock_key, token, nx=True, ex=60):
            return False  # another follow-up of this incident is running (here or in another worker)
        try:
            return self._follow_up_locked(key)
        finally:
            redis.eval(RELEASE, 1, lock_key, token)

    def _follow_up_locked(self, key: str) -> bool:
        redis = self.incidents.redis
        t0 = time.perf_counter()
        inc = self.incidents.get(key)
        if inc and inc.get("state") == "resolved" and not inc.get("root_ts") and self.slack is not None:
            self._resolved_root(key, inc)  # it recovered before we got to it: one root, marked resolved
        if not inc or inc.get("state") != "open" or inc["queued_seq"] >= inc["job_seq"]:
            redis.zrem(PENDING, key)
            return False
        attempts = int(redis.hincrby(incident_hash(key), "follow_attempts", 1))
        if attempts > MAX_FOLLOW_ATTEMPTS:
            log.error("incident %s: gave up after %d attempts to post its root message and queue its diagnosis",
                      inc["id"], attempts - 1)
            return self._drop(key, f"root message or job failed {attempts - 1} times")
        alarm = Alarm.from_dict(inc.get("alarm") if isinstance(inc.get("alarm"), dict) else {})
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
            return self._drop(key, exc.reason)
        if not channel:
            log.error("alarm %s (%s): no channel to post to (set LBHEALTH_ALARM_CHANNEL or alarm_routes); no diagnosis",
                      alarm.name, key)
            return self._drop(key, "no alarm channel configured")
        created = self._queue(key, inc, alarm, mapping, channel)
        log.info("incident %s: Service %s, mapped in %.0f ms; root posted and job queued in %.0f ms", inc["id"],
                 ", ".join((mapping or {}).get("services") or []) or "not found", (t_map - t0) * 1000,
                 (time.perf_counter() - t_map) * 1000)
        return created

    def _queue(self, key: str, inc: dict[str, Any], alarm: Alarm, mapping: dict[str, Any] | None, channel: str) -> bool:
        """Enqueue diagnosis number job_seq (the root message is posted when the job wins its target)."""
        seq = inc["job_seq"]
        job = alarm_job(alarm, _Seq(inc["id"], seq), channel=channel, root_ts=inc.get("root_ts"), mapping=mapping)
        result = self.enqueue(self.incidents.redis, job, post_root=lambda _job: self._ensure_root(key, channel))
        if getattr(result, "created", True) is False:
            elsewhere = {"channel": getattr(result, "channel", None), "root_ts": getattr(result, "root_ts", None)}
            self.incidents.set_fields(key, elsewhere=elsewhere)
            self._ensure_root(key, channel)
        self.incidents.mark_queued(key, seq)
        self.incidents.set_fields(key, queued_at=repr(self.incidents.clock()), follow_attempts=0)
        return getattr(result, "created", True) is not False

    def _drop(self, key: str, reason: str) -> bool:
        self.incidents.set_fields(key, error=reason)
        self.incidents.redis.zrem(PENDING, key)
        return False

    def _resolved_root(self, key: str, inc: dict[str, Any]) -> None:
        alarm = Alarm.from_dict(inc.get("alarm") if isinstance(inc.get("alarm"), dict) else {})
        try:
            channel = inc.get("channel") or self.route(alarm, inc.get("mapping") if isinstance(inc.get("mapping"), dict) else None)
        except NotAdmitted:
            channel = None
        if channel:
            self._ensure_root(key, channel)

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

    # -- the safety net and the threads -------------------------------------------------------------
    def sweep(self) -> list[str]:
        """Follow up incidents recorded but not queued for `requeue_after` s (a worker died, a hint was lost)."""
        cutoff = self.incidents.clock() - self.incidents.policy.requeue_after
        keys = [k.decode() if isinstance(k, bytes) else k
                for k in self.incidents.redis.zrangebyscore(PENDING, "-inf", cutoff, start=0, num=100)]
        for key in keys:
            self.submit(key)
        return keys

    def start(self) -> FollowUps:
        for target, name in ((self._dispatch_loop, "incident-dispatch"), (self._sweep_loop, "incident-sweeper")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def _dispatch_loop(self) -> None:
        while not self._stop.is_set():
            try:
                got = self.incidents.redis.blpop([WAKE], timeout=1)
            except (RedisError, OSError):  # Redis down: the worker process logs the state change
                self._stop.wait(1.0)
                continue
            if got is not None:
                key = got[1]
                self.submit(key.decode() if isinstance(key, bytes) else key)

    def _sweep_loop(self) -> None:
        while not self._stop.wait(self.sweep_every):
            try:
                self.sweep()
            except (RedisError, OSError) as exc:  # Redis down: try again next round
                log.warning("incident sweep failed: %s", exc)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout)
        self.wait(timeout)
        self._pool.shutdown(wait=False)


@dataclass
class _Seq:
    incident_id: str
    job_seq: int
