"""Incidents in Redis: record an alarm delivery (one atomic transition), read and update the state."""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.incidents.transitions import CLAIM_ROOT, MARK_QUEUED, RECORD, RELEASE, SET_IF_EXISTS
from bot.redis_ha import NotReplicated, script_confirmed
from bot.webhooks.alarms import Alarm

PREFIX = "lbhealth:incident:"
PENDING = "lbhealth:incidents:pending"  # incident keys with a diagnosis recorded but not yet queued (score: since)
WAKE = "lbhealth:incidents:wake"  # the same keys as a list the workers' follow-up blocks on (a hint; PENDING is the record)
SEEN_PREFIX = "lbhealth:alarm:seen:"
SEEN_TTL = 2 * 24 * 3600
MAX_FOLLOW_ATTEMPTS = 6  # root message + job: the first try, then the sweeper every requeue_after s
RESOLVED_TTL = 30 * 24 * 3600


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
        self._record = redis.register_script(RECORD)
        self._mark = redis.register_script(MARK_QUEUED)
        self._claim = redis.register_script(CLAIM_ROOT)
        self._set = redis.register_script(SET_IF_EXISTS)

    def record(self, alarm: Alarm) -> Outcome:
        key = alarm.incident_key
        seen = f"{SEEN_PREFIX}{alarm.source}:{alarm.dedup_id}" if alarm.dedup_id else ""
        p = self.policy
        res, replicated = script_confirmed(
            self.redis, self._record,
            keys=[seen, incident_hash(key), incident_hash(key) + ":upd", PENDING, WAKE],
            args=[
                repr(self.clock()), alarm.state, "" if alarm.changed_at is None else repr(alarm.changed_at), SEEN_TTL,
                p.rediagnose_after, p.flap_window, uuid.uuid4().hex[:12], json.dumps(alarm.to_dict()), p.requeue_after,
                key, RESOLVED_TTL, max(1, int(p.update_every * 1000)),
            ],
        )
        if replicated is False:  # the caller answers 5xx: the sender's retry is a duplicate, confirmed then
            raise NotReplicated("not on a replica yet (the primary has it; a failover now would lose it)")
        out = [x.decode() if isinstance(x, bytes) else x for x in res]
        return Outcome(
            outcome=out[0], incident_id=out[1], count=int(out[2]), job_seq=int(out[3]), need_enqueue=bool(out[4]),
            root_ts=out[5] or None, channel=out[6] or None, opened_at=float(out[7]) if out[7] else None,
            resolved_at=float(out[8]) if out[8] else None, incident_key=key, refresh=bool(out[9]),
        )

    def mark_queued(self, key: str, seq: int) -> None:
        self._mark(keys=[incident_hash(key), PENDING], args=[seq, key])

    def claim_root(self, key: str, hold: float = 30.0) -> bool:
        """True if this caller posts the root; with Sentinel the claim is on a replica first where one
        answers (a claim lost with the primary would let a successor post without searching)."""
        won, _ = script_confirmed(self.redis, self._claim, keys=[incident_hash(key)], args=[repr(self.clock()), hold])
        return bool(won)

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
                self.redis.eval(RELEASE, 1, lock_key, token)

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
