"""`/lbhealth`, within Slack's 3 s: parse, record the command in Redis, acknowledge with the truth.

    /lbhealth shop/web            /lbhealth web -n shop --cluster prod            /lbhealth help

Bad text gets its usage reply in the acknowledgement and nothing is queued. A valid command is
pushed, as it is, onto the intake list (bot.slack.intake.submit) and acknowledged; the rest (dedup,
root message, enqueue) runs in the intake consumer, in the worker processes. What the
acknowledgement says matches what happened in Redis: empty when the command was recorded; "nothing
was queued" only when it certainly was not (Redis refused or could not be reached); "may start
late" when Redis took the command but did not confirm it in time (it hangs: the command runs when
it wakes up, and a retype never starts a second diagnosis of the same Service).

Why the listener runs inline and does no Slack call (measured with bench/slack_ack.py): bolt's lazy
listeners deep-copy the request (0.66 ms of 1.5 ms a command) and any follow-up work in the web
process competes with acknowledgements for the GIL (ack p99 340-480 ms under 200 commands); one
RPUSH costs ~0.03 ms of CPU, and an accepted command survives a crash of the web process.
Why a Redis list and not an rq job straight from the web process: rq's enqueue cost 0.23-0.30 ms of
CPU and 1.1-1.8 ms of wall time here against 0.03 ms and 0.12-0.16 ms for one RPUSH (2,000 each,
loopback Redis), and it is several round trips, each of which could hang with Redis.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from redis import Redis
from slack_bolt import Ack, App, BoltRequest

from bot import metrics
from bot.policy import Access, Decision, not_here
from bot.render import mrkdwn, render_message
from bot.settings import ClusterConfig, Settings
from bot.slack import intake
from bot.slack.grammar import Command, UsageError, parse_command

log = logging.getLogger("lbhealth.slack")

COMMAND = re.compile(r"^/lbhealth")  # also /lbhealth-staging etc. (one app per environment)

NOT_QUEUED = ("Sorry, lbhealth cannot take work right now: its Redis cannot be reached, so nothing was queued. "
              "Try again in a minute.")
MAYBE_LATE = ("lbhealth's Redis is slow and did not confirm your command in time: it may still start, late. "
              "If no thread appears within a few minutes, run it again (a repeat never starts a second "
              "diagnosis of the same Service).")


def register(bolt: App, settings: Settings, redis: Redis) -> None:
    """Attach the /lbhealth listener (called by the composition root, bot.app)."""
    handler = CommandAck(settings, redis)
    bolt.command(COMMAND)(handler.command)
    bolt.error(handler.error)


def parse(settings: Settings, body: dict[str, Any]) -> tuple[Command | None, str | None, ClusterConfig | None]:
    """(command, error, cluster config). Pure: the config is cached; no network."""
    try:
        cmd = parse_command(body.get("text"))
    except UsageError as exc:
        return None, str(exc), None
    if cmd.help:
        return cmd, None, None
    try:
        cluster = settings.cluster(cmd.target.cluster)
    except ValueError:  # ConfigError: unknown cluster; answered as a cluster not allowed here would be
        return None, not_here(cmd.target.cluster), None
    return cmd, None, cluster


def access(settings: Settings, body: dict[str, Any], cluster: ClusterConfig | None) -> Decision:
    """Workspace and channel rules (bot.policy), decided without I/O."""
    try:
        rules = Access(settings.file_config())
    except ValueError as exc:  # an unreadable config allows nothing
        return Decision(False, f"lbhealth's configuration cannot be read ({exc}).")
    return rules.command(team_id=body.get("team_id"), channel_id=body.get("channel_id"), cluster=cluster)


def usage(command: str | None, settings: Settings, error: str | None = None,
          channel_id: str | None = None) -> dict[str, Any]:
    """Usage, listing only the clusters that may be diagnosed from this channel."""
    try:
        config = settings.file_config()
    except ValueError:
        config = None
    here = set(Access(config).clusters_here(channel_id)) if config else set()
    clusters = [c for c in (config.clusters if config else []) if c.name in here]
    default = next((c.name for c in clusters if c.default), clusters[0].name if len(clusters) == 1 else None)
    return render_message(
        "usage", error=error, command=command or "/lbhealth", clusters=[c.name for c in clusters],
        default_cluster=default, example_cluster=(clusters[0].name if clusters else None),
    )


class CommandAck:
    def __init__(self, settings: Settings, redis: Redis) -> None:
        self.settings = settings
        self.redis = redis

    def command(self, ack: Ack, body: dict[str, Any], request: BoltRequest) -> None:
        cmd, error, cluster = parse(self.settings, body)
        allowed = access(self.settings, body, cluster)  # help and bad input: the workspace rule only
        if not allowed:
            metrics.COMMANDS.labels("denied").inc()
            log.info("command refused by the access policy", extra={"channel": body.get("channel_id"),
                                                                    "team": body.get("team_id")})
            ack(response_type="ephemeral", **render_message("notice", text=allowed.reason))
            return
        if error is not None:
            metrics.COMMANDS.labels("bad_input").inc()
            ack(**usage(body.get("command"), self.settings, error, body.get("channel_id")))
            return
        if cmd is not None and cmd.help:
            metrics.COMMANDS.labels("help").inc()
            ack(**usage(body.get("command"), self.settings, channel_id=body.get("channel_id")))
            return
        retry = (request.headers.get("x-slack-retry-num") or [None])[0]
        outcome = intake.submit(self.redis, body, retry)
        metrics.COMMANDS.labels({intake.RECORDED: "accepted", intake.NOT_RECORDED: "not_queued",
                                 intake.UNCONFIRMED: "unconfirmed"}[outcome]).inc()
        if outcome == intake.RECORDED:
            ack()
        else:
            ack(**render_message("notice", text=mrkdwn(NOT_QUEUED if outcome == intake.NOT_RECORDED else MAYBE_LATE)))

    def error(self, error: Exception, body: dict[str, Any]) -> None:
        metrics.COMMANDS.labels("error").inc()
        log.error("listener error", exc_info=error)
