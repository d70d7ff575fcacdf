"""Fixtures for the alarm webhooks: a Flask app with the receivers, real Redis, the fake Slack Web API,
SNS messages signed by a local key whose certificate comes from a local certificate source."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
import redis as redis_lib
from flask import Flask

from bot.incidents import Policy
from bot.settings import Settings
from tests.fakes.slack_api import FakeSlackAPI
from tests.webhooks.sns_signing import TOPIC, Signer

ALARM_CHANNEL = "C0ALARMS"
TENCENT_SECRET = "t0p-s3cret-path-token"
EVENTBRIDGE_SECRET = "eb-shared-secret"


@pytest.fixture(scope="session")
def signer() -> Signer:
    return Signer()


@pytest.fixture(scope="session")
def slack_api():
    api = FakeSlackAPI()
    yield api
    api.stop()


@dataclass
class Confirmer:
    calls: list[tuple[str, str, str]] = field(default_factory=list)
    fail: bool = False

    def confirm(self, topic_arn: str, token: str, subscribe_url: str) -> None:
        if self.fail:
            raise RuntimeError("SNS unreachable")
        self.calls.append((topic_arn, token, subscribe_url))


@dataclass
class Harness:
    client: Any
    app: Flask
    redis: Any
    slack: FakeSlackAPI
    confirmer: Confirmer
    hooks: Any
    mapped: dict[str, Any]
    follow: Any  # the workers' follow-up (bot.incidents.followup.FollowUps), run by drain()

    def drain(self) -> None:
        """What a worker does next for every recorded incident: Service, channel, root message, job
        (nothing while Redis is down: a worker waits for it to come back)."""
        try:
            assert self.follow.drain()
        except redis_lib.exceptions.ConnectionError:
            pass

    def rq_jobs(self) -> list[Any]:
        from bot.queue import get_queue

        q = get_queue(self.redis)
        return [q.fetch_job(i) for i in q.job_ids]

    def incident_keys(self) -> list[bytes]:
        return list(self.redis.scan_iter("lbhealth:incident:*"))


def make_settings(**over: Any) -> Settings:
    values = dict(
        lbhealth_sns_topics=TOPIC,
        lbhealth_alarm_channel=ALARM_CHANNEL,
        lbhealth_tencent_webhook_secret=TENCENT_SECRET,
        lbhealth_eventbridge_secret=EVENTBRIDGE_SECRET,
        lbhealth_config=None,
        slack_bot_token="xoxb-test",
    )
    values.update(over)
    return Settings(**values)


def make_harness(redis_url: str, signer: Signer, slack_api: FakeSlackAPI, *, settings: Settings | None = None,
                 mapping: dict[str, Any] | None = None, policy: Policy | None = None, follow_started: bool = False,
                 **deps: Any) -> Harness:
    from bot.app import alarm_follow_ups
    from bot.slack.client import web_client
    from bot.webhooks.routes import register

    r = redis_lib.Redis.from_url(redis_url)
    mapped: dict[str, Any] = {"calls": 0}

    def mapper(alarm):
        mapped["calls"] += 1
        return mapping

    confirmer = Confirmer()
    app = Flask("test-webhooks")
    settings = settings or make_settings()
    policy = policy or Policy(update_every=0.2)
    slack = web_client("xoxb-test", slack_api.url)
    values = {
        "settings": settings,
        "redis": r,
        "slack": slack,
        "cert_source": signer.source,
        "confirmer": confirmer,
        "policy": policy,
    }
    values.update(deps)
    hooks = register(app, values)
    follow = alarm_follow_ups(settings, r, values["slack"], mapper=mapper, policy=policy)
    if follow_started:
        follow.start()
    return Harness(app.test_client(), app, r, slack_api, confirmer, hooks, mapped, follow)


@pytest.fixture
def harness(redis_url, signer, slack_api):
    slack_api.reset()
    h = make_harness(redis_url, signer, slack_api, mapping={"services": ["shop/web"], "cluster": None, "how": "TargetGroupBinding shop/k8s-shop-web", "why": None, "lb": {}})
    yield h
    h.hooks.desk.close()
    h.follow.stop()
    h.redis.close()
