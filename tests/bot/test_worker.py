"""Workers in-process (rq SimpleWorker, burst): report posted once, retries, final failure, big reports."""

from __future__ import annotations

import json

import pytest
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from bot import worker
from bot.queue import DiagnosisJob, EnqueueResult, enqueue_diagnosis, get_queue, job_record
from tests.bot.conftest import run_jobs, validate_message


def root(slack_api, channel="C1") -> str:
    return slack_api.wait_for("chat.postMessage")[0].args and next(
        ts for (ch, ts), m in slack_api.messages.items() if ch == channel and "thread_ts" not in m)


def start(redis, client, **fields) -> tuple[DiagnosisJob, EnqueueResult]:
    job = DiagnosisJob(namespace="shop", service="web", cluster="prod", channel="C1", requested_by="U1", **fields)

    def post_root(j):
        return client.chat_postMessage(channel=j.channel, text="root")["ts"]

    return job, enqueue_diagnosis(redis, job, post_root=post_root, retry_intervals=[0, 0, 0], job_timeout=30)


def test_report_is_posted_once_even_when_the_job_runs_twice(redis, slack_api, worker_deps):
    job, result = start(redis, worker_deps.client)
    assert result.created
    run_jobs(redis)
    ts = root(slack_api)
    first = slack_api.thread("C1", ts)
    assert first
    posts = len(slack_api.calls_to("chat.postMessage"))
    # The same job again (as after a crash between posting and finishing): nothing new in the thread.
    out = worker.run_diagnosis(job.model_dump(mode="json"))
    assert out["status"] == "done"
    assert len(slack_api.calls_to("chat.postMessage")) == posts
    assert [m["ts"] for m in slack_api.thread("C1", ts)] == [m["ts"] for m in first]
    assert job_record(redis, job.job_id)["state"] == "done"


def test_transient_slack_error_is_retried_and_parts_are_not_reposted(redis, slack_api, worker_deps):
    job, _ = start(redis, worker_deps.client)
    ts = root(slack_api)
    # First reply goes through; the second fails with a transient error (rq retries the job).
    slack_api.fail("chat.update", error="internal_error")
    run_jobs(redis)
    replies = slack_api.thread("C1", ts)
    texts = [m["text"] for m in replies]
    assert len(texts) == len(set(texts)), "no part of the report posted twice"
    assert len(slack_api.calls_to("chat.update")) == 2  # failed once, then done on the retry
    rq_job = Job.fetch(job.job_id, connection=redis, serializer=JSONSerializer)
    assert rq_job.get_status() == JobStatus.FINISHED
    assert job_record(redis, job.job_id)["attempts"] == "2"


def test_after_the_last_attempt_the_thread_says_why(redis, slack_api, worker_deps):
    job, _ = start(redis, worker_deps.client)
    ts = root(slack_api)
    slack_api.fail("chat.postMessage", error="internal_error", times=4)  # every attempt's first reply
    run_jobs(redis)
    replies = slack_api.thread("C1", ts)
    assert len(replies) == 1
    failed = replies[0]
    validate_message(failed)
    assert "The diagnosis failed after 4 attempts" in failed["blocks"][0]["text"]["text"]
    assert "internal_error" in failed["blocks"][0]["text"]["text"]
    (update,) = slack_api.calls_to("chat.update")
    validate_message(update.args)
    assert update.args["blocks"][0]["text"]["text"].startswith(":x: Could not diagnose *shop/web* on *prod*")
    assert job_record(redis, job.job_id)["state"] == "failed"
    # the target is free again
    again, result = start(redis, worker_deps.client)
    assert result.created


def test_permanent_errors_end_the_job_without_retries(redis, slack_api, worker_deps):
    job = DiagnosisJob(namespace="shop", service="web", cluster="broken", channel="C1")
    enqueue_diagnosis(redis, job, post_root=lambda j: worker_deps.client.chat_postMessage(
        channel="C1", text="root")["ts"], retry_intervals=[0, 0, 0])
    run_jobs(redis)
    ts = root(slack_api)
    (failed,) = slack_api.thread("C1", ts)
    assert "after 1 attempt." in failed["blocks"][0]["text"]["text"]
    assert "dump" in failed["blocks"][0]["text"]["text"]
    assert job_record(redis, job.job_id)["attempts"] == "1"


def test_not_in_channel_while_posting_tells_the_requester(redis, slack_api, worker_deps):
    job, _ = start(redis, worker_deps.client, response_url=slack_api.response_url())
    slack_api.fail("chat.postMessage", error="not_in_channel")
    run_jobs(redis)
    (hint,) = slack_api.wait_for("response_url")
    assert "/invite @lbhealth" in json.dumps(hint.args)
    assert job_record(redis, job.job_id)["state"] == "failed"


def test_rate_limited_posts_are_retried_by_the_client(redis, slack_api, worker_deps):
    start(redis, worker_deps.client)
    slack_api.fail("chat.postMessage", status=429, retry_after=0, times=2)
    run_jobs(redis)
    ts = root(slack_api)
    assert slack_api.thread("C1", ts)
    assert len(slack_api.calls_to("chat.update")) == 1


def _big_report(n: int):
    from checks.model import Finding, Report, Status, Target, Verdict

    findings = [Finding(f"K8S-FAKE-{i:03d}", Status.FAIL, f"finding {i} " + "x" * 200, evidence=["e" * 100] * 5,
                        next_step="kubectl get svc") for i in range(n)]
    return Report(target=Target("shop", "web", "prod"), verdict=Verdict(Status.FAIL, "K8S-FAKE-000", "finding 0"),
                  findings=findings)


def test_too_large_report_goes_into_the_thread_as_a_file(redis, slack_api, worker_deps):
    job = DiagnosisJob(namespace="shop", service="web", cluster="prod", channel="C1",
                       root_ts=worker_deps.client.chat_postMessage(channel="C1", text="root")["ts"])
    report = _big_report(120)
    worker.post_report(worker_deps, job, "big-job", report)
    replies = slack_api.thread("C1", job.root_ts)
    assert replies and all(len(m["blocks"]) <= 50 for m in replies)
    for call in slack_api.calls_to("chat.postMessage")[1:]:
        validate_message(call.args)
    assert "attached as a file" in json.dumps(replies[-1]["blocks"])
    (f,) = slack_api.files.values()
    assert f["thread_ts"] == job.root_ts and f["channel"] == "C1"
    assert b"K8S-FAKE-119" in f["content"]
    # idempotent: posting again adds nothing
    n_calls = len(slack_api.calls)
    worker.post_report(worker_deps, job, "big-job", report)
    assert len(slack_api.calls) == n_calls


def test_root_updaters_are_pluggable_by_origin(redis, slack_api, worker_deps):
    seen = []
    worker_deps.root_updaters["alarm"] = lambda outcome: seen.append((outcome.job.origin, outcome.ok))
    try:
        job = DiagnosisJob(namespace="shop", service="web", cluster="prod", channel="C1", origin="alarm",
                           incident_key="cw:alarm-1")
        enqueue_diagnosis(redis, job, post_root=lambda j: worker_deps.client.chat_postMessage(
            channel="C1", text="incident")["ts"])
        run_jobs(redis)
        assert seen == [("alarm", True)]
        assert slack_api.calls_to("chat.update") == []
    finally:
        worker_deps.root_updaters.pop("alarm", None)


def test_enqueue_is_json_not_pickle(redis, worker_deps):
    job, _ = start(redis, worker_deps.client)
    raw = redis.hget(f"rq:job:{job.job_id}", "data")
    assert raw is not None
    import zlib

    payload = json.loads(zlib.decompress(raw))
    assert payload[0] == "bot.worker.run_diagnosis"
    assert payload[2][0]["service"] == "web"


@pytest.mark.parametrize("burst", [True])
def test_queue_counts(redis, worker_deps, burst):
    from bot.queue import queue_counts

    start(redis, worker_deps.client)
    assert queue_counts(redis)["queued"] == 1
    run_jobs(redis)
    assert queue_counts(redis) == {"queued": 0, "running": 0, "scheduled": 0, "failed": 0}
    assert get_queue(redis).count == 0


def test_job_timeout_ends_in_a_failure_message(redis, slack_api, worker_deps, monkeypatch):
    monkeypatch.setenv(worker.TEST_DELAY_ENV, "3")
    job = DiagnosisJob(namespace="shop", service="web", cluster="prod", channel="C1")
    enqueue_diagnosis(redis, job, post_root=lambda j: worker_deps.client.chat_postMessage(
        channel="C1", text="root")["ts"], retry_intervals=[], job_timeout=1)
    run_jobs(redis)
    (failed,) = slack_api.thread("C1", job.root_ts)
    assert "longer than the job timeout" in failed["blocks"][0]["text"]["text"]
    assert job_record(redis, job.job_id)["state"] == "failed"
