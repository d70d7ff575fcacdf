"""The bolt app: `/lbhealth` (HTTP mode through bot.http, or Socket Mode through bot.server).

    /lbhealth shop/web            /lbhealth web -n shop --cluster prod            /lbhealth help

The command is acknowledged first, within the same request, with nothing but a parse of its
text (no I/O): bad text gets its usage reply right in the acknowledgement, nothing is queued.
A valid command is acknowledged with an empty body; the rest (dedup, root message, enqueue)
runs as a bolt *lazy listener* on bolt's thread pool after the HTTP response has gone.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from redis import Redis
from slack_bolt import Ack, App, BoltRequest, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import metrics
from bot.logs import job_context
from bot.queue import DiagnosisJob, claim_command, enqueue_diagnosis, update_record
from bot.slack import client as slack
from bot.slack.grammar import Command, UsageError, parse_command
from bot.slack.messages import render_message

log = logging.getLogger("lbhealth.slack")

COMMAND = re.compile(r"^/lbhealth")  # also /lbhealth-staging etc. (one app per environment)


def create_bolt_app(
    settings: Any,
    redis: Redis,
    client: WebClient,
    *,
    socket_mode: bool = False,
    executor: ThreadPoolExecutor | None = None,
) -> App:
    secret = settings.slack_signing_secret
    app = App(
        client=client,
        signing_secret=secret,
        # Socket Mode has no signatures (bolt skips verification there); HTTP mode requires them.
        request_verification_enabled=bool(secret) or not socket_mode,
        token_verification_enabled=False,  # no auth.test at start: the web app must come up without Slack
        process_before_response=False,
        listener_executor=executor or ThreadPoolExecutor(max_workers=settings.lbhealth_listener_threads,
                                                         thread_name_prefix="bolt-listener"),
        logger=logging.getLogger("slack_bolt.App"),
    )
    handlers = CommandHandlers(settings, redis)
    app.command(COMMAND)(ack=handlers.ack, lazy=[handlers.start])
    app.error(handlers.error)
    return app


def _usage(command: str, settings: Any, error: str | None = None) -> dict[str, Any]:
    try:
        clusters = settings.file_config().clusters
    except Exception:
        clusters = []
    default = next((c.name for c in clusters if c.default), clusters[0].name if len(clusters) == 1 else None)
    return render_message(
        "usage", error=error, command=command or "/lbhealth", clusters=[c.name for c in clusters],
        default_cluster=default, example_cluster=(clusters[0].name if clusters else None),
    )


def dedup_key(body: dict[str, Any]) -> str:
    """One key per command invocation: Slack's trigger_id, else the request's content in a 60 s window."""
    team = body.get("team_id") or body.get("enterprise_id") or "-"
    if body.get("trigger_id"):
        return f"{team}:{body['trigger_id']}"
    raw = "|".join(str(body.get(k, "")) for k in ("channel_id", "user_id", "command", "text"))
    return f"{team}:{hashlib.sha256(raw.encode()).hexdigest()[:24]}:{int(time.time() // 60)}"


class CommandHandlers:
    def __init__(self, settings: Any, redis: Redis) -> None:
        self.settings = settings
        self.redis = redis

    def _parse(self, body: dict[str, Any]) -> tuple[Command | None, str | None, Any]:
        """(command, error, cluster config). Pure: config is cached; no network."""
        try:
            cmd = parse_command(body.get("text"))
        except UsageError as exc:
            return None, str(exc), None
        if cmd.help:
            return cmd, None, None
        try:
            cluster = self.settings.cluster(cmd.target.cluster)
        except ValueError as exc:  # ConfigError: unknown cluster
            return None, str(exc), None
        return cmd, None, cluster

    # -- within the 3 s: acknowledge ------------------------------------------------------------
    def ack(self, ack: Ack, body: dict[str, Any]) -> None:
        cmd, error, _ = self._parse(body)
        if error is not None:
            metrics.COMMANDS.labels("bad_input").inc()
            ack(**_usage(body.get("command"), self.settings, error))
        elif cmd is not None and cmd.help:
            metrics.COMMANDS.labels("help").inc()
            ack(**_usage(body.get("command"), self.settings))
        else:
            ack()

    # -- after the acknowledgement (bolt lazy listener) -----------------------------------------
    def start(self, body: dict[str, Any], client: WebClient, respond: Respond, request: BoltRequest) -> None:
        cmd, error, cluster = self._parse(body)
        if cmd is None or cmd.help or cmd.target is None:
            return  # answered in the acknowledgement
        retry = (request.headers.get("x-slack-retry-num") or [None])[0]
        if not claim_command(self.redis, dedup_key(body)):
            metrics.COMMANDS.labels("duplicate").inc()
            log.info("duplicate delivery of a command ignored", extra={"retry_num": retry})
            return
        target = cmd.target
        job = DiagnosisJob(
            namespace=target.namespace,
            service=target.service,
            cluster=cluster.name if cluster else target.cluster,
            channel=body.get("channel_id") or "",
            requested_by=body.get("user_id"),
            origin="command",
            response_url=body.get("response_url"),
            team_id=body.get("team_id"),
        )

        def post_root(j: DiagnosisJob) -> str:
            resp = slack.call(client, "chat_postMessage", channel=j.channel, **render_message("root", job=j))
            return resp["ts"]

        with job_context(job.job_id):
            try:
                result = enqueue_diagnosis(
                    self.redis, job, post_root=post_root,
                    job_timeout=self.settings.lbhealth_job_timeout,
                    retry_intervals=self.settings.job_retry_intervals,
                )
            except SlackApiError as exc:
                error = slack.slack_error(exc) or "unknown"
                metrics.COMMANDS.labels("cannot_post").inc()
                log.warning("cannot post the root message", extra={"error": error, "channel": job.channel})
                if error in slack.NOT_IN_CHANNEL:
                    message = render_message("invite", error=error,
                                             command_text=f"{body.get('command', '/lbhealth')} {body.get('text', '')}".strip())
                else:
                    message = {"text": f"Sorry, I could not start the diagnosis: Slack said {error}."}
                self._ephemeral(client, respond, body, message)
                return
            if result.created:
                metrics.COMMANDS.labels("queued").inc()
                log.info("diagnosis queued", extra={"target": job.dedup_key, "channel": job.channel})
                return
            metrics.COMMANDS.labels("already_running").inc()
            permalink = result.permalink
            if not permalink and result.channel and result.root_ts:
                try:
                    permalink = slack.call(client, "chat_getPermalink", channel=result.channel,
                                           message_ts=result.root_ts)["permalink"]
                    update_record(self.redis, result.job_id, permalink=permalink)
                except SlackApiError:
                    permalink = None
            state = "running" if result.state == "running" else "queued"
            self._ephemeral(client, respond, body, render_message("busy", job=job, permalink=permalink, state=state))

    @staticmethod
    def _ephemeral(client: WebClient, respond: Respond, body: dict[str, Any], message: dict[str, Any]) -> None:
        """Ephemeral to the requester: response_url first (works even where the bot is not a member)."""
        try:
            if body.get("response_url"):
                respond(response_type="ephemeral", replace_original=False, **message)
                return
        except Exception:
            log.warning("response_url failed; trying chat.postEphemeral", exc_info=True)
        try:
            slack.call(client, "chat_postEphemeral", channel=body.get("channel_id"), user=body.get("user_id"), **message)
        except SlackApiError:
            log.warning("could not reach the requester", exc_info=True)

    def error(self, error: Exception, body: dict[str, Any]) -> None:
        metrics.COMMANDS.labels("error").inc()
        log.error("listener error", exc_info=error)
