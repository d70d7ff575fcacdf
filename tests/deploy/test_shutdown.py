"""The chart's termination grace covers rq's warm shutdown: on SIGTERM a worker finishes the job in hand,
so each pod waits longer than the longest job it can hold. Jobs are enqueued here as the processes do
(the rendered environment, read by Settings) into a real Redis, and their rq timeouts read back."""

from __future__ import annotations

import redis as redis_lib
from rq.job import Job
from rq.serializers import JSONSerializer

from bot.approvals_jobs import EXECUTE_JOB, FIX_JOB_TIMEOUT, enqueue
from bot.queue import DiagnosisJob, enqueue_diagnosis
from tests.deploy.chart import container_env, named, render

VALUES = {"worker": {"jobTimeout": 300}, "fixes": {"enabled": True}}


def grace(name: str) -> int:
    return named(render(VALUES), "Deployment", name)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]


def test_diagnosis_jobs_of_every_origin_fit_in_the_workers_grace(redis_url, monkeypatch):
    timeouts = {container_env(VALUES, d)["LBHEALTH_JOB_TIMEOUT"] for d in ("lbhealth-serve", "lbhealth-worker", "lbhealth-writer")}
    assert timeouts == {"300"}  # whoever enqueues a diagnosis gives it the same timeout
    monkeypatch.setenv("LBHEALTH_JOB_TIMEOUT", timeouts.pop())
    r = redis_lib.Redis.from_url(redis_url)
    try:
        for origin in ("command", "alarm"):  # alarms are enqueued without an explicit timeout
            job = DiagnosisJob(namespace="shop", service=f"web-{origin}", channel="C0123ABCD", origin=origin)
            enqueue_diagnosis(r, job, retry_intervals=[])
            timeout = Job.fetch(job.job_id, connection=r, serializer=JSONSerializer).timeout
            assert timeout == 300 < grace("lbhealth-worker"), origin
    finally:
        r.close()


def test_fix_jobs_fit_in_the_writers_grace(redis_url):
    r = redis_lib.Redis.from_url(redis_url)
    try:
        queue = container_env(VALUES, "lbhealth-writer")["LBHEALTH_FIX_QUEUE"]
        enqueue(r, queue, EXECUTE_JOB, {"id": "fix-1"}, "fix-1")
        assert Job.fetch("fix-1", connection=r, serializer=JSONSerializer).timeout == FIX_JOB_TIMEOUT < grace("lbhealth-writer")
    finally:
        r.close()
