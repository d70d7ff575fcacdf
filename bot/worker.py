"""`lbhealth worker`: run diagnosis jobs from Redis and post each report once into its thread.

A job (bot.queue.DiagnosisJob, JSON) runs the engine (checks.runner.diagnose) against the
cluster named in the config, posts the report as replies in the thread of `root_ts`, then
updates the root message through the updater of the job's origin (Deps.root_updaters, built by bot.app).

Reliability, and why it is built this way:
- Retries: rq `Retry(max=3, interval=[2, 10, 30])` for transient errors (an exception escaping
  the job). Errors that retrying cannot fix (unknown cluster, bad dump, the bot not in the
  channel) end the job at once with a message in the thread.
- After the last attempt, `on_job_failure` (rq failure callback) says in the thread that the
  diagnosis failed and why, and updates the root message.
- Posting is idempotent per job: each part (reply i, the file, the failure note) is claimed
  with SET NX under `lbhealth:posted:<job>:<part>` and its ts recorded, so a job that runs twice
  (after a crash, or a retry after a partial post) never posts a part twice. Each message carries
  a marker in its metadata (bot.slack.posting): a post Slack may have taken without confirming it
  (timeout, 5xx) is looked for before it is posted again, by this attempt or the next.
- A worker killed with SIGKILL: rq notices an abandoned job only when its StartedJobRegistry
  entry expires (job timeout + 60 s for a SimpleWorker) *and* a surviving worker runs its
  maintenance (every 10 min by default), i.e. up to ~13 min with our 120 s timeout. Lowering
  rq's knobs cannot reach 60 s without also killing slow but healthy jobs. So each worker
  process keeps a liveness key (`lbhealth:alive:<worker>`, TTL 10 s, refreshed every 2 s by a
  thread) and a reaper thread (one at a time, under a lock) looks every 3 s at the started
  jobs: a job whose worker's liveness key is gone has its registry entry expired now and rq's
  own `StartedJobRegistry.cleanup()` does the rest (AbandonedJobError, failure callback, and
  re-enqueue through the job's Retry). Recovery = liveness TTL + reaper period + first retry
  interval + the job itself: measured 11.0-11.1 s from SIGKILL to the report posted by another
  worker (tests/bot/test_worker_processes.py). Only lbhealth's own workers keep liveness keys:
  a plain `rq worker` on this queue would have its jobs handed back while they run.
- Scheduled retries: rq's scheduler runs in a forked child holding a 61 s lock; if its worker
  is SIGKILLed that lock (or the orphaned child) delays retries by up to a minute. The reaper
  thread therefore also moves due retries from the ScheduledJobRegistry to the queue, under a
  2 s lock, and the rq scheduler is not started.
- SIGTERM: rq's warm shutdown: the job in hand finishes, then the worker exits. A second
  SIGTERM/SIGINT (cold shutdown) exits at once; the liveness key is deleted on the way out so
  the reaper hands the job back to another worker within seconds.
- Jobs run in the worker process (rq SimpleWorker: no fork per job, the engine's imports and
  clients stay warm); the processes themselves are bot.worker_process (`lbhealth worker`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
from redis import Redis
from rq import get_current_job
from rq.exceptions import AbandonedJobError, NoSuchJobError
from rq.job import Job
from rq.registry import StartedJobRegistry
from rq.scheduler import RQScheduler
from rq.serializers import JSONSerializer
from rq.timeouts import JobTimeoutException, TimerDeathPenalty
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import metrics, render
from bot.approvals_jobs import attach_fix_buttons
from bot.job_runtime import Deps, RootUpdater, deps, once
from bot.liveness import alive_key
from bot.logs import job_context
from bot.queue import PREFIX, DiagnosisJob, get_queue, release_target, update_record
from bot.render import format_duration, render_message
from bot.settings import ConfigError, Settings
from bot.slack import client as slack
from bot.slack.posting import post_once
from checks.collect.errors import DumpError
from checks.model import InvalidTarget, Target
from checks.runner import diagnose

log = logging.getLogger("lbhealth.worker")

REAP_INTERVAL = 3
TEST_DELAY_ENV = "LBHEALTH_TEST_SLOW_JOB_SECONDS"  # tests only: sleep inside each job (off when unset)


class PermanentError(Exception):
    """The job cannot succeed by retrying (the message is shown in the thread)."""


# --------------------------------------------------------------------------------------------
# Root message updaters (pluggable by origin)


@dataclass
class Outcome:
    """How a job ended, for the root-message updater of its origin."""

    job: DiagnosisJob
    job_id: str
    client: WebClient
    redis: Redis
    report: Any = None  # checks.model.Report when the diagnosis ran
    error: str | None = None  # why it failed (after the last attempt)
    attempts: int = 1
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


def update_command_root(outcome: Outcome) -> None:
    """The /lbhealth root message, updated in place: status emoji, root cause in one line, duration."""
    job = outcome.job
    if not job.root_ts:
        return
    if outcome.ok:
        message = render_message("root_done", job=job, verdict=outcome.report.verdict,
                                 duration=format_duration(outcome.duration_s))
    else:
        message = render_message("root_failed", job=job, reason=outcome.error, attempts=outcome.attempts)
    slack.call(outcome.client, "chat_update", channel=job.channel, ts=job.root_ts, **message)


def _root_updater(d: Deps, origin: str) -> RootUpdater:
    return d.root_updaters.get(origin, update_command_root)


# --------------------------------------------------------------------------------------------
# The job


def _attempt(redis: Redis, job_id: str) -> int:
    return int(redis.hincrby(f"{PREFIX}job:{job_id}", "attempts", 1))


def _attempts(redis: Redis, job_id: str) -> int:
    value = redis.hget(f"{PREFIX}job:{job_id}", "attempts")
    return int(value or 1)


def _test_delay() -> None:
    delay = os.environ.get(TEST_DELAY_ENV)
    if delay:
        time.sleep(float(delay))


def node_options(settings: Settings) -> dict[str, Any]:
    """Where the reader pods of node checks run: the namespace the deployment's node-reader Role is
    in (LBHEALTH_NODE_NAMESPACE), with LBHEALTH_NODE_IMAGE when one is set (air-gapped registries)."""
    out: dict[str, Any] = {"node_namespace": settings.lbhealth_node_namespace}
    if settings.lbhealth_node_image:
        out["node_image"] = settings.lbhealth_node_image
    return out


def _diagnose(d: Deps, job: DiagnosisJob):
    settings = d.settings
    try:
        cluster = settings.cluster(job.cluster)
        prepare = d.job_preparers.get(job.origin)
        if prepare is not None:  # e.g. alarms: the load balancer's identifiers, a target with no Service
            target, options = prepare(job, cluster)
        else:
            target, options = Target.parse(job.service, job.namespace, cluster.name if cluster else job.cluster), {}
    except (ConfigError, InvalidTarget) as exc:
        raise PermanentError(str(exc)) from exc
    sources = list(cluster.sources) if cluster and cluster.sources else None
    node = settings.lbhealth_node_checks and not sources
    if node:
        options = {**node_options(settings), **options}
    clients = None
    if cluster is not None and not sources:
        from checks.collect.live import Clients  # the live collector only where a live diagnosis runs

        clients = Clients.for_cluster(cluster.context, cluster.cloud, cluster.region)
    try:
        report, _state = diagnose(
            target,
            sources=sources,
            context=cluster.context if cluster else None,
            clients=clients,
            probe=cluster.probe if cluster else True,
            node=node,
            severity=settings.file_config().severity or None,
            **({"options": options} if options else {}),
        )
    except (DumpError, FileNotFoundError) as exc:
        raise PermanentError(f"the cluster's dump files cannot be read: {exc}") from exc
    return report


def run_diagnosis(payload: dict[str, Any]) -> dict[str, Any]:
    """rq job: diagnose, post the report into the thread, update the root message."""
    job = DiagnosisJob.model_validate(payload)
    rq_job = get_current_job()
    job_id = rq_job.id if rq_job is not None else job.job_id
    d = deps()
    with job_context(job_id):
        started = time.monotonic()
        attempt = _attempt(d.redis, job_id)
        update_record(d.redis, job_id, state="running")
        metrics.JOBS_STARTED.inc()
        log.info("diagnosis started", extra={"target": job.dedup_key, "attempt": attempt, "origin": job.origin})
        _test_delay()
        try:
            report = _diagnose(d, job)
            post_report(d, job, job_id, report)
            duration = time.monotonic() - started
            _root_updater(d, job.origin)(Outcome(job, job_id, d.client, d.redis, report=report,
                                              attempts=attempt, duration_s=duration))
        except PermanentError as exc:
            finish_failed(d, job, job_id, str(exc), attempt)
            return {"status": "failed", "reason": str(exc)}
        except SlackApiError as exc:
            error = slack.slack_error(exc) or ""
            if error not in slack.PERMANENT:
                raise  # transient: rq retries with backoff
            if error in slack.NOT_IN_CHANNEL:
                tell_requester_to_invite(d, job, error)
            finish_failed(d, job, job_id, f"Slack refused the post ({error})", attempt, post_in_thread=False)
            return {"status": "failed", "reason": error}
        update_record(d.redis, job_id, state="done", verdict=str(report.verdict.status))
        release_target(d.redis, job.dedup_key, job_id)
        metrics.JOBS_DONE.labels(str(report.verdict.status)).inc()
        metrics.JOB_DURATION.observe(duration)
        log.info("diagnosis posted", extra={"target": job.dedup_key, "verdict": str(report.verdict.status),
                                            "duration_ms": int(duration * 1000)})
        return {"status": "done", "verdict": report.verdict.to_dict(), "duration_ms": int(duration * 1000)}


def post_report(d: Deps, job: DiagnosisJob, job_id: str, report: Any) -> None:
    """The report as replies in the thread of job.root_ts; the full report as a file when too large."""
    try:
        messages, overflow = render.slack_report(report)
    except ValueError as exc:  # does not fit Slack's limits even split: only the file
        log.warning("report does not fit in messages; attaching it as a file", extra={"error": str(exc)})
        messages, overflow = [], True
    attach_fix_buttons(d, job, job_id, report, messages)  # [Preview] / [Apply fix] on findings with a fix
    if overflow and not messages:
        messages = [render_message("too_large", job=job, verdict=report.verdict, n_findings=len(report.findings),
                                   filename=_filename(job))]
    thread = job.root_ts
    for i, message in enumerate(messages):
        once(d.redis, job_id, f"reply:{i}", lambda search_first, m=message, i=i: post_once(
            d.client, channel=job.channel, thread_ts=thread, marker=f"{job_id}:reply:{i}", search_first=search_first,
            unfurl_links=False, **m))
    if overflow:
        def upload(_search_first: bool) -> str:
            resp = slack.call(
                d.client, "files_upload_v2", channel=job.channel, thread_ts=thread,
                content=render.render_markdown(report), filename=_filename(job),
                title=f"lbhealth report: {job.ref}" + (f" on {job.cluster}" if job.cluster else ""),
            )
            files = resp.get("files") or [resp.get("file") or {}]
            return str(files[0].get("id") or "uploaded")

        once(d.redis, job_id, "file", upload)


def _filename(job: DiagnosisJob) -> str:
    return f"lbhealth-{job.cluster + '-' if job.cluster else ''}{job.namespace}-{job.service}.md"


def tell_requester_to_invite(d: Deps, job: DiagnosisJob, error: str) -> None:
    """Ephemeral "invite the bot" to whoever asked (response_url first: it works outside the channel)."""
    message = render_message("invite", error=error, command_text=f"/lbhealth {job.ref}")
    try:
        if job.response_url:
            requests.post(job.response_url, json={"response_type": "ephemeral", **message}, timeout=5)
        elif job.requested_by:
            slack.call(d.client, "chat_postEphemeral", channel=job.channel, user=job.requested_by, **message)
    except Exception:
        log.warning("could not tell the requester to invite the bot", exc_info=True)


def finish_failed(d: Deps, job: DiagnosisJob, job_id: str, reason: str, attempts: int, *,
                  post_in_thread: bool = True) -> None:
    """After the last attempt: say in the thread that the diagnosis failed and why; update the root."""
    with job_context(job_id):
        log.error("diagnosis failed", extra={"target": job.dedup_key, "reason": reason, "attempts": attempts})
        try:
            if post_in_thread:
                message = render_message("failed", job=job, job_id=job_id, reason=reason, attempts=attempts)
                once(d.redis, job_id, "failed", lambda search_first: post_once(
                    d.client, channel=job.channel, thread_ts=job.root_ts, marker=f"{job_id}:failed",
                    search_first=search_first, **message))
                _root_updater(d, job.origin)(Outcome(job, job_id, d.client, d.redis, error=reason, attempts=attempts))
        except Exception:
            log.exception("could not post the failure")
        finally:
            update_record(d.redis, job_id, state="failed", reason=reason)
            release_target(d.redis, job.dedup_key, job_id)
            metrics.JOBS_FAILED.labels("final").inc()


def _reason(exc_type: Any, exc_value: Any) -> str:
    if exc_type is AbandonedJobError or isinstance(exc_value, AbandonedJobError):
        return "the worker running it stopped (killed or crashed)"
    if exc_type is JobTimeoutException or isinstance(exc_value, JobTimeoutException):
        return f"it took longer than the job timeout ({exc_value})"
    if isinstance(exc_value, SlackApiError):
        return f"Slack API error: {slack.slack_error(exc_value)}"
    name = getattr(exc_type, "__name__", str(exc_type))
    text = str(exc_value) if exc_value is not None else ""
    return f"{name}: {text}" if text else name


def on_job_failure(rq_job: Job, connection: Redis, exc_type: Any, exc_value: Any, tb: Any) -> None:
    """rq failure callback (each failed attempt, and abandoned jobs found by cleanup).

    Only after the last attempt does it post; earlier failures are logged and retried by rq.
    It never raises: rq would record the callback's error instead of the job's.
    """
    try:
        job = DiagnosisJob.model_validate(rq_job.args[0])
        d = deps()
        with job_context(rq_job.id):
            reason = _reason(exc_type, exc_value)
            if rq_job.should_retry:
                kind = "abandoned" if exc_type is AbandonedJobError else "transient"
                metrics.JOBS_FAILED.labels(kind).inc()
                update_record(d.redis, rq_job.id, state="retrying", last_error=reason)
                log.warning("attempt failed; rq will retry", extra={"target": job.dedup_key, "reason": reason,
                                                                     "retries_left": rq_job.retries_left})
                return
            finish_failed(d, job, rq_job.id, reason, _attempts(d.redis, rq_job.id))
    except Exception:
        log.exception("failure callback failed", extra={"job_id": getattr(rq_job, "id", None)})


# --------------------------------------------------------------------------------------------
# The reaper (lbhealth's own workers keep liveness keys: bot.liveness)


def reap_abandoned(redis: Redis) -> list[str]:
    """Expire the StartedJobRegistry entries of jobs whose worker is gone; rq's cleanup re-enqueues them.

    Returns the ids of the jobs handed back.
    """
    queue = get_queue(redis)
    # TimerDeathPenalty: the failure callback runs here, in a thread, where SIGALRM cannot be used.
    registry = StartedJobRegistry(queue=queue, death_penalty_class=TimerDeathPenalty)
    dead: dict[str, float] = {}
    reaped: list[str] = []
    for entry in redis.zrange(registry.key, 0, -1):
        entry_s = entry.decode()
        job_id = entry_s.split(":", 1)[0]
        try:
            job = Job.fetch(job_id, connection=redis, serializer=JSONSerializer)
        except NoSuchJobError:
            continue
        worker_name = job.worker_name
        if not worker_name or redis.exists(alive_key(worker_name)):
            continue
        dead[entry_s] = 0
        reaped.append(job_id)
    if dead:
        redis.zadd(registry.key, dead, xx=True)  # expire them now ...
        registry.cleanup()  # ... and let rq handle them as abandoned (failure callback + Retry)
        for job_id in reaped:
            log.warning("job handed back: its worker is gone", extra={"job_id": job_id})
    return reaped


def enqueue_due_retries(redis: Redis) -> None:
    scheduler = RQScheduler([get_queue(redis)], connection=redis, serializer=JSONSerializer)
    scheduler.prepare_registries([get_queue(redis).name])
    scheduler.enqueue_scheduled_jobs()


class Reaper(threading.Thread):
    def __init__(self, redis: Redis, name: str, interval: float = REAP_INTERVAL) -> None:
        super().__init__(name="lbhealth-reaper", daemon=True)
        self.redis, self.worker_name, self.interval = redis, name, interval
        self.stopped = threading.Event()

    def tick(self) -> None:
        # Due retries: every tick, one process at a time (2 s lock: a dead holder blocks briefly).
        if self.redis.set(f"{PREFIX}lock:retries", self.worker_name, nx=True, px=2000):
            enqueue_due_retries(self.redis)
        if self.redis.set(f"{PREFIX}lock:reaper", self.worker_name, nx=True, px=int(self.interval * 1000)):
            reap_abandoned(self.redis)

    def run(self) -> None:
        while not self.stopped.wait(min(1.0, self.interval)):
            try:
                self.tick()
            except Exception:
                log.warning("reaper tick failed", exc_info=True)

    def stop(self) -> None:
        self.stopped.set()
