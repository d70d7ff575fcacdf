"""Fixtures for the Slack bot and workers: the fake Slack Web API, a dump-backed cluster config,
the real web app on a loopback port, signed Slack requests, in-process burst workers."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import pytest
import redis as redis_lib
from slack_sdk.signature import SignatureVerifier

from bot.settings import Settings
from tests.fakes.slack_api import FakeSlackAPI

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@pytest.fixture
def slack_api():
    api = FakeSlackAPI()
    yield api
    api.stop()


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "lbhealth.yaml"
    path.write_text(
        "clusters:\n"
        f"  - name: prod\n    default: true\n    sources: [{EXAMPLES / 'targetport-mismatch'}]\n"
        f"  - name: staging\n    sources: [{EXAMPLES / 'healthy'}]\n"
        f"  - name: broken\n    sources: [{tmp_path / 'no-such-dump'}]\n",
        encoding="utf-8",
    )
    return path


def make_settings(redis_url: str, slack_url: str, config: Path, **overrides) -> Settings:
    values = dict(
        slack_bot_token="xoxb-test",
        slack_signing_secret=SECRET,
        slack_api_url=slack_url,
        redis_url=redis_url,
        lbhealth_config=config,
        lbhealth_job_retry_intervals="0,0,0",  # immediate retries: burst workers pick them up
        lbhealth_job_timeout=60,
        lbhealth_max_body_bytes=64 * 1024,
        lbhealth_command_retry_backoff="0.2,0.5,1",  # the intake's retries, compressed from 5,10,30,60 s
    )
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(redis_url, slack_api, config_file) -> Settings:
    return make_settings(redis_url, slack_api.url, config_file)


@pytest.fixture
def redis(settings):
    client = redis_lib.Redis.from_url(settings.redis_url)
    yield client
    client.close()


@pytest.fixture
def worker_deps(settings, redis):
    """Jobs run in this process use these (the fake Slack API, the suite's Redis)."""
    from bot import job_runtime
    from bot.app import worker_deps as build_worker_deps

    deps = build_worker_deps(settings, redis=redis)
    job_runtime.configure(deps)
    yield deps
    job_runtime.configure(None)


def run_jobs(redis) -> bool:
    """Drain the queue with an in-process rq SimpleWorker (burst), as `lbhealth worker --burst` does."""
    from bot.worker import Reaper
    from bot.worker_process import make_worker

    Reaper(redis, "test").tick()  # due retries
    return make_worker(redis).work(burst=True, logging_level="WARNING")


class Server:
    def __init__(self, app) -> None:
        from waitress.server import create_server

        self.server = create_server(app, host="127.0.0.1", port=0, threads=8, ident="lbhealth-test")
        self.url = f"http://127.0.0.1:{self.server.effective_port}"
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.close()


@pytest.fixture
def intake(settings, redis, worker_deps):
    """The intake consumer (a child process of `lbhealth serve`), here as threads in the test process."""
    from bot.slack.intake import IntakeConsumer
    from bot.slack.starter import CommandStarter

    starter = CommandStarter(settings, redis, worker_deps.client)
    consumer = IntakeConsumer(settings, redis, starter, threads=4, poll=0.1, recover_every=0.1).start()
    yield consumer
    consumer.stop()


@pytest.fixture
def web(settings, redis, worker_deps, intake):
    """The real web app (bot.app.build_app, as `lbhealth serve` builds it) served on a loopback port."""
    from bot.app import build_app

    app = build_app(settings)
    server = Server(app.flask)
    yield server
    server.stop()
    app.close()


def command_body(text: str, *, response_url: str, trigger_id: str | None = "111.222.abc", channel: str = "C111",
                 user: str = "U111", command: str = "/lbhealth") -> str:
    fields = {
        "token": "verification_token", "team_id": "T111", "team_domain": "test", "channel_id": channel,
        "channel_name": "incidents", "user_id": user, "user_name": "oncall", "command": command, "text": text,
        "api_app_id": "A111", "response_url": response_url,
    }
    if trigger_id:
        fields["trigger_id"] = trigger_id
    return urlencode(fields)


def signed_headers(body: str, *, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    sig = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig,
            "Content-Type": "application/x-www-form-urlencoded"}


def post(url: str, body: str | bytes, headers: dict[str, str], timeout: float = 10) -> tuple[int, bytes, dict]:
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def get(url: str, timeout: float = 10) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout:.1f}s")


def validate_message(message: dict) -> None:
    """Slack would accept it: Block Kit models parse and validate every block; limits hold."""
    from slack_sdk.models.blocks import Block

    blocks = message.get("blocks") or []
    assert isinstance(message.get("text"), str) and message["text"], "fallback text is required"
    assert len(blocks) <= 50
    for raw in blocks:
        block = Block.parse(raw)
        assert block is not None, raw
        block.validate_json()
        if raw.get("type") == "section":
            assert len(raw["text"]["text"]) <= 3000
