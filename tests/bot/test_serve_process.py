"""`lbhealth serve` as a real process (gunicorn: an arbiter and two pre-forked web processes): a signed
/lbhealth end to end (the intake consumer and the worker run here, as a worker process would), summed
metrics, SIGTERM stops the whole tree."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from bot.queue import get_queue
from tests.bot.conftest import ROOT, command_body, get, post, run_jobs, signed_headers, wait_until
from tests.fakes.redis_server import free_port


def children_of(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                out.append(int(entry))
    return out


def test_serve_process_end_to_end(settings, redis, slack_api, worker_deps, intake, tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "LBHEALTH_", "REDIS_", "PROMETHEUS_"))}
    env.update({"PYTHONPATH": str(ROOT), "REDIS_URL": settings.redis_url, "SLACK_BOT_TOKEN": "xoxb-test",
                "SLACK_SIGNING_SECRET": settings.slack_signing_secret, "SLACK_API_URL": slack_api.url,
                "LBHEALTH_CONFIG": str(settings.lbhealth_config), "LBHEALTH_HTTP_PROCESSES": "2",
                "LBHEALTH_JOB_RETRY_INTERVALS": "0,0,0"})
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _ready(url), timeout=30)
        assert len(children_of(proc.pid)) == 2  # two web processes
        for i in range(4):  # spread over both web processes
            body = command_body(f"shop/web-{i}", response_url=slack_api.response_url(), trigger_id=f"p.{i}")
            status, resp, _ = post(url + "/slack/events", body, signed_headers(body))
            assert (status, resp) == (200, b"")
        body = command_body("shop/web", response_url=slack_api.response_url(), trigger_id="p.x")
        assert post(url + "/slack/events", body, signed_headers(body, secret="wrong"))[0] == 401
        slack_api.wait_for("chat.postMessage", count=4, timeout=20)
        wait_until(lambda: get_queue(redis).count == 4, timeout=10)
        run_jobs(redis)
        assert len(slack_api.calls_to("chat.update")) == 4
        _, text = get(url + "/metrics")
        assert 'lbhealth_commands_total{outcome="accepted"} 4.0' in text.decode()  # summed over processes
        assert 'lbhealth_jobs{state="queued"} 0.0' in text.decode()
    finally:
        kids = children_of(proc.pid)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        log.close()
    for pid in kids:
        assert not os.path.exists(f"/proc/{pid}") or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]


def _ready(url: str) -> bool:
    try:
        return get(url + "/readyz", timeout=1)[0] == 200
    except OSError:
        return False
