"""Workers as real processes: SIGKILL mid-job (another worker completes it, report posted once),
SIGTERM mid-job (warm shutdown finishes the job in hand; a second SIGTERM hands it back)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.queue import DiagnosisJob, enqueue_diagnosis, job_record
from bot.slack.client import web_client
from bot.worker import TEST_DELAY_ENV
from tests.bot.conftest import ROOT, wait_until

RECOVERY_BAR_S = 60


def spawn(settings, log: Path, *, name: str, delay: float | None = None, extra=()) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "LBHEALTH_", "REDIS_"))}
    env.update({
        "PYTHONPATH": str(ROOT), "REDIS_URL": settings.redis_url, "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_API_URL": settings.slack_api_url, "LBHEALTH_CONFIG": str(settings.lbhealth_config),
        "LBHEALTH_LOG_LEVEL": "INFO",
    })
    if delay:
        env[TEST_DELAY_ENV] = str(delay)
    out = open(log, "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen([sys.executable, "-m", "bot.worker_process", "--name", name, *extra], cwd=ROOT, env=env,
                            stdout=out, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def enqueue(settings, redis, client, intervals=(1, 2, 5)) -> DiagnosisJob:
    job = DiagnosisJob(namespace="shop", service="web", cluster="prod", channel="C1", requested_by="U1")
    enqueue_diagnosis(redis, job, post_root=lambda j: client.chat_postMessage(channel="C1", text="root")["ts"],
                      retry_intervals=list(intervals), job_timeout=60)
    return job


@pytest.fixture
def logs(tmp_path):
    yield tmp_path
    for f in tmp_path.glob("*.log"):
        print(f"--- {f.name}\n{f.read_text(errors='replace')[-4000:]}")


def test_sigkilled_worker_job_completes_on_another_worker_within_60s(settings, redis, slack_api, logs):
    client = web_client("xoxb-test", slack_api.url)
    job = enqueue(settings, redis, client)
    root_ts = job.root_ts
    a = spawn(settings, logs / "a.log", name="worker-a", delay=30)
    b = None
    try:
        wait_until(lambda: job_record(redis, job.job_id).get("state") == "running", timeout=20)
        b = spawn(settings, logs / "b.log", name="worker-b")
        time.sleep(0.5)
        os.kill(a.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        a.wait(5)
        slack_api.wait_for("chat.update", timeout=RECOVERY_BAR_S)
        recovery = time.monotonic() - killed_at
        print(f"recovered {recovery:.1f}s after SIGKILL")
        assert recovery < RECOVERY_BAR_S
        record = wait_until(lambda: (r := job_record(redis, job.job_id))["state"] == "done" and r, timeout=5)
        assert record["attempts"] == "2"
        replies = slack_api.thread("C1", root_ts)
        assert replies and len({m["text"] for m in replies}) == len(replies)
        time.sleep(1)  # nothing else arrives late
        assert len(slack_api.calls_to("chat.update")) == 1
        assert len(slack_api.thread("C1", root_ts)) == len(replies)
    finally:
        stop(a)
        if b is not None:
            stop(b)


def test_sigterm_finishes_the_job_in_hand(settings, redis, slack_api, logs):
    client = web_client("xoxb-test", slack_api.url)
    job = enqueue(settings, redis, client)
    w = spawn(settings, logs / "w.log", name="worker-warm", delay=2)
    try:
        wait_until(lambda: job_record(redis, job.job_id).get("state") == "running", timeout=20)
        w.send_signal(signal.SIGTERM)
        assert w.wait(30) == 0
        assert len(slack_api.calls_to("chat.update")) == 1  # finished before exiting
        assert job_record(redis, job.job_id)["state"] == "done"
        assert len(slack_api.calls_to("chat.update")) == 1
        assert slack_api.thread("C1", job.root_ts)
    finally:
        stop(w)


def test_second_sigterm_hands_the_job_back(settings, redis, slack_api, logs):
    client = web_client("xoxb-test", slack_api.url)
    job = enqueue(settings, redis, client, intervals=(0, 0, 0))
    w = spawn(settings, logs / "cold.log", name="worker-cold", delay=30)
    other = None
    try:
        wait_until(lambda: job_record(redis, job.job_id).get("state") == "running", timeout=20)
        w.send_signal(signal.SIGTERM)
        time.sleep(1.2)  # rq ignores a second signal within 1 s (duplicate delivery)
        w.send_signal(signal.SIGTERM)  # cold shutdown: do not wait for the job
        w.wait(10)
        handed_back_at = time.monotonic()
        other = spawn(settings, logs / "other.log", name="worker-other")
        slack_api.wait_for("chat.update", timeout=30)
        print(f"handed back and completed in {time.monotonic() - handed_back_at:.1f}s")
        wait_until(lambda: job_record(redis, job.job_id)["state"] == "done", timeout=5)
    finally:
        stop(w)
        if other is not None:
            stop(other)


def test_concurrency_supervisor_runs_n_processes_in_burst(settings, redis, slack_api, logs):
    client = web_client("xoxb-test", slack_api.url)
    jobs = []
    for svc in ("web", "api", "cart"):
        job = DiagnosisJob(namespace="shop", service=svc, cluster="prod", channel="C1")
        enqueue_diagnosis(redis, job, post_root=lambda j: client.chat_postMessage(channel="C1", text="r")["ts"])
        jobs.append(job)
    proc = spawn(settings, logs / "pool.log", name="pool", extra=("--concurrency", "2", "--burst"))
    try:
        assert proc.wait(60) == 0
    finally:
        stop(proc)
    assert {job_record(redis, j.job_id)["state"] for j in jobs} == {"done"}
