"""Fix jobs have a queue of their own when LBHEALTH_FIX_QUEUE names one, and `lbhealth worker
--queue` runs only that queue: the Helm chart's writer (its own ServiceAccount) runs fix jobs, the
read-only diagnosis workers never do. Real Redis, real worker processes."""

from __future__ import annotations

import os
import subprocess
import sys

from redis import Redis

from bot import approvals_jobs
from bot.queue import QUEUE_NAME, get_queue
from bot.settings import Settings
from tests.bot.conftest import ROOT

FIXES = "lbhealth-fixes"


def run_worker(redis_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "LBHEALTH_", "REDIS_"))}
    env.update({"PYTHONPATH": str(ROOT), "REDIS_URL": redis_url, "SLACK_BOT_TOKEN": "xoxb-test",
                "SLACK_API_URL": "http://127.0.0.1:9/api/"})
    return subprocess.run([sys.executable, "-m", "bot.cli", "worker", "--burst", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_fix_jobs_go_to_the_configured_queue(redis_url, monkeypatch):
    """bot.slack.actions enqueues every fix job with settings.lbhealth_fix_queue (LBHEALTH_FIX_QUEUE)."""
    redis = Redis.from_url(redis_url)
    monkeypatch.setenv("LBHEALTH_FIX_QUEUE", FIXES)
    approvals_jobs.enqueue(redis, Settings().lbhealth_fix_queue, "os.getpid", {"id": "abc"}, job_id="fix-abc")
    assert get_queue(redis, FIXES).job_ids == ["fix-abc"] and get_queue(redis).job_ids == []
    monkeypatch.delenv("LBHEALTH_FIX_QUEUE")
    approvals_jobs.enqueue(redis, Settings().lbhealth_fix_queue, "os.getpid", {"id": "def"}, job_id="fix-def")
    assert get_queue(redis).job_ids == ["fix-def"]  # without the chart: one queue, one kind of worker


def test_worker_runs_only_its_queue(redis_url):
    redis = Redis.from_url(redis_url)
    fix = get_queue(redis, FIXES).enqueue("os.getcwd", job_id="fix-1")
    diagnosis = get_queue(redis, QUEUE_NAME).enqueue("os.getcwd", job_id="diag-1")
    done = run_worker(redis_url, "--queue", FIXES)
    assert done.returncode == 0, done.stderr
    assert fix.get_status(refresh=True) == "finished"
    assert diagnosis.get_status(refresh=True) == "queued"  # not the writer's to run
