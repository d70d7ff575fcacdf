"""Alarm incidents: one Slack thread per load-balancer target group (or CLB listener) and alarm episode.

Every alarm delivery goes through one Lua script (`record`), so that however many copies arrive at
once (SNS retries, re-deliveries, a storm of 1,000), each transition happens exactly once:

- the delivery id (SNS MessageId, EventBridge id, Tencent sessionId) is claimed with SET NX EX:
  a copy already seen is `duplicate`;
- ALARM with no open incident -> `opened`: a new incident id, one root message, one diagnosis;
- ALARM on an open incident -> `repeat` (counter +1), or `rediagnose` when the last diagnosis is
  older than `rediagnose_after` (one more job in the same thread);
- ALARM within `flap_window` of the incident's recovery -> `reopened`: the same thread continues;
- OK -> `resolved` (once), later OKs are `ignored`; an ALARM after the flap window opens a new incident;
- a delivery older than the last state change seen (out of order) -> `stale`, no state change.

The delivery is answered (2xx) as soon as this transition is recorded. When a diagnosis is due
(`opened`, `rediagnose`, `reopened` after the interval), the incident key also goes into the
`lbhealth:incidents:pending` sorted set in the same script; `AlarmDesk` then, off the request path,
finds the Service (checks.collect.alarm_map), routes the channel, posts the root message (claimed
in Redis: once) and enqueues the job (bot.queue, deduplicated by Service or incident), and removes
the key from `pending`. If the process dies in between, a sweeper (any web process) or the next
delivery of the alarm picks the incident up again after `requeue_after` seconds.

Root-message updates for repeats are coalesced: at most one `chat.update` per incident per
`update_every` seconds (the claim is taken inside the same script), rendered from the state in
Redis at that moment (trailing edge), by a small scheduler thread in the web process. Recovery
posts a resolved note in the thread and marks the root resolved with the incident's duration.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import heapq
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.webhooks.alarms import Alarm

log = logging.getLogger(__name__)

PREFIX = "lbhealth:incident:"
PENDING = "lbhealth:incidents:pending"  # incident keys with a diagnosis recorded but not yet queued (score: since)
SEEN_PREFIX = "lbhealth:alarm:seen:"
SEEN_TTL = 2 * 24 * 3600
MAX_FOLLOW_ATTEMPTS = 6  # root message + job: the first try, then the sweeper every requeue_after s
RESOLVED_TTL = 30 * 24 * 3600

_RECORD = """
local seen, inc = KEYS[1], KEYS[2]
local now = tonumber(ARGV[1])
local st = ARGV[2]
local changed = tonumber(ARGV[3])
local seen_ttl = tonumber(ARGV[4])
local rediag = tonumber(ARGV[5])
local flap = tonumber(ARGV[6])
local new_id = ARGV[7]
local alarm = ARGV[8]
local requeue = tonumber(ARGV[9])
local ikey = ARGV[10]
local resolved_ttl = tonumber(ARGV[11])

local upd_key, upd_ms, pending = KEYS[3], tonumber(ARGV[12]), KEYS[4]

local function info(outcome, force)
  local h = redis.call('HMGET', inc, 'id', 'count', 'job_seq', 'queued_seq', 'root_ts', 'channel',
                       'opened_at', 'last_diag_at', 'state', 'resolved_at')
  -- a repeat asks for one coalesced root update per incident per upd_ms (the first in the window wins)
  local refresh = 0
  if h[9] and (outcome == 'repeat' or outcome == 'rediagnose' or outcome == 'reopened' or outcome == 'stale'
               or outcome == 'duplicate') then
    if redis.call('SET', upd_key, '1', 'NX', 'PX', upd_ms) then refresh = 1 end
  end
  local need = 0
  if force then
    need = 1
    redis.call('ZADD', pending, now, ikey)
  elseif h[9] == 'open' and tonumber(h[4] or '0') < tonumber(h[3] or '0')
         and now - tonumber(h[8] or '0') >= requeue then
    need = 1
  end
  return {outcome, h[1] or '', tonumber(h[2] or '0'), tonumber(h[3] or '0'), need,
          h[5] or '', h[6] or '', h[7] or '', h[10] or '', refresh}
end

if seen ~= '' then
  if not redis.call('SET', seen, '1', 'NX', 'EX', seen_ttl) then
    if redis.call('EXISTS', inc) == 1 then redis.call('HINCRBY', inc, 'dups', 1) end
    return info('duplicate', false)
  end
end

local cur = redis.call('HGET', inc, 'state')
local last_changed = tonumber(redis.call('HGET', inc, 'changed_at') or '')
if changed and last_changed and changed < last_changed then
  if cur == 'open' then redis.call('HINCRBY', inc, 'count', 1) end
  return info('stale', false)
end

local function mark_changed()
  if changed then redis.call('HSET', inc, 'changed_at', changed) end
end

if st == 'ALARM' then
  if cur == 'open' then
    redis.call('HINCRBY', inc, 'count', 1)
    redis.call('HSET', inc, 'last_at', now, 'alarm', alarm)
    mark_changed()
    local last = tonumber(redis.call('HGET', inc, 'last_diag_at') or '0')
    if now - last >= rediag then
      redis.call('HINCRBY', inc, 'job_seq', 1)
      redis.call('HSET', inc, 'last_diag_at', now)
      return info('rediagnose', true)
    end
    return info('repeat', false)
  end
  if cur == 'resolved' and now - tonumber(redis.call('HGET', inc, 'resolved_at') or '0') < flap then
    redis.call('HSET', inc, 'state', 'open', 'last_at', now, 'alarm', alarm)
    redis.call('HDEL', inc, 'resolved_at')
    redis.call('HINCRBY', inc, 'count', 1)
    redis.call('HINCRBY', inc, 'flaps', 1)
    redis.call('PERSIST', inc)
    mark_changed()
    local last = tonumber(redis.call('HGET', inc, 'last_diag_at') or '0')
    if now - last >= rediag then
      redis.call('HINCRBY', inc, 'job_seq', 1)
      redis.call('HSET', inc, 'last_diag_at', now)
      return info('reopened', true)
    end
    return info('reopened', false)
  end
  redis.call('DEL', inc)
  redis.call('HSET', inc, 'key', ikey, 'id', new_id, 'state', 'open', 'opened_at', now, 'last_at', now,
             'count', 1, 'job_seq', 1, 'queued_seq', 0, 'last_diag_at', now, 'alarm', alarm, 'first_alarm', alarm)
  mark_changed()
  return info('opened', true)
elseif st == 'OK' then
  if cur == 'open' then
    redis.call('HSET', inc, 'state', 'resolved', 'resolved_at', now, 'last_at', now, 'resolve_alarm', alarm)
    mark_changed()
    redis.call('EXPIRE', inc, resolved_ttl)
    return info('resolved', false)
  end
  return info('ignored', false)
else
  if cur == 'open' then
    redis.call('HINCRBY', inc, 'count', 1)
    return info('repeat', false)
  end
  return info('ignored', false)
end
"""

_MARK_QUEUED = """
local cur = tonumber(redis.call('HGET', KEYS[1], 'queued_seq') or '0')
if cur < tonumber(ARGV[1]) then redis.call('HSET', KEYS[1], 'queued_seq', ARGV[1]) cur = tonumber(ARGV[1]) end
if cur >= tonumber(redis.call('HGET', KEYS[1], 'job_seq') or '0') then redis.call('ZREM', KEYS[2], ARGV[2]) end
return 1
"""

_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"

# Claim the root message: only one caller posts it, whoever first finds it missing.
_CLAIM_ROOT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HGET', KEYS[1], 'root_ts') then return 0 end
local claim = redis.call('HGET', KEYS[1], 'root_claim')
if claim and tonumber(ARGV[1]) - tonumber(claim) < tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'root_claim', ARGV[1])
return 1
"""


_SET_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""


@dataclass
class Outcome:
    outcome: str
    incident_id: str
    count: int
    job_seq: int
    need_enqueue: bool
    root_ts: str | None
    channel: str | None
    opened_at: float | None
    resolved_at: float | None
    incident_key: str = ""
    refresh: bool = False  # this delivery should schedule the (coalesced) root update

    @property
    def dedup_key(self) -> str:
        return f"incident:{self.incident_id}:{self.job_seq}"


def incident_hash(key: str) -> str:
    return PREFIX + hashlib.sha1(key.encode()).hexdigest()


@dataclass
class Policy:
    rediagnose_after: float = 15 * 60
    flap_window: float = 10 * 60
    requeue_after: float = 10.0
    update_every: float = 5.0


class Incidents:
    """The Redis side of incidents (state transitions); Slack and routing are in `AlarmDesk`."""

    def __init__(self, redis, policy: Policy | None = None, clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.policy = policy or Policy()
        self.clock = clock
        self._record = redis.register_script(_RECORD)
        self._mark = redis.register_script(_MARK_QUEUED)
        self._claim = redis.register_script(_CLAIM_ROOT)
        self._set = redis.register_script(_SET_IF_EXISTS)

    def record(self, alarm: Alarm) -> Outcome:
        key = alarm.incident_key
        seen = f"{SEEN_PREFIX}{alarm.source}:{alarm.dedup_id}" if alarm.dedup_id else ""
        p = self.policy
        res = self._record(
            keys=[seen, incident_hash(key), incident_hash(key) + ":upd", PENDING],
            args=[
                repr(self.clock()), alarm.state, "" if alarm.changed_at is None else repr(alarm.changed_at), SEEN_TTL,
                p.rediagnose_after, p.flap_window, uuid.uuid4().hex[:12], json.dumps(alarm.to_dict()), p.requeue_after,
                key, RESOLVED_TTL, max(1, int(p.update_every * 1000)),
            ],
        )
        out = [x.decode() if isinstance(x, bytes) else x for x in res]
        return Outcome(
            outcome=out[0], incident_id=out[1], count=int(out[2]), job_seq=int(out[3]), need_enqueue=bool(out[4]),
            root_ts=out[5] or None, channel=out[6] or None, opened_at=float(out[7]) if out[7] else None,
            resolved_at=float(out[8]) if out[8] else None, incident_key=key, refresh=bool(out[9]),
        )

    def mark_queued(self, key: str, seq: int) -> None:
        self._mark(keys=[incident_hash(key), PENDING], args=[seq, key])

    def claim_root(self, key: str, hold: float = 30.0) -> bool:
        return bool(self._claim(keys=[incident_hash(key)], args=[repr(self.clock()), hold]))

    def set_root(self, key: str, channel: str, ts: str) -> None:
        self.set_fields(key, root_ts=ts, channel=channel, root_posted_at=repr(self.clock()))

    def set_fields(self, key: str, **fields: Any) -> None:
        """Update an existing incident (never recreate one that expired or was deleted)."""
        clean = {k: (json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in fields.items() if v is not None}
        if clean:
            args = [x for kv in clean.items() for x in kv]
            self._set(keys=[incident_hash(key)], args=args)

    @contextlib.contextmanager
    def render_lock(self, key: str, wait: float = 5.0, hold_ms: int = 15000):
        """Serialise the renders of one root message (web process and workers), so that a render from
        older state never lands after a newer one: each render reads the state while holding it."""
        lock_key, token = incident_hash(key) + ":render", uuid.uuid4().hex
        deadline = time.monotonic() + wait
        held = False
        while not held:
            held = bool(self.redis.set(lock_key, token, nx=True, px=hold_ms))
            if not held:
                if time.monotonic() > deadline:
                    break  # a holder died: render anyway rather than never
                time.sleep(0.02)
        try:
            yield
        finally:
            if held:
                self.redis.eval(_RELEASE, 1, lock_key, token)

    def get(self, key: str) -> dict[str, Any] | None:
        raw = self.redis.hgetall(incident_hash(key))
        if not raw:
            return None
        data = {k.decode() if isinstance(k, bytes) else k: v.decode() if isinstance(v, bytes) else v for k, v in raw.items()}
        for k in ("opened_at", "resolved_at", "last_at", "last_diag_at", "changed_at", "root_posted_at", "queued_at"):
            if data.get(k):
                data[k] = float(data[k])
        for k in ("count", "job_seq", "queued_seq", "flaps", "dups"):
            data[k] = int(data.get(k) or 0)
        for k in ("alarm", "first_alarm", "resolve_alarm", "mapping", "verdict", "elsewhere"):
            if data.get(k):
                try:
                    data[k] = json.loads(data[k])
                except ValueError:
                    pass
        return data


# ---- routing -------------------------------------------------------------------------------------


def route_channel(
    routes: list[Any], default: str | None, *, alarm_name: str, cluster: str | None = None, namespace: str | None = None
) -> str | None:
    """First matching route wins: every field a route sets must match (alarm is a shell glob)."""
    for r in routes or []:
        get = r.get if isinstance(r, dict) else (lambda k, _r=r: getattr(_r, k, None))
        if get("cluster") and get("cluster") != cluster:
            continue
        if get("namespace") and not fnmatch.fnmatchcase(namespace or "", get("namespace")):
            continue
        if get("alarm") and not fnmatch.fnmatchcase(alarm_name or "", get("alarm")):
            continue
        if not (get("cluster") or get("namespace") or get("alarm")):
            continue
        return get("channel")
    return default


# ---- rendering -----------------------------------------------------------------------------------


def render(template: str, **context: Any) -> dict[str, Any]:
    from bot.render import render_message

    return render_message(template.removesuffix(".j2"), **context)


def root_message(incident: dict[str, Any], now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    alarm = incident.get("alarm") or incident.get("first_alarm") or {}
    if isinstance(alarm, dict):
        alarm = Alarm.from_dict(alarm)
    end = incident.get("resolved_at") if incident.get("state") == "resolved" else now
    return render(
        "incident_root.j2",
        incident=incident,
        alarm=alarm,
        elapsed=(end or now) - (incident.get("opened_at") or now),
        mapping=incident.get("mapping") if isinstance(incident.get("mapping"), dict) else None,
        verdict=incident.get("verdict") if isinstance(incident.get("verdict"), dict) else None,
    )


# ---- the desk: Slack side of incidents -----------------------------------------------------------


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
        from concurrent.futures import ThreadPoolExecutor

        self.incidents = incidents
        self.slack = slack
        self.enqueue = enqueue
        self.route = route
        self.mapper = mapper
        self.metrics = metrics
        self.scheduler = _Scheduler(self._render_due)
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
            self.scheduler.schedule(key, 0.0, resolved=True)
        elif out.refresh:
            self.scheduler.schedule(key, self.incidents.policy.update_every)
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
        from bot.webhooks.jobs import alarm_job

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
                channel = inc.get("channel") or self.route(alarm, inc.get("mapping") if isinstance(inc.get("mapping"), dict) else None)
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
            channel = inc.get("channel") or self.route(alarm, mapping)
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
            redis.eval(_RELEASE, 1, lock_key, token)

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
        inc = self.incidents.get(key) or {}
        msg = root_message(inc)
        try:
            resp = self.slack.chat_postMessage(channel=channel, text=msg["text"], blocks=msg["blocks"], unfurl_links=False)
        except Exception as exc:  # nothing is queued; the incident stays pending and is retried
            log.warning("incident %s: root message not posted to %s: %s", inc.get("id"), channel, exc)
            self.incidents.redis.hdel(incident_hash(key), "root_claim")
            raise
        ts = resp.get("ts")
        self.incidents.set_root(key, resp.get("channel") or channel, ts)
        return ts

    # -- background updates --------------------------------------------------------------------
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
                note = render("incident_resolved.j2", incident=inc, elapsed=(inc.get("resolved_at") or 0) - (inc.get("opened_at") or 0),
                              alarm=Alarm.from_dict(inc.get("resolve_alarm") or inc.get("alarm") or {}) if isinstance(inc.get("resolve_alarm") or inc.get("alarm"), dict) else None)
                self.slack.chat_postMessage(channel=channel, thread_ts=ts, text=note["text"], blocks=note["blocks"])
                self.incidents.set_fields(key, resolved_noted=str(inc.get("resolved_at")))
            msg = root_message(inc)
            self.slack.chat_update(channel=channel, ts=ts, text=msg["text"], blocks=msg["blocks"])
        except Exception as exc:
            log.warning("incident %s: root update failed: %s", inc.get("id"), exc)
            return 5.0 if attempt < 5 else None
        return None

    def close(self) -> None:
        self._stop.set()
        self.drain(timeout=5)
        self._pool.shutdown(wait=False)
        self.scheduler.stop()


@dataclass
class _Seq:
    incident_id: str
    job_seq: int


class _Scheduler:
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


# ---- the worker side: the alarm root updater ------------------------------------------------------


def update_alarm_root(outcome: Any) -> None:
    """bot.worker ROOT_UPDATERS["alarm"]: after a diagnosis (or its final failure), show the verdict on
    the incident's root message, with the current counter and state (rendered from Redis)."""
    job = outcome.job
    key = job.incident_key
    if not key:
        return
    incidents = Incidents(outcome.redis)
    if outcome.ok and outcome.report is not None:
        verdict = outcome.report.verdict.to_dict()
    else:
        verdict = {"status": "error", "check_id": None, "summary": f"the diagnosis failed: {outcome.error}"}
    incidents.set_fields(key, verdict=verdict, last_report_at=repr(time.time()))
    from bot.slack import client as slack

    with incidents.render_lock(key):
        inc = incidents.get(key)
        if not inc:
            return
        channel, ts = inc.get("channel") or job.channel, inc.get("root_ts") or job.root_ts
        if not ts:
            return
        msg = root_message(inc)
        slack.call(outcome.client, "chat_update", channel=channel, ts=ts, text=msg["text"], blocks=msg["blocks"])


def register_with_worker() -> None:
    """Register the alarm root updater and job preparer in bot.worker (idempotent; the worker calls it)."""
    _register_with_worker()


def _register_with_worker() -> None:
    try:
        from bot import worker
    except ImportError:  # a build without the worker (tests of the webhook alone)
        return
    worker.register_root_updater("alarm")(update_alarm_root)
    if hasattr(worker, "JOB_PREPARERS"):
        from bot.webhooks.jobs import prepare_alarm_job

        worker.JOB_PREPARERS["alarm"] = prepare_alarm_job


_register_with_worker()
