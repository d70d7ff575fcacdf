"""The composition root: everything `lbhealth serve` and `lbhealth worker` run is built here, from Settings.

    app = build_app(settings)          # the web app: Flask + bolt + every origin of work
    wsgi = create_wsgi_app(settings)   # what gunicorn serves (bot.serve), one per web process
    deps = worker_deps(settings)       # what jobs use in a worker process (bot.worker_process)

Where a request enters and where it goes:
    POST /slack/events     bot.http (signature check by bolt) -> bot.slack.commands (parse, record, ack)
                           -> intake list -> bot.slack.starter in a worker (root message, job on rq)
    POST /webhooks/...     bot.webhooks.routes (verify, parse) -> bot.incidents.desk (record, ack)
                           -> pending set -> bot.incidents.followup in a worker (Service, root message, job on rq)
    rq job                 bot.worker.run_diagnosis -> checks.runner -> bot.render -> Slack (posted once)

    POST /slack/events     (buttons) bot.slack.actions (authorise, claim) -> rq job bot.approvals_jobs

Origins of work are registered explicitly, in one place (ORIGINS); each is a function
`register(app, deps)`. To add one, write its register function next to its code and append it to
ORIGINS. Nothing registers itself on import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import slack_bolt
from flask import Flask
from redis import Redis
from slack_sdk import WebClient

from bot import job_runtime, worker
from bot.http import create_flask
from bot.incidents import Incidents, Policy, update_alarm_root
from bot.incidents.followup import FollowUps
from bot.incidents.routing import AlarmRouter
from bot.queue import enqueue_diagnosis
from bot.readiness import RedisHealth
from bot.redis_conn import redis_client
from bot.settings import Settings
from bot.slack import commands
from bot.slack.actions import register_fix_actions
from bot.slack.app import new_bolt_app
from bot.slack.client import client_from_settings
from bot.webhooks import routes
from bot.webhooks.jobs import Mapper, prepare_alarm_job


@dataclass
class Deps:
    """What the origins of work share in a web process."""

    settings: Settings
    redis: Redis  # the web tier's client: short timeouts (bot.redis_conn)
    slack: WebClient
    health: RedisHealth
    webhook_options: dict[str, Any] = field(default_factory=dict)  # tests: cert_source, confirmer, policy, ...


@dataclass
class App:
    flask: Flask
    bolt: slack_bolt.App
    deps: Deps
    webhooks: routes.WebhookApp | None = None

    def close(self) -> None:
        if self.webhooks is not None:
            self.webhooks.desk.close()


Origin = Callable[[App, Deps], None]


def register_commands(app: App, deps: Deps) -> None:
    commands.register(app.bolt, deps.settings, deps.redis)


def register_alarm_webhooks(app: App, deps: Deps) -> None:
    options = {"settings": deps.settings, "redis": deps.redis, "slack": deps.slack}
    app.webhooks = routes.register(app.flask, {**options, **deps.webhook_options})


def register_fix_approvals(app: App, deps: Deps) -> None:
    register_fix_actions(app.bolt, deps.settings, deps.redis, deps.slack)


# Every origin of work, registered in this order by build_app.
ORIGINS: list[Origin] = [register_commands, register_alarm_webhooks, register_fix_approvals]


def build_app(settings: Settings, *, redis: Redis | None = None, slack: WebClient | None = None,
              socket_mode: bool = False, verify_token: bool = False,
              webhook_options: dict[str, Any] | None = None) -> App:
    redis = redis if redis is not None else redis_client(settings, role="web")
    slack = slack if slack is not None else client_from_settings(settings)
    deps = Deps(settings, redis, slack, RedisHealth(redis, "web"), dict(webhook_options or {}))
    bolt = new_bolt_app(settings, slack, socket_mode=socket_mode, verify_token=verify_token)
    app = App(create_flask(settings, redis, bolt, deps.health), bolt, deps)
    for register in ORIGINS:
        register(app, deps)
    return app


def create_wsgi_app(settings: Settings) -> Flask:
    """The WSGI app of one web process (gunicorn calls this after the fork: no thread, no socket inherited)."""
    return build_app(settings, verify_token=True).flask


def worker_deps(settings: Settings, *, redis: Redis | None = None, client: WebClient | None = None) -> job_runtime.Deps:
    """What jobs use in a worker process, with each origin's root-message updater and job preparer."""
    return job_runtime.Deps(
        settings=settings,
        redis=redis if redis is not None else redis_client(settings, role="worker"),
        client=client if client is not None else client_from_settings(settings),
        root_updaters={"command": worker.update_command_root, "alarm": update_alarm_root},
        job_preparers={"alarm": prepare_alarm_job},
    )


def alarm_follow_ups(settings: Settings, redis: Redis, client: WebClient, *, mapper: Any = None,
                     policy: Policy | None = None, warm: bool = False) -> FollowUps:
    """What a worker process runs for new incidents: the Service behind the alarm (with the worker's
    read grants), the channel, the root message and the diagnosis job (`start()` runs its threads)."""
    if mapper is None:
        mapper = Mapper(redis, settings, timeout=settings.lbhealth_alarm_map_timeout)
        if warm:
            mapper.warm()
    policy = policy or Policy(rediagnose_after=settings.lbhealth_alarm_rediagnose_after,
                              flap_window=settings.lbhealth_alarm_flap_window)
    return FollowUps(Incidents(redis, policy), slack=client, enqueue=enqueue_diagnosis,
                     route=AlarmRouter(settings, redis), mapper=mapper,
                     threads=settings.lbhealth_alarm_follow_up_threads)
