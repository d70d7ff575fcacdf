"""Diagnosis jobs on Redis (rq, JSON serializer), with one job per target at a time.

    result = enqueue_diagnosis(redis, DiagnosisJob(...), post_root=...)
    if not result.created:  # someone already asked: link their thread
        ...

Dedup: `lbhealth:target:<cluster>/<ns>/<svc>` holds the id of the job queued or running for that
target (SET NX). A second request while it exists gets that job's channel/thread back instead
of a new job. The key is released when the job posts its report or finally fails; a short TTL
covers a bot that dies between claiming and enqueueing, a long one a worker fleet that is down.

Job records: `lbhealth:job:<id>` (a hash: channel, root_ts, state, permalink) so that the bot
can answer "already running, see <thread>" and the webhooks can add to an incident's thread.

Jobs are enqueued by dotted name (`bot.worker.run_diagnosis`) with a JSON payload, never pickle.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator
from redis import Redis
from rq import Callback, Queue, Retry
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer

from bot import metrics
from bot.settings import get_settings

QUEUE_NAME = "lbhealth"
PREFIX = "lbhealth:"
JOB_FUNC = "bot.worker.run_diagnosis"
FAILURE_CALLBACK = "bot.worker.on_job_failure"

# Backoff between attempts after a transient error (rq Retry; 3 retries = 4 attempts in all).
RETRY_INTERVALS = [2, 10, 30]
CLAIM_TTL = 60  # claim of a target while the bot posts the root message and enqueues
RECORD_TTL = 7 * 24 * 3600
COMMAND_DEDUP_TTL = 15 * 60  # Slack retries come within minutes; people retype within a few too


class DiagnosisJob(BaseModel):
    """What a worker needs to diagnose one Service and post into one thread (JSON-serialisable)."""

    namespace: str
    service: str
    cluster: str | None = None
    channel: str
    root_ts: str | None = None  # the thread the report goes into (set once the root message is posted)
    requested_by: str | None = None  # Slack user id
    origin: Literal["command", "alarm"] = "command"
    incident_key: str | None = None
    response_url: str | None = None  # for ephemeral replies to the requester (commands)
    team_id: str | None = None
    dedup_key: str = ""
    job_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    requested_at: float = Field(default_factory=time.time)
    extra: dict[str, Any] = Field(default_factory=dict)  # origin-specific data (alarm name, ...)

    @model_validator(mode="after")
    def _default_dedup_key(self) -> DiagnosisJob:
        if not self.dedup_key:
            self.dedup_key = target_key(self.cluster, self.namespace, self.service)
        return self

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.service}"


def target_key(cluster: str | None, namespace: str, service: str) -> str:
    return f"{cluster or '-'}/{namespace}/{service}"


@dataclass
class EnqueueResult:
    created: bool  # False: an existing job for the target was found (nothing enqueued)
    job_id: str
    channel: str | None
    root_ts: str | None
    state: str  # queued | running | posting (the root message is being posted)
    permalink: str | None = None


def get_queue(redis: Redis, name: str = QUEUE_NAME) -> Queue:
    return Queue(name, connection=redis, serializer=JSONSerializer)


def _s(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def job_record(redis: Redis, job_id: str) -> dict[str, str]:
    raw = redis.hgetall(PREFIX + "job:" + job_id)
    return {_s(k): _s(v) for k, v in raw.items()}  # type: ignore[misc]


def update_record(redis: Redis, job_id: str, **fields: Any) -> None:
    key = PREFIX + "job:" + job_id
    with redis.pipeline() as p:
        p.hset(key, mapping={k: ("" if v is None else str(v)) for k, v in fields.items()})
        p.expire(key, RECORD_TTL)
        p.execute()


# Compare-and-delete / compare-and-set, so that only the holder releases or replaces a claim.
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
_REPLACE = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('set', KEYS[1], ARGV[2], 'EX', ARGV[3]) return 1 "
    "else return 0 end"
)


def release_target(redis: Redis, dedup_key: str, job_id: str) -> bool:
    return bool(redis.eval(_RELEASE, 1, PREFIX + "target:" + dedup_key, job_id))


def claim_command(redis: Redis, key: str, ttl: int = COMMAND_DEDUP_TTL, token: str = "1") -> bool:
    """First delivery of a command wins (Slack retries, double submits): SET NX with a TTL. A later
    attempt of the same accepted command (same `token`) wins again: its earlier attempt may have died
    with Redis before it could release the claim."""
    full = PREFIX + "cmd:" + key
    return bool(redis.set(full, token, nx=True, ex=ttl)) or (token != "1" and _s(redis.get(full)) == token)


def release_command(redis: Redis, key: str) -> None:
    """Handling failed before anything was queued: let the next attempt (or delivery) through."""
    redis.delete(PREFIX + "cmd:" + key)


def enqueue_diagnosis(
    redis: Redis,
    job: DiagnosisJob,
    *,
    post_root: Callable[[DiagnosisJob], str | None] | None = None,
    job_timeout: int | None = None,
    retry_intervals: list[int] | None = None,
) -> EnqueueResult:
    """Enqueue `job` unless a job for the same target is queued or running.

    `post_root(job)` is called only when this request wins the target (so a duplicate never
    posts a second root message); it returns the root message ts (the thread), or None. If it
    raises, the claim is released and the exception propagates (nothing is queued).
    `job_timeout`: seconds one attempt may take; None is LBHEALTH_JOB_TIMEOUT, for every origin
    (commands, alarms), since the workers' shutdown grace is sized for it (deploy/helm).
    """
    if job_timeout is None:
        job_timeout = get_settings().lbhealth_job_timeout
    intervals = list(RETRY_INTERVALS if retry_intervals is None else retry_intervals)
    key = PREFIX + "target:" + job.dedup_key
    if not redis.set(key, job.job_id, nx=True, ex=CLAIM_TTL):
        existing_id = _s(redis.get(key))
        if existing_id == job.job_id:  # our own earlier attempt claimed it and could not finish
            pass
        elif existing_id is not None:
            record = job_record(redis, existing_id)
            if record.get("state") not in ("done", "failed"):
                metrics.JOBS_DEDUPED.labels(job.origin).inc()
                return EnqueueResult(
                    created=False,
                    job_id=existing_id,
                    channel=record.get("channel") or None,
                    root_ts=record.get("root_ts") or None,
                    state=record.get("state") or "posting",
                    permalink=record.get("permalink") or None,
                )
            # A finished job whose claim was not released (a crash at the very end): take it over.
            if not redis.eval(_REPLACE, 1, key, existing_id, job.job_id, CLAIM_TTL):
                return enqueue_diagnosis(redis, job, post_root=post_root, job_timeout=job_timeout,
                                         retry_intervals=intervals)
        elif not redis.set(key, job.job_id, nx=True, ex=CLAIM_TTL):  # expired in between; retry once
            return enqueue_diagnosis(redis, job, post_root=post_root, job_timeout=job_timeout, retry_intervals=intervals)

    update_record(redis, job.job_id, channel=job.channel, root_ts=job.root_ts, state="posting",
                  target=job.dedup_key, origin=job.origin, requested_at=job.requested_at)
    try:
        if post_root is not None and not job.root_ts:
            job.root_ts = post_root(job)
    except BaseException:
        release_target(redis, job.dedup_key, job.job_id)
        update_record(redis, job.job_id, state="failed")
        raise
    update_record(redis, job.job_id, root_ts=job.root_ts, state="queued")

    attempts = len(intervals) + 1
    get_queue(redis).enqueue(
        JOB_FUNC,
        job.model_dump(mode="json"),
        job_id=job.job_id,
        job_timeout=job_timeout,
        retry=Retry(max=len(intervals), interval=intervals) if intervals else None,
        on_failure=Callback(FAILURE_CALLBACK),
        result_ttl=3600,
        failure_ttl=7 * 24 * 3600,
        description=f"diagnose {job.dedup_key} ({job.origin})",
    )
    # Hold the target for as long as the job can possibly take (all attempts and backoffs);
    # the worker releases it earlier, as soon as the report (or the failure) is posted.
    redis.expire(key, attempts * (job_timeout + 60) + sum(intervals) + CLAIM_TTL)
    metrics.JOBS_QUEUED.labels(job.origin).inc()
    return EnqueueResult(created=True, job_id=job.job_id, channel=job.channel, root_ts=job.root_ts, state="queued")


def queue_counts(redis: Redis) -> dict[str, int]:
    q = get_queue(redis)
    return {
        "queued": q.count,
        "running": StartedJobRegistry(queue=q).get_job_count(cleanup=False),
        "scheduled": ScheduledJobRegistry(queue=q).get_job_count(cleanup=False),
        "failed": FailedJobRegistry(queue=q).get_job_count(cleanup=False),
    }
