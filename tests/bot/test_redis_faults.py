"""Redis that hangs (SIGSTOP) or is down: the web tier answers within ~1 s and says what is true;
`lbhealth serve` and `lbhealth worker` start and keep running without Redis and recover when it comes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis as redis_lib

from bot.app import alarm_follow_ups, build_app
from bot.redis_conn import redis_client
from bot.slack import commands
from bot.slack.intake import IntakeConsumer
from bot.slack.starter import CommandStarter
from tests.bot.conftest import (
    ROOT,
    Server,
    command_body,
    get,
    make_settings,
    post,
    signed_headers,
    wait_until,
)
from tests.bot.test_serve_process import children_of
from tests.fakes.redis_server import RedisServer, free_port
from tests.webhooks import payloads as p

TENCENT_SECRET = "t0p-s3cret"
ANSWER_BAR_S = 1.0


@pytest.fixture
def own_redis():
    """A redis-server of this test alone (it is stopped with SIGSTOP)."""
    server = RedisServer()
    yield server
    os.kill(server.proc.pid, signal.SIGCONT)
    server.stop()


def test_a_hung_redis_costs_acks_and_webhooks_at_most_a_second_and_their_answers_are_true(
        own_redis, slack_api, config_file, worker_deps):
    settings = make_settings(own_redis.url, slack_api.url, config_file, lbhealth_tencent_webhook_secret=TENCENT_SECRET,
                             lbhealth_alarm_channel="C0ALARMS")
    app = build_app(settings)
    web = Server(app.flask)
    worker_redis = redis_client(settings, role="worker")
    consumer = IntakeConsumer(settings, worker_redis, CommandStarter(settings, worker_redis, worker_deps.client),
                              threads=2, poll=0.2, recover_every=0.2)
    try:
        first = command_body("shop/web-0", response_url=slack_api.response_url(), trigger_id="warm.0")
        assert post(web.url + "/slack/events", first, signed_headers(first))[:2] == (200, b"")  # warm connections

        os.kill(own_redis.proc.pid, signal.SIGSTOP)
        stopped_at = time.monotonic()

        def command(i: int):
            body = command_body(f"shop/web-{i}", response_url=slack_api.response_url(), trigger_id=f"hang.{i}")
            t0 = time.monotonic()
            status, resp, _ = post(web.url + "/slack/events", body, signed_headers(body), timeout=5)
            return f"hang.{i}", status, resp, time.monotonic() - t0

        def alarm(i: int):
            t0 = time.monotonic()
            status, resp, _ = post(web.url + f"/webhooks/tencent/{TENCENT_SECRET}",
                                   json.dumps(p.tencent_clb(session=f"hang-{i}")),
                                   {"Content-Type": "application/json"}, timeout=5)
            return status, resp, time.monotonic() - t0

        with ThreadPoolExecutor(8) as pool:
            acks = list(pool.map(command, range(1, 7)))
            alarms = list(pool.map(alarm, range(1, 4)))
        assert time.monotonic() - stopped_at < 15  # all answered while Redis was still stopped
        print(f"Redis stopped: acks max {max(a[3] for a in acks) * 1000:.0f} ms "
              f"({sorted(json.loads(a[2])['text'][:20] for a in acks)}), webhooks max "
              f"{max(a[2] for a in alarms) * 1000:.0f} ms (503)")
        for _trigger, status, resp, took in acks:
            assert status == 200 and took < ANSWER_BAR_S, (status, took)
            text = json.loads(resp).get("text", "") if resp else ""
            assert text in (commands.NOT_QUEUED, commands.MAYBE_LATE)
        for status, resp, took in alarms:
            assert status == 503 and took < ANSWER_BAR_S, (status, resp, took)

        time.sleep(max(0.0, 15 - (time.monotonic() - stopped_at)))
        os.kill(own_redis.proc.pid, signal.SIGCONT)
        consumer.start()
        # The truth of each answer: "may start late" ones do start (once); "nothing was queued" ones never do.
        maybe = {t for t, _s, resp, _ in acks if json.loads(resp)["text"] == commands.MAYBE_LATE}
        never = {t for t, _s, resp, _ in acks if json.loads(resp)["text"] == commands.NOT_QUEUED}
        wait_until(lambda: {"warm.0", *maybe} <= started(slack_api), timeout=20)
        time.sleep(1.0)
        assert not (never & started(slack_api))
        assert len(slack_api.roots("C111")) == 1 + len(maybe)
        # The alarms answered 503 are retried by their sender; whatever Redis did meanwhile, one incident each.
        for i in range(1, 4):
            status, resp, _ = post(web.url + f"/webhooks/tencent/{TENCENT_SECRET}",
                                   json.dumps(p.tencent_clb(session=f"hang-{i}")), {"Content-Type": "application/json"})
            assert status == 200 and json.loads(resp)["retCode"] == 0
        follow = alarm_follow_ups(settings, worker_redis, worker_deps.client, mapper=lambda alarm: None)
        assert follow.drain()  # what the workers do next
        follow.stop()
        assert len(slack_api.roots("C0ALARMS")) == 1  # three deliveries of one alarm episode: one thread
    finally:
        consumer.stop()
        web.stop()
        app.close()


def started(slack_api) -> set[str]:
    keys = [m.get("metadata", {}).get("event_payload", {}).get("key", "") for m in slack_api.roots("C111")]
    return {k.rsplit(":", 1)[-1] for k in keys if k.startswith("command:")}


def spawn(module_args: list[str], env_extra: dict[str, str], log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "LBHEALTH_", "REDIS_", "PROMETHEUS_"))}
    env.update({"PYTHONPATH": str(ROOT), "LBHEALTH_LOG_LEVEL": "INFO", **env_extra})
    out = open(log, "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen([sys.executable, "-m", *module_args], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def lines(log: Path, text: str) -> int:
    return sum(text in line for line in log.read_text(errors="replace").splitlines())


def test_serve_and_worker_start_without_redis_and_recover_when_it_comes(slack_api, config_file, tmp_path):
    redis_port, web_port = free_port(), free_port()
    env = {"REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "SLACK_BOT_TOKEN": "xoxb-test",
           "SLACK_SIGNING_SECRET": "s3cret", "SLACK_API_URL": slack_api.url, "LBHEALTH_CONFIG": str(config_file),
           "LBHEALTH_HTTP_PROCESSES": "2"}
    serve_log, worker_log = tmp_path / "serve.log", tmp_path / "worker.log"
    serve = spawn(["bot.cli", "serve", "--host", "127.0.0.1", "--port", str(web_port)], env, serve_log)
    worker = spawn(["bot.worker_process"], env, worker_log)
    url = f"http://127.0.0.1:{web_port}"
    server = None
    try:
        wait_until(lambda: _status(url + "/healthz") == 200, timeout=30)
        assert _status(url + "/readyz") == 503
        web_pids = set(children_of(serve.pid))
        time.sleep(3)
        assert serve.poll() is None and worker.poll() is None  # both keep running
        assert set(children_of(serve.pid)) == web_pids  # no restart
        assert 1 <= lines(serve_log, "Redis unavailable") <= 2  # one line per web process
        assert lines(worker_log, "Redis unavailable") == 1
        server = RedisServer(port=redis_port)
        wait_until(lambda: _status(url + "/readyz") == 200, timeout=10)
        wait_until(lambda: lines(worker_log, "worker started") == 1, timeout=40)  # backoff up to 30 s
        assert lines(serve_log, "Redis available again") >= 1
        r = redis_lib.Redis.from_url(env["REDIS_URL"])
        body = command_body("shop/web", response_url=slack_api.response_url(), trigger_id="down.1")
        assert post(url + "/slack/events", body, signed_headers(body, secret="s3cret"))[:2] == (200, b"")
        wait_until(lambda: slack_api.wait_for("chat.update", timeout=30), timeout=30)  # started and diagnosed
        r.close()
    finally:
        stop(serve)
        stop(worker)
        if server is not None:
            server.stop()
    for log in (serve_log, worker_log):
        assert "Traceback" not in log.read_text(errors="replace"), log.read_text(errors="replace")[-3000:]


def _status(url: str) -> int:
    try:
        return get(url, timeout=2)[0]
    except OSError:
        return 0
